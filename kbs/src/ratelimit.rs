//! Per-client token buckets for the unauthenticated `/auth` endpoint. Pure: time is a parameter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// Token-bucket parameters.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Sustained requests per second per client; 0 disables limiting.
    pub per_second: f64,
    /// Bucket size: the most requests a client may make at once.
    pub burst: f64,
    /// Most clients tracked at once; beyond it, idle buckets are dropped first.
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
    buckets: HashMap<IpAddr, Bucket>,
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
        if !self.buckets.contains_key(&client) && self.buckets.len() >= self.limit.max_clients {
            self.forget_idle(now);
            if self.buckets.len() >= self.limit.max_clients {
                return false;
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
        assert!(limiter.allow("10.0.0.1".parse().unwrap(), now));
        assert!(limiter.allow("10.0.0.2".parse().unwrap(), now));
        assert!(!limiter.allow("10.0.0.3".parse().unwrap(), now));
        assert!(limiter.allow("10.0.0.3".parse().unwrap(), now + Duration::from_secs(5)));
    }
}
