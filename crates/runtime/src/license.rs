//! Licenses: the schema-3 document, its verification, legacy schema-2 acceptance, and the
//! license state at a given time.
//!
//! A [`VerifiedLicense`] can only be built by [`verify_license`]: holding one means its
//! signature verified under a trusted license key valid at its issue time.

use crate::error::VerifyError;
use crate::signed::verify_document;
use crate::trust::{ts, TrustStore};
use crate::MAX_SAFE_INTEGER;
use canon::{enc, json, KeyId, Kind, Role, Timestamp, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Largest license document accepted, in bytes.
pub const MAX_LICENSE_BYTES: usize = 64 * 1024;
/// The human license key alphabet: digits and capitals without 0, O, 1, I, L.
pub const KEY_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Default warning window before expiry, in days.
pub const DEFAULT_WARN_DAYS: i64 = 30;
/// Default cut-off: schema-2 licenses are accepted through 2026-12-31 (the whole day) and refused
/// from this instant on, unless explicitly allowed.
pub const DEFAULT_LEGACY_CUTOFF: &str = "2027-01-01T00:00:00Z";

const WHAT: &str = "license";

/// License tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Time-limited trial, no production use.
    Evaluation,
    /// The standard paid tier.
    Professional,
    /// Every feature, every limit unlimited.
    Sovereign,
}

impl Tier {
    /// The tier's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Evaluation => "evaluation",
            Tier::Professional => "professional",
            Tier::Sovereign => "sovereign",
        }
    }

    /// Parses a tier name.
    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "evaluation" => Some(Tier::Evaluation),
            "professional" => Some(Tier::Professional),
            "sovereign" => Some(Tier::Sovereign),
            _ => None,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The licensed customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// Stable customer id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// A schema-3 license document (see docs/FORMAT.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct License {
    /// Always 3.
    pub schema_version: u64,
    /// Unique license id.
    pub license_id: String,
    /// Human key `XXXX-XXXX-XXXX-XXXX` over [`KEY_ALPHABET`].
    pub license_key: String,
    /// The vendor.
    pub issuer: String,
    /// The customer.
    pub customer: Customer,
    /// The customer's workspace / deployment name.
    pub workspace: String,
    /// Product id.
    pub product: String,
    /// Tier.
    pub tier: Tier,
    /// Product editions this license allows.
    pub editions: Vec<String>,
    /// Issue time.
    pub issued_at: String,
    /// Start of validity.
    pub not_before: String,
    /// End of validity.
    pub expires_at: String,
    /// Days after expiry during which the product keeps running with warnings.
    pub grace_days: u64,
    /// Licensed features.
    pub features: Vec<String>,
    /// Limits by name; 0 means unlimited.
    pub limits: BTreeMap<String, u64>,
    /// Whether production use is allowed.
    pub production_use: bool,
    /// Where data must stay (free text, e.g. `eu`).
    pub data_residency: String,
    /// The predecessor's license id, or null.
    pub renewal_of: Option<String>,
    /// Id shared by every license of one renewal chain.
    pub lineage_id: String,
    /// Position in the lineage (1 for the first).
    pub sequence: u64,
}

/// Checks an identifier: 1–128 characters of `A-Z a-z 0-9 . _ : -`.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// Checks a human license key.
pub fn valid_license_key(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| {
            if i % 5 == 4 {
                *c == b'-'
            } else {
                KEY_ALPHABET.contains(c)
            }
        })
}

fn unique(v: &[String]) -> bool {
    let mut s: Vec<&String> = v.iter().collect();
    s.sort();
    s.windows(2).all(|w| w[0] != w[1])
}

/// Parsed times of a license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    /// Issue time.
    pub issued_at: Timestamp,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub expires_at: Timestamp,
}

impl License {
    /// Checks every schema rule beyond the JSON shape and returns the parsed times.
    pub fn validate(&self) -> Result<Times, VerifyError> {
        let bad = |m: String| Err(VerifyError::schema(WHAT, m));
        if self.schema_version != 3 {
            return bad(format!("schema_version {} is not 3", self.schema_version));
        }
        for (name, v) in [
            ("license_id", &self.license_id),
            ("lineage_id", &self.lineage_id),
            ("product", &self.product),
            ("customer.id", &self.customer.id),
        ] {
            if !valid_id(v) {
                return bad(format!(
                    "{name} {v:?} must be 1-128 characters of A-Z a-z 0-9 . _ : -"
                ));
            }
        }
        if !valid_license_key(&self.license_key) {
            return bad(format!(
                "license_key {:?} is not XXXX-XXXX-XXXX-XXXX over the key alphabet",
                self.license_key
            ));
        }
        for (name, v) in [
            ("issuer", &self.issuer),
            ("customer.name", &self.customer.name),
        ] {
            if v.trim().is_empty() || v.chars().count() > 256 {
                return bad(format!("{name} must be 1-256 characters"));
            }
        }
        if self.workspace.chars().count() > 256 || self.data_residency.chars().count() > 64 {
            return bad("workspace or data_residency too long".into());
        }
        for (name, v) in [
            ("issuer", &self.issuer),
            ("customer.name", &self.customer.name),
            ("workspace", &self.workspace),
            ("data_residency", &self.data_residency),
        ] {
            if let Some(c) = crate::text::first_unprintable(v) {
                return bad(format!(
                    "{name} holds the control or formatting character U+{:04X}; signed text must be printable",
                    u32::from(c)
                ));
            }
        }
        if self.editions.is_empty()
            || !self.editions.iter().all(|e| valid_id(e))
            || !unique(&self.editions)
        {
            return bad("editions must be a non-empty list of unique ids".into());
        }
        if !self.features.iter().all(|f| valid_id(f))
            || !unique(&self.features)
            || self.features.len() > 1024
        {
            return bad("features must be a list of unique ids".into());
        }
        for (k, v) in &self.limits {
            if !valid_id(k) || *v > MAX_SAFE_INTEGER {
                return bad(format!(
                    "limit {k:?} must be an id with a value from 0 to 2^53-1"
                ));
            }
        }
        if self.grace_days > 3650 {
            return bad("grace_days must be at most 3650".into());
        }
        if self.sequence == 0 || self.sequence > MAX_SAFE_INTEGER {
            return bad("sequence must be from 1 to 2^53-1".into());
        }
        match &self.renewal_of {
            None if self.sequence != 1 => {
                return bad("a license without renewal_of must have sequence 1".into())
            }
            Some(r) if !valid_id(r) || self.sequence < 2 => {
                return bad("renewal_of must be a license id and sequence at least 2".into())
            }
            Some(r) if *r == self.license_id => return bad("a license cannot renew itself".into()),
            _ => {}
        }
        let times = Times {
            issued_at: ts(WHAT, "issued_at", &self.issued_at)?,
            not_before: ts(WHAT, "not_before", &self.not_before)?,
            expires_at: ts(WHAT, "expires_at", &self.expires_at)?,
        };
        if times.expires_at <= times.not_before {
            return bad("expires_at must be after not_before".into());
        }
        Ok(times)
    }

    /// The canonical JSON bytes of this license (what is signed).
    pub fn canonical(&self) -> Vec<u8> {
        let raw = serde_json::to_vec(self).unwrap_or_default();
        json::canonicalize(&raw).unwrap_or_default()
    }
}

/// Legacy (schema 2) policy.
#[derive(Debug, Clone, Copy)]
pub struct LegacyPolicy {
    /// From this instant on, schema-2 licenses are refused...
    pub cutoff: Timestamp,
    /// ...unless this is set (an explicit operator decision).
    pub allow_after_cutoff: bool,
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

/// The schema-2 (legacy) license: flat, with an inline `signature` over the canonical JSON of
/// all other members (no PAE).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseV2 {
    schema_version: u64,
    license_id: String,
    license_key: String,
    issuer: String,
    customer_id: String,
    customer_name: String,
    product: String,
    tier: Tier,
    features: Vec<String>,
    limits: BTreeMap<String, u64>,
    issued_at: String,
    expires_at: String,
    // Checked separately (it is excluded from what it signs); named here so that
    // `deny_unknown_fields` accepts it.
    #[serde(rename = "signature")]
    _signature: String,
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
            let checked =
                verify_document(trust, Kind::License, WHAT, document, MAX_LICENSE_BYTES, sig)?;
            let license: License = serde_json::from_slice(checked.canonical())
                .map_err(|e| VerifyError::schema(WHAT, e.to_string()))?;
            let times = license.validate()?;
            trust.check_window(checked.signer(), times.issued_at)?;
            Ok(VerifiedLicense {
                license,
                times,
                canonical: checked.canonical().to_vec(),
                signer: checked.signer(),
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
    const LEGACY: &str = "legacy license";
    if now >= policy.cutoff && !policy.allow_after_cutoff {
        return Err(VerifyError::schema(
            LEGACY,
            format!("schema 2 licenses are refused from {} on (migrate it with `factory migrate`, or allow legacy explicitly)", policy.cutoff),
        ));
    }
    let Value::Object(members) = value else {
        return Err(VerifyError::schema(LEGACY, "not an object"));
    };
    let inline = value
        .get("signature")
        .and_then(Value::as_str)
        .and_then(enc::unb64_exact::<64>)
        .ok_or_else(|| VerifyError::schema(LEGACY, "signature is not base64 of 64 bytes"))?;
    let unsigned = Value::Object(
        members
            .iter()
            .filter(|(k, _)| k != "signature")
            .cloned()
            .collect(),
    );
    let canonical = unsigned.to_canonical();
    let v2: LicenseV2 = serde_json::from_slice(&value.to_canonical())
        .map_err(|e| VerifyError::schema(LEGACY, e.to_string()))?;
    if v2.schema_version != 2 {
        return Err(VerifyError::schema(LEGACY, "schema_version is not 2"));
    }
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
    let issued_at = ts(LEGACY, "issued_at", &v2.issued_at)?;
    let expires_at = ts(LEGACY, "expires_at", &v2.expires_at)?;
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
    trust.check_window(signer_id, issued_at)?;
    let license = License {
        schema_version: 3,
        license_id: v2.license_id.clone(),
        license_key: v2.license_key,
        issuer: v2.issuer,
        customer: Customer {
            id: v2.customer_id,
            name: v2.customer_name,
        },
        workspace: String::new(),
        product: v2.product,
        tier: v2.tier,
        editions: vec!["standard".into()],
        issued_at: v2.issued_at,
        not_before: issued_at.to_string(),
        expires_at: expires_at.to_string(),
        grace_days: 0,
        features: v2.features,
        limits: v2.limits,
        production_use: v2.tier != Tier::Evaluation,
        data_residency: String::new(),
        renewal_of: None,
        lineage_id: v2.license_id,
        sequence: 1,
    };
    let times = license
        .validate()
        .map_err(|e| VerifyError::schema(LEGACY, e.to_string()))?;
    Ok(VerifiedLicense {
        canonical: canonical.clone(),
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
/// the caller, who holds the revocation list and the state directory).
pub fn date_state(times: Times, grace_days: u64, now: Timestamp, warn_days: i64) -> State {
    if now < times.not_before {
        State::NotYetValid
    } else if now < times.expires_at {
        if now.plus_days(warn_days) >= times.expires_at {
            State::ExpiringSoon
        } else {
            State::Active
        }
    } else if now < times.expires_at.plus_days(grace_days.min(3650) as i64) {
        State::Grace
    } else {
        State::Expired
    }
}
