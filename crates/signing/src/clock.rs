//! The vendor-side binaries' (factory, packager) one source of time. `AIRLOCK_NOW` (an RFC 3339 UTC timestamp) overrides the
//! system clock for reproducible demos and tests; the libraries never read the clock.

use canon::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// The current time, or `AIRLOCK_NOW` when set.
pub fn now() -> anyhow::Result<Timestamp> {
    if let Ok(s) = std::env::var("AIRLOCK_NOW") {
        return Timestamp::parse(&s).ok_or_else(|| {
            anyhow::anyhow!("AIRLOCK_NOW={s:?} is not a YYYY-MM-DDTHH:MM:SSZ timestamp")
        });
    }
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| anyhow::anyhow!("system clock is before 1970"))?
        .as_secs();
    Ok(Timestamp(secs as i64))
}

/// Parses a `--flag` value that is a date (`YYYY-MM-DD`, midnight UTC) or a timestamp.
pub fn parse_time(flag: &str, s: &str) -> anyhow::Result<Timestamp> {
    Timestamp::parse_date_or_time(s).ok_or_else(|| {
        anyhow::anyhow!(
            "{flag} {s:?} is not a date (YYYY-MM-DD) or timestamp (YYYY-MM-DDTHH:MM:SSZ)"
        )
    })
}

/// `--at` when given (a timestamp, or a date meaning the last second of that day:
/// [`Timestamp::parse_day_end_or_time`]), else [`now`].
pub fn at_or_now(at: Option<&str>) -> anyhow::Result<Timestamp> {
    match at {
        Some(a) => Timestamp::parse_day_end_or_time(a).ok_or_else(|| {
            anyhow::anyhow!(
                "--at {a:?} is not a date (YYYY-MM-DD, the end of that day) or timestamp (YYYY-MM-DDTHH:MM:SSZ)"
            )
        }),
        None => now(),
    }
}
