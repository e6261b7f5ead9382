//! The browser entry point: hydrates the server-rendered app.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // A size build (scripts/setup.sh) aborts on panic without running any
    // hook, so the hook and its message formatting are left out of it.
    #[cfg(not(wavekeep_size_build))]
    console_error_panic_hook::set_once();
    // Pages live in lazily loaded wasm chunks (`cargo leptos build --split`):
    // hydration waits for the current page's chunk, so it is asynchronous.
    // (`hydrate_from_async` starts Leptos' executor on its first poll.)
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = leptos::prelude::document().body() else {
            return;
        };
        leptos::mount::hydrate_from_async(body.clone(), app::App)
            .await
            .forget();
        // Every handler is attached now: end-to-end tests wait for this mark.
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
