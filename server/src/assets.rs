//! The site (wasm, js, css and public/) embedded in the binary, served with
//! a content ETag so browsers revalidate cheaply.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../target/site"]
struct Site;

/// The embedded file at `path`, if any, as a response (304 when unchanged).
pub fn response(method: &Method, path: &str, headers: &HeaderMap) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let name = path.trim_start_matches('/');
    if name.is_empty() || name.ends_with('/') {
        return None;
    }
    let file = Site::get(name)?;
    let etag = format!("\"{}\"", hex_prefix(&file.metadata.sha256_hash()));
    let etag = HeaderValue::from_str(&etag).ok()?;
    let fresh = headers.get(IF_NONE_MATCH).is_some_and(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii() == etag.as_bytes())
    });
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(file.data))
    };
    let h = res.headers_mut();
    h.insert(ETAG, etag);
    h.insert(CACHE_CONTROL, HeaderValue::from_static("public, no-cache"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        h.insert(CONTENT_TYPE, v);
    }
    Some(res)
}

fn hex_prefix(hash: &[u8]) -> String {
    hash.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Which wasm chunks each lazily loaded page needs, from the manifest that
/// `cargo leptos build --split` writes beside them; `None` for a site built
/// without splitting. Given to every render, it makes the HTML preload the
/// chunks of the page it shows (Leptos would otherwise look for the manifest
/// on disk, where an embedded site has none).
pub fn split_manifest() -> Option<leptos::WasmSplitManifest> {
    let file = Site::get("pkg/__wasm_split_manifest.json")?;
    let chunks: std::collections::HashMap<String, Vec<String>> = match serde_json::from_slice(
        &file.data,
    ) {
        Ok(chunks) => chunks,
        Err(e) => {
            tracing::warn!(error = %e, "the embedded wasm split manifest is unreadable; no preloads");
            return None;
        }
    };
    Some(leptos::WasmSplitManifest(
        leptos::prelude::ArcStoredValue::new((
            "/pkg".to_string(),
            chunks,
            "__wasm_split.______________________.js".to_string(),
        )),
    ))
}

/// Names of the embedded files (for start-up logging and tests).
pub fn names() -> impl Iterator<Item = String> {
    Site::iter().map(|n| n.into_owned())
}
