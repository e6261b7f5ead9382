//! Audio files: content-addressed storage, and decoding (metadata and
//! waveform peaks) in sandboxed worker processes.

pub mod analyze;
pub mod confine;
pub mod sandbox;
pub mod store;
