//! Rate limits: `governor` keyed limiters checked in the handlers (per client address, per
//! license key, per download client), answered 429 with an integer `Retry-After` ≥ 1.
//!
//! Keys are hashed (a license key is never held in memory as a map key), and the limiters
//! forget idle keys (`retain_recent`, every minute).

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// One limit: `per_minute` requests a minute, in bursts of at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Sustained requests a minute.
    pub per_minute: u32,
    /// Requests allowed at once.
    pub burst: u32,
}

impl Rate {
    /// Parses `N/min` or `N/min,burst=B` (the command line's form).
    pub fn parse(s: &str) -> Result<Rate, String> {
        let bad = || format!("rate {s:?}: write N/min or N/min,burst=B (N, B from 1 to 1000000)");
        let (rate, burst) = match s.split_once(',') {
            Some((r, b)) => (r, Some(b.strip_prefix("burst=").ok_or_else(bad)?)),
            None => (s, None),
        };
        let n: u32 = rate
            .strip_suffix("/min")
            .and_then(|n| n.parse().ok())
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(bad)?;
        let b: u32 = match burst {
            Some(b) => b
                .parse()
                .ok()
                .filter(|b| (1..=1_000_000).contains(b))
                .ok_or_else(bad)?,
            None => n.clamp(1, 1_000_000),
        };
        Ok(Rate {
            per_minute: n,
            burst: b,
        })
    }

    fn quota(self) -> Quota {
        let per = NonZeroU32::new(self.per_minute.max(1)).expect("at least 1");
        let burst = NonZeroU32::new(self.burst.max(1)).expect("at least 1");
        Quota::per_minute(per).allow_burst(burst)
    }
}

/// The service's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Activations per license key (or per token's license).
    pub activations_per_license: Rate,
    /// Activation, renewal and deactivation requests per client address.
    pub requests_per_address: Rate,
    /// Update listings and downloads per client address.
    pub downloads_per_address: Rate,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            activations_per_license: Rate {
                per_minute: 10,
                burst: 5,
            },
            requests_per_address: Rate {
                per_minute: 600,
                burst: 100,
            },
            downloads_per_address: Rate {
                per_minute: 30,
                burst: 10,
            },
        }
    }
}

/// Which limit refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Per license key.
    License,
    /// Per client address.
    Address,
    /// Downloads per client address.
    Download,
}

impl Scope {
    /// The name in metrics and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::License => "license",
            Scope::Address => "address",
            Scope::Download => "download",
        }
    }
}

/// The keyed limiters.
#[derive(Clone)]
pub struct Limiters {
    license: Arc<DefaultKeyedRateLimiter<[u8; 32]>>,
    address: Arc<DefaultKeyedRateLimiter<[u8; 32]>>,
    download: Arc<DefaultKeyedRateLimiter<[u8; 32]>>,
}

impl Limiters {
    /// Limiters for `limits`.
    pub fn new(limits: &Limits) -> Limiters {
        Limiters {
            license: Arc::new(RateLimiter::keyed(limits.activations_per_license.quota())),
            address: Arc::new(RateLimiter::keyed(limits.requests_per_address.quota())),
            download: Arc::new(RateLimiter::keyed(limits.downloads_per_address.quota())),
        }
    }

    /// Takes one request of `scope` for `key`; `Err(seconds)` to wait (at least 1).
    pub fn check(&self, scope: Scope, key: &[u8]) -> Result<(), u64> {
        let l = match scope {
            Scope::License => &self.license,
            Scope::Address => &self.address,
            Scope::Download => &self.download,
        };
        let k = canon::enc::sha256(key);
        l.check_key(&k).map_err(|not_until| {
            let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
            retry_after(wait)
        })
    }

    /// Forgets keys whose limit has refilled.
    pub fn retain_recent(&self) {
        self.license.retain_recent();
        self.address.retain_recent();
        self.download.retain_recent();
    }
}

/// The key of a client address for limits and connection caps: an IPv4 address as it is (an
/// IPv4-mapped IPv6 address counts as its IPv4 address), an IPv6 address by its /64 prefix (one
/// subscriber's allocation: the 2^64 addresses of a /64 are one client, not 2^64).
pub fn address_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    use std::net::{IpAddr, Ipv6Addr};
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// `Retry-After` for a wait: whole seconds, rounded up, at least 1 (a sub-second wait is never
/// "0", which clients would read as "now").
pub fn retry_after(wait: Duration) -> u64 {
    let s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    s.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let k = |s: &str| address_key(s.parse().unwrap()).to_string();
        assert_eq!(k("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(k("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_ne!(k("2001:db8:1:3::1"), k("2001:db8:1:2::1"));
        assert_eq!(k("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(k("192.0.2.7"), "192.0.2.7");
        assert_ne!(k("192.0.2.7"), k("192.0.2.8"));
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after(Duration::ZERO), 1);
        assert_eq!(retry_after(Duration::from_millis(1)), 1);
        assert_eq!(retry_after(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after(Duration::from_secs(59)), 59);
    }

    #[test]
    fn rates_parse_strictly() {
        assert_eq!(
            Rate::parse("10/min,burst=5"),
            Ok(Rate {
                per_minute: 10,
                burst: 5
            })
        );
        assert_eq!(Rate::parse("60/min").unwrap().burst, 60);
        for bad in [
            "",
            "10",
            "10/s",
            "0/min",
            "10/min,5",
            "10/min,burst=0",
            "x/min",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_is_limited_and_keys_are_separate() {
        let l = Limiters::new(&Limits {
            activations_per_license: Rate {
                per_minute: 1,
                burst: 2,
            },
            ..Limits::default()
        });
        assert!(l.check(Scope::License, b"a").is_ok());
        assert!(l.check(Scope::License, b"a").is_ok());
        let wait = l.check(Scope::License, b"a").unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(l.check(Scope::License, b"b").is_ok());
    }
}
