//! Plain HTTP from the browser, for the few forms that send what a server
//! function does not (an image as the body, the admin's JSON to an API
//! route): `fetch`, with the server's `{"error": "…"}` as the reason when
//! it refuses.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Sends `body` with `method` to `url`; the answer's text on success, else
/// the reason to show.
pub async fn send(
    method: &str,
    url: &str,
    body: &JsValue,
    content_type: Option<&str>,
) -> Result<String, String> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_body(body);
    if let Some(ct) = content_type {
        let headers = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&headers, &"content-type".into(), &ct.into());
        init.set_headers(&headers);
    }
    let unreachable = || "could not reach the server".to_string();
    let res: web_sys::Response =
        JsFuture::from(leptos::prelude::window().fetch_with_str_and_init(url, &init))
            .await
            .map_err(|_| unreachable())?
            .dyn_into()
            .map_err(|_| unreachable())?;
    let status = res.status();
    let text = match res.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    if res.ok() {
        return Ok(text);
    }
    Err(json_field(&text, "error")
        .and_then(|v| v.as_string())
        .unwrap_or_else(|| format!("the server answered {status}")))
}

/// Field `key` of the JSON object in `text`.
pub fn json_field(text: &str, key: &str) -> Option<JsValue> {
    let v = js_sys::JSON::parse(text).ok()?;
    js_sys::Reflect::get(&v, &key.into())
        .ok()
        .filter(|v| !v.is_undefined())
}
