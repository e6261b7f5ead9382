//! Server folders imported from /admin: a form to start one (a folder
//! inside `WAVEKEEP_IMPORT_ROOT`, for an account) and each import's
//! progress, live with the dashboard's snapshots.

use leptos::prelude::*;

use crate::admin::ImportRow;
use crate::components::error_note::ErrorNote;
use crate::fmt;

#[component]
pub fn Imports(imports: Memo<Vec<ImportRow>>) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let started = RwSignal::new(None::<i64>);
    let dir = NodeRef::<leptos::html::Input>::new();
    let email = NodeRef::<leptos::html::Input>::new();
    let visibility = NodeRef::<leptos::html::Select>::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        {
            let value = |n: Option<String>| n.unwrap_or_default();
            let body = serde_json::json!({
                "dir": value(dir.get_untracked().map(|i| i.value())),
                "email": value(email.get_untracked().map(|i| i.value())),
                "visibility": value(visibility.get_untracked().map(|s| s.value())),
            });
            error.set(None);
            leptos::task::spawn_local(async move {
                match start(body.to_string()).await {
                    Ok(id) => started.set(Some(id)),
                    Err(e) => error.set(Some(e)),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (dir, email, visibility);
    };
    view! {
        <form class="form inline" on:submit=submit data-testid="import-form">
            <label>"Folder (under the import root) " <input node_ref=dir name="dir" required maxlength="4096" data-testid="import-dir" /></label>
            <label>"For the account " <input node_ref=email name="email" type="email" required maxlength="320" data-testid="import-email" /></label>
            <label>
                "Visibility "
                <select node_ref=visibility name="visibility">
                    <option value="private">"Private"</option>
                    <option value="unlisted">"Unlisted"</option>
                    <option value="public">"Public"</option>
                </select>
            </label>
            <button type="submit" data-testid="import-start">"Import"</button>
        </form>
        {move || error.get().map(|e| view! { <ErrorNote error=e /> })}
        {move || started.get().map(|id| view! { <p class="ok">{format!("Import {id} started.")}</p> })}
        {move || {
            let rows = imports.get();
            if rows.is_empty() {
                return view! { <p class="muted">"No folder imported yet."</p> }.into_any();
            }
            view! {
                <table class="table numeric" data-testid="imports">
                    <thead>
                        <tr><th>"Folder"</th><th>"Account"</th><th>"Status"</th><th>"Progress"</th><th>"Imported"</th><th>"Already there"</th><th>"Failed"</th><th>"Started"</th></tr>
                    </thead>
                    <tbody>
                        {rows.into_iter().map(|i| {
                            let (done, total) = (i.done, i.total.unwrap_or(0));
                            let percent = if total > 0 { done * 100 / total } else { 0 };
                            let errors = i.errors.clone();
                            view! {
                                <tr data-testid="import-row" data-status=i.status.clone()>
                                    <td><code>{i.dir.clone()}</code></td>
                                    <td>{i.email.clone()}</td>
                                    <td>{i.status.clone()} {i.message.clone().map(|m| view! { <br /> <span class="muted small">{m}</span> })}</td>
                                    <td>
                                        <progress max=total.max(1) value=done aria-label=format!("{done} of {total} files")></progress>
                                        " " {format!("{done} / {total} ({percent} %)")}
                                    </td>
                                    <td data-testid="import-imported">{i.imported}</td>
                                    <td>{i.skipped}</td>
                                    <td data-testid="import-failed">
                                        {i.failed}
                                        {(!errors.is_empty()).then(|| view! {
                                            <details>
                                                <summary>"Why"</summary>
                                                <ul class="small">
                                                    {errors.into_iter().map(|(f, why)| view! { <li><code>{f}</code> ": " {why}</li> }).collect_view()}
                                                </ul>
                                            </details>
                                        })}
                                    </td>
                                    <td>{fmt::clock(i.started_at)} " UTC"</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
}

/// POSTs an import; its id, or the server's reason.
#[cfg(feature = "hydrate")]
async fn start(body: String) -> Result<i64, String> {
    use crate::components::fetch::{json_field, send};
    let body = wasm_bindgen::JsValue::from_str(&body);
    let text = send("POST", "/api/admin/import", &body, Some("application/json")).await?;
    json_field(&text, "id")
        .and_then(|v| v.as_f64())
        .map(|v| v as i64)
        .ok_or_else(|| "the server's answer has no import id".to_string())
}
