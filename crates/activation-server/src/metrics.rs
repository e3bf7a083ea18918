//! Prometheus metrics (text exposition format 0.0.4), kept by hand: a few counters and one
//! latency histogram per route, no label from user input (routes are the matched patterns,
//! codes are the service's own).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    outcomes: BTreeMap<(&'static str, &'static str), u64>,
    rate_limited: BTreeMap<&'static str, u64>,
}

/// The service's metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// One HTTP request answered.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        self.with(|m| {
            *m.requests.entry((route.to_string(), status)).or_default() += 1;
            let h = m.latency.entry(route.to_string()).or_default();
            observe(h, took.as_secs_f64());
        });
    }

    /// An operation's outcome: `op` (activate, renew, ...) and `result` (a refusal code, or
    /// `new_seat`, `existing_seat`, `renewed`, `released`, `error`).
    pub fn outcome(&self, op: &'static str, result: &'static str) {
        self.with(|m| *m.outcomes.entry((op, result)).or_default() += 1);
    }

    /// A request refused by a rate limit.
    pub fn rate_limited(&self, scope: &'static str) {
        self.with(|m| *m.rate_limited.entry(scope).or_default() += 1);
    }

    /// The text exposition.
    pub fn render(&self, backend: &str) -> String {
        self.with(|m| {
            let mut o = String::new();
            let _ = writeln!(o, "# HELP airlock_build_info The service build.");
            let _ = writeln!(o, "# TYPE airlock_build_info gauge");
            let _ = writeln!(
                o,
                "airlock_build_info{{version=\"{}\",backend=\"{backend}\"}} 1",
                env!("CARGO_PKG_VERSION")
            );
            let _ = writeln!(o, "# HELP airlock_http_requests_total HTTP requests answered, by route and status.");
            let _ = writeln!(o, "# TYPE airlock_http_requests_total counter");
            for ((route, status), n) in &m.requests {
                let _ = writeln!(
                    o,
                    "airlock_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
            let _ = writeln!(o, "# HELP airlock_http_request_duration_seconds Time to answer, by route.");
            let _ = writeln!(o, "# TYPE airlock_http_request_duration_seconds histogram");
            for (route, h) in &m.latency {
                write_histogram(&mut o, "airlock_http_request_duration_seconds", &format!("route=\"{route}\","), h);
            }
            let _ = writeln!(o, "# HELP airlock_operations_total Seat operations, by operation and result (a refusal code or an outcome).");
            let _ = writeln!(o, "# TYPE airlock_operations_total counter");
            for ((op, result), n) in &m.outcomes {
                let _ = writeln!(
                    o,
                    "airlock_operations_total{{op=\"{op}\",result=\"{result}\"}} {n}"
                );
            }
            let _ = writeln!(o, "# HELP airlock_rate_limited_total Requests answered 429, by limit.");
            let _ = writeln!(o, "# TYPE airlock_rate_limited_total counter");
            for (scope, n) in &m.rate_limited {
                let _ = writeln!(o, "airlock_rate_limited_total{{limit=\"{scope}\"}} {n}");
            }
            o
        })
    }
}

fn observe(h: &mut Histogram, v: f64) {
    for (i, b) in BUCKETS.iter().enumerate() {
        if v <= *b {
            h.counts[i] += 1;
        }
    }
    h.count += 1;
    h.sum += v;
}

fn write_histogram(o: &mut String, name: &str, labels: &str, h: &Histogram) {
    for (i, b) in BUCKETS.iter().enumerate() {
        let _ = writeln!(o, "{name}_bucket{{{labels}le=\"{b}\"}} {}", h.counts[i]);
    }
    let _ = writeln!(o, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", h.count);
    let trimmed = labels.trim_end_matches(',');
    let _ = writeln!(o, "{name}_sum{{{trimmed}}} {}", h.sum);
    let _ = writeln!(o, "{name}_count{{{trimmed}}} {}", h.count);
}
