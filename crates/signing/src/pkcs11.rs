//! Signing keys held in a PKCS#11 token (an HSM, or SoftHSM2 in tests): Ed25519 keys made
//! inside the token (`CKM_EC_EDWARDS_KEY_PAIR_GEN`, sensitive and never extractable) and used
//! through `CKM_EDDSA` (pure Ed25519, the same signatures as a key file's). The private key never
//! leaves the token; Airlock reads the public key and the key's Airlock facts from it.
//!
//! A key is named by an RFC 7512 URI, e.g.
//! `pkcs11:token=airlock;object=license-2026?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/airlock/pin`.
//! Path attributes: `token` (the token label, required), `object` (the key's label, required
//! to sign, a key's name to create). Query attributes: `module-path` (default
//! `$AIRLOCK_PKCS11_MODULE`), `pin-value` or `pin-source=file:PATH` (default
//! `$AIRLOCK_PKCS11_PIN`). Values are percent-decoded.
//!
//! The key's Airlock facts (role and creation time) are its `CKA_ID`, the ASCII text
//! `airlock:<role>:<unix seconds>`, written when `factory keygen --pkcs11` made it.

use crate::keyfile::KeyError;
use canon::{KeyId, Role, Timestamp};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use std::sync::Mutex;

/// The DER PrintableString "edwards25519": the curve of an Ed25519 key (`CKA_EC_PARAMS`).
const ED25519_PARAMS: [u8; 14] = [
    0x13, 0x0c, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9',
];

/// The largest PIN file read.
const MAX_PIN_BYTES: u64 = 4096;

/// Whether `location` names a PKCS#11 key rather than a key file.
pub fn is_uri(location: &str) -> bool {
    location.starts_with("pkcs11:")
}

/// A parsed `pkcs11:` URI.
#[derive(Clone, PartialEq, Eq)]
pub struct Uri {
    /// The token's label.
    pub token: String,
    /// The object's label (the key's name).
    pub object: Option<String>,
    /// The PKCS#11 module (shared library).
    pub module: String,
    pin: String,
}

impl std::fmt::Debug for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uri")
            .field("token", &self.token)
            .field("object", &self.object)
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

fn hsm(m: impl std::fmt::Display) -> KeyError {
    KeyError::Hsm(m.to_string())
}

fn decode(v: &str) -> Result<String, KeyError> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| hsm(format!("bad percent-encoding in {v:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| hsm(format!("{v:?} is not UTF-8")))
}

impl Uri {
    /// Parses a URI (the PIN and module may come from the environment).
    pub fn parse(text: &str) -> Result<Uri, KeyError> {
        let rest = text
            .strip_prefix("pkcs11:")
            .ok_or_else(|| hsm("a PKCS#11 key URI starts with pkcs11:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (mut token, mut object, mut module, mut pin) = (None, None, None, None);
        for part in path.split(';').filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("token", v)) => token = Some(decode(v)?),
                Some(("object", v)) => object = Some(decode(v)?),
                Some(("type", "private")) => {}
                Some((k, _)) => {
                    return Err(hsm(format!(
                        "pkcs11 URI: unsupported path attribute {k:?} (token, object, type=private)"
                    )))
                }
                None => return Err(hsm(format!("pkcs11 URI: {part:?} is not NAME=VALUE"))),
            }
        }
        for part in query.split('&').filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("module-path", v)) => module = Some(decode(v)?),
                Some(("pin-value", v)) => pin = Some(decode(v)?),
                Some(("pin-source", v)) => {
                    let src = decode(v)?;
                    let file = src.strip_prefix("file:").unwrap_or(&src);
                    // A PIN is short: a capped read (a pin-source naming a device or a huge
                    // file is refused, never read whole).
                    let bytes = fsio::read_capped(std::path::Path::new(file), MAX_PIN_BYTES)
                        .map_err(|e| hsm(format!("pin-source {file}: {e}")))?
                        .ok_or_else(|| hsm(format!("pin-source {file}: no such file")))?;
                    let text = String::from_utf8(bytes)
                        .map_err(|_| hsm(format!("pin-source {file}: not UTF-8")))?;
                    pin = Some(text.trim_end_matches(['\n', '\r']).to_string());
                }
                Some((k, _)) => {
                    return Err(hsm(format!(
                        "pkcs11 URI: unsupported query attribute {k:?} (module-path, pin-value, pin-source)"
                    )))
                }
                None => return Err(hsm(format!("pkcs11 URI: {part:?} is not NAME=VALUE"))),
            }
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Ok(Uri {
            token: token.ok_or_else(|| hsm("pkcs11 URI: token=LABEL is required"))?,
            object,
            module: module
                .or_else(|| env("AIRLOCK_PKCS11_MODULE"))
                .ok_or_else(|| {
                    hsm("pkcs11 URI: give module-path=... or set AIRLOCK_PKCS11_MODULE")
                })?,
            pin: pin
                .or_else(|| env("AIRLOCK_PKCS11_PIN"))
                .ok_or_else(|| {
                    hsm("pkcs11 URI: give pin-source=file:PATH (or pin-value) or set AIRLOCK_PKCS11_PIN")
                })?,
        })
    }

    /// The URI naming object `name` in this token, with the module but never the PIN.
    pub fn for_object(&self, name: &str) -> String {
        format!(
            "pkcs11:token={};object={name}?module-path={}",
            self.token, self.module
        )
    }

    /// A logged-in read-write session on the token.
    fn session(&self) -> Result<Session, KeyError> {
        let ctx = Pkcs11::new(&self.module)
            .map_err(|e| hsm(format!("loading PKCS#11 module {}: {e}", self.module)))?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::CryptokiAlreadyInitialized,
                _,
            )) => {}
            Err(e) => return Err(hsm(format!("initializing {}: {e}", self.module))),
        }
        let slot = ctx
            .get_slots_with_token()
            .map_err(hsm)?
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .map(|i| i.label().trim_end() == self.token)
                    .unwrap_or(false)
            })
            .ok_or_else(|| hsm(format!("no PKCS#11 token labelled {:?}", self.token)))?;
        let session = ctx.open_rw_session(slot).map_err(hsm)?;
        session
            .login(UserType::User, Some(&AuthPin::new(self.pin.clone().into())))
            .map_err(|e| hsm(format!("logging in to token {:?}: {e}", self.token)))?;
        Ok(session)
    }
}

/// An Ed25519 key in a token, with the session that signs with it.
pub struct HsmKey {
    session: Mutex<Session>,
    private: ObjectHandle,
    /// The raw public key.
    pub public_key: [u8; 32],
    /// The key's name (its label).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it was made.
    pub created_at: Timestamp,
}

impl std::fmt::Debug for HsmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmKey")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

fn meta(role: Role, created_at: Timestamp) -> Vec<u8> {
    format!("airlock:{}:{}", role.as_str(), created_at.0).into_bytes()
}

fn parse_meta(id: &[u8]) -> Option<(Role, Timestamp)> {
    let text = std::str::from_utf8(id).ok()?;
    let mut it = text.strip_prefix("airlock:")?.splitn(2, ':');
    let role = Role::parse(it.next()?)?;
    let at = it.next()?.parse::<i64>().ok()?;
    Some((role, Timestamp(at)))
}

/// The 32 key bytes of a `CKA_EC_POINT` (raw, or a DER OCTET STRING around them).
fn point(bytes: &[u8]) -> Option<[u8; 32]> {
    match bytes {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest.try_into().ok(),
        raw if raw.len() == 32 => raw.try_into().ok(),
        _ => None,
    }
}

fn find(session: &Session, class: ObjectClass, label: &str) -> Result<ObjectHandle, KeyError> {
    let found = session
        .find_objects(&[Attribute::Class(class), Attribute::Label(label.into())])
        .map_err(hsm)?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(hsm(format!("no key labelled {label:?} in the token"))),
        _ => Err(hsm(format!(
            "{} objects labelled {label:?} in the token: labels must be unique",
            found.len()
        ))),
    }
}

impl HsmKey {
    /// Opens the key the URI names.
    pub fn open(uri: &Uri) -> Result<HsmKey, KeyError> {
        let name = uri
            .object
            .clone()
            .ok_or_else(|| hsm("pkcs11 URI: object=LABEL names the key to sign with"))?;
        let session = uri.session()?;
        let private = find(&session, ObjectClass::PRIVATE_KEY, &name)?;
        let public = find(&session, ObjectClass::PUBLIC_KEY, &name)?;
        let attrs = session
            .get_attributes(public, &[AttributeType::EcPoint, AttributeType::Id])
            .map_err(hsm)?;
        let (mut key, mut facts) = (None, None);
        for a in attrs {
            match a {
                Attribute::EcPoint(p) => key = point(&p),
                Attribute::Id(id) => facts = parse_meta(&id),
                _ => {}
            }
        }
        let public_key = key.ok_or_else(|| hsm(format!("key {name:?} is not an Ed25519 key")))?;
        let (role, created_at) = facts.ok_or_else(|| {
            hsm(format!(
                "key {name:?} has no Airlock facts (CKA_ID airlock:<role>:<time>): make it with `factory keygen --pkcs11`"
            ))
        })?;
        Ok(HsmKey {
            session: Mutex::new(session),
            private,
            public_key,
            name,
            role,
            created_at,
        })
    }

    /// Makes a new key in the token (sensitive, never extractable) labelled `name`.
    pub fn generate(
        uri: &Uri,
        name: &str,
        role: Role,
        created_at: Timestamp,
    ) -> Result<HsmKey, KeyError> {
        let session = uri.session()?;
        if find(&session, ObjectClass::PRIVATE_KEY, name).is_ok() {
            return Err(hsm(format!(
                "the token already holds a key labelled {name:?}; choose another --name"
            )));
        }
        let id = meta(role, created_at);
        let public = vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(ED25519_PARAMS.to_vec()),
            Attribute::Label(name.into()),
            Attribute::Id(id.clone()),
        ];
        let private = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(name.into()),
            Attribute::Id(id),
        ];
        session
            .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private)
            .map_err(|e| hsm(format!("making an Ed25519 key in the token: {e}")))?;
        drop(session);
        HsmKey::open(&Uri {
            object: Some(name.to_string()),
            ..uri.clone()
        })
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public_key)
    }

    /// Signs `message` in the token (pure Ed25519) and checks the signature against the public
    /// key before returning it: a token that answers wrongly signs nothing.
    pub fn sign(&self, message: &[u8]) -> Result<[u8; 64], KeyError> {
        let session = self
            .session
            .lock()
            .map_err(|_| hsm("the token's session is poisoned"))?;
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let sig = session
            .sign(&mechanism, self.private, message)
            .map_err(|e| hsm(format!("signing in the token: {e}")))?;
        let sig: [u8; 64] = sig
            .try_into()
            .map_err(|_| hsm("the token returned a signature that is not 64 bytes"))?;
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&self.public_key).map_err(hsm)?;
        vk.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
            .map_err(|_| hsm("the token's signature does not verify under its public key"))?;
        Ok(sig)
    }
}

/// An RSA key-encryption key in a token (docs/FORMAT.md §19): it decrypts content keys
/// wrapped to it with RSA-OAEP (SHA-1, MGF1-SHA-1, empty label); the private key is
/// sensitive and never extractable. Its facts are in `CKA_ID` `airlock:kek:<unix seconds>`.
pub struct HsmKek {
    session: Mutex<Session>,
    private: ObjectHandle,
    /// The modulus, big-endian.
    pub modulus: Vec<u8>,
    /// The public exponent, big-endian.
    pub exponent: Vec<u8>,
    /// Its name (label).
    pub name: String,
    /// When it was made.
    pub created_at: Timestamp,
}

impl std::fmt::Debug for HsmKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmKek")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

const KEK_ID_PREFIX: &str = "airlock:kek:";

impl HsmKek {
    /// Opens the key-encryption key the URI names.
    pub fn open(uri: &Uri) -> Result<HsmKek, KeyError> {
        let name = uri
            .object
            .clone()
            .ok_or_else(|| hsm("pkcs11 URI: object=LABEL names the key-encryption key"))?;
        let session = uri.session()?;
        let private = find(&session, ObjectClass::PRIVATE_KEY, &name)?;
        let public = find(&session, ObjectClass::PUBLIC_KEY, &name)?;
        let attrs = session
            .get_attributes(
                public,
                &[
                    AttributeType::Modulus,
                    AttributeType::PublicExponent,
                    AttributeType::Id,
                ],
            )
            .map_err(hsm)?;
        let (mut modulus, mut exponent, mut created_at) = (None, None, None);
        for a in attrs {
            match a {
                Attribute::Modulus(n) => modulus = Some(n),
                Attribute::PublicExponent(e) => exponent = Some(e),
                Attribute::Id(id) => {
                    created_at = std::str::from_utf8(&id)
                        .ok()
                        .and_then(|t| t.strip_prefix(KEK_ID_PREFIX))
                        .and_then(|t| t.parse::<i64>().ok())
                        .map(Timestamp)
                }
                _ => {}
            }
        }
        let (Some(modulus), Some(exponent)) = (modulus, exponent) else {
            return Err(hsm(format!("key {name:?} is not an RSA key")));
        };
        let created_at = created_at.ok_or_else(|| {
            hsm(format!(
                "key {name:?} has no Airlock facts (CKA_ID {KEK_ID_PREFIX}<time>): make it with `factory keygen --role kek --pkcs11`"
            ))
        })?;
        Ok(HsmKek {
            session: Mutex::new(session),
            private,
            modulus,
            exponent,
            name,
            created_at,
        })
    }

    /// Makes a new RSA key-encryption key (3072 bits) in the token labelled `name`.
    pub fn generate(uri: &Uri, name: &str, created_at: Timestamp) -> Result<HsmKek, KeyError> {
        let session = uri.session()?;
        if find(&session, ObjectClass::PRIVATE_KEY, name).is_ok() {
            return Err(hsm(format!(
                "the token already holds a key labelled {name:?}; choose another --name"
            )));
        }
        let id = format!("{KEK_ID_PREFIX}{}", created_at.0).into_bytes();
        let public = vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Encrypt(true),
            Attribute::ModulusBits(3072.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Label(name.into()),
            Attribute::Id(id.clone()),
        ];
        let private = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Decrypt(true),
            Attribute::Label(name.into()),
            Attribute::Id(id),
        ];
        session
            .generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
            .map_err(|e| hsm(format!("making an RSA key in the token: {e}")))?;
        drop(session);
        HsmKek::open(&Uri {
            object: Some(name.to_string()),
            ..uri.clone()
        })
    }

    /// Decrypts an RSA-OAEP (SHA-1, MGF1-SHA-1, empty label: what every token implements)
    /// ciphertext in the token.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, KeyError> {
        use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
        use cryptoki::mechanism::MechanismType;
        let session = self
            .session
            .lock()
            .map_err(|_| hsm("the token's session is poisoned"))?;
        let params = PkcsOaepParams::new(
            MechanismType::SHA1,
            PkcsMgfType::MGF1_SHA1,
            PkcsOaepSource::empty(),
        );
        session
            .decrypt(&Mechanism::RsaPkcsOaep(params), self.private, ciphertext)
            .map(zeroize::Zeroizing::new)
            .map_err(|e| hsm(format!("decrypting in the token: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_strictly_and_never_show_the_pin() {
        let u = Uri::parse(
            "pkcs11:token=air%20lock;object=lic-1;type=private?module-path=/m.so&pin-value=12%2534",
        )
        .unwrap();
        assert_eq!(u.token, "air lock");
        assert_eq!(u.object.as_deref(), Some("lic-1"));
        assert_eq!(u.module, "/m.so");
        assert_eq!(u.pin, "12%34");
        assert!(!format!("{u:?}").contains("12%34"));
        assert!(!u.for_object("x").contains("pin"));
        for bad in [
            "pkcs11:object=x?module-path=/m.so&pin-value=1",
            "pkcs11:token=t;slot-id=3?module-path=/m.so&pin-value=1",
            "pkcs11:token=t?module-path=/m.so&pin-value=1&max-sessions=2",
            "pkcs11:token=t%2?module-path=/m.so&pin-value=1",
            "pkcs11:token?module-path=/m.so&pin-value=1",
            "pkcs11-token=t",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
        let d = tempfile::tempdir().unwrap();
        let pin = d.path().join("pin");
        std::fs::write(&pin, "4711\n").unwrap();
        let u = Uri::parse(&format!(
            "pkcs11:token=t?module-path=/m.so&pin-source=file:{}",
            pin.display()
        ))
        .unwrap();
        assert_eq!(u.pin, "4711");
        // A pin-source that never ends is refused, not read whole.
        if std::path::Path::new("/dev/zero").exists() {
            assert!(
                Uri::parse("pkcs11:token=t?module-path=/m.so&pin-source=file:/dev/zero").is_err()
            );
        }
    }

    #[test]
    fn key_facts_round_trip_and_points_are_checked() {
        let at = Timestamp(1_790_000_000);
        assert_eq!(
            parse_meta(&meta(Role::Release, at)),
            Some((Role::Release, at))
        );
        assert_eq!(parse_meta(b"something else"), None);
        assert_eq!(parse_meta(b"airlock:nobody:1"), None);
        let mut der = vec![0x04, 0x20];
        der.extend([7u8; 32]);
        assert_eq!(point(&der), Some([7u8; 32]));
        assert_eq!(point(&[7u8; 32]), Some([7u8; 32]));
        assert_eq!(point(&der[..20]), None);
    }
}
