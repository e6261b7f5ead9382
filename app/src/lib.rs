//! wavekeep's app: shared types, server functions and the UI, rendered on the
//! server (`ssr`) and hydrated in the browser (`hydrate`).

// The dashboard's view types nest deeply (hydration futures of many tables).
#![recursion_limit = "256"]

pub mod admin;
pub mod auth;
#[cfg(feature = "ssr")]
pub mod cache;
pub mod calls;
pub mod codec;
pub mod components;
pub mod errors;
pub mod fmt;
pub mod jobs;
pub mod media;
pub mod player;
pub mod providers;
pub mod routes;
pub mod tracks;
pub mod transcripts;
pub mod uploads;

#[cfg(feature = "ssr")]
pub mod changes;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod files;
#[cfg(feature = "ssr")]
pub mod settings;
#[cfg(feature = "ssr")]
pub mod signing;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "ssr")]
pub mod telemetry;
#[cfg(feature = "ssr")]
pub mod usage;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{lazy_route, path, Lazy, LazyRoute, SsrMode};

use crate::components::nav::Nav;
use crate::routes::{account::AccountPage, admin::AdminPage, calls::CallsPage, login::LoginPage};
use crate::routes::{downloads::DownloadsPage, home::HomePage, home::MinePage};
use crate::routes::{
    not_found::NotFound, register::RegisterPage, track::TrackPage, upload::UploadPage,
};

/// The HTML document around the app (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="description" content="wavekeep: a self-hosted audio workspace" />
                // The same on every page, so written here (server side)
                // rather than by the app, whose wasm would carry their code.
                <link id="leptos" rel="stylesheet" href="/pkg/wavekeep.css" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    providers::auth::provide_auth();
    player::listen_for_play_buttons();

    view! {
        <Title formatter=|t: String| if t.is_empty() { "wavekeep".to_string() } else { format!("{t} · wavekeep") } />
        <Router>
            <Nav />
            <main class="page">
                <ErrorBoundary fallback=|errors| {
                    view! {
                        <section class="card error-card" role="alert">
                            <h1>"Something went wrong"</h1>
                            <ul>
                                {move || {
                                    errors
                                        .get()
                                        .into_iter()
                                        .map(|(_, e)| view! { <li>{e.to_string()}</li> })
                                        .collect_view()
                                }}
                            </ul>
                        </section>
                    }
                }>
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=HomePage ssr=SsrMode::Async />
                        <Route path=path!("/mine") view=MinePage ssr=SsrMode::Async />
                        <Route path=path!("/downloads") view={Lazy::<Downloads>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/login") view={Lazy::<Login>::new()} />
                        <Route path=path!("/register") view={Lazy::<Register>::new()} />
                        <Route path=path!("/upload") view={Lazy::<Upload>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/tracks/:id") view={Lazy::<Track>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/account") view={Lazy::<Account>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/admin") view={Lazy::<Admin>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/calls") view={Lazy::<Calls>::new()} ssr=SsrMode::Async />
                    </Routes>
                </ErrorBoundary>
            </main>
            // The player bar is mounted here on the first play (its own
            // wasm chunk), outside the pages, so it outlives them.
            <div id="deck"></div>
        </Router>
    }
}

/// Declares a route whose page is compiled into its own wasm chunk (built
/// with `cargo leptos build --split`): the first bundle holds the shell and
/// the track lists, and a page's code is fetched when that page is first
/// shown (the server's HTML links it as a preload). The page's data loads
/// inside the page, as before.
macro_rules! lazy_page {
    ($($name:ident => $page:path;)*) => {$(
        #[doc = concat!("The lazily loaded route of [`", stringify!($page), "`].")]
        pub struct $name;

        #[lazy_route]
        impl LazyRoute for $name {
            fn data() -> Self {
                Self
            }

            fn view(this: Self) -> AnyView {
                let _ = this;
                $page().into_any()
            }
        }
    )*};
}

lazy_page! {
    Account => AccountPage;
    Admin => AdminPage;
    Calls => CallsPage;
    Downloads => DownloadsPage;
    Login => LoginPage;
    Register => RegisterPage;
    Track => TrackPage;
    Upload => UploadPage;
}
