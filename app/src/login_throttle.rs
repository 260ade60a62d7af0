//! Slows down password guessing: after too many failed sign-ins from one client, or for one
//! username, further attempts are refused for a while (HTTP 429) without checking the password.
//! Counters live in this process's memory: each instance limits on its own.
//!
//! An attempt is counted *before* the password is checked ([`LoginThrottle::reserve`]) and given
//! back if it was not a wrong password, so concurrent guesses cannot all slip past the check:
//! at most `per_username` wrong answers per username per window, however many arrive at once.

use crate::client_address::limit_key;
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
    /// How many usernames and clients are remembered; past it the oldest are forgotten first, so
    /// a flood of made-up usernames can't grow memory.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_client: 20,
            per_username: 5,
            window: Duration::from_secs(15 * 60),
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// IPv4 address, or an IPv6 client's /64 (one subscriber line hands out a whole /64).
    Client(IpAddr),
    Username(String),
}

struct Attempts {
    count: u32,
    since: Instant,
}

pub struct LoginThrottle {
    limits: Limits,
    attempts: Mutex<HashMap<Key, Attempts>>,
}

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

/// An attempt counted against its username and client. Say how it ended: a wrong password keeps
/// the count ([`Reservation::failed`]); anything else gives it back.
#[must_use = "say how the attempt ended"]
pub struct Reservation<'a> {
    throttle: &'a LoginThrottle,
    keys: Vec<Key>,
}

impl Reservation<'_> {
    /// A wrong password: the attempt stays counted.
    pub fn failed(self) {}

    /// Signed in: the username's failures are cleared, and this attempt is given back.
    pub fn succeeded(self) {
        let mut attempts = self.throttle.lock();
        for key in &self.keys {
            match key {
                Key::Username(_) => {
                    attempts.remove(key);
                }
                Key::Client(_) => give_back(&mut attempts, key),
            }
        }
    }

    /// The password was never checked (or the answer says nothing about it): given back.
    pub fn refund(self) {
        let mut attempts = self.throttle.lock();
        for key in &self.keys {
            give_back(&mut attempts, key);
        }
    }
}

fn give_back(attempts: &mut HashMap<Key, Attempts>, key: &Key) {
    if let Some(entry) = attempts.get_mut(key) {
        entry.count = entry.count.saturating_sub(1);
    }
}

impl LoginThrottle {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Attempts>> {
        self.attempts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts an attempt for `username` from `client`, unless either is at its limit.
    pub fn reserve(
        &self,
        client: Option<IpAddr>,
        username: &str,
        now: Instant,
    ) -> Result<Reservation<'_>, Throttled> {
        let mut keys = vec![(
            Key::Username(username.to_lowercase()),
            self.limits.per_username,
        )];
        if let Some(ip) = client {
            keys.push((Key::Client(limit_key(ip)), self.limits.per_client));
        }
        let mut attempts = self.lock();
        let window = self.limits.window;
        let mut wait = Duration::ZERO;
        for (key, limit) in &keys {
            if let Some(entry) = attempts.get(key) {
                let elapsed = now.saturating_duration_since(entry.since);
                if elapsed < window && entry.count >= *limit {
                    wait = wait.max(window - elapsed);
                }
            }
        }
        if !wait.is_zero() {
            return Err(Throttled { retry_after: wait });
        }
        self.make_room(&mut attempts, now, keys.len());
        for (key, _) in &keys {
            let entry = attempts.entry(key.clone()).or_insert(Attempts {
                count: 0,
                since: now,
            });
            if now.saturating_duration_since(entry.since) >= window {
                *entry = Attempts {
                    count: 0,
                    since: now,
                };
            }
            entry.count += 1;
        }
        Ok(Reservation {
            throttle: self,
            keys: keys.into_iter().map(|(key, _)| key).collect(),
        })
    }

    /// Keeps the map within `max_entries`: windows that ended go first, then the oldest.
    fn make_room(&self, attempts: &mut HashMap<Key, Attempts>, now: Instant, adding: usize) {
        let max = self.limits.max_entries.max(adding);
        if attempts.len() + adding <= max {
            return;
        }
        let window = self.limits.window;
        attempts.retain(|_, a| now.saturating_duration_since(a.since) < window);
        if attempts.len() + adding > max {
            // Forget the oldest tenth at once, so a flood pays this sort rarely.
            let mut by_age: Vec<(Instant, Key)> =
                attempts.iter().map(|(k, a)| (a.since, k.clone())).collect();
            by_age.sort_by_key(|(since, _)| *since);
            let excess = attempts.len() + adding - max;
            for (_, key) in by_age.into_iter().take(excess.max(max / 10)) {
                attempts.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
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
            max_entries: 1000,
        })
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_username_is_locked_after_its_limit_until_the_window_ends() {
        let t = throttle();
        let start = Instant::now();
        t.reserve(ip("10.0.0.1"), "ada", start).unwrap().failed();
        t.reserve(ip("10.0.0.1"), "ADA", start).unwrap().failed();
        let refused = t
            .reserve(ip("10.0.0.1"), "Ada", start + Duration::from_secs(10))
            .err()
            .unwrap();
        assert_eq!(refused.retry_after, Duration::from_secs(50));
        // Another username from another client is unaffected.
        t.reserve(ip("10.0.0.2"), "grace", start).unwrap().refund();
        t.reserve(ip("10.0.0.1"), "ada", start + Duration::from_secs(60))
            .unwrap()
            .refund();
    }

    #[test]
    fn concurrent_attempts_are_counted_before_they_are_checked() {
        let t = throttle();
        let now = Instant::now();
        // Two reservations held at once (two checks in flight): the third is refused already.
        let first = t.reserve(ip("10.0.0.1"), "ada", now).unwrap();
        let second = t.reserve(ip("10.0.0.2"), "ada", now).unwrap();
        assert!(t.reserve(ip("10.0.0.3"), "ada", now).is_err());
        first.failed();
        // An attempt whose password was never checked is given back.
        second.refund();
        t.reserve(ip("10.0.0.3"), "ada", now).unwrap().failed();
        assert!(t.reserve(ip("10.0.0.4"), "ada", now).is_err());
    }

    #[test]
    fn a_client_is_locked_across_usernames() {
        let t = throttle();
        let now = Instant::now();
        for name in ["a", "b", "c", "d"] {
            t.reserve(ip("10.0.0.1"), name, now).unwrap().failed();
        }
        assert!(t.reserve(ip("10.0.0.1"), "e", now).is_err());
        t.reserve(ip("10.0.0.9"), "e", now).unwrap().refund();
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let t = throttle();
        let now = Instant::now();
        for (n, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
            let address = format!("2001:db8:1:2:{n}::{n}");
            t.reserve(ip(&address), name, now).unwrap().failed();
        }
        assert!(t.reserve(ip("2001:db8:1:2:ffff::1"), "e", now).is_err());
        t.reserve(ip("2001:db8:1:3::1"), "e", now).unwrap().refund();
    }

    #[test]
    fn success_clears_the_username() {
        let t = throttle();
        let now = Instant::now();
        t.reserve(None, "ada", now).unwrap().failed();
        t.reserve(None, "ada", now).unwrap().failed();
        assert!(t.reserve(None, "ada", now).is_err());
        let t = throttle();
        t.reserve(None, "ada", now).unwrap().failed();
        t.reserve(None, "ada", now).unwrap().succeeded();
        t.reserve(None, "ada", now).unwrap().failed();
        t.reserve(None, "ada", now).unwrap().failed();
        assert!(t.reserve(None, "ada", now).is_err());
    }

    #[test]
    fn a_flood_of_usernames_stays_within_the_bound_and_keeps_the_newest() {
        let t = throttle();
        let now = Instant::now();
        for n in 0..5000u32 {
            let at = now + Duration::from_millis(u64::from(n));
            t.reserve(None, &format!("made-up-{n}"), at)
                .unwrap()
                .failed();
        }
        assert!(t.len() <= 1000, "{}", t.len());
        let late = now + Duration::from_millis(4999);
        assert!(t.reserve(None, "made-up-4999", late).is_ok_and(|r| {
            r.failed();
            true
        }));
        assert!(t.reserve(None, "made-up-4999", late).is_err());
    }
}
