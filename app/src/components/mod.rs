//! Widgets used by several pages.

pub mod chart;
pub mod dashboard;
pub mod error_note;
pub mod nav;
pub mod password_field;
pub mod player;
pub mod stems_panel;
pub mod transcript_panel;
pub mod uploader;
pub mod waveform;
