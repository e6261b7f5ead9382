//! Uploads: how received bytes become stored files. The SQL the upload
//! paths need (quota reservations today) lives in `db`; the protocols that
//! receive the bytes (tus, the machine API) live in the server crate.

#[cfg(feature = "ssr")]
pub mod db;
