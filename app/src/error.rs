//! The one error type every server function returns, and its single mapping to HTTP statuses.
//!
//! Expected results (e.g. "already subscribed") are not errors: server functions return an outcome
//! enum for those. `ApiError` is for requests that can't be served: bad input (4xx, the message says
//! what to fix) or a failure on our side (5xx, a generic message; the cause goes to the log).

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// The generic message for anything that is our fault.
pub const SOMETHING_WENT_WRONG: &str = "Something went wrong. Please try again.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorKind {
    /// The request itself is unusable (missing field, undecodable body, invalid value).
    BadRequest,
    /// Wrong username/password, or an invalid/expired ID token.
    Unauthorized,
    /// Signed correctly but not allowed (not in the admin group), or a bad signature.
    Forbidden,
    /// The temporary credentials have expired: get new ones and retry.
    ExpiredCredentials,
    /// Too many attempts; the message says when to try again.
    TooManyRequests,
    /// A backend (the store) is unreachable or failing; retrying later may work.
    Unavailable,
    /// A bug or a failure with no better description.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub error: ApiErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            error: ApiErrorKind::BadRequest,
            message: message.into(),
        }
    }

    pub fn new(error: ApiErrorKind, message: impl Into<String>) -> Self {
        Self {
            error,
            message: message.into(),
        }
    }

    pub fn unavailable() -> Self {
        Self {
            error: ApiErrorKind::Unavailable,
            message: SOMETHING_WENT_WRONG.to_owned(),
        }
    }

    pub fn internal() -> Self {
        Self {
            error: ApiErrorKind::Internal,
            message: SOMETHING_WENT_WRONG.to_owned(),
        }
    }

    /// The HTTP status this error is answered with (applied by the server's API layer).
    pub fn status(&self) -> http::StatusCode {
        match self.error {
            ApiErrorKind::BadRequest => http::StatusCode::BAD_REQUEST,
            ApiErrorKind::Unauthorized => http::StatusCode::UNAUTHORIZED,
            ApiErrorKind::Forbidden | ApiErrorKind::ExpiredCredentials => {
                http::StatusCode::FORBIDDEN
            }
            ApiErrorKind::TooManyRequests => http::StatusCode::TOO_MANY_REQUESTS,
            ApiErrorKind::Unavailable => http::StatusCode::SERVICE_UNAVAILABLE,
            ApiErrorKind::Internal => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn is_bad_request(&self) -> bool {
        self.error == ApiErrorKind::BadRequest
    }
}

/// The underlying failure a port's error keeps as its `source()` (an SDK error, a database
/// error, or a sentence where there is no error value).
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An error and its causes on one line, e.g. "the store is unavailable: the database failed:
/// disk I/O error": what a log line needs (an error's own `Display` stops at itself).
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    /// Errors raised by the server-function machinery itself. On the server these are almost all
    /// about what the client sent (undecodable body, missing argument); on the client they are
    /// transport failures.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::MissingArg(message) => {
                Self::bad_request(format!("The request could not be read: {message}"))
            }
            ServerFnErrorErr::Deserialization(message) if cfg!(feature = "ssr") => {
                Self::bad_request(format!("The request could not be read: {message}"))
            }
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => Self::unavailable(),
            _ => Self::internal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_a_flat_json_object_for_external_clients() {
        let json = serde_json_like(&ApiError::bad_request("Please enter your email address."));
        assert_eq!(
            json,
            r#"{"error":"bad_request","message":"Please enter your email address."}"#
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(ApiError::bad_request("x").status(), 400);
        assert_eq!(ApiError::unavailable().status(), 503);
        assert_eq!(ApiError::internal().status(), 500);
        assert_eq!(ApiError::unavailable().message, SOMETHING_WENT_WRONG);
    }

    #[test]
    fn missing_arguments_are_bad_requests() {
        let err =
            ApiError::from_server_fn_error(ServerFnErrorErr::Args("missing field `email`".into()));
        assert!(err.is_bad_request());
        assert!(err.message.contains("missing field `email`"));
    }

    fn serde_json_like(err: &ApiError) -> String {
        let bytes = <ApiError as FromServerFnError>::ser(err);
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
