//! The real binary in Lambda mode under cargo-lambda's Runtime API emulator (`cargo-lambda
//! lambda watch --only-lambda-apis`, installed by scripts/setup), each test with its own
//! emulator on a free loopback port. Events are sent through the emulator's invoke API (any
//! API Gateway payload) or as plain HTTP requests, which it turns into function URL events.

use serde_json::{json, Value};
use std::{net::TcpListener, process::Stdio, time::Duration};
use tokio::process::{Child, Command};

pub struct LambdaFunction {
    /// `http://127.0.0.1:<port>`: requests here reach the function as function URL events.
    pub base: String,
    pub client: reqwest::Client,
    _emulator: Child,
    _function: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn cargo_lambda() -> String {
    std::env::var("STORIES_TEST_CARGO_LAMBDA").unwrap_or_else(|_| "cargo-lambda".to_owned())
}

impl LambdaFunction {
    /// Starts an emulator and the function (with `env` and what Lambda itself sets), and waits
    /// until the emulator accepts connections. The first event waits for the function's init.
    pub async fn start(env: &[(String, String)]) -> Self {
        let port = free_port();
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let emulator = Command::new(cargo_lambda())
            .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1"])
            .args(["-P", &port.to_string(), "--manifest-path", manifest])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start cargo-lambda (scripts/setup installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        for attempt in 0.. {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            assert!(
                attempt < 300,
                "the Lambda emulator did not start within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let function = Command::new(env!("CARGO_BIN_EXE_serverless-stories"))
            .env("AWS_LAMBDA_RUNTIME_API", format!("{base}/.rt"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "LEPTOS_SITE_ROOT",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../public"),
            )
            .env("RUST_LOG", "warn")
            .env("STORIES_SUBSCRIBE_LIMIT", "0")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start serverless-stories");
        Self {
            base,
            client,
            _emulator: emulator,
            _function: function,
        }
    }

    /// Sends `event` (an API Gateway payload) as the Lambda service would; the function's
    /// answer (`statusCode`, `headers`, `body`, …).
    pub async fn invoke(&self, event: &Value) -> Value {
        let response = self
            .client
            .post(format!("{}/2015-03-31/functions/_/invocations", self.base))
            .json(event)
            .send()
            .await
            .expect("invoke");
        assert_eq!(response.status(), 200, "the invocation failed");
        response.json().await.expect("the function's JSON answer")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The execute-api host name a deployment's events carry.
pub const API_HOST: &str = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com";

/// An HTTP API (payload 2.0, `$default` stage) event.
pub fn http_api_event(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let mut header_map = serde_json::Map::new();
    header_map.insert("host".into(), API_HOST.into());
    for (name, value) in headers {
        header_map.insert(name.to_ascii_lowercase(), (*value).into());
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": API_HOST,
            "domainPrefix": "a1b2c3d4e5",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "lambda-test"
            },
            "requestId": "test-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "30/Nov/2026:18:00:00 +0000",
            "timeEpoch": 1796061600000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// An HTTP API event under a named `stage` (not `$default`): the stage is in its path.
pub fn http_api_stage_event(
    stage: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let mut event = http_api_event(method, path, query, headers, body);
    let called = format!("/{stage}{path}");
    event["rawPath"] = called.clone().into();
    event["requestContext"]["http"]["path"] = called.into();
    event["requestContext"]["stage"] = stage.into();
    event
}

/// A REST API (payload 1.0) event on the execute-api host, called under `stage`: the event's
/// path is the route's, `requestContext.path` the one called (`/<stage>…`).
pub fn rest_api_event(
    stage: &str,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let mut header_map = serde_json::Map::new();
    header_map.insert("Host".into(), API_HOST.into());
    for (name, value) in headers {
        header_map.insert((*name).to_owned(), (*value).into());
    }
    let multi_headers: serde_json::Map<String, Value> = header_map
        .iter()
        .map(|(name, value)| (name.clone(), json!([value])))
        .collect();
    let (single, multi): (
        serde_json::Map<String, Value>,
        serde_json::Map<String, Value>,
    ) = (
        query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect(),
        query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!([v])))
            .collect(),
    );
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": header_map,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": if query.is_empty() { Value::Null } else { single.into() },
        "multiValueQueryStringParameters": if query.is_empty() { Value::Null } else { multi.into() },
        "pathParameters": { "proxy": path.trim_start_matches('/') },
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "abc123",
            "stage": stage,
            "requestId": "test-request",
            "identity": { "sourceIp": "203.0.113.7", "userAgent": "lambda-test" },
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "apiId": "a1b2c3d4e5",
            "path": format!("/{stage}{path}"),
            "domainName": API_HOST,
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": 1796061600000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// A function's answer's body, decoded if it was base64.
pub fn body_of(answer: &Value) -> Vec<u8> {
    use base64::Engine;
    let body = answer["body"].as_str().unwrap_or_default();
    if answer["isBase64Encoded"].as_bool().unwrap_or(false) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64 body")
    } else {
        body.as_bytes().to_vec()
    }
}
