use crate::page_location::site_path;
use leptos::prelude::*;
use leptos_meta::Title;

/// Unknown paths and unknown stories: a real page, answered with status 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Page not found · Serverless Stories"/>
        <section class="container page-message">
            <h1>"Page not found"</h1>
            <p>"There is no page at this address. It may have moved, or the link may be mistyped."</p>
            <p>
                <a href=site_path("/") class="button button-primary">"Back to Top Stories"</a>
            </p>
        </section>
    }
}
