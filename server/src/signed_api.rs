//! The layer in front of the admin API: verifies the AWS Signature Version 4 on every request to
//! a signed endpoint before any handler code runs, then requires the `admin` group. The verified
//! caller is handed to the server function as an `Extension<Caller>`.

use crate::sigv4_verifier::{IncomingRequest, SigV4Error, Verifier};
use app::{
    credentials::{Caller, CredentialError, CredentialMinter},
    error::{ApiError, ApiErrorKind},
    identity::{SharedIdentity, TokenError},
};
use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

/// The verified caller this layer handed to a plain axum handler, if they are an admin; else
/// the API's 403.
pub fn admin_caller(caller: Option<axum::Extension<Caller>>) -> Result<Caller, ApiError> {
    caller
        .map(|axum::Extension(caller)| caller)
        .filter(Caller::is_admin)
        .ok_or_else(|| ApiError::new(ApiErrorKind::Forbidden, app::admin::NOT_AN_ADMIN))
}

/// Admin calls carry no or tiny bodies.
const MAX_SIGNED_BODY: usize = 64 * 1024;

pub struct SignedApi {
    pub verifier: Verifier,
    pub minter: Arc<CredentialMinter>,
    /// Asked whether the session the credentials come from still stands (not revoked).
    pub identity: SharedIdentity,
    pub sessions: SessionCache,
}

/// How long an answer of the identity provider about a session is reused: a revoked admin's
/// credentials stop working within this long, and a burst of admin calls costs one lookup.
const SESSION_CHECK_TTL: Duration = Duration::from_secs(2);
/// More sessions than this checked within the TTL: start over rather than grow.
const MAX_CACHED_SESSIONS: usize = 10_000;

/// Recent answers to "does this session still stand", by access key id.
#[derive(Default)]
pub struct SessionCache {
    answers: Mutex<HashMap<String, (bool, Instant)>>,
}

impl SessionCache {
    fn get(&self, access_key_id: &str, now: Instant) -> Option<bool> {
        let answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers
            .get(access_key_id)
            .filter(|(_, at)| now.saturating_duration_since(*at) < SESSION_CHECK_TTL)
            .map(|(stands, _)| *stands)
    }

    fn put(&self, access_key_id: &str, stands: bool, now: Instant) {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if answers.len() >= MAX_CACHED_SESSIONS {
            answers.retain(|_, (_, at)| now.saturating_duration_since(*at) < SESSION_CHECK_TTL);
            if answers.len() >= MAX_CACHED_SESSIONS {
                answers.clear();
            }
        }
        answers.insert(access_key_id.to_owned(), (stands, now));
    }
}

/// API Gateway's answer to a refused request: 403 with `{"message": …}` and the error type in
/// `x-amzn-ErrorType`. The body is an `ApiError`, so its `error` field lets our own client tell
/// expired credentials apart.
fn refusal(message: String, error_type: &str, expired: bool) -> Response {
    let kind = if expired {
        ApiErrorKind::ExpiredCredentials
    } else {
        ApiErrorKind::Forbidden
    };
    let body = ApiError::new(kind, message);
    let mut response = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}

fn refuse(err: &SigV4Error) -> Response {
    refusal(
        err.to_string(),
        err.error_type(),
        err.is_expired_credentials(),
    )
}

/// The access key id an `Authorization` header names (`Credential=<key id>/…`), even when the
/// rest of it is malformed: what the audit event of a refusal records.
fn claimed_access_key_id(authorization: &str) -> Option<&str> {
    let credential = &authorization[authorization.find("Credential=")? + "Credential=".len()..];
    credential.split(['/', ',', ' ']).next()
}

async fn session_stands(
    api: &SignedApi,
    caller: &Caller,
    access_key_id: &str,
    authenticated_at: time::OffsetDateTime,
) -> Result<bool, TokenError> {
    let now = Instant::now();
    if let Some(stands) = api.sessions.get(access_key_id, now) {
        return Ok(stands);
    }
    let stands = api
        .identity
        .session_stands(caller, authenticated_at)
        .await?;
    api.sessions.put(access_key_id, stands, now);
    Ok(stands)
}

pub async fn require_signature(
    State(api): State<Arc<SignedApi>>,
    request: Request,
    next: Next,
) -> Response {
    if !app::admin::SIGNED_ENDPOINTS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_SIGNED_BODY).await {
        Ok(body) => body,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    // The client signed the path it called: with a REST API's stage in front, under Lambda.
    let called = parts
        .extensions
        .get::<app::page_location::PathPrefix>()
        .map(|prefix| format!("{}{path_and_query}", prefix.as_str()));
    let incoming = IncomingRequest {
        method: parts.method.as_str(),
        path_and_query: called.as_deref().unwrap_or(path_and_query),
        headers: &parts.headers,
        body: &body,
    };
    let now = SystemTime::now();
    let verified = api.verifier.verify(&incoming, now, |claimed| {
        api.minter
            .resolve(claimed.access_key_id, claimed.session_token, now.into())
            .map(|resolved| {
                let session = (claimed.access_key_id.to_owned(), resolved.authenticated_at);
                (resolved.secret, (resolved.caller, session))
            })
            .map_err(|err| match err {
                CredentialError::Invalid => SigV4Error::InvalidToken,
                CredentialError::Expired => SigV4Error::ExpiredToken,
            })
    });
    // A correct signature from a revoked session (password changed, user removed) is refused
    // like an unknown token.
    let verified = match verified {
        Ok((caller, (access_key_id, authenticated_at))) => {
            match session_stands(&api, &caller, &access_key_id, authenticated_at).await {
                Ok(true) => Ok(caller),
                Ok(false) => Err(SigV4Error::InvalidToken),
                Err(err) => {
                    tracing::error!(error = %app::error::describe(&err), "cannot check a session");
                    return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
                        .into_response();
                }
            }
        }
        Err(err) => Err(err),
    };
    let caller: Caller = match verified {
        Ok(caller) => caller,
        Err(err) => {
            let authorization = parts
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|header| header.to_str().ok());
            app::audit::signature_refused(
                authorization.and_then(claimed_access_key_id),
                &err.to_string(),
            );
            return refuse(&err);
        }
    };
    if !caller.is_admin() {
        app::audit::access_denied(&caller.username, parts.uri.path());
        // API Gateway's error type, but words the admin page can show as they are.
        return refusal(
            app::admin::NOT_AN_ADMIN.to_owned(),
            "AccessDeniedException",
            false,
        );
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, Body::from(body))).await
}
