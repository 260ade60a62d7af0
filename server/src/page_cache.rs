//! Server-rendered pages that are the same for every visitor (the home page and the story
//! pages, without a query string) are rendered once and then served from memory. The stories are
//! built into the binary and the session lives in the browser, so such a page cannot change while
//! the process runs. Pages with a query (the no-JavaScript subscribe answers) are always rendered.

use axum::{
    body::{to_bytes, Body, Bytes},
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use http::{header, HeaderMap, Method, StatusCode};
use std::{collections::HashMap, sync::Arc, sync::RwLock};

/// More than the site has pages: a bound, not a tuning knob.
const MAX_PAGES: usize = 256;
/// A page bigger than this is served but not kept.
const MAX_PAGE_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
struct CachedPage {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
pub struct PageCache {
    pages: RwLock<HashMap<String, CachedPage>>,
}

/// The paths whose pages are the same for everyone.
fn is_shared_page(path: &str) -> bool {
    path == "/"
        || path
            .strip_prefix("/post/")
            .and_then(|rest| rest.strip_suffix('/'))
            .is_some_and(|slug| {
                !slug.is_empty()
                    && slug
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
}

impl PageCache {
    fn get(&self, path: &str) -> Option<CachedPage> {
        self.pages
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(path)
            .cloned()
    }

    fn put(&self, path: &str, page: CachedPage) {
        let mut pages = self
            .pages
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if pages.len() < MAX_PAGES {
            pages.insert(path.to_owned(), page);
        }
    }
}

fn respond(page: CachedPage) -> Response {
    let mut response = Response::new(Body::from(page.body));
    *response.headers_mut() = page.headers;
    response
}

pub async fn serve(State(cache): State<Arc<PageCache>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if request.method() != Method::GET || request.uri().query().is_some() || !is_shared_page(&path)
    {
        return next.run(request).await;
    }
    if let Some(page) = cache.get(&path) {
        return respond(page);
    }
    let response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    // Only complete pages: not 404s for unknown stories, not redirects or errors.
    if response.status() != StatusCode::OK || !is_html {
        return response;
    }
    let (parts, body) = response.into_parts();
    match to_bytes(body, MAX_PAGE_BYTES).await {
        Ok(body) => {
            let page = CachedPage {
                headers: parts.headers,
                body,
            };
            cache.put(&path, page.clone());
            respond(page)
        }
        Err(err) => {
            // The body is gone: say so rather than send half a page.
            tracing::error!(error = %err, %path, "cannot read a rendered page");
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .body(Body::from("The page could not be rendered."))
                .unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_home_page_and_story_pages_are_shared() {
        for shared in ["/", "/post/why-serverless/", "/post/a1/"] {
            assert!(is_shared_page(shared), "{shared}");
        }
        for personal in [
            "/admin",
            "/login",
            "/post/",
            "/post//",
            "/post/why-serverless",
            "/post/Upper/",
            "/post/a/b/",
            "/api/subscribe",
            "/post/%2e%2e/",
        ] {
            assert!(!is_shared_page(personal), "{personal}");
        }
    }
}
