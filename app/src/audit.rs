//! Security events: one structured log event each, under the `audit` target, so that they can be
//! kept apart (`RUST_LOG=audit=info`) or collected as JSON (`--log-format json`). Text that came
//! from a client (usernames, access key ids) is cut to 64 characters and escaped, so it can't
//! forge log lines.

use std::net::IpAddr;

/// At most 64 characters of `text`, control characters and quotes escaped.
pub fn untrusted(text: &str) -> String {
    let cut: String = text.chars().take(64).collect();
    let mut escaped = cut.escape_debug().to_string();
    if text.chars().count() > 64 {
        escaped.push('…');
    }
    escaped
}

/// Every security event is also counted (Prometheus, when served).
fn count(event: &'static str) {
    metrics::counter!("security_events_total", "event" => event).increment(1);
}

pub fn sign_in_failed(username: &str, client: Option<IpAddr>) {
    count("sign_in_failed");
    tracing::warn!(target: "audit", event = "sign_in_failed", username = %untrusted(username),
        client = ?client, "failed sign-in");
}

pub fn sign_in_throttled(username: &str, client: Option<IpAddr>, retry_after_secs: u64) {
    count("sign_in_throttled");
    tracing::warn!(target: "audit", event = "sign_in_throttled", username = %untrusted(username),
        client = ?client, retry_after_secs, "sign-in refused by the throttle");
}

pub fn signed_in(username: &str, client: Option<IpAddr>) {
    count("signed_in");
    tracing::info!(target: "audit", event = "signed_in", username = %untrusted(username),
        client = ?client, "signed in");
}

pub fn credentials_minted(username: &str, sub: &str, access_key_id: &str, expiration: i64) {
    count("credentials_minted");
    tracing::info!(target: "audit", event = "credentials_minted", username = %untrusted(username),
        sub = %untrusted(sub), access_key_id, expiration, "temporary credentials minted");
}

/// Logged out: `revoked` when the provider ended the session on the server too.
pub fn signed_out(username: &str, sub: &str, revoked: bool) {
    count("signed_out");
    tracing::info!(target: "audit", event = "signed_out", username = %untrusted(username),
        sub = %untrusted(sub), revoked, "signed out");
}

/// A signed request refused by the SigV4 layer; `access_key_id` as the request claimed it.
pub fn signature_refused(access_key_id: Option<&str>, reason: &str) {
    count("signature_refused");
    tracing::warn!(target: "audit", event = "signature_refused",
        access_key_id = %untrusted(access_key_id.unwrap_or("")), reason, "refused a signed request");
}

pub fn subscribe_limited(client: Option<IpAddr>) {
    count("subscribe_limited");
    tracing::warn!(target: "audit", event = "subscribe_limited", client = ?client,
        "subscribe refused by the per-client limit");
}

pub fn honeypot_filled(client: Option<IpAddr>) {
    count("honeypot_filled");
    tracing::info!(target: "audit", event = "honeypot_filled", client = ?client,
        "a bot filled the honeypot; nothing stored");
}

/// A correctly signed caller outside the admin group.
pub fn access_denied(username: &str, path: &str) {
    count("access_denied");
    tracing::warn!(target: "audit", event = "access_denied", username = %untrusted(username),
        path = %untrusted(path), "refused a caller outside the admin group");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_text_is_cut_and_cannot_break_a_log_line() {
        assert_eq!(untrusted("ada"), "ada");
        assert_eq!(
            untrusted("a\nfake line\u{1b}[31m"),
            "a\\nfake line\\u{1b}[31m"
        );
        let long = "x".repeat(200);
        assert_eq!(untrusted(&long), format!("{}…", "x".repeat(64)));
    }
}
