use crate::{
    page_location::{self, site_path},
    session::{go_to, Session},
    SITE_NAME,
};
use leptos::prelude::*;

/// `aria-current="page"` for the link to `href` on that page.
fn current(path: &str, href: &str) -> Option<&'static str> {
    (path == href).then_some("page")
}

/// The site navigation (server-rendered); only the account links are interactive.
#[component]
pub fn Navbar() -> impl IntoView {
    let home = site_path("/");
    let home_current = current(&page_location::path(), "/");
    view! {
        <header class="navbar">
            <nav class="navbar-inner" aria-label="Main">
                <a href=home.clone() class="brand">{SITE_NAME}</a>
                <ul class="nav-links">
                    <li>
                        <a href=home aria-current=home_current>"Top Stories"</a>
                    </li>
                </ul>
                <NavAccount/>
            </nav>
        </header>
    }
}

/// Where logging out lands when the admin is still signed in at the OpenID Connect provider.
pub const SIGNED_OUT_OF_SITE_ONLY: &str = "/login?signed_out=provider";

/// "Log in", or "Admin" and "Log out", following the stored token.
#[island]
fn NavAccount() -> impl IntoView {
    let path = page_location::path();
    let (login_current, admin_current) = (current(&path, "/login"), current(&path, "/admin"));
    let (login, admin) = (site_path("/login"), site_path("/admin"));
    let session = Session::load();
    // The server ends the session too (its credentials stop working within seconds); this
    // browser forgets it whatever the answer, even offline.
    let log_out = move |_| {
        leptos::task::spawn_local(async {
            let mut next = "/";
            if let Some(token) = Session::stored_token() {
                let answer = crate::auth::client::sign_out(&token).await;
                if let Ok(crate::auth::SignedOut::ProviderSessionStands) = answer {
                    // The login page offers the provider's own log-out.
                    next = SIGNED_OUT_OF_SITE_ONLY;
                }
            }
            Session::sign_out();
            go_to(next);
        });
    };
    view! {
        <ul class="nav-links nav-account">
            <Show
                when=move || session.token.with(Option::is_some)
                fallback=move || view! { <li><a href=login.clone() aria-current=login_current>"Log in"</a></li> }
            >
                <li>
                    <a href=admin.clone() aria-current=admin_current>"Admin"</a>
                </li>
                <li>
                    <button type="button" class="nav-button" on:click=log_out>"Log out"</button>
                </li>
            </Show>
        </ul>
    }
}
