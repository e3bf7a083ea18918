//! Building and signing trust files (`trust.json`). The format is specified in
//! `docs/FORMAT.md`; the verifier is `runtime::TrustStore::from_trust_file`.

use crate::keyfile::{KeyError, SecretKey};
use canon::{enc, KeyId, Kind, Role, Timestamp, Value};

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
    /// `active`, `retired` or `revoked`.
    pub status: &'static str,
}

impl TrustEntry {
    /// The derived key id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public_key)
    }

    fn to_value(&self) -> Value {
        let mut roles = self.roles.clone();
        roles.sort();
        roles.dedup();
        Value::object(vec![
            ("key_id".into(), Value::String(self.key_id().to_string())),
            ("name".into(), Value::String(self.name.clone())),
            (
                "not_after".into(),
                Value::String(self.not_after.to_string()),
            ),
            (
                "not_before".into(),
                Value::String(self.not_before.to_string()),
            ),
            (
                "public_key".into(),
                Value::String(enc::b64(&self.public_key)),
            ),
            (
                "roles".into(),
                Value::Array(
                    roles
                        .iter()
                        .map(|r| Value::String(r.as_str().into()))
                        .collect(),
                ),
            ),
            ("status".into(), Value::String(self.status.into())),
        ])
        .expect("distinct member names")
    }
}

/// The `signed` part of a trust file.
pub fn signed_value(version: u64, issued_at: Timestamp, entries: &[TrustEntry]) -> Value {
    let mut sorted: Vec<&TrustEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.key_id());
    Value::object(vec![
        ("type".into(), Value::String("airlock-trust".into())),
        ("version".into(), Value::Number(version as f64)),
        ("issued_at".into(), Value::String(issued_at.to_string())),
        (
            "keys".into(),
            Value::Array(sorted.iter().map(|e| e.to_value()).collect()),
        ),
    ])
    .expect("distinct member names")
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
    let signed = signed_value(version, issued_at, entries);
    let canonical = signed.to_canonical();
    let mut sigs = Vec::with_capacity(roots.len());
    for root in roots {
        let env = root.sign_document(Kind::Trust, &canonical)?;
        sigs.push(canon::parse(&env.to_bytes()).expect("envelope is valid JSON"));
    }
    let doc = Value::object(vec![
        ("signed".into(), signed),
        ("signatures".into(), Value::Array(sigs)),
    ])
    .expect("distinct member names");
    Ok(doc.to_pretty())
}
