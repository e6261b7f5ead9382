//! The admin dashboard's panels: the overview (alerts, tiles, charts), the
//! job queue, transcription, the system (routes, caches, process, disk) and
//! the users.
//! `routes/admin.rs` composes them into the page.

mod imports;
mod jobs;
mod overview;
mod system;
mod transcription;
mod users;

pub use imports::Imports;
pub use jobs::{FailedJobs, Kinds, RecentJobs};
pub use overview::{Alerts, Charts, Tiles};
pub use system::{Caches, Routes, System};
pub use transcription::Transcription;
pub use users::Users;

pub use super::error_note::action_error;
