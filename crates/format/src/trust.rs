//! Trust files (docs/FORMAT.md §7): which keys are trusted, for which roles, in which window.
//! The `signed` body is [`TrustBody`]; the file is `{"signatures": [envelopes], "signed": body}`
//! ([`trust_file`]). Which signatures anchor it is the runtime's decision.

use crate::{ts, Artifact, SchemaError, MAX_SAFE_INTEGER};
use canon::{enc, Envelope, KeyId, Kind, Role, Timestamp, Value};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest trust file accepted, in bytes.
pub const MAX_TRUST_BYTES: usize = 256 * 1024;
/// The body's `type` member.
pub const TRUST_TYPE: &str = "airlock-trust";
/// Most signatures a trust file may carry.
pub const MAX_TRUST_SIGNATURES: usize = 16;

const WHAT: &str = "trust file";

/// A key's status in the trust file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

    /// Parses a status name.
    pub fn parse(s: &str) -> Option<KeyStatus> {
        [KeyStatus::Active, KeyStatus::Retired, KeyStatus::Revoked]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key of a trust file, as written. Fields are in canonical (sorted) order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// 16 lowercase hex digits derived from `public_key`.
    pub key_id: String,
    /// A human name (`canon::sig::valid_key_name`).
    pub name: String,
    /// Last instant an artifact may be signed with it.
    pub not_after: String,
    /// First instant an artifact may be signed with it.
    pub not_before: String,
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
    /// The roles it may sign for, each once.
    pub roles: Vec<String>,
    /// Its status.
    pub status: KeyStatus,
}

/// A key entry's members, parsed and checked (the public key's bytes, not yet known to be a
/// valid curve point: that is the verifier's check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    /// Raw public key.
    pub public_key: [u8; 32],
    /// Its derived id.
    pub key_id: KeyId,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Window start.
    pub not_before: Timestamp,
    /// Window end.
    pub not_after: Timestamp,
}

impl KeyEntry {
    /// The entry for `public_key`, with its id derived and its roles sorted.
    pub fn new(
        public_key: [u8; 32],
        name: &str,
        roles: &[Role],
        not_before: Timestamp,
        not_after: Timestamp,
        status: KeyStatus,
    ) -> KeyEntry {
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        KeyEntry {
            key_id: KeyId::of(&public_key).to_string(),
            name: name.into(),
            not_after: not_after.to_string(),
            not_before: not_before.to_string(),
            public_key: enc::b64(&public_key),
            roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
            status,
        }
    }

    /// Checks the entry's members and returns them parsed.
    pub fn parse(&self) -> Result<ParsedKey, SchemaError> {
        let bad = |m: String| Err(SchemaError::new(WHAT, m));
        if !canon::sig::valid_key_name(&self.name) {
            return bad(format!(
                "key name {:?} must be 1-64 of A-Z a-z 0-9 . _ - (not starting with .)",
                crate::text::escape(&self.name)
            ));
        }
        let name = &self.name;
        let Some(public_key) = enc::unb64_exact::<32>(&self.public_key) else {
            return bad(format!(
                "key {name:?}: public_key is not base64 of 32 bytes"
            ));
        };
        let key_id = KeyId::of(&public_key);
        if KeyId::parse(&self.key_id) != Some(key_id) {
            return bad(format!(
                "key {name:?}: key_id {} is not the id derived from its public key ({key_id})",
                self.key_id
            ));
        }
        let mut roles = Vec::with_capacity(self.roles.len());
        for r in &self.roles {
            let Some(role) = Role::parse(r) else {
                return bad(format!("key {name:?}: unknown role {r:?}"));
            };
            if role == Role::Instance {
                return bad(format!(
                    "key {name:?}: instance keys belong to one machine and are never trusted"
                ));
            }
            if roles.contains(&role) {
                return bad(format!("key {name:?}: role {r} listed twice"));
            }
            roles.push(role);
        }
        if roles.is_empty() {
            return bad(format!("key {name:?} has no role"));
        }
        let not_before = ts(WHAT, "not_before", &self.not_before)?;
        let not_after = ts(WHAT, "not_after", &self.not_after)?;
        if not_after < not_before {
            return bad(format!("key {name:?}: not_after is before not_before"));
        }
        Ok(ParsedKey {
            public_key,
            key_id,
            roles,
            not_before,
            not_after,
        })
    }
}

/// The `signed` body of a trust file. Fields are in canonical (sorted) order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustBody {
    /// When it was issued (and signed).
    pub issued_at: String,
    /// The keys, sorted by key id.
    pub keys: Vec<KeyEntry>,
    /// Always `airlock-trust`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// From 1; a runtime never goes back to a lower one.
    pub version: u64,
}

impl TrustBody {
    /// A body listing `keys` (sorted by key id).
    pub fn new(version: u64, issued_at: Timestamp, mut keys: Vec<KeyEntry>) -> TrustBody {
        keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        TrustBody {
            issued_at: issued_at.to_string(),
            keys,
            doc_type: TRUST_TYPE.into(),
            version,
        }
    }
}

impl Artifact for TrustBody {
    const KIND: Kind = Kind::Trust;
    const WHAT: &'static str = WHAT;
    const MAX_BYTES: usize = MAX_TRUST_BYTES;
    /// The issue time.
    type Facts = Timestamp;

    fn signed_at(issued_at: &Timestamp) -> Option<Timestamp> {
        Some(*issued_at)
    }

    /// The body's rules: type, version range, issue time, every key entry valid, no key twice,
    /// and at least one active root (or the next file could not be anchored).
    fn validate(&self) -> Result<Timestamp, SchemaError> {
        if self.doc_type != TRUST_TYPE {
            return Err(SchemaError::new(
                WHAT,
                format!("type {:?} is not \"airlock-trust\"", self.doc_type),
            ));
        }
        if self.version == 0 || self.version > MAX_SAFE_INTEGER {
            return Err(SchemaError::new(
                WHAT,
                "version must be an integer from 1 to 2^53-1",
            ));
        }
        let issued_at = ts(WHAT, "issued_at", &self.issued_at)?;
        let mut seen = std::collections::HashSet::with_capacity(self.keys.len());
        let mut active_root = false;
        for k in &self.keys {
            let p = k.parse()?;
            if !seen.insert(p.key_id) {
                return Err(SchemaError::new(
                    WHAT,
                    format!("key {} listed twice", p.key_id),
                ));
            }
            active_root |= k.status == KeyStatus::Active && p.roles.contains(&Role::Root);
        }
        if !active_root {
            return Err(SchemaError::new(
                WHAT,
                "lists no active root key (the next trust file could not be anchored)",
            ));
        }
        Ok(issued_at)
    }
}

/// A whole trust file, pretty-printed: the body and its root signatures (at least one).
pub fn trust_file(body: &TrustBody, signatures: &[Envelope]) -> Vec<u8> {
    let signed = canon::parse(&body.to_canonical()).expect("canonical JSON parses");
    let sigs = signatures
        .iter()
        .map(|e| canon::parse(&e.to_bytes()).expect("an envelope is JSON"))
        .collect();
    Value::object(vec![
        ("signed".into(), signed),
        ("signatures".into(), Value::Array(sigs)),
    ])
    .expect("distinct member names")
    .to_pretty()
}
