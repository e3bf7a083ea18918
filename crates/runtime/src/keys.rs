//! Ed25519 public keys and the one verification primitive the runtime uses.
//!
//! Keys are validated when they are loaded (32 bytes, a canonical encoding of a point that is
//! not of small order); signatures are exactly 64 bytes by type and are checked with
//! `verify_strict` only (plain `verify` accepts forgeries under small-order keys).

use crate::error::VerifyError;
use canon::{pae, KeyId, Kind};
use ed25519_dalek::{Signature, VerifyingKey};
use std::fmt;

/// A validated Ed25519 public key with its derived key id.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
}

/// Why a public key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Not a valid point encoding.
    NotAPoint,
    /// The encoding is not the canonical one for its point.
    NonCanonical,
    /// A point of small order (a "weak" key that verifies forgeries).
    Weak,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::NotAPoint => "public key is not a valid Ed25519 point",
            KeyError::NonCanonical => "public key encoding is not canonical",
            KeyError::Weak => "public key is a weak (small-order) point",
        })
    }
}

impl std::error::Error for KeyError {}

impl PublicKey {
    /// Validates raw public key bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotAPoint)?;
        if key.to_edwards().compress().as_bytes() != bytes {
            return Err(KeyError::NonCanonical);
        }
        if key.is_weak() {
            return Err(KeyError::Weak);
        }
        Ok(PublicKey {
            key,
            id: KeyId::of(bytes),
        })
    }

    /// The derived key id.
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// The raw 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// `verify_strict` of a 64-byte signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(signature);
        self.key.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

/// Verifies a raw Ed25519 signature of any length: anything but exactly 64 bytes is refused
/// before cryptography. Used by conformance tests with external vectors.
pub fn verify_raw(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(pk), Ok(sig)) = (
        <&[u8; 32]>::try_from(public_key),
        <&[u8; 64]>::try_from(signature),
    ) else {
        return false;
    };
    match PublicKey::from_bytes(pk) {
        Ok(k) => k.verify(message, sig),
        Err(_) => false,
    }
}

pub(crate) fn verify_pae(
    key: &PublicKey,
    kind: Kind,
    canonical: &[u8],
    sig: &[u8; 64],
    what: &'static str,
) -> Result<(), VerifyError> {
    if key.verify(&pae(kind.payload_type(), canonical), sig) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature {
            key_id: key.key_id(),
            what,
        })
    }
}

/// A minisign public key file as a verification key. Its key number must be the key id
/// derived from the key (true for every Airlock key); stock minisign keys use a random key
/// number, so for those use [`minisign_foreign_key`].
pub fn minisign_public_key(file: &[u8]) -> Result<PublicKey, VerifyError> {
    let pk = canon::minisign::PublicKey::parse(file).map_err(VerifyError::Minisign)?;
    let key = PublicKey::from_bytes(&pk.key)
        .map_err(|e| VerifyError::Trust(format!("minisign public key: {e}")))?;
    if key.key_id() != KeyId(pk.keynum) {
        return Err(VerifyError::Trust(format!(
            "minisign key number {} is not the key id {} derived from the key",
            KeyId(pk.keynum),
            key.key_id()
        )));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_small_order_and_non_canonical_keys() {
        // The identity point (y = 1): small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::Weak));
        // y = p + 1 (non-canonical encoding of the identity).
        let mut noncanon = [0xffu8; 32];
        noncanon[0] = 0xee;
        noncanon[31] = 0x7f;
        assert!(matches!(
            PublicKey::from_bytes(&noncanon),
            Err(KeyError::NonCanonical | KeyError::Weak | KeyError::NotAPoint)
        ));
        // y = 2 is not on the curve.
        let mut off = [0u8; 32];
        off[0] = 2;
        assert_eq!(PublicKey::from_bytes(&off), Err(KeyError::NotAPoint));
    }

    #[test]
    fn wrong_signature_lengths_are_refused() {
        assert!(!verify_raw(&[0; 32], b"", &[0; 63]));
        assert!(!verify_raw(&[0; 32], b"", &[0; 65]));
        assert!(!verify_raw(&[0; 31], b"", &[0; 64]));
    }
}
