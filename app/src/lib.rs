//! Serverless Stories: the Leptos app (pages, components, server functions), rendered on the
//! server (`ssr`) and hydrated in the browser (`hydrate`).

pub mod admin;
pub mod api_client;
pub mod auth;
pub mod credentials;
pub mod dashboard;
pub mod error;
pub mod issue_desk;
pub mod mail_links;
pub mod page_location;
pub mod provider_sign_in;
pub mod session;
pub mod sigv4_signer;
pub mod stories;
pub mod subscribe;
pub mod subscriber_email;
pub mod subscriber_status;

#[cfg(feature = "ssr")]
pub mod audit;
#[cfg(feature = "ssr")]
pub mod client_address;
#[cfg(feature = "ssr")]
pub mod identity;
#[cfg(feature = "ssr")]
pub mod login_throttle;
#[cfg(feature = "ssr")]
pub mod services;
#[cfg(feature = "ssr")]
pub mod store;

mod components;
mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

pub const SITE_NAME: &str = "Serverless Stories";

/// The HTML document around the app (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // Under a REST API stage, the page's files and scripts are under it too, and the islands
    // read it from the `<meta>` (see `page_location`).
    let prefix = page_location::prefix();
    let prefix_meta = (!prefix.is_empty()).then(|| {
        view! { <meta name=page_location::PREFIX_META content=prefix.clone()/> }
    });
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                {prefix_meta}
                // The site's files are named after their content (cargo-leptos `hash-files`).
                <HashedStylesheet options=options.clone() root=prefix.clone()/>
                <link rel="icon" type="image/svg+xml" href=page_location::site_path("/favicon.svg")/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true root=prefix.clone()/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Pages wait for their data before the first byte (SsrMode::Async): the HTML is complete
    // without JavaScript, and a missing story can still answer 404.
    view! {
        <Title text=SITE_NAME/>
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <components::navbar::Navbar/>
            <main id="main" tabindex="-1">
                <Routes fallback=pages::not_found::NotFound>
                    <Route path=path!("/") view=pages::home::HomePage ssr=SsrMode::Async/>
                    <Route path=path!("/post/:slug/") view=pages::story::StoryPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=pages::login::LoginPage/>
                    <Route path=path!("/admin") view=pages::admin::AdminPage/>
                    <Route path=path!("/confirm") view=pages::mail_links::ConfirmPage/>
                    <Route path=path!("/unsubscribe") view=pages::mail_links::UnsubscribePage/>
                </Routes>
            </main>
            <components::footer::Footer/>
        </Router>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Panic messages in the console for development builds. Release builds (panic = "abort")
    // stop at the panic with a wasm trap ("unreachable") and no message: the hook and the
    // formatting it needs cost every page bytes (0.8 KB brotli when measured; see
    // docs/performance.md).
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
