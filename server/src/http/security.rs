//! Security headers: the pages' Content-Security-Policy (scripts only from
//! our origin or with the render's nonce, wasm allowed, nothing else inline),
//! the sandbox every media answer carries, the default for everything else,
//! and HSTS when the site is reached over https.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{CONTENT_SECURITY_POLICY, STRICT_TRANSPORT_SECURITY};
use http::HeaderValue;
use leptos::prelude::use_context;

use app::state::AppState;

/// Media answers: whatever the bytes are, a browser runs nothing of them.
pub const MEDIA_CSP: &str = "sandbox; default-src 'none'";

/// Answers that are not pages (JSON, files of the site, errors).
pub const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The policy of a page rendered with `nonce`: the hydration script carries
/// the nonce; the app's modules, wasm chunks, styles, images and audio come
/// from our origin only.
pub fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Called in every page render's context: sets the page policy with the
/// nonce Leptos puts on its inline scripts.
pub fn page_policy() {
    let (Some(nonce), Some(res)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&page_csp(&nonce)) {
        res.insert_header(CONTENT_SECURITY_POLICY, v);
    }
}

/// `Strict-Transport-Security` on answers to requests that came over https:
/// all of them when the public URL is https, those a trusted proxy marks as
/// https otherwise, none for a plain-http install.
pub fn with_hsts<S>(app: axum::Router<S>, state: &AppState) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    if state.settings.secure_cookies() {
        app.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ))
    } else if state.settings.trust_proxy {
        app.layer(axum::middleware::from_fn_with_state(state.clone(), hsts))
    } else {
        app
    }
}

async fn hsts(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let https = app::auth::session::is_https(req.headers(), &state.settings);
    let mut res = next.run(req).await;
    if https {
        res.headers_mut()
            .insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    res
}
