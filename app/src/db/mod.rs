//! The database handle: one sqlx `Any` pool over SQLite (embedded default) or
//! PostgreSQL, the per-backend migrations, and the readiness check.
//!
//! Queries are written once with `$N` placeholders, which both drivers accept;
//! the rare statement that must differ asks `Db::backend()`.

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Executor};

/// Statements slower than this are logged (warn, target `sqlx::query`, with
/// their first words and duration) and counted on the dashboard.
pub const SLOW_STATEMENT: Duration = Duration::from_millis(100);

pub mod breaker;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// Connection pool settings (defaults from seed 001: max 20, min 5, idle 10 s, acquire 3 s).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub min_connections: u32,
    pub idle_timeout: Duration,
    pub acquire_timeout: Duration,
    /// SQLite's `synchronous`: `FULL` (a commit survives a power cut) or
    /// `NORMAL` (a power cut may undo the last commits; see the README).
    pub sqlite_full_sync: bool,
    /// Start on a PostgreSQL that runs with `fsync = off` (a crash of its
    /// machine can corrupt it): refused unless this is set.
    pub allow_unsafe_postgres: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 20,
            min_connections: 5,
            idle_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(3),
            sqlite_full_sync: true,
            allow_unsafe_postgres: false,
        }
    }
}

/// Whether a PostgreSQL reporting `fsync` (its `SHOW fsync`) may be used:
/// with `fsync = off`, a power cut or OS crash can corrupt the whole
/// database, which no promise of wavekeep's survives.
pub fn postgres_durability(fsync: &str, allow_unsafe: bool) -> Result<(), String> {
    if fsync.trim().eq_ignore_ascii_case("off") {
        let why = "PostgreSQL runs with fsync = off: a power cut or OS crash can corrupt the \
                   database and lose acknowledged uploads";
        if allow_unsafe {
            tracing::error!("{why}; starting anyway (WAVEKEEP_ALLOW_UNSAFE_POSTGRES)");
        } else {
            return Err(format!(
                "{why}. Turn fsync on, or set WAVEKEEP_ALLOW_UNSAFE_POSTGRES=1 for a throwaway database"
            ));
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with sqlite: or postgres://")]
    UnknownScheme,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Unsafe(String),
}

#[cfg(test)]
mod durability_tests {
    #[test]
    fn postgres_without_fsync_is_refused_unless_allowed() {
        assert!(super::postgres_durability("on", false).is_ok());
        let refused = super::postgres_durability("off", false).expect_err("refused");
        assert!(refused.contains("fsync = off"), "{refused}");
        assert!(
            refused.contains("WAVEKEEP_ALLOW_UNSAFE_POSTGRES"),
            "{refused}"
        );
        assert!(super::postgres_durability("off", true).is_ok());
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    /// The job queue's bookkeeping (claims, completions). On PostgreSQL its
    /// connections commit without waiting for the WAL flush: a claim or
    /// completion lost in a crash only makes the job run again, which
    /// at-least-once delivery allows; job effects use `pool`.
    jobs_pool: AnyPool,
    backend: Backend,
    /// Kept for connections outside the pool (PostgreSQL LISTEN).
    url: std::sync::Arc<secrecy::SecretString>,
    /// SQLite's one write lock, taken in turn in this process (see `write_turn`).
    writes: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// Whether the database answers (see `breaker`).
    breaker: std::sync::Arc<breaker::Breaker>,
    /// Transactions of this process known to hold SQLite's write lock
    /// across slow work (storage I/O): see `LockHeld`.
    holders: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Says, while it lives, that a transaction of this process holds SQLite's
/// write lock and may keep it a while without committing (it writes or
/// removes a stored file meanwhile): the breaker's probe must not take that
/// for another program holding the lock.
#[derive(Debug)]
pub struct LockHeld(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for LockHeld {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// A place in the in-process queue of writers (SQLite); dropping it ends the turn.
pub type WriteTurn = Option<tokio::sync::OwnedSemaphorePermit>;

impl Db {
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or(DbError::UnknownScheme)?;
        let options: AnyConnectOptions = url
            .parse::<AnyConnectOptions>()?
            .log_slow_statements(log::LevelFilter::Warn, SLOW_STATEMENT);
        let full_sync = settings.sqlite_full_sync;
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(settings.min_connections.min(settings.max_connections))
            .idle_timeout(Some(settings.idle_timeout))
            .acquire_timeout(settings.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; foreign keys are
                        // off by default in SQLite; busy_timeout waits for the write lock.
                        conn.execute(if full_sync {
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;"
                        } else {
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;"
                        })
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await?;
        if backend == Backend::Postgres {
            let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&pool).await?;
            postgres_durability(&fsync, settings.allow_unsafe_postgres).map_err(DbError::Unsafe)?;
        }
        let jobs_pool = match backend {
            Backend::Sqlite => pool.clone(),
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(4)
                    .min_connections(0)
                    .idle_timeout(Some(settings.idle_timeout))
                    .acquire_timeout(settings.acquire_timeout)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute("SET synchronous_commit = off").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Db {
            pool,
            jobs_pool,
            backend,
            url: std::sync::Arc::new(url.to_string().into()),
            writes: (backend == Backend::Sqlite)
                .then(|| std::sync::Arc::new(tokio::sync::Semaphore::new(1))),
            breaker: Default::default(),
            holders: Default::default(),
        })
    }

    /// Waits for this process's turn to write, on SQLite (PostgreSQL: none
    /// needed). SQLite lets one connection write at a time, and a connection
    /// that finds the lock taken sleeps in its busy handler in steps of 1 to
    /// 100 ms: with many uploads finishing together that made a slow tail.
    /// Writers queue here instead, in arrival order, and hold the turn for
    /// one short transaction: uploads, the job queue's bookkeeping and the
    /// jobs' results, transcripts, and the writes a request makes on its
    /// way (a key's last use, a play position, a download, a change). A
    /// writer outside the turn still works, only less fairly; a turn is
    /// never taken while holding one (there is one) or a connection.
    pub async fn write_turn(&self) -> WriteTurn {
        match &self.writes {
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        }
    }

    /// Marks the write lock as held by a transaction of ours (see `LockHeld`);
    /// taken once the transaction's first write has returned.
    pub fn lock_held(&self) -> LockHeld {
        self.holders
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        LockHeld(self.holders.clone())
    }

    /// Whether a transaction of ours says it holds the write lock.
    pub fn lock_held_here(&self) -> bool {
        self.holders.load(std::sync::atomic::Ordering::Acquire) > 0
    }

    /// This process's turn to write if nobody has it now (SQLite), else `None`.
    pub fn try_write_turn(&self) -> WriteTurn {
        self.writes.as_ref()?.clone().try_acquire_owned().ok()
    }

    /// Takes, for the rest of the transaction on `conn`, the lock that
    /// serializes everything that links or removes the stored file with
    /// content `sha256`: an ingest linking it and rows pointing at it, a purge
    /// or sweep checking that no row does and removing it. On PostgreSQL a
    /// transaction-scoped advisory lock on the hash; on SQLite the database's
    /// write lock (one writer at a time covers every hash). Must be the
    /// transaction's first statement on SQLite, so its reads see the latest
    /// commits.
    pub async fn lock_content(
        &self,
        conn: &mut sqlx::AnyConnection,
        sha256: &str,
    ) -> Result<(), sqlx::Error> {
        match self.backend {
            Backend::Postgres => {
                let mut key = [0u8; 8];
                let digits = sha256.as_bytes();
                for (i, k) in key.iter_mut().enumerate() {
                    let hi = digits.get(2 * i).copied().unwrap_or(b'0');
                    let lo = digits.get(2 * i + 1).copied().unwrap_or(b'0');
                    *k = (hex_value(hi) << 4) | hex_value(lo);
                }
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(i64::from_be_bytes(key))
                    .execute(&mut *conn)
                    .await?;
            }
            Backend::Sqlite => {
                // A write statement takes the write lock even when it changes nothing.
                sqlx::query("UPDATE users SET id = id WHERE id = -1")
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }

    /// The connection URL (a secret: it may hold a password).
    pub fn url(&self) -> &secrecy::SecretString {
        &self.url
    }

    /// Whether the database answers, as this process sees it.
    pub fn breaker(&self) -> &breaker::Breaker {
        &self.breaker
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for the queue's own bookkeeping (see the field).
    pub fn jobs_pool(&self) -> &AnyPool {
        &self.jobs_pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every pending up-migration.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.backend.migrator().run(&self.pool).await?;
        Ok(())
    }

    /// Reverts migrations down to (not including) `target` version; 0 reverts all.
    pub async fn revert_to(&self, target: i64) -> Result<(), DbError> {
        self.backend.migrator().undo(&self.pool, target).await?;
        Ok(())
    }

    /// Latest migration version this binary knows.
    pub fn latest_migration(&self) -> i64 {
        self.backend
            .migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }

    /// True when the database answers (within 2 s) and every migration of
    /// this binary is applied.
    pub async fn is_ready(&self) -> bool {
        if self.breaker.is_open() {
            return false;
        }
        let applied = tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE",
            )
            .fetch_one(&self.pool),
        )
        .await;
        matches!(applied, Ok(Ok(Some(v))) if v >= self.latest_migration())
    }

    pub async fn close(&self) {
        self.jobs_pool.close().await;
        self.pool.close().await;
    }
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Milliseconds since the unix epoch: every timestamp column stores this.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// True when an insert or update failed on a unique index.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}
