//! Per-identity limits, so that one noisy client cannot starve the rest: how many connections one identity may
//! hold open at once, and how many requests per second it may send (a token bucket; requests over the rate
//! wait for their turn rather than fail).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The limits one identity is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentityLimitSettings {
    /// Most connections one identity may have open at once; more are closed after the handshake.
    pub max_connections_per_identity: usize,
    /// Requests per second one identity may send, across its connections (0: unlimited); requests beyond it
    /// are delayed.
    pub max_requests_per_second: u32,
}

impl Default for IdentityLimitSettings {
    fn default() -> Self {
        IdentityLimitSettings {
            max_connections_per_identity: 64,
            max_requests_per_second: 0,
        }
    }
}

/// Buckets kept before those that have refilled are forgotten, so the table stays bounded.
pub const MAX_TRACKED_BUCKETS: usize = 10_000;

/// A token bucket: `rate` tokens per second, holding at most `rate` (one second of burst).
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The shared state behind the limits.
#[derive(Debug, Default)]
struct State {
    connections: HashMap<String, usize>,
    buckets: HashMap<String, Bucket>,
}

/// The limits in force and what each identity currently uses.
#[derive(Clone, Debug)]
pub struct IdentityLimits {
    settings: IdentityLimitSettings,
    state: Arc<Mutex<State>>,
}

/// One connection's place under its identity's connection limit; released when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    identity: String,
    state: Arc<Mutex<State>>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = state.connections.get_mut(&self.identity) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.connections.remove(&self.identity);
            }
        }
    }
}

impl IdentityLimits {
    /// Limits with these settings and nobody connected.
    pub fn new(settings: IdentityLimitSettings) -> Self {
        IdentityLimits {
            settings,
            state: Arc::default(),
        }
    }

    /// A place for one more connection of `identity`, or None when it already holds the most allowed.
    pub fn connect(&self, identity: &str) -> Option<ConnectionSlot> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let n = state.connections.entry(identity.to_string()).or_insert(0);
        if *n >= self.settings.max_connections_per_identity {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            identity: identity.to_string(),
            state: self.state.clone(),
        })
    }

    /// How long a request of `identity` must wait for its turn (zero when it may go now); takes its token.
    pub fn request_delay(&self, identity: &str) -> Duration {
        self.request_delay_at(identity, Instant::now())
    }

    /// [`IdentityLimits::request_delay`] as of `now` (tests give the time instead of reading the clock).
    fn request_delay_at(&self, identity: &str, now: Instant) -> Duration {
        let rate = self.settings.max_requests_per_second;
        if rate == 0 {
            return Duration::ZERO;
        }
        let rate = f64::from(rate);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.buckets.len() >= MAX_TRACKED_BUCKETS {
            // Forget identities whose bucket has refilled: they would start full anyway.
            state.buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < rate
            });
        }
        let bucket = state.buckets.entry(identity.to_string()).or_insert(Bucket {
            tokens: rate,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.updated = now;
        // Take the token now (possibly going negative): the request is served once the bucket has refilled.
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_per_identity_are_capped_and_released() {
        let limits = IdentityLimits::new(IdentityLimitSettings {
            max_connections_per_identity: 2,
            max_requests_per_second: 0,
        });
        let a1 = limits.connect("a").unwrap();
        let _a2 = limits.connect("a").unwrap();
        assert!(limits.connect("a").is_none());
        assert!(limits.connect("b").is_some());
        drop(a1);
        assert!(limits.connect("a").is_some());
    }

    #[test]
    fn requests_beyond_the_rate_wait() {
        let limits = IdentityLimits::new(IdentityLimitSettings {
            max_connections_per_identity: 1,
            max_requests_per_second: 10,
        });
        // All at one instant: no refill in between, whatever the machine's load.
        let now = Instant::now();
        for _ in 0..10 {
            assert_eq!(limits.request_delay_at("a", now), Duration::ZERO);
        }
        let close = |d: Duration, ms: u64| {
            d.abs_diff(Duration::from_millis(ms)) < Duration::from_micros(10)
        };
        let wait = limits.request_delay_at("a", now);
        assert!(close(wait, 100), "{wait:?}");
        let later = limits.request_delay_at("a", now);
        assert!(close(later, 200), "{later:?}");
        // 150 ms later one and a half tokens came back: -2 + 1.5 - 1 = -1.5 tokens, a 150 ms wait.
        let refilled = limits.request_delay_at("a", now + Duration::from_millis(150));
        assert!(close(refilled, 150), "{refilled:?}");
        // Another identity has its own bucket.
        assert_eq!(limits.request_delay_at("b", now), Duration::ZERO);
    }

    #[test]
    fn the_bucket_table_stays_bounded() {
        let limits = IdentityLimits::new(IdentityLimitSettings {
            max_connections_per_identity: 1,
            max_requests_per_second: 1_000_000,
        });
        let now = Instant::now();
        for i in 0..MAX_TRACKED_BUCKETS + 10 {
            limits.request_delay_at(&format!("id-{i}"), now);
        }
        limits.request_delay_at("late", now + Duration::from_millis(5));
        let state = limits.state.lock().unwrap();
        assert!(
            state.buckets.len() < MAX_TRACKED_BUCKETS,
            "{}",
            state.buckets.len()
        );
    }
}
