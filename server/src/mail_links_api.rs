//! `POST /confirm` and `POST /unsubscribe`: what the buttons on the pages our mails link to do,
//! and the one-click unsubscribe of RFC 8058 that mail clients send to the `List-Unsubscribe`
//! URL. The secret is the `token` query parameter (no cookies: the link is the credential).

use crate::state::AppState;
use app::{
    client_address::ClientAddress,
    error::describe,
    mail_links::{
        outcome_location, LinkOutcome, CONFIRM_PATH, FROM_PAGE_FIELD, FROM_PAGE_VALUE, TOKEN_PARAM,
        UNSUBSCRIBE_PATH,
    },
    store::{Confirmed, Unsubscribed},
};
use axum::{
    body::Bytes,
    extract::State,
    response::{IntoResponse, Response},
    Extension,
};
use http::{header, StatusCode, Uri};

fn token(uri: &Uri) -> String {
    uri.query()
        .into_iter()
        .flat_map(|query| form_urlencoded::parse(query.as_bytes()))
        .find(|(name, _)| name == TOKEN_PARAM)
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

fn client(client: Option<Extension<ClientAddress>>) -> Option<std::net::IpAddr> {
    client.map(|Extension(ClientAddress(ip))| ip)
}

fn see_other(location: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

pub async fn confirm(
    State(state): State<AppState>,
    address: Option<Extension<ClientAddress>>,
    uri: Uri,
) -> Response {
    let outcome = match state
        .subscriptions
        .confirm(&token(&uri), client(address))
        .await
    {
        Ok(Confirmed::Confirmed(_)) => LinkOutcome::Confirmed,
        Ok(Confirmed::AlreadyConfirmed(_)) => LinkOutcome::AlreadyConfirmed,
        Ok(Confirmed::Unknown) => LinkOutcome::UnknownLink,
        Err(err) => {
            tracing::error!(error = %describe(&err), "confirming failed");
            LinkOutcome::Failed
        }
    };
    see_other(outcome_location(CONFIRM_PATH, outcome))
}

pub async fn unsubscribe(
    State(state): State<AppState>,
    address: Option<Extension<ClientAddress>>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let from_page = form_urlencoded::parse(&body)
        .any(|(name, value)| name == FROM_PAGE_FIELD && value == FROM_PAGE_VALUE);
    let source = if from_page {
        "unsubscribe page"
    } else {
        "one-click unsubscribe"
    };
    let outcome = match state
        .subscriptions
        .unsubscribe(&token(&uri), source, client(address))
        .await
    {
        Ok(Unsubscribed::Unsubscribed(_)) => LinkOutcome::Unsubscribed,
        Ok(Unsubscribed::AlreadyUnsubscribed(_)) => LinkOutcome::AlreadyUnsubscribed,
        Ok(Unsubscribed::Unknown) => LinkOutcome::UnknownLink,
        Err(err) => {
            tracing::error!(error = %describe(&err), "unsubscribing failed");
            LinkOutcome::Failed
        }
    };
    if from_page {
        return see_other(outcome_location(UNSUBSCRIBE_PATH, outcome));
    }
    let status = match outcome {
        LinkOutcome::UnknownLink => StatusCode::NOT_FOUND,
        LinkOutcome::Failed => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    let (heading, text) = outcome.message(UNSUBSCRIBE_PATH);
    (status, format!("{heading}. {text}\n")).into_response()
}
