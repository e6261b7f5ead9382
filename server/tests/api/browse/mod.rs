//! Browsing, by room: listings (keyset pages, orders, search, caches and
//! ETags; `listings`), signed media links (ranges, previews, downloads,
//! deletes that free storage; `media_links`) and the lazy stems panel
//! (`stems`). Who may do what is `access`.

mod listening;
mod listings;
mod media_links;
mod stems;

use axum::body::Body;
use http::{header, Request, StatusCode};

use crate::helpers::{get, with_cookie, TestApp};

/// A track row without a file (listings only read rows).
pub async fn insert_track(
    app: &TestApp,
    owner: i64,
    title: &str,
    tags: &str,
    visibility: &str,
    duration_ms: Option<i64>,
    created_at: i64,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO tracks (owner_id, slug, title, tags, visibility, duration_ms, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(owner)
    .bind(format!("t-{owner}-{created_at}-{}", title.len()))
    .bind(title)
    .bind(tags)
    .bind(visibility)
    .bind(duration_ms)
    .bind(created_at)
    .fetch_one(app.state.db.pool())
    .await
    .expect("insert track")
}

/// Every page of a JSON listing, following `next`.
pub async fn all_pages(app: &TestApp, query: &str, cookie: Option<&str>) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut page: Option<String> = None;
    for _ in 0..20 {
        let mut url = format!("/api/v1/tracks?{query}");
        if let Some(p) = &page {
            url.push_str(&format!("&page={}", urlencoding::encode(p)));
        }
        let req = match cookie {
            Some(c) => with_cookie(get(&url), c),
            None => get(&url),
        };
        let res = app.send(req).await;
        assert_eq!(res.status, StatusCode::OK, "{url}: {}", res.text);
        let j = res.json();
        let items = j["items"].as_array().expect("items").clone();
        assert!(items.len() <= 50, "pages hold 50");
        out.extend(items);
        match j["next"].as_str() {
            Some(n) => page = Some(n.to_string()),
            None => return out,
        }
    }
    panic!("more than 20 pages");
}

pub fn titles(items: &[serde_json::Value]) -> Vec<String> {
    items
        .iter()
        .map(|t| t["title"].as_str().expect("title").to_string())
        .collect()
}

pub fn path_and_query(url: &str) -> (&str, &str) {
    url.split_once('?').expect("signed url has a query")
}

pub fn ranged(url: &str, range: &str) -> Request<Body> {
    Request::get(url)
        .header(header::RANGE, range)
        .body(Body::empty())
        .expect("r")
}
