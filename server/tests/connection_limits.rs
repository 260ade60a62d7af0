//! Black-box: slow and idle clients can't hold the server — header read timeout, whole-request
//! timeout, and the cap on concurrent connections.

mod common;

use common::{data_dir, spawn_app_with, TestApp};
use std::time::Duration;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

async fn app_with(dir: &std::path::Path, settings: &[(&str, &str)]) -> TestApp {
    let env: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    spawn_app_with(dir, &env).await
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connect")
}

/// Reads until the server closes the connection; what it sent. Fails the test if it is still open
/// after `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(within, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .expect("the server should have closed the connection");
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let dir = data_dir();
    let app = app_with(dir.path(), &[("STORIES_HEADER_TIMEOUT", "1")]).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: example\r\nX-Slow: ")
        .await
        .unwrap();
    read_until_closed(&mut stream, Duration::from_secs(15)).await;
    // An idle keep-alive connection (no request at all) is closed the same way.
    let mut idle = connect(&app).await;
    read_until_closed(&mut idle, Duration::from_secs(15)).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_request_whose_body_never_arrives_is_answered_408() {
    let dir = data_dir();
    let app = app_with(dir.path(), &[("STORIES_REQUEST_TIMEOUT", "1")]).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"POST /api/subscribe HTTP/1.1\r\nHost: example\r\nAccept: application/json\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(15)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_ends() {
    let dir = data_dir();
    let app = app_with(dir.path(), &[("STORIES_MAX_CONNECTIONS", "2")]).await;
    let first = connect(&app).await;
    let _second = connect(&app).await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let waiting = quick.get(app.url("/healthz")).send().await;
    assert!(waiting.is_err(), "served past the cap: {waiting:?}");
    drop(first);
    let served = reqwest::Client::new()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("served once a connection ended");
    assert_eq!(served.status(), 200);
}
