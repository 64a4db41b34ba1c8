//! Per-client token buckets for the unauthenticated calls that start work. Pure: time is a
//! parameter.
//!
//! A client is an IPv4 address or an IPv6 /64 (one host commonly holds a whole /64, so single
//! IPv6 addresses would be free to rotate). The table is bounded; when it is full of active
//! clients the least recently seen one is forgotten: a flood of addresses costs the flooder
//! its own history, never the others their access.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use warden_verifier_service::connections::ClientKey;

/// Token-bucket parameters.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Sustained requests per second per client; 0 disables limiting.
    pub per_second: f64,
    /// Bucket size: the most requests a client may make at once.
    pub burst: f64,
    /// Most clients tracked at once; beyond it, idle buckets are dropped first, then the least
    /// recently seen.
    pub max_clients: usize,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A token bucket per client IP address.
pub struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<ClientKey, Bucket>,
}

impl RateLimiter {
    /// A limiter tracking no clients yet.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `client`; false means the request must be refused.
    pub fn allow(&mut self, client: IpAddr, now: Instant) -> bool {
        if self.limit.per_second <= 0.0 {
            return true;
        }
        let client = ClientKey::from(client);
        if !self.buckets.contains_key(&client) && self.buckets.len() >= self.limit.max_clients {
            self.forget_idle(now);
            if self.buckets.len() >= self.limit.max_clients {
                self.forget_least_recent();
            }
        }
        let limit = self.limit;
        let bucket = self.buckets.entry(client).or_insert(Bucket {
            tokens: limit.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(limit.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Drops the bucket seen longest ago: the table is full of active clients. A linear scan,
    /// needed only while as many clients as the table holds are active at once.
    fn forget_least_recent(&mut self) {
        let oldest = self
            .buckets
            .iter()
            .min_by_key(|(_, bucket)| bucket.updated)
            .map(|(key, _)| *key);
        if let Some(key) = oldest {
            self.buckets.remove(&key);
        }
    }

    /// Drops buckets that have refilled completely: forgetting them changes no decision.
    pub fn forget_idle(&mut self, now: Instant) {
        let limit = self.limit;
        self.buckets.retain(|_, bucket| {
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens + elapsed * limit.per_second < limit.burst
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills() {
        let mut limiter = RateLimiter::new(RateLimit {
            per_second: 2.0,
            burst: 3.0,
            max_clients: 10,
        });
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        let start = Instant::now();
        assert!((0..3).all(|_| limiter.allow(client, start)));
        assert!(!limiter.allow(client, start));
        assert!(limiter.allow(client, start + Duration::from_millis(500)));
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(
            limiter.allow(other, start),
            "clients are limited independently"
        );
    }

    #[test]
    fn client_table_is_bounded() {
        let mut limiter = RateLimiter::new(RateLimit {
            per_second: 1.0,
            burst: 2.0,
            max_clients: 2,
        });
        let now = Instant::now();
        let first: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(limiter.allow(first, now));
        assert!(limiter.allow(first, now));
        assert!(
            !limiter.allow(first, now),
            "the first client spent its burst"
        );
        let later = now + Duration::from_millis(10);
        assert!(limiter.allow("10.0.0.2".parse().unwrap(), later));
        // The table is full of active clients: a new one is still served, at the cost of the
        // least recently seen bucket, not refused.
        assert!(limiter.allow("10.0.0.3".parse().unwrap(), later));
        assert_eq!(limiter.buckets.len(), 2);
        assert!(!limiter.buckets.contains_key(&ClientKey::from(first)));
    }

    #[test]
    fn an_ipv6_slash_64_is_one_client_and_mapped_ipv4_is_ipv4() {
        let mut limiter = RateLimiter::new(RateLimit {
            per_second: 1.0,
            burst: 2.0,
            max_clients: 10,
        });
        let now = Instant::now();
        assert!(limiter.allow("2001:db8:1:2::1".parse().unwrap(), now));
        assert!(limiter.allow("2001:db8:1:2:ffff::9".parse().unwrap(), now));
        assert!(
            !limiter.allow("2001:db8:1:2:1234::5".parse().unwrap(), now),
            "rotating within a /64 shares one bucket"
        );
        assert!(limiter.allow("2001:db8:1:3::1".parse().unwrap(), now));
        assert_eq!(
            ClientKey::from("::ffff:10.1.2.3".parse::<IpAddr>().unwrap()),
            ClientKey::from("10.1.2.3".parse::<IpAddr>().unwrap())
        );
    }
}
