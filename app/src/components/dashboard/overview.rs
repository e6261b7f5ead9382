//! The dashboard's overview: alert badges, the figure tiles and the charts.

use leptos::prelude::*;

use crate::admin::{Alert, AlertLevel, Performance, Series};
use crate::components::chart::Chart;
use crate::fmt;

#[component]
pub fn Alerts(alerts: Memo<Vec<Alert>>) -> impl IntoView {
    view! {
        <div class="alerts" data-testid="alerts">
            {move || {
                let list = alerts.get();
                if list.is_empty() {
                    view! { <span class="badge ok" data-testid="no-alerts">"No alerts"</span> }.into_any()
                } else {
                    list.into_iter()
                        .map(|a| {
                            let class = match a.level {
                                AlertLevel::Critical => "badge alert critical",
                                AlertLevel::High => "badge alert high",
                            };
                            view! {
                                <span class=class data-testid=format!("alert-{}", a.key) title=format!("threshold {}", a.threshold)>
                                    {a.message}
                                </span>
                            }
                        })
                        .collect_view()
                        .into_any()
                }
            }}
        </div>
    }
}

/// One figure with its label.
pub fn tile(label: &'static str, id: &'static str, value: Signal<String>) -> AnyView {
    view! {
        <div class="tile">
            <span class="muted small">{label}</span>
            <strong data-testid=id>{move || value.get()}</strong>
        </div>
    }
    .into_any()
}

#[component]
pub fn Tiles(perf: RwSignal<Performance>) -> impl IntoView {
    let s = |f: fn(&Performance) -> String| Signal::derive(move || perf.with(f));
    view! {
        <div class="tiles">
            {tile("Requests (window)", "kpi-requests", s(|p| p.totals.requests.to_string()))}
            {tile("Requests / s", "kpi-rps", s(|p| format!("{:.1}", p.totals.requests_per_sec)))}
            {tile("Error rate", "kpi-errors", s(|p| format!("{:.1} %", p.totals.error_rate * 100.0)))}
            {tile("p50 / p95 / p99", "kpi-latency", s(|p| format!("{} / {} / {}", ms(p.totals.p50_ms), ms(p.totals.p95_ms), ms(p.totals.p99_ms))))}
            {tile("Queue length", "kpi-queue", s(|p| p.queue.queued.to_string()))}
            {tile("Running jobs", "kpi-running", s(|p| p.queue.running.to_string()))}
            {tile("Memory (RSS)", "kpi-rss", s(|p| fmt::bytes(p.process.rss_bytes as i64)))}
            {tile("CPU", "kpi-cpu", s(|p| format!("{:.0} %", p.process.cpu_percent)))}
            {tile("Active users (5 min)", "kpi-users", s(|p| p.active_users.to_string()))}
            {tile("Disk free", "kpi-disk", s(|p| p.disk.free_bytes.map_or("—".into(), |b| fmt::bytes(b as i64))))}
        </div>
    }
}

pub fn ms(v: f64) -> String {
    if v >= 1_000.0 {
        format!("{:.2} s", v / 1_000.0)
    } else if v >= 10.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

#[component]
pub fn Charts(series: Memo<Series>) -> impl IntoView {
    let lines = move |f: fn(&Series) -> Vec<Option<f64>>| {
        Signal::derive(move || series.with(|s| vec![f(s)]))
    };
    let route_lines = Signal::derive(move || {
        series.with(|s| {
            s.route_p95_ms
                .iter()
                .map(|r| r.p95_ms.clone())
                .collect::<Vec<_>>()
        })
    });
    let route_names = Signal::derive(move || {
        series.with(|s| {
            s.route_p95_ms
                .iter()
                .map(|r| r.route.clone())
                .collect::<Vec<_>>()
        })
    });
    view! {
        <div class="charts">
            <Chart title="p95 latency per route (ms)" id="chart-latency" lines=route_lines names=route_names />
            <Chart title="Requests / s" id="chart-throughput" lines=lines(|s| some(&s.requests_per_sec)) />
            <Chart title="Error rate (%)" id="chart-errors" lines=lines(|s| s.error_rate.iter().map(|x| Some(x * 100.0)).collect()) />
            <Chart title="Queue length" id="chart-queue" lines=lines(|s| some(&s.queue_depth)) />
            <Chart title="Cache hit rate (%)" id="chart-cache" lines=lines(|s| s.cache_hit_rate.iter().map(|x| x.map(|v| v * 100.0)).collect()) />
            <Chart title="Memory, RSS (MiB)" id="chart-rss" lines=lines(|s| some(&s.rss_mb)) />
        </div>
    }
}

fn some(v: &[f64]) -> Vec<Option<f64>> {
    v.iter().map(|x| Some(*x)).collect()
}
