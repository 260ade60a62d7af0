//! Gives server-function errors their real HTTP status, and plain axum handlers one way to
//! answer with JSON or an `ApiError`.
//!
//! The server-function machinery answers every error with 500; our `ApiError` knows better
//! (400 for bad input, 503 for an unavailable store). This layer applies `ApiError::status()`
//! to those answers, so bad input is never reported as a server failure.

use app::error::ApiError;
use axum::{
    body::Body,
    extract::Request,
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use http::StatusCode;
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;

/// A handler's answer as JSON: the value with 200, or the error with its own status.
pub fn json_answer<T: serde::Serialize>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(err) => (err.status(), Json(err)).into_response(),
    }
}

/// Error bodies are small JSON objects; anything larger is not ours.
const MAX_ERROR_BODY: usize = 64 * 1024;

pub async fn apply_api_error_status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_ERROR_BODY).await {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::error!(error = %err, "could not read a server function error body");
            return Response::from_parts(parts, Body::empty());
        }
    };
    match serde_json::from_slice::<ApiError>(&bytes) {
        Ok(err) => parts.status = err.status(),
        Err(_) => tracing::error!("server function error body is not an ApiError"),
    }
    Response::from_parts(parts, Body::from(bytes))
}
