//! Times SigV4 verification of one admin request against signing the same request with
//! aws-sigv4 (what the browser does), in one process: `serverless-stories bench-sigv4` prints
//! `{"iterations": N, "sign_ns": …, "verify_ns": …}` (nanoseconds per request, median of 5 runs)
//! for `scripts/bench`. Part of the binary rather than an example: building an example pulls in
//! the dev-dependencies, which changes the features of shared dependencies, so the release build
//! and the example rebuilt each other on every bench run.

use crate::sigv4_verifier::{IncomingRequest, Verifier};
use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{sign, SignableBody, SignableRequest, SigningSettings},
    sign::v4,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, Instant, SystemTime};

const ITERATIONS: u32 = 20_000;
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const URL: &str = "http://127.0.0.1:3000/api/subscribers?limit=50&cursor=YWRhQGV4YW1wbGUuY29t";
const TOKEN: &str = "eyJraWQiOiJBU0lBRVhBTVBMRSIsInN1YiI6ImFkYSJ9.c2lnbmF0dXJl";

// The inputs are constants: an `expect` failing here is a bug in this file, not bad input.
fn sign_once(
    identity: &aws_smithy_runtime_api::client::identity::Identity,
    now: SystemTime,
) -> Vec<(String, String)> {
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name("execute-api")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let headers = [("host", "127.0.0.1:3000")];
    let signable = SignableRequest::new("GET", URL, headers.into_iter(), SignableBody::Bytes(&[]))
        .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
    instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

fn median(mut runs: Vec<Duration>) -> u128 {
    runs.sort();
    runs[runs.len() / 2].as_nanos() / u128::from(ITERATIONS)
}

/// Runs the comparison; the JSON line `scripts/bench` reads.
pub fn run() -> String {
    let identity =
        Credentials::new("ASIAEXAMPLE", SECRET, Some(TOKEN.to_owned()), None, "bench").into();
    let now = SystemTime::now();

    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("127.0.0.1:3000"));
    for (name, value) in sign_once(&identity, now) {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(&value).expect("header value"),
        );
    }
    let path_and_query = &URL["http://127.0.0.1:3000".len()..];
    let request = IncomingRequest {
        method: "GET",
        path_and_query,
        headers: &headers,
        body: &[],
    };
    let verifier = Verifier::new("us-east-1", "execute-api");
    let verify = || {
        verifier
            .verify(&request, now, |_| Ok((SECRET.to_owned(), ())))
            .expect("the request verifies")
    };
    verify();

    let mut sign_runs = Vec::new();
    let mut verify_runs = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..ITERATIONS {
            std::hint::black_box(sign_once(&identity, now));
        }
        sign_runs.push(started.elapsed());
        let started = Instant::now();
        for _ in 0..ITERATIONS {
            verify();
        }
        verify_runs.push(started.elapsed());
    }
    format!(
        "{{\"iterations\": {ITERATIONS}, \"sign_ns\": {}, \"verify_ns\": {}}}",
        median(sign_runs),
        median(verify_runs)
    )
}
