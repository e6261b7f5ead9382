//! The `transcribe` job: a stored file becomes a timestamped transcript.
//! The sandboxed media worker makes it small (16 kHz mono MP3) and cuts it
//! at quiet points into chunks (the plan is fixed at the first attempt);
//! each chunk not yet answered goes to the provider once a deployment-wide
//! slot is free (`app::transcripts::gate`), and its answer is stored as
//! soon as it returns — so a retry or a crash resumes at the first missing
//! chunk and never sends an answered one again. A pause the provider asked
//! for, or an open breaker, puts the job back in the queue without spending
//! an attempt. When every chunk is in, the answers are merged (the owner's
//! corrections kept) and the minutes counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use app::db::now_ms;
use app::settings::SttSettings;
use app::telemetry as t;
use app::transcripts::db::Begin;
use app::transcripts::gate::{self, Outcome, Wait};

use super::asset::{self, retry, sandbox_err, write_retry};
use super::{Job, JobContext, JobError, JobFuture};
use crate::media::sandbox::MediaPool;
use crate::state::ServerState;
use crate::transcribe::answer::ChunkResult;
use crate::transcribe::client::{Client, ProviderError};
use crate::transcribe::merge::merge;

pub use app::jobs::TRANSCRIBE as KIND;

/// Waits this short are slept through; longer ones put the job back.
const SLEEP_AT_MOST: Duration = Duration::from_secs(5);

pub struct Transcribe {
    pub pool: Arc<MediaPool>,
    pub stt: Option<(SttSettings, Client)>,
    /// Rings when this process frees a slot, so its waiting jobs ask again
    /// at once (other processes' slots are noticed by polling).
    freed: Arc<tokio::sync::Notify>,
}

impl Transcribe {
    pub fn new(pool: Arc<MediaPool>, settings: Option<&SttSettings>) -> Self {
        let stt = settings.and_then(|s| match Client::new(s) {
            Ok(c) => Some((s.clone(), c)),
            Err(e) => {
                tracing::error!(error = %e, "transcription is off");
                None
            }
        });
        Transcribe {
            pool,
            stt,
            freed: Arc::new(tokio::sync::Notify::new()),
        }
    }
}

#[derive(Deserialize)]
struct Payload {
    asset_id: i64,
    #[serde(default)]
    requested_by: Option<i64>,
    #[serde(default)]
    redo: bool,
    #[serde(default)]
    replace_edits: bool,
}

impl Job for Transcribe {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// Jobs this process runs at once: twice the provider's limit, so the
    /// next chunks are being cut while the slots are busy. The limit on
    /// requests, for the whole deployment, is the gate's.
    fn concurrency(&self) -> usize {
        self.stt
            .as_ref()
            .map_or(1, |(s, _)| 2 * s.concurrency.max(1) as usize)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(6 * 3600)
    }

    fn on_dead(&self, state: ServerState, payload: String, error: String) -> JobFuture {
        Box::pin(async move {
            if let Ok(p) = serde_json::from_str::<Payload>(&payload) {
                if let Err(e) = app::transcripts::db::fail(&state.db, p.asset_id, &error).await {
                    tracing::warn!(asset = p.asset_id, error = %e, "could not record a failed transcript");
                }
                asset::transcript_changed(&state, p.asset_id).await;
            }
            Ok(())
        })
    }

    fn run(&self, ctx: JobContext) -> JobFuture {
        let pool = self.pool.clone();
        let stt = self.stt.clone();
        let freed = self.freed.clone();
        Box::pin(async move {
            let Some((settings, client)) = stt else {
                return Err(JobError::permanent(
                    "transcription is not set up on this server (WAVEKEEP_STT_URL)",
                ));
            };
            let p: Payload = serde_json::from_str(&ctx.payload)
                .map_err(|e| JobError::permanent(format!("bad payload: {e}")))?;
            let work = Work {
                ctx: &ctx,
                settings: &settings,
                client: &client,
                pool: &pool,
                freed: &freed,
                asset_id: p.asset_id,
            };
            work.run(&p).await
        })
    }
}

struct Work<'a> {
    ctx: &'a JobContext,
    settings: &'a SttSettings,
    client: &'a Client,
    pool: &'a MediaPool,
    freed: &'a tokio::sync::Notify,
    asset_id: i64,
}

impl Work<'_> {
    async fn run(&self, p: &Payload) -> Result<(), JobError> {
        let state = &self.ctx.state;
        let db = &state.db;
        let Some((key, owner, duration_ms)) = app::media::db::asset_file(db, self.asset_id)
            .await
            .map_err(retry("loading the asset"))?
        else {
            return Ok(());
        };
        if let Err(e) = app::transcripts::service::check_allowance(state, owner).await {
            return Err(JobError::permanent(e.to_string()));
        }
        let to_do = app::transcripts::db::begin(
            db,
            self.asset_id,
            &self.settings.model,
            p.requested_by,
            p.redo,
            self.ctx.job_id,
        )
        .await
        .map_err(retry("starting the transcript"))?;
        match to_do {
            Begin::Work => {}
            Begin::Done => return Ok(()),
            Begin::Busy => {
                return Err(JobError::later(
                    now_ms() + 30_000,
                    "another transcription of this file is running",
                ))
            }
        }
        asset::transcript_changed(state, self.asset_id).await;
        let dir = state.storage.spool().tmp_path("speech");
        let result = self.chunks_and_send(&key, duration_ms, &dir).await;
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %dir.display(), error = %e, "could not remove speech chunks");
            }
        }
        let spans = result?;
        self.finish(p, owner, duration_ms, &spans).await
    }

    /// Makes the chunks and sends every one not yet answered; the plan.
    async fn chunks_and_send(
        &self,
        key: &str,
        duration_ms: Option<i64>,
        dir: &std::path::Path,
    ) -> Result<Vec<(i64, i64)>, JobError> {
        let state = &self.ctx.state;
        let db = &state.db;
        let progress = app::transcripts::db::progress(db, self.asset_id)
            .await
            .map_err(retry("loading the transcript"))?
            .ok_or_else(|| JobError::retry("the transcript went away"))?;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(retry("making a spool folder"))?;
        let path = state
            .storage
            .local_copy(key)
            .await
            .map_err(write_retry("copying the stored file here"))?;
        let cuts: Option<Vec<i64>> = progress
            .plan
            .as_ref()
            .map(|plan| plan.iter().skip(1).map(|(start, _)| *start).collect());
        // Encoding must run at least 10x real time, with a minute to spare.
        let budget = Duration::from_secs(60)
            + Duration::from_millis(duration_ms.unwrap_or(0).max(0) as u64 / 10);
        let spans = self
            .pool
            .speech(
                &path,
                dir,
                self.settings.chunk_ms(),
                cuts,
                budget,
                &mut |_| {},
            )
            .await
            .map_err(sandbox_err)?;
        if progress.plan.is_none() {
            app::transcripts::db::set_plan(db, self.asset_id, &spans)
                .await
                .map_err(retry("storing the plan"))?;
        }
        let total = spans.len();
        let mut done = progress.done.len();
        for (idx, span) in spans.iter().enumerate() {
            if progress.done.contains(&(idx as i64)) {
                continue;
            }
            let file = dir.join(format!("chunk-{idx:04}.mp3"));
            let answer = self.send(&file, span.1 - span.0).await?;
            let json = serde_json::to_string(&answer)
                .map_err(|e| JobError::retry(format!("encoding an answer: {e}")))?;
            app::transcripts::db::store_chunk(db, self.asset_id, idx as i64, *span, &json)
                .await
                .map_err(retry("storing a chunk"))?;
            done += 1;
            self.ctx.progress((done * 100 / total.max(1)) as i64);
        }
        Ok(spans)
    }

    /// One chunk through the gate and the provider.
    async fn send(&self, file: &std::path::Path, chunk_ms: i64) -> Result<ChunkResult, JobError> {
        let db = &self.ctx.state.db;
        let bytes = tokio::fs::read(file)
            .await
            .map_err(retry("reading a chunk"))?;
        self.client
            .check_size(bytes.len())
            .map_err(JobError::permanent)?;
        let limits = self.settings.gate_limits();
        let owner = format!("job-{}", self.ctx.job_id);
        let slot = loop {
            // Listening before asking: a slot freed in between is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            match gate::acquire(db, &owner, &limits)
                .await
                .map_err(retry("asking for a provider slot"))?
            {
                Ok(slot) => break slot,
                Err(Wait::Busy(d)) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = freed => {}
                    }
                }
                Err(wait) if wait.duration() <= SLEEP_AT_MOST || matches!(wait, Wait::Rate(_)) => {
                    tokio::time::sleep(wait.duration()).await;
                }
                Err(wait) => {
                    let why = match wait {
                        Wait::Paused(_) => "the provider asked for a pause",
                        _ => "the provider is failing (its circuit breaker is open)",
                    };
                    return Err(JobError::later(
                        now_ms() + wait.duration().as_millis() as i64,
                        why,
                    ));
                }
            }
        };
        let started = Instant::now();
        let result = self.client.transcribe(bytes, chunk_ms).await;
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(ProviderError::RateLimited { until_ms, .. }) => {
                Outcome::RateLimited { until: *until_ms }
            }
            Err(ProviderError::Transient(_)) => Outcome::ServerError,
            Err(ProviderError::Unreachable(_)) => Outcome::TimedOut,
            Err(ProviderError::Permanent(_)) => Outcome::Refused,
        };
        let label = outcome.label();
        metrics::counter!(t::STT_REQUESTS, "outcome" => label).increment(1);
        metrics::histogram!(t::STT_LATENCY).record(started.elapsed());
        if let Err(e) = gate::release(db, &slot, outcome, &limits).await {
            tracing::warn!(error = %e, "could not release a provider slot; its lease will end it");
        }
        self.freed.notify_waiters();
        result.map_err(|e| match e {
            ProviderError::RateLimited { until_ms, message } => JobError::later(until_ms, message),
            ProviderError::Transient(m) | ProviderError::Unreachable(m) => JobError::retry(m),
            ProviderError::Permanent(m) => JobError::permanent(m),
        })
    }

    /// Every chunk is in: one transcript, the minutes counted.
    async fn finish(
        &self,
        p: &Payload,
        owner: i64,
        duration_ms: Option<i64>,
        spans: &[(i64, i64)],
    ) -> Result<(), JobError> {
        let state = &self.ctx.state;
        let db = &state.db;
        let results = app::transcripts::db::chunk_results(db, self.asset_id)
            .await
            .map_err(retry("loading the chunks"))?;
        let chunks: Vec<(i64, ChunkResult)> = results
            .into_iter()
            .filter_map(|(_, start, json)| serde_json::from_str(&json).ok().map(|r| (start, r)))
            .collect();
        if chunks.len() < spans.len() {
            return Err(JobError::retry("a chunk's answer is missing"));
        }
        let kept = if p.replace_edits {
            Vec::new()
        } else {
            app::transcripts::db::edited_segments(db, self.asset_id)
                .await
                .map_err(retry("loading corrections"))?
        };
        let merged = merge(&chunks, &kept);
        let audio_ms = spans.last().map_or(0, |s| s.1);
        app::transcripts::db::finish(
            db,
            self.asset_id,
            merged.language.as_deref(),
            duration_ms.or(Some(audio_ms)),
            &merged.segments,
            &merged.words,
            Some(owner),
            (audio_ms + 999) / 1000,
        )
        .await
        .map_err(retry("storing the transcript"))?;
        asset::transcript_changed(state, self.asset_id).await;
        Ok(())
    }
}
