//! X25519 key files (docs/FORMAT.md §2): the vendor's key-encryption key (role `kek`) and a
//! machine's encryption key (role `machine`, beside its instance key). Canonical JSON and a
//! newline, like signing key files, but with their own version members so that a signing-key
//! loader never takes one and this loader never takes a signing key:
//!
//! ```text
//! NAME.key (0600): {"airlock_encryption_key":1,"created_at":T,"key_id":ID,"name":NAME,"role":ROLE,"seed":B64(32)}
//! NAME.pub:        {"airlock_encryption_public_key":1,"created_at":T,"key_id":ID,"name":NAME,"public_key":B64(32),"role":ROLE}
//! ```
//! The key id is the usual one (first 8 bytes of SHA-256 of the public key); loaders derive the
//! public key from the seed (RFC 9180 DeriveKeyPair) and refuse a file whose id differs.

use crate::wrap::{valid_public_key, SecretKey};
use crate::SealError;
use canon::{enc, KeyId, Timestamp, Value};
use std::path::Path;

/// The largest key file read.
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// What an encryption key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncRole {
    /// The vendor's key-encryption key: content keys are wrapped to it when a build is made.
    Kek,
    /// A customer machine's own key: the vendor wraps content keys to it in a lease.
    Machine,
}

impl EncRole {
    /// The role's name in key files.
    pub fn as_str(self) -> &'static str {
        match self {
            EncRole::Kek => "kek",
            EncRole::Machine => "machine",
        }
    }

    fn parse(s: &str) -> Option<EncRole> {
        match s {
            "kek" => Some(EncRole::Kek),
            "machine" => Some(EncRole::Machine),
            _ => None,
        }
    }
}

/// A loaded secret encryption key with its file's facts.
#[derive(Debug)]
pub struct EncryptionKey {
    /// The key.
    pub key: SecretKey,
    /// Its id.
    pub key_id: KeyId,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: EncRole,
    /// When it was made.
    pub created_at: Timestamp,
}

/// A public encryption key file's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicEncryptionKey {
    /// The public key.
    pub public_key: [u8; 32],
    /// Its id.
    pub key_id: KeyId,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: EncRole,
    /// When it was made.
    pub created_at: Timestamp,
}

fn bad(path: &Path, m: impl Into<String>) -> SealError {
    SealError::Key(format!("{}: {}", path.display(), m.into()))
}

fn read(path: &Path) -> Result<Value, SealError> {
    let bytes = match fsio::read_capped(path, MAX_KEY_FILE_BYTES) {
        Ok(Some(b)) => b,
        Ok(None) => return Err(bad(path, "no such file")),
        Err(fsio::ReadError::Io(e)) => return Err(bad(path, e.to_string())),
        Err(fsio::ReadError::TooLarge { .. }) => return Err(bad(path, "file too large")),
    };
    canon::parse(&bytes).map_err(|e| bad(path, format!("not canonical JSON: {e}")))
}

fn members(v: &Value, want: &[&str], path: &Path) -> Result<(), SealError> {
    let Value::Object(m) = v else {
        return Err(bad(path, "not a JSON object"));
    };
    let have: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
    if have != want {
        return Err(bad(
            path,
            format!("members must be exactly {want:?} (is this an encryption key file?)"),
        ));
    }
    Ok(())
}

fn text<'a>(v: &'a Value, name: &str, path: &Path) -> Result<&'a str, SealError> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(path, format!("{name} must be a string")))
}

type Common = (KeyId, String, EncRole, Timestamp);

fn common(v: &Value, version: &str, path: &Path) -> Result<Common, SealError> {
    if !matches!(v.get(version), Some(Value::Number(n)) if *n == 1.0) {
        return Err(bad(path, format!("{version} must be 1")));
    }
    let key_id = KeyId::parse(text(v, "key_id", path)?).ok_or_else(|| bad(path, "bad key_id"))?;
    let name = text(v, "name", path)?.to_string();
    if !canon::sig::valid_key_name(&name) {
        return Err(bad(path, format!("name {name:?} is not a key name")));
    }
    let role_s = text(v, "role", path)?;
    let role = EncRole::parse(role_s).ok_or_else(|| {
        bad(
            path,
            format!("role {role_s:?} is not an encryption key role (kek, machine)"),
        )
    })?;
    let created_s = text(v, "created_at", path)?;
    let created_at = Timestamp::parse(created_s)
        .ok_or_else(|| bad(path, format!("bad created_at {created_s:?}")))?;
    Ok((key_id, name, role, created_at))
}

/// Refuses a secret key file its group or others may read or write.
fn check_mode(path: &Path) -> Result<(), SealError> {
    match fsio::shared_mode(path) {
        Err(e) => Err(bad(path, e.to_string())),
        Ok(Some(mode)) => Err(bad(
            path,
            format!("mode {mode:o}: a secret key must be readable by its owner only (chmod 600)"),
        )),
        Ok(None) => Ok(()),
    }
}

impl EncryptionKey {
    /// Loads a secret encryption key file (mode checked, id checked), expecting `role`.
    pub fn load(path: &Path, role: EncRole) -> Result<EncryptionKey, SealError> {
        check_mode(path)?;
        let v = read(path)?;
        members(
            &v,
            &[
                "airlock_encryption_key",
                "created_at",
                "key_id",
                "name",
                "role",
                "seed",
            ],
            path,
        )?;
        let (key_id, name, got, created_at) = common(&v, "airlock_encryption_key", path)?;
        if got != role {
            return Err(bad(
                path,
                format!(
                    "a {} key, where a {} key is needed",
                    got.as_str(),
                    role.as_str()
                ),
            ));
        }
        let seed = enc::unb64_exact::<32>(text(&v, "seed", path)?)
            .ok_or_else(|| bad(path, "seed is not base64 of 32 bytes"))?;
        let key = SecretKey::from_seed(seed);
        if KeyId::of(&key.public_key()) != key_id {
            return Err(bad(path, "key_id does not match the key"));
        }
        Ok(EncryptionKey {
            key,
            key_id,
            name,
            role,
            created_at,
        })
    }

    /// A new key.
    #[cfg(feature = "seal")]
    pub fn generate(
        name: &str,
        role: EncRole,
        created_at: Timestamp,
    ) -> Result<EncryptionKey, SealError> {
        if !canon::sig::valid_key_name(name) {
            return Err(SealError::Key(format!("name {name:?} is not a key name")));
        }
        let key = SecretKey::generate();
        Ok(EncryptionKey {
            key_id: KeyId::of(&key.public_key()),
            key,
            name: name.to_string(),
            role,
            created_at,
        })
    }

    /// The secret file's bytes (write them with mode 0600).
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let v = Value::object(vec![
            ("airlock_encryption_key".into(), Value::Number(1.0)),
            (
                "created_at".into(),
                Value::String(self.created_at.to_string()),
            ),
            ("key_id".into(), Value::String(self.key_id.to_string())),
            ("name".into(), Value::String(self.name.clone())),
            ("role".into(), Value::String(self.role.as_str().into())),
            ("seed".into(), Value::String(enc::b64(self.key.seed()))),
        ])
        .expect("distinct members");
        let mut b = v.to_canonical();
        b.push(b'\n');
        b
    }

    /// The public half.
    pub fn public(&self) -> PublicEncryptionKey {
        PublicEncryptionKey {
            public_key: self.key.public_key(),
            key_id: self.key_id,
            name: self.name.clone(),
            role: self.role,
            created_at: self.created_at,
        }
    }
}

/// The public half of a key-encryption key: X25519 (a key file) or RSA (a key in a PKCS#11
/// token, [`crate::rsa_kek`]). What the packager wraps a build's content key to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekPublic {
    /// An X25519 key (HPKE).
    X25519(PublicEncryptionKey),
    /// An RSA key (RSA-OAEP), its SubjectPublicKeyInfo DER.
    Rsa {
        /// SubjectPublicKeyInfo DER.
        spki: Vec<u8>,
        /// First 8 bytes of SHA-256 of `spki`.
        key_id: KeyId,
        /// Its name (the token label).
        name: String,
        /// When it was made.
        created_at: Timestamp,
    },
}

/// The id of an RSA key-encryption key: the first 8 bytes of SHA-256 of its SPKI DER.
pub fn rsa_key_id(spki: &[u8]) -> KeyId {
    let d = canon::enc::sha256(spki);
    let mut id = [0u8; 8];
    id.copy_from_slice(&d[..8]);
    KeyId(id)
}

/// The public file of an RSA key-encryption key (`factory keygen --role kek --pkcs11`).
pub fn rsa_public_file(spki: &[u8], name: &str, created_at: Timestamp) -> Vec<u8> {
    let v = Value::object(vec![
        ("airlock_encryption_public_key".into(), Value::Number(1.0)),
        ("algorithm".into(), Value::String(RSA_ALGORITHM.into())),
        ("created_at".into(), Value::String(created_at.to_string())),
        ("key_id".into(), Value::String(rsa_key_id(spki).to_string())),
        ("name".into(), Value::String(name.into())),
        ("public_key".into(), Value::String(enc::b64(spki))),
        ("role".into(), Value::String(EncRole::Kek.as_str().into())),
    ])
    .expect("distinct members");
    let mut b = v.to_canonical();
    b.push(b'\n');
    b
}

/// The `algorithm` member of an RSA key-encryption key's public file.
pub const RSA_ALGORITHM: &str = "rsa-oaep-sha1";

impl KekPublic {
    /// Loads a key-encryption key's public file (either kind).
    pub fn load(path: &Path) -> Result<KekPublic, SealError> {
        let v = read(path)?;
        if v.get("algorithm").is_none() {
            return PublicEncryptionKey::load(path, EncRole::Kek).map(KekPublic::X25519);
        }
        members(
            &v,
            &[
                "airlock_encryption_public_key",
                "algorithm",
                "created_at",
                "key_id",
                "name",
                "public_key",
                "role",
            ],
            path,
        )?;
        if text(&v, "algorithm", path)? != RSA_ALGORITHM {
            return Err(bad(path, format!("algorithm must be {RSA_ALGORITHM:?}")));
        }
        let (key_id, name, role, created_at) = common(&v, "airlock_encryption_public_key", path)?;
        if role != EncRole::Kek {
            return Err(bad(path, "an RSA encryption key is a kek"));
        }
        let spki = enc::unb64(text(&v, "public_key", path)?)
            .ok_or_else(|| bad(path, "public_key is not base64"))?;
        if rsa_key_id(&spki) != key_id {
            return Err(bad(path, "key_id does not match the key"));
        }
        #[cfg(feature = "seal")]
        crate::rsa_kek::public_key(&spki).map_err(|e| bad(path, e.to_string()))?;
        Ok(KekPublic::Rsa {
            spki,
            key_id,
            name,
            created_at,
        })
    }

    /// Its key id.
    pub fn key_id(&self) -> KeyId {
        match self {
            KekPublic::X25519(k) => k.key_id,
            KekPublic::Rsa { key_id, .. } => *key_id,
        }
    }

    /// Wraps `key` for `info` to this key.
    #[cfg(feature = "seal")]
    pub fn wrap(&self, key: &crate::ContentKey, info: &[u8]) -> Result<Vec<u8>, SealError> {
        match self {
            KekPublic::X25519(k) => crate::wrap::wrap(&k.public_key, key, info),
            KekPublic::Rsa { spki, .. } => crate::rsa_kek::wrap(spki, key, info),
        }
    }
}

impl PublicEncryptionKey {
    /// Loads a public encryption key file, expecting `role`.
    pub fn load(path: &Path, role: EncRole) -> Result<PublicEncryptionKey, SealError> {
        let v = read(path)?;
        members(
            &v,
            &[
                "airlock_encryption_public_key",
                "created_at",
                "key_id",
                "name",
                "public_key",
                "role",
            ],
            path,
        )?;
        let (key_id, name, got, created_at) = common(&v, "airlock_encryption_public_key", path)?;
        if got != role {
            return Err(bad(
                path,
                format!(
                    "a {} key, where a {} key is needed",
                    got.as_str(),
                    role.as_str()
                ),
            ));
        }
        let public_key = enc::unb64_exact::<32>(text(&v, "public_key", path)?)
            .filter(|k| valid_public_key(k))
            .ok_or_else(|| bad(path, "public_key is not an X25519 public key"))?;
        if KeyId::of(&public_key) != key_id {
            return Err(bad(path, "key_id does not match the key"));
        }
        Ok(PublicEncryptionKey {
            public_key,
            key_id,
            name,
            role,
            created_at,
        })
    }

    /// The public file's bytes.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let v = Value::object(vec![
            ("airlock_encryption_public_key".into(), Value::Number(1.0)),
            (
                "created_at".into(),
                Value::String(self.created_at.to_string()),
            ),
            ("key_id".into(), Value::String(self.key_id.to_string())),
            ("name".into(), Value::String(self.name.clone())),
            (
                "public_key".into(),
                Value::String(enc::b64(&self.public_key)),
            ),
            ("role".into(), Value::String(self.role.as_str().into())),
        ])
        .expect("distinct members");
        let mut b = v.to_canonical();
        b.push(b'\n');
        b
    }
}

#[cfg(all(test, feature = "seal"))]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_refuse_the_wrong_role_mode_and_id() {
        let d = tempfile::tempdir().unwrap();
        let k = EncryptionKey::generate("kek-1", EncRole::Kek, Timestamp(1_800_000_000)).unwrap();
        let sp = d.path().join("kek-1.key");
        let pp = d.path().join("kek-1.pub");
        fsio::write_atomic(&sp, &k.to_file_bytes(), 0o600, false).unwrap();
        fsio::write_atomic(&pp, &k.public().to_file_bytes(), 0o644, false).unwrap();
        let back = EncryptionKey::load(&sp, EncRole::Kek).unwrap();
        assert_eq!(back.key.public_key(), k.key.public_key());
        assert_eq!(
            PublicEncryptionKey::load(&pp, EncRole::Kek).unwrap(),
            k.public()
        );
        assert!(EncryptionKey::load(&sp, EncRole::Machine).is_err());
        assert!(PublicEncryptionKey::load(&pp, EncRole::Machine).is_err());
        assert!(EncryptionKey::load(&pp, EncRole::Kek).is_err());
        let loose = d.path().join("loose.key");
        fsio::write_atomic(&loose, &k.to_file_bytes(), 0o644, false).unwrap();
        assert!(EncryptionKey::load(&loose, EncRole::Kek)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
        let other =
            EncryptionKey::generate("kek-1", EncRole::Kek, Timestamp(1_800_000_000)).unwrap();
        let text = String::from_utf8(k.to_file_bytes())
            .unwrap()
            .replace(&other.key_id.to_string(), "x");
        let swapped = text.replace(&k.key_id.to_string(), &other.key_id.to_string());
        let sw = d.path().join("sw.key");
        fsio::write_atomic(&sw, swapped.as_bytes(), 0o600, false).unwrap();
        assert!(EncryptionKey::load(&sw, EncRole::Kek)
            .unwrap_err()
            .to_string()
            .contains("key_id"));
    }
}
