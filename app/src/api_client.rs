//! The browser's calls of the site's own API with `fetch`, in the wire format of its endpoints:
//! form-encoded arguments (or a query string) in, JSON out, an [`ApiError`] body on failure.
//! Calls name the site's paths (`/api/subscribe`); under a REST API stage they go under it
//! (`page_location`), and a signed request is sent to the path it signed.
//! Leptos's generic server-function client (`ServerAction`, `ActionForm`, a custom `Client` for
//! signing) brought `serde_qs`, `gloo-net`, `wasm-streams` and `http`'s URI code into the wasm;
//! the endpoints stay the same on the server.

use crate::{error::ApiError, page_location::site_path, sigv4_signer::SignedRequest};
use serde::de::DeserializeOwned;
use std::time::SystemTime;

/// What an answer means: a 2xx carries the value, anything else an `ApiError` (or, if the body
/// is not one, e.g. a proxy's error page, the generic failure).
pub fn read_response<T: DeserializeOwned>(status: u16, body: &str) -> Result<T, ApiError> {
    if (200..300).contains(&status) {
        serde_json::from_str(body).map_err(|_| ApiError::unavailable())
    } else {
        Err(serde_json::from_str::<ApiError>(body).unwrap_or_else(|_| ApiError::unavailable()))
    }
}

/// `name=value&…`, each part percent-encoded (what a browser's form post sends).
pub fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes one form component.
fn encode(component: &str) -> String {
    percent_encoding::utf8_percent_encode(component, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// POSTs `fields` as a form to `path`.
pub async fn post_form<T: DeserializeOwned>(
    path: &str,
    fields: &[(&str, &str)],
) -> Result<T, ApiError> {
    let (status, body) = send_form(path, fields).await?;
    read_response(status, &body)
}

/// POSTs `fields` as a form to `path` whose answer is one of `T`'s unit variants (a JSON string,
/// e.g. `"subscribed"`). In the browser the answer is read with the browser's `JSON.parse`, not
/// serde_json: the home page's newsletter form calls this, and serde_json's parser and error
/// formatting would be a tenth of the module every page loads (docs/performance.md).
pub async fn post_form_for_variant<T: DeserializeOwned>(
    path: &str,
    fields: &[(&str, &str)],
) -> Result<T, ApiError> {
    let (status, body) = send_form(path, fields).await?;
    #[cfg(feature = "hydrate")]
    return browser_json::read_variant_response(status, &body);
    #[cfg(not(feature = "hydrate"))]
    read_response(status, &body)
}

const FORM: &str = "application/x-www-form-urlencoded";

async fn send_form(path: &str, fields: &[(&str, &str)]) -> Result<(u16, String), ApiError> {
    let headers = [("content-type", FORM)];
    send(
        "POST",
        &site_path(path),
        &headers,
        Some(&form_encode(fields)),
    )
    .await
}

/// The signature's headers, for `send`.
fn headers_of(signed: &SignedRequest) -> Vec<(&str, &str)> {
    signed
        .headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

/// Sends a signed GET.
pub async fn get<T: DeserializeOwned>(signed: &SignedRequest) -> Result<T, ApiError> {
    let (status, body) = send("GET", &signed.path_and_query, &headers_of(signed), None).await?;
    read_response(status, &body)
}

/// Sends a signed GET; the answer as text (e.g. a CSV export).
pub async fn get_text(signed: &SignedRequest) -> Result<String, ApiError> {
    let (status, body) = send("GET", &signed.path_and_query, &headers_of(signed), None).await?;
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        read_response::<String>(status, &body)
    }
}

/// Sends a signed POST of the form `body` (what was signed).
pub async fn post_form_signed<T: DeserializeOwned>(
    signed: &SignedRequest,
    body: &str,
) -> Result<T, ApiError> {
    let mut headers = headers_of(signed);
    headers.push(("content-type", FORM));
    let (status, answer) = send("POST", &signed.path_and_query, &headers, Some(body)).await?;
    read_response(status, &answer)
}

/// The host (and port) of the page, which signed requests go to.
pub fn page_host() -> Result<String, ApiError> {
    #[cfg(feature = "hydrate")]
    return web_sys::window()
        .and_then(|window| window.location().host().ok())
        .ok_or_else(ApiError::internal);
    #[cfg(not(feature = "hydrate"))]
    Err(ApiError::internal())
}

/// The time now. In the browser from the JS clock: `SystemTime::now()` panics on wasm32.
pub fn now() -> SystemTime {
    #[cfg(feature = "hydrate")]
    return std::time::UNIX_EPOCH + std::time::Duration::from_millis(js_sys::Date::now() as u64);
    #[cfg(not(feature = "hydrate"))]
    SystemTime::now()
}

/// Sends the request with `fetch`: the answer's status and body; a network failure is the
/// generic failure.
#[cfg(feature = "hydrate")]
async fn send(
    method: &str,
    url: &str,
    extra_headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<(u16, String), ApiError> {
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    let failed = |_: JsValue| ApiError::unavailable();
    let window = web_sys::window().ok_or_else(ApiError::unavailable)?;
    let headers = web_sys::Headers::new().map_err(failed)?;
    headers.set("accept", "application/json").map_err(failed)?;
    for (name, value) in extra_headers {
        headers.set(name, value).map_err(failed)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(&headers);
    if let Some(body) = body {
        init.set_body(&JsValue::from(body));
    }
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(failed)?
        .dyn_into()
        .map_err(failed)?;
    let text = JsFuture::from(response.text().map_err(failed)?)
        .await
        .map_err(failed)?
        .as_string()
        .unwrap_or_default();
    Ok((response.status(), text))
}

/// Answers read with the browser's `JSON.parse` (see `post_form_for_variant`).
#[cfg(feature = "hydrate")]
mod browser_json {
    use super::variant;
    use crate::error::{ApiError, ApiErrorKind};
    use serde::de::DeserializeOwned;
    use wasm_bindgen::JsValue;

    /// A 2xx carries a variant's name; anything else an `ApiError`'s `error` and `message`.
    pub fn read_variant_response<T: DeserializeOwned>(
        status: u16,
        body: &str,
    ) -> Result<T, ApiError> {
        let json = js_sys::JSON::parse(body).map_err(|_| ApiError::unavailable())?;
        if (200..300).contains(&status) {
            return json
                .as_string()
                .and_then(|name| variant(&name))
                .ok_or_else(ApiError::unavailable);
        }
        let field = |name: &str| {
            js_sys::Reflect::get(&json, &JsValue::from_str(name))
                .ok()
                .and_then(|value| value.as_string())
        };
        match (
            field("error").and_then(|kind| variant::<ApiErrorKind>(&kind)),
            field("message"),
        ) {
            (Some(kind), Some(message)) => Err(ApiError::new(kind, message)),
            _ => Err(ApiError::unavailable()),
        }
    }
}

/// The unit variant of `T` serde calls `name`, read without a JSON parser (the names stay in one
/// place: the derives).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // the browser's reader; tests
fn variant<T: DeserializeOwned>(name: &str) -> Option<T> {
    use serde::de::value::{Error, StrDeserializer};
    T::deserialize(StrDeserializer::<Error>::new(name)).ok()
}

/// On the server there is no browser to fetch from: island event handlers and effects, the only
/// callers, run in the browser.
#[cfg(not(feature = "hydrate"))]
async fn send(
    _method: &str,
    _url: &str,
    _headers: &[(&str, &str)],
    _body: Option<&str>,
) -> Result<(u16, String), ApiError> {
    Err(ApiError::internal())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiErrorKind;

    #[test]
    fn forms_are_encoded_so_every_character_arrives_as_typed() {
        assert_eq!(
            form_encode(&[("email", "a+b@x.com"), ("password", "p&q=r s%ü")]),
            "email=a%2Bb%40x%2Ecom&password=p%26q%3Dr%20s%25%C3%BC"
        );
        let decoded: Vec<(String, String)> =
            serde_urlencoded::from_str(&form_encode(&[("k", "a+b &=%ü")])).expect("decodes");
        assert_eq!(decoded, [("k".to_owned(), "a+b &=%ü".to_owned())]);
    }

    #[test]
    fn the_browser_reads_variants_by_the_names_serde_writes() {
        use crate::subscribe::SubscribeOutcome;
        let kinds = [
            ApiErrorKind::BadRequest,
            ApiErrorKind::Unauthorized,
            ApiErrorKind::Forbidden,
            ApiErrorKind::ExpiredCredentials,
            ApiErrorKind::TooManyRequests,
            ApiErrorKind::Unavailable,
            ApiErrorKind::Internal,
        ];
        for kind in kinds {
            let name: String = serde_json::from_value(serde_json::json!(kind)).expect("a name");
            assert_eq!(variant::<ApiErrorKind>(&name), Some(kind));
        }
        for outcome in [
            SubscribeOutcome::Subscribed,
            SubscribeOutcome::AlreadySubscribed,
            SubscribeOutcome::ConfirmationSent,
        ] {
            let name: String = serde_json::from_value(serde_json::json!(outcome)).expect("a name");
            assert_eq!(variant::<SubscribeOutcome>(&name), Some(outcome));
        }
        assert_eq!(variant::<SubscribeOutcome>("Subscribed"), None);
        assert_eq!(variant::<SubscribeOutcome>(""), None);
    }

    #[test]
    fn every_answer_is_read_as_a_value_or_an_api_error() {
        assert_eq!(read_response::<String>(200, "\"ok\""), Ok("ok".to_owned()));
        let refused = ApiError::new(
            ApiErrorKind::Unauthorized,
            "Incorrect username or password.",
        );
        let body = serde_json::to_string(&refused).expect("serializable");
        assert_eq!(read_response::<String>(401, &body), Err(refused));
        // The SigV4 layer's refusals carry `error` and `message` too.
        assert_eq!(
            read_response::<String>(
                403,
                r#"{"message":"The security token included in the request is expired","error":"expired_credentials"}"#
            )
            .map_err(|e| e.error),
            Err(ApiErrorKind::ExpiredCredentials)
        );
        // Not ours (a proxy's page, a cut-off body): the generic failure, never a panic.
        assert_eq!(
            read_response::<String>(502, "<html>Bad Gateway</html>"),
            Err(ApiError::unavailable())
        );
        assert_eq!(
            read_response::<String>(200, "\"o"),
            Err(ApiError::unavailable())
        );
        assert_eq!(
            read_response::<String>(200, ""),
            Err(ApiError::unavailable())
        );
    }
}
