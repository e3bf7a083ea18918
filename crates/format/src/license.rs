//! Licenses: the schema-3 document (docs/FORMAT.md §9) and the legacy schema-2 document
//! (§10), with their schema rules. Signature checks and the cut-off policy live in the runtime.

use crate::{ts, unique, valid_id, Artifact, SchemaError, MAX_SAFE_INTEGER};
use canon::{Kind, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Largest license document accepted, in bytes.
pub const MAX_LICENSE_BYTES: usize = 64 * 1024;
/// The human license key alphabet: digits and capitals without 0, O, 1, I, L.
pub const KEY_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// The legacy license's name in messages.
pub const WHAT_V2: &str = "legacy license";

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

/// The limit naming a license's device limit (seats), 1 to 10,000.
pub const LIMIT_ACTIVATIONS: &str = "activations";
/// The limit that, at 1, makes activation required before the product runs licensed work.
pub const LIMIT_ACTIVATION_REQUIRED: &str = "activation_required";
/// The limit naming the percentage of seats allowed over the device limit (0 to 100).
pub const LIMIT_ACTIVATION_OVERAGE: &str = "activation_overage_percent";

impl License {
    /// Whether the product must be activated on a machine before it runs licensed work.
    pub fn activation_required(&self) -> bool {
        self.limits.get(LIMIT_ACTIVATION_REQUIRED) == Some(&1)
    }

    /// The device limit: `limits.activations`, 1 when the license does not say.
    pub fn device_limit(&self) -> u64 {
        self.limits.get(LIMIT_ACTIVATIONS).copied().unwrap_or(1)
    }

    /// The overage the tier allows, in percent of the device limit.
    pub fn overage_percent(&self) -> u64 {
        self.limits
            .get(LIMIT_ACTIVATION_OVERAGE)
            .copied()
            .unwrap_or(0)
    }

    /// The most seats that may be held: the limit plus its overage, rounded down.
    pub fn max_seats(&self) -> u64 {
        let limit = self.device_limit();
        limit + limit * self.overage_percent() / 100
    }
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

impl Artifact for License {
    const KIND: Kind = Kind::License;
    const WHAT: &'static str = WHAT;
    const MAX_BYTES: usize = MAX_LICENSE_BYTES;
    type Facts = Times;

    fn signed_at(times: &Times) -> Option<Timestamp> {
        Some(times.issued_at)
    }

    /// Checks every schema rule beyond the JSON shape and returns the parsed times.
    fn validate(&self) -> Result<Times, SchemaError> {
        let bad = |m: String| Err(SchemaError::new(WHAT, m));
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
        if let Some(n) = self.limits.get(LIMIT_ACTIVATIONS) {
            if *n == 0 || *n > crate::activation::MAX_DEVICE_LIMIT {
                return bad("limit activations (the device limit) must be from 1 to 10000".into());
            }
        }
        if self
            .limits
            .get(LIMIT_ACTIVATION_REQUIRED)
            .is_some_and(|v| *v > 1)
        {
            return bad("limit activation_required must be 0 or 1".into());
        }
        if self
            .limits
            .get(LIMIT_ACTIVATION_OVERAGE)
            .is_some_and(|v| *v > 100)
        {
            return bad("limit activation_overage_percent must be from 0 to 100".into());
        }
        crate::floating::check_limits(WHAT, &self.limits)?;
        crate::identity::check_limits(WHAT, &self.limits)?;
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
}

/// The schema-2 (legacy) license: flat, with an inline `signature` over the canonical JSON of
/// all other members (no PAE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseV2 {
    /// Always 2.
    pub schema_version: u64,
    /// License id (also its lineage).
    pub license_id: String,
    /// Human key.
    pub license_key: String,
    /// The vendor.
    pub issuer: String,
    /// Customer id.
    pub customer_id: String,
    /// Customer display name.
    pub customer_name: String,
    /// Product id.
    pub product: String,
    /// Tier.
    pub tier: Tier,
    /// Licensed features.
    pub features: Vec<String>,
    /// Limits by name.
    pub limits: BTreeMap<String, u64>,
    /// Issue time (also the start of validity).
    pub issued_at: String,
    /// End of validity.
    pub expires_at: String,
    /// Base64 Ed25519 signature over the canonical JSON of every other member.
    pub signature: String,
}

impl LicenseV2 {
    /// The canonical bytes its inline signature covers: every member but `signature`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        match crate::json_value(self) {
            canon::Value::Object(m) => canon::Value::Object(m.without("signature")).to_canonical(),
            other => other.to_canonical(),
        }
    }

    /// The document, pretty-printed in canonical member order (how it is written).
    pub fn to_pretty(&self) -> Vec<u8> {
        crate::json_value(self).to_pretty()
    }

    /// Checks the schema and returns the schema-3 view every later check reads: one edition
    /// (`standard`), valid from `issued_at`, no grace, no renewal, its own lineage.
    pub fn to_v3(&self) -> Result<(License, Times), SchemaError> {
        if self.schema_version != 2 {
            return Err(SchemaError::new(WHAT_V2, "schema_version is not 2"));
        }
        let issued_at = ts(WHAT_V2, "issued_at", &self.issued_at)?;
        let expires_at = ts(WHAT_V2, "expires_at", &self.expires_at)?;
        let license = License {
            schema_version: 3,
            license_id: self.license_id.clone(),
            license_key: self.license_key.clone(),
            issuer: self.issuer.clone(),
            customer: Customer {
                id: self.customer_id.clone(),
                name: self.customer_name.clone(),
            },
            workspace: String::new(),
            product: self.product.clone(),
            tier: self.tier,
            editions: vec!["standard".into()],
            issued_at: self.issued_at.clone(),
            not_before: issued_at.to_string(),
            expires_at: expires_at.to_string(),
            grace_days: 0,
            features: self.features.clone(),
            limits: self.limits.clone(),
            production_use: self.tier != Tier::Evaluation,
            data_residency: String::new(),
            renewal_of: None,
            lineage_id: self.license_id.clone(),
            sequence: 1,
        };
        let times = license
            .validate()
            .map_err(|e| SchemaError::new(WHAT_V2, e.detail))?;
        Ok((license, times))
    }
}
