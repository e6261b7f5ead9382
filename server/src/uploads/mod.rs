//! Uploads: how bytes sent by people and machines become tracks. Three
//! protocols receive them — tus 1.0 (`tus/`: resumable, in chunks, from the
//! browser and tus clients), the machine API's multipart form
//! (`multipart`), and rdio-scanner's call upload for radio recorders
//! (`calls`) — into the storage spool, plus `import` for a folder already
//! on the server; `ingest` turns a complete file into stored content and
//! rows, in named steps. The SQL is in
//! `app::uploads`.

pub mod calls;
pub mod import;
pub mod ingest;
pub mod multipart;
pub mod tus;

pub use app::uploads::{Ingested, Target};
pub use ingest::{Incoming, Received};
