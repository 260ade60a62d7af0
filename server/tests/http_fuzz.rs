//! Black-box, bounded HTTP fuzz of every route: random methods, paths, queries, headers and
//! bodies (huge, malformed, binary), plus raw malformed HTTP on the socket. The server must never
//! answer 5xx, never crash, and still be healthy afterwards. The seed is printed; rerun one with
//! `HTTP_FUZZ_SEED=<seed> cargo test --test http_fuzz`.

mod common;

use common::{add_admin, data_dir, spawn_app, TestApp};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REQUESTS: usize = 1500;
const CONCURRENCY: usize = 8;
const TIME_BUDGET: Duration = Duration::from_secs(90);

/// xorshift64*: small, seedable, good enough to pick cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
    fn text(&mut self, len: usize) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            "0",
            "@",
            ".",
            "-",
            "_",
            "%",
            "%00",
            "%ff",
            "%2F",
            "/",
            "..",
            "?",
            "&",
            "=",
            "+",
            " ",
            "\"",
            "'",
            "<",
            ">",
            "<script>",
            "é",
            "日本",
            "\u{202e}",
            "\\",
            ";",
            ",",
            "{",
            "}",
            "[",
            "]",
            "#",
            "~",
            "*",
            "\t",
            "AWS4-HMAC-SHA256",
            "Credential=",
            "SignedHeaders=",
            "Signature=",
            "ASIA",
            "eyJhbGciOiJub25lIn0",
            "null",
            "-1",
            "99999999999999999999",
            "example.com",
        ];
        let mut out = String::new();
        for _ in 0..len {
            let piece: &&str = self.pick(PIECES);
            out.push_str(piece);
        }
        out
    }
}

const ROUTES: &[&str] = &[
    "/",
    "/login",
    "/admin",
    "/healthz",
    "/.well-known/jwks.json",
    "/post/why-serverless-stories",
    "/post/no-such-story/",
    "/post/",
    "/post/%2e%2e/%2e%2e/etc/passwd",
    "/api/subscribe",
    "/api/login",
    "/api/new-password",
    "/api/credentials",
    "/api/subscribers",
    "/api/stories",
    "/api/story",
    "/pkg/serverless-stories.js",
    "/pkg/serverless-stories.wasm",
    "/favicon.svg",
    "/images/../../Cargo.toml",
    "/nope",
];

const METHODS: &[&str] = &[
    "GET", "GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
    "FOO",
];

const CONTENT_TYPES: &[&str] = &[
    "application/x-www-form-urlencoded",
    "application/json",
    "multipart/form-data; boundary=xyz",
    "text/plain",
    "application/cbor",
    "application/x-www-form-urlencoded; charset=utf-16",
    "",
    ";;;",
];

const FIELDS: &[&str] = &[
    "email",
    "username",
    "password",
    "session",
    "new_password",
    "confirm_password",
    "token",
    "cursor",
    "limit",
    "slug",
    "x",
];

fn path_and_query(rng: &mut Rng) -> String {
    let mut path = if rng.chance(85) {
        rng.pick(ROUTES).to_string()
    } else {
        let len = if rng.chance(5) { 2000 } else { rng.below(12) };
        format!("/{}", encode_path(&rng.text(len)))
    };
    if rng.chance(50) {
        let mut query = Vec::new();
        for _ in 0..rng.below(4) + 1 {
            let key = if rng.chance(70) {
                rng.pick(FIELDS).to_string()
            } else {
                rng.text(2)
            };
            let len = rng.below(6);
            let value = match rng.below(6) {
                0 => "-5".to_owned(),
                1 => "100000000000000000000".to_owned(),
                2 => "0".to_owned(),
                _ => rng.text(len),
            };
            query.push(format!("{}={}", encode_query(&key), encode_query(&value)));
        }
        path.push('?');
        path.push_str(&query.join("&"));
    }
    path
}

/// Keeps what reqwest would refuse out of the URL while leaving odd-but-legal bytes in.
fn encode_path(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b'%' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn encode_query(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn body(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        0 => Vec::new(),
        1 => {
            let len = rng.below(300);
            rng.bytes(len)
        }
        // Over the 16 KiB limit.
        2 => {
            let len = 17 * 1024 + rng.below(200 * 1024);
            rng.bytes(len)
        }
        3 => br#"{"email": "ada@example.com", "username": ["x"], "limit": {}}"#.to_vec(),
        _ => {
            let mut fields = Vec::new();
            for _ in 0..rng.below(5) {
                let key = rng.pick(FIELDS).to_string();
                let len = if rng.chance(5) { 3000 } else { rng.below(8) };
                let value = rng.text(len);
                fields.push(format!("{}={}", encode_query(&key), encode_query(&value)));
            }
            if rng.chance(10) {
                fields.push("email=%E0%A4%A".into()); // a broken escape
            }
            fields.join("&").into_bytes()
        }
    }
}

fn header_value(rng: &mut Rng) -> reqwest::header::HeaderValue {
    let value = match rng.below(5) {
        // obs-text bytes: legal on the wire, not UTF-8.
        0 => {
            let len = rng.below(20) + 1;
            let mut bytes = rng.bytes(len);
            for b in &mut bytes {
                *b = 0x80 | (*b & 0x7f);
            }
            bytes
        }
        1 => vec![b'x'; 8 * 1024],
        _ => {
            let len = rng.below(10);
            rng.text(len).replace(['\t'], " ").into_bytes()
        }
    };
    reqwest::header::HeaderValue::from_bytes(&value)
        .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("x"))
}

struct Outcome {
    request: String,
    status: u16,
    body: String,
}

async fn one_request(app: &TestApp, rng: &mut Rng) -> Option<Outcome> {
    let method = reqwest::Method::from_bytes(rng.pick(METHODS).as_bytes()).unwrap();
    let target = path_and_query(rng);
    let mut request = app.client.request(method.clone(), app.url(&target));
    let mut described = format!("{method} {target}");
    if rng.chance(60) {
        let content_type = *rng.pick(CONTENT_TYPES);
        request = request.header("content-type", content_type);
        described.push_str(&format!(" content-type={content_type:?}"));
    }
    if rng.chance(50) {
        let accept = *rng.pick(&["application/json", "text/html", "*/*", "", "x/y;q=abc"]);
        request = request.header("accept", accept);
    }
    for name in [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "cookie",
        "referer",
    ] {
        if rng.chance(15) {
            let value = header_value(rng);
            described.push_str(&format!(" {name}={:?}", value.as_bytes().len()));
            request = request.header(name, value);
        }
    }
    if rng.chance(10) {
        // A plausible but wrong signature header.
        request = request
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=ASIA{}/20261126/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
                    rng.text(2),
                    "0".repeat(rng.below(80))
                ),
            )
            .header("x-amz-date", "20261126T000000Z");
    }
    if method != reqwest::Method::GET && method != reqwest::Method::HEAD {
        let body = body(rng);
        described.push_str(&format!(" body={}B", body.len()));
        request = request.body(body);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            Some(Outcome {
                request: described,
                status,
                body: body.chars().take(300).collect(),
            })
        }
        // The server may close the connection on a request it refuses outright (e.g. an
        // oversized header block); that is not a 5xx.
        Err(err) if err.is_request() || err.is_body() || err.is_connect() => None,
        Err(err) => Some(Outcome {
            request: described,
            status: 0,
            body: format!("transport error: {err}"),
        }),
    }
}

/// Raw bytes no HTTP client would send.
const RAW: &[&[u8]] = &[
    b"\x00\x01\x02\x03\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /api/subscribe HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nemail",
    b"POST /api/subscribe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nemail\r\n0\r\n\r\n",
    b"POST /api/subscribe HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nemail=",
    b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: \xff\r\n\r\n",
    b"\r\n\r\n\r\n",
];

async fn raw_request(address: &str, bytes: &[u8]) -> Option<u16> {
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    stream.write_all(bytes).await.ok()?;
    let mut answer = vec![0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .ok()?
        .ok()?;
    let head = String::from_utf8_lossy(&answer[..read]).to_string();
    head.split(' ').nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_survives_random_and_malformed_requests_without_a_5xx() {
    let seed: u64 = std::env::var("HTTP_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    println!("HTTP_FUZZ_SEED={seed}");
    let dir = data_dir();
    add_admin(dir.path(), "ada", "correct horse battery");
    let app = std::sync::Arc::new(spawn_app(dir.path()).await);
    assert_eq!(app.subscribe("seed@example.com").await.status(), 200);

    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|worker| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut rng =
                    Rng(seed.wrapping_add((worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
                let mut failures = Vec::new();
                let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
                let mut sent = 0;
                while sent < REQUESTS / CONCURRENCY && started.elapsed() < TIME_BUDGET {
                    if let Some(outcome) = one_request(&app, &mut rng).await {
                        *statuses.entry(outcome.status).or_default() += 1;
                        if outcome.status >= 500 || outcome.status == 0 {
                            failures.push(outcome);
                        }
                    }
                    sent += 1;
                }
                (sent, failures, statuses)
            })
        })
        .collect();
    let mut sent = 0;
    let mut failures = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for worker in workers {
        let (n, mut f, s) = worker.await.unwrap();
        sent += n;
        failures.append(&mut f);
        for (status, count) in s {
            *statuses.entry(status).or_default() += count;
        }
    }
    println!("statuses: {statuses:?}");
    for raw in RAW {
        if let Some(status) = raw_request(&app.address, raw).await {
            if status >= 500 {
                failures.push(Outcome {
                    request: format!("raw {:?}", String::from_utf8_lossy(raw)),
                    status,
                    body: String::new(),
                });
            }
        }
    }
    let report: Vec<String> = failures
        .iter()
        .take(20)
        .map(|f| format!("{} -> {} {}", f.request, f.status, f.body))
        .collect();
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {sent} requests got a 5xx or broke the connection:\n{}",
        failures.len(),
        report.join("\n")
    );
    assert!(sent >= 200, "only {sent} requests fit in the time budget");
    // The cases reached the handlers: pages and API answers, refusals, and the body limit.
    for expected in [200, 400, 404, 405, 413] {
        assert!(
            statuses.contains_key(&expected),
            "no {expected} among {statuses:?}"
        );
    }
    // Still alive and healthy, and still doing its job.
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.subscribe("after-fuzz@example.com").await.status(), 200);
}
