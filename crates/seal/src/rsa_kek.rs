//! A key-encryption key kept in a PKCS#11 token (docs/FORMAT.md §19): an RSA key (3072 bits),
//! because tokens decrypt RSA-OAEP where few know X25519. The packager wraps a content key to
//! its public half with RSA-OAEP (RFC 8017) over the 64 bytes `SHA-256(info) ‖ key`; the token
//! decrypts; [`opened`] checks the context hash, so a wrapped key moved to another build does
//! not open. The private key never leaves the token.
//!
//! OAEP's hash and mask function are SHA-1 and MGF1-SHA-1 (empty label), the parameters every
//! token implements (SoftHSM2 2.6 and many HSMs refuse others): OAEP's security rests on the
//! hash as a random oracle, not on its collision resistance, so SHA-1's collisions do not
//! weaken it.

use crate::{ContentKey, SealError};
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::{BigUint, Oaep, RsaPublicKey};
use sha2::{Digest, Sha256};

/// Smallest and largest modulus accepted, in bits.
pub const MODULUS_BITS: (usize, usize) = (3072, 4096);

/// The SubjectPublicKeyInfo DER of the RSA public key (`n`, `e` big-endian): what key files
/// carry and key ids are computed over.
pub fn spki(n: &[u8], e: &[u8]) -> Result<Vec<u8>, SealError> {
    let key = RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
        .map_err(|e| SealError::Key(format!("RSA public key: {e}")))?;
    check_size(&key)?;
    Ok(key
        .to_public_key_der()
        .map_err(|e| SealError::Key(format!("RSA public key: {e}")))?
        .as_bytes()
        .to_vec())
}

fn check_size(key: &RsaPublicKey) -> Result<(), SealError> {
    use rsa::traits::PublicKeyParts;
    let bits = key.n().bits();
    if bits < MODULUS_BITS.0 || bits > MODULUS_BITS.1 {
        return Err(SealError::Key(format!(
            "an RSA key-encryption key has {}-{} bits, this one {bits}",
            MODULUS_BITS.0, MODULUS_BITS.1
        )));
    }
    Ok(())
}

/// Parses a SubjectPublicKeyInfo DER RSA public key (size checked).
pub fn public_key(spki_der: &[u8]) -> Result<RsaPublicKey, SealError> {
    let key = RsaPublicKey::from_public_key_der(spki_der)
        .map_err(|e| SealError::Key(format!("RSA public key: {e}")))?;
    check_size(&key)?;
    Ok(key)
}

fn plaintext(key: &ContentKey, info: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    let mut p = zeroize::Zeroizing::new(Sha256::digest(info).to_vec());
    p.extend_from_slice(key.expose());
    p
}

/// Wraps `key` for `info` to the RSA public key (fresh randomness each time).
pub fn wrap(spki_der: &[u8], key: &ContentKey, info: &[u8]) -> Result<Vec<u8>, SealError> {
    let pk = public_key(spki_der)?;
    pk.encrypt(
        &mut rand_core::OsRng,
        Oaep::new::<sha1::Sha1>(),
        &plaintext(key, info),
    )
    .map_err(|e| SealError::Key(format!("RSA-OAEP: {e}")))
}

/// The content key in what the token decrypted, for `info` (the context hash must match).
pub fn opened(decrypted: &[u8], info: &[u8]) -> Result<ContentKey, SealError> {
    if decrypted.len() != 64 || !canon::enc::same_secret(&decrypted[..32], &Sha256::digest(info)) {
        return Err(SealError::Unwrap(
            "the token decrypted a key wrapped for another build".into(),
        ));
    }
    let mut k = [0u8; 32];
    k.copy_from_slice(&decrypted[32..]);
    Ok(ContentKey::from_bytes(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::traits::PublicKeyParts;

    #[test]
    fn wraps_and_opens_with_the_private_half_for_one_build() {
        let sk = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 3072).unwrap();
        let pk = sk.to_public_key();
        let der = spki(&pk.n().to_bytes_be(), &pk.e().to_bytes_be()).unwrap();
        let ck = ContentKey::generate();
        let w = wrap(&der, &ck, b"build A").unwrap();
        assert_eq!(w.len(), 384);
        let dec = sk.decrypt(Oaep::new::<sha1::Sha1>(), &w).unwrap();
        assert_eq!(opened(&dec, b"build A").unwrap().expose(), ck.expose());
        assert!(opened(&dec, b"build B").is_err());
        let small = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 1024).unwrap();
        let p = small.to_public_key();
        assert!(spki(&p.n().to_bytes_be(), &p.e().to_bytes_be()).is_err());
    }
}
