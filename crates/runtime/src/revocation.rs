//! Signed revocation lists (docs/FORMAT.md §11): their verification. The schema is
//! `format::revocation`'s, re-exported here.

use crate::error::VerifyError;
use crate::signed::{verify, Verified};
use crate::trust::TrustStore;
use canon::Timestamp;
pub use format::revocation::*;

/// A verified revocation list.
pub type Revocations = Verified<RevocationList>;

impl Verified<RevocationList> {
    /// The list's sequence number.
    pub fn sequence(&self) -> u64 {
        self.value().sequence
    }
    /// When it was issued.
    pub fn issued_at(&self) -> Timestamp {
        self.facts()
    }
    /// The reason a license was revoked, if it is listed.
    pub fn reason(&self, license_id: &str) -> Option<&str> {
        self.value().reason(license_id)
    }
    /// SHA-256 of the list's canonical form (two lists of one sequence must be the same list).
    pub fn sha256(&self) -> [u8; 32] {
        self.digest()
    }
    /// Every entry: license id and reason.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.value()
            .revoked
            .iter()
            .map(|r| (r.license_id.as_str(), r.reason.as_str()))
    }
    /// Every activation released without a receipt: activation id and reason.
    pub fn activation_entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.value()
            .revoked_activations
            .iter()
            .map(|r| (r.activation_id.as_str(), r.reason.as_str()))
    }
    /// Every suspended license and since when.
    pub fn suspensions(&self) -> impl Iterator<Item = (String, Timestamp)> + '_ {
        self.value()
            .suspended
            .iter()
            .filter_map(|e| Timestamp::parse(&e.suspended_at).map(|t| (e.license_id.clone(), t)))
    }
    /// Every lineage's minimum activation epoch.
    pub fn epochs(&self) -> impl Iterator<Item = (&str, u64)> {
        self.value()
            .activation_epochs
            .iter()
            .map(|e| (e.lineage_id.as_str(), e.min_epoch))
    }
    /// Number of revoked licenses.
    pub fn len(&self) -> usize {
        self.value().revoked.len()
    }
    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.value().revoked.is_empty()
    }
}

/// Verifies a revocation list (license-role signature, key window at `issued_at`).
pub fn verify_revocations(
    trust: &TrustStore,
    doc: &[u8],
    sig: &[u8],
) -> Result<Revocations, VerifyError> {
    verify(trust, doc, sig, None)
}
