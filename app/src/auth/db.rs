//! SQL for users, sessions and API keys.

use sqlx::Row;

use super::{ApiKeyInfo, Role, UserSummary, Viewer};
use crate::db::{is_unique_violation, now_ms, Db};
use crate::errors::AppError;

pub fn role_of(s: &str) -> Role {
    Role::parse(s).unwrap_or(Role::User)
}

/// Inserts a user; a taken email is `Conflict`.
pub async fn create_user(
    db: &Db,
    email: &str,
    password_hash: &str,
    role: Role,
) -> Result<i64, AppError> {
    let res = sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (email, password_hash, role, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(email)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(now_ms())
    .fetch_one(db.pool())
    .await;
    match res {
        Ok(id) => Ok(id),
        Err(e) if is_unique_violation(&e) => Err(AppError::Conflict(
            "an account with this email already exists".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Creates the account as admin, or promotes and re-passwords an existing one.
pub async fn upsert_admin(db: &Db, email: &str, password_hash: &str) -> Result<i64, AppError> {
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (email, password_hash, role, created_at) VALUES ($1, $2, 'admin', $3) \
         ON CONFLICT (email) DO UPDATE SET role = 'admin', password_hash = excluded.password_hash \
         RETURNING id",
    )
    .bind(email)
    .bind(password_hash)
    .bind(now_ms())
    .fetch_one(db.pool())
    .await?;
    Ok(id)
}

pub struct LoginRow {
    pub id: i64,
    pub password_hash: String,
    pub role: Role,
}

pub async fn find_for_login(db: &Db, email: &str) -> Result<Option<LoginRow>, AppError> {
    let row = sqlx::query("SELECT id, password_hash, role FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| LoginRow {
        id: r.get("id"),
        password_hash: r.get("password_hash"),
        role: role_of(r.get::<&str, _>("role")),
    }))
}

pub async fn user_id_by_email(db: &Db, email: &str) -> Result<Option<i64>, AppError> {
    Ok(sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(db.pool())
        .await?)
}

pub async fn create_session(
    db: &Db,
    id_hash: &str,
    user_id: i64,
    ttl_ms: i64,
    user_agent: Option<&str>,
) -> Result<(), AppError> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, created_at, expires_at, user_agent) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id_hash)
    .bind(user_id)
    .bind(now)
    .bind(now + ttl_ms)
    .bind(user_agent.map(|ua| ua.chars().take(256).collect::<String>()))
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE users SET last_seen_at = $1 WHERE id = $2")
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn viewer_by_session(db: &Db, id_hash: &str) -> Result<Option<Viewer>, AppError> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.role FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2",
    )
    .bind(id_hash)
    .bind(now_ms())
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| Viewer {
        id: r.get("id"),
        email: r.get("email"),
        role: role_of(r.get::<&str, _>("role")),
    }))
}

pub async fn delete_session(db: &Db, id_hash: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn delete_expired_sessions(db: &Db) -> Result<u64, AppError> {
    let res = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    Ok(res.rows_affected())
}

/// The viewer behind an unrevoked key, the key's id and when it was last used.
pub async fn viewer_by_api_key(
    db: &Db,
    key_hash: &str,
) -> Result<Option<(Viewer, i64, Option<i64>)>, AppError> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.role, k.id AS key_id, k.last_used_at FROM api_keys k \
         JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| {
        (
            Viewer {
                id: r.get("id"),
                email: r.get("email"),
                role: role_of(r.get::<&str, _>("role")),
            },
            r.get("key_id"),
            r.get("last_used_at"),
        )
    }))
}

pub async fn touch_api_key(db: &Db, key_id: i64) -> Result<(), AppError> {
    let _turn = db.write_turn().await;
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(key_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn insert_api_key(
    db: &Db,
    user_id: i64,
    name: &str,
    prefix: &str,
    key_hash: &str,
) -> Result<ApiKeyInfo, AppError> {
    let now = now_ms();
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO api_keys (user_id, name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(prefix)
    .bind(key_hash)
    .bind(now)
    .fetch_one(db.pool())
    .await?;
    Ok(ApiKeyInfo {
        id,
        name: name.to_string(),
        prefix: prefix.to_string(),
        created_at: now,
        last_used_at: None,
    })
}

pub async fn list_api_keys(db: &Db, user_id: i64) -> Result<Vec<ApiKeyInfo>, AppError> {
    let rows = sqlx::query(
        "SELECT id, name, prefix, created_at, last_used_at FROM api_keys \
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 200",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ApiKeyInfo {
            id: r.get("id"),
            name: r.get("name"),
            prefix: r.get("prefix"),
            created_at: r.get("created_at"),
            last_used_at: r.get("last_used_at"),
        })
        .collect())
}

/// Revokes one of the user's own keys and returns its hash; others' keys are `NotFound`.
pub async fn revoke_api_key(db: &Db, user_id: i64, key_id: i64) -> Result<String, AppError> {
    let hash: Option<String> = sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL \
         RETURNING key_hash",
    )
    .bind(now_ms())
    .bind(key_id)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    hash.ok_or(AppError::NotFound)
}

pub async fn list_users(db: &Db, limit: i64) -> Result<Vec<UserSummary>, AppError> {
    let rows = sqlx::query(
        "SELECT id, email, role, created_at, storage_used_bytes FROM users ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| UserSummary {
            id: r.get("id"),
            email: r.get("email"),
            role: role_of(r.get::<&str, _>("role")),
            created_at: r.get("created_at"),
            storage_used_bytes: r.get("storage_used_bytes"),
        })
        .collect())
}

pub async fn set_role(db: &Db, user_id: i64, role: Role) -> Result<(), AppError> {
    let res = sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
        .bind(role.as_str())
        .bind(user_id)
        .execute(db.pool())
        .await?;
    if res.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}
