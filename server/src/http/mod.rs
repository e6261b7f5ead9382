//! Routes outside Leptos: health, the machine API, and request guards.

pub mod admin;
pub mod api_v1;
pub mod artwork;
pub mod body_guard;
pub mod calls;
pub mod changes;
pub mod csrf;
pub mod db_guard;
pub mod etag;
pub mod health;
pub mod imports;
pub mod json;
pub mod media;
pub mod metrics;
pub mod rate;
pub mod security;
pub mod tracks_v1;
pub mod transcripts;
