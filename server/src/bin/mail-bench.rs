//! What `scripts/bench` and `scripts/crash-test` measure issue sending against (`cargo build
//! --release -p server --bin mail-bench`; not shipped: the Lambda zip and the site hold only
//! `serverless-stories`):
//!
//! - `mail-bench sink REPORT`: an SMTP sink on a free loopback port (it prints `listening on
//!   ADDRESS`) that accepts every message and counts them per recipient; when its standard input
//!   closes it writes the counts to REPORT as JSON and exits. Fast enough not to be what is
//!   measured.
//! - `mail-bench baseline SMTP_URL COUNT`: the baseline, a bare lettre pooled-SMTP loop sending
//!   the same issue (composed the same way) to `bench-<n>@example.test` for n < COUNT, one at a
//!   time, as the sender does; prints the seconds it took.

use lettre::{message::Mailbox, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use server::newsletter_issue::{Issue, Site};
use std::{
    collections::HashMap,
    io::Read,
    sync::{Arc, Mutex},
    time::Instant,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

/// The story the bench sends (any would do: the same for both sides).
const SLUG: &str = "function-as-a-service";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new()?;
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["sink", report] => runtime.block_on(sink(report)),
        ["baseline", url, count] => runtime.block_on(baseline(url, count.parse()?)),
        _ => anyhow::bail!("usage: mail-bench sink REPORT | mail-bench baseline SMTP_URL COUNT"),
    }
}

type Counts = Arc<Mutex<HashMap<String, u32>>>;

async fn sink(report: &str) -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    let counts: Counts = Arc::default();
    let accepting = Arc::clone(&counts);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(session(stream, Arc::clone(&accepting)));
        }
    });
    // Until the caller closes our standard input.
    tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await??;
    let counts = counts.lock().unwrap_or_else(|p| p.into_inner()).clone();
    std::fs::write(report, serde_json::to_vec(&counts)?)?;
    Ok(())
}

/// One SMTP session: every command accepted, each message counted once its final `.` arrives.
async fn session(stream: tokio::net::TcpStream, counts: Counts) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut to = Vec::new();
    if write.write_all(b"220 sink ESMTP\r\n").await.is_err() {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let reply: &[u8] = match upper.as_str() {
            "EHLO" | "HELO" => b"250-sink\r\n250 8BITMIME\r\n",
            "RCPT" => {
                let address = line.get(8..).unwrap_or_default();
                to.push(address.trim().trim_matches(['<', '>']).to_owned());
                b"250 OK\r\n"
            }
            "DATA" => {
                if write.write_all(b"354 go ahead\r\n").await.is_err() {
                    return;
                }
                loop {
                    match lines.next_line().await {
                        Ok(Some(line)) if line == "." => break,
                        Ok(Some(_)) => {}
                        // Cut off mid-message: nothing was delivered.
                        _ => return,
                    }
                }
                let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
                for address in to.drain(..) {
                    *counts.entry(address).or_default() += 1;
                }
                b"250 queued\r\n"
            }
            "RSET" => {
                to.clear();
                b"250 OK\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 OK\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

async fn baseline(url: &str, count: u64) -> anyhow::Result<()> {
    let catalog = server::content::embedded_catalog()?;
    let (Some(story), Some(source)) = (catalog.get(SLUG), catalog.newsletter_source(SLUG)) else {
        anyhow::bail!("no story {SLUG}");
    };
    let site = Site {
        public_url: "https://stories.example",
        name: app::SITE_NAME,
    };
    let issue = Issue::from_story(story, source, &site);
    let from: Mailbox = "Serverless Stories <news@stories.example>".parse()?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.build();
    let started = Instant::now();
    for n in 0..count {
        let to = format!("bench-{n:09}@example.test");
        let mail = issue.mail_to(&to, "https://stories.example/unsubscribe?token=bench");
        let (envelope, message) = server::mail::compose::compose(&from, &mail, None)?;
        transport.send_raw(&envelope, &message).await?;
    }
    println!("{}", started.elapsed().as_secs_f64());
    Ok(())
}
