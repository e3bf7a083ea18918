//! The trust store: which public keys are trusted, for which roles, in which time window.
//!
//! It comes from keys embedded in the product at build time ([`TrustStore::embedded`]) or
//! from a trust file signed by a root key ([`TrustStore::from_trust_file`]). Development keys
//! get no special treatment anywhere: they are trusted only if a trust file or the product
//! says so.

use crate::error::VerifyError;
use crate::keys::PublicKey;
use crate::signed::verify_pae;
use canon::{enc, json, KeyId, Kind, Role, Timestamp, Value};
use serde::Deserialize;

/// Largest trust file accepted, in bytes.
pub const MAX_TRUST_BYTES: usize = 256 * 1024;

/// A key's status in the trust file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Verifies artifacts signed inside its window.
    Active,
    /// Verifies artifacts signed inside its window; signing tools refuse to use it.
    Retired,
    /// Verifies nothing.
    Revoked,
}

impl KeyStatus {
    /// The status's name in the trust file.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// One trusted key.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The validated public key.
    pub key: PublicKey,
    /// A human name.
    pub name: String,
    /// The roles the key may sign for.
    pub roles: Vec<Role>,
    /// First instant an artifact may be signed with it.
    pub not_before: Timestamp,
    /// Last instant an artifact may be signed with it.
    pub not_after: Timestamp,
    /// Active, retired or revoked.
    pub status: KeyStatus,
}

/// What may sign a trust file.
#[derive(Debug, Clone)]
pub enum Anchors {
    /// Only these root keys (embedded in the product, or pinned from an earlier trust file).
    Roots(Vec<PublicKey>),
    /// Any active root key the file itself lists (trust on first use: the operator vouches for
    /// the file, which must have been delivered out of band). Weaker; ask for it explicitly.
    SelfSigned,
}

/// A set of trusted keys.
#[derive(Debug, Clone)]
pub struct TrustStore {
    keys: Vec<TrustedKey>,
    version: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustDoc {
    #[serde(rename = "type")]
    doc_type: String,
    version: u64,
    issued_at: String,
    keys: Vec<KeyDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDoc {
    key_id: String,
    name: String,
    public_key: String,
    roles: Vec<String>,
    not_before: String,
    not_after: String,
    status: String,
}

/// Parses a timestamp field or reports which one is malformed.
pub(crate) fn ts(what: &'static str, field: &str, s: &str) -> Result<Timestamp, VerifyError> {
    Timestamp::parse(s).ok_or_else(|| {
        VerifyError::schema(
            what,
            format!("{field} {s:?} is not a YYYY-MM-DDTHH:MM:SSZ timestamp"),
        )
    })
}

impl TrustStore {
    /// A store of keys compiled into the product (seed behaviour).
    pub fn embedded(keys: Vec<TrustedKey>) -> TrustStore {
        TrustStore { keys, version: 0 }
    }

    /// The trust file's version (0 for embedded keys).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Every trusted key.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// Looks a key up by id.
    pub fn get(&self, id: KeyId) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.key.key_id() == id)
    }

    /// Finds the key for `id` and checks that it may sign an artifact needing `role`,
    /// before any cryptography (cheap checks first).
    pub(crate) fn signer(&self, id: KeyId, role: Role) -> Result<&TrustedKey, VerifyError> {
        let k = self.get(id).ok_or(VerifyError::UnknownKey(id))?;
        if k.status == KeyStatus::Revoked {
            return Err(VerifyError::KeyRevoked(id));
        }
        if !k.roles.contains(&role) {
            return Err(VerifyError::WrongRole {
                key_id: id,
                needed: role,
            });
        }
        Ok(k)
    }

    /// Checks that `id` was inside its validity window at the artifact's signing time `at`.
    pub fn check_window(&self, id: KeyId, at: Timestamp) -> Result<(), VerifyError> {
        let k = self.get(id).ok_or(VerifyError::UnknownKey(id))?;
        if at < k.not_before || at > k.not_after {
            return Err(VerifyError::KeyOutsideValidity {
                key_id: id,
                at,
                not_before: k.not_before,
                not_after: k.not_after,
            });
        }
        Ok(())
    }

    /// Parses and verifies a signed trust file.
    ///
    /// The `signed` object is canonicalized from the parsed value and must carry at least one
    /// valid signature by an acceptable root key (see [`Anchors`]) whose window contains the
    /// file's `issued_at`.
    pub fn from_trust_file(bytes: &[u8], anchors: &Anchors) -> Result<TrustStore, VerifyError> {
        const WHAT: &str = "trust file";
        if bytes.len() > MAX_TRUST_BYTES {
            return Err(VerifyError::TooLarge {
                what: WHAT,
                limit: MAX_TRUST_BYTES as u64,
            });
        }
        let v = json::parse(bytes).map_err(|error| VerifyError::Json { what: WHAT, error })?;
        let Value::Object(m) = &v else {
            return Err(VerifyError::schema(WHAT, "not a JSON object"));
        };
        if m.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>() != ["signatures", "signed"] {
            return Err(VerifyError::schema(
                WHAT,
                "members must be exactly \"signed\" and \"signatures\"",
            ));
        }
        let signed = v
            .get("signed")
            .ok_or_else(|| VerifyError::schema(WHAT, "missing signed"))?;
        let canonical = signed.to_canonical();
        let doc: TrustDoc = serde_json::from_slice(&canonical)
            .map_err(|e| VerifyError::schema(WHAT, e.to_string()))?;
        if doc.doc_type != "airlock-trust" {
            return Err(VerifyError::schema(
                WHAT,
                format!("type {:?} is not \"airlock-trust\"", doc.doc_type),
            ));
        }
        if doc.version == 0 || doc.version > crate::MAX_SAFE_INTEGER {
            return Err(VerifyError::schema(
                WHAT,
                "version must be an integer from 1 to 2^53-1",
            ));
        }
        let issued_at = ts(WHAT, "issued_at", &doc.issued_at)?;
        let mut keys: Vec<TrustedKey> = Vec::with_capacity(doc.keys.len());
        for k in &doc.keys {
            let raw = enc::unb64_exact::<32>(&k.public_key).ok_or_else(|| {
                VerifyError::schema(
                    WHAT,
                    format!("key {:?}: public_key is not base64 of 32 bytes", k.name),
                )
            })?;
            let key = PublicKey::from_bytes(&raw)
                .map_err(|e| VerifyError::schema(WHAT, format!("key {:?}: {e}", k.name)))?;
            if KeyId::parse(&k.key_id) != Some(key.key_id()) {
                return Err(VerifyError::schema(
                    WHAT,
                    format!(
                        "key {:?}: key_id {} is not the id derived from its public key ({})",
                        k.name,
                        k.key_id,
                        key.key_id()
                    ),
                ));
            }
            if keys.iter().any(|e| e.key.key_id() == key.key_id()) {
                return Err(VerifyError::schema(
                    WHAT,
                    format!("key {} listed twice", key.key_id()),
                ));
            }
            let mut roles = Vec::new();
            for r in &k.roles {
                let role = Role::parse(r).ok_or_else(|| {
                    VerifyError::schema(WHAT, format!("key {:?}: unknown role {r:?}", k.name))
                })?;
                if roles.contains(&role) {
                    return Err(VerifyError::schema(
                        WHAT,
                        format!("key {:?}: role {r} listed twice", k.name),
                    ));
                }
                roles.push(role);
            }
            if roles.is_empty() {
                return Err(VerifyError::schema(
                    WHAT,
                    format!("key {:?} has no role", k.name),
                ));
            }
            let status = match k.status.as_str() {
                "active" => KeyStatus::Active,
                "retired" => KeyStatus::Retired,
                "revoked" => KeyStatus::Revoked,
                s => {
                    return Err(VerifyError::schema(
                        WHAT,
                        format!("key {:?}: unknown status {s:?}", k.name),
                    ))
                }
            };
            let not_before = ts(WHAT, "not_before", &k.not_before)?;
            let not_after = ts(WHAT, "not_after", &k.not_after)?;
            if not_after < not_before {
                return Err(VerifyError::schema(
                    WHAT,
                    format!("key {:?}: not_after is before not_before", k.name),
                ));
            }
            keys.push(TrustedKey {
                key,
                name: k.name.clone(),
                roles,
                not_before,
                not_after,
                status,
            });
        }
        let store = TrustStore {
            keys,
            version: doc.version,
        };

        let Some(Value::Array(sigs)) = v.get("signatures") else {
            return Err(VerifyError::schema(WHAT, "signatures must be an array"));
        };
        if sigs.is_empty() || sigs.len() > 16 {
            return Err(VerifyError::schema(
                WHAT,
                "signatures must hold 1 to 16 envelopes",
            ));
        }
        let mut first_error = None;
        for s in sigs {
            let env = canon::Envelope::parse(&s.to_canonical()).map_err(VerifyError::Envelope)?;
            let result = (|| {
                if env.kind != Kind::Trust {
                    return Err(VerifyError::WrongKind {
                        expected: Kind::Trust,
                        found: env.kind,
                    });
                }
                let key = match anchors {
                    Anchors::Roots(roots) => {
                        let k = roots
                            .iter()
                            .find(|k| k.key_id() == env.key_id)
                            .ok_or(VerifyError::UnknownKey(env.key_id))?;
                        if let Some(listed) = store.get(env.key_id) {
                            if listed.status == KeyStatus::Revoked {
                                return Err(VerifyError::KeyRevoked(env.key_id));
                            }
                        }
                        k.clone()
                    }
                    Anchors::SelfSigned => {
                        let k = store.signer(env.key_id, Role::Root)?;
                        if k.status != KeyStatus::Active {
                            return Err(VerifyError::Trust(format!(
                                "root key {} is not active",
                                env.key_id
                            )));
                        }
                        store.check_window(env.key_id, issued_at)?;
                        k.key.clone()
                    }
                };
                verify_pae(&key, Kind::Trust, &canonical, &env.sig, WHAT)
            })();
            match result {
                Ok(()) => return Ok(store),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| VerifyError::Trust("no signature".into())))
    }

    /// The public keys holding the root role, to pin as [`Anchors::Roots`] for the next file.
    pub fn roots(&self) -> Vec<PublicKey> {
        self.keys
            .iter()
            .filter(|k| k.roles.contains(&Role::Root) && k.status != KeyStatus::Revoked)
            .map(|k| k.key.clone())
            .collect()
    }
}
