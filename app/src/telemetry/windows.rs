//! The rolling windows the dashboard reads: 180 slots of 5 s, each with
//! per-route latency histograms and error counts, per-kind job figures, cache
//! hits and misses, pool waits and a few gauges; and the helpers that file a
//! measurement under its route or kind (never more than a fixed number).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use metrics::Key;

use super::Histogram;

/// Seconds per slot of the rolling windows.
pub const SLOT_SECS: i64 = 5;
/// Slots kept: 15 minutes.
pub const SLOTS: usize = 180;
/// Distinct routes tracked; later ones are counted as "other".
pub const MAX_ROUTES: usize = 64;
/// Slow statements kept for the dashboard.
pub const MAX_SLOW: usize = 50;

#[derive(Default)]
pub struct RouteSlot {
    pub latency: Histogram,
    pub errors: u64,
}

#[derive(Default)]
pub struct JobSlot {
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub retried: u64,
    pub wait: Histogram,
    pub run: Histogram,
}

#[derive(Default)]
pub struct Slot {
    /// Unix seconds, a multiple of `SLOT_SECS`.
    pub start: i64,
    pub routes: HashMap<Arc<str>, RouteSlot>,
    pub jobs: HashMap<Arc<str>, JobSlot>,
    /// Per cache: hits and misses in the slot.
    pub caches: HashMap<Arc<str>, (u64, u64)>,
    pub acquire: Histogram,
    pub rss: f64,
    pub queue_depth: f64,
}

pub struct Windows {
    pub slots: VecDeque<Slot>,
    /// Counter values at the previous tick, to turn totals into deltas.
    pub last: HashMap<Key, u64>,
    pub routes: HashSet<Arc<str>>,
    pub kinds: HashSet<Arc<str>>,
    /// Latest gauge values.
    pub gauges: Vec<(Key, f64)>,
    pub cpu: Option<(Instant, f64)>,
    pub cpu_percent: f64,
    pub slow: VecDeque<SlowStatement>,
}

/// A statement slower than the threshold, as recorded.
#[derive(Debug, Clone)]
pub struct SlowStatement {
    pub at_ms: i64,
    /// The statement's first words (its name).
    pub summary: String,
    pub ms: f64,
}

/// Per job kind: the last minute's counts, the window's latencies.
pub fn jobs_of(w: &Windows, now_ms: i64) -> HashMap<String, JobWindow> {
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

pub fn label<'a>(key: &'a Key, name: &str) -> &'a str {
    key.labels()
        .find(|l| l.key() == name)
        .map_or("", |l| l.value())
}

pub fn has_labels(key: &Key, labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(n, v)| label(key, n) == *v)
}

pub fn gauge_sum(gauges: &[(Key, f64)], name: &str, labels: &[(&str, &str)]) -> f64 {
    gauges
        .iter()
        .filter(|(k, _)| k.name() == name && has_labels(k, labels))
        .map(|(_, v)| *v)
        .sum()
}

pub fn route_name(key: &Key) -> String {
    format!("{} {}", label(key, "method"), label(key, "route"))
}

/// The shared name for `name`, or "other" once `cap` names are known.
pub fn intern(known: &mut HashSet<Arc<str>>, name: String, cap: usize) -> Arc<str> {
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
