//! The waveform: the stored overview peaks drawn as one SVG path, coloured
//! up to the play position.

use leptos::prelude::*;

/// Min/max pairs drawn as one SVG path, twice: the played part on top,
/// clipped to the play position.
#[component]
pub fn Waveform(
    data: Vec<i8>,
    progress: impl Fn() -> f64 + Send + Sync + 'static,
    /// Moments marked on it (fractions of the length): where searched
    /// words are said.
    marks: impl Fn() -> Vec<f64> + Send + Sync + 'static,
) -> impl IntoView {
    let width = (data.len() / 2).max(1);
    let d = wave_path(&data);
    // One path; the played part is coloured by a gradient with a hard stop
    // at the play position (userSpaceOnUse: the lines have no width of their
    // own), so the page carries the path once.
    let at = Memo::new(move |_| format!("{:.4}", progress().clamp(0.0, 1.0)));
    let marked = Memo::new(move |_| {
        let m = marks();
        (m.len(), marks_path(&m, width))
    });
    view! {
        <svg viewBox=format!("0 0 {width} 1000") preserveAspectRatio="none" class="wave-svg" aria-hidden="true">
            <defs>
                <linearGradient id="wave-progress" gradientUnits="userSpaceOnUse" x1="0" y1="0" x2=width y2="0">
                    <stop offset="0" class="wave-played-stop" />
                    <stop offset=move || at.get() class="wave-played-stop" />
                    <stop offset=move || at.get() class="wave-rest-stop" />
                    <stop offset="1" class="wave-rest-stop" />
                </linearGradient>
            </defs>
            <path d=d class="wave-line" stroke="url(#wave-progress)" />
            // One path for every mark (a changing attribute, not changing
            // children: the SVG hydrates as the server drew it).
            <path
                class="wave-mark"
                data-testid="wave-marks"
                data-count=move || marked.with(|(n, _)| *n)
                d=move || marked.with(|(_, d)| d.clone())
            />
        </svg>
    }
}

/// A vertical line across the box at each mark (fractions of `width`).
fn marks_path(marks: &[f64], width: usize) -> String {
    use std::fmt::Write;
    let mut d = String::new();
    for m in marks {
        let _ = write!(d, "M{:.1} 0V1000", m.clamp(0.0, 1.0) * width as f64);
    }
    d
}

/// The SVG path of the overview: one vertical line per min/max pair, in a
/// 1,000-unit-high box (integer coordinates, so the page stays small and
/// cheap to render), at least 8 units tall so silence still shows.
fn wave_path(data: &[i8]) -> String {
    use std::fmt::Write;
    let mut d = String::with_capacity(data.len() * 7);
    for (i, pair) in data.chunks_exact(2).enumerate() {
        let (lo, hi) = (
            i32::from(pair[0].min(pair[1])),
            i32::from(pair[0].max(pair[1])),
        );
        let top = 500 - hi * 500 / 128;
        let bottom = (500 - lo * 500 / 128).max(top + 8);
        let _ = write!(d, "M{i} {top}V{bottom}");
    }
    d
}

#[cfg(test)]
mod tests {
    #[test]
    fn wave_path_draws_one_line_per_pair() {
        // Full scale, silence (kept 8 units tall) and a quiet pair.
        let d = super::wave_path(&[-128, 127, 0, 0, 10, -10]);
        assert_eq!(d, "M0 4V1000M1 500V508M2 461V539");
        assert_eq!(super::wave_path(&[]), "");
    }

    #[test]
    fn marks_are_lines_across_the_box() {
        assert_eq!(
            super::marks_path(&[0.5, 2.0], 200),
            "M100.0 0V1000M200.0 0V1000"
        );
        assert_eq!(super::marks_path(&[], 200), "");
    }
}
