//! Newsletter subscription: the outcome type shared by client and server, and the server function.

use crate::{email::SubscriberEmail, error::ApiError};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub const SUBSCRIBED_MESSAGE: &str = "You have successfully subscribed to the newsletter!";
pub const ALREADY_SUBSCRIBED_MESSAGE: &str = "You are already subscribed.";

/// The expected results of a subscribe. Invalid input and failures are `ApiError`s (4xx/5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscribeOutcome {
    Subscribed,
    AlreadySubscribed,
}

impl SubscribeOutcome {
    pub fn message(self) -> &'static str {
        match self {
            Self::Subscribed => SUBSCRIBED_MESSAGE,
            Self::AlreadySubscribed => ALREADY_SUBSCRIBED_MESSAGE,
        }
    }
}

/// What a subscribe attempt ended with, as the page shows it.
pub type SubscribeResult = Result<SubscribeOutcome, ApiError>;

/// Without JavaScript the browser posts the form itself and follows a redirect back to the home
/// page; the result travels in the query string as a code (`?subscribe=<code>`), with the typed
/// address when the visitor has to try again, so nothing they typed is lost.
pub mod no_js {
    use super::*;
    use crate::email::InvalidEmail;

    pub const QUERY_KEY: &str = "subscribe";
    pub const EMAIL_KEY: &str = "email";
    /// Longer input is not echoed back (it can't be valid, and URLs have practical limits).
    const MAX_ECHOED_CHARS: usize = 512;

    pub fn code(result: &SubscribeResult, input: &str) -> &'static str {
        match result {
            Ok(SubscribeOutcome::Subscribed) => "subscribed",
            Ok(SubscribeOutcome::AlreadySubscribed) => "already-subscribed",
            Err(err) if err.is_bad_request() => match SubscriberEmail::parse(input) {
                Err(InvalidEmail::Missing) => "missing",
                Err(InvalidEmail::TooLong) => "too-long",
                Err(InvalidEmail::Malformed) | Ok(_) => "invalid",
            },
            Err(_) => "error",
        }
    }

    pub fn result_from_code(code: &str) -> Option<SubscribeResult> {
        let invalid = |reason: InvalidEmail| Err(ApiError::bad_request(reason.to_string()));
        Some(match code {
            "subscribed" => Ok(SubscribeOutcome::Subscribed),
            "already-subscribed" => Ok(SubscribeOutcome::AlreadySubscribed),
            "missing" => invalid(InvalidEmail::Missing),
            "too-long" => invalid(InvalidEmail::TooLong),
            "invalid" => invalid(InvalidEmail::Malformed),
            "error" => Err(ApiError::unavailable()),
            _ => return None,
        })
    }

    /// The input to put back into the form after this result, if any.
    pub fn echoed_input<'a>(result: &SubscribeResult, input: &'a str) -> Option<&'a str> {
        (result.is_err() && !input.is_empty() && input.chars().count() <= MAX_ECHOED_CHARS)
            .then_some(input)
    }
}

#[server(name = Subscribe, prefix = "/api", endpoint = "subscribe")]
pub async fn subscribe(email: String) -> Result<SubscribeOutcome, ApiError> {
    let result = server::subscribe(&email).await;
    server::redirect_plain_form_post(&email, &result);
    result
}

#[cfg(feature = "ssr")]
mod server {
    use super::*;
    use crate::store::{Insert, SharedStore};

    pub async fn subscribe(input: &str) -> SubscribeResult {
        let email =
            SubscriberEmail::parse(input).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let store: SharedStore = crate::error::server_context("subscriber store")?;
        match store
            .subscribe(&email, time::OffsetDateTime::now_utc())
            .await
        {
            Ok(Insert::Added) => {
                tracing::info!("new subscriber");
                Ok(SubscribeOutcome::Subscribed)
            }
            Ok(Insert::AlreadyPresent) => Ok(SubscribeOutcome::AlreadySubscribed),
            Err(err) => {
                tracing::error!(error = %err, "subscribe failed");
                Err(ApiError::unavailable())
            }
        }
    }

    /// A plain HTML form post (no JavaScript) wants a page, not JSON: send the browser back to
    /// the newsletter form with the result in the URL (post/redirect/get).
    pub fn redirect_plain_form_post(email: &str, result: &SubscribeResult) {
        let accepts_html = use_context::<http::request::Parts>()
            .and_then(|parts| parts.headers.get(http::header::ACCEPT).cloned())
            .and_then(|accept| accept.to_str().map(|a| a.contains("text/html")).ok())
            .unwrap_or(false);
        if !accepts_html {
            return;
        }
        let mut location = format!("/?{}={}", no_js::QUERY_KEY, no_js::code(result, email));
        if let Some(input) = no_js::echoed_input(result, email) {
            let encoded =
                percent_encoding::utf8_percent_encode(input, percent_encoding::NON_ALPHANUMERIC);
            location.push_str(&format!("&{}={encoded}", no_js::EMAIL_KEY));
        }
        location.push_str("#newsletter");
        leptos_axum::redirect(&location);
    }
}

#[cfg(test)]
mod tests {
    use super::no_js::*;
    use super::*;
    use crate::email::InvalidEmail;

    #[test]
    fn every_result_survives_the_no_js_round_trip() {
        let cases = [
            (Ok(SubscribeOutcome::Subscribed), "a@example.com"),
            (Ok(SubscribeOutcome::AlreadySubscribed), "a@example.com"),
            (Err(ApiError::unavailable()), "a@example.com"),
            (
                Err(ApiError::bad_request(InvalidEmail::Missing.to_string())),
                "  ",
            ),
            (
                Err(ApiError::bad_request(InvalidEmail::Malformed.to_string())),
                "nope",
            ),
            (
                Err(ApiError::bad_request(InvalidEmail::TooLong.to_string())),
                &format!("{}@example.com", "a".repeat(300)),
            ),
        ];
        for (result, input) in cases {
            assert_eq!(
                result_from_code(code(&result, input)),
                Some(result),
                "{input}"
            );
        }
    }

    #[test]
    fn only_failed_input_is_echoed_and_only_when_short() {
        let failed = Err(ApiError::unavailable());
        assert_eq!(
            echoed_input(&failed, "a@example.com"),
            Some("a@example.com")
        );
        assert_eq!(
            echoed_input(&Ok(SubscribeOutcome::Subscribed), "a@example.com"),
            None
        );
        assert_eq!(echoed_input(&failed, &"a".repeat(10_000)), None);
    }

    #[test]
    fn unknown_codes_show_nothing() {
        assert_eq!(result_from_code("<script>"), None);
    }
}
