//! Signed revocation lists (docs/FORMAT.md §11).

use crate::{ts, valid_id, Artifact, SchemaError, MAX_SAFE_INTEGER};
use canon::{Kind, Timestamp};
use serde::{Deserialize, Serialize};

/// Largest revocation list accepted.
pub const MAX_REVOCATIONS_BYTES: usize = 8 << 20;
/// The list's `type` member.
pub const REVOCATIONS_TYPE: &str = "airlock-revocations";

/// A revocation list: every license the vendor revoked, under a sequence number that only
/// grows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationList {
    /// Always `airlock-revocations`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// From 1; a runtime never accepts a lower one than it has seen.
    pub sequence: u64,
    /// When it was issued (and signed).
    pub issued_at: String,
    /// The revoked licenses.
    pub revoked: Vec<Revocation>,
    /// Activations the vendor released without the machine's receipt (a dead or lost machine):
    /// their leases stop verifying. Absent when empty (lists without activations keep the
    /// version-1 shape byte for byte).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_activations: Vec<RevokedActivation>,
    /// Per lineage, the lowest activation epoch still valid: a reset raises it, and every lease
    /// of an earlier epoch stops verifying. Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activation_epochs: Vec<ActivationEpoch>,
    /// Licenses suspended when the list was issued: they stop licensed work and activations
    /// until a later list no longer names them (resumed). Unlike revocations, the newest list
    /// a runtime accepted decides. Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspended: Vec<Suspension>,
}

/// One suspended license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suspension {
    /// The license id.
    pub license_id: String,
    /// Since when.
    pub suspended_at: String,
}

/// One activation released by the vendor without a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedActivation {
    /// The activation id.
    pub activation_id: String,
    /// Its license lineage.
    pub lineage_id: String,
    /// Why (shown to the customer).
    pub reason: String,
    /// When it was released.
    pub revoked_at: String,
}

/// The lowest valid activation epoch of a lineage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationEpoch {
    /// The lineage.
    pub lineage_id: String,
    /// Leases with a lower epoch are void.
    pub min_epoch: u64,
}

/// Why a license was revoked: a code from a fixed list, as X.509 CRLs carry (RFC 5280
/// §5.3.1). The vendor's own words stay in its registry; a published list says only this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No reason given.
    Unspecified,
    /// The license key or license file leaked.
    KeyCompromise,
    /// The customer changed (merged, renamed, moved the license to another entity).
    AffiliationChanged,
    /// Replaced by another license.
    Superseded,
    /// The customer stopped using the product (contract ended).
    CessationOfOperation,
    /// The vendor withdrew the right to use it (non-payment, breach of terms).
    PrivilegeWithdrawn,
}

impl Reason {
    /// Every code, in the order the docs list them.
    pub const ALL: [Reason; 6] = [
        Reason::Unspecified,
        Reason::KeyCompromise,
        Reason::AffiliationChanged,
        Reason::Superseded,
        Reason::CessationOfOperation,
        Reason::PrivilegeWithdrawn,
    ];

    /// The code as published.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unspecified => "unspecified",
            Reason::KeyCompromise => "key_compromise",
            Reason::AffiliationChanged => "affiliation_changed",
            Reason::Superseded => "superseded",
            Reason::CessationOfOperation => "cessation_of_operation",
            Reason::PrivilegeWithdrawn => "privilege_withdrawn",
        }
    }

    /// The code named `s`, if it is one.
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Every code, comma-separated (for messages).
    pub fn names() -> String {
        Reason::ALL.map(Reason::as_str).join(", ")
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One revoked license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// The license id.
    pub license_id: String,
    /// Why: a [`Reason`] code (shown to the customer).
    pub reason: String,
    /// When it was revoked.
    pub revoked_at: String,
}

impl RevocationList {
    /// A list issued at `issued_at` (entries in the order given).
    pub fn new(
        sequence: u64,
        issued_at: Timestamp,
        revoked: impl IntoIterator<Item = (String, Reason, Timestamp)>,
    ) -> RevocationList {
        RevocationList {
            doc_type: REVOCATIONS_TYPE.into(),
            sequence,
            issued_at: issued_at.to_string(),
            revoked: revoked
                .into_iter()
                .map(|(license_id, reason, at)| Revocation {
                    license_id,
                    reason: reason.as_str().to_string(),
                    revoked_at: at.to_string(),
                })
                .collect(),
            revoked_activations: Vec::new(),
            activation_epochs: Vec::new(),
            suspended: Vec::new(),
        }
    }

    /// The minimum activation epoch of `lineage_id` (1 when the list does not name it).
    pub fn min_epoch(&self, lineage_id: &str) -> u64 {
        self.activation_epochs
            .iter()
            .find(|e| e.lineage_id == lineage_id)
            .map_or(1, |e| e.min_epoch)
    }

    /// The reason a license was revoked, if it is listed.
    pub fn reason(&self, license_id: &str) -> Option<&str> {
        self.revoked
            .iter()
            .find(|r| r.license_id == license_id)
            .map(|r| r.reason.as_str())
    }
}

impl Artifact for RevocationList {
    const KIND: Kind = Kind::Revocations;
    const WHAT: &'static str = "revocation list";
    const MAX_BYTES: usize = MAX_REVOCATIONS_BYTES;
    /// The issue time.
    type Facts = Timestamp;

    fn signed_at(issued_at: &Timestamp) -> Option<Timestamp> {
        Some(*issued_at)
    }

    fn validate(&self) -> Result<Timestamp, SchemaError> {
        let w = Self::WHAT;
        if self.doc_type != REVOCATIONS_TYPE {
            return Err(SchemaError::new(w, "type must be \"airlock-revocations\""));
        }
        if self.sequence == 0 || self.sequence > MAX_SAFE_INTEGER {
            return Err(SchemaError::new(w, "sequence must be from 1 to 2^53-1"));
        }
        let issued_at = ts(w, "issued_at", &self.issued_at)?;
        for e in &self.revoked {
            if !valid_id(&e.license_id) {
                return Err(SchemaError::new(
                    w,
                    format!("license_id {:?} is not an id", e.license_id),
                ));
            }
            ts(w, "revoked_at", &e.revoked_at)?;
            if Reason::parse(&e.reason).is_none() {
                return Err(SchemaError::new(
                    w,
                    format!(
                        "license {:?}: reason {:?} is not a reason code ({})",
                        e.license_id,
                        e.reason,
                        Reason::names()
                    ),
                ));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for a in &self.revoked_activations {
            if !valid_id(&a.activation_id) || !valid_id(&a.lineage_id) {
                return Err(SchemaError::new(
                    w,
                    format!(
                        "revoked activation {:?} has a malformed id",
                        a.activation_id
                    ),
                ));
            }
            if !ids.insert(a.activation_id.as_str()) {
                return Err(SchemaError::new(
                    w,
                    format!("activation {:?} is listed twice", a.activation_id),
                ));
            }
            ts(w, "revoked_activations revoked_at", &a.revoked_at)?;
        }
        let mut held = std::collections::HashSet::new();
        for e in &self.suspended {
            if !valid_id(&e.license_id) || !held.insert(e.license_id.as_str()) {
                return Err(SchemaError::new(
                    w,
                    format!(
                        "suspended: license {:?} is malformed or listed twice",
                        e.license_id
                    ),
                ));
            }
            if self.revoked.iter().any(|r| r.license_id == e.license_id) {
                return Err(SchemaError::new(
                    w,
                    format!("license {:?} is both revoked and suspended", e.license_id),
                ));
            }
            ts(w, "suspended_at", &e.suspended_at)?;
        }
        let mut lineages = std::collections::HashSet::new();
        for e in &self.activation_epochs {
            if !valid_id(&e.lineage_id) || !lineages.insert(e.lineage_id.as_str()) {
                return Err(SchemaError::new(
                    w,
                    format!(
                        "activation_epochs: lineage {:?} is malformed or listed twice",
                        e.lineage_id
                    ),
                ));
            }
            if e.min_epoch == 0 || e.min_epoch > MAX_SAFE_INTEGER {
                return Err(SchemaError::new(
                    w,
                    "activation_epochs: min_epoch must be from 1 to 2^53-1",
                ));
            }
        }
        Ok(issued_at)
    }
}
