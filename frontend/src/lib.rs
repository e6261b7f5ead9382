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

/// Room for `cargo leptos build --split`. Its splitter (wasm_split_cli_support
/// 0.2) lays each module's read-only data out again, aligned per module;
/// when that layout comes out even a few bytes longer than the linker's,
/// it gives up and puts the whole segment (~70 KB, all pages' strings) in
/// the first module, which then grows by ~40 KB gzipped for an unrelated
/// edit anywhere. Nothing refers to these bytes, so no module receives them:
/// they only make the original segment long enough for any new layout
/// (up to 16 bytes of alignment for each of ~100 modules, with room to
/// spare). `build_site` (scripts/setup.sh) fails if the first module's data
/// section grows as it does then (`scripts/first_module.py`).
#[used]
static SPLIT_SLACK: [u8; 4096] = [0x5a; 4096];
