//! /admin: the live dashboard and the user list, admins only (403 page for
//! users, sign-in prompt for visitors). The first snapshot is rendered on
//! the server; in the browser one server-sent event a second replaces it.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{set_page_status, SignInPrompt};
use crate::admin::api::{dashboard, CancelJob, DiscardJob, PauseKind, RefreshStorage, RetryJob};
use crate::admin::{
    Alert, AlertLevel, CacheStat, JobRow, KindStats, Performance, RouteStats, Series,
};
use crate::auth::api::{list_users, SetUserRole};
use crate::auth::{Role, UserSummary};
use crate::errors::AppError;
use crate::fmt;
use crate::providers::auth::use_auth;

#[component]
pub fn AdminPage() -> impl IntoView {
    let viewer = use_auth().page_viewer();
    view! {
        <Title text="Admin" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Some(v)) if v.is_admin() => {
                        view! {
                            <Dashboard />
                            <Users me=v.id />
                        }
                            .into_any()
                    }
                    Ok(Some(_)) => view! { <Forbidden /> }.into_any(),
                    Ok(None) => view! { <SignInPrompt next="/admin" /> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Forbidden() -> impl IntoView {
    set_page_status(403);
    view! {
        <section class="card narrow" data-testid="forbidden">
            <h1>"Admins only"</h1>
            <p>"Your account cannot open this page."</p>
        </section>
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    let first = Resource::new(|| (), |_| dashboard());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the dashboard…"</p> }>
            {move || Suspend::new(async move {
                match first.await {
                    Ok(p) => view! { <Live first=p /> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The error of an action's latest run, if it failed.
fn action_error<T: Clone + Send + Sync + 'static>(
    value: impl Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
) -> impl Fn() -> Option<String> + Send + Sync + 'static {
    move || value.get().and_then(|r| r.err()).map(|e| e.to_string())
}

#[component]
fn Live(first: Performance) -> impl IntoView {
    let perf = RwSignal::new(first);
    let live = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    subscribe(perf, live);

    let retry = ServerAction::<RetryJob>::new();
    let discard = ServerAction::<DiscardJob>::new();
    let cancel = ServerAction::<CancelJob>::new();
    let pause = ServerAction::<PauseKind>::new();
    let errors = {
        let (a, b, c, d) = (
            action_error(retry.value()),
            action_error(discard.value()),
            action_error(cancel.value()),
            action_error(pause.value()),
        );
        move || a().or_else(&b).or_else(&c).or_else(&d)
    };

    let alerts = Memo::new(move |_| perf.with(|p| p.alerts.clone()));
    let routes = Memo::new(move |_| perf.with(|p| p.routes.clone()));
    let series = Memo::new(move |_| perf.with(|p| p.series.clone()));
    let kinds = Memo::new(move |_| perf.with(|p| p.queue.kinds.clone()));
    let failed = Memo::new(move |_| perf.with(|p| p.queue.failed.clone()));
    let recent = Memo::new(move |_| perf.with(|p| p.queue.recent.clone()));
    let caches = Memo::new(move |_| perf.with(|p| p.caches.clone()));

    let history = move || {
        perf.with(|p| {
            let restarted = p.window_secs + 2 * p.slot_secs < 15 * 60;
            if restarted {
                format!(
                    "History starts at {} UTC, when the server started ({} ago).",
                    fmt::clock(p.history_from_ms),
                    fmt::duration(p.now_ms - p.history_from_ms)
                )
            } else {
                "Showing the last 15 minutes.".to_string()
            }
        })
    };

    // Each section is erased to `AnyView`: one nested type for the whole
    // page is deeper than the compiler's query limit.
    let head = view! {
        <section class="card" data-testid="dashboard">
            <div class="dash-head">
                <h1>"Admin · dashboard"</h1>
                <span class="badge" class:live=move || live.get() data-testid="live">
                    {move || if live.get() { "live" } else { "connecting…" }}
                </span>
            </div>
            <p class="muted small" data-testid="history">{history}</p>
            <Show when=move || !perf.with(|p| p.instrumentation)>
                <p class="muted">"HTTP instrumentation is off (WAVEKEEP_INSTRUMENTATION=false): request figures stay at zero."</p>
            </Show>
            <p class="error" role="alert">{errors}</p>
            <Alerts alerts />
            <Tiles perf />
        </section>
    }
    .into_any();
    let charts = view! {
        <section class="card">
            <h2>"Last 15 minutes"</h2>
            <Charts series />
        </section>
    }
    .into_any();
    let routes = view! {
        <section class="card">
            <h2>"Routes by p95"</h2>
            <Routes routes />
        </section>
    }
    .into_any();
    let queue = view! {
        <section class="card" data-testid="queue">
            <h2>"Queue"</h2>
            <Kinds kinds pause />
            <h3>"Failed jobs"</h3>
            <FailedJobs failed retry discard />
            <h3>"Recent jobs"</h3>
            <RecentJobs recent cancel />
        </section>
    }
    .into_any();
    let system = view! {
        <section class="card">
            <h2>"Caches"</h2>
            <Caches caches />
        </section>
        <section class="card">
            <h2>"Process, database and disk"</h2>
            <System perf />
        </section>
    }
    .into_any();
    view! { {head} {charts} {routes} {queue} {system} }
}

/// Opens the event stream; every `performance` event replaces the snapshot.
#[cfg(feature = "hydrate")]
fn subscribe(perf: RwSignal<Performance>, live: RwSignal<bool>) {
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    let Ok(source) = web_sys::EventSource::new("/api/admin/events") else {
        return;
    };
    let on_perf =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            if let Some(p) = ev
                .data()
                .as_string()
                .and_then(|d| serde_json::from_str::<Performance>(&d).ok())
            {
                perf.set(p);
                live.set(true);
            }
        })
        .into_js_value();
    let on_error =
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| live.set(false)).into_js_value();
    let _ = source.add_event_listener_with_callback("performance", on_perf.unchecked_ref());
    source.set_onerror(Some(on_error.unchecked_ref()));
    on_cleanup(move || source.close());
}

#[component]
fn Alerts(alerts: Memo<Vec<Alert>>) -> impl IntoView {
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

#[component]
fn Tiles(perf: RwSignal<Performance>) -> impl IntoView {
    let tile = move |label: &'static str, id: &'static str, value: Signal<String>| {
        view! {
            <div class="tile">
                <span class="muted small">{label}</span>
                <strong data-testid=id>{move || value.get()}</strong>
            </div>
        }
        .into_any()
    };
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

fn ms(v: f64) -> String {
    if v >= 1_000.0 {
        format!("{:.2} s", v / 1_000.0)
    } else if v >= 10.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

#[component]
fn Charts(series: Memo<Series>) -> impl IntoView {
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

const CHART_W: f64 = 300.0;
const CHART_H: f64 = 80.0;

/// A line chart of up to five series over the slots, as SVG.
#[component]
fn Chart(
    title: &'static str,
    id: &'static str,
    lines: Signal<Vec<Vec<Option<f64>>>>,
    #[prop(optional, into)] names: Option<Signal<Vec<String>>>,
) -> impl IntoView {
    let max = Memo::new(move |_| {
        lines.with(|ls| ls.iter().flatten().flatten().fold(0.0f64, |m, v| m.max(*v)))
    });
    let paths = move || {
        let top = max.get().max(1e-9) * 1.1;
        lines.with(|ls| {
            ls.iter()
                .enumerate()
                .map(|(i, points)| {
                    let n = points.len().max(2) - 1;
                    let mut d = String::new();
                    let mut pen_up = true;
                    for (x, v) in points.iter().enumerate() {
                        match v {
                            Some(v) => {
                                let px = x as f64 / n as f64 * CHART_W;
                                let py = CHART_H - v / top * CHART_H;
                                d.push_str(&format!(
                                    "{}{px:.1},{py:.1} ",
                                    if pen_up { "M" } else { "L" }
                                ));
                                pen_up = false;
                            }
                            None => pen_up = true,
                        }
                    }
                    view! { <path d=d class=format!("line line-{i}") /> }
                })
                .collect_view()
        })
    };
    let legend = move || {
        names.map(|n| {
            n.get()
                .into_iter()
                .enumerate()
                .map(|(i, name)| view! { <li class=format!("key-{i}")>{name}</li> })
                .collect_view()
        })
    };
    let latest = move || {
        lines.with(|ls| {
            ls.first()
                .and_then(|l| l.iter().rev().flatten().next().copied())
                .map_or("—".to_string(), |v| format!("{v:.1}"))
        })
    };
    view! {
        <figure class="chart" data-testid=id>
            <figcaption>
                {title} <span class="muted small">" now " {latest} " · max " {move || format!("{:.1}", max.get())}</span>
            </figcaption>
            <svg viewBox=format!("0 0 {CHART_W} {CHART_H}") preserveAspectRatio="none" role="img" aria-label=title>
                <line x1="0" y1=CHART_H x2=CHART_W y2=CHART_H class="axis" />
                {paths}
            </svg>
            <ul class="legend">{legend}</ul>
        </figure>
    }
}

#[component]
fn Routes(routes: Memo<Vec<RouteStats>>) -> impl IntoView {
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
fn Kinds(kinds: Memo<Vec<KindStats>>, pause: ServerAction<PauseKind>) -> impl IntoView {
    view! {
        <table class="table numeric" data-testid="kinds">
            <thead>
                <tr>
                    <th>"Kind"</th><th>"Queued"</th><th>"Running"</th><th>"Dead"</th>
                    <th>"Started / min"</th><th>"Done / min"</th><th>"Failed / min"</th><th>"Retried / min"</th>
                    <th>"Wait p95"</th><th>"Run p95"</th><th>"Rate limit"</th><th></th>
                </tr>
            </thead>
            <tbody>
                {move || kinds.get().into_iter().map(|k| {
                    let kind = k.kind.clone();
                    let paused = k.paused;
                    let limit = match (k.rate_limit_per_minute, k.rate_tokens) {
                        (Some(l), Some(t)) => format!("{l}/min, {t:.0} left"),
                        (Some(l), None) => format!("{l}/min"),
                        _ => "—".into(),
                    };
                    view! {
                        <tr data-testid=format!("kind-{}", k.kind)>
                            <td>{k.kind.clone()} {paused.then(|| view! { " " <span class="badge alert high">"paused"</span> })}</td>
                            <td>{k.queued}</td>
                            <td>{k.running}</td>
                            <td>{k.dead}</td>
                            <td>{k.started_per_min}</td>
                            <td>{k.succeeded_per_min}</td>
                            <td>{k.failed_per_min}</td>
                            <td>{k.retried_per_min}</td>
                            <td>{ms(k.wait_p95_ms)}</td>
                            <td>{ms(k.run_p95_ms)}</td>
                            <td>{limit}</td>
                            <td>
                                <button class="small" data-testid=format!("pause-{}", k.kind)
                                    on:click=move |_| { pause.dispatch(PauseKind { kind: kind.clone(), paused: !paused }); }>
                                    {if paused { "Resume" } else { "Pause" }}
                                </button>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn FailedJobs(
    failed: Memo<Vec<JobRow>>,
    retry: ServerAction<RetryJob>,
    discard: ServerAction<DiscardJob>,
) -> impl IntoView {
    view! {
        <Show
            when=move || failed.with(|f| !f.is_empty())
            fallback=|| view! { <p class="muted" data-testid="no-failed">"No failed jobs."</p> }
        >
            <table class="table" data-testid="failed-jobs">
                <thead>
                    <tr><th>"Job"</th><th>"Kind"</th><th>"Target"</th><th>"Attempts"</th><th>"Error"</th><th>"Failed"</th><th></th></tr>
                </thead>
                <tbody>
                    <For each=move || failed.get() key=|j| (j.id, j.attempts, j.finished_at) let:j>
                        {
                            let id = j.id;
                            view! {
                                <tr data-testid=format!("failed-{id}")>
                                    <td>{format!("#{id}")}</td>
                                    <td>{j.kind}</td>
                                    <td>{j.subject.unwrap_or_default()}</td>
                                    <td>{format!("{}/{}", j.attempts, j.max_attempts)}</td>
                                    <td class="error-text">{j.last_error.unwrap_or_default()}</td>
                                    <td>{j.finished_at.map(|t| format!("{} {}", fmt::date(t), fmt::clock(t))).unwrap_or_default()}</td>
                                    <td class="actions">
                                        <button class="small" data-testid=format!("retry-{id}") on:click=move |_| { retry.dispatch(RetryJob { id }); }>"Retry"</button>
                                        <button class="small danger" data-testid=format!("discard-{id}") on:click=move |_| { discard.dispatch(DiscardJob { id }); }>"Discard"</button>
                                    </td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
        </Show>
    }
}

#[component]
fn RecentJobs(recent: Memo<Vec<JobRow>>, cancel: ServerAction<CancelJob>) -> impl IntoView {
    view! {
        <table class="table" data-testid="recent-jobs">
            <thead>
                <tr><th>"Job"</th><th>"Kind"</th><th>"State"</th><th>"Target"</th><th>"Attempts"</th><th>"Created"</th><th></th></tr>
            </thead>
            <tbody>
                {move || recent.get().into_iter().map(|j| {
                    let id = j.id;
                    let cancellable = j.state == "queued" || j.state == "running";
                    view! {
                        <tr data-testid=format!("job-{id}")>
                            <td>{format!("#{id}")}</td>
                            <td>{j.kind}</td>
                            <td><span class=format!("badge job-{}", j.state) data-testid=format!("job-state-{id}")>{j.state.clone()}</span></td>
                            <td>{j.subject.unwrap_or_default()}</td>
                            <td>{format!("{}/{}", j.attempts, j.max_attempts)}</td>
                            <td>{fmt::clock(j.created_at)}</td>
                            <td>{cancellable.then(|| view! {
                                <button class="small" on:click=move |_| { cancel.dispatch(CancelJob { id }); }>"Cancel"</button>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Caches(caches: Memo<Vec<CacheStat>>) -> impl IntoView {
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

#[component]
fn System(perf: RwSignal<Performance>) -> impl IntoView {
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

#[component]
fn Users(me: i64) -> impl IntoView {
    let set_role = ServerAction::<SetUserRole>::new();
    let refresh = ServerAction::<RefreshStorage>::new();
    let users = Resource::new(
        move || (set_role.version().get(), refresh.version().get()),
        |_| list_users(),
    );
    let failed = move || {
        set_role
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| refresh.value().get().and_then(|r| r.err()))
            .map(|e| e.to_string())
    };
    view! {
        <section class="card" data-testid="admin-users">
            <h2>"Users and storage"</h2>
            <p class="error" role="alert">{failed}</p>
            <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) => view! { <UserTable list me set_role refresh /> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn UserTable(
    list: Vec<UserSummary>,
    me: i64,
    set_role: ServerAction<SetUserRole>,
    refresh: ServerAction<RefreshStorage>,
) -> impl IntoView {
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th>"Email"</th>
                    <th>"Role"</th>
                    <th>"Joined"</th>
                    <th>"Storage"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|u| {
                        let (label, target) = match u.role {
                            Role::Admin => ("Make user", "User"),
                            Role::User => ("Make admin", "Admin"),
                        };
                        let id = u.id;
                        view! {
                            <tr data-testid=format!("user-{id}")>
                                <td>{u.email}</td>
                                <td>{u.role.as_str()}</td>
                                <td>{fmt::date(u.created_at)}</td>
                                <td data-testid=format!("storage-{id}")>{fmt::bytes(u.storage_used_bytes)}</td>
                                <td class="actions">
                                    <button class="small" title="Recount this user's stored bytes from their files"
                                        data-testid=format!("recount-{id}")
                                        on:click=move |_| { refresh.dispatch(RefreshStorage { user_id: id }); }>
                                        "Recompute now"
                                    </button>
                                    <Show when=move || id != me>
                                        <ActionForm action=set_role>
                                            <input type="hidden" name="user_id" value=id />
                                            <input type="hidden" name="role" value=target />
                                            <button type="submit" class="small">{label}</button>
                                        </ActionForm>
                                    </Show>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
