//! Newsletter subscription: the outcome type shared by client and server, the browser's call and
//! the server's handling of it.

use crate::{error::ApiError, subscriber_email::SubscriberEmail};
use serde::{Deserialize, Serialize};

pub const SUBSCRIBED_MESSAGE: &str = "You have successfully subscribed to the newsletter!";
pub const ALREADY_SUBSCRIBED_MESSAGE: &str = "You are already subscribed.";
pub const CONFIRMATION_SENT_MESSAGE: &str =
    "Almost done: check your inbox to confirm your subscription.";
pub const TOO_MANY_ATTEMPTS: &str = "Too many attempts. Please wait a minute and try again.";

/// The expected results of a subscribe. Invalid input and failures are `ApiError`s (4xx/5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscribeOutcome {
    Subscribed,
    AlreadySubscribed,
    /// Double opt-in: a confirmation mail is on its way (or was sent a moment ago).
    ConfirmationSent,
}

impl SubscribeOutcome {
    pub fn message(self) -> &'static str {
        match self {
            Self::Subscribed => SUBSCRIBED_MESSAGE,
            Self::AlreadySubscribed => ALREADY_SUBSCRIBED_MESSAGE,
            Self::ConfirmationSent => CONFIRMATION_SENT_MESSAGE,
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
    use crate::subscriber_email::InvalidEmail;

    pub const QUERY_KEY: &str = "subscribe";
    pub const EMAIL_KEY: &str = super::EMAIL_FIELD;
    /// Longer input is not echoed back (it can't be valid, and URLs have practical limits).
    const MAX_ECHOED_CHARS: usize = 512;

    pub fn code(result: &SubscribeResult, input: &str) -> &'static str {
        match result {
            Ok(SubscribeOutcome::Subscribed) => "subscribed",
            Ok(SubscribeOutcome::AlreadySubscribed) => "already-subscribed",
            Ok(SubscribeOutcome::ConfirmationSent) => "check-inbox",
            Err(err) if err.error == crate::error::ApiErrorKind::TooManyRequests => "too-many",
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
            "check-inbox" => Ok(SubscribeOutcome::ConfirmationSent),
            "missing" => invalid(InvalidEmail::Missing),
            "too-long" => invalid(InvalidEmail::TooLong),
            "invalid" => invalid(InvalidEmail::Malformed),
            "error" => Err(ApiError::unavailable()),
            "too-many" => Err(ApiError::new(
                crate::error::ApiErrorKind::TooManyRequests,
                TOO_MANY_ATTEMPTS,
            )),
            _ => return None,
        })
    }

    /// The input to put back into the form after this result, if any.
    pub fn echoed_input<'a>(result: &SubscribeResult, input: &'a str) -> Option<&'a str> {
        (result.is_err() && !input.is_empty() && input.chars().count() <= MAX_ECHOED_CHARS)
            .then_some(input)
    }
}

/// The browser's call of `POST /api/subscribe` (a form-encoded `email`; JSON back, an
/// [`ApiError`] body on failure).
pub mod client {
    use super::*;

    /// Subscribes `email`; a network failure is the generic failure (what was typed stays).
    pub async fn subscribe(email: &str) -> SubscribeResult {
        crate::api_client::post_form_for_variant(PATH, &[(EMAIL_FIELD, email)]).await
    }
}

/// Where the newsletter form posts, with or without JavaScript.
pub const PATH: &str = "/api/subscribe";

/// The form field with the address (`SubscribeForm::email` on the server).
pub const EMAIL_FIELD: &str = "email";

/// A field people never see or fill (hidden from sight, screen readers and the tab order), which
/// form-filling bots do: a subscribe with it filled gets the normal answer and no write.
pub const HONEYPOT_FIELD: &str = "website";

/// The server's side of a subscribe: the form, and (for a plain form post) where to send the
/// browser. Storing and mailing is the server crate's `subscriptions`; the HTTP handler is its
/// `subscribe_api`: a plain axum route, not a
/// server function, because this is the one call made at volume and the generic server-function
/// stack (reactive owner, contexts, `serde_qs`) was a quarter of its CPU.
#[cfg(feature = "ssr")]
pub mod server_side {
    use super::*;

    /// The request body: a form with the address as typed (and the honeypot, if the form sent
    /// it: only a plain form post does).
    #[derive(Debug, Deserialize)]
    pub struct SubscribeForm {
        pub email: String,
        #[serde(default)]
        pub website: String,
    }

    impl SubscribeForm {
        /// Filled in by a bot (see [`HONEYPOT_FIELD`]).
        pub fn is_bot(&self) -> bool {
            !self.website.trim().is_empty()
        }
    }

    /// Reads the form-encoded body; anything unreadable is a 400 that says why.
    pub fn read_form(body: &[u8]) -> Result<SubscribeForm, ApiError> {
        serde_urlencoded::from_bytes(body)
            .map_err(|err| ApiError::bad_request(format!("The request could not be read: {err}")))
    }

    /// A plain HTML form post (no JavaScript) wants a page, not JSON: where to send the browser
    /// back to the newsletter form, with the result in the URL (post/redirect/get).
    pub fn no_js_location(input: &str, result: &SubscribeResult) -> String {
        let mut location = format!("/?{}={}", no_js::QUERY_KEY, no_js::code(result, input));
        if let Some(input) = no_js::echoed_input(result, input) {
            let encoded =
                percent_encoding::utf8_percent_encode(input, percent_encoding::NON_ALPHANUMERIC);
            location.push_str(&format!("&{}={encoded}", no_js::EMAIL_KEY));
        }
        location.push_str("#newsletter");
        location
    }
}

#[cfg(test)]
mod tests {
    use super::no_js::*;
    use super::*;
    use crate::subscriber_email::InvalidEmail;

    #[test]
    fn the_client_reads_every_answer_of_the_endpoint() {
        let read_response = crate::api_client::read_response::<SubscribeOutcome>;
        assert_eq!(
            read_response(200, "\"subscribed\""),
            Ok(SubscribeOutcome::Subscribed)
        );
        assert_eq!(
            read_response(200, "\"already_subscribed\""),
            Ok(SubscribeOutcome::AlreadySubscribed)
        );
        let invalid = ApiError::bad_request(InvalidEmail::Malformed.to_string());
        let body = serde_json::to_string(&invalid).expect("serializable");
        assert_eq!(read_response(400, &body), Err(invalid));
        // Not ours (a proxy's page, a cut-off body): the generic failure, never a panic.
        assert_eq!(
            read_response(502, "<html>Bad Gateway</html>"),
            Err(ApiError::unavailable())
        );
        assert_eq!(read_response(200, "\"subscr"), Err(ApiError::unavailable()));
        assert_eq!(read_response(200, ""), Err(ApiError::unavailable()));
    }

    #[test]
    fn every_result_survives_the_no_js_round_trip() {
        let cases = [
            (Ok(SubscribeOutcome::Subscribed), "a@example.com"),
            (Ok(SubscribeOutcome::AlreadySubscribed), "a@example.com"),
            (Ok(SubscribeOutcome::ConfirmationSent), "a@example.com"),
            (Err(ApiError::unavailable()), "a@example.com"),
            (
                Err(ApiError::new(
                    crate::error::ApiErrorKind::TooManyRequests,
                    TOO_MANY_ATTEMPTS,
                )),
                "a@example.com",
            ),
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
    fn the_form_is_read_or_refused_with_a_reason() {
        use super::server_side::read_form;
        let sent = crate::api_client::form_encode(&[(super::EMAIL_FIELD, "a+b@example.com")]);
        assert_eq!(read_form(sent.as_bytes()).unwrap().email, "a+b@example.com");
        assert_eq!(read_form(b"other=1&email=x").unwrap().email, "x");
        let sent = crate::api_client::form_encode(&[
            (super::EMAIL_FIELD, "a@example.com"),
            (super::HONEYPOT_FIELD, "https://spam.example"),
        ]);
        assert!(read_form(sent.as_bytes()).unwrap().is_bot());
        assert!(!read_form(b"email=a%40example.com&website=")
            .unwrap()
            .is_bot());
        for unreadable in [&b""[..], b"name=ada", br#"{"email":"a@example.com"}"#] {
            let err = read_form(unreadable).unwrap_err();
            assert!(err.is_bad_request(), "{unreadable:?}");
            assert!(err.message.contains("email"), "{}", err.message);
        }
        // Undecodable bytes still give a string, which then fails validation (a 400, not a 500).
        assert!(read_form(&[b'e', b'm', b'a', b'i', b'l', b'=', 0xff]).is_ok());
    }

    #[test]
    fn a_plain_form_post_goes_back_to_the_form_with_the_outcome() {
        use super::server_side::no_js_location;
        assert_eq!(
            no_js_location("a@example.com", &Ok(SubscribeOutcome::Subscribed)),
            "/?subscribe=subscribed#newsletter"
        );
        assert_eq!(
            no_js_location("a b&c", &Err(ApiError::bad_request("x"))),
            "/?subscribe=invalid&email=a%20b%26c#newsletter"
        );
    }

    #[test]
    fn unknown_codes_show_nothing() {
        assert_eq!(result_from_code("<script>"), None);
    }
}
