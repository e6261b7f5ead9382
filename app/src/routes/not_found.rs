//! The 404 page.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    super::set_page_status(404);
    view! {
        <Title text="Not found" />
        <section class="card narrow" data-testid="not-found">
            <h1>"Not found"</h1>
            <p>"There is nothing at this address, or it is not yours to see."</p>
            <a href="/">"Back to the tracks"</a>
        </section>
    }
}
