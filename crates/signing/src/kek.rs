//! The vendor's key-encryption key (docs/FORMAT.md §19), one type for every side that opens
//! builds' content keys: `factory build register` and `activation fulfill --kek`, the
//! activation service's `--kek`, and `packager bundle --reuse-key --kek-secret`.

use seal::keyfile::{EncRole, EncryptionKey};
use seal::ContentKey;

/// The vendor's key-encryption key: an X25519 key file, or an RSA key in a PKCS#11 token
/// (`factory keygen --role kek [--pkcs11 URI]`). It opens builds' content keys (to check them
/// when registered, and to re-wrap them to machines); the token's never leaves it.
#[derive(Debug)]
pub enum Kek {
    /// A key file.
    File(EncryptionKey),
    /// A key in a token, and its SubjectPublicKeyInfo DER.
    Token(crate::pkcs11::HsmKek, Vec<u8>),
}

impl Kek {
    /// The key at `location`: a `pkcs11:` URI naming a token key, or a key file's path.
    pub fn load(location: &str) -> anyhow::Result<Kek> {
        if crate::pkcs11::is_uri(location) {
            let uri = crate::pkcs11::Uri::parse(location)?;
            let k = crate::pkcs11::HsmKek::open(&uri)?;
            let spki = seal::rsa_kek::spki(&k.modulus, &k.exponent)?;
            return Ok(Kek::Token(k, spki));
        }
        Ok(Kek::File(EncryptionKey::load(
            std::path::Path::new(location),
            EncRole::Kek,
        )?))
    }

    /// Its key id (what build records name).
    pub fn key_id(&self) -> canon::KeyId {
        match self {
            Kek::File(k) => k.key_id,
            Kek::Token(_, spki) => seal::keyfile::rsa_key_id(spki),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            Kek::File(k) => &k.name,
            Kek::Token(k, _) => &k.name,
        }
    }

    /// The content key `wrapped` to this key for `info` (HPKE for a file, RSA-OAEP in the
    /// token).
    pub fn unwrap(&self, wrapped: &[u8], info: &[u8]) -> anyhow::Result<ContentKey> {
        match self {
            Kek::File(k) => Ok(k.key.unwrap(wrapped, info)?),
            Kek::Token(k, _) => Ok(seal::rsa_kek::opened(&k.decrypt(wrapped)?, info)?),
        }
    }
}
