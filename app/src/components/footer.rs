use crate::SITE_NAME;
use leptos::prelude::*;

#[component]
pub fn Footer() -> impl IntoView {
    view! {
        <footer class="site-footer">
            <p>{SITE_NAME} " — stories about building without servers, served by one."</p>
        </footer>
    }
}
