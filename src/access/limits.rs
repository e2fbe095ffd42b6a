//! Per-identity limits, so that one noisy client cannot starve the rest: how many connections one identity may
//! hold open at once, and how much work per second it may ask for (a token bucket; requests over the rate wait
//! for their turn rather than fail).
//!
//! Work is counted in cost units read from the frame before it is decoded ([`request_cost`]): one per batch
//! item, more for the expensive operations (key-pair generation, RNG bytes) and for a request carrying a
//! password Credential, so that a single frame of 1,500 items or of key-pair generations is not one unit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The limits one identity is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentityLimitSettings {
    /// Most connections one identity may have open at once; more are closed after the handshake.
    pub max_connections_per_identity: usize,
    /// Cost units ([`request_cost`]) per second one identity may spend, across its connections (0:
    /// unlimited); requests beyond it are delayed.
    pub max_requests_per_second: u32,
}

/// The default rate: 2,000 cost units per second per identity (a second of burst). Far above what a key
/// consumer needs (a Get is one unit), low enough that one identity cannot keep the server's cores busy with
/// key-pair generations (50 units each: 40 per second) or RNG output (about 8 MB per second).
pub const DEFAULT_MAX_REQUESTS_PER_SECOND: u32 = 2_000;

impl Default for IdentityLimitSettings {
    fn default() -> Self {
        IdentityLimitSettings {
            max_connections_per_identity: 64,
            max_requests_per_second: DEFAULT_MAX_REQUESTS_PER_SECOND,
        }
    }
}

/// What one batch item costs.
pub const COST_PER_ITEM: u32 = 1;
/// What a Create Key Pair or Re-key Key Pair item costs (an RSA key pair takes tens to hundreds of ms).
pub const COST_KEY_PAIR: u32 = 50;
/// RNG Retrieve costs one unit more per this many bytes asked for.
pub const RNG_BYTES_PER_UNIT: u32 = 4096;
/// What a request carrying a Credential costs on top of its items (a password check, Argon2 when not yet
/// verified on the connection).
pub const COST_CREDENTIAL: u32 = 20;

/// The cost of a request frame, read from its TTLV without decoding it: [`COST_PER_ITEM`] per batch item,
/// [`COST_KEY_PAIR`] for key-pair generation, one more unit per [`RNG_BYTES_PER_UNIT`] RNG bytes, and
/// [`COST_CREDENTIAL`] when the header carries an Authentication. A frame that cannot be walked costs one unit
/// (the engine refuses it without work).
pub fn request_cost(frame: &[u8]) -> u32 {
    use crate::spec::enums::operation;
    use crate::spec::tag;
    let Some((tag::REQUEST_MESSAGE, _, body)) = items(frame).next() else {
        return COST_PER_ITEM;
    };
    let mut cost: u32 = 0;
    for (t, _, value) in items(body) {
        match t {
            tag::REQUEST_HEADER if items(value).any(|(t, _, _)| t == tag::AUTHENTICATION) => {
                cost = cost.saturating_add(COST_CREDENTIAL);
            }
            tag::BATCH_ITEM => {
                let mut item_cost = COST_PER_ITEM;
                let op = items(value)
                    .find(|(t, _, _)| *t == tag::OPERATION)
                    .and_then(|(_, _, v)| v.get(..4))
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes);
                match op {
                    Some(operation::CREATE_KEY_PAIR | operation::RE_KEY_KEY_PAIR) => {
                        item_cost = COST_KEY_PAIR;
                    }
                    Some(operation::RNG_RETRIEVE) => {
                        let length = items(value)
                            .find(|(t, _, _)| *t == tag::REQUEST_PAYLOAD)
                            .and_then(|(_, _, p)| items(p).find(|(t, _, _)| *t == tag::DATA_LENGTH))
                            .and_then(|(_, _, v)| v.get(..4))
                            .and_then(|b| b.try_into().ok())
                            .map(i32::from_be_bytes)
                            .and_then(|n| u32::try_from(n).ok())
                            .unwrap_or(0);
                        item_cost = item_cost.saturating_add(length / RNG_BYTES_PER_UNIT);
                    }
                    _ => {}
                }
                cost = cost.saturating_add(item_cost);
            }
            _ => {}
        }
    }
    cost.max(COST_PER_ITEM)
}

/// The TTLV items laid end to end in `bytes`: (tag, type, value without padding); stops at the first one that
/// does not fit.
fn items(bytes: &[u8]) -> impl Iterator<Item = (u32, u8, &[u8])> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let header = rest.get(..8)?;
        let tag = u32::from_be_bytes([0, *header.first()?, *header.get(1)?, *header.get(2)?]);
        let kind = *header.get(3)?;
        let len = usize::try_from(u32::from_be_bytes(header.get(4..8)?.try_into().ok()?)).ok()?;
        let value = rest.get(8..8usize.checked_add(len)?)?;
        let padded = len.checked_add(7)? / 8 * 8;
        rest = rest.get(8usize.checked_add(padded)?..).unwrap_or(&[]);
        Some((tag, kind, value))
    })
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

    /// How long a request of `identity` costing `cost` units must wait for its turn (zero when it may go now);
    /// takes its tokens.
    pub fn request_delay(&self, identity: &str, cost: u32) -> Duration {
        self.request_delay_at(identity, cost, Instant::now())
    }

    /// [`IdentityLimits::request_delay`] as of `now` (tests give the time instead of reading the clock).
    fn request_delay_at(&self, identity: &str, cost: u32, now: Instant) -> Duration {
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
        bucket.tokens -= f64::from(cost);
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
            assert_eq!(limits.request_delay_at("a", 1, now), Duration::ZERO);
        }
        let close = |d: Duration, ms: u64| {
            d.abs_diff(Duration::from_millis(ms)) < Duration::from_micros(10)
        };
        let wait = limits.request_delay_at("a", 1, now);
        assert!(close(wait, 100), "{wait:?}");
        let later = limits.request_delay_at("a", 1, now);
        assert!(close(later, 200), "{later:?}");
        // 150 ms later one and a half tokens came back: -2 + 1.5 - 1 = -1.5 tokens, a 150 ms wait.
        let refilled = limits.request_delay_at("a", 1, now + Duration::from_millis(150));
        assert!(close(refilled, 150), "{refilled:?}");
        // Another identity has its own bucket.
        assert_eq!(limits.request_delay_at("b", 1, now), Duration::ZERO);
    }

    fn frame(header: Vec<crate::ttlv::Ttlv>, items: Vec<(u32, Vec<crate::ttlv::Ttlv>)>) -> Vec<u8> {
        use crate::spec::tag;
        use crate::ttlv::{Ttlv, Value};
        let mut children = vec![Ttlv::structure(tag::REQUEST_HEADER, header)];
        for (op, payload) in items {
            children.push(Ttlv::structure(
                tag::BATCH_ITEM,
                vec![
                    Ttlv::new(tag::OPERATION, Value::Enumeration(op)),
                    Ttlv::structure(tag::REQUEST_PAYLOAD, payload),
                ],
            ));
        }
        crate::ttlv::encode(&Ttlv::structure(tag::REQUEST_MESSAGE, children))
    }

    #[test]
    fn batch_items_and_expensive_operations_weigh_on_the_rate() {
        use crate::spec::enums::operation;
        use crate::spec::tag;
        use crate::ttlv::{Ttlv, Value};
        let get = (operation::GET, vec![]);
        assert_eq!(request_cost(&frame(vec![], vec![get.clone()])), 1);
        assert_eq!(request_cost(&frame(vec![], vec![get.clone(); 1500])), 1500);
        let key_pair = (operation::CREATE_KEY_PAIR, vec![]);
        assert_eq!(
            request_cost(&frame(vec![], vec![key_pair, get.clone()])),
            COST_KEY_PAIR + 1
        );
        let rng = (
            operation::RNG_RETRIEVE,
            vec![Ttlv::new(tag::DATA_LENGTH, Value::Integer(65536))],
        );
        assert_eq!(request_cost(&frame(vec![], vec![rng; 3])), 3 * (1 + 16));
        let credential = Ttlv::structure(tag::AUTHENTICATION, vec![]);
        assert_eq!(
            request_cost(&frame(vec![credential], vec![get])),
            1 + COST_CREDENTIAL
        );
        // What cannot be walked costs one unit.
        assert_eq!(request_cost(b"not ttlv"), 1);
        assert_eq!(request_cost(&[]), 1);

        // A costly request waits in proportion: 1,500 items at 1,000 units per second.
        let limits = IdentityLimits::new(IdentityLimitSettings {
            max_connections_per_identity: 1,
            max_requests_per_second: 1000,
        });
        let now = Instant::now();
        assert_eq!(limits.request_delay_at("a", 1000, now), Duration::ZERO);
        let wait = limits.request_delay_at("a", 1500, now);
        assert_eq!(wait, Duration::from_millis(1500), "{wait:?}");
        assert_eq!(limits.request_delay_at("b", 1, now), Duration::ZERO);
    }

    #[test]
    fn the_default_rate_is_limited() {
        // Under the defaults, two 1,500-item batches in a row: the second waits.
        let limits = IdentityLimits::new(IdentityLimitSettings::default());
        let now = Instant::now();
        assert_eq!(limits.request_delay_at("a", 1500, now), Duration::ZERO);
        assert!(limits.request_delay_at("a", 1500, now) > Duration::ZERO);
    }

    #[test]
    fn the_bucket_table_stays_bounded() {
        let limits = IdentityLimits::new(IdentityLimitSettings {
            max_connections_per_identity: 1,
            max_requests_per_second: 1_000_000,
        });
        let now = Instant::now();
        for i in 0..MAX_TRACKED_BUCKETS + 10 {
            limits.request_delay_at(&format!("id-{i}"), 1, now);
        }
        limits.request_delay_at("late", 1, now + Duration::from_millis(5));
        let state = limits.state.lock().unwrap();
        assert!(
            state.buckets.len() < MAX_TRACKED_BUCKETS,
            "{}",
            state.buckets.len()
        );
    }
}
