//! Radio calls: tracks with the facts of the call they recorded (system,
//! talkgroup, frequency, sources, start), as trunk-recorder and sdrtrunk
//! send them to rdio-scanner's upload API (`server::uploads::calls`). The
//! facts are in the `calls` table, one row per call track, written in the
//! transaction that stores the track; the API key that uploads a call may
//! be limited to some systems and talkgroups (`CallScope`). The live calls
//! page (`routes::calls`) lists them and follows new ones over the change
//! feed (`api`).

use serde::{Deserialize, Serialize};

pub mod api;
#[cfg(feature = "ssr")]
mod db;
#[cfg(feature = "ssr")]
pub use db::*;

/// One call in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRow {
    pub track_id: i64,
    pub title: String,
    #[serde(flatten)]
    pub call: crate::tracks::CallInfo,
    pub duration_ms: Option<i64>,
    pub url: String,
}

/// A page of calls, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallPage {
    pub items: Vec<CallRow>,
    pub next: Option<String>,
}

/// A call as the live page plays it: its row, what the player plays (for
/// this viewer) and its transcript's text when there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveCall {
    pub row: CallRow,
    pub src: Option<String>,
    pub transcript: String,
}

/// The start (ms since the epoch, UTC) of day `d` written `YYYY-MM-DD`.
pub fn day_start_ms(d: &str) -> Option<i64> {
    let mut parts = d.splitn(3, '-');
    let (y, m, day) = (
        parts.next()?.parse::<i64>().ok()?,
        parts.next()?.parse::<i64>().ok()?,
        parts.next()?.parse::<i64>().ok()?,
    );
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let lengths = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > lengths[(m - 1) as usize] {
        return None;
    }
    // Days since 1970-01-01 (proleptic Gregorian).
    let days_before_year = (1970..y)
        .map(|yy| {
            if (yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0 {
                366
            } else {
                365
            }
        })
        .sum::<i64>();
    let days_before_month: i64 = lengths[..(m - 1) as usize].iter().sum();
    Some((days_before_year + days_before_month + day - 1) * 24 * 3600 * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days() {
        assert_eq!(day_start_ms("1970-01-01"), Some(0));
        assert_eq!(day_start_ms("2023-11-14"), Some(1_699_920_000_000));
        assert_eq!(day_start_ms("2024-02-29"), Some(1_709_164_800_000));
        assert_eq!(day_start_ms("2023-02-29"), None);
        assert_eq!(day_start_ms("2024-13-01"), None);
        assert_eq!(day_start_ms("yesterday"), None);
    }
}
