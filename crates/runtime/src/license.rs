//! Licenses: the schema-3 document, its verification, legacy schema-2 acceptance, and the
//! license state at a given time.
//!
//! A [`VerifiedLicense`] can only be built by [`verify_license`]: holding one means its
//! signature verified under a trusted license key valid at its issue time.

use crate::error::VerifyError;
use crate::trust::TrustStore;
use canon::{enc, json, KeyId, Kind, Role, Timestamp, Value};
pub use format::license::*;
pub use format::valid_id;
use format::Artifact;
use std::fmt;
use std::path::{Path, PathBuf};

/// A license's two files, given either its directory (`DIR/license.json`, `DIR/license.sig`)
/// or its document (`X.json` and `X.sig` beside it): every command's `--license` takes both
/// forms, by this one rule.
pub fn files_at(p: &Path) -> (PathBuf, PathBuf) {
    if p.is_dir() {
        (p.join("license.json"), p.join("license.sig"))
    } else {
        (p.to_path_buf(), p.with_extension("sig"))
    }
}

/// The error for a `--license` that names nothing: what was looked for and the two forms.
pub fn missing(p: &Path) -> String {
    format!(
        "no license at {} (give the license directory, or its license.json)",
        p.display()
    )
}

/// Default warning window before expiry, in days.
pub const DEFAULT_WARN_DAYS: i64 = 30;
/// Default cut-off: schema-2 licenses are accepted through 2026-12-31 (the whole day) and refused
/// from this instant on, unless explicitly allowed.
pub const DEFAULT_LEGACY_CUTOFF: &str = "2027-01-01T00:00:00Z";

/// Legacy (schema 2) policy: [`LegacyPolicy::default`], or
/// [`LegacyPolicy::allowing_after_cutoff`] on an operator's explicit decision.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct LegacyPolicy {
    /// From this instant on, schema-2 licenses are refused...
    pub cutoff: Timestamp,
    /// ...unless this is set (an explicit operator decision).
    pub allow_after_cutoff: bool,
}

impl LegacyPolicy {
    /// The default cut-off, overridden when `allow` (an explicit operator decision).
    pub fn allowing_after_cutoff(allow: bool) -> LegacyPolicy {
        LegacyPolicy {
            allow_after_cutoff: allow,
            ..LegacyPolicy::default()
        }
    }
}

impl Default for LegacyPolicy {
    fn default() -> Self {
        LegacyPolicy {
            cutoff: Timestamp::parse(DEFAULT_LEGACY_CUTOFF).unwrap_or(Timestamp(0)),
            allow_after_cutoff: false,
        }
    }
}

/// A license whose signature and schema verified. Only [`verify_license`] builds one.
#[derive(Debug, Clone)]
pub struct VerifiedLicense {
    license: License,
    times: Times,
    canonical: Vec<u8>,
    signer: KeyId,
    legacy: bool,
}

impl VerifiedLicense {
    /// The license document.
    pub fn license(&self) -> &License {
        &self.license
    }
    /// Its parsed times.
    pub fn times(&self) -> Times {
        self.times
    }
    /// The canonical bytes that were signed (for v2: of the upgraded v3 view).
    pub fn canonical(&self) -> &[u8] {
        &self.canonical
    }
    /// Lowercase hex SHA-256 of the canonical bytes (what bundle manifests reference).
    pub fn sha256(&self) -> String {
        enc::sha256_hex(&self.canonical)
    }
    /// The signing key.
    pub fn signer(&self) -> KeyId {
        self.signer
    }
    /// Whether this came from a deprecated schema-2 license.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }
    /// Whether `feature` is licensed.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.license.features.iter().any(|f| f == feature)
    }
}

/// Verifies a license file.
///
/// `signature` is the detached `license.sig` when present. Schema 3 requires it. Schema 2
/// (legacy) carries an inline signature; if a detached one is given too, the detached one is
/// the trust source and both must agree. Schema 2 is accepted before `policy.cutoff` (compared
/// with `now`) unless explicitly allowed after it.
pub fn verify_license(
    trust: &TrustStore,
    document: &[u8],
    signature: Option<&[u8]>,
    policy: &LegacyPolicy,
    now: Timestamp,
) -> Result<VerifiedLicense, VerifyError> {
    const WHAT: &str = License::WHAT;
    if document.len() > MAX_LICENSE_BYTES {
        return Err(VerifyError::TooLarge {
            what: WHAT,
            limit: MAX_LICENSE_BYTES as u64,
        });
    }
    let value = json::parse(document).map_err(|error| VerifyError::Json { what: WHAT, error })?;
    match value.get("schema_version") {
        Some(Value::Number(n)) if *n == 3.0 => {
            let sig = signature.ok_or_else(|| {
                VerifyError::schema(
                    WHAT,
                    "license.sig is missing (schema 3 needs a detached signature)",
                )
            })?;
            // Parsed once: the same value is canonicalized and checked.
            let (v, canonical) =
                crate::signed::verify_parsed_keeping::<License>(trust, value, sig)?;
            Ok(VerifiedLicense {
                times: v.facts(),
                canonical,
                signer: v.signer(),
                license: v.into_value(),
                legacy: false,
            })
        }
        Some(Value::Number(n)) if *n == 2.0 => verify_v2(trust, &value, signature, policy, now),
        _ => Err(VerifyError::schema(
            WHAT,
            "schema_version must be 3 (or legacy 2)",
        )),
    }
}

fn verify_v2(
    trust: &TrustStore,
    value: &Value,
    detached: Option<&[u8]>,
    policy: &LegacyPolicy,
    now: Timestamp,
) -> Result<VerifiedLicense, VerifyError> {
    const LEGACY: &str = WHAT_V2;
    if now >= policy.cutoff && !policy.allow_after_cutoff {
        return Err(VerifyError::schema(
            LEGACY,
            format!("schema 2 licenses are refused from {} on (ask the vendor for the license migrated to schema 3, or allow legacy explicitly)", policy.cutoff),
        ));
    }
    let v2: LicenseV2 = serde_json::from_slice(&value.to_canonical())
        .map_err(|e| VerifyError::schema(LEGACY, e.to_string()))?;
    let inline = enc::unb64_exact::<64>(&v2.signature)
        .ok_or_else(|| VerifyError::schema(LEGACY, "signature is not base64 of 64 bytes"))?;
    let canonical = v2.signed_bytes();
    let mut detached_key = None;
    let sig = match detached {
        Some(d) => {
            let env = canon::Envelope::parse(d).map_err(VerifyError::Envelope)?;
            detached_key = Some(env.key_id);
            if env.sig != inline {
                return Err(VerifyError::schema(
                    LEGACY,
                    "the detached license.sig and the inline signature disagree",
                ));
            }
            if env.kind != Kind::License {
                return Err(VerifyError::WrongKind {
                    expected: Kind::License,
                    found: env.kind,
                });
            }
            env.sig
        }
        None => inline,
    };
    // v2 names no key id: try every trusted license key (v2 predates key ids).
    let signer = trust
        .keys()
        .iter()
        .filter(|k| k.roles.contains(&Role::License) && k.status != crate::KeyStatus::Revoked)
        .find(|k| k.key.verify(&canonical, &sig))
        .ok_or(VerifyError::BadSignature {
            key_id: KeyId([0; 8]),
            what: LEGACY,
        })?;
    let signer_id = signer.key.key_id();
    // A detached license.sig names its key: it must be the key that made the signature.
    if detached_key.is_some_and(|k| k != signer_id) {
        return Err(VerifyError::schema(
            LEGACY,
            format!("the detached license.sig names another key than the signer ({signer_id})"),
        ));
    }
    let (license, times) = v2.to_v3()?;
    trust.check_window(signer_id, times.issued_at)?;
    Ok(VerifiedLicense {
        canonical,
        license,
        times,
        signer: signer_id,
        legacy: true,
    })
}

/// The license states of SPEC §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Before `not_before`.
    NotYetValid,
    /// Valid, not inside the warning window.
    Active,
    /// Valid, expiring within the warning window.
    ExpiringSoon,
    /// Past `expires_at`, within `grace_days`.
    Grace,
    /// Past the grace period.
    Expired,
    /// Listed in a verified revocation list.
    Revoked,
    /// Signature, trust or coherence failure.
    Invalid,
    /// No license: built-in evaluation.
    Evaluation,
    /// Evaluation period over.
    EvaluationExpired,
    /// The clock is earlier than a time already seen.
    TamperSuspected,
}

impl State {
    /// The state's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::NotYetValid => "not_yet_valid",
            State::Active => "active",
            State::ExpiringSoon => "expiring_soon",
            State::Grace => "grace",
            State::Expired => "expired",
            State::Revoked => "revoked",
            State::Invalid => "invalid",
            State::Evaluation => "evaluation",
            State::EvaluationExpired => "evaluation_expired",
            State::TamperSuspected => "tamper_suspected",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The date-driven state of a license at `now` (revocation and clock tampering are decided by
/// the caller, who holds the revocation list and the state directory). The one definition of
/// the date states; [`Standing`] is the same answer with its wording.
pub fn date_state(times: Times, grace_days: u64, now: Timestamp, warn_days: i64) -> State {
    use canon::{Window, Within};
    match Window::new(times.not_before, times.expires_at).at(now) {
        Within::Before => State::NotYetValid,
        Within::Inside if now.plus_days(warn_days) >= times.expires_at => State::ExpiringSoon,
        Within::Inside => State::Active,
        Within::Ended
            if Window::new(times.expires_at, grace_end(times, grace_days)).contains(now) =>
        {
            State::Grace
        }
        Within::Ended => State::Expired,
    }
}

/// The end of a license's grace period (`grace_days` is capped at ten years).
pub fn grace_end(times: Times, grace_days: u64) -> Timestamp {
    times.expires_at.plus_days(grace_days.min(3650) as i64)
}

/// A license's standing at an instant: its date state and the one sentence every command
/// (`runtime-verify license`, `remind`, `factory verify`) prints for it, so that no two of
/// them can answer the same question differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The date state ([`date_state`]).
    pub state: State,
    /// The instant judged.
    pub now: Timestamp,
    /// The license's times.
    pub times: Times,
    /// The end of its grace period.
    pub grace_end: Timestamp,
}

impl Standing {
    /// The standing of a license with these times at `now`, warning `warn_days` before expiry.
    pub fn at(times: Times, grace_days: u64, now: Timestamp, warn_days: i64) -> Standing {
        Standing {
            state: date_state(times, grace_days, now, warn_days),
            now,
            times,
            grace_end: grace_end(times, grace_days),
        }
    }

    /// The standing of a verified license.
    pub fn of(license: &VerifiedLicense, now: Timestamp, warn_days: i64) -> Standing {
        Standing::at(
            license.times(),
            license.license().grace_days,
            now,
            warn_days,
        )
    }

    /// The standing of an evaluation on this machine: the vendor's signed evaluation terms (a
    /// license of tier `evaluation`, issued from the catalog's evaluation tier, whose length
    /// `expires_at - not_before` is the tier's `validity_days`) counted from `started`, the
    /// first start recorded in the state directory (never before the terms' own start). No
    /// grace: once over, the state is `evaluation_expired`. `None` when the license is not an
    /// evaluation.
    pub fn evaluation(
        terms: &VerifiedLicense,
        started: Timestamp,
        now: Timestamp,
        warn_days: i64,
    ) -> Option<Standing> {
        if terms.license().tier != Tier::Evaluation {
            return None;
        }
        let t = terms.times();
        let length = t.expires_at.0.saturating_sub(t.not_before.0);
        let start = started.max(t.not_before);
        let times = Times {
            issued_at: t.issued_at,
            not_before: start,
            expires_at: Timestamp(start.0.saturating_add(length)),
        };
        let mut st = Standing::at(times, 0, now, warn_days);
        st.state = match st.state {
            State::Active | State::ExpiringSoon => State::Evaluation,
            State::Grace | State::Expired => State::EvaluationExpired,
            other => other,
        };
        Some(st)
    }

    /// Whether the product may run under it: active, expiring soon, or in grace (where it keeps
    /// running and operators are warned).
    pub fn usable(&self) -> bool {
        matches!(
            self.state,
            State::Active | State::ExpiringSoon | State::Grace | State::Evaluation
        )
    }

    /// Whole days until expiry, rounded down (negative once expired).
    pub fn days_remaining(&self) -> i64 {
        self.now.days_until(self.times.expires_at)
    }

    /// The verdict word: `VALID` when usable, else what it is.
    pub fn verdict(&self) -> &'static str {
        match self.state {
            State::Active | State::ExpiringSoon => "VALID",
            State::Grace => "VALID (GRACE PERIOD)",
            State::NotYetValid => "NOT VALID YET",
            State::Expired => "EXPIRED",
            State::Evaluation => "EVALUATION",
            State::EvaluationExpired => "EVALUATION OVER",
            _ => "NOT VALID",
        }
    }

    /// One sentence on the dates, e.g. `expires 2027-01-01T00:00:00Z (in 40 days)` or
    /// `not valid until 2027-01-01T00:00:00Z (in 3 days); expires ...`.
    pub fn describe(&self) -> String {
        let t = self.times;
        let exp = t.expires_at;
        let end = self.grace_end;
        match self.state {
            State::NotYetValid => format!(
                "not valid until {} ({}); then valid until {exp}",
                t.not_before,
                relative(self.now, t.not_before)
            ),
            State::Active => format!("active, expires {exp} ({})", relative(self.now, exp)),
            State::ExpiringSoon => format!(
                "expiring soon: expires {exp} ({}); renew it",
                relative(self.now, exp)
            ),
            State::Grace => format!(
                "expired {exp} ({}), in its grace period until {end} ({}); renew now",
                relative(self.now, exp),
                relative(self.now, end)
            ),
            State::Evaluation => format!(
                "evaluation started {}, ends {exp} ({})",
                t.not_before,
                relative(self.now, exp)
            ),
            State::EvaluationExpired => format!(
                "evaluation started {}, ended {exp} ({}); ask the vendor for a license",
                t.not_before,
                relative(self.now, exp)
            ),
            _ if end == exp => format!(
                "expired {exp} ({}), no grace period",
                relative(self.now, exp)
            ),
            _ => format!(
                "expired {exp} ({}), grace period ended {end}",
                relative(self.now, exp)
            ),
        }
    }
}

/// `in N days` / `N days ago`, in whole days rounded toward `now` (`in less than a day`, ...).
pub fn relative(now: Timestamp, then: Timestamp) -> String {
    const DAY: i64 = 86_400;
    let secs = then.0.saturating_sub(now.0);
    let days = secs.unsigned_abs() / DAY as u64;
    let unit = if days == 1 { "day" } else { "days" };
    match (secs >= 0, days) {
        _ if secs == 0 => "this very second".into(),
        (true, 0) => "in less than a day".into(),
        (false, 0) => "less than a day ago".into(),
        (true, d) => format!("in {d} {unit}"),
        (false, d) => format!("{d} {unit} ago"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn one_standing_per_instant_with_its_boundaries() {
        let times = Times {
            issued_at: t("2026-01-01T10:00:00Z"),
            not_before: t("2026-01-01T10:00:00Z"),
            expires_at: t("2027-01-01T10:00:00Z"),
        };
        let at = |s: &str| Standing::at(times, 14, t(s), 30);
        let cases = [
            ("2026-01-01T09:59:59Z", State::NotYetValid, false),
            ("2026-01-01T10:00:00Z", State::Active, true),
            ("2026-12-02T09:59:59Z", State::Active, true),
            ("2026-12-02T10:00:00Z", State::ExpiringSoon, true),
            ("2027-01-01T09:59:59Z", State::ExpiringSoon, true),
            ("2027-01-01T10:00:00Z", State::Grace, true),
            ("2027-01-15T09:59:59Z", State::Grace, true),
            ("2027-01-15T10:00:00Z", State::Expired, false),
        ];
        for (now, state, usable) in cases {
            let st = at(now);
            assert_eq!((st.state, st.usable()), (state, usable), "{now}");
            assert_eq!(st.state, date_state(times, 14, t(now), 30));
            assert!(!st.describe().is_empty());
        }
        assert_eq!(at("2026-01-01T09:59:59Z").verdict(), "NOT VALID YET");
        assert_eq!(at("2027-01-02T00:00:00Z").verdict(), "VALID (GRACE PERIOD)");
        assert_eq!(
            at("2026-12-31T10:00:00Z").describe(),
            "expiring soon: expires 2027-01-01T10:00:00Z (in 1 day); renew it"
        );
        assert_eq!(
            at("2027-01-03T10:00:01Z").describe(),
            "expired 2027-01-01T10:00:00Z (2 days ago), in its grace period until 2027-01-15T10:00:00Z (in 11 days); renew now"
        );
        assert_eq!(
            Standing::at(times, 0, t("2027-01-01T10:00:00Z"), 30).describe(),
            "expired 2027-01-01T10:00:00Z (this very second), no grace period"
        );
        assert_eq!(at("2027-02-01T10:00:00Z").days_remaining(), -31);
    }

    #[test]
    fn a_date_preview_is_the_end_of_that_day() {
        assert_eq!(
            Timestamp::parse_day_end_or_time("2026-11-22"),
            Timestamp::parse("2026-11-22T23:59:59Z")
        );
        assert_eq!(
            Timestamp::parse_day_end_or_time("2026-11-22T10:00:00Z"),
            Timestamp::parse("2026-11-22T10:00:00Z")
        );
        assert_eq!(Timestamp::parse_day_end_or_time("2026-02-30"), None);
    }
}
