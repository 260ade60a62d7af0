//! Where the page an island is on lives: on the server from the router (the request being
//! rendered), in the browser from `window.location`. The home page's islands read the URL through
//! this rather than taking it as props: island props travel as JSON, and reading them would put
//! a JSON parser into the module every page loads (docs/performance.md).

/// The page's path, e.g. `/login`.
pub fn path() -> String {
    #[cfg(feature = "hydrate")]
    return web_sys::window()
        .and_then(|window| window.location().pathname().ok())
        .unwrap_or_default();
    #[cfg(not(feature = "hydrate"))]
    {
        use leptos::prelude::GetUntracked;
        leptos_router::hooks::use_location()
            .pathname
            .get_untracked()
    }
}

/// The value of `key` in the page's query string, decoded.
pub fn query(key: &str) -> Option<String> {
    #[cfg(feature = "hydrate")]
    return web_sys::window()
        .and_then(|window| window.location().search().ok())
        .and_then(|search| web_sys::UrlSearchParams::new_with_str(&search).ok())
        .and_then(|params| params.get(key));
    #[cfg(not(feature = "hydrate"))]
    {
        use leptos::prelude::ReadUntracked;
        leptos_router::hooks::use_query_map()
            .read_untracked()
            .get(key)
    }
}
