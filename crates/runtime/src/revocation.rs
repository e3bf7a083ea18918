//! Signed revocation lists (docs/FORMAT.md §11).

use crate::error::VerifyError;
use crate::license::valid_id;
use crate::signed::verify_document;
use crate::trust::{ts, TrustStore};
use crate::MAX_SAFE_INTEGER;
use canon::{Kind, Timestamp};
use serde::Deserialize;

/// Largest revocation list accepted.
pub const MAX_REVOCATIONS_BYTES: usize = 8 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    #[serde(rename = "type")]
    doc_type: String,
    sequence: u64,
    issued_at: String,
    revoked: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    license_id: String,
    reason: String,
    revoked_at: String,
}

/// A verified revocation list.
#[derive(Debug, Clone)]
pub struct Revocations {
    sequence: u64,
    issued_at: Timestamp,
    sha256: [u8; 32],
    revoked: Vec<(String, String, Timestamp)>,
}

impl Revocations {
    /// The list's sequence number.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
    /// When it was issued.
    pub fn issued_at(&self) -> Timestamp {
        self.issued_at
    }
    /// The reason a license was revoked, if it is listed.
    pub fn reason(&self, license_id: &str) -> Option<&str> {
        self.revoked
            .iter()
            .find(|(id, _, _)| id == license_id)
            .map(|(_, r, _)| r.as_str())
    }
    /// SHA-256 of the list's canonical form (two lists of one sequence must be the same list).
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }
    /// Every entry: license id and reason.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.revoked
            .iter()
            .map(|(id, r, _)| (id.as_str(), r.as_str()))
    }
    /// Number of revoked licenses.
    pub fn len(&self) -> usize {
        self.revoked.len()
    }
    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }
}

/// Verifies a revocation list (license-role signature, key window at `issued_at`).
pub fn verify_revocations(
    trust: &TrustStore,
    doc: &[u8],
    sig: &[u8],
) -> Result<Revocations, VerifyError> {
    const W: &str = "revocation list";
    let c = verify_document(trust, Kind::Revocations, W, doc, MAX_REVOCATIONS_BYTES, sig)?;
    let d: Doc =
        serde_json::from_slice(c.canonical()).map_err(|e| VerifyError::schema(W, e.to_string()))?;
    if d.doc_type != "airlock-revocations" {
        return Err(VerifyError::schema(
            W,
            "type must be \"airlock-revocations\"",
        ));
    }
    if d.sequence == 0 || d.sequence > MAX_SAFE_INTEGER {
        return Err(VerifyError::schema(W, "sequence must be from 1 to 2^53-1"));
    }
    let issued_at = ts(W, "issued_at", &d.issued_at)?;
    trust.check_window(c.signer(), issued_at)?;
    let mut revoked = Vec::with_capacity(d.revoked.len());
    for e in d.revoked {
        if !valid_id(&e.license_id) {
            return Err(VerifyError::schema(
                W,
                format!("license_id {:?} is not an id", e.license_id),
            ));
        }
        revoked.push((e.license_id, e.reason, ts(W, "revoked_at", &e.revoked_at)?));
    }
    Ok(Revocations {
        sequence: d.sequence,
        issued_at,
        sha256: canon::enc::sha256(c.canonical()),
        revoked,
    })
}
