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
