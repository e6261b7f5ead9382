//! A line chart of up to five series over the dashboard's slots, as SVG.

use leptos::prelude::*;

const CHART_W: f64 = 300.0;
const CHART_H: f64 = 80.0;

/// A line chart of up to five series over the slots, as SVG.
#[component]
pub fn Chart(
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
