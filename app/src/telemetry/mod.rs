//! Process-wide telemetry. Code measures with the `metrics` macros
//! (`counter!`, `gauge!`, `histogram!`); one recorder (`recorder`) fans every
//! measurement out to the Prometheus exporter (`/metrics`) and to a registry
//! read once a second into rolling windows (`windows`): 180 slots of 5 s (15
//! minutes), each holding per-route latency histograms and the gauges of its
//! last second. The windows have a fixed number of slots and of routes, so
//! memory does not grow with uptime. The metric names are in `names`; the
//! dashboard's view of the windows is built in `admin::view`.

pub mod hist;
pub mod names;
mod recorder;
pub mod windows;

pub use hist::Histogram;
pub use names::*;
pub use recorder::{global, Telemetry};

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::windows::intern;

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
}
