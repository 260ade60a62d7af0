//! The HTTP client identity providers are reached with: HTTPS with the system's root certificates
//! (and plain HTTP, for an emulator), over the hyper + rustls stack the AWS SDK already brings.
//! It never follows redirects (hyper's client doesn't), and bounds every answer in size and time:
//! a provider's URLs come from its discovery document, which must not be able to make us fetch
//! anything unbounded.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use std::{net::IpAddr, time::Duration};

pub type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// How long one exchange may take, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A discovery document, a JWKS or a token answer is a few kilobytes.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

pub fn client() -> Result<Client, String> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| format!("loading the system's root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}

/// Sends `request` and reads the whole answer (any status), within [`TIMEOUT`] and
/// [`MAX_ANSWER_BYTES`]. Errors say which URL and what went wrong.
pub async fn send(
    client: &Client,
    request: http::Request<Vec<u8>>,
) -> Result<http::Response<Vec<u8>>, String> {
    let (parts, body) = request.into_parts();
    let (method, uri) = (parts.method.clone(), parts.uri.clone());
    let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
    let exchange = async {
        let response = client.request(request).await.map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>(http::Response::from_parts(parts, body.to_vec()))
    };
    match tokio::time::timeout(TIMEOUT, exchange).await {
        Ok(result) => result.map_err(|e| format!("{method} {uri}: {e}")),
        Err(_) => Err(format!("{method} {uri}: no answer within {TIMEOUT:?}")),
    }
}

/// Whether a provider URL may be used: HTTPS, or (when `plain_loopback`) plain HTTP to this
/// machine only (a provider in a test, or a tunnel). Anything else over plain HTTP could be
/// read or changed on the way, and a token's signature would prove nothing.
pub fn is_safe_provider_url(url: &str, plain_loopback: bool) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    match (uri.scheme_str(), uri.host()) {
        (Some("https"), Some(_)) => true,
        (Some("http"), Some(host)) => plain_loopback && is_loopback(host),
        _ => false,
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_safe_provider_url;

    #[test]
    fn https_anywhere_and_plain_http_only_on_loopback() {
        for safe in [
            "https://login.example.com/",
            "https://idp.example.com:8443/realms/x",
            "http://127.0.0.1:9000",
            "http://127.8.9.10/x",
            "http://localhost:3000/",
            "http://[::1]:8080/",
        ] {
            assert!(is_safe_provider_url(safe, true), "{safe}");
            assert_eq!(
                is_safe_provider_url(safe, false),
                safe.starts_with("https://")
            );
        }
        for unsafe_url in [
            "http://login.example.com/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost.example.com/",
            "ftp://127.0.0.1/",
            "file:///etc/passwd",
            "not a url",
            "",
        ] {
            assert!(!is_safe_provider_url(unsafe_url, true), "{unsafe_url}");
        }
    }
}
