//! Content keys wrapped to X25519 keys with HPKE (RFC 9180), base mode, suite
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305. A wrapped key is the 32-byte
//! encapsulated key followed by the 48-byte sealed content key (80 bytes; base64 in documents).
//! The `info` names what the key is for (a build for the key-encryption key; a build, a seat
//! and a lease for a machine), so a wrapped key moved elsewhere does not open.

use crate::{ContentKey, SealError};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, Serializable};
use zeroize::Zeroizing;

type K = X25519HkdfSha256;

/// Bytes of a wrapped content key.
pub const WRAPPED_LEN: usize = 32 + 32 + 16;

/// An X25519 secret key (HPKE recipient), derived from a 32-byte seed with RFC 9180's
/// DeriveKeyPair. `Debug` shows the public key only.
pub struct SecretKey {
    seed: Zeroizing<[u8; 32]>,
    sk: <K as Kem>::PrivateKey,
    pk: [u8; 32],
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "x25519::SecretKey(public {})", canon::enc::b64(&self.pk))
    }
}

impl SecretKey {
    /// The key of `seed`.
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        let (sk, pk) = K::derive_keypair(&seed);
        let mut p = [0u8; 32];
        p.copy_from_slice(&pk.to_bytes());
        SecretKey {
            seed: Zeroizing::new(seed),
            sk,
            pk: p,
        }
    }

    /// A fresh key (the operating system's generator).
    #[cfg(feature = "seal")]
    pub fn generate() -> SecretKey {
        use rand_core::RngCore;
        let mut seed = Zeroizing::new([0u8; 32]);
        rand_core::OsRng.fill_bytes(&mut *seed);
        SecretKey::from_seed(*seed)
    }

    /// The seed (for the key file).
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The public key's 32 bytes.
    pub fn public_key(&self) -> [u8; 32] {
        self.pk
    }

    /// Opens a content key wrapped to this key for `info`.
    pub fn unwrap(&self, wrapped: &[u8], info: &[u8]) -> Result<ContentKey, SealError> {
        if wrapped.len() != WRAPPED_LEN {
            return Err(SealError::Unwrap(format!(
                "{} bytes; a wrapped key is {WRAPPED_LEN}",
                wrapped.len()
            )));
        }
        let enc = <K as Kem>::EncappedKey::from_bytes(&wrapped[..32])
            .map_err(|e| SealError::Unwrap(format!("encapsulated key: {e}")))?;
        let plain = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, K>(
            &OpModeR::Base,
            &self.sk,
            &enc,
            info,
            &wrapped[32..],
            &[],
        )
        .map_err(|_| {
            SealError::Unwrap(
                "does not open with this key for this use (another key, another build or lease, or changed bytes)"
                    .into(),
            )
        })?;
        let plain = Zeroizing::new(plain);
        let b: [u8; 32] = plain[..]
            .try_into()
            .map_err(|_| SealError::Unwrap("the wrapped secret is not 32 bytes".into()))?;
        Ok(ContentKey::from_bytes(b))
    }
}

/// Whether `pk` is an X25519 public key HPKE accepts (32 bytes; the all-zero and other
/// low-order points are refused when a key is wrapped to them).
pub fn valid_public_key(pk: &[u8]) -> bool {
    pk.len() == 32 && <K as Kem>::PublicKey::from_bytes(pk).is_ok()
}

/// Wraps `key` to the X25519 public key `recipient` for `info` (fresh randomness each time).
#[cfg(feature = "seal")]
pub fn wrap(recipient: &[u8; 32], key: &ContentKey, info: &[u8]) -> Result<Vec<u8>, SealError> {
    let pk = <K as Kem>::PublicKey::from_bytes(recipient)
        .map_err(|e| SealError::Key(format!("recipient public key: {e}")))?;
    let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, K, _>(
        &hpke::OpModeS::Base,
        &pk,
        info,
        key.expose(),
        &[],
        &mut rand_core::OsRng,
    )
    .map_err(|e| SealError::Key(format!("wrapping to the recipient: {e}")))?;
    let mut out = enc.to_bytes().to_vec();
    out.extend_from_slice(&ct);
    debug_assert_eq!(out.len(), WRAPPED_LEN);
    Ok(out)
}

#[cfg(all(test, feature = "seal"))]
mod tests {
    use super::*;

    #[test]
    fn wraps_to_one_key_for_one_use() {
        let kek = SecretKey::generate();
        let other = SecretKey::generate();
        let ck = ContentKey::generate();
        let w = wrap(&kek.public_key(), &ck, b"build A").unwrap();
        assert_eq!(w.len(), WRAPPED_LEN);
        assert_eq!(kek.unwrap(&w, b"build A").unwrap().expose(), ck.expose());
        assert!(kek.unwrap(&w, b"build B").is_err());
        assert!(other.unwrap(&w, b"build A").is_err());
        let mut t = w.clone();
        t[40] ^= 1;
        assert!(kek.unwrap(&t, b"build A").is_err());
        assert!(kek.unwrap(&w[..79], b"build A").is_err());
        // Randomized: two wraps differ, both open.
        assert_ne!(w, wrap(&kek.public_key(), &ck, b"build A").unwrap());
        // The same seed is the same key.
        let again = SecretKey::from_seed(*kek.seed());
        assert_eq!(again.public_key(), kek.public_key());
        assert!(!format!("{kek:?}").contains(&canon::enc::b64(kek.seed())));
        assert!(wrap(&[0u8; 32], &ck, b"x").is_err() || !valid_public_key(&[0u8; 32]));
    }
}
