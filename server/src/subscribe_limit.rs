//! How many subscribes one client may make: a token bucket per client (IPv6 by /64), refilled at
//! `per_minute` a minute and holding as many, so a person never notices it while a script posting
//! thousands of addresses (filling the table, or — once mail is sent — mail-bombing strangers) is
//! answered 429. Per instance, in memory; the map is bounded.

use app::client_address::limit_key;
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

const MAX_CLIENTS: usize = 100_000;

pub struct SubscribeLimit {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl SubscribeLimit {
    /// `per_minute` 0: no limit.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one subscribe from `client`'s bucket; false when it is empty.
    pub fn allow(&self, client: IpAddr, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS {
            // Full buckets are forgotten first: they are what a new client gets anyway.
            let full_after = Duration::from_secs(60);
            buckets.retain(|_, (_, at)| now.saturating_duration_since(*at) < full_after);
            if buckets.len() >= MAX_CLIENTS {
                buckets.clear();
            }
        }
        let (tokens, at) = buckets.entry(limit_key(client)).or_insert((capacity, now));
        *tokens =
            (*tokens + now.saturating_duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_one_every_few_seconds_and_others_are_unaffected() {
        let limit = SubscribeLimit::new(6);
        let start = Instant::now();
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..6 {
            assert!(limit.allow(client, start));
        }
        assert!(!limit.allow(client, start));
        assert!(limit.allow("192.0.2.2".parse().unwrap(), start));
        // 6 a minute: one more after 10 s.
        assert!(!limit.allow(client, start + Duration::from_secs(5)));
        assert!(limit.allow(client, start + Duration::from_secs(11)));
        assert!(SubscribeLimit::new(0).allow(client, start));
    }
}
