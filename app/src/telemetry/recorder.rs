//! The recorder: every measurement fans out to the Prometheus exporter
//! (`/metrics`) and to a registry that a sampling thread reads once a second
//! into the rolling windows (`windows`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram as MetricHistogram, Key, KeyName, Metadata};
use metrics::{Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::layers::FanoutBuilder;
use metrics_util::registry::{AtomicStorage, Registry};

use super::names::*;
use super::windows::{gauge_sum, intern, label, route_name, Slot, SlowStatement, Windows};
use super::windows::{MAX_ROUTES, MAX_SLOW, SLOTS, SLOT_SECS};
use super::Histogram;
use crate::db::now_ms;

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
        super::names::describe();
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
        w.slow.push_back(SlowStatement {
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

    /// Reads the windows (the dashboard's view is built from them in
    /// `admin::view`).
    pub fn read<T>(&self, f: impl FnOnce(&Windows) -> T) -> T {
        f(&self.lock())
    }
}
