use crate::{session::use_session, SITE_NAME};
use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_navigate};

/// The site navigation; "Log in" / "Log out" follow the stored token without a reload.
#[component]
pub fn Navbar() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let log_out = move |_| {
        session.sign_out();
        navigate("/", Default::default());
    };
    view! {
        <header class="navbar">
            <nav class="navbar-inner" aria-label="Main">
                <A href="/" attr:class="brand">{SITE_NAME}</A>
                <ul class="nav-links">
                    <li>
                        <A href="/" exact=true>"Top Stories"</A>
                    </li>
                </ul>
                <ul class="nav-links nav-account">
                    <Show
                        when=move || session.token.with(Option::is_some)
                        fallback=|| view! { <li><A href="/login">"Log in"</A></li> }
                    >
                        <li>
                            <A href="/admin">"Admin"</A>
                        </li>
                        <li>
                            <button type="button" class="nav-button" on:click=log_out.clone()>"Log out"</button>
                        </li>
                    </Show>
                </ul>
            </nav>
        </header>
    }
}
