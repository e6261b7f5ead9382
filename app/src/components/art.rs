//! Artwork as lists and the track page show it: WebP thumbnails by
//! `srcset` (the browser picks the width it needs), lazy below the fold,
//! with width and height set so nothing moves when they arrive; a track
//! without art gets a tile of its title's initials in a colour of its own,
//! never a broken image. Plain functions, not components: the lists are in
//! the first wasm module, where every byte counts.

use leptos::prelude::*;

use crate::tracks::{art_src, art_srcset};

/// Up to two initials of `title`'s words (ASCII letters made upper case;
/// no Unicode case tables in the first wasm module for this).
fn initials(title: &str) -> String {
    title
        .split(' ')
        .filter_map(|w| {
            w.chars()
                .find(|c| !c.is_ascii_punctuation() && !c.is_ascii_whitespace())
        })
        .take(2)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// One of 12 hues (`.art.h0` … `.art.h11` in the stylesheet: the page's
/// policy allows no inline style) that stays the same for a title.
fn hue(title: &str) -> u32 {
    title.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    }) % 12
}

/// The art of a list row: 40 CSS pixels square (the list loads the 64 px
/// thumbnail, or the 256 px one on dense screens). Kept small: it is in
/// the first wasm module.
pub fn art_thumb(token: Option<&str>, title: &str) -> AnyView {
    match token {
        Some(token) => view! {
            <img
                class="art"
                src=art_src(token, 64)
                srcset=art_srcset(token)
                sizes="40px"
                width="40"
                height="40"
                loading="lazy"
                decoding="async"
                alt=""
                data-testid="art"
            />
        }
        .into_any(),
        None => view! {
            <span class=placeholder_class("art", title) aria-hidden="true" data-testid="art-placeholder">
                {placeholder_text(title)}
            </span>
        }
        .into_any(),
    }
}

/// The art on a track page.
pub fn art_large(token: Option<&str>, title: &str) -> AnyView {
    match token {
        Some(token) => view! {
            <img
                class="art large"
                src=art_src(token, 256)
                srcset=art_srcset(token)
                sizes="(max-width: 600px) 40vw, 256px"
                width="256"
                height="256"
                alt=format!("Artwork of {title}")
                data-testid="art"
            />
        }
        .into_any(),
        None => view! {
            <span
                class=placeholder_class("art large", title)
                role="img"
                aria-label=format!("No artwork for {title}")
                data-testid="art-placeholder"
            >
                {placeholder_text(title)}
            </span>
        }
        .into_any(),
    }
}

fn placeholder_class(base: &str, title: &str) -> String {
    format!("{base} placeholder h{}", hue(title))
}

fn placeholder_text(title: &str) -> String {
    let i = initials(title);
    if i.is_empty() {
        "♪".into()
    } else {
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(initials("the quick fox"), "TQ");
        assert_eq!(initials("  ümlaut x"), "üX");
        assert_eq!(initials("--- ***"), "");
        assert_eq!(hue("a"), hue("a"));
        assert!(hue("some title") < 12);
    }
}
