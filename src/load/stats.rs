//! What a load run measured: per connection, the latency of every answered request and the errors by text;
//! merged into one report of ops/s, p50, p99 and p99.9, printed as text or JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Most distinct error texts kept; further ones are counted under one line.
pub const MAX_ERROR_KINDS: usize = 32;

/// One connection's figures.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    /// Latency of each successful request, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// Failed requests by error text.
    pub errors: BTreeMap<String, u64>,
}

impl ConnectionStats {
    /// A request succeeded after `latency`.
    pub fn success(&mut self, latency: Duration) {
        self.latencies_ns
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    /// A request failed (or the connection did) with `text`.
    pub fn error(&mut self, text: String) {
        let kinds = self.errors.len();
        let key = if kinds >= MAX_ERROR_KINDS && !self.errors.contains_key(&text) {
            "(other errors)".to_string()
        } else {
            text
        };
        *self.errors.entry(key).or_insert(0) += 1;
    }
}

/// The figures of a whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The operation.
    pub op: String,
    /// Connections.
    pub connections: usize,
    /// Requests outstanding per connection.
    pub depth: usize,
    /// Objects the setup created for the run (Locate, Destroy).
    pub fill: usize,
    /// Wall time of the measured part, in seconds.
    pub seconds: f64,
    /// Successful requests.
    pub ops: u64,
    /// Successful requests per second.
    pub ops_per_second: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// 99.9th percentile latency, milliseconds.
    pub p999_ms: f64,
    /// Failed requests (and broken connections).
    pub errors: u64,
    /// Failed requests by error text.
    pub error_kinds: BTreeMap<String, u64>,
}

impl Report {
    /// Merges the connections' figures over a measured wall time of `wall`.
    pub fn merge(
        op: String,
        depth: usize,
        fill: usize,
        wall: Duration,
        connections: Vec<ConnectionStats>,
    ) -> Report {
        let count = connections.len();
        let mut latencies = Vec::new();
        let mut error_kinds = BTreeMap::new();
        for c in connections {
            latencies.extend(c.latencies_ns);
            for (text, n) in c.errors {
                *error_kinds.entry(text).or_insert(0) += n;
            }
        }
        latencies.sort_unstable();
        let at = |q: f64| -> f64 {
            let Some(last) = latencies.len().checked_sub(1) else {
                return 0.0;
            };
            let index = ((latencies.len() as f64 * q) as usize).min(last);
            latencies.get(index).map_or(0.0, |&ns| ns as f64 / 1e6)
        };
        let ops = latencies.len() as u64;
        let seconds = wall.as_secs_f64();
        Report {
            op,
            connections: count,
            depth,
            fill,
            seconds,
            ops,
            ops_per_second: if seconds > 0.0 {
                ops as f64 / seconds
            } else {
                0.0
            },
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            errors: error_kinds.values().sum(),
            error_kinds,
        }
    }

    /// The report as people read it.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{op} connections={c} depth={d}{fill}: {ops:.0} ops/s  p50 {p50:.3} ms  p99 {p99:.3} ms  \
             p99.9 {p999:.3} ms  ({n} ops in {s:.2} s)  errors {e}",
            op = self.op,
            c = self.connections,
            d = self.depth,
            fill = if self.fill > 0 {
                format!(" fill={}", self.fill)
            } else {
                String::new()
            },
            ops = self.ops_per_second,
            p50 = self.p50_ms,
            p99 = self.p99_ms,
            p999 = self.p999_ms,
            n = self.ops,
            s = self.seconds,
            e = self.errors,
        );
        for (text, n) in &self.error_kinds {
            out.push_str(&format!("\n  {n} × {text}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_errors_merge() {
        let mut a = ConnectionStats::default();
        for ms in 1..=1000u64 {
            a.success(Duration::from_millis(ms));
        }
        let mut b = ConnectionStats::default();
        b.error("Item Not Found: x".into());
        b.error("Item Not Found: x".into());
        let report = Report::merge("get".into(), 1, 0, Duration::from_secs(2), vec![a, b]);
        assert_eq!(report.ops, 1000);
        assert_eq!(report.ops_per_second, 500.0);
        assert_eq!(report.p50_ms, 501.0);
        assert_eq!(report.p99_ms, 991.0);
        assert_eq!(report.p999_ms, 1000.0);
        assert_eq!(report.errors, 2);
        assert!(report.text().contains("2 × Item Not Found: x"));
    }

    #[test]
    fn error_kinds_are_bounded() {
        let mut c = ConnectionStats::default();
        for i in 0..(MAX_ERROR_KINDS + 10) {
            c.error(format!("error {i}"));
        }
        assert_eq!(c.errors.len(), MAX_ERROR_KINDS + 1);
        assert_eq!(c.errors.get("(other errors)"), Some(&10));
    }
}
