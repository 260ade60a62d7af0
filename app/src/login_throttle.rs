//! Slows down password guessing: after too many failed sign-ins from one client address, or for
//! one username, further attempts are refused for a while (HTTP 429) without checking the
//! password. Counters live in this process's memory: each instance limits on its own.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_client: u32,
    pub per_username: u32,
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_client: 20,
            per_username: 5,
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Client(IpAddr),
    Username(String),
}

struct Failures {
    count: u32,
    since: Instant,
}

pub struct LoginThrottle {
    limits: Limits,
    failures: Mutex<HashMap<Key, Failures>>,
}

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

impl LoginThrottle {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(client: Option<IpAddr>, username: &str) -> Vec<(Key, bool)> {
        let mut keys = vec![(Key::Username(username.to_lowercase()), false)];
        if let Some(ip) = client {
            keys.push((Key::Client(ip), true));
        }
        keys
    }

    /// Whether an attempt may go ahead now.
    pub fn check(
        &self,
        client: Option<IpAddr>,
        username: &str,
        now: Instant,
    ) -> Result<(), Throttled> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for (key, is_client) in Self::keys(client, username) {
            let limit = if is_client {
                self.limits.per_client
            } else {
                self.limits.per_username
            };
            if let Some(entry) = failures.get(&key) {
                let elapsed = now.saturating_duration_since(entry.since);
                if elapsed >= self.limits.window {
                    failures.remove(&key);
                } else if entry.count >= limit {
                    wait = wait.max(self.limits.window - elapsed);
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(Throttled { retry_after: wait })
        }
    }

    pub fn record_failure(&self, client: Option<IpAddr>, username: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bound memory under a flood of distinct keys: forget windows that have ended.
        if failures.len() > 100_000 {
            let window = self.limits.window;
            failures.retain(|_, f| now.saturating_duration_since(f.since) < window);
        }
        for (key, _) in Self::keys(client, username) {
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                since: now,
            });
            if now.saturating_duration_since(entry.since) >= self.limits.window {
                *entry = Failures {
                    count: 0,
                    since: now,
                };
            }
            entry.count += 1;
        }
    }

    /// A successful sign-in clears the username's failures (not the client's).
    pub fn record_success(&self, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&Key::Username(username.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(Limits {
            per_client: 4,
            per_username: 2,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn a_username_is_locked_after_its_limit_until_the_window_ends() {
        let t = throttle();
        let ip = Some("10.0.0.1".parse().unwrap());
        let start = Instant::now();
        assert!(t.check(ip, "ada", start).is_ok());
        t.record_failure(ip, "ada", start);
        t.record_failure(ip, "ADA", start);
        let refused = t
            .check(ip, "Ada", start + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(50));
        // Another username from another client is unaffected.
        assert!(t
            .check(Some("10.0.0.2".parse().unwrap()), "grace", start)
            .is_ok());
        assert!(t.check(ip, "ada", start + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn a_client_is_locked_across_usernames() {
        let t = throttle();
        let ip = Some("10.0.0.1".parse().unwrap());
        let now = Instant::now();
        for name in ["a", "b", "c", "d"] {
            t.record_failure(ip, name, now);
        }
        assert!(t.check(ip, "e", now).is_err());
        assert!(t.check(Some("10.0.0.9".parse().unwrap()), "e", now).is_ok());
    }

    #[test]
    fn success_clears_the_username() {
        let t = throttle();
        let now = Instant::now();
        t.record_failure(None, "ada", now);
        t.record_failure(None, "ada", now);
        assert!(t.check(None, "ada", now).is_err());
        t.record_success("ada");
        assert!(t.check(None, "ada", now).is_ok());
    }
}
