//! Feeding the telemetry: the figures nothing measures on its own path
//! (caches, pool, queue depth, disk, active users) are read here on a timer
//! and published as metrics; slow statements are caught from sqlx's log.

use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use app::admin::{db as admin_db, snapshot};
use app::state::AppState;
use app::telemetry::{self as t};

/// Runs until aborted: every second the caches, pool and active users;
/// every 5 s the queue depth; every minute the data directory and its disk.
pub async fn collect(state: AppState) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick: u64 = 0;
    // Kinds seen before: one that has no jobs left must read zero, not its last count.
    let mut kinds: std::collections::BTreeSet<String> = Default::default();
    loop {
        every.tick().await;
        for c in snapshot::cache_stats(&state) {
            counter!(t::CACHE_HITS, "cache" => c.name.clone()).absolute(c.hits);
            counter!(t::CACHE_MISSES, "cache" => c.name.clone()).absolute(c.misses);
            counter!(t::CACHE_EVICTIONS, "cache" => c.name.clone()).absolute(c.evictions);
            gauge!(t::CACHE_ENTRIES, "cache" => c.name).set(c.entries as f64);
        }
        let pool = state.db.pool();
        gauge!(t::POOL_SIZE).set(f64::from(pool.size()));
        gauge!(t::POOL_IDLE).set(pool.num_idle() as f64);
        gauge!(t::POOL_MAX).set(f64::from(state.settings.pool.max_connections));
        // One probe a second: how long taking a connection takes right now.
        let started = Instant::now();
        match tokio::time::timeout(state.settings.pool.acquire_timeout, pool.acquire()).await {
            Ok(Ok(conn)) => {
                drop(conn);
                histogram!(t::POOL_ACQUIRE).record(started.elapsed());
            }
            _ => histogram!(t::POOL_ACQUIRE).record(started.elapsed()),
        }
        gauge!(t::ACTIVE_USERS).set(state.viewers.active_users().await as f64);

        if tick % 5 == 0 {
            match admin_db::queue_counts(&state.db).await {
                Ok(mut counts) => {
                    for k in &kinds {
                        counts.by_kind.entry(k.clone()).or_default();
                    }
                    kinds.extend(counts.by_kind.keys().cloned());
                    for (kind, (queued, running, dead)) in counts.by_kind {
                        for (st, n) in [("queued", queued), ("running", running), ("dead", dead)] {
                            gauge!(t::QUEUE_DEPTH, "kind" => kind.clone(), "state" => st)
                                .set(n as f64);
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "queue depth not read"),
            }
            if state.settings.stt.is_some() {
                stt_gauges(&state.db).await;
            }
        }
        if tick % 60 == 0 {
            let dir = state.settings.data_dir.clone();
            let disk = tokio::task::spawn_blocking(move || disk_figures(&dir)).await;
            if let Ok((used, free, total)) = disk {
                gauge!(t::DATA_DIR_BYTES).set(used as f64);
                if let Some(free) = free {
                    gauge!(t::DISK_FREE).set(free as f64);
                }
                if let Some(total) = total {
                    gauge!(t::DISK_TOTAL).set(total as f64);
                }
            }
        }
        tick += 1;
    }
}

/// Bytes of every file under `dir`, and its disk's free and total space.
fn disk_figures(dir: &std::path::Path) -> (u64, Option<u64>, Option<u64>) {
    let used = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    (
        used,
        fs4::available_space(dir).ok(),
        fs4::total_space(dir).ok(),
    )
}

/// A tracing layer that hands sqlx's "slow statement" warnings (target
/// `sqlx::query`, fields `summary` and `elapsed_secs`) to the dashboard.
pub struct SlowStatements;

#[derive(Default)]
struct SlowFields {
    summary: Option<String>,
    secs: Option<f64>,
}

impl Visit for SlowFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "summary" {
            self.summary = Some(value.to_string());
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.secs = Some(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" && self.summary.is_none() {
            self.summary = Some(format!("{value:?}").trim_matches('"').to_string());
        }
    }
}

impl<S: Subscriber> Layer<S> for SlowStatements {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() != "sqlx::query" || *meta.level() != Level::WARN {
            return;
        }
        let mut f = SlowFields::default();
        event.record(&mut f);
        if let (Some(summary), Some(secs)) = (f.summary, f.secs) {
            t::global().slow_query(&summary, secs);
        }
    }
}

/// The provider's gate as gauges (the whole deployment's, from the
/// database): requests in flight and started in the last minute, the
/// breaker, and the seconds transcribed this month.
async fn stt_gauges(db: &app::db::Db) {
    match app::transcripts::gate::status(db).await {
        Ok(g) => {
            gauge!(t::STT_IN_FLIGHT).set(g.in_flight as f64);
            gauge!(t::STT_STARTED_LAST_MINUTE).set(g.started_last_minute as f64);
            let breaker = match g.breaker.as_str() {
                "open" => 2.0,
                "half_open" => 1.0,
                _ => 0.0,
            };
            gauge!(t::STT_BREAKER).set(breaker);
        }
        Err(e) => tracing::debug!(error = %e, "the provider's gate not read"),
    }
    if let Ok(seconds) = app::transcripts::usage::seconds_this_month_all(db).await {
        gauge!(t::STT_SECONDS_MONTH).set(seconds as f64);
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn slow_statements_reach_the_dashboard() {
        let marker = format!("SELECT marker_{}", std::process::id());
        let subscriber = tracing_subscriber::registry().with(super::SlowStatements);
        tracing::subscriber::with_default(subscriber, || {
            // What sqlx logs for a statement over the threshold.
            tracing::warn!(
                target: "sqlx::query",
                summary = marker.as_str(),
                elapsed_secs = 0.25,
                "slow statement: execution time exceeded alert threshold"
            );
            // Other targets and levels are not slow statements.
            tracing::warn!(target: "other", summary = "SELECT no", elapsed_secs = 9.0, "x");
            tracing::info!(target: "sqlx::query", summary = "SELECT fast", elapsed_secs = 0.001, "y");
        });
        let slow = app::admin::view::View::of(&app::telemetry::global()).slow;
        let found = slow.iter().find(|q| q.summary == marker).expect("recorded");
        assert!((found.ms - 250.0).abs() < 1e-6, "{found:?}");
        assert!(!slow
            .iter()
            .any(|q| q.summary == "SELECT no" || q.summary == "SELECT fast"));
    }
}
