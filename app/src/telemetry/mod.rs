//! Process-wide telemetry. Code measures with the `metrics` macros
//! (`counter!`, `gauge!`, `histogram!`); one recorder fans every measurement
//! out to the Prometheus exporter (`/metrics`) and to a registry this module
//! reads once a second into rolling windows for the dashboard: 180 slots of
//! 5 s (15 minutes), each holding per-route latency histograms and the
//! gauges of its last second. The windows have a fixed number of slots and
//! of routes, so memory does not grow with uptime.

pub mod hist;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram as MetricHistogram, Key, KeyName, Metadata};
use metrics::{Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::layers::FanoutBuilder;
use metrics_util::registry::{AtomicStorage, Registry};

pub use hist::Histogram;

use crate::admin::{RouteSeries, RouteStats, Series, SlowQuery, Totals};
use crate::db::now_ms;

/// Seconds per slot of the rolling windows.
pub const SLOT_SECS: i64 = 5;
/// Slots kept: 15 minutes.
pub const SLOTS: usize = 180;
/// Distinct routes tracked; later ones are counted as "other".
const MAX_ROUTES: usize = 64;
/// Slow statements kept for the dashboard.
const MAX_SLOW: usize = 50;

// Metric names, in one place.
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const JOB_STARTED: &str = "jobs_started_total";
pub const JOB_SUCCEEDED: &str = "jobs_succeeded_total";
pub const JOB_FAILED: &str = "jobs_failed_total";
pub const JOB_RETRIED: &str = "jobs_retried_total";
pub const JOB_WAIT: &str = "job_wait_seconds";
pub const JOB_RUN: &str = "job_run_seconds";
pub const JOB_RATE_TOKENS: &str = "job_rate_limit_tokens";
pub const JOB_RATE_LIMIT: &str = "job_rate_limit_per_minute";
pub const QUEUE_DEPTH: &str = "queue_jobs";
pub const CACHE_HITS: &str = "cache_hits_total";
pub const CACHE_MISSES: &str = "cache_misses_total";
pub const CACHE_EVICTIONS: &str = "cache_evictions_total";
pub const CACHE_ENTRIES: &str = "cache_entries";
pub const POOL_SIZE: &str = "db_pool_connections";
pub const POOL_IDLE: &str = "db_pool_idle_connections";
pub const POOL_MAX: &str = "db_pool_max_connections";
pub const POOL_ACQUIRE: &str = "db_pool_acquire_seconds";
pub const SLOW_QUERIES: &str = "db_slow_queries_total";
pub const DATA_DIR_BYTES: &str = "data_dir_bytes";
pub const DISK_FREE: &str = "data_disk_free_bytes";
pub const DISK_TOTAL: &str = "data_disk_total_bytes";
pub const ACTIVE_USERS: &str = "active_users";
const RSS: &str = "process_resident_memory_bytes";
const CPU: &str = "process_cpu_seconds_total";
const OPEN_FDS: &str = "process_open_fds";
const MAX_FDS: &str = "process_max_fds";
const THREADS: &str = "process_threads";

/// The dashboard's side of the fan-out: atomics in a registry.
struct WindowRecorder(Arc<Registry<Key, AtomicStorage>>);

impl Recorder for WindowRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.0
            .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.0
            .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> MetricHistogram {
        self.0
            .get_or_create_histogram(key, |h| MetricHistogram::from_arc(h.clone()))
    }
}

#[derive(Default)]
struct RouteSlot {
    latency: Histogram,
    errors: u64,
}

#[derive(Default)]
struct JobSlot {
    started: u64,
    succeeded: u64,
    failed: u64,
    retried: u64,
    wait: Histogram,
    run: Histogram,
}

#[derive(Default)]
struct Slot {
    /// Unix seconds, a multiple of `SLOT_SECS`.
    start: i64,
    routes: HashMap<Arc<str>, RouteSlot>,
    jobs: HashMap<Arc<str>, JobSlot>,
    /// Per cache: hits and misses in the slot.
    caches: HashMap<Arc<str>, (u64, u64)>,
    acquire: Histogram,
    rss: f64,
    queue_depth: f64,
}

struct Windows {
    slots: VecDeque<Slot>,
    /// Counter values at the previous tick, to turn totals into deltas.
    last: HashMap<Key, u64>,
    routes: HashSet<Arc<str>>,
    kinds: HashSet<Arc<str>>,
    /// Latest gauge values.
    gauges: Vec<(Key, f64)>,
    cpu: Option<(Instant, f64)>,
    cpu_percent: f64,
    slow: VecDeque<SlowQuery>,
}

pub struct Telemetry {
    prometheus: PrometheusHandle,
    registry: Arc<Registry<Key, AtomicStorage>>,
    windows: Mutex<Windows>,
    process: metrics_process::Collector,
    started_at_ms: i64,
}

static GLOBAL: OnceLock<Arc<Telemetry>> = OnceLock::new();

/// The process's telemetry: installs the recorder and starts the sampling
/// thread on first use.
pub fn global() -> Arc<Telemetry> {
    GLOBAL
        .get_or_init(|| {
            let t = Arc::new(Telemetry::install());
            let sampler = t.clone();
            let spawned =
                std::thread::Builder::new()
                    .name("telemetry".into())
                    .spawn(move || loop {
                        std::thread::sleep(Duration::from_secs(1));
                        sampler.tick();
                    });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start the telemetry thread");
            }
            t
        })
        .clone()
}

impl Telemetry {
    fn install() -> Telemetry {
        let latency_buckets = [
            0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            30.0, 60.0, 300.0,
        ];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency_buckets);
        let prometheus_recorder = match builder {
            Ok(b) => b.build_recorder(),
            Err(e) => {
                tracing::warn!(error = %e, "Prometheus buckets refused; using summaries");
                PrometheusBuilder::new().build_recorder()
            }
        };
        let prometheus = prometheus_recorder.handle();
        let registry = Arc::new(Registry::atomic());
        let fanout = FanoutBuilder::default()
            .add_recorder(prometheus_recorder)
            .add_recorder(WindowRecorder(registry.clone()))
            .build();
        if metrics::set_global_recorder(fanout).is_err() {
            tracing::warn!("a metrics recorder was already installed; the dashboard sees nothing");
        }
        let process = metrics_process::Collector::default();
        process.describe();
        describe();
        Telemetry {
            prometheus,
            registry,
            windows: Mutex::new(Windows {
                slots: VecDeque::with_capacity(SLOTS),
                last: HashMap::new(),
                routes: HashSet::new(),
                kinds: HashSet::new(),
                gauges: Vec::new(),
                cpu: None,
                cpu_percent: 0.0,
                slow: VecDeque::with_capacity(MAX_SLOW),
            }),
            process,
            started_at_ms: now_ms(),
        }
    }

    pub fn started_at_ms(&self) -> i64 {
        self.started_at_ms
    }

    /// Everything in Prometheus' text format.
    pub fn prometheus_text(&self) -> String {
        // Process figures as of this scrape.
        self.process.collect();
        self.prometheus.render()
    }

    /// Records a statement that took longer than the slow threshold.
    pub fn slow_query(&self, summary: &str, secs: f64) {
        metrics::counter!(SLOW_QUERIES).increment(1);
        let mut w = self.lock();
        if w.slow.len() == MAX_SLOW {
            w.slow.pop_front();
        }
        w.slow.push_back(SlowQuery {
            at_ms: now_ms(),
            summary: summary.chars().take(200).collect(),
            ms: secs * 1_000.0,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Once a second: read every metric into the current slot.
    pub fn tick(&self) {
        self.prometheus.run_upkeep();
        self.process.collect();
        let now_secs = now_ms() / 1_000;
        let mut guard = self.lock();
        let w = &mut *guard;
        let start = now_secs - now_secs.rem_euclid(SLOT_SECS);
        if w.slots.back().is_none_or(|s| s.start != start) {
            if w.slots.len() == SLOTS {
                w.slots.pop_front();
            }
            w.slots.push_back(Slot {
                start,
                ..Slot::default()
            });
        }
        let Windows {
            slots,
            last,
            routes,
            kinds,
            gauges,
            ..
        } = w;
        let Some(slot) = slots.back_mut() else {
            return;
        };

        self.registry.visit_histograms(|key, bucket| {
            let target: Option<&mut Histogram> = match key.name() {
                HTTP_DURATION => {
                    let route = intern(routes, route_name(key), MAX_ROUTES);
                    Some(&mut slot.routes.entry(route).or_default().latency)
                }
                JOB_WAIT | JOB_RUN => {
                    let kind = intern(kinds, label(key, "kind").to_string(), 32);
                    let job = slot.jobs.entry(kind).or_default();
                    Some(if key.name() == JOB_WAIT {
                        &mut job.wait
                    } else {
                        &mut job.run
                    })
                }
                POOL_ACQUIRE => Some(&mut slot.acquire),
                _ => None,
            };
            match target {
                Some(h) => bucket.clear_with(|values| values.iter().for_each(|v| h.record(*v))),
                // Nobody reads it here: drop the samples so they do not pile up.
                None => bucket.clear_with(|_| {}),
            }
        });

        self.registry.visit_counters(|key, value| {
            let now = value.load(std::sync::atomic::Ordering::Relaxed);
            let before = last.insert(key.clone(), now).unwrap_or(0);
            // A counter that went down was reset (or set by another owner): count anew.
            let delta = if now >= before { now - before } else { now };
            if delta == 0 {
                return;
            }
            match key.name() {
                HTTP_REQUESTS if label(key, "status").starts_with('5') => {
                    let route = intern(routes, route_name(key), MAX_ROUTES);
                    slot.routes.entry(route).or_default().errors += delta;
                }
                JOB_STARTED | JOB_SUCCEEDED | JOB_FAILED | JOB_RETRIED => {
                    let kind = intern(kinds, label(key, "kind").to_string(), 32);
                    let job = slot.jobs.entry(kind).or_default();
                    match key.name() {
                        JOB_STARTED => job.started += delta,
                        JOB_SUCCEEDED => job.succeeded += delta,
                        JOB_FAILED => job.failed += delta,
                        _ => job.retried += delta,
                    }
                }
                CACHE_HITS | CACHE_MISSES => {
                    let name: Arc<str> = Arc::from(label(key, "cache"));
                    let entry = slot.caches.entry(name).or_default();
                    if key.name() == CACHE_HITS {
                        entry.0 += delta;
                    } else {
                        entry.1 += delta;
                    }
                }
                _ => {}
            }
        });

        gauges.clear();
        self.registry.visit_gauges(|key, value| {
            let v = f64::from_bits(value.load(std::sync::atomic::Ordering::Relaxed));
            gauges.push((key.clone(), v));
        });
        slot.rss = gauge_sum(gauges, RSS, &[]);
        slot.queue_depth = gauge_sum(gauges, QUEUE_DEPTH, &[("state", "queued")]);
        let cpu_now = gauge_sum(gauges, CPU, &[]);
        let at = Instant::now();
        if let Some((then, cpu_then)) = w.cpu {
            let secs = at.duration_since(then).as_secs_f64();
            if secs > 0.0 {
                w.cpu_percent = ((cpu_now - cpu_then) / secs * 100.0).max(0.0);
            }
        }
        w.cpu = Some((at, cpu_now));
    }

    /// Only what the public queue status needs (job figures and gauges):
    /// none of the per-route merging of `view`.
    pub fn queue_view(&self) -> View {
        let now = now_ms();
        let w = self.lock();
        View {
            now_ms: now,
            jobs: jobs_of(&w, now),
            gauges: w.gauges.clone(),
            ..View::default()
        }
    }

    /// The windowed part of the dashboard.
    pub fn view(&self) -> View {
        let now = now_ms();
        let w = self.lock();
        let history_from_ms = w.slots.front().map_or(self.started_at_ms, |s| {
            (s.start * 1_000).max(self.started_at_ms)
        });
        let covered = ((now - history_from_ms) as f64 / 1_000.0).max(1.0);

        // Routes over the window.
        let mut merged: HashMap<&Arc<str>, (Histogram, u64)> = HashMap::new();
        for slot in &w.slots {
            for (route, rs) in &slot.routes {
                let e = merged.entry(route).or_default();
                e.0.merge(&rs.latency);
                e.1 += rs.errors;
            }
        }
        let mut all = Histogram::new();
        let mut errors = 0;
        let (mut recent, mut recent_errors) = (Histogram::new(), 0);
        let five_minutes_ago = now / 1_000 - 300;
        for slot in w
            .slots
            .iter()
            .filter(|s| s.start + SLOT_SECS > five_minutes_ago)
        {
            for rs in slot.routes.values() {
                recent.merge(&rs.latency);
                recent_errors += rs.errors;
            }
        }
        let recent = Totals {
            requests: recent.count(),
            errors: recent_errors,
            requests_per_sec: recent.count() as f64 / covered.min(300.0),
            error_rate: ratio(recent_errors, recent.count()),
            p50_ms: recent.quantile_ms(0.5),
            p95_ms: recent.quantile_ms(0.95),
            p99_ms: recent.quantile_ms(0.99),
        };
        let mut routes: Vec<RouteStats> = merged
            .iter()
            .map(|(route, (h, errs))| {
                all.merge(h);
                errors += errs;
                let requests = h.count();
                RouteStats {
                    route: route.to_string(),
                    requests,
                    errors: *errs,
                    requests_per_sec: requests as f64 / covered,
                    error_rate: ratio(*errs, requests),
                    p50_ms: h.quantile_ms(0.5),
                    p95_ms: h.quantile_ms(0.95),
                    p99_ms: h.quantile_ms(0.99),
                }
            })
            .collect();
        routes.sort_by(|a, b| {
            b.p95_ms
                .total_cmp(&a.p95_ms)
                .then_with(|| b.requests.cmp(&a.requests))
        });
        let totals = Totals {
            requests: all.count(),
            errors,
            requests_per_sec: all.count() as f64 / covered,
            error_rate: ratio(errors, all.count()),
            p50_ms: all.quantile_ms(0.5),
            p95_ms: all.quantile_ms(0.95),
            p99_ms: all.quantile_ms(0.99),
        };

        // Chart series, one point per slot.
        let mut series = Series::default();
        let top: Vec<String> = routes.iter().take(5).map(|r| r.route.clone()).collect();
        let mut route_p95: Vec<RouteSeries> = top
            .iter()
            .map(|r| RouteSeries {
                route: r.clone(),
                p95_ms: Vec::with_capacity(w.slots.len()),
            })
            .collect();
        for slot in &w.slots {
            let mut h = Histogram::new();
            let mut errs = 0;
            for rs in slot.routes.values() {
                h.merge(&rs.latency);
                errs += rs.errors;
            }
            series.t.push(slot.start * 1_000);
            series
                .requests_per_sec
                .push(h.count() as f64 / SLOT_SECS as f64);
            series.error_rate.push(ratio(errs, h.count()));
            series.p95_ms.push(h.quantile_ms(0.95));
            series.queue_depth.push(slot.queue_depth);
            let (hits, misses) = slot
                .caches
                .values()
                .fold((0, 0), |(h, m), (sh, sm)| (h + sh, m + sm));
            series
                .cache_hit_rate
                .push((hits + misses > 0).then(|| ratio(hits, hits + misses)));
            series.rss_mb.push(slot.rss / 1_048_576.0);
            for rs in &mut route_p95 {
                let p = slot
                    .routes
                    .iter()
                    .find(|(name, _)| name.as_ref() == rs.route)
                    .and_then(|(_, s)| s.latency.quantile(0.95))
                    .map(|s| s * 1_000.0);
                rs.p95_ms.push(p);
            }
        }
        series.route_p95_ms = route_p95;

        let jobs = jobs_of(&w, now);

        let mut caches: HashMap<String, (u64, u64)> = HashMap::new();
        for slot in &w.slots {
            for (name, (h, m)) in &slot.caches {
                let e = caches.entry(name.to_string()).or_default();
                e.0 += h;
                e.1 += m;
            }
        }

        let mut acquire = Histogram::new();
        for slot in &w.slots {
            acquire.merge(&slot.acquire);
        }

        // RSS trend: least squares over the window, once it covers 5 minutes.
        let points: Vec<(f64, f64)> = w
            .slots
            .iter()
            .filter(|s| s.rss > 0.0)
            .map(|s| (s.start as f64, s.rss))
            .collect();
        let memory_growth_mb_per_hour = match (points.first(), points.last()) {
            (Some(a), Some(b)) if b.0 - a.0 >= 300.0 => {
                slope(&points).map(|bytes_per_sec| bytes_per_sec * 3_600.0 / 1_048_576.0)
            }
            _ => None,
        };

        View {
            now_ms: now,
            history_from_ms,
            window_secs: covered as u64,
            totals,
            recent,
            routes,
            series,
            jobs,
            caches,
            acquire_p50_ms: acquire.quantile_ms(0.5),
            acquire_p95_ms: acquire.quantile_ms(0.95),
            gauges: w.gauges.clone(),
            cpu_percent: w.cpu_percent,
            memory_growth_mb_per_hour,
            slow: w.slow.iter().rev().take(20).cloned().collect(),
        }
    }
}

/// Per job kind: the last minute's counts, the window's latencies.
fn jobs_of(w: &Windows, now_ms: i64) -> HashMap<String, JobWindow> {
    let minute_ago = now_ms / 1_000 - 60;
    let mut jobs: HashMap<String, JobWindow> = HashMap::new();
    for slot in &w.slots {
        for (kind, js) in &slot.jobs {
            let e = jobs.entry(kind.to_string()).or_default();
            e.wait.merge(&js.wait);
            e.run.merge(&js.run);
            if slot.start + SLOT_SECS > minute_ago {
                e.started += js.started;
                e.succeeded += js.succeeded;
                e.failed += js.failed;
                e.retried += js.retried;
            }
        }
    }
    jobs
}

#[derive(Debug, Default, Clone)]
pub struct JobWindow {
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub retried: u64,
    pub wait: Histogram,
    pub run: Histogram,
}

/// The windowed figures; `admin::snapshot` adds the live database ones.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub now_ms: i64,
    pub history_from_ms: i64,
    pub window_secs: u64,
    pub totals: Totals,
    /// The same over the last 5 minutes (what alerts look at).
    pub recent: Totals,
    pub routes: Vec<RouteStats>,
    pub series: Series,
    /// Per job kind.
    pub jobs: HashMap<String, JobWindow>,
    /// Per cache: hits and misses over the window.
    pub caches: HashMap<String, (u64, u64)>,
    pub acquire_p50_ms: f64,
    pub acquire_p95_ms: f64,
    gauges: Vec<(Key, f64)>,
    pub cpu_percent: f64,
    pub memory_growth_mb_per_hour: Option<f64>,
    pub slow: Vec<SlowQuery>,
}

impl View {
    /// The sum of the gauges named `name` whose labels include `labels`.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        gauge_sum(&self.gauges, name, labels)
    }

    /// Whether any gauge `name` with these labels was ever set.
    pub fn has_gauge(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.gauges
            .iter()
            .any(|(k, _)| k.name() == name && has_labels(k, labels))
    }

    pub fn rss_bytes(&self) -> f64 {
        self.gauge(RSS, &[])
    }

    pub fn open_fds(&self) -> f64 {
        self.gauge(OPEN_FDS, &[])
    }

    pub fn max_fds(&self) -> f64 {
        self.gauge(MAX_FDS, &[])
    }

    pub fn threads(&self) -> f64 {
        self.gauge(THREADS, &[])
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer a request, per matched route"
    );
    describe_counter!(
        HTTP_REQUESTS,
        "Requests answered, per matched route and status"
    );
    describe_counter!(JOB_STARTED, "Job attempts started, per kind");
    describe_counter!(JOB_SUCCEEDED, "Job attempts that succeeded, per kind");
    describe_counter!(JOB_FAILED, "Jobs that failed for good (dead), per kind");
    describe_counter!(JOB_RETRIED, "Failed attempts queued again, per kind");
    describe_histogram!(
        JOB_WAIT,
        Unit::Seconds,
        "From a job being due to its attempt starting"
    );
    describe_histogram!(JOB_RUN, Unit::Seconds, "How long an attempt ran");
    describe_gauge!(
        JOB_RATE_TOKENS,
        "Starts a rate-limited kind may make right now"
    );
    describe_gauge!(
        JOB_RATE_LIMIT,
        "Starts per minute a rate-limited kind may make"
    );
    describe_gauge!(QUEUE_DEPTH, "Jobs per kind and state");
    describe_counter!(CACHE_HITS, "Cache reads that found the key");
    describe_counter!(CACHE_MISSES, "Cache reads that did not");
    describe_counter!(CACHE_EVICTIONS, "Entries evicted for size");
    describe_gauge!(CACHE_ENTRIES, "Entries per cache");
    describe_gauge!(POOL_SIZE, "Open database connections");
    describe_gauge!(POOL_IDLE, "Idle database connections");
    describe_gauge!(POOL_MAX, "Most database connections the pool opens");
    describe_histogram!(
        POOL_ACQUIRE,
        Unit::Seconds,
        "Time to take a connection from the pool (sampled)"
    );
    describe_counter!(SLOW_QUERIES, "Statements slower than 100 ms");
    describe_gauge!(
        DATA_DIR_BYTES,
        Unit::Bytes,
        "Bytes under the data directory"
    );
    describe_gauge!(
        DISK_FREE,
        Unit::Bytes,
        "Free space on the data directory's disk"
    );
    describe_gauge!(DISK_TOTAL, Unit::Bytes, "Size of the data directory's disk");
    describe_gauge!(ACTIVE_USERS, "Users seen in the last 5 minutes");
}

fn label<'a>(key: &'a Key, name: &str) -> &'a str {
    key.labels()
        .find(|l| l.key() == name)
        .map_or("", |l| l.value())
}

fn has_labels(key: &Key, labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(n, v)| label(key, n) == *v)
}

fn gauge_sum(gauges: &[(Key, f64)], name: &str, labels: &[(&str, &str)]) -> f64 {
    gauges
        .iter()
        .filter(|(k, _)| k.name() == name && has_labels(k, labels))
        .map(|(_, v)| *v)
        .sum()
}

fn route_name(key: &Key) -> String {
    format!("{} {}", label(key, "method"), label(key, "route"))
}

/// The shared name for `name`, or "other" once `cap` names are known.
fn intern(known: &mut HashSet<Arc<str>>, name: String, cap: usize) -> Arc<str> {
    if let Some(k) = known.get(name.as_str()) {
        return k.clone();
    }
    let name: Arc<str> = if known.len() >= cap {
        Arc::from("other")
    } else {
        Arc::from(name)
    };
    known.insert(name.clone());
    name
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Least-squares slope of y over x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if n < 2.0 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line() {
        let pts: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 3.0 * f64::from(i) + 1.0))
            .collect();
        assert!((slope(&pts).unwrap_or(0.0) - 3.0).abs() < 1e-9);
        assert_eq!(slope(&pts[..1]), None);
    }

    #[test]
    fn routes_beyond_the_cap_are_other() {
        let mut known = HashSet::new();
        for i in 0..5 {
            intern(&mut known, format!("r{i}"), 3);
        }
        assert_eq!(known.len(), 4, "three names and other");
        assert_eq!(&*intern(&mut known, "r1".into(), 3), "r1");
        assert_eq!(&*intern(&mut known, "r9".into(), 3), "other");
    }

    #[test]
    fn measurements_reach_the_window() {
        let t = global();
        let route = format!("/test/{}", std::process::id());
        for ms in 1..=100u32 {
            metrics::histogram!(HTTP_DURATION, "route" => route.clone(), "method" => "GET")
                .record(f64::from(ms) / 1_000.0);
        }
        metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => "GET", "status" => "500")
            .increment(3);
        t.tick();
        let v = t.view();
        let r = v
            .routes
            .iter()
            .find(|r| r.route == format!("GET {route}"))
            .expect("route measured");
        assert_eq!((r.requests, r.errors), (100, 3));
        assert!((r.p50_ms - 50.0).abs() < 5.0, "{r:?}");
        assert!(t.prometheus_text().contains(HTTP_DURATION));
    }
}
