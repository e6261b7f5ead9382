//! The account page: who you are, your transcription default and minutes,
//! and your API keys (create, list, revoke).

use leptos::prelude::*;
use leptos_meta::Title;

use super::SignInPrompt;
use crate::auth::api::{list_api_keys, my_storage, CreateApiKey, RevokeApiKey};
use crate::auth::{ApiKeyInfo, Viewer};
use crate::components::error_note::ErrorNote;
use crate::fmt;
use crate::providers::auth::use_auth;
use crate::transcripts::api::{get_transcription_account, SetTranscribeUploads};

#[component]
pub fn AccountPage() -> impl IntoView {
    let viewer = use_auth().page_viewer();
    view! {
        <Title text="Account" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Some(v)) => view! { <AccountDetails v /> }.into_any(),
                    Ok(None) => view! { <SignInPrompt next="/account" /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AccountDetails(v: Viewer) -> impl IntoView {
    let storage = crate::codec::resource(|| (), |_| my_storage());
    view! {
        <section class="card">
            <h1>"Account"</h1>
            <dl class="facts">
                <dt>"Email"</dt>
                <dd data-testid="account-email">{v.email.clone()}</dd>
                <dt>"Role"</dt>
                <dd>{v.role.as_str()}</dd>
                <dt>"Storage"</dt>
                <dd data-testid="account-storage">
                    <Suspense fallback=|| "…">
                        {move || Suspend::new(async move {
                            match storage.await {
                                Ok(s) => {
                                    let pct = if s.quota_bytes > 0 {
                                        (s.used_bytes as f64 / s.quota_bytes as f64 * 100.0).min(100.0)
                                    } else {
                                        100.0
                                    };
                                    view! {
                                        {format!("{} of {} used ({pct:.0} %)", fmt::bytes(s.used_bytes), fmt::bytes(s.quota_bytes))}
                                        <progress max="100" value=format!("{pct:.1}") class="quota"></progress>
                                    }.into_any()
                                }
                                Err(e) => view! { <span class="error">{e.to_string()}</span> }.into_any(),
                            }
                        })}
                    </Suspense>
                </dd>
            </dl>
        </section>
        <Transcription />
        <ApiKeys />
    }
}

/// "Transcribe my uploads" and this month's minutes (of the allowance).
#[component]
fn Transcription() -> impl IntoView {
    let set = ServerAction::<SetTranscribeUploads>::new();
    let account =
        crate::codec::resource(move || set.version().get(), |_| get_transcription_account());
    view! {
        <section class="card" data-testid="transcription">
            <h2>"Transcription"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match account.await {
                        Ok(a) if !a.enabled => view! {
                            <p class="muted" data-testid="transcription-off">"Transcription is not set up on this server."</p>
                        }.into_any(),
                        Ok(a) => {
                            let used = format!("{:.1}", a.minutes_this_month);
                            let usage = match a.minutes_per_month {
                                Some(cap) => format!("{used} of {cap} minutes transcribed this month"),
                                None => format!("{used} minutes transcribed this month"),
                            };
                            let on = a.transcribe_uploads;
                            view! {
                                <label class="toggle">
                                    <input
                                        type="checkbox"
                                        data-testid="transcribe-uploads"
                                        prop:checked=on
                                        disabled=move || set.pending().get()
                                        on:change=move |ev| {
                                            set.dispatch(SetTranscribeUploads { on: event_target_checked(&ev) });
                                        }
                                    />
                                    " Transcribe my uploads"
                                </label>
                                <p class="muted small">
                                    "New uploads get a searchable transcript. An upload can also say "
                                    <code>"transcribe=1"</code> " or " <code>"transcribe=0"</code> "."
                                </p>
                                <p data-testid="transcription-usage">{usage}</p>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                    }
                })}
            </Transition>
            {move || set.value().get().and_then(Result::err).map(|e| view! { <ErrorNote error=e.to_string() /> })}
        </section>
    }
}

#[component]
fn ApiKeys() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = crate::codec::resource(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    let created = move || {
        create.value().get().map(|r| match r {
            Ok(k) => view! {
                <div class="new-key" data-testid="new-key">
                    <p>"Copy this key now: it is shown only once."</p>
                    <code data-testid="new-key-secret">{k.secret}</code>
                </div>
            }
            .into_any(),
            Err(e) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
        })
    };
    view! {
        <section class="card">
            <h2>"API keys"</h2>
            <p class="muted">
                "Machine clients send a key as " <code>"Authorization: Bearer <key>"</code> "."
            </p>
            <ActionForm action=create attr:class="form inline">
                <input
                    name="name"
                    placeholder="Key name, e.g. scanner-01"
                    required
                    maxlength="64"
                    data-testid="key-name"
                />
                <button type="submit" data-testid="create-key">"Create key"</button>
            </ActionForm>
            {created}
            <Transition fallback=|| view! { <p class="muted">"Loading keys…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(list) if list.is_empty() => {
                            view! { <p class="muted" data-testid="no-keys">"No keys yet."</p> }.into_any()
                        }
                        Ok(list) => view! { <KeyTable list revoke /> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn KeyTable(list: Vec<ApiKeyInfo>, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    view! {
        <table class="table" data-testid="key-table">
            <thead>
                <tr>
                    <th>"Name"</th>
                    <th>"Key"</th>
                    <th>"Created"</th>
                    <th>"Last used"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|k| {
                        view! {
                            <tr>
                                <td>{k.name}</td>
                                <td>
                                    <code>{format!("{}…", k.prefix)}</code>
                                </td>
                                <td>{fmt::date(k.created_at)}</td>
                                <td>{k.last_used_at.map(fmt::date).unwrap_or_else(|| "never".into())}</td>
                                <td>
                                    <ActionForm action=revoke>
                                        <input type="hidden" name="id" value=k.id />
                                        <button type="submit" class="danger small">"Revoke"</button>
                                    </ActionForm>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
