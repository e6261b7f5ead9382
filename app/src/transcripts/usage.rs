//! Minutes transcribed per user and month, and each user's "transcribe my
//! uploads".

use crate::db::{now_ms, Db};
use crate::errors::AppError;

/// `2026-12` for a time (unix ms, UTC).
pub fn month_of(ms: i64) -> String {
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}")
}

/// Counts `seconds` for `user_id` in the month of `now` (inside the
/// transaction that finishes the transcript).
pub(super) async fn add(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    now: i64,
    seconds: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO transcription_usage (user_id, month, seconds) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, month) DO UPDATE SET seconds = transcription_usage.seconds + $3",
    )
    .bind(user_id)
    .bind(month_of(now))
    .bind(seconds.max(0))
    .execute(tx)
    .await?;
    Ok(())
}

/// Seconds `user_id` had transcribed this month.
pub async fn seconds_this_month(db: &Db, user_id: i64) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT seconds FROM transcription_usage WHERE user_id = $1 AND month = $2",
    )
    .bind(user_id)
    .bind(month_of(now_ms()))
    .fetch_optional(db.pool())
    .await?
    .unwrap_or(0))
}

/// Seconds transcribed this month by everyone.
pub async fn seconds_this_month_all(db: &Db) -> Result<i64, AppError> {
    let v: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(seconds) AS BIGINT) FROM transcription_usage WHERE month = $1",
    )
    .bind(month_of(now_ms()))
    .fetch_one(db.pool())
    .await?;
    Ok(v.unwrap_or(0))
}

/// Whether `user_id` has their uploads transcribed.
pub async fn transcribe_uploads(db: &Db, user_id: i64) -> Result<bool, AppError> {
    let v: Option<i64> = sqlx::query_scalar("SELECT transcribe_uploads FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(v.unwrap_or(0) != 0)
}

pub async fn set_transcribe_uploads(db: &Db, user_id: i64, on: bool) -> Result<(), AppError> {
    sqlx::query("UPDATE users SET transcribe_uploads = $1 WHERE id = $2")
        .bind(i64::from(on))
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::month_of;

    #[test]
    fn months() {
        assert_eq!(month_of(0), "1970-01");
        // 2026-12-04T20:51:41Z
        assert_eq!(month_of(1_796_417_501_000), "2026-12");
        // 2024-02-29T23:59:59Z and a second later.
        assert_eq!(month_of(1_709_251_199_000), "2024-02");
        assert_eq!(month_of(1_709_251_200_000), "2024-03");
    }
}
