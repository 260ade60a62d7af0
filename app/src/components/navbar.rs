use crate::SITE_NAME;
use leptos::prelude::*;
use leptos_router::components::A;

/// The site navigation. The right-hand side (`nav-account`) is where "Log in" / "Log out" go.
#[component]
pub fn Navbar() -> impl IntoView {
    view! {
        <header class="navbar">
            <nav class="navbar-inner" aria-label="Main">
                <A href="/" attr:class="brand">{SITE_NAME}</A>
                <ul class="nav-links">
                    <li>
                        <A href="/" exact=true>"Top Stories"</A>
                    </li>
                </ul>
                <ul class="nav-links nav-account"></ul>
            </nav>
        </header>
    }
}
