//! The dashboard's system panels: routes ranked by p95, caches, and the
//! process, pool and disk figures.

use leptos::prelude::*;

use super::overview::ms;
use crate::admin::{CacheStat, Performance, RouteStats};
use crate::fmt;

#[component]
pub fn Routes(routes: Memo<Vec<RouteStats>>) -> impl IntoView {
    view! {
        <table class="table numeric" data-testid="routes">
            <thead>
                <tr>
                    <th>"Route"</th><th>"Requests"</th><th>"/ s"</th><th>"Errors"</th>
                    <th>"p50"</th><th>"p95"</th><th>"p99"</th>
                </tr>
            </thead>
            <tbody>
                {move || routes.get().into_iter().map(|r| view! {
                    <tr>
                        <td><code>{r.route}</code></td>
                        <td>{r.requests}</td>
                        <td>{format!("{:.2}", r.requests_per_sec)}</td>
                        <td>{format!("{} ({:.1} %)", r.errors, r.error_rate * 100.0)}</td>
                        <td>{ms(r.p50_ms)}</td>
                        <td>{ms(r.p95_ms)}</td>
                        <td>{ms(r.p99_ms)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn Caches(caches: Memo<Vec<CacheStat>>) -> impl IntoView {
    view! {
        <table class="table numeric" data-testid="caches">
            <thead>
                <tr><th>"Cache"</th><th>"Entries"</th><th>"Hits"</th><th>"Misses"</th><th>"Hit rate (15 min)"</th><th>"Evictions"</th></tr>
            </thead>
            <tbody>
                {move || caches.get().into_iter().map(|c| view! {
                    <tr>
                        <td>{c.name}</td>
                        <td>{c.entries}</td>
                        <td>{c.hits}</td>
                        <td>{c.misses}</td>
                        <td>{c.hit_rate.map_or("—".into(), |r| format!("{:.1} %", r * 100.0))}</td>
                        <td>{c.evictions}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Every wavekeep process on this database, the one that answered marked.
#[component]
fn Instances(perf: Performance) -> impl IntoView {
    if perf.instances.is_empty() {
        return view! { <p class="muted">"No heartbeat yet."</p> }.into_any();
    }
    let now = perf.now_ms;
    view! {
        <table class="table numeric" data-testid="instances">
            <thead>
                <tr><th>"Instance"</th><th>"Version"</th><th>"Host"</th><th>"Uptime"</th><th>"Running jobs"</th><th>"Last seen"</th></tr>
            </thead>
            <tbody>
                {perf.instances.into_iter().map(|i| {
                    let this = i.id == perf.answered_by;
                    view! {
                        <tr class:current=this>
                            <td>
                                <code>{i.id}</code>
                                {this.then(|| view! { " " <span class="badge">"answered this page"</span> })}
                            </td>
                            <td>{i.version}</td>
                            <td>{format!("{} ({})", i.host, i.addr)}</td>
                            <td>{fmt::duration((now - i.started_at_ms).max(0))}</td>
                            <td>{i.running_jobs}</td>
                            <td>{format!("{} s ago", (now - i.seen_at_ms).max(0) / 1_000)}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
pub fn System(perf: RwSignal<Performance>) -> impl IntoView {
    view! {
        <div class="system">
            {move || perf.with(|p| {
                let pr = &p.process;
                let pool = &p.pool;
                let disk = &p.disk;
                let growth = pr.memory_growth_mb_per_hour.map_or("— (needs 5 minutes)".into(), |g| format!("{g:+.1} MB/h"));
                let opt = |b: Option<u64>| b.map_or("—".to_string(), |b| fmt::bytes(b as i64));
                view! {
                    <dl class="facts">
                        <dt>"Uptime"</dt><dd>{fmt::duration(pr.uptime_secs as i64 * 1_000)}</dd>
                        <dt>"RSS"</dt><dd>{fmt::bytes(pr.rss_bytes as i64)} " (" {growth} ")"</dd>
                        <dt>"CPU"</dt><dd>{format!("{:.1} %", pr.cpu_percent)}</dd>
                        <dt>"Open files"</dt><dd>{format!("{} of {}", pr.open_fds, pr.max_fds)}</dd>
                        <dt>"Threads"</dt><dd>{pr.threads}</dd>
                        <dt>"Database"</dt><dd data-testid="pool">{format!("{}: {} in use, {} idle, {} open of {} ({:.0} %)", pool.backend, pool.in_use, pool.idle, pool.size, pool.max, pool.use_ratio * 100.0)}</dd>
                        <dt>"Pool wait"</dt><dd>{format!("p50 {} · p95 {}", ms(pool.acquire_p50_ms), ms(pool.acquire_p95_ms))}</dd>
                        <dt>"Data directory"</dt><dd>{opt(disk.data_dir_bytes)}</dd>
                        <dt>"Disk"</dt><dd>{format!("{} free of {}", opt(disk.free_bytes), opt(disk.total_bytes))}</dd>
                    </dl>
                    <h3>"Instances"</h3>
                    <Instances perf=p.clone()/>
                    <h3>"Slow statements (over 100 ms)"</h3>
                    {if p.slow_queries.is_empty() {
                        view! { <p class="muted">"None since the start."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="slow">
                                {p.slow_queries.iter().map(|q| view! {
                                    <li><code>{q.summary.clone()}</code> " " {ms(q.ms)} " at " {fmt::clock(q.at_ms)}</li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                }
            })}
        </div>
    }
}
