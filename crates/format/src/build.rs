//! Build records and key grants (docs/FORMAT.md §19): what binds an encrypted bundle's content
//! key to the vendor's registry, and each machine's lease to the keys it may open.
//!
//! A build record (`<name>.build.json`) is written and signed (release role) by the packager
//! when it seals a bundle: the facts of the bundle that decide who may have its key, and the
//! content key wrapped to the vendor's key-encryption key. The factory registers it after
//! checking the signature and that the wrapped key opens to the key the manifest's
//! `key_check` names. It travels as a [`crate::SignedFile`], verified against the trust file.

use crate::manifest::{parse_version, valid_bundle_id, ENCRYPTION_SCHEME};
use crate::{ts, valid_id, Artifact, SchemaError};
use canon::{enc, Kind, Timestamp, Value};
use serde::{Deserialize, Serialize};

/// The build record's `type` member.
pub const BUILD_TYPE: &str = "airlock-build";
/// Bytes of a wrapped content key (HPKE X25519: the 32-byte encapsulated key, the 32-byte key
/// sealed with its 16-byte tag).
pub const WRAPPED_KEY_BYTES: usize = 80;
/// Bytes of a content key wrapped to an RSA key-encryption key (3072 to 4096 bits).
pub const RSA_WRAPPED_KEY_BYTES: std::ops::RangeInclusive<usize> = 384..=512;
/// Most builds one request may name, and one lease may carry keys for.
pub const MAX_GRANTS: usize = 32;
/// Largest build record.
pub const MAX_BUILD_BYTES: usize = 16 * 1024;

/// A sealed bundle's record for the vendor's registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildRecord {
    /// Always `airlock-build`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The bundle (the build's id).
    pub bundle_id: String,
    /// Its product.
    pub product: String,
    /// Its version.
    pub version: String,
    /// The release's edition.
    pub edition: String,
    /// Features the release needs licensed.
    pub requires_features: Vec<String>,
    /// The customer the bundle was made for.
    pub customer_id: String,
    /// The license it carries.
    pub license_id: String,
    /// When the bundle was made (its manifest's `created_at`).
    pub created_at: String,
    /// The encryption scheme ([`ENCRYPTION_SCHEME`]).
    pub scheme: String,
    /// The content key's check value (the manifest's `encryption.key_check`).
    pub key_check: String,
    /// The key-encryption key it is wrapped to.
    pub kek_key_id: String,
    /// The content key wrapped to it, base64 of [`WRAPPED_KEY_BYTES`].
    pub wrapped_key: String,
}

impl Artifact for BuildRecord {
    const KIND: Kind = Kind::Build;
    const WHAT: &'static str = "build record";
    const MAX_BYTES: usize = MAX_BUILD_BYTES;
    type Facts = Timestamp;

    fn signed_at(created_at: &Timestamp) -> Option<Timestamp> {
        Some(*created_at)
    }

    fn validate(&self) -> Result<Timestamp, SchemaError> {
        let w = Self::WHAT;
        let bad = |m: String| Err(SchemaError::new(w, m));
        if self.doc_type != BUILD_TYPE {
            return bad(format!("type must be {BUILD_TYPE:?}"));
        }
        if !valid_bundle_id(&self.bundle_id) {
            return bad("bundle_id must be \"bnd-\" and 16 lowercase hex digits".into());
        }
        for (n, v) in [
            ("product", &self.product),
            ("edition", &self.edition),
            ("customer_id", &self.customer_id),
            ("license_id", &self.license_id),
        ] {
            if !valid_id(v) {
                return bad(format!("{n} {v:?} is not a valid id"));
            }
        }
        if let Some(f) = self.requires_features.iter().find(|f| !valid_id(f)) {
            return bad(format!("requires_features: {f:?} is not a valid id"));
        }
        if parse_version(&self.version).is_none() {
            return bad("version must be MAJOR.MINOR.PATCH".into());
        }
        if self.scheme != ENCRYPTION_SCHEME {
            return bad(format!("scheme must be {ENCRYPTION_SCHEME:?}"));
        }
        if enc::unhex::<32>(&self.key_check).is_none() {
            return bad("key_check is not 64 lowercase hex characters".into());
        }
        if canon::KeyId::parse(&self.kek_key_id).is_none() {
            return bad("kek_key_id is not 16 lowercase hex characters".into());
        }
        let wrapped = enc::unb64(&self.wrapped_key).unwrap_or_default();
        if wrapped.len() != WRAPPED_KEY_BYTES && !RSA_WRAPPED_KEY_BYTES.contains(&wrapped.len()) {
            return bad(format!(
                "wrapped_key is not base64 of {WRAPPED_KEY_BYTES} bytes (an X25519 key-encryption key) or of 384-512 bytes (an RSA one)"
            ));
        }
        ts(w, "created_at", &self.created_at)
    }
}

/// The bytes of a base64 wrapped key member (exactly [`WRAPPED_KEY_BYTES`]).
pub fn wrapped_key_bytes(what: &'static str, b64: &str) -> Result<Vec<u8>, SchemaError> {
    enc::unb64(b64)
        .filter(|b| b.len() == WRAPPED_KEY_BYTES)
        .ok_or_else(|| {
            SchemaError::new(
                what,
                format!("wrapped_key is not base64 of {WRAPPED_KEY_BYTES} bytes"),
            )
        })
}

/// One content key released to a machine, inside its lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyGrant {
    /// The build (bundle) whose key this is.
    pub bundle_id: String,
    /// The content key wrapped to the lease's `encryption_public_key` with
    /// [`grant_info`] as HPKE `info`, base64.
    pub wrapped_key: String,
}

/// The HPKE `info` a build's content key is wrapped under for the key-encryption key: the
/// canonical JSON `{"bundle_id": ID, "type": "airlock-build-key/1"}`.
pub fn kek_info(bundle_id: &str) -> Vec<u8> {
    Value::object(vec![
        ("bundle_id".into(), Value::String(bundle_id.into())),
        ("type".into(), Value::String("airlock-build-key/1".into())),
    ])
    .expect("distinct members")
    .to_canonical()
}

/// The HPKE `info` of a key grant: canonical JSON naming the build and the lease it was made
/// for (`activation_id`, `bundle_id`, `fingerprint`, `lineage_id`, `not_after`, `sequence`,
/// `type` = `airlock-key-grant/1`). A wrapped key copied into another lease, for another seat,
/// machine or build, does not open.
pub fn grant_info(lease: &crate::Activation, bundle_id: &str) -> Vec<u8> {
    Value::object(vec![
        (
            "activation_id".into(),
            Value::String(lease.activation_id.clone()),
        ),
        ("bundle_id".into(), Value::String(bundle_id.into())),
        (
            "fingerprint".into(),
            Value::String(lease.fingerprint.clone()),
        ),
        ("lineage_id".into(), Value::String(lease.lineage_id.clone())),
        ("not_after".into(), Value::String(lease.not_after.clone())),
        ("sequence".into(), Value::Number(lease.sequence as f64)),
        ("type".into(), Value::String("airlock-key-grant/1".into())),
    ])
    .expect("distinct members")
    .to_canonical()
}

/// Checks a list of build ids a request names or grants a lease carries: at most
/// [`MAX_GRANTS`], each a bundle id, none twice.
pub fn check_build_ids<'a>(
    what: &'static str,
    member: &str,
    ids: impl ExactSizeIterator<Item = &'a String>,
) -> Result<(), SchemaError> {
    if ids.len() > MAX_GRANTS {
        return Err(SchemaError::new(
            what,
            format!("{member} names more than {MAX_GRANTS} builds"),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for id in ids {
        if !valid_bundle_id(id) {
            return Err(SchemaError::new(
                what,
                format!("{member}: {id:?} is not a bundle id (bnd- and 16 lowercase hex digits)"),
            ));
        }
        if !seen.insert(id.as_str()) {
            return Err(SchemaError::new(what, format!("{member} names {id} twice")));
        }
    }
    Ok(())
}

/// Whether `b64` is base64 of an X25519 public key's 32 bytes (the low-order check happens
/// when a key is wrapped to it).
pub fn check_encryption_key(what: &'static str, b64: &str) -> Result<(), SchemaError> {
    enc::unb64_exact::<32>(b64).map(|_| ()).ok_or_else(|| {
        SchemaError::new(
            what,
            "encryption_public_key is not base64 of a 32-byte X25519 key",
        )
    })
}
