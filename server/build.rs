//! Makes sure the site folder that `rust-embed` reads exists (tests may build
//! the server before cargo-leptos has written it), and rebuilds when it changes.

use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let site = manifest.join("../target/site");
    if let Err(e) = std::fs::create_dir_all(&site) {
        println!("cargo:warning=cannot create {}: {e}", site.display());
    }
    println!("cargo:rerun-if-changed={}", site.display());
    println!("cargo:rerun-if-changed=build.rs");
}
