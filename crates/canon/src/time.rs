//! RFC 3339 UTC timestamps in the one form Airlock writes and accepts:
//! `YYYY-MM-DDTHH:MM:SSZ` (exactly 20 bytes, no fraction, no offset other than `Z`).

use std::fmt;

/// Seconds since 1970-01-01T00:00:00Z. Only years 1970–9999 can be parsed or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// The clock skew tolerated between two machines, in seconds: a document signed up to this much
/// "in the future" of the verifier's clock is still accepted (licenses, leases, trust files,
/// requests). The one constant every side uses.
pub const CLOCK_SKEW_SECS: i64 = 300;

/// A validity window, half-open: valid from `start` (included) until `end` (excluded). The one
/// interval convention of every Airlock window (a license's `not_before`..`expires_at`, its
/// grace, a lease's `not_before`..`not_after`, an install token's life): at `end` it is over,
/// so the vendor's registry (which frees a seat when `lease_not_after <= now`) and the machine
/// (which refuses the lease at `now == not_after`) never disagree on an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first instant inside.
    pub start: Timestamp,
    /// The first instant after (not inside).
    pub end: Timestamp,
}

/// Where an instant falls against a [`Window`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Within {
    /// Before `start`.
    Before,
    /// `start <= now < end`.
    Inside,
    /// `now >= end`.
    Ended,
}

impl Window {
    /// The window `[start, end)`.
    pub fn new(start: Timestamp, end: Timestamp) -> Window {
        Window { start, end }
    }

    /// Where `now` falls.
    pub fn at(&self, now: Timestamp) -> Within {
        if now < self.start {
            Within::Before
        } else if now < self.end {
            Within::Inside
        } else {
            Within::Ended
        }
    }

    /// `start <= now < end`.
    pub fn contains(&self, now: Timestamp) -> bool {
        self.at(now) == Within::Inside
    }

    /// `now >= end`: over (the same instant the registry's SQL uses: `end <= now`).
    pub fn ended(&self, now: Timestamp) -> bool {
        self.at(now) == Within::Ended
    }
}

impl Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SSZ` strictly.
    pub fn parse(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        if b.len() != 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'Z'
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let part = &b[r];
            if !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(part).ok()?.parse().ok()
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if y < 1970 || !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
            return None;
        }
        if h > 23 || mi > 59 || se > 59 {
            return None;
        }
        Some(Timestamp(
            days_from_civil(y, mo, d) * DAY + h * 3600 + mi * 60 + se,
        ))
    }

    /// Parses a date `YYYY-MM-DD` (midnight UTC) or a full timestamp.
    pub fn parse_date_or_time(s: &str) -> Option<Timestamp> {
        if s.len() == 10 {
            Timestamp::parse(&format!("{s}T00:00:00Z"))
        } else {
            Timestamp::parse(s)
        }
    }

    /// Parses the instant a `--at DATE` preview judges: a full timestamp, or a date
    /// `YYYY-MM-DD` meaning the last second of that day (`23:59:59Z`), so that "at that date"
    /// covers the whole day: a license issued that day is valid, one expiring that day has
    /// expired.
    pub fn parse_day_end_or_time(s: &str) -> Option<Timestamp> {
        if s.len() == 10 {
            Timestamp::parse(&format!("{s}T23:59:59Z"))
        } else {
            Timestamp::parse(s)
        }
    }

    /// Adds whole days (saturating).
    pub fn plus_days(self, days: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(days.saturating_mul(DAY)))
    }

    /// Whether a time signed as `self` is acceptable to a verifier whose clock reads `now`:
    /// at most [`CLOCK_SKEW_SECS`] ahead of it.
    pub fn signed_by(self, now: Timestamp) -> bool {
        self.0 <= now.0.saturating_add(CLOCK_SKEW_SECS)
    }

    /// Whole days from `self` until `later` (negative when `later` is earlier), rounded down.
    pub fn days_until(self, later: Timestamp) -> i64 {
        (later.0 - self.0).div_euclid(DAY)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(DAY);
        let secs = self.0.rem_euclid(DAY);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil-date algorithms (public domain).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_half_open() {
        let w = Window::new(Timestamp(100), Timestamp(200));
        assert_eq!(w.at(Timestamp(99)), Within::Before);
        assert_eq!(w.at(Timestamp(100)), Within::Inside);
        assert_eq!(w.at(Timestamp(199)), Within::Inside);
        assert_eq!(w.at(Timestamp(200)), Within::Ended);
        assert!(w.ended(Timestamp(200)) && !w.contains(Timestamp(200)));
        let empty = Window::new(Timestamp(5), Timestamp(5));
        assert!(!empty.contains(Timestamp(5)));
        assert!(Timestamp(400).signed_by(Timestamp(100)));
        assert!(!Timestamp(401).signed_by(Timestamp(100)));
        assert!(Timestamp(i64::MAX).signed_by(Timestamp(i64::MAX)));
    }

    #[test]
    fn round_trip_and_strictness() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2027-01-31T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "9999-12-31T23:59:59Z",
        ] {
            assert_eq!(Timestamp::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            Timestamp::parse("1970-01-02T00:00:00Z"),
            Some(Timestamp(DAY))
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2027-01-31T00:00:00",
            "2027-01-31t00:00:00Z",
            "2027-1-31T00:00:00Z",
            "2027-01-31T24:00:00Z",
            "2027-01-31T00:00:60Z",
            "2027-01-31T00:00:00.5Z",
            "2027-01-31T00:00:00+00:00",
            "1969-12-31T00:00:00Z",
            "+027-01-31T00:00:00Z",
            "2027-13-01T00:00:00Z",
            "2027-00-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Timestamp::parse_date_or_time("2027-01-31"),
            Timestamp::parse("2027-01-31T00:00:00Z")
        );
    }

    #[test]
    fn day_arithmetic() {
        let t = Timestamp::parse("2027-01-31T12:00:00Z").unwrap();
        assert_eq!(t.plus_days(1).to_string(), "2027-02-01T12:00:00Z");
        assert_eq!(t.days_until(t.plus_days(30)), 30);
        assert_eq!(t.plus_days(30).days_until(t), -30);
        assert_eq!(t.days_until(Timestamp(t.0 + DAY - 1)), 0);
    }
}
