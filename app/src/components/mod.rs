//! Widgets used by several pages.

pub mod art;
pub mod chart;
pub mod dashboard;
pub mod error_note;
#[cfg(feature = "hydrate")]
pub mod fetch;
pub mod nav;
pub mod password_field;
pub mod player;
pub mod stems_panel;
pub mod transcript_panel;
pub mod uploader;
pub mod waveform;
