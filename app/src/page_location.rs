//! Where the page an island is on lives: on the server from the router (the request being
//! rendered), in the browser from `window.location`. The home page's islands read the URL through
//! this rather than taking it as props: island props travel as JSON, and reading them would put
//! a JSON parser into the module every page loads (docs/performance.md).
//!
//! The site is usually at the root of its host. Behind an API Gateway REST API called on its
//! execute-api host, it is under the stage (`/prod/…`), which the function's routes never see:
//! the server learns it per request ([`PathPrefix`], set by Lambda mode), renders every link,
//! form, asset and script of the page under it ([`site_path`]) and tells the browser in a
//! `<meta>` ([`PREFIX_META`]), from which the islands' links, calls and navigations get it too.

/// What the path the client called has in front of the path routed (`/prod`), when not empty:
/// one or more `/segment`s of URL-safe characters (a stage or a custom domain's base path), so
/// it can go into a page's attributes and scripts as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPrefix(String);

impl PathPrefix {
    pub fn new(prefix: &str) -> Option<Self> {
        let segments_ok = prefix.strip_prefix('/').is_some_and(|rest| {
            rest.split('/').all(|segment| {
                !segment.is_empty()
                    && segment.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
                    })
                    && segment != "."
                    && segment != ".."
            })
        });
        segments_ok.then(|| Self(prefix.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `<meta name>` under which a page under a prefix names it.
pub const PREFIX_META: &str = "path-prefix";

/// The prefix of the page being rendered or shown: `""` at the root of the host.
pub fn prefix() -> String {
    #[cfg(feature = "hydrate")]
    return web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| {
            document
                .query_selector(&format!("meta[name=\"{PREFIX_META}\"]"))
                .ok()?
        })
        .and_then(|meta| meta.get_attribute("content"))
        .and_then(|prefix| PathPrefix::new(&prefix))
        .map(|prefix| prefix.0)
        .unwrap_or_default();
    #[cfg(all(feature = "ssr", not(feature = "hydrate")))]
    return leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<PathPrefix>().cloned())
        .map(|prefix| prefix.0)
        .unwrap_or_default();
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    String::new()
}

/// `path`, one of the site's own (`/admin`, `/api/subscribe`), as the browser must ask for it.
pub fn site_path(path: &str) -> String {
    prefixed(&prefix(), path)
}

fn prefixed(prefix: &str, path: &str) -> String {
    format!("{prefix}{path}")
}

/// `html` (a story's body, rendered from Markdown) with its links and images to the site's own
/// paths (`href="/…"`, `src="/…"`) under the prefix.
pub fn links_under_prefix(html: &str) -> String {
    html_links_under(&prefix(), html)
}

fn html_links_under(prefix: &str, html: &str) -> String {
    if prefix.is_empty() {
        return html.to_owned();
    }
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = ["href=\"/", "src=\"/"]
        .iter()
        .filter_map(|attribute| Some((rest.find(attribute)?, attribute.len())))
        .min()
    {
        let (start, len) = at;
        // The value starts after the quote: `/x` is ours, `//host/x` is another site.
        let value = start + len - 1;
        out.push_str(&rest[..value]);
        if !rest[value..].starts_with("//") {
            out.push_str(prefix);
        }
        rest = &rest[value..];
        // Past this attribute's `/`, so it is not found again.
        out.push('/');
        rest = &rest[1..];
    }
    out.push_str(rest);
    out
}

/// The page's path as the site's routes know it, e.g. `/login` (without the prefix).
pub fn path() -> String {
    #[cfg(feature = "hydrate")]
    return web_sys::window()
        .and_then(|window| window.location().pathname().ok())
        .map(|path| unprefixed(&prefix(), &path).to_owned())
        .unwrap_or_default();
    #[cfg(not(feature = "hydrate"))]
    {
        use leptos::prelude::GetUntracked;
        leptos_router::hooks::use_location()
            .pathname
            .get_untracked()
    }
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn unprefixed<'a>(prefix: &str, path: &'a str) -> &'a str {
    under(prefix, path).unwrap_or(path)
}

/// The path under `prefix` of `path` (`/admin` of `/prod/admin`, `/` of `/prod`); nothing if
/// `path` is not under it (`/production/x` is not under `/prod`).
pub fn under<'a>(prefix: &str, path: &'a str) -> Option<&'a str> {
    match path.strip_prefix(prefix)? {
        "" => Some("/"),
        rest if rest.starts_with('/') => Some(rest),
        _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_url_safe_segments() {
        for good in ["/prod", "/v1", "/my-stage_2", "/base/path", "/a.b~c"] {
            assert_eq!(
                PathPrefix::new(good).map(|p| p.0),
                Some(good.into()),
                "{good}"
            );
        }
        for bad in [
            "",
            "/",
            "prod",
            "/prod/",
            "//prod",
            "/a//b",
            "/..",
            "/a/.",
            "/pr od",
            "/\"><script>",
            "/p%20",
            "/é",
            "/p\\q",
        ] {
            assert_eq!(PathPrefix::new(bad), None, "{bad}");
        }
    }

    #[test]
    fn site_paths_go_under_the_prefix_and_back() {
        assert_eq!(prefixed("", "/admin"), "/admin");
        assert_eq!(prefixed("/prod", "/admin"), "/prod/admin");
        assert_eq!(prefixed("/prod", "/"), "/prod/");
        assert_eq!(unprefixed("/prod", "/prod/admin"), "/admin");
        assert_eq!(unprefixed("/prod", "/prod/"), "/");
        assert_eq!(unprefixed("/prod", "/prod"), "/");
        assert_eq!(unprefixed("/prod", "/production/x"), "/production/x");
        assert_eq!(unprefixed("", "/admin"), "/admin");
    }

    #[test]
    fn a_storys_own_links_and_images_go_under_the_prefix() {
        let body = r##"<p><a href="/post/a/">A</a> <a href="https://x.org/">x</a> <a href="//cdn/x">c</a>
<img src="/images/a.svg" alt="a"> <a href="#s">s</a> src="/"</p>"##;
        assert_eq!(html_links_under("", body), body);
        assert_eq!(
            html_links_under("/prod", body),
            r##"<p><a href="/prod/post/a/">A</a> <a href="https://x.org/">x</a> <a href="//cdn/x">c</a>
<img src="/prod/images/a.svg" alt="a"> <a href="#s">s</a> src="/prod/"</p>"##
        );
    }
}
