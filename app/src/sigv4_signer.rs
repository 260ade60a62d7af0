//! Signs the admin page's API calls in the browser with AWS Signature Version 4 (service
//! `execute-api`), using the temporary credentials the page obtained.
//!
//! The admin page makes two kinds of request: a GET with a few query parameters, and a POST of a
//! small form (its body's hash signed). This module builds their canonical form and string to
//! sign (the SigV4 steps that depend on
//! the request); the signing key and the signature come from `aws-sigv4`'s own functions. Its
//! full request signer (`http_request::sign`) is generic over any HTTP request, and through
//! `http`, `aws-smithy-*` and `aws-credential-types` it was 10 KB (brotli) of the home page's
//! wasm: the wasm splitter moves a lazy island's code out of the main module, not its data. The
//! tests below check, for arbitrary inputs, that both produce the same headers.

use crate::credentials::TemporaryCredentials;
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use std::time::SystemTime;

/// What requests are signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningIdentity {
    pub credentials: TemporaryCredentials,
    pub region: String,
}

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SIGNED_HEADERS: &str = "host;x-amz-date;x-amz-security-token";

/// SigV4's URI encoding: everything but the unreserved characters `A–Z a–z 0–9 - _ . ~`.
const SIGV4_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A request ready to send: where, and the headers that sign it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// Path and canonical query string: what is signed is exactly what is sent.
    pub path_and_query: String,
    pub headers: Vec<(&'static str, String)>,
}

/// Signs `GET path?params` to `host` at `now`. `path` must be a plain absolute path (letters,
/// digits, `/`, `-`, `_`, `.`, `~`), as the API's paths and a stage prefix are.
pub fn sign_get(
    identity: &SigningIdentity,
    service: &str,
    host: &str,
    path: &str,
    params: &[(&str, &str)],
    now: SystemTime,
) -> SignedRequest {
    sign_request(identity, service, host, "GET", path, params, b"", now)
}

/// Signs `METHOD path?params` with `body` (its SHA-256 is part of the signature: a changed
/// body is refused) to `host` at `now`.
#[allow(clippy::too_many_arguments)] // one per part of the request SigV4 signs
pub fn sign_request(
    identity: &SigningIdentity,
    service: &str,
    host: &str,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    body: &[u8],
    now: SystemTime,
) -> SignedRequest {
    let query = canonical_query(params);
    let (date, date_time) = amz_dates(now);
    let token = &identity.credentials.session_token;
    let payload_hash = hex::encode(Sha256::digest(body));
    let canonical_request = format!(
        "{method}\n{path}\n{query}\nhost:{host}\nx-amz-date:{date_time}\nx-amz-security-token:{token}\n\n\
         {SIGNED_HEADERS}\n{payload_hash}"
    );
    let scope = format!("{date}/{}/{service}/aws4_request", identity.region);
    let string_to_sign = format!(
        "{ALGORITHM}\n{date_time}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = generate_signing_key(
        &identity.credentials.secret_key,
        now,
        &identity.region,
        service,
    );
    let signature = calculate_signature(key, string_to_sign.as_bytes());
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        identity.credentials.access_key_id
    );
    let path_and_query = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    SignedRequest {
        path_and_query,
        headers: vec![
            ("authorization", authorization),
            ("x-amz-date", date_time),
            ("x-amz-security-token", token.clone()),
        ],
    }
}

/// Parameters encoded, then sorted by name and value.
fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(name, value)| {
            (
                utf8_percent_encode(name, SIGV4_ENCODE).to_string(),
                utf8_percent_encode(value, SIGV4_ENCODE).to_string(),
            )
        })
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `YYYYMMDD` and `YYYYMMDD'T'HHMMSS'Z'` (UTC) of `at`.
fn amz_dates(at: SystemTime) -> (String, String) {
    let at = time::OffsetDateTime::from(at);
    let date = format!("{:04}{:02}{:02}", at.year(), u8::from(at.month()), at.day());
    let date_time = format!(
        "{date}T{:02}{:02}{:02}Z",
        at.hour(),
        at.minute(),
        at.second()
    );
    (date, date_time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_sigv4::{
        http_request::{sign, SignableBody, SignableRequest, SigningSettings},
        sign::v4,
    };
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn identity(secret: &str, token: &str, region: &str) -> SigningIdentity {
        SigningIdentity {
            credentials: TemporaryCredentials {
                access_key_id: "ASIAEXAMPLEKEY000001".into(),
                secret_key: secret.into(),
                session_token: token.into(),
                expiration: 0,
            },
            region: region.into(),
        }
    }

    /// The headers aws-sigv4's generic request signer (default settings) gives the same request.
    fn reference(
        identity: &SigningIdentity,
        host: &str,
        path_and_query: &str,
        now: SystemTime,
    ) -> Vec<(String, String)> {
        reference_of("GET", identity, host, path_and_query, b"", now)
    }

    fn reference_of(
        method: &str,
        identity: &SigningIdentity,
        host: &str,
        path_and_query: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Vec<(String, String)> {
        let credentials = &identity.credentials;
        let signer_identity = Credentials::new(
            &credentials.access_key_id,
            &credentials.secret_key,
            Some(credentials.session_token.clone()),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&signer_identity)
            .region(&identity.region)
            .name("execute-api")
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .expect("valid parameters");
        let signable = SignableRequest::new(
            method,
            path_and_query,
            [("host", host)].into_iter(),
            SignableBody::Bytes(body),
        )
        .expect("valid request");
        let (instructions, _) = sign(signable, &params.into()).expect("signs").into_parts();
        let mut headers: Vec<(String, String)> = instructions
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        headers.sort();
        headers
    }

    fn ours(signed: &SignedRequest) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = signed
            .headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        headers.sort();
        headers
    }

    #[test]
    fn the_admin_pages_requests_are_signed_as_aws_sigv4_signs_them() {
        let identity = identity(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "tok.en/+=",
            "eu-west-1",
        );
        let now = UNIX_EPOCH + Duration::from_secs(1_764_201_600);
        for params in [
            vec![("limit", "25")],
            vec![("limit", "50"), ("cursor", "YWRhQGV4YW1wbGUuY29t")],
            vec![("limit", "10"), ("cursor", "a+b/c=d~e-f_g.h ü")],
        ] {
            let signed = sign_get(
                &identity,
                "execute-api",
                "127.0.0.1:3000",
                "/api/subscribers",
                &params,
                now,
            );
            assert_eq!(
                ours(&signed),
                reference(&identity, "127.0.0.1:3000", &signed.path_and_query, now),
                "{params:?}"
            );
        }
    }

    #[test]
    fn the_query_sent_is_the_canonical_one() {
        let identity = identity("secret", "token", "us-east-1");
        let signed = sign_get(
            &identity,
            "execute-api",
            "example.com",
            "/api/subscribers",
            &[("limit", "5"), ("cursor", "a b+c")],
            UNIX_EPOCH,
        );
        assert_eq!(
            signed.path_and_query,
            "/api/subscribers?cursor=a%20b%2Bc&limit=5"
        );
        let date = signed
            .headers
            .iter()
            .find(|(name, _)| *name == "x-amz-date");
        assert_eq!(date.map(|(_, v)| v.as_str()), Some("19700101T000000Z"));
    }

    #[test]
    fn posts_are_signed_with_their_body_as_aws_sigv4_signs_them() {
        let identity = identity("secret/key+", "token", "us-east-1");
        let now = UNIX_EPOCH + Duration::from_secs(1_764_201_600);
        for body in [
            &b""[..],
            b"email=ada%40example%2Ecom",
            "email=ü@例え.jp".as_bytes(),
        ] {
            let signed = sign_request(
                &identity,
                "execute-api",
                "example.com",
                "POST",
                "/api/subscribers/erase",
                &[],
                body,
                now,
            );
            assert_eq!(
                ours(&signed),
                reference_of(
                    "POST",
                    &identity,
                    "example.com",
                    &signed.path_and_query,
                    body,
                    now
                )
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_page_request_is_signed_as_aws_sigv4_signs_it(
            cursor in proptest::option::of("\\PC{0,40}"),
            limit in 1u32..=1000,
            secs in 0u64..4_102_444_800,
            secret in "[A-Za-z0-9/+]{1,40}",
            token in "[A-Za-z0-9/+=._-]{1,200}",
            region in "[a-z]{2}-[a-z]{4,9}-[1-9]",
            host in "[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,10}){0,2}(:[0-9]{1,5})?",
        ) {
            let identity = identity(&secret, &token, &region);
            let now = UNIX_EPOCH + Duration::from_secs(secs);
            let limit = limit.to_string();
            let mut params = vec![("limit", limit.as_str())];
            if let Some(cursor) = &cursor {
                params.push(("cursor", cursor.as_str()));
            }
            let signed = sign_get(&identity, "execute-api", &host, "/api/subscribers", &params, now);
            prop_assert_eq!(ours(&signed), reference(&identity, &host, &signed.path_and_query, now));
        }
    }
}
