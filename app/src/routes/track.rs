//! /tracks/:id — a track's player (waveform from the stored peaks, play /
//! pause, seek by clicking the waveform, keyboard shortcuts), its versions,
//! metadata and processing (followed live while a job works), the owner's
//! edits, and the stems panel, which loads nothing until it is opened.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use super::set_page_status;
use crate::components::error_note::ErrorNote;
use crate::components::player::Transport;
use crate::components::player::{Peaks, Player};
use crate::components::stems_panel::StemsPanel;
use crate::components::transcript_panel::TranscriptPanel;
use crate::errors::AppError;
use crate::fmt;
use crate::tracks::api::{
    get_track, track_peaks, DeleteTrack, RemoveArtwork, SetPrimaryVersion, UpdateAbout, UpdateTrack,
};
use crate::tracks::{TrackDetail, Visibility};

#[component]
pub fn TrackPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()));
    let track = crate::codec::resource(id, |id| async move {
        match id {
            Some(id) => get_track(id).await,
            None => Err(AppError::NotFound),
        }
    });
    // Loaded beside the track (not by the player, which is rebuilt with the
    // track view): refetched when the track finishes processing or changes
    // its current version.
    let peaks = crate::codec::resource(id, |id| async move {
        match id {
            Some(id) => track_peaks(id).await,
            None => Ok(None),
        }
    });
    // The owner's actions live as long as the page (the track view is
    // redrawn after each of them), and each success reloads the track.
    let actions = Actions {
        update: ServerAction::<UpdateTrack>::new(),
        about: ServerAction::<UpdateAbout>::new(),
        remove_art: ServerAction::<RemoveArtwork>::new(),
        delete: ServerAction::<DeleteTrack>::new(),
        set_primary: ServerAction::<SetPrimaryVersion>::new(),
        art_sent: RwSignal::new(0),
    };
    provide_context(actions);
    Effect::new(move |prev: Option<(usize, usize, usize, usize, usize)>| {
        let now = (
            actions.update.version().get(),
            actions.set_primary.version().get(),
            actions.about.version().get(),
            actions.remove_art.version().get(),
            actions.art_sent.get(),
        );
        let ok = matches!(actions.update.value().get_untracked(), Some(Ok(())) | None)
            && matches!(
                actions.set_primary.value().get_untracked(),
                Some(Ok(())) | None
            )
            && matches!(actions.about.value().get_untracked(), Some(Ok(())) | None);
        if prev.is_some_and(|p| p != now) && ok {
            track.refetch();
            peaks.refetch();
        }
        now
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if matches!(actions.delete.value().get(), Some(Ok(()))) {
            navigate("/mine", Default::default());
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match track.await {
                    Ok(t) => view! { <TrackView t track peaks /> }.into_any(),
                    Err(AppError::NotFound) => view! { <crate::routes::not_found::NotFound /> }.into_any(),
                    Err(e) => {
                        set_page_status(e.status().as_u16());
                        view! { <ErrorNote error=e.to_string() /> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// The waveform overview of the current version (`None` while computed).

#[derive(Clone, Copy)]
struct Actions {
    update: ServerAction<UpdateTrack>,
    about: ServerAction<UpdateAbout>,
    remove_art: ServerAction<RemoveArtwork>,
    delete: ServerAction<DeleteTrack>,
    set_primary: ServerAction<SetPrimaryVersion>,
    /// Counts images sent (and checks for their thumbnails): each reloads
    /// the track.
    art_sent: RwSignal<usize>,
}

#[component]
fn TrackView(
    t: TrackDetail,
    track: crate::codec::JsonResource<Result<TrackDetail, AppError>>,
    peaks: Peaks,
) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    if t.status == "processing" {
        follow(t.id, track, peaks);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = track;
    let status = t.status.clone();
    let status_text = match status.as_str() {
        "ready" => "Ready".to_string(),
        "failed" => "Failed".to_string(),
        _ => "Processing".to_string(),
    };
    let duration = t
        .duration_ms
        .map(fmt::duration)
        .unwrap_or_else(|| "processing".into());
    let primary = t.primary().cloned();
    let can_edit = t.can_edit;
    let id = t.id;
    // A link to a moment (`?t=` seconds) and the words searched for (`?q=`).
    let query = use_query_map();
    let start = query
        .with_untracked(|q| q.get("t").and_then(|v| crate::player::parse_moment(&v)))
        .filter(|s| *s > 0.0);
    let words = query.with_untracked(|q| q.get("q").unwrap_or_default());
    let transport = Transport::for_track(id, start.unwrap_or(0.0));
    provide_context(transport);
    let version_waves: Vec<(i64, i64, Option<String>)> = t
        .versions
        .iter()
        .map(|v| (v.id, v.number, v.asset.mini_wave.clone()))
        .collect();
    let playable_versions = t.versions.iter().filter(|v| v.playback.is_some()).count();
    #[cfg(feature = "hydrate")]
    if playable_versions > 1 {
        let ids: Vec<i64> = t
            .versions
            .iter()
            .filter(|v| v.playback.is_some())
            .map(|v| v.id)
            .collect();
        ab_key(transport, t.primary_version_id, ids);
    }

    let set_primary = expect_context::<Actions>().set_primary;

    let byline = byline(&t.about);
    view! {
        <Title text=t.title.clone() />
        <section class="card track" data-testid="track" data-status=status.clone()>
            <div class="track-head">
            {crate::components::art::art_large(t.art.as_deref(), &t.title)}
            <div class="heading">
            <h1 data-testid="track-title">{t.title.clone()}</h1>
            {(!byline.is_empty()).then(|| view! { <p class="byline" data-testid="track-byline">{byline}</p> })}
            <p class="muted">
                <span class=format!("badge status-{status}") data-testid="track-status">{status_text}</span>
                " · "
                <span data-testid="track-duration">{duration}</span>
                " · "
                <span data-testid="track-visibility">{t.visibility.as_str()}</span>
                {(!t.tags.is_empty()).then(|| view! { " · " <span class="tags">{t.tags.clone()}</span> })}
            </p>
            <AboutFacts about=t.about.clone() />
            </div>
            </div>
            {t.error.clone().map(|e| view! {
                <ErrorNote
                    error=format!("This file could not be processed: {e}")
                    attr:data-testid="track-error"
                />
            })}
            {t.call.clone().map(|c| view! { <CallFacts c /> })}
            {t.playback.is_some().then(|| view! {
                <Player
                    duration_ms=t.duration_ms
                    peaks
                    start
                    resume_ms=t.resume_ms
                    version_waves
                    primary_version=t.primary_version_id
                />
            })}
            {primary.clone().map(|v| view! {
                <StemsPanel version_id=v.id count=t.stem_count can_edit />
            })}
            {primary.is_some().then(|| view! { <TranscriptPanel track_id=id query=words.clone() /> })}
            <h2>"Versions"</h2>
            <ul class="versions">
                {t.versions.iter().rev().map(|v| {
                    let is_primary = Some(v.id) == t.primary_version_id;
                    let vid = v.id;
                    let deck = transport.deck;
                    let heard = move || deck.now.get() == Some((id, vid));
                    view! {
                        <li data-testid="version" class:primary=is_primary class:heard=heard data-version=v.number>
                            <strong>{format!("v{}", v.number)}</strong>
                            {is_primary.then_some(" (current)")}
                            " · " {v.asset.original_filename.clone().unwrap_or_default()}
                            " · " <span class="muted">{fmt::asset_facts(&v.asset)}</span>
                            " · " {v.status.clone()}
                            " "
                            {(v.playback.is_some() && playable_versions > 1).then(|| view! {
                                <button
                                    class="small"
                                    data-testid="play-version"
                                    aria-pressed=move || heard().to_string()
                                    title="Switch to this version at the same moment (B toggles)"
                                    on:click=move |_| deck.send(crate::player::Cmd::Version(id, vid))
                                >
                                    {move || if heard() { "Playing" } else { "Listen" }}
                                </button>
                            })}
                            {v.download_url.clone().map(|u| view! {
                                <a class="button small" href=u download data-testid="download">"Download"</a>
                            })}
                            {(can_edit && !is_primary).then(|| view! {
                                <button
                                    class="small"
                                    data-testid="make-primary"
                                    on:click=move |_| {
                                        set_primary.dispatch(SetPrimaryVersion { id, version_id: vid });
                                    }
                                >
                                    "Make current"
                                </button>
                            })}
                        </li>
                    }
                }).collect_view()}
            </ul>
            {can_edit.then(|| view! {
                <p>
                    <a href=format!("/upload?target=version&track_id={id}") data-testid="upload-version">
                        "Upload a new version"
                    </a>
                </p>
            })}
            {(!t.jobs.is_empty()).then(|| view! {
                <h2>"Processing"</h2>
                <ul class="jobs" data-testid="jobs">
                    {t.jobs.iter().map(|j| {
                        let state = j.state.as_str();
                        let detail = match (state, &j.last_error) {
                            ("running", _) => format!("{} %", j.progress),
                            (_, Some(e)) => e.clone(),
                            _ => String::new(),
                        };
                        view! {
                            <li data-testid="job" data-state=state>
                                <strong>{j.kind.clone()}</strong> " · " {state} " " <span class="muted">{detail}</span>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </section>
        {can_edit.then(|| view! { <EditTrack t=t.clone() /> })}
    }
}

/// B: switches between the version playing and the one heard before it
/// (at first the current version and the newest other), at the same moment.
#[cfg(feature = "hydrate")]
fn ab_key(transport: Transport, primary: Option<i64>, versions: Vec<i64>) {
    let deck = transport.deck;
    let id = transport.id;
    let before = StoredValue::new(None::<i64>);
    // Remember the version heard before the one playing now.
    Effect::new(move |prev: Option<Option<i64>>| {
        let now = deck.now.get().filter(|(t, _)| *t == id).map(|(_, v)| v);
        if let Some(Some(p)) = prev {
            if now.is_some() && now != Some(p) {
                before.set_value(Some(p));
            }
        }
        now
    });
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        use wasm_bindgen::JsCast;
        if !matches!(ev.key().as_str(), "b" | "B") || ev.ctrl_key() || ev.meta_key() || ev.alt_key()
        {
            return;
        }
        let typing = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
            .is_some_and(|el| {
                matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                    || el.is_content_editable()
            });
        let Some(now) = deck
            .now
            .get_untracked()
            .filter(|(t, _)| *t == id)
            .map(|(_, v)| v)
        else {
            return;
        };
        if typing {
            return;
        }
        let other = before
            .get_value()
            .filter(|v| *v != now)
            .or(primary.filter(|p| *p != now))
            .or(versions.iter().rev().find(|v| **v != now).copied());
        if let Some(v) = other {
            ev.prevent_default();
            deck.send(crate::player::Cmd::Version(id, v));
        }
    });
    on_cleanup(move || handle.remove());
}

/// The radio call a call track recorded: system, talkgroup, frequency,
/// the radio that spoke, and when (UTC).
#[component]
fn CallFacts(c: crate::tracks::CallInfo) -> impl IntoView {
    let named = |label: &str, id: i64| {
        if label.is_empty() {
            id.to_string()
        } else {
            format!("{label} ({id})")
        }
    };
    let talkgroup = named(
        if c.talkgroup_label.is_empty() {
            &c.talkgroup_name
        } else {
            &c.talkgroup_label
        },
        c.talkgroup_id,
    );
    let group = [c.talkgroup_group.clone(), c.talkgroup_tag.clone()]
        .into_iter()
        .filter(|g| !g.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <dl class="facts call" data-testid="call-facts">
            <dt>"System"</dt>
            <dd data-testid="call-system">{named(&c.system_label, c.system_id)}</dd>
            <dt>"Talkgroup"</dt>
            <dd data-testid="call-talkgroup">{talkgroup}</dd>
            {(!group.is_empty()).then(|| view! { <dt>"Group"</dt> <dd>{group}</dd> })}
            {c.frequency.map(|f| view! {
                <dt>"Frequency"</dt>
                <dd>{format!("{:.4} MHz", f as f64 / 1e6)}</dd>
            })}
            {c.source.filter(|s| *s > 0).map(|s| view! { <dt>"Unit"</dt> <dd>{s}</dd> })}
            <dt>"Started"</dt>
            <dd data-testid="call-started">
                {format!("{} {} UTC", crate::fmt::date(c.started_at), crate::fmt::clock(c.started_at))}
            </dd>
        </dl>
    }
}

/// "Artist — Album (Year)", as much of it as is known.
fn byline(a: &crate::media::FileTags) -> String {
    let mut s = a.artist.clone();
    if !a.album.is_empty() {
        if !s.is_empty() {
            s.push_str(" — ");
        }
        s.push_str(&a.album);
    }
    if let Some(y) = a.year {
        if s.is_empty() {
            s = y.to_string();
        } else {
            s.push_str(&format!(" ({y})"));
        }
    }
    s
}

/// What else the tags say: genre, track and disc, album artist, comment.
#[component]
fn AboutFacts(about: crate::media::FileTags) -> impl IntoView {
    let track = match (about.track_no, about.disc_no) {
        (Some(t), Some(d)) => Some(format!("{t} (disc {d})")),
        (Some(t), None) => Some(t.to_string()),
        (None, Some(d)) => Some(format!("disc {d}")),
        (None, None) => None,
    };
    let rows: Vec<(&'static str, String, &'static str)> = [
        ("Genre", about.genre.clone(), "about-genre"),
        ("Track", track.unwrap_or_default(), "about-track"),
        (
            "Album artist",
            about.album_artist.clone(),
            "about-album-artist",
        ),
        ("Comment", about.comment.clone(), "about-comment"),
    ]
    .into_iter()
    .filter(|(_, v, _)| !v.is_empty())
    .collect();
    (!rows.is_empty()).then(|| view! {
        <dl class="facts about" data-testid="about">
            {rows.into_iter().map(|(k, v, id)| view! { <dt>{k}</dt> <dd data-testid=id>{v}</dd> }).collect_view()}
        </dl>
    })
}

/// The owner's form: title, tags, visibility; and delete.
#[component]
fn EditTrack(t: TrackDetail) -> impl IntoView {
    let Actions { update, delete, .. } = expect_context::<Actions>();
    let (about, art) = (t.clone(), t.clone());
    let id = t.id;
    let vis = t.visibility;
    let option = move |v: Visibility, label: &'static str| {
        let value = v.as_str();
        view! { <option value=value selected=vis == v>{label}</option> }
    };
    let confirm_delete = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let ok = window()
                .confirm_with_message(
                    "Delete this track with all its versions and stems? This cannot be undone.",
                )
                .unwrap_or(false);
            if !ok {
                return;
            }
        }
        delete.dispatch(DeleteTrack { id });
    };
    view! {
        <section class="card" data-testid="edit-track">
            <h2>"Edit"</h2>
            <ActionForm action=update attr:class="form">
                <input type="hidden" name="id" value=id />
                <label>"Title" <input name="title" required maxlength="200" value=t.title.clone() data-testid="edit-title" /></label>
                <label>"Tags (comma-separated)" <input name="tags" maxlength="500" value=t.tags.clone() data-testid="edit-tags" /></label>
                <label>
                    "Visibility"
                    <select name="visibility" data-testid="edit-visibility">
                        {option(Visibility::Private, "Private (only you)")}
                        {option(Visibility::Unlisted, "Unlisted (anyone with the link)")}
                        {option(Visibility::Public, "Public (listed)")}
                    </select>
                </label>
                <button type="submit" data-testid="save-track">"Save"</button>
                {move || match update.value().get() {
                    Some(Err(e)) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                    Some(Ok(())) => view! { <p class="ok" data-testid="saved">"Saved."</p> }.into_any(),
                    None => ().into_any(),
                }}
            </ActionForm>
            <EditAbout t=about />
            <EditArtwork t=art />
            <button class="danger" data-testid="delete-track" on:click=confirm_delete>"Delete track"</button>
            {move || match delete.value().get() {
                Some(Err(e)) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                _ => ().into_any(),
            }}
        </section>
    }
}

/// The owner's form for artist, album and the rest.
#[component]
fn EditAbout(t: TrackDetail) -> impl IntoView {
    let about = expect_context::<Actions>().about;
    let a = t.about;
    let num = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    view! {
        <h3>"About"</h3>
        <ActionForm action=about attr:class="form about-form">
            <input type="hidden" name="id" value=t.id />
            <label>"Artist" <input name="artist" maxlength="200" value=a.artist data-testid="edit-artist" /></label>
            <label>"Album" <input name="album" maxlength="200" value=a.album data-testid="edit-album" /></label>
            <label>"Album artist" <input name="album_artist" maxlength="200" value=a.album_artist /></label>
            <label>"Genre" <input name="genre" maxlength="200" value=a.genre data-testid="edit-genre" /></label>
            <label>"Year" <input name="year" inputmode="numeric" maxlength="4" value=a.year.map(|y| y.to_string()).unwrap_or_default() data-testid="edit-year" /></label>
            <label>"Track number" <input name="track_no" inputmode="numeric" maxlength="4" value=num(a.track_no) /></label>
            <label>"Disc number" <input name="disc_no" inputmode="numeric" maxlength="3" value=num(a.disc_no) /></label>
            <label>"Comment" <textarea name="comment" maxlength="1000" rows="2">{a.comment}</textarea></label>
            <button type="submit" data-testid="save-about">"Save"</button>
            {move || match about.value().get() {
                Some(Err(e)) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                Some(Ok(())) => view! { <p class="ok" data-testid="about-saved">"Saved."</p> }.into_any(),
                None => ().into_any(),
            }}
        </ActionForm>
    }
}

/// The owner's own image for the track (JPEG, PNG or WebP, at most 10
/// MiB), sent as is; its thumbnails are made in the background.
#[component]
fn EditArtwork(t: TrackDetail) -> impl IntoView {
    let Actions {
        remove_art,
        art_sent,
        ..
    } = expect_context::<Actions>();
    let id = t.id;
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let upload = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(input) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            else {
                return;
            };
            let Some(file) = input.files().and_then(|f| f.get(0)) else {
                return;
            };
            busy.set(true);
            error.set(None);
            leptos::task::spawn_local(async move {
                let sent = send_art(id, &file).await;
                busy.set(false);
                match sent {
                    Ok(()) => {
                        art_sent.update(|n| *n += 1);
                        // The thumbnails take a moment: look again.
                        for wait in [800, 1600, 3200] {
                            gloo_timers::future::TimeoutFuture::new(wait).await;
                            art_sent.update(|n| *n += 1);
                        }
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, id, art_sent);
    };
    let pending = t.art_upload.clone();
    view! {
        <h3>"Artwork"</h3>
        <label class="button small">
            "Choose an image…"
            <input
                type="file"
                accept="image/jpeg,image/png,image/webp"
                class="visually-hidden"
                data-testid="art-input"
                on:change=upload
            />
        </label>
        " "
        <button class="small" data-testid="art-remove" on:click=move |_| { remove_art.dispatch(RemoveArtwork { id }); }>
            "Use the file's own art"
        </button>
        {move || busy.get().then(|| view! { <p class="muted">"Sending…"</p> })}
        {move || error.get().map(|e| view! { <ErrorNote error=e /> })}
        {pending.map(|(state, why)| match why {
            Some(why) if state == "failed" => view! {
                <ErrorNote error=format!("That image could not be used: {why}") attr:data-testid="art-error" />
            }.into_any(),
            _ => view! { <p class="muted" data-testid="art-pending">"Making thumbnails…"</p> }.into_any(),
        })}
    }
}

/// PUTs `file` as the track's artwork; the server's reason when refused.
#[cfg(feature = "hydrate")]
async fn send_art(id: i64, file: &web_sys::File) -> Result<(), String> {
    let url = format!("/api/v1/tracks/{id}/artwork");
    crate::components::fetch::send("PUT", &url, file, None)
        .await
        .map(|_| ())
}

/// Refetches the track whenever its processing moves on, until it is done.
#[cfg(feature = "hydrate")]
fn follow(id: i64, track: crate::codec::JsonResource<Result<TrackDetail, AppError>>, peaks: Peaks) {
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    let Ok(source) = web_sys::EventSource::new(&format!("/api/v1/tracks/{id}/events")) else {
        return;
    };
    let on_event = {
        let source = source.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
            if ev.type_() == "done" {
                source.close();
                peaks.refetch();
            }
            track.refetch();
        })
        .into_js_value()
    };
    for name in ["progress", "done"] {
        let _ = source.add_event_listener_with_callback(name, on_event.unchecked_ref());
    }
    on_cleanup(move || source.close());
}
