//! Transcription through a speech-to-text provider speaking OpenAI's
//! `POST {base}/audio/transcriptions` (OpenAI, Groq, speaches, LocalAI,
//! whisper.cpp's server): the HTTP client and its retry rules (`client`),
//! the lenient reading of the answers they give (`answer`), and the merge
//! of chunk answers into one transcript (`merge`). The job that drives it
//! is `worker::transcribe`; the deployment-wide limits are
//! `app::transcripts::gate`.

pub mod answer;
pub mod client;
pub mod merge;
