//! The speech-to-text provider's settings (`WAVEKEEP_STT_*`), flattened
//! into the command line.

use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

#[derive(Debug, Clone, Args)]
pub struct SttConfig {
    /// Speech-to-text API base URL (OpenAI's transcription protocol):
    /// `https://api.openai.com/v1`, `https://api.groq.com/openai/v1`, or a
    /// local recognizer. Unset: transcription is off.
    #[arg(long = "stt-url", env = "WAVEKEEP_STT_URL", global = true)]
    pub url: Option<String>,
    /// Path of the transcription endpoint under the URL (whisper.cpp's
    /// server: /inference).
    #[arg(
        long = "stt-path",
        env = "WAVEKEEP_STT_PATH",
        default_value = "/audio/transcriptions",
        global = true
    )]
    pub path: String,
    /// API key sent as `Authorization: Bearer` (never logged).
    #[arg(
        long = "stt-api-key",
        env = "WAVEKEEP_STT_API_KEY",
        hide_env_values = true,
        global = true
    )]
    pub api_key: Option<SecretString>,
    /// Model name sent with each request.
    #[arg(
        long = "stt-model",
        env = "WAVEKEEP_STT_MODEL",
        default_value = "whisper-1",
        global = true
    )]
    pub model: String,
    /// Spoken language (ISO-639-1, e.g. `en`); `auto` lets the provider detect it.
    #[arg(
        long = "stt-language",
        env = "WAVEKEEP_STT_LANGUAGE",
        default_value = "auto",
        global = true
    )]
    pub language: String,
    /// Requests in flight at most (for the whole deployment).
    #[arg(
        long = "stt-concurrency",
        env = "WAVEKEEP_STT_CONCURRENCY",
        default_value_t = 5,
        global = true
    )]
    pub concurrency: u32,
    /// Requests started per minute at most (for the whole deployment).
    #[arg(
        long = "stt-rate-per-minute",
        env = "WAVEKEEP_STT_RATE_PER_MINUTE",
        default_value_t = 30,
        global = true
    )]
    pub rate_per_minute: u32,
    /// Seconds one request may take.
    #[arg(
        long = "stt-timeout-secs",
        env = "WAVEKEEP_STT_TIMEOUT_SECS",
        default_value_t = 300,
        global = true
    )]
    pub timeout_secs: u64,
    /// Largest request the provider accepts, in MB (OpenAI: 25).
    #[arg(
        long = "stt-max-request-mb",
        env = "WAVEKEEP_STT_MAX_REQUEST_MB",
        default_value_t = 25,
        global = true
    )]
    pub max_request_mb: u64,
    /// Longest stretch of audio sent in one request, in seconds (long files
    /// are cut at quiet points into chunks of at most this).
    #[arg(
        long = "stt-chunk-secs",
        env = "WAVEKEEP_STT_CHUNK_SECS",
        default_value_t = 600,
        global = true
    )]
    pub chunk_secs: u64,
    /// Minutes each user may have transcribed per month (unset: no cap).
    #[arg(
        long = "stt-minutes-per-month",
        env = "WAVEKEEP_STT_MINUTES_PER_MONTH",
        global = true
    )]
    pub minutes_per_month: Option<u64>,
    /// Failures in a row after which the provider is left alone for a while.
    #[arg(
        long = "stt-breaker-failures",
        env = "WAVEKEEP_STT_BREAKER_FAILURES",
        default_value_t = 5,
        global = true
    )]
    pub breaker_failures: u32,
    /// Seconds the breaker stays open before one probe request.
    #[arg(
        long = "stt-breaker-cooloff-secs",
        env = "WAVEKEEP_STT_BREAKER_COOLOFF_SECS",
        default_value_t = 30,
        global = true
    )]
    pub breaker_cooloff_secs: u64,
}

impl SttConfig {
    /// The provider's settings; `None` when no URL is set (transcription off).
    pub fn settings(&self) -> Option<app::settings::SttSettings> {
        let url = self
            .url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())?;
        Some(app::settings::SttSettings {
            url: url.to_string(),
            path: self.path.clone(),
            api_key: self.api_key.clone(),
            model: self.model.clone(),
            language: Some(self.language.trim().to_lowercase())
                .filter(|l| !l.is_empty() && l != "auto"),
            concurrency: self.concurrency.max(1),
            rate_per_minute: self.rate_per_minute.max(1),
            rate_window: Duration::from_secs(60),
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            max_request_bytes: self.max_request_mb.max(1) * 1_000_000,
            chunk: Duration::from_secs(self.chunk_secs.max(5)),
            minutes_per_month: self.minutes_per_month,
            breaker_failures: self.breaker_failures.max(1),
            breaker_cooloff: Duration::from_secs(self.breaker_cooloff_secs.max(1)),
        })
    }
}
