//! The AWS SigV4 test suite (aws-c-auth v4 cases, Apache-2.0, in tests/data with its LICENSE and
//! NOTICE): every header-signed request verifies with its case's credentials and time, and any
//! one-byte change to a signed part is refused.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use server::sigv4_verifier::{IncomingRequest, SigV4Error, Verifier};
use std::{
    fs,
    path::{Path, PathBuf},
    time::SystemTime,
};

/// Their request line holds a raw space: not something HTTP can carry.
const NOT_SENDABLE: [&str; 2] = ["get-space-normalized", "get-space-unnormalized"];

#[derive(Deserialize)]
struct Context {
    credentials: CaseCredentials,
    region: String,
    service: String,
    timestamp: String,
}

#[derive(Deserialize)]
struct CaseCredentials {
    access_key_id: String,
    secret_access_key: String,
}

struct SignedRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/aws-signing-test-suite/v4")
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(suite_dir())
        .expect("the vendored suite is present")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// Parses `header-signed-request.txt`: request line, `Name:value` headers (continuation lines
/// folded into the value with one space, as HTTP unfolding does), a blank line, the body.
fn parse_request(text: &str) -> SignedRequest {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let method_end = request_line.find(' ').unwrap();
    let version_start = request_line.rfind(' ').unwrap();
    let method = request_line[..method_end].to_owned();
    let target = request_line[method_end + 1..version_start].to_owned();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let last = headers.last_mut().expect("continuation after a header");
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else {
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    SignedRequest {
        method,
        target,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn header_map(headers: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn load(case: &Path) -> (Context, SignedRequest) {
    let context: Context =
        serde_json::from_str(&fs::read_to_string(case.join("context.json")).unwrap()).unwrap();
    let request =
        parse_request(&fs::read_to_string(case.join("header-signed-request.txt")).unwrap());
    (context, request)
}

fn verify(context: &Context, request: &SignedRequest) -> Result<(), SigV4Error> {
    let verifier = Verifier::new(&context.region, &context.service);
    let now: SystemTime = time::OffsetDateTime::parse(
        &context.timestamp,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .into();
    let headers = header_map(&request.headers);
    let incoming = IncomingRequest {
        method: &request.method,
        path_and_query: &request.target,
        headers: &headers,
        body: &request.body,
    };
    verifier.verify(&incoming, now, |claimed| {
        assert_eq!(claimed.access_key_id, context.credentials.access_key_id);
        Ok((context.credentials.secret_access_key.clone(), ()))
    })
}

#[test]
fn every_sendable_case_verifies() {
    let mut verified = 0;
    for case in cases() {
        let name = case.file_name().unwrap().to_str().unwrap().to_owned();
        if NOT_SENDABLE.contains(&name.as_str()) {
            continue;
        }
        let (context, request) = load(&case);
        verify(&context, &request).unwrap_or_else(|e| panic!("{name}: {e}"));
        verified += 1;
    }
    assert_eq!(verified, 36);
}

/// Flips one byte in `s` at `index` to another character of the same class, so the mutated
/// request is still well-formed and only its meaning changes.
fn mutate(s: &str, index: usize) -> String {
    let mut bytes = s.as_bytes().to_vec();
    let b = bytes[index];
    bytes[index] = match b {
        b'0'..=b'8' | b'a'..=b'y' | b'A'..=b'Y' => b + 1,
        b'9' => b'0',
        b'z' => b'a',
        b'Z' => b'A',
        _ => return s.to_owned(),
    };
    String::from_utf8(bytes).unwrap()
}

fn first_mutable_index(s: &str) -> Option<usize> {
    s.bytes().position(|b| b.is_ascii_alphanumeric())
}

#[test]
fn any_change_to_a_signed_part_is_refused() {
    let mut checked = 0;
    for case in cases() {
        let name = case.file_name().unwrap().to_str().unwrap().to_owned();
        if NOT_SENDABLE.contains(&name.as_str()) {
            continue;
        }
        let (context, original) = load(&case);
        let authorization = original
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .unwrap()
            .1
            .clone();
        let signed: Vec<String> = authorization
            .split("SignedHeaders=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .split(';')
            .map(str::to_owned)
            .collect();

        let mut variants: Vec<(String, SignedRequest)> = Vec::new();
        // One byte of each signed header's value.
        for (i, (header, value)) in original.headers.iter().enumerate() {
            if !signed.contains(&header.to_ascii_lowercase()) {
                continue;
            }
            if let Some(at) = value.bytes().rposition(|b| b.is_ascii_alphanumeric()) {
                let mut request = clone(&original);
                request.headers[i].1 = mutate(value, at);
                variants.push((format!("header {header}"), request));
            }
        }
        // One byte of the path, and of the query when there is one.
        let (path, query) = original
            .target
            .split_once('?')
            .unwrap_or((&original.target, ""));
        // (Not in paths with dot segments: a byte in a segment that `..` removes is no change.)
        let has_dot_segments = path
            .split('/')
            .any(|segment| segment == "." || segment == "..");
        if let Some(at) = first_mutable_index(path).filter(|_| !has_dot_segments) {
            let mut request = clone(&original);
            request.target = format!(
                "{}{}",
                mutate(path, at),
                if query.is_empty() {
                    String::new()
                } else {
                    format!("?{query}")
                }
            );
            variants.push(("path".into(), request));
        }
        if let Some(at) = first_mutable_index(query) {
            let mut request = clone(&original);
            request.target = format!("{path}?{}", mutate(query, at));
            variants.push(("query".into(), request));
        }
        // One byte of the body.
        if let Some(at) = original.body.iter().position(|b| b.is_ascii_alphanumeric()) {
            let mut request = clone(&original);
            let body = String::from_utf8(request.body.clone()).unwrap();
            request.body = mutate(&body, at).into_bytes();
            variants.push(("body".into(), request));
        }
        // The method.
        let mut request = clone(&original);
        request.method = if original.method == "GET" {
            "POST".into()
        } else {
            "GET".into()
        };
        variants.push(("method".into(), request));
        // The scope (date, region, service) and the signature, inside Authorization.
        for (what, needle) in [
            ("scope date", "/20150830/"),
            ("scope region", "/us-east-1/"),
            ("scope service", "/service/"),
            ("signature", "Signature="),
        ] {
            let at = authorization.find(needle).unwrap() + needle.len() - 2;
            let at = if what == "signature" { at + 2 } else { at };
            let mut request = clone(&original);
            set_header(&mut request, "authorization", &mutate(&authorization, at));
            variants.push((what.into(), request));
        }

        for (what, request) in variants {
            let result = verify(&context, &request);
            assert!(result.is_err(), "{name}: changing the {what} was accepted");
            checked += 1;
        }
    }
    assert!(checked > 36 * 5, "only {checked} mutations checked");
}

#[test]
fn a_changed_date_header_is_refused() {
    let (context, mut request) = load(&suite_dir().join("get-vanilla"));
    set_header(&mut request, "x-amz-date", "20150830T123601Z");
    assert_eq!(
        verify(&context, &request),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn a_request_without_authorization_is_missing_its_token() {
    let (context, mut request) = load(&suite_dir().join("get-vanilla"));
    request
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
    assert_eq!(
        verify(&context, &request),
        Err(SigV4Error::MissingAuthenticationToken)
    );
}

#[test]
fn clock_skew_beyond_five_minutes_is_refused_either_way() {
    let (mut context, request) = load(&suite_dir().join("get-vanilla"));
    context.timestamp = "2015-08-30T12:41:00Z".into();
    assert!(
        verify(&context, &request).is_ok(),
        "exactly 5 minutes late is accepted"
    );
    context.timestamp = "2015-08-30T12:41:01Z".into();
    let err = verify(&context, &request).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T124101Z - 5 min.)"
    );
    context.timestamp = "2015-08-30T12:30:59Z".into();
    assert!(matches!(
        verify(&context, &request),
        Err(SigV4Error::SignatureNotYetCurrent { .. })
    ));
}

#[test]
fn wrong_region_or_service_is_named() {
    let (context, request) = load(&suite_dir().join("get-vanilla"));
    let headers = header_map(&request.headers);
    let incoming = IncomingRequest {
        method: "GET",
        path_and_query: "/",
        headers: &headers,
        body: b"",
    };
    let now: SystemTime = time::macros::datetime!(2015-08-30 12:36:00 UTC).into();
    let secret = || Ok((context.credentials.secret_access_key.clone(), ()));
    assert_eq!(
        Verifier::new("eu-west-1", "service").verify(&incoming, now, |_| secret()),
        Err(SigV4Error::WrongRegion)
    );
    assert_eq!(
        Verifier::new("us-east-1", "execute-api").verify(&incoming, now, |_| secret()),
        Err(SigV4Error::WrongService("execute-api".into()))
    );
}

#[test]
fn a_wrong_secret_is_a_mismatch() {
    let (context, request) = load(&suite_dir().join("post-vanilla"));
    let headers = header_map(&request.headers);
    let incoming = IncomingRequest {
        method: "POST",
        path_and_query: "/",
        headers: &headers,
        body: b"",
    };
    let now: SystemTime = time::macros::datetime!(2015-08-30 12:36:00 UTC).into();
    let result = Verifier::new(&context.region, &context.service)
        .verify(&incoming, now, |_| Ok(("not the secret".to_owned(), ())));
    assert_eq!(result, Err(SigV4Error::SignatureMismatch));
}

fn clone(r: &SignedRequest) -> SignedRequest {
    SignedRequest {
        method: r.method.clone(),
        target: r.target.clone(),
        headers: r.headers.clone(),
        body: r.body.clone(),
    }
}

fn set_header(request: &mut SignedRequest, name: &str, value: &str) {
    for (n, v) in &mut request.headers {
        if n.eq_ignore_ascii_case(name) {
            *v = value.to_owned();
        }
    }
}
