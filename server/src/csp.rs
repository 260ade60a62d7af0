//! The Content Security Policy, without `'unsafe-inline'` scripts: each HTML page's own inline
//! scripts (Leptos's hydration bootstrap and resource data) are allowed by their SHA-256 hashes,
//! computed from the page as it is sent. A kept page (see `page_cache`) keeps the header made for
//! it, so the hashes cost one pass over a page when it is rendered, not per request. Any other
//! inline script — an injected one — does not run.
//!
//! Other answers get the same policy with no hashes (set by `http_stack` when absent).

use axum::{
    body::{to_bytes, Body},
    extract::Request,
    middleware::Next,
    response::Response,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use http::{header, HeaderValue};
use sha2::{Digest, Sha256};

/// Pages are a few KB; a bigger HTML answer is not one of ours to hash.
const MAX_HTML_BYTES: usize = 1024 * 1024;

/// The policy with the given script hashes (`'sha256-…'` sources) allowed. `'wasm-unsafe-eval'`
/// lets the page compile its WebAssembly. The live-reload socket of `cargo leptos watch`
/// (`LEPTOS_WATCH` set) is allowed only then.
pub fn policy(script_hashes: &[String]) -> String {
    let mut scripts = String::from("'self' 'wasm-unsafe-eval'");
    for hash in script_hashes {
        scripts.push_str(" '");
        scripts.push_str(hash);
        scripts.push('\'');
    }
    let connect = if std::env::var_os("LEPTOS_WATCH").is_some() {
        "'self' ws://127.0.0.1:* ws://localhost:*"
    } else {
        "'self'"
    };
    format!(
        "default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; object-src 'none'; base-uri 'self'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// `sha256-<base64>` of the text of every inline `<script>` (one without `src`) in `html`, in
/// order, without repeats.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        rest = &rest[start + "<script".len()..];
        // `<scripts…>` or similar is not a script tag.
        if !rest.starts_with(|c: char| c == '>' || c.is_ascii_whitespace()) {
            continue;
        }
        let Some(tag_end) = end_of_tag(rest) else {
            break;
        };
        let attributes = &rest[..tag_end];
        rest = &rest[tag_end + 1..];
        let Some(close) = rest.find("</script") else {
            break;
        };
        let text = &rest[..close];
        rest = &rest[close..];
        if has_src(attributes) {
            continue;
        }
        let hash = format!(
            "sha256-{}",
            STANDARD.encode(Sha256::digest(text.as_bytes()))
        );
        if !hashes.contains(&hash) {
            hashes.push(hash);
        }
    }
    hashes
}

/// Where the open tag ends (its `>`), skipping quoted attribute values.
fn end_of_tag(tag: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in tag.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn has_src(attributes: &str) -> bool {
    attributes
        .split(|c: char| c.is_ascii_whitespace())
        .any(|attribute| {
            let name = attribute.split('=').next().unwrap_or("");
            name.eq_ignore_ascii_case("src")
        })
}

/// Sets the policy of HTML answers from their inline scripts.
pub async fn hash_inline_scripts(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let is_html = crate::http_stack::is_html(response.headers());
    if !is_html || response.headers().contains_key(header::CONTENT_ENCODING) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let body = match to_bytes(body, MAX_HTML_BYTES).await {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "cannot read an HTML answer to hash its scripts");
            return Response::builder()
                .status(http::StatusCode::INTERNAL_SERVER_ERROR)
                .body(Body::from("The page could not be rendered."))
                .unwrap_or_default();
        }
    };
    let hashes = inline_script_hashes(&String::from_utf8_lossy(&body));
    match HeaderValue::from_str(&policy(&hashes)) {
        Ok(value) => {
            parts.headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
        // Unreachable: the policy is ASCII. Without it the default (no inline scripts) applies.
        Err(err) => tracing::error!(error = %err, "cannot build the page's policy"),
    }
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_skipped() {
        let html = r#"<head><script src="/pkg/app.js"></script>
            <script type="module" nonce="n">import("/pkg/app.js").then(m => m.hydrate())</script>
            <script>__RESOLVED_RESOURCES = [];</script><scripts>not one</scripts>
            <script data-x="a>b">x()</script><script>__RESOLVED_RESOURCES = [];</script>"#;
        let hashes = inline_script_hashes(html);
        let expected: Vec<String> = [
            r#"import("/pkg/app.js").then(m => m.hydrate())"#,
            "__RESOLVED_RESOURCES = [];",
            "x()",
        ]
        .iter()
        .map(|text| {
            format!(
                "sha256-{}",
                STANDARD.encode(Sha256::digest(text.as_bytes()))
            )
        })
        .collect();
        assert_eq!(hashes, expected);
        // The CSP spec's own example: `alert('Hello, world.');`.
        assert_eq!(
            inline_script_hashes("<script>alert('Hello, world.');</script>"),
            ["sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng="]
        );
    }

    #[test]
    fn the_policy_never_allows_inline_scripts_wholesale() {
        let policy = policy(&["sha256-abc".to_owned()]);
        assert!(!policy.contains("unsafe-inline"));
        assert!(policy.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-abc';"));
        assert!(inline_script_hashes("<script>unterminated").is_empty());
    }
}
