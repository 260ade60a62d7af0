//! `POST /api/subscribe`: the newsletter form's endpoint, with JavaScript (JSON answers) and
//! without (a plain form post, answered with a redirect back to the form).

use crate::state::AppState;
use app::{
    client_address::ClientAddress,
    error::{ApiError, ApiErrorKind},
    subscribe::{server_side, SubscribeOutcome, SubscribeResult, TOO_MANY_ATTEMPTS},
};
use axum::{
    body::Bytes,
    extract::State,
    response::{IntoResponse, Response},
    Extension,
};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use std::time::Instant;

pub async fn subscribe(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let allowed = client.is_none_or(|Extension(ClientAddress(client))| {
        state.subscribe_limit.allow(client, Instant::now())
    });
    let (input, result) = match server_side::read_form(&body) {
        Ok(form) if !allowed => {
            app::audit::subscribe_limited(client.map(|Extension(c)| c.0));
            let limited = ApiError::new(ApiErrorKind::TooManyRequests, TOO_MANY_ATTEMPTS);
            (form.email, Err(limited))
        }
        Ok(form) if form.is_bot() => {
            // The answer a person would get, and nothing stored (or mailed).
            app::audit::honeypot_filled(client.map(|Extension(c)| c.0));
            let answer = if state.subscriptions.settings().double_opt_in {
                SubscribeOutcome::ConfirmationSent
            } else {
                SubscribeOutcome::Subscribed
            };
            (form.email, Ok(answer))
        }
        Ok(form) => {
            let result = state
                .subscriptions
                .subscribe(&form.email, client.map(|Extension(c)| c.0))
                .await;
            (form.email, result)
        }
        Err(err) => (String::new(), Err(err)),
    };
    if wants_a_page(&headers) {
        redirect(&server_side::no_js_location(&input, &result))
    } else {
        json(result)
    }
}

/// A browser posting the form itself asks for HTML; the page's script asks for JSON.
fn wants_a_page(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        // Unreachable: the location is built from codes and percent-encoded input.
        Err(_) => json(Err(ApiError::internal())),
    }
}

fn json(result: SubscribeResult) -> Response {
    crate::api_errors::json_answer(result)
}
