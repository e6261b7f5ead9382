//! Decoding audio: probing (format facts, exact duration), waveform peaks
//! and previews (`analyze`), always in sandboxed worker processes
//! (`sandbox`) confined as tightly as decoding allows (`confine`).

pub mod analyze;
pub mod confine;
pub mod sandbox;
pub mod sniff;
