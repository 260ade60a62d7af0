//! The SigV4 verifier on arbitrary requests: the `Authorization` parser, the canonical request
//! built from whatever method, path, query, headers and body arrive, and the signature check.
//! It must never panic and never accept (no input here carries a valid signature).
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use server::sigv4_verifier::{Authorization, IncomingRequest, Verifier};
use std::time::{Duration, UNIX_EPOCH};

fuzz_target!(|data: &[u8]| {
    // Fields separated by 0xFF: method, path+query, authorization, x-amz-date, one more header
    // name, its value, body.
    let mut parts = data.split(|b| *b == 0xFF);
    let mut next = || parts.next().unwrap_or_default();
    let method = String::from_utf8_lossy(next()).into_owned();
    let path = String::from_utf8_lossy(next()).into_owned();
    let authorization = next();
    let amz_date = next();
    let extra_name = next();
    let extra_value = next();
    let body = next();

    if let Ok(text) = std::str::from_utf8(authorization) {
        let _ = Authorization::parse(text);
    }
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("127.0.0.1:3000"));
    if let Ok(value) = HeaderValue::from_bytes(authorization) {
        headers.insert(http::header::AUTHORIZATION, value);
    }
    if let Ok(value) = HeaderValue::from_bytes(amz_date) {
        headers.insert("x-amz-date", value);
    }
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(extra_name),
        HeaderValue::from_bytes(extra_value),
    ) {
        headers.append(name, value);
    }
    let request = IncomingRequest {
        method: &method,
        path_and_query: &path,
        headers: &headers,
        body,
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_795_700_000);
    let verdict = Verifier::new("us-east-1", "execute-api").verify(&request, now, |_claimed| {
        Ok(("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(), ()))
    });
    assert!(verdict.is_err(), "accepted a request nobody signed");
});
