//! The dashboard's view of the telemetry windows: totals and per-route
//! figures over the window and the last 5 minutes, chart series per slot,
//! job figures, cache rates, the memory trend. Built here, on the admin
//! side, from what `telemetry` records (which knows nothing of the
//! dashboard).

use std::collections::HashMap;
use std::sync::Arc;

use metrics::Key;

use super::{RouteSeries, RouteStats, Series, SlowQuery, Totals};
use crate::db::now_ms;
use crate::telemetry::names::{MAX_FDS, OPEN_FDS, RSS, THREADS};
use crate::telemetry::windows::{gauge_sum, has_labels, jobs_of, JobWindow, Windows, SLOT_SECS};
use crate::telemetry::{Histogram, Telemetry};

/// The windowed figures of the dashboard; `snapshot` adds the live
/// database ones.
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
    pub gauges: Vec<(Key, f64)>,
    pub cpu_percent: f64,
    pub memory_growth_mb_per_hour: Option<f64>,
    pub slow: Vec<SlowQuery>,
}

impl View {
    /// The whole windowed part of the dashboard.
    pub fn of(t: &Telemetry) -> View {
        let now = now_ms();
        t.read(|w| build(w, t.started_at_ms(), now))
    }

    /// Only what the public queue status needs (job figures and gauges):
    /// none of the per-route merging of `of`.
    pub fn queue(t: &Telemetry) -> View {
        let now = now_ms();
        t.read(|w| View {
            now_ms: now,
            jobs: jobs_of(w, now),
            gauges: w.gauges.clone(),
            ..View::default()
        })
    }

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

/// The dashboard's figures from the windows `w`, at `now`.
fn build(w: &Windows, started_at_ms: i64, now: i64) -> View {
    let history_from_ms = w
        .slots
        .front()
        .map_or(started_at_ms, |s| (s.start * 1_000).max(started_at_ms));
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

    let jobs = jobs_of(w, now);

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
        slow: w
            .slow
            .iter()
            .rev()
            .take(20)
            .map(|s| SlowQuery {
                at_ms: s.at_ms,
                summary: s.summary.clone(),
                ms: s.ms,
            })
            .collect(),
    }
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
    fn measurements_reach_the_window() {
        let t = crate::telemetry::global();
        let route = format!("/test/{}", std::process::id());
        for ms in 1..=100u32 {
            metrics::histogram!(crate::telemetry::HTTP_DURATION, "route" => route.clone(), "method" => "GET")
                .record(f64::from(ms) / 1_000.0);
        }
        metrics::counter!(crate::telemetry::HTTP_REQUESTS, "route" => route.clone(), "method" => "GET", "status" => "500")
            .increment(3);
        t.tick();
        let v = View::of(&t);
        let r = v
            .routes
            .iter()
            .find(|r| r.route == format!("GET {route}"))
            .expect("route measured");
        assert_eq!((r.requests, r.errors), (100, 3));
        assert!((r.p50_ms - 50.0).abs() < 5.0, "{r:?}");
        assert!(t
            .prometheus_text()
            .contains(crate::telemetry::HTTP_DURATION));
    }
}
