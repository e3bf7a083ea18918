//! Building and signing trust files (`trust.json`). The format is `format::trust`'s (one type
//! for writing and reading); the verifier is `runtime::TrustStore::from_trust_file`.

use crate::keyfile::{KeyError, SecretKey};
use canon::{KeyId, Kind, Role, Timestamp};
pub use format::trust::KeyStatus;
use format::trust::{trust_file, KeyEntry, TrustBody};
use format::Artifact;

/// One key entry of a trust file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustEntry {
    /// Raw public key.
    pub public_key: [u8; 32],
    /// Human name.
    pub name: String,
    /// Roles it may sign for.
    pub roles: Vec<Role>,
    /// Window start.
    pub not_before: Timestamp,
    /// Window end.
    pub not_after: Timestamp,
    /// Active, retired or revoked.
    pub status: KeyStatus,
}

impl TrustEntry {
    /// The derived key id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public_key)
    }

    fn to_entry(&self) -> KeyEntry {
        KeyEntry::new(
            self.public_key,
            &self.name,
            &self.roles,
            self.not_before,
            self.not_after,
            self.status,
        )
    }
}

/// The `signed` part of a trust file.
pub fn signed_body(version: u64, issued_at: Timestamp, entries: &[TrustEntry]) -> TrustBody {
    TrustBody::new(
        version,
        issued_at,
        entries.iter().map(TrustEntry::to_entry).collect(),
    )
}

/// Signs a trust file with a root key and returns its pretty-printed bytes.
pub fn sign_trust_file(
    root: &SecretKey,
    version: u64,
    issued_at: Timestamp,
    entries: &[TrustEntry],
) -> Result<Vec<u8>, KeyError> {
    sign_trust_file_by(&[root], version, issued_at, entries)
}

/// Signs a trust file with one or more root keys (co-signing: during a root rotation the old
/// and the new root both sign, so a runtime that pinned either accepts it).
pub fn sign_trust_file_by(
    roots: &[&SecretKey],
    version: u64,
    issued_at: Timestamp,
    entries: &[TrustEntry],
) -> Result<Vec<u8>, KeyError> {
    let body = signed_body(version, issued_at, entries);
    let canonical = body.to_canonical();
    let mut sigs = Vec::with_capacity(roots.len());
    for root in roots {
        sigs.push(root.sign_document(Kind::Trust, &canonical)?);
    }
    Ok(trust_file(&body, &sigs))
}
