//! AWS Signature Version 4 verification, as API Gateway does it for IAM-authorized routes.
//!
//! The canonical request is rebuilt from what arrived (method, path, query, only the headers the
//! client listed in `SignedHeaders`, the SHA-256 of the body) by re-signing it with `aws-sigv4`
//! using the secret that belongs to the access key, and the two signatures are compared in
//! constant time. What real clients do differently is accepted: botocore signs
//! `X-Amz-Security-Token`, API Gateway's browser SDK sends it unsigned and signs `host` without
//! the port; some clients sign the path without normalizing it.

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{
        sign, SessionTokenMode, SignableBody, SignableRequest, SigningSettings,
        UriPathNormalizationMode,
    },
    sign::v4,
};
use http::HeaderMap;
use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq;
use time::{macros::format_description, OffsetDateTime, PrimitiveDateTime};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// API Gateway refuses signatures more than 5 minutes away from its clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Why a request was refused. Every variant is answered with 403 and API Gateway's wording,
/// which says no more about the failing part than AWS itself does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    #[error("{0}")]
    IncompleteSignature(String),
    #[error("Signature expired: {signed} is now earlier than {earliest} ({now} - 5 min.)")]
    SignatureExpired {
        signed: String,
        earliest: String,
        now: String,
    },
    #[error("Signature not yet current: {signed} is still later than {latest} ({now} + 5 min.)")]
    SignatureNotYetCurrent {
        signed: String,
        latest: String,
        now: String,
    },
    #[error("Credential should be scoped to a valid region. ")]
    WrongRegion,
    #[error("Credential should be scoped to correct service: '{0}'. ")]
    WrongService(String),
    #[error("The security token included in the request is invalid.")]
    InvalidToken,
    #[error("The security token included in the request is expired")]
    ExpiredToken,
    #[error(
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details."
    )]
    SignatureMismatch,
}

impl SigV4Error {
    /// API Gateway's `x-amzn-ErrorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::SignatureExpired { .. }
            | Self::SignatureNotYetCurrent { .. }
            | Self::WrongRegion
            | Self::WrongService(_)
            | Self::SignatureMismatch => "InvalidSignatureException",
            Self::InvalidToken => "UnrecognizedClientException",
            Self::ExpiredToken => "ExpiredTokenException",
        }
    }

    /// Whether fetching fresh credentials and retrying can help.
    pub fn is_expired_credentials(&self) -> bool {
        matches!(self, Self::ExpiredToken)
    }
}

/// The request as it arrived.
pub struct IncomingRequest<'a> {
    pub method: &'a str,
    /// Path and query exactly as received (still percent-encoded).
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// What the client claims to be, for the credential lookup.
#[derive(Debug, Clone, Copy)]
pub struct ClaimedCredentials<'a> {
    pub access_key_id: &'a str,
    /// The `X-Amz-Security-Token` header, signed or not.
    pub session_token: Option<&'a str>,
}

/// The `Authorization` header's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub terminator: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

impl<'a> Authorization<'a> {
    pub fn parse(header: &'a str) -> Result<Self, SigV4Error> {
        let incomplete = |what: &str| SigV4Error::IncompleteSignature(what.to_owned());
        let rest = header
            .strip_prefix(ALGORITHM)
            .filter(|rest| rest.starts_with(' '))
            .ok_or_else(|| {
                incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 is the only supported algorithm.")
            })?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            let (key, value) = part.split_once('=').ok_or_else(|| {
                incomplete(&format!("Authorization header requires each component to be of the form key=value: '{part}'"))
            })?;
            let slot = match key {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(incomplete(&format!(
                    "Authorization header has '{key}' more than once."
                )));
            }
        }
        let missing = |name: &str| {
            incomplete(&format!(
                "Authorization header requires '{name}' parameter. Authorization={header}"
            ))
        };
        let credential = credential.ok_or_else(|| missing("Credential"))?;
        let signed_headers = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| missing("Signature"))?;

        let mut scope = credential.split('/');
        let (Some(access_key_id), Some(date), Some(region), Some(service), Some(terminator), None) = (
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
        ) else {
            return Err(incomplete(&format!(
                "Credential should have exactly 5 slash-separated components: {credential}"
            )));
        };
        if access_key_id.is_empty() {
            return Err(incomplete("Credential is missing its access key id."));
        }
        let signed_headers: Vec<&str> = signed_headers.split(';').collect();
        if signed_headers.iter().any(|h| h.is_empty()) {
            return Err(incomplete(
                "SignedHeaders must be a ';'-separated list of header names.",
            ));
        }
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SigV4Error::SignatureMismatch);
        }
        Ok(Self {
            access_key_id,
            date,
            region,
            service,
            terminator,
            signed_headers,
            signature,
        })
    }
}

pub struct Verifier {
    pub region: String,
    pub service: String,
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn parse_amz_date(value: &str) -> Option<OffsetDateTime> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(value, format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

fn format_amz_date(at: OffsetDateTime) -> String {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    at.format(format).unwrap_or_default()
}

impl Verifier {
    pub fn new(region: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            service: service.into(),
        }
    }

    /// Verifies `request` at time `now`. `resolve` checks the claimed credentials (session token,
    /// expiry) and returns the secret access key together with whatever identifies the caller.
    pub fn verify<T>(
        &self,
        request: &IncomingRequest<'_>,
        now: SystemTime,
        resolve: impl FnOnce(ClaimedCredentials<'_>) -> Result<(String, T), SigV4Error>,
    ) -> Result<T, SigV4Error> {
        let authorization = request
            .headers
            .get(http::header::AUTHORIZATION)
            .ok_or(SigV4Error::MissingAuthenticationToken)?
            .to_str()
            .map_err(|_| {
                SigV4Error::IncompleteSignature("Authorization header is not valid text.".into())
            })?;
        let auth = Authorization::parse(authorization)?;

        let amz_date = header_str(request.headers, "x-amz-date").ok_or_else(|| {
            SigV4Error::IncompleteSignature(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                    .into(),
            )
        })?;
        let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
            SigV4Error::IncompleteSignature(format!(
                "X-Amz-Date {amz_date:?} is not of the form YYYYMMDD'T'HHMMSS'Z'."
            ))
        })?;
        if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
            return Err(SigV4Error::SignatureMismatch);
        }
        if auth.region != self.region {
            return Err(SigV4Error::WrongRegion);
        }
        if auth.service != self.service {
            return Err(SigV4Error::WrongService(self.service.clone()));
        }
        if auth.terminator != "aws4_request" {
            return Err(SigV4Error::IncompleteSignature(
                "Credential should be scoped with a valid terminator: 'aws4_request'.".into(),
            ));
        }
        for required in ["host", "x-amz-date"] {
            if !auth.signed_headers.contains(&required) {
                return Err(SigV4Error::SignatureMismatch);
            }
        }

        let now = OffsetDateTime::from(now);
        let skew = time::Duration::try_from(MAX_CLOCK_SKEW).unwrap_or(time::Duration::minutes(5));
        if signed_at < now - skew {
            return Err(SigV4Error::SignatureExpired {
                signed: amz_date.to_owned(),
                earliest: format_amz_date(now - skew),
                now: format_amz_date(now),
            });
        }
        if signed_at > now + skew {
            return Err(SigV4Error::SignatureNotYetCurrent {
                signed: amz_date.to_owned(),
                latest: format_amz_date(now + skew),
                now: format_amz_date(now),
            });
        }

        let token_header = header_str(request.headers, "x-amz-security-token");
        if request.headers.contains_key("x-amz-security-token") && token_header.is_none() {
            return Err(SigV4Error::InvalidToken);
        }
        let (secret, caller) = resolve(ClaimedCredentials {
            access_key_id: auth.access_key_id,
            session_token: token_header,
        })?;

        let token_signed = auth.signed_headers.contains(&"x-amz-security-token");
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(auth.signed_headers.len());
        for name in &auth.signed_headers {
            let mut found = false;
            for value in request.headers.get_all(*name) {
                let value = value.to_str().map_err(|_| SigV4Error::SignatureMismatch)?;
                headers.push((name, value));
                found = true;
            }
            // A signed header that did not arrive can't match what the client signed.
            if !found {
                return Err(SigV4Error::SignatureMismatch);
            }
        }
        let identity = Credentials::new(
            auth.access_key_id,
            secret,
            token_header.map(str::to_owned),
            None,
            "sigv4-verifier",
        )
        .into();

        let host = header_str(request.headers, "host").ok_or(SigV4Error::SignatureMismatch)?;
        // API Gateway's browser SDK signs the host without its port.
        let host_without_port = host
            .parse::<http::uri::Authority>()
            .ok()
            .filter(|authority| authority.port().is_some())
            .map(|authority| authority.host().to_owned());
        let hosts = std::iter::once(host).chain(host_without_port.as_deref());
        let signed_time = SystemTime::from(signed_at);
        for host in hosts {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|&(name, value)| {
                    if name == "host" {
                        (name, host)
                    } else {
                        (name, value)
                    }
                })
                .collect();
            for normalize in [
                UriPathNormalizationMode::Enabled,
                UriPathNormalizationMode::Disabled,
            ] {
                let mut settings = SigningSettings::default();
                // Sign exactly what the client listed, nothing more, nothing less.
                settings.excluded_headers = Some(Vec::new());
                settings.uri_path_normalization_mode = normalize;
                settings.session_token_mode = if token_signed {
                    SessionTokenMode::Include
                } else {
                    SessionTokenMode::Exclude
                };
                let params = v4::SigningParams::builder()
                    .identity(&identity)
                    .region(&self.region)
                    .name(&self.service)
                    .time(signed_time)
                    .settings(settings)
                    .build()
                    .map_err(|_| SigV4Error::SignatureMismatch)?
                    .into();
                let signable = SignableRequest::new(
                    request.method,
                    request.path_and_query,
                    headers.iter().copied(),
                    SignableBody::Bytes(request.body),
                )
                .map_err(|_| SigV4Error::SignatureMismatch)?;
                let expected =
                    sign(signable, &params).map_err(|_| SigV4Error::SignatureMismatch)?;
                let expected = expected.signature();
                if bool::from(
                    expected
                        .as_bytes()
                        .ct_eq(auth.signature.to_ascii_lowercase().as_bytes()),
                ) {
                    return Ok(caller);
                }
            }
        }
        Err(SigV4Error::SignatureMismatch)
    }
}
