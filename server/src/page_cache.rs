//! Server-rendered pages that are the same for every visitor (the home page and the story
//! pages, without a query string) are rendered once and then served from memory. The stories are
//! built into the binary and the session lives in the browser, so such a page cannot change while
//! the process runs. Pages with a query (the no-JavaScript subscribe answers) are always rendered.
//!
//! A kept page is also compressed once, with brotli at its best setting (and gzip), as the
//! static assets are at build time: the on-the-fly compression layer uses a fast, lighter
//! setting (the home page is 2.3 KB with it, 1.9 KB this way), and a kept page then costs no
//! compression per request.

use app::page_location::PathPrefix;
use axum::{
    body::{to_bytes, Body, Bytes},
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

/// More than the site has pages: a bound, not a tuning knob.
const MAX_PAGES: usize = 256;
/// A page bigger than this is served but not kept.
const MAX_PAGE_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
struct CachedPage {
    headers: HeaderMap,
    body: Bytes,
    /// Brotli and gzip forms, once made.
    compressed: Option<(Bytes, Bytes)>,
}

/// The codings a client accepts that a kept page is stored in, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Brotli,
    Gzip,
    Identity,
}

/// The best coding `accept_encoding` allows (RFC 9110: a coding with `q=0` is refused; `*`
/// stands for any coding not listed). Runs for every request of a shareable page, so it
/// allocates nothing.
fn negotiate(accept_encoding: Option<&str>) -> Coding {
    let Some(accept) = accept_encoding else {
        return Coding::Identity;
    };
    // The weights given to brotli, gzip and `*` (a later mention overrides an earlier one).
    let (mut brotli, mut gzip, mut any) = (None, None, None);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|param| param.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("br") {
            brotli = Some(q);
        } else if coding.eq_ignore_ascii_case("gzip") {
            gzip = Some(q);
        } else if coding == "*" {
            any = Some(q);
        }
    }
    let accepted = |q: Option<f32>| q.or(any).is_some_and(|q| q > 0.0);
    if accepted(brotli) {
        Coding::Brotli
    } else if accepted(gzip) {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

fn compress_brotli(body: &[u8]) -> std::io::Result<Bytes> {
    let mut out = Vec::with_capacity(body.len() / 3);
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &body[..], &mut out, &params)?;
    Ok(out.into())
}

fn compress_gzip(body: &[u8]) -> std::io::Result<Bytes> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(body)?;
    Ok(encoder.finish()?.into())
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

    /// Keeps a freshly rendered page, and compresses it in the background (brotli at its best
    /// setting takes a few milliseconds per page): the request that rendered it, and any until
    /// the compressed forms are ready, are answered through the compression layer. Of a burst
    /// of first requests, the first one to finish rendering keeps its page and compresses it.
    fn keep(self: &Arc<Self>, path: &str, headers: HeaderMap, body: Bytes) {
        let page = CachedPage {
            headers,
            body,
            compressed: None,
        };
        if !self.insert(path, page.clone(), false) {
            return;
        }
        let cache = Arc::clone(self);
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let body = &page.body;
            match compress_brotli(body).and_then(|brotli| Ok((brotli, compress_gzip(body)?))) {
                Ok(compressed) => {
                    let page = CachedPage {
                        compressed: Some(compressed),
                        ..page
                    };
                    cache.insert(&path, page, true);
                }
                Err(err) => tracing::error!(error = %err, %path, "cannot compress a rendered page"),
            }
        });
    }

    /// Keeps the page unless the cache is full (and the page new); an existing page is
    /// replaced only if `replace`. Returns whether it was stored.
    fn insert(&self, path: &str, page: CachedPage, replace: bool) -> bool {
        let mut pages = self
            .pages
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let present = pages.contains_key(path);
        if (present && !replace) || (!present && pages.len() >= MAX_PAGES) {
            return false;
        }
        pages.insert(path.to_owned(), page);
        true
    }
}

fn respond(page: CachedPage, coding: Coding) -> Response {
    let Some((brotli, gzip)) = page.compressed else {
        // Not compressed yet: the compression layer does it for this response.
        let mut response = Response::new(Body::from(page.body));
        *response.headers_mut() = page.headers;
        return response;
    };
    let (body, content_encoding) = match coding {
        Coding::Brotli => (brotli, Some("br")),
        Coding::Gzip => (gzip, Some("gzip")),
        Coding::Identity => (page.body, None),
    };
    let mut response = Response::new(Body::from(body));
    *response.headers_mut() = page.headers;
    let headers = response.headers_mut();
    // Set here, the compression layer leaves the response as it is.
    if let Some(coding) = content_encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.remove(header::CONTENT_LENGTH);
    response
}

pub async fn serve(State(cache): State<Arc<PageCache>>, request: Request, next: Next) -> Response {
    let routed = request.uri().path();
    if request.method() != Method::GET || request.uri().query().is_some() || !is_shared_page(routed)
    {
        return next.run(request).await;
    }
    // A page under a REST API stage names its links and files under it: kept apart.
    let path = match request.extensions().get::<PathPrefix>() {
        Some(prefix) => format!("{}{routed}", prefix.as_str()),
        None => routed.to_owned(),
    };
    let coding = negotiate(
        request
            .headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    if let Some(page) = cache.get(&path) {
        return respond(page, coding);
    }
    let response = next.run(request).await;
    let is_html = crate::http_stack::is_html(response.headers());
    // Only complete pages: not 404s for unknown stories, not redirects or errors.
    if response.status() != StatusCode::OK || !is_html {
        return response;
    }
    let (parts, body) = response.into_parts();
    match to_bytes(body, MAX_PAGE_BYTES).await {
        Ok(body) => {
            cache.keep(&path, parts.headers.clone(), body.clone());
            Response::from_parts(parts, Body::from(body))
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
    fn a_full_cache_keeps_no_new_page_but_still_upgrades_its_own() {
        let cache = PageCache::default();
        let page = |body: &'static str| CachedPage {
            headers: HeaderMap::new(),
            body: Bytes::from_static(body.as_bytes()),
            compressed: None,
        };
        for n in 0..MAX_PAGES {
            assert!(cache.insert(&format!("/post/p{n}/"), page("x"), false));
        }
        assert!(!cache.insert("/post/one-too-many/", page("x"), true));
        assert!(cache.get("/post/one-too-many/").is_none());
        // A page already kept is not replaced by a later render of it…
        assert!(!cache.insert("/post/p0/", page("y"), false));
        assert!(cache.get("/post/p0/").is_some_and(|p| p.body == "x"));
        // …but is by its compressed form.
        let upgraded = CachedPage {
            compressed: Some((Bytes::from_static(b"br"), Bytes::from_static(b"gz"))),
            ..page("x")
        };
        assert!(cache.insert("/post/p0/", upgraded, true));
        assert!(cache
            .get("/post/p0/")
            .is_some_and(|p| p.compressed.is_some()));
    }

    #[test]
    fn the_best_accepted_coding_is_chosen() {
        for (accept, coding) in [
            (None, Coding::Identity),
            (Some(""), Coding::Identity),
            (Some("gzip, deflate, br"), Coding::Brotli),
            (Some("gzip, deflate, br, zstd"), Coding::Brotli),
            (Some("gzip"), Coding::Gzip),
            (Some("br;q=0, gzip;q=0.5"), Coding::Gzip),
            (Some("BR"), Coding::Brotli),
            (Some("*"), Coding::Brotli),
            (Some("*;q=0"), Coding::Identity),
            (Some("gzip;q=0, *"), Coding::Brotli),
            (Some("identity"), Coding::Identity),
            (Some("deflate"), Coding::Identity),
            (Some(";;, ,q=x;br"), Coding::Identity),
            (Some("br;q=nonsense"), Coding::Brotli),
        ] {
            assert_eq!(negotiate(accept), coding, "{accept:?}");
        }
    }

    #[test]
    fn compressed_pages_decompress_to_the_page() {
        use std::io::Read;
        let page = "<!DOCTYPE html><p>Serverless Stories</p>".repeat(50);
        let mut unbrotli = Vec::new();
        brotli::BrotliDecompress(
            &mut &compress_brotli(page.as_bytes()).unwrap()[..],
            &mut unbrotli,
        )
        .unwrap();
        assert_eq!(unbrotli, page.as_bytes());
        let mut ungzip = Vec::new();
        flate2::read::GzDecoder::new(&compress_gzip(page.as_bytes()).unwrap()[..])
            .read_to_end(&mut ungzip)
            .unwrap();
        assert_eq!(ungzip, page.as_bytes());
    }

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
