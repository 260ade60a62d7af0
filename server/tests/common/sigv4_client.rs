//! Signing admin requests with aws-sigv4, as the browser does.

use super::TestApp;
use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{sign, SignableBody, SignableRequest, SigningSettings},
    sign::v4,
};
use serde_json::Value;
use std::time::SystemTime;

/// The identity in a `/api/credentials` answer, for aws-sigv4.
pub fn identity(creds: &Value) -> aws_smithy_runtime_api::client::identity::Identity {
    let c = &creds["Credentials"];
    Credentials::new(
        c["AccessKeyId"].as_str().unwrap(),
        c["SecretKey"].as_str().unwrap(),
        Some(c["SessionToken"].as_str().unwrap().to_owned()),
        None,
        "test",
    )
    .into()
}

pub fn sign_get(
    identity: &aws_smithy_runtime_api::client::identity::Identity,
    region: &str,
    settings: SigningSettings,
    time: SystemTime,
    target: &str,
    headers: &[(&str, &str)],
) -> Vec<(String, String)> {
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("execute-api")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "GET",
        target,
        headers.iter().copied(),
        SignableBody::Bytes(&[]),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

/// Signs a GET with aws-sigv4 the way the browser does, at `time`; returns the headers to send.
pub fn signed_headers(
    app: &TestApp,
    creds: &Value,
    path_and_query: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    let region = creds["Region"].as_str().unwrap();
    sign_get(
        &identity(creds),
        region,
        SigningSettings::default(),
        time,
        &app.url(path_and_query),
        &[],
    )
}

/// A signed GET, now.
pub async fn signed_get(app: &TestApp, creds: &Value, path_and_query: &str) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(path_and_query))
        .header("accept", "application/json");
    for (name, value) in signed_headers(app, creds, path_and_query, SystemTime::now()) {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

/// A signed POST of a form body (its hash signed), now; `tamper` changes the body after signing.
pub async fn signed_post_form(
    app: &TestApp,
    creds: &Value,
    path: &str,
    body: &str,
    tamper: Option<&str>,
) -> reqwest::Response {
    let region = creds["Region"].as_str().unwrap();
    let signer = identity(creds);
    let params = v4::SigningParams::builder()
        .identity(&signer)
        .region(region)
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let url = app.url(path);
    let signable = SignableRequest::new(
        "POST",
        &url,
        std::iter::empty(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = app
        .client
        .post(&url)
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(tamper.unwrap_or(body).to_owned());
    for (name, value) in instructions.headers() {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}
