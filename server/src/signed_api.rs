//! The layer in front of the admin API: verifies the AWS Signature Version 4 on every request to
//! a signed endpoint before any handler code runs, then requires the `admin` group. The verified
//! caller is handed to the server function as an `Extension<Caller>`.

use crate::sigv4_verifier::{IncomingRequest, SigV4Error, Verifier};
use app::{
    credentials::{Caller, CredentialError, CredentialMinter},
    error::{ApiError, ApiErrorKind},
};
use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode};
use std::{sync::Arc, time::SystemTime};

/// Admin calls carry no or tiny bodies.
const MAX_SIGNED_BODY: usize = 64 * 1024;

pub struct SignedApi {
    pub verifier: Verifier,
    pub minter: Arc<CredentialMinter>,
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
    let incoming = IncomingRequest {
        method: parts.method.as_str(),
        path_and_query,
        headers: &parts.headers,
        body: &body,
    };
    let now = SystemTime::now();
    let verified = api.verifier.verify(&incoming, now, |claimed| {
        api.minter
            .resolve(claimed.access_key_id, claimed.session_token, now.into())
            .map_err(|err| match err {
                CredentialError::Invalid => SigV4Error::InvalidToken,
                CredentialError::Expired => SigV4Error::ExpiredToken,
            })
    });
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
        let message = format!(
            "User: {} is not authorized to perform: execute-api:Invoke on resource: {}",
            caller.username,
            parts.uri.path()
        );
        return refusal(message, "AccessDeniedException", false);
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, Body::from(body))).await
}
