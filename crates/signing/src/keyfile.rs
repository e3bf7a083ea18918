//! Key files.
//!
//! `NAME.key` (mode 0600), canonical JSON and a newline:
//! `{"airlock_private_key":1,"created_at":T,"key_id":ID,"name":N,"role":R,"seed":B64(32)}`.
//! `NAME.pub`:
//! `{"airlock_public_key":1,"created_at":T,"key_id":ID,"name":N,"public_key":B64(32),"role":R}`.
//! `NAME.minisign.pub`: the minisign public key file, key number = key id.

use canon::minisign::{PublicKey as MinisignPublicKey, Signature as MinisignSignature};
use canon::{enc, json, pae, Envelope, KeyId, Kind, Role, Timestamp, Value};
use ed25519_dalek::{Signer, SigningKey};
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use zeroize::Zeroize;

const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Why a key could not be created, loaded or used.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing the file failed.
    Io(PathBuf, io::Error),
    /// The private key file is readable or writable by group or others.
    Permissions(PathBuf, u32),
    /// The file is not a valid key file.
    Format(PathBuf, String),
    /// The key's role does not allow signing this artifact.
    WrongRole {
        /// The key's role.
        have: Role,
        /// The role needed.
        need: Role,
    },
    /// The key name is not a safe file name.
    Name(String),
    /// A PKCS#11 token (an HSM) refused or failed.
    Hsm(String),
    /// A trusted comment contains a line break.
    Comment,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            KeyError::Permissions(p, m) => write!(
                f,
                "{}: secret (a private key or a credential) is accessible by group or others (mode {m:04o}); run `chmod 600 {}`",
                p.display(),
                p.display()
            ),
            KeyError::Format(p, m) => write!(f, "{}: not a valid key file: {m}", p.display()),
            KeyError::WrongRole { have, need } => {
                write!(f, "this is a {have} key; signing this artifact needs a {need} key")
            }
            KeyError::Name(n) => write!(
                f,
                "key name {n:?} must be 1-64 characters of A-Z a-z 0-9 . _ - and not start with '.'"
            ),
            KeyError::Comment => f.write_str("trusted comment must be a single line"),
            KeyError::Hsm(m) => write!(f, "PKCS#11: {m}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// Checks a key name (it becomes a file name).
pub fn check_name(name: &str) -> Result<(), KeyError> {
    if canon::sig::valid_key_name(name) {
        Ok(())
    } else {
        Err(KeyError::Name(name.to_string()))
    }
}

/// A private signing key with its metadata. `Debug` does not show the seed.
pub struct SecretKey {
    backend: Backend,
    key_id: KeyId,
    /// Human name (also the file stem).
    pub name: String,
    /// The one role this key signs for.
    pub role: Role,
    /// When the key was generated.
    pub created_at: Timestamp,
}

/// Where the private key is: in this process (a key file), or in a PKCS#11 token.
enum Backend {
    File(Box<SigningKey>),
    Token(std::sync::Arc<crate::pkcs11::HsmKey>),
}

impl Backend {
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], KeyError> {
        match self {
            Backend::File(k) => Ok(k.sign(message).to_bytes()),
            Backend::Token(k) => k.sign(message),
        }
    }

    fn public_key(&self) -> [u8; 32] {
        match self {
            Backend::File(k) => k.verifying_key().to_bytes(),
            Backend::Token(k) => k.public_key,
        }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("key_id", &self.key_id)
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A public key file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyFile {
    /// Raw Ed25519 public key.
    pub public_key: [u8; 32],
    /// Derived key id.
    pub key_id: KeyId,
    /// Human name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Generation time.
    pub created_at: Timestamp,
}

fn field<'a>(v: &'a Value, name: &str, path: &Path) -> Result<&'a str, KeyError> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| KeyError::Format(path.into(), format!("missing string field {name:?}")))
}

fn check_members(v: &Value, want: &[&str], path: &Path) -> Result<(), KeyError> {
    let Value::Object(m) = v else {
        return Err(KeyError::Format(path.into(), "not a JSON object".into()));
    };
    let have: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
    if have != want {
        return Err(KeyError::Format(
            path.into(),
            format!("members must be exactly {want:?}"),
        ));
    }
    Ok(())
}

fn read_capped(path: &Path) -> Result<Vec<u8>, KeyError> {
    match fsio::read_capped(path, MAX_KEY_FILE_BYTES) {
        Ok(Some(b)) => Ok(b),
        // Missing: the system's own words for it (the open fails again, as it did).
        Ok(None) => Err(KeyError::Io(
            path.into(),
            std::fs::File::open(path)
                .err()
                .unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)),
        )),
        Err(fsio::ReadError::Io(e)) => Err(KeyError::Io(path.into(), e)),
        Err(fsio::ReadError::TooLarge { .. }) => {
            Err(KeyError::Format(path.into(), "file too large".into()))
        }
    }
}

fn common(v: &Value, path: &Path) -> Result<(KeyId, String, Role, Timestamp), KeyError> {
    let bad = |m: String| KeyError::Format(path.into(), m);
    let key_id = KeyId::parse(field(v, "key_id", path)?).ok_or_else(|| bad("bad key_id".into()))?;
    let name = field(v, "name", path)?.to_string();
    check_name(&name)?;
    let role_s = field(v, "role", path)?;
    let role = Role::parse(role_s).ok_or_else(|| bad(format!("unknown role {role_s:?}")))?;
    let created = field(v, "created_at", path)?;
    let created_at =
        Timestamp::parse(created).ok_or_else(|| bad(format!("bad created_at {created:?}")))?;
    Ok((key_id, name, role, created_at))
}

fn version_is_one(v: &Value, name: &str) -> bool {
    matches!(v.get(name), Some(Value::Number(n)) if *n == 1.0)
}

/// Refuses a secret file (a private key, a service credential) that its group or others may
/// read or write: the one check every secret file passes before it is read.
pub fn check_secret_mode(path: &Path) -> Result<(), KeyError> {
    match fsio::shared_mode(path).map_err(|e| KeyError::Io(path.into(), e))? {
        Some(mode) => Err(KeyError::Permissions(path.into(), mode)),
        None => Ok(()),
    }
}

/// The shortest credential accepted (an admin API's bearer secret).
pub const MIN_CREDENTIAL_CHARS: usize = 32;

/// Reads a credential file (an admin API's bearer secret): refused when its group or others
/// may read it, or shorter than [`MIN_CREDENTIAL_CHARS`] once trimmed; returns its SHA-256, the
/// only form a service keeps (compared with `canon::enc::same_secret`).
pub fn read_credential(path: &Path) -> Result<[u8; 32], KeyError> {
    check_secret_mode(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| KeyError::Io(path.into(), e))?;
    let t = text.trim();
    if t.len() < MIN_CREDENTIAL_CHARS {
        return Err(KeyError::Io(
            path.into(),
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the credential must be at least {MIN_CREDENTIAL_CHARS} characters"),
            ),
        ));
    }
    Ok(canon::enc::sha256(t.as_bytes()))
}

impl SecretKey {
    /// Generates a new key from the operating system's random number generator.
    pub fn generate(name: &str, role: Role, created_at: Timestamp) -> Result<SecretKey, KeyError> {
        check_name(name)?;
        let signing = SigningKey::generate(&mut rand_core::OsRng);
        Ok(Self::from_signing(
            signing,
            name.to_string(),
            role,
            created_at,
        ))
    }

    fn from_signing(
        signing: SigningKey,
        name: String,
        role: Role,
        created_at: Timestamp,
    ) -> SecretKey {
        let key_id = KeyId::of(signing.verifying_key().as_bytes());
        SecretKey {
            backend: Backend::File(Box::new(signing)),
            key_id,
            name,
            role,
            created_at,
        }
    }

    /// Builds a key from a 32-byte seed (tests and fixtures).
    pub fn from_seed(
        seed: &[u8; 32],
        name: &str,
        role: Role,
        created_at: Timestamp,
    ) -> Result<SecretKey, KeyError> {
        check_name(name)?;
        Ok(Self::from_signing(
            SigningKey::from_bytes(seed),
            name.into(),
            role,
            created_at,
        ))
    }

    /// The derived key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.backend.public_key()
    }

    /// Whether the private key stays in a PKCS#11 token (there is no key file to write).
    pub fn in_token(&self) -> bool {
        matches!(self.backend, Backend::Token(_))
    }

    /// A key in a PKCS#11 token.
    pub fn from_token(key: crate::pkcs11::HsmKey) -> SecretKey {
        SecretKey {
            key_id: key.key_id(),
            name: key.name.clone(),
            role: key.role,
            created_at: key.created_at,
            backend: Backend::Token(std::sync::Arc::new(key)),
        }
    }

    /// Loads a private key: a key file (refused when group or others may read it; the public
    /// key is derived from the seed and checked against the stored key id), or a key in a
    /// PKCS#11 token when `path` is a `pkcs11:` URI ([`crate::pkcs11`]).
    pub fn load(path: &Path) -> Result<SecretKey, KeyError> {
        if let Some(uri) = path.to_str().filter(|p| crate::pkcs11::is_uri(p)) {
            let uri = crate::pkcs11::Uri::parse(uri)?;
            return crate::pkcs11::HsmKey::open(&uri).map(SecretKey::from_token);
        }
        check_secret_mode(path)?;
        let mut bytes = read_capped(path)?;
        let parsed = json::parse(&bytes);
        bytes.zeroize();
        let v = parsed.map_err(|e| KeyError::Format(path.into(), e.to_string()))?;
        check_members(
            &v,
            &[
                "airlock_private_key",
                "created_at",
                "key_id",
                "name",
                "role",
                "seed",
            ],
            path,
        )?;
        if !version_is_one(&v, "airlock_private_key") {
            return Err(KeyError::Format(
                path.into(),
                "airlock_private_key must be 1".into(),
            ));
        }
        let (key_id, name, role, created_at) = common(&v, path)?;
        let mut seed = enc::unb64_exact::<32>(field(&v, "seed", path)?).ok_or_else(|| {
            KeyError::Format(path.into(), "seed is not base64 of 32 bytes".into())
        })?;
        let key = Self::from_signing(SigningKey::from_bytes(&seed), name, role, created_at);
        seed.zeroize();
        drop(v);
        if key.key_id != key_id {
            return Err(KeyError::Format(
                path.into(),
                format!(
                    "key_id {key_id} does not match the key derived from the seed ({})",
                    key.key_id
                ),
            ));
        }
        Ok(key)
    }

    /// The private key file's bytes (write them with mode 0600); `None` for a key in a token.
    pub fn to_file_bytes(&self) -> Option<Vec<u8>> {
        let Backend::File(signing) = &self.backend else {
            return None;
        };
        let mut seed = enc::b64(signing.as_bytes());
        let v = Value::object(vec![
            ("airlock_private_key".into(), Value::Number(1.0)),
            (
                "created_at".into(),
                Value::String(self.created_at.to_string()),
            ),
            ("key_id".into(), Value::String(self.key_id.to_string())),
            ("name".into(), Value::String(self.name.clone())),
            ("role".into(), Value::String(self.role.as_str().into())),
            ("seed".into(), Value::String(seed.clone())),
        ])
        .expect("distinct member names");
        seed.zeroize();
        let mut out = v.to_canonical();
        out.push(b'\n');
        Some(out)
    }

    /// The public key file's content.
    pub fn public_file(&self) -> PublicKeyFile {
        PublicKeyFile {
            public_key: self.public_key(),
            key_id: self.key_id,
            name: self.name.clone(),
            role: self.role,
            created_at: self.created_at,
        }
    }

    /// The minisign public key file (key number = key id).
    pub fn minisign_public_file(&self) -> String {
        MinisignPublicKey {
            keynum: self.key_id.0,
            key: self.public_key(),
        }
        .to_file()
    }

    fn require(&self, need: Role) -> Result<(), KeyError> {
        if self.role == need {
            Ok(())
        } else {
            Err(KeyError::WrongRole {
                have: self.role,
                need,
            })
        }
    }

    /// Signs the canonical bytes of an artifact of `kind`: `Ed25519(PAE(type, canonical))`.
    pub fn sign_document(&self, kind: Kind, canonical: &[u8]) -> Result<Envelope, KeyError> {
        self.require(kind.signer_role())?;
        let sig = self.backend.sign(&pae(kind.payload_type(), canonical))?;
        Ok(Envelope {
            key_id: self.key_id,
            kind,
            sig,
        })
    }

    /// Signs the raw bytes of a legacy (schema v2) license: no PAE. Used only by tests and
    /// fixture generation; v2 licenses are never issued.
    pub fn sign_legacy_v2(&self, canonical: &[u8]) -> Result<[u8; 64], KeyError> {
        self.require(Role::License)?;
        self.backend.sign(canonical)
    }

    /// Signs a file with minisign's prehashed algorithm, reading it once.
    pub fn sign_minisign(
        &self,
        data: impl Read,
        trusted_comment: &str,
    ) -> Result<String, KeyError> {
        let mut data = data;
        let mut h = canon::minisign::Prehash::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = data
                .read(&mut buf)
                .map_err(|e| KeyError::Io(PathBuf::from("<input>"), e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        self.sign_minisign_digest(&h.finalize(), trusted_comment)
    }

    /// Signs a BLAKE2b-512 digest computed by the caller (streaming writers).
    pub fn sign_minisign_digest(
        &self,
        digest: &[u8; 64],
        trusted_comment: &str,
    ) -> Result<String, KeyError> {
        self.require(Role::Release)?;
        if trusted_comment.contains(['\n', '\r']) {
            return Err(KeyError::Comment);
        }
        let signature = self.backend.sign(digest)?;
        let global = self.backend.sign(&MinisignSignature::global_message(
            &signature,
            trusted_comment,
        ))?;
        Ok(MinisignSignature {
            keynum: self.key_id.0,
            signature,
            trusted_comment: trusted_comment.to_string(),
            global_signature: global,
            untrusted_comment: format!("signature from airlock key {}", self.key_id),
        }
        .to_file())
    }
}

impl PublicKeyFile {
    /// Parses a `.pub` file. The key bytes are not validated as a curve point here; the
    /// verifier (runtime) does that when the key is put into a trust store.
    pub fn load(path: &Path) -> Result<PublicKeyFile, KeyError> {
        let bytes = read_capped(path)?;
        Self::parse(&bytes, path)
    }

    /// Parses `.pub` file bytes (`path` is only used in messages).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<PublicKeyFile, KeyError> {
        let v = json::parse(bytes).map_err(|e| KeyError::Format(path.into(), e.to_string()))?;
        check_members(
            &v,
            &[
                "airlock_public_key",
                "created_at",
                "key_id",
                "name",
                "public_key",
                "role",
            ],
            path,
        )?;
        if !version_is_one(&v, "airlock_public_key") {
            return Err(KeyError::Format(
                path.into(),
                "airlock_public_key must be 1".into(),
            ));
        }
        let (key_id, name, role, created_at) = common(&v, path)?;
        let public_key =
            enc::unb64_exact::<32>(field(&v, "public_key", path)?).ok_or_else(|| {
                KeyError::Format(path.into(), "public_key is not base64 of 32 bytes".into())
            })?;
        if KeyId::of(&public_key) != key_id {
            return Err(KeyError::Format(
                path.into(),
                format!(
                    "key_id {key_id} is not the id derived from the public key ({})",
                    KeyId::of(&public_key)
                ),
            ));
        }
        Ok(PublicKeyFile {
            public_key,
            key_id,
            name,
            role,
            created_at,
        })
    }

    /// The file's bytes.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let v = Value::object(vec![
            ("airlock_public_key".into(), Value::Number(1.0)),
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
        .expect("distinct member names");
        let mut out = v.to_canonical();
        out.push(b'\n');
        out
    }
}

/// Writes `NAME.key` (0600), `NAME.pub` and `NAME.minisign.pub` into `dir` (for a key in a
/// PKCS#11 token, the two public files only: the private key stays in the token), never
/// replacing existing files. Returns the paths written, the key file first.
pub fn write_key_files(key: &SecretKey, dir: &Path) -> Result<Vec<PathBuf>, KeyError> {
    std::fs::create_dir_all(dir).map_err(|e| KeyError::Io(dir.into(), e))?;
    let mut contents = Vec::new();
    if let Some(secret) = key.to_file_bytes() {
        contents.push((dir.join(format!("{}.key", key.name)), secret, 0o600));
    }
    contents.push((
        dir.join(format!("{}.pub", key.name)),
        key.public_file().to_file_bytes(),
        0o644,
    ));
    contents.push((
        dir.join(format!("{}.minisign.pub", key.name)),
        key.minisign_public_file().into_bytes(),
        0o644,
    ));
    for (p, _, _) in &contents {
        if p.exists() {
            return Err(KeyError::Io(
                p.clone(),
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "already exists; refusing to overwrite a key",
                ),
            ));
        }
    }
    for (p, bytes, mode) in &contents {
        crate::fsutil::write_atomic(p, bytes, *mode, false)
            .map_err(|e| KeyError::Io(p.clone(), e))?;
    }
    Ok(contents.into_iter().map(|(p, _, _)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Timestamp {
        Timestamp::parse("2026-01-01T00:00:00Z").unwrap()
    }

    #[test]
    fn key_files_round_trip_and_debug_hides_seed() {
        let d = tempfile::tempdir().unwrap();
        let k = SecretKey::generate("lic", Role::License, t()).unwrap();
        let [kp, pp, mp]: [PathBuf; 3] = write_key_files(&k, d.path()).unwrap().try_into().unwrap();
        let back = SecretKey::load(&kp).unwrap();
        assert_eq!(back.key_id(), k.key_id());
        assert_eq!(back.role, Role::License);
        let pubf = PublicKeyFile::load(&pp).unwrap();
        assert_eq!(pubf.public_key, k.public_key());
        let m = std::fs::read_to_string(mp).unwrap();
        assert!(m.starts_with("untrusted comment: minisign public key "));
        let dbg = format!("{back:?}");
        let Backend::File(signing) = &back.backend else {
            panic!("a key file")
        };
        let seed_b64 = enc::b64(signing.as_bytes());
        assert!(!dbg.contains(&seed_b64));
        assert!(write_key_files(&k, d.path()).is_err(), "never overwrites");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_loose_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let k = SecretKey::generate("lic", Role::License, t()).unwrap();
        let kp = write_key_files(&k, d.path()).unwrap().remove(0);
        for mode in [0o640, 0o604, 0o644, 0o660] {
            std::fs::set_permissions(&kp, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = SecretKey::load(&kp).unwrap_err();
            assert!(matches!(e, KeyError::Permissions(_, m) if m == mode), "{e}");
            assert!(e.to_string().contains("chmod 600"));
        }
        std::fs::set_permissions(&kp, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(SecretKey::load(&kp).is_ok());
    }

    #[test]
    fn refuses_tampered_key_id_and_wrong_role() {
        let d = tempfile::tempdir().unwrap();
        let k = SecretKey::generate("rel", Role::Release, t()).unwrap();
        let [kp, pp, _]: [PathBuf; 3] = write_key_files(&k, d.path()).unwrap().try_into().unwrap();
        let text = std::fs::read_to_string(&kp).unwrap();
        let other = KeyId([0xab; 8]).to_string();
        let tampered = text.replace(&k.key_id().to_string(), &other);
        crate::fsutil::write_atomic(&kp, tampered.as_bytes(), 0o600, true).unwrap();
        assert!(
            matches!(SecretKey::load(&kp), Err(KeyError::Format(_, m)) if m.contains("does not match"))
        );
        let ptext = std::fs::read_to_string(&pp)
            .unwrap()
            .replace(&k.key_id().to_string(), &other);
        assert!(PublicKeyFile::parse(ptext.as_bytes(), &pp).is_err());
        assert!(matches!(
            k.sign_document(Kind::License, b"{}"),
            Err(KeyError::WrongRole { .. })
        ));
        assert!(k.sign_document(Kind::BundleManifest, b"{}").is_ok());
        assert!(matches!(
            k.sign_minisign(&b""[..], "a\nb"),
            Err(KeyError::Comment)
        ));
    }

    #[test]
    fn names_are_safe_file_names() {
        for bad in ["", ".hidden", "a/b", "..", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("dev-root_1.v2").is_ok());
    }
}
