//! Black-box helpers: start the real `serverless-stories` binary on port 0 with its own data
//! directory and talk to it over HTTP (zero2prod style).

#![allow(dead_code)] // each test file uses a different subset

pub mod aws;
pub mod lambda;
pub mod oidc_provider;
pub mod sigv4_client;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

pub struct TestApp {
    pub address: String,
    /// `http://…/metrics` when the server serves metrics (`STORIES_METRICS_ADDR`).
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    child: Child,
    /// Every line the server wrote to standard error (its logs) so far.
    logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A data directory that outlives server restarts within one test.
pub fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn site_root() -> PathBuf {
    // The static assets in public/ are all these tests need from the site root.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../public")
}

pub async fn spawn_app(data_dir: &Path) -> TestApp {
    spawn_app_with(data_dir, &[]).await
}

/// Starts the server with extra environment (e.g. the AWS-mode settings).
pub async fn spawn_app_with(data_dir: &Path, env: &[(String, String)]) -> TestApp {
    let mut child = Command::new(env!("CARGO_BIN_EXE_serverless-stories"))
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("LEPTOS_SITE_ROOT", site_root())
        .env("STORIES_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        // Tests subscribe many addresses from one client; the limit's own tests turn it on.
        .env("STORIES_SUBSCRIBE_LIMIT", "0")
        // Last: a test's own settings win over these defaults.
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start serverless-stories");
    // Logs are kept for the test to read, and still shown in the test's output.
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let kept = logs.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            eprintln!("{line}");
            kept.lock().unwrap().push(line);
        }
    });
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (address, metrics_address) = tokio::time::timeout(Duration::from_secs(30), async {
        let mut metrics_address = None;
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(metrics) = line.strip_prefix("metrics on ") {
                metrics_address = Some(metrics.to_owned());
            }
            if let Some(address) = line.strip_prefix("listening on ") {
                return (address.to_owned(), metrics_address);
            }
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server did not start within 30 s");
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    TestApp {
        address,
        metrics_address,
        client,
        child,
        logs,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The log lines written so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The server process's peak resident memory so far (Linux `VmHWM`), in KiB.
    #[cfg(target_os = "linux")]
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// Subscribe the way the hydrated page does (form-encoded body, JSON answer).
    pub async fn post_subscribe(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url("/api/subscribe"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /api/subscribe")
    }

    /// Posts form fields to an API endpoint as the hydrated page does (form body, JSON answer).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("accept", "application/json")
            .form(fields)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub async fn subscribe(&self, email: &str) -> reqwest::Response {
        self.post_form("/api/subscribe", &[("email", email)]).await
    }

    /// Subscribe the way a browser without JavaScript does (plain form post, wants HTML).
    pub async fn subscribe_without_js(&self, email: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/subscribe"))
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .header("referer", self.url("/"))
            .form(&[("email", email)])
            .send()
            .await
            .expect("POST /api/subscribe (no JS)")
    }

    /// Stops the server the hard way: nothing gets a chance to flush.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill -9 the server");
    }

    /// Stops the server with SIGTERM and waits for it to exit; returns whether it exited cleanly.
    pub async fn terminate(mut self) -> bool {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("server stops within 10 s after SIGTERM")
            .expect("wait");
        exit.success()
    }
}

/// `serverless-stories admin add USERNAME --password-stdin` against `data_dir`.
pub fn add_admin(data_dir: &Path, username: &str, password: &str) {
    add_user(data_dir, username, password, &[]);
}

/// `admin add` with extra arguments (e.g. `--group readers`).
pub fn add_user(data_dir: &Path, username: &str, password: &str, extra: &[&str]) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_serverless-stories"))
        .args(["admin", "add", username, "--password-stdin"])
        .args(extra)
        .env("STORIES_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run admin add");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "admin add failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl TestApp {
    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_form(
            "/api/login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    pub async fn credentials(&self, token: &str) -> reqwest::Response {
        self.post_form("/api/credentials", &[("token", token)])
            .await
    }

    /// Logs in and trades the token for credentials: (id token, credentials JSON).
    pub async fn admin_credentials(
        &self,
        username: &str,
        password: &str,
    ) -> (String, serde_json::Value) {
        let login = self.login(username, password).await;
        assert_eq!(login.status(), 200);
        let token = login.json::<serde_json::Value>().await.unwrap()["IdToken"]
            .as_str()
            .unwrap()
            .to_owned();
        let response = self.credentials(&token).await;
        assert_eq!(response.status(), 200);
        (token, response.json().await.unwrap())
    }
}

/// Runs the binary to completion with `args` and extra environment (stdin empty).
pub fn run_cli(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_serverless-stories"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run serverless-stories")
}

/// moto's address: `scripts/test` starts moto_server and sets `STORIES_TEST_MOTO_ENDPOINT`.
pub fn moto_endpoint() -> String {
    std::env::var("STORIES_TEST_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "the AWS-mode tests need moto: run scripts/test, or start `moto_server -p 5000` \
             and set STORIES_TEST_MOTO_ENDPOINT=http://127.0.0.1:5000"
        )
    })
}

/// A name no other test (or earlier run against the same moto) uses.
pub fn unique_name(prefix: &str) -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("random bytes");
    format!("{prefix}-{}", hex::encode(bytes))
}

/// The CLI's environment: the data directory, and `extra` settings.
pub fn cli_env(dir: &Path, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![("STORIES_DATA_DIR".to_owned(), dir.display().to_string())];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

/// The SMTP sink `scripts/test` runs: its URL and the Maildir it saves messages into.
pub fn smtp_sink() -> (String, PathBuf) {
    let (Ok(url), Ok(maildir)) = (
        std::env::var("STORIES_TEST_SMTP_URL"),
        std::env::var("STORIES_TEST_MAILDIR"),
    ) else {
        panic!(
            "the SMTP tests need a sink: run scripts/test, or start `python3 -m aiosmtpd -n -l \
             127.0.0.1:2525 -c aiosmtpd.handlers.Mailbox /tmp/maildir` and set \
             STORIES_TEST_SMTP_URL=smtp://127.0.0.1:2525 STORIES_TEST_MAILDIR=/tmp/maildir"
        )
    };
    (url, PathBuf::from(maildir))
}

/// The message to `to` the SMTP sink saved in `maildir` (polled briefly: the sink writes after
/// answering).
pub fn received_by_sink(maildir: &Path, to: &str) -> Option<String> {
    (0..50).find_map(|_| {
        let found = std::fs::read_dir(maildir.join("new"))
            .ok()?
            .find_map(|entry| {
                let text = std::fs::read_to_string(entry.ok()?.path()).ok()?;
                text.contains(&format!("To: {to}")).then_some(text)
            });
        if found.is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        found
    })
}
