//! Uploads: how received bytes become stored files and tracks. What an
//! upload becomes (`Target`) is shared; the SQL of the upload paths (tus
//! rows and leases, quota reservations, the finalize transaction) lives
//! here behind `ssr`. The protocols that receive the bytes (tus, the
//! machine API) are the server's `uploads/` room.

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod finalize;
#[cfg(feature = "ssr")]
pub mod quota;

/// What an uploaded file becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    NewTrack,
    /// A new version of this track (which becomes its primary version).
    Version {
        track_id: i64,
    },
    /// A stem (`role`: drums, vocals, …) of this version.
    Stem {
        version_id: i64,
        role: String,
    },
}

impl Target {
    /// The name stored in `uploads.target`.
    pub fn name(&self) -> &'static str {
        match self {
            Target::NewTrack => "track",
            Target::Version { .. } => "version",
            Target::Stem { .. } => "stem",
        }
    }

    /// `uploads.target_id` and `uploads.stem_role`.
    pub fn columns(&self) -> (Option<i64>, Option<&str>) {
        match self {
            Target::NewTrack => (None, None),
            Target::Version { track_id } => (Some(*track_id), None),
            Target::Stem { version_id, role } => (Some(*version_id), Some(role)),
        }
    }

    /// Back from the stored columns (anything unknown is a new track).
    pub fn from_columns(name: &str, id: Option<i64>, role: Option<&str>) -> Target {
        match (name, id) {
            ("version", Some(track_id)) => Target::Version { track_id },
            ("stem", Some(version_id)) => Target::Stem {
                version_id,
                role: role.unwrap_or_default().to_string(),
            },
            _ => Target::NewTrack,
        }
    }
}

/// The rows an upload became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub track_id: i64,
    pub version_id: i64,
    pub asset_id: i64,
    pub stem_id: Option<i64>,
}
