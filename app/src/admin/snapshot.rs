//! Builds what the dashboard shows: the telemetry windows plus live figures
//! from the database, the pool and the caches, and the alerts they raise.

use std::collections::BTreeMap;

use super::db as admin_db;
use super::view::View;
use super::{
    Alert, AlertLevel, CacheStat, DiskStats, KindStats, KindStatus, Performance, PoolStats,
    ProcessStats, QueueStats, QueueStatus,
};
use crate::cache::CacheStats;
use crate::db::now_ms;
use crate::errors::AppError;
use crate::settings::AlertThresholds;
use crate::state::AppState;
use crate::telemetry;

/// Every cache of the process, with its counters since start.
pub fn cache_stats(state: &AppState) -> Vec<CacheStats> {
    let mut all = state.caches.stats();
    all.push(state.usage.stats());
    all.push(state.viewers.stats());
    all
}

/// The queue per kind: live counts from the database, rates and latencies
/// from the telemetry window, limits from the workers' gauges.
async fn queue_stats(
    state: &AppState,
    view: &View,
    with_jobs: bool,
) -> Result<QueueStats, AppError> {
    let counts = admin_db::queue_counts(&state.db).await?;
    let mut kinds: BTreeMap<String, KindStats> = BTreeMap::new();
    for (kind, (queued, running, dead)) in &counts.by_kind {
        kinds.insert(
            kind.clone(),
            KindStats {
                kind: kind.clone(),
                queued: *queued,
                running: *running,
                dead: *dead,
                ..KindStats::default()
            },
        );
    }
    for kind in view.jobs.keys() {
        kinds.entry(kind.clone()).or_insert_with(|| KindStats {
            kind: kind.clone(),
            ..KindStats::default()
        });
    }
    for (kind, k) in kinds.iter_mut() {
        k.paused = counts.paused.iter().any(|p| p == kind);
        if let Some(j) = view.jobs.get(kind) {
            k.started_per_min = j.started;
            k.succeeded_per_min = j.succeeded;
            k.failed_per_min = j.failed;
            k.retried_per_min = j.retried;
            k.wait_p50_ms = j.wait.quantile_ms(0.5);
            k.wait_p95_ms = j.wait.quantile_ms(0.95);
            k.run_p50_ms = j.run.quantile_ms(0.5);
            k.run_p95_ms = j.run.quantile_ms(0.95);
        }
        let labels = [("kind", kind.as_str())];
        if view.has_gauge(telemetry::JOB_RATE_LIMIT, &labels) {
            k.rate_limit_per_minute = Some(view.gauge(telemetry::JOB_RATE_LIMIT, &labels) as u32);
            k.rate_tokens = Some(view.gauge(telemetry::JOB_RATE_TOKENS, &labels));
        }
    }
    let kinds: Vec<KindStats> = kinds.into_values().collect();
    let now = now_ms();
    Ok(QueueStats {
        queued: kinds.iter().map(|k| k.queued).sum(),
        running: kinds.iter().map(|k| k.running).sum(),
        dead: kinds.iter().map(|k| k.dead).sum(),
        oldest_wait_secs: counts
            .oldest_due_ms
            .map_or(0.0, |t| (now - t).max(0) as f64 / 1_000.0),
        kinds,
        failed: if with_jobs {
            admin_db::failed_jobs(&state.db, 20).await?
        } else {
            Vec::new()
        },
        recent: if with_jobs {
            admin_db::recent_jobs(&state.db, 20).await?
        } else {
            Vec::new()
        },
    })
}

/// `GET /api/queue-status`: totals for anyone, `detail` for admins.
pub async fn queue_status(state: &AppState, admin: bool) -> Result<QueueStatus, AppError> {
    let view = View::queue(&telemetry::global());
    let q = queue_stats(state, &view, admin).await?;
    let kinds = q
        .kinds
        .iter()
        .map(|k| {
            (
                k.kind.clone(),
                KindStatus {
                    queue_length: k.queued,
                    processing: k.running,
                    requests_this_minute: k.started_per_min,
                    rate_limit_per_minute: k.rate_limit_per_minute,
                    paused: k.paused,
                },
            )
        })
        .collect();
    Ok(QueueStatus {
        queue_length: q.queued,
        processing: q.running,
        requests_this_minute: q.kinds.iter().map(|k| k.started_per_min).sum(),
        rate_limit_per_minute: q.kinds.iter().filter_map(|k| k.rate_limit_per_minute).min(),
        kinds,
        detail: admin.then_some(q),
    })
}

/// The whole dashboard.
pub async fn performance(state: &AppState) -> Result<Performance, AppError> {
    let t = telemetry::global();
    let view = View::of(&t);
    let queue = queue_stats(state, &view, true).await?;

    let caches = cache_stats(state)
        .into_iter()
        .map(|c| {
            let hit_rate = view
                .caches
                .get(&c.name)
                .and_then(|(h, m)| (h + m > 0).then(|| *h as f64 / (h + m) as f64));
            CacheStat {
                name: c.name,
                hits: c.hits,
                misses: c.misses,
                evictions: c.evictions,
                entries: c.entries,
                hit_rate,
            }
        })
        .collect();

    let pool = state.db.pool();
    let max = state.settings.pool.max_connections;
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(size);
    let in_use = size - idle;
    let pool = PoolStats {
        backend: state.db.backend().name().to_string(),
        max,
        size,
        idle,
        in_use,
        use_ratio: if max == 0 {
            0.0
        } else {
            f64::from(in_use) / f64::from(max)
        },
        acquire_p50_ms: view.acquire_p50_ms,
        acquire_p95_ms: view.acquire_p95_ms,
    };

    let now = now_ms();
    let process = ProcessStats {
        rss_bytes: view.rss_bytes() as u64,
        cpu_percent: view.cpu_percent,
        open_fds: view.open_fds() as u64,
        max_fds: view.max_fds() as u64,
        threads: view.threads() as u64,
        uptime_secs: ((now - t.started_at_ms()).max(0) / 1_000) as u64,
        memory_growth_mb_per_hour: view.memory_growth_mb_per_hour,
    };
    let gauge = |name: &str| {
        view.has_gauge(name, &[])
            .then(|| view.gauge(name, &[]) as u64)
    };
    let disk = DiskStats {
        data_dir_bytes: gauge(telemetry::DATA_DIR_BYTES),
        free_bytes: gauge(telemetry::DISK_FREE),
        total_bytes: gauge(telemetry::DISK_TOTAL),
    };

    let mut perf = Performance {
        now_ms: view.now_ms,
        started_at_ms: t.started_at_ms(),
        history_from_ms: view.history_from_ms,
        window_secs: view.window_secs,
        slot_secs: telemetry::windows::SLOT_SECS as u64,
        instrumentation: state.settings.instrumentation,
        totals: view.totals.clone(),
        routes: view.routes.clone(),
        series: view.series.clone(),
        caches,
        queue,
        pool,
        process,
        disk,
        active_users: state.viewers.active_users().await,
        alerts: Vec::new(),
        slow_queries: view.slow.clone(),
        transcription: crate::transcripts::service::stats(state).await?,
        answered_by: state.instance_id.clone(),
        instances: admin_db::instances(&state.db).await?,
        imports: admin_db::imports(&state.db, 10).await?,
    };
    perf.alerts = alerts(&perf, &view.recent, &state.settings.alerts);
    Ok(perf)
}

/// The thresholds `perf` crosses, critical ones first.
pub fn alerts(perf: &Performance, recent: &super::Totals, limits: &AlertThresholds) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut check = |key: &str, value: f64, high: f64, critical: Option<f64>, what: String| {
        let level = match critical {
            Some(c) if value > c => Some((AlertLevel::Critical, c)),
            _ if value > high => Some((AlertLevel::High, high)),
            _ => None,
        };
        if let Some((level, threshold)) = level {
            out.push(Alert {
                key: key.to_string(),
                level,
                message: what,
                value,
                threshold,
            });
        }
    };
    if recent.requests >= limits.min_requests {
        check(
            "error_rate",
            recent.error_rate,
            limits.error_rate_high,
            Some(limits.error_rate_critical),
            format!(
                "{:.1} % of requests failed in the last 5 minutes",
                recent.error_rate * 100.0
            ),
        );
        check(
            "p95",
            recent.p95_ms,
            limits.p95_high_ms,
            Some(limits.p95_critical_ms),
            format!(
                "p95 latency is {:.0} ms over the last 5 minutes",
                recent.p95_ms
            ),
        );
    }
    check(
        "queue_length",
        perf.queue.queued as f64,
        limits.queue_length as f64,
        None,
        format!("{} jobs are waiting", perf.queue.queued),
    );
    check(
        "pool_use",
        perf.pool.use_ratio,
        limits.pool_use,
        None,
        format!(
            "{} of {} database connections are in use",
            perf.pool.in_use, perf.pool.max
        ),
    );
    if let Some(growth) = perf.process.memory_growth_mb_per_hour {
        check(
            "memory_growth",
            growth,
            limits.memory_growth_mb_per_hour,
            None,
            format!("memory grows by {growth:.1} MB an hour"),
        );
    }
    // The provider's answers: the same error-rate limits as the site's.
    if let Some(stt) = perf
        .transcription
        .as_ref()
        .filter(|s| s.requests as u64 >= limits.min_requests)
    {
        check(
            "stt_error_rate",
            stt.error_rate(),
            limits.error_rate_high,
            Some(limits.error_rate_critical),
            format!(
                "{:.1} % of speech-to-text requests failed in the last 5 minutes",
                stt.error_rate() * 100.0
            ),
        );
    }
    if let Some(stt) = perf
        .transcription
        .as_ref()
        .filter(|s| s.breaker != "closed")
    {
        out.push(Alert {
            key: "stt_breaker".into(),
            level: AlertLevel::High,
            message: format!(
                "the speech-to-text provider failed {} times in a row: transcription waits (breaker {})",
                stt.failures_in_a_row,
                stt.breaker.replace('_', " ")
            ),
            value: stt.failures_in_a_row as f64,
            threshold: 0.0,
        });
    }
    if let Some(free) = perf.disk.free_bytes {
        // Less free space is worse: compare the shortfall.
        if free < limits.disk_free_bytes {
            out.push(Alert {
                key: "disk_free".into(),
                level: AlertLevel::Critical,
                message: format!(
                    "only {} free on the data directory's disk",
                    crate::fmt::bytes(free as i64)
                ),
                value: free as f64,
                threshold: limits.disk_free_bytes as f64,
            });
        }
    }
    out.sort_by_key(|a| std::cmp::Reverse(a.level));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::Totals;

    #[test]
    fn thresholds_raise_alerts_at_their_level() {
        let limits = AlertThresholds::default();
        let mut perf = Performance::default();
        let mut recent = Totals {
            requests: 100,
            errors: 8,
            error_rate: 0.08,
            p95_ms: 6_000.0,
            ..Totals::default()
        };
        perf.queue.queued = 101;
        perf.pool.use_ratio = 0.9;
        perf.process.memory_growth_mb_per_hour = Some(12.0);
        perf.disk.free_bytes = Some(10 << 20);
        let found = alerts(&perf, &recent, &limits);
        let level = |key: &str| found.iter().find(|a| a.key == key).map(|a| a.level);
        assert_eq!(level("error_rate"), Some(AlertLevel::High));
        assert_eq!(level("p95"), Some(AlertLevel::Critical));
        assert_eq!(level("queue_length"), Some(AlertLevel::High));
        assert_eq!(level("pool_use"), Some(AlertLevel::High));
        assert_eq!(level("memory_growth"), Some(AlertLevel::High));
        assert_eq!(level("disk_free"), Some(AlertLevel::Critical));
        assert_eq!(found[0].level, AlertLevel::Critical, "critical first");

        recent.error_rate = 0.2;
        let found = alerts(&perf, &recent, &limits);
        assert!(found
            .iter()
            .any(|a| a.key == "error_rate" && a.level == AlertLevel::Critical));

        // Too few requests to judge; everything else healthy.
        let quiet = Totals {
            requests: 3,
            error_rate: 1.0,
            p95_ms: 9_000.0,
            ..Totals::default()
        };
        assert!(alerts(&Performance::default(), &quiet, &limits).is_empty());
    }
}
