//! Activation artifacts (docs/FORMAT.md §14–§16): the request a machine makes, the lease the
//! vendor signs, and the receipt a machine signs when it gives its seat back.
//!
//! A request and a receipt are signed by the machine's own instance key (role `instance`),
//! which is never in a trust file: they are verified against the `instance_public_key` they
//! carry, and the vendor then compares that key with the one it recorded. They travel as one
//! file, [`InstanceSigned`]: `{"signature": <envelope>, "signed": <document>}`. The lease is
//! signed by an `activation` key and travels as `activation.json` + `activation.sig`, like a
//! license.

use crate::{ts, valid_id, Artifact, SchemaError, MAX_SAFE_INTEGER};
use canon::{enc, Envelope, Kind, Timestamp, Value};
use serde::{Deserialize, Serialize};

/// Largest request, lease or receipt accepted, in bytes.
pub const MAX_ACTIVATION_BYTES: usize = 16 * 1024;
/// The request's `type` member.
pub const REQUEST_TYPE: &str = "airlock-activation-request";
/// The lease's `type` member.
pub const ACTIVATION_TYPE: &str = "airlock-activation";
/// The receipt's `type` member.
pub const DEACTIVATION_TYPE: &str = "airlock-deactivation";
/// The install token's `type` member.
pub const INSTALL_TOKEN_TYPE: &str = "airlock-install-token";
/// The longest an install token may live: 72 hours.
pub const MAX_TOKEN_SECONDS: i64 = 72 * 3600;
/// The prefix of an install token's text form.
pub const TOKEN_PREFIX: &str = "airlock-token:";
/// The most seats one license may have.
pub const MAX_DEVICE_LIMIT: u64 = 10_000;
/// The prefix of every fingerprint (the construction's version).
pub const FINGERPRINT_PREFIX: &str = "fp1:";

/// Where a machine's stable id came from, in the order they are tried.
pub const FINGERPRINT_SOURCES: [&str; 5] = [
    "instance-id",
    "config",
    "machine-id",
    "dmi-product-uuid",
    "state",
];

/// Whether `s` is `fp1:` and 64 lowercase hex digits.
pub fn valid_fingerprint(s: &str) -> bool {
    s.strip_prefix(FINGERPRINT_PREFIX)
        .is_some_and(|h| h.len() == 64 && enc::unhex::<32>(h).is_some())
}

/// Whether `s` is 32 lowercase hex digits (a 128-bit random id).
pub fn valid_nonce(s: &str) -> bool {
    s.len() == 32 && enc::unhex::<16>(s).is_some()
}

/// The 32 bytes of a base64 Ed25519 public key member.
pub fn instance_key_bytes(what: &'static str, b64: &str) -> Result<[u8; 32], SchemaError> {
    enc::unb64_exact::<32>(b64).ok_or_else(|| {
        SchemaError::new(
            what,
            "instance_public_key is not base64 of a 32-byte key".to_string(),
        )
    })
}

fn check_ids(what: &'static str, ids: &[(&str, &str)]) -> Result<(), SchemaError> {
    for (name, v) in ids {
        if !valid_id(v) {
            return Err(SchemaError::new(
                what,
                format!("{name} {v:?} must be 1-128 characters of A-Z a-z 0-9 . _ : -"),
            ));
        }
    }
    Ok(())
}

fn check_text(what: &'static str, name: &str, v: &str, max: usize) -> Result<(), SchemaError> {
    if v.chars().count() > max {
        return Err(SchemaError::new(
            what,
            format!("{name} must be at most {max} characters"),
        ));
    }
    if let Some(c) = crate::text::first_unprintable(v) {
        return Err(SchemaError::new(
            what,
            format!(
                "{name} holds the control or formatting character U+{:04X}",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// Builds asked for (a request) or granted (a lease): well-formed, and never without the
/// machine's encryption key they are wrapped to.
fn check_keys_asked<'a>(
    what: &'static str,
    member: &str,
    key: Option<&str>,
    ids: impl ExactSizeIterator<Item = &'a String>,
) -> Result<(), SchemaError> {
    if let Some(k) = key {
        crate::build::check_encryption_key(what, k)?;
    } else if ids.len() > 0 {
        return Err(SchemaError::new(
            what,
            format!("{member} need encryption_public_key"),
        ));
    }
    crate::build::check_build_ids(what, member, ids)
}

fn check_binding(what: &'static str, fingerprint: &str, key: &str) -> Result<(), SchemaError> {
    if !valid_fingerprint(fingerprint) {
        return Err(SchemaError::new(
            what,
            format!("fingerprint {fingerprint:?} is not fp1: and 64 lowercase hex digits"),
        ));
    }
    instance_key_bytes(what, key).map(|_| ())
}

/// A machine's signed request for a seat (`activation-request.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationRequest {
    /// Always `airlock-activation-request`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// 32 hex digits, random: names this request in the vendor's registry.
    pub request_id: String,
    /// The license asked for.
    pub license_id: String,
    /// Its human key (proves the requester holds the license, as a product key does).
    pub license_key: String,
    /// Its lineage.
    pub lineage_id: String,
    /// Its product (the fingerprint is per product).
    pub product: String,
    /// Its workspace.
    pub workspace: String,
    /// `fp1:` + HMAC-SHA256(stable local id, `airlock/fp/v1/<product>`), hex.
    pub fingerprint: String,
    /// Where the stable id came from ([`FINGERPRINT_SOURCES`]).
    pub fingerprint_source: String,
    /// The machine's instance key, base64 (32 bytes): it signs this request.
    pub instance_public_key: String,
    /// A name for the machine, chosen by the operator (may be empty).
    pub label: String,
    /// When the request was made.
    pub created_at: String,
    /// The install token this request spends (online activation with a token; absent
    /// otherwise). With it, `license_key` may be empty: the token stands in for the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_token_id: Option<String>,
    /// The machine's X25519 encryption key, base64 (docs/FORMAT.md §19): content keys are
    /// wrapped to it. Absent in requests of agents without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_public_key: Option<String>,
    /// The builds (bundle ids) whose content keys the machine asks for; needs
    /// `encryption_public_key`. Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<String>,
    /// Asks for a pool lease (a seat server's activation, docs/FORMAT.md §20). Absent: a
    /// machine seat.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pool: bool,
    /// The machine's identity components, each a per-product one-way value (docs/FORMAT.md
    /// §21). Absent when none.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub components: std::collections::BTreeMap<String, String>,
    /// What the machine shows it runs in: `physical`, `vm` or `container` (§21). Absent: not
    /// reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl Artifact for ActivationRequest {
    const KIND: Kind = Kind::ActivationRequest;
    const WHAT: &'static str = "activation request";
    const MAX_BYTES: usize = MAX_ACTIVATION_BYTES;
    type Facts = Timestamp;

    fn signed_at(created_at: &Timestamp) -> Option<Timestamp> {
        Some(*created_at)
    }

    fn validate(&self) -> Result<Timestamp, SchemaError> {
        let w = Self::WHAT;
        if self.doc_type != REQUEST_TYPE {
            return Err(SchemaError::new(
                w,
                format!("type must be {REQUEST_TYPE:?}"),
            ));
        }
        if !valid_nonce(&self.request_id) {
            return Err(SchemaError::new(
                w,
                "request_id must be 32 lowercase hex digits",
            ));
        }
        check_ids(
            w,
            &[
                ("license_id", &self.license_id),
                ("lineage_id", &self.lineage_id),
                ("product", &self.product),
            ],
        )?;
        if let Some(t) = &self.install_token_id {
            if !valid_nonce(t) {
                return Err(SchemaError::new(
                    w,
                    "install_token_id must be 32 lowercase hex digits",
                ));
            }
        }
        let keyless = self.license_key.is_empty() && self.install_token_id.is_some();
        if !keyless && !crate::license::valid_license_key(&self.license_key) {
            return Err(SchemaError::new(
                w,
                "license_key is not XXXX-XXXX-XXXX-XXXX (it may be empty only with an install_token_id)",
            ));
        }
        if !FINGERPRINT_SOURCES.contains(&self.fingerprint_source.as_str()) {
            return Err(SchemaError::new(
                w,
                format!(
                    "fingerprint_source {:?} is not one of {FINGERPRINT_SOURCES:?}",
                    self.fingerprint_source
                ),
            ));
        }
        check_binding(w, &self.fingerprint, &self.instance_public_key)?;
        check_text(w, "workspace", &self.workspace, 256)?;
        check_text(w, "label", &self.label, 128)?;
        check_keys_asked(
            w,
            "builds",
            self.encryption_public_key.as_deref(),
            self.builds.iter(),
        )?;
        crate::identity::check_components(w, &self.components)?;
        crate::identity::check_environment(w, self.environment.as_deref())?;
        ts(w, "created_at", &self.created_at)
    }
}

/// The times of a lease, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimes {
    /// When it was signed.
    pub issued_at: Timestamp,
    /// Start of the lease.
    pub not_before: Timestamp,
    /// End of the lease: never after the license's expiry plus grace.
    pub not_after: Timestamp,
    /// When a renewing agent should ask for the next lease.
    pub renew_after: Timestamp,
}

/// A signed lease binding one license lineage to one machine (`activation.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activation {
    /// Always `airlock-activation`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The seat's id (kept across fresh leases of the same seat).
    pub activation_id: String,
    /// The request this lease answers.
    pub request_id: String,
    /// The license it was fulfilled for.
    pub license_id: String,
    /// The license's lineage: a renewal keeps its activations.
    pub lineage_id: String,
    /// The product.
    pub product: String,
    /// The customer.
    pub customer_id: String,
    /// The workspace.
    pub workspace: String,
    /// The machine's fingerprint for this product.
    pub fingerprint: String,
    /// The machine's instance key, base64.
    pub instance_public_key: String,
    /// The operator's name for the machine.
    pub label: String,
    /// The license's device limit when the lease was signed.
    pub device_limit: u64,
    /// Whether this seat is over the device limit (allowed by the tier's overage).
    pub overage: bool,
    /// The lineage's reset epoch: a reset raises it, and a revocation list then carries the
    /// minimum epoch still valid.
    pub epoch: u64,
    /// Lease number within the lineage: only grows; a runtime never takes a lower one.
    pub sequence: u64,
    /// When it was signed.
    pub issued_at: String,
    /// Start of the lease.
    pub not_before: String,
    /// End of the lease.
    pub not_after: String,
    /// When to renew (online leases).
    pub renew_after: String,
    /// The machine's X25519 encryption key the grants are wrapped to, base64 (absent without
    /// grants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_public_key: Option<String>,
    /// Content keys released to this machine for this lease (docs/FORMAT.md §19).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<crate::build::KeyGrant>,
    /// Present in a pool lease (a seat server's): the floating terms it may lease under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<crate::floating::PoolTerms>,
    /// The seat's identity components when it was granted (docs/FORMAT.md §21).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub components: std::collections::BTreeMap<String, String>,
    /// How a machine whose fingerprint changed is still this seat's: `any`, `two`, `most` or
    /// `all` of `components` in common (§21). Absent: the exact fingerprint only.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_policy: Option<String>,
}

impl Artifact for Activation {
    const KIND: Kind = Kind::Activation;
    const WHAT: &'static str = "activation";
    const MAX_BYTES: usize = MAX_ACTIVATION_BYTES;
    type Facts = LeaseTimes;

    fn signed_at(t: &LeaseTimes) -> Option<Timestamp> {
        Some(t.issued_at)
    }

    fn validate(&self) -> Result<LeaseTimes, SchemaError> {
        let w = Self::WHAT;
        let bad = |m: &str| Err(SchemaError::new(w, m.to_string()));
        if self.doc_type != ACTIVATION_TYPE {
            return bad("type must be \"airlock-activation\"");
        }
        if !valid_nonce(&self.request_id) {
            return bad("request_id must be 32 lowercase hex digits");
        }
        check_ids(
            w,
            &[
                ("activation_id", &self.activation_id),
                ("license_id", &self.license_id),
                ("lineage_id", &self.lineage_id),
                ("product", &self.product),
                ("customer_id", &self.customer_id),
            ],
        )?;
        check_binding(w, &self.fingerprint, &self.instance_public_key)?;
        check_text(w, "workspace", &self.workspace, 256)?;
        check_text(w, "label", &self.label, 128)?;
        if self.device_limit == 0 || self.device_limit > MAX_DEVICE_LIMIT {
            return bad("device_limit must be from 1 to 10000");
        }
        for (name, v) in [("epoch", self.epoch), ("sequence", self.sequence)] {
            if v == 0 || v > MAX_SAFE_INTEGER {
                return Err(SchemaError::new(
                    w,
                    format!("{name} must be from 1 to 2^53-1"),
                ));
            }
        }
        let t = LeaseTimes {
            issued_at: ts(w, "issued_at", &self.issued_at)?,
            not_before: ts(w, "not_before", &self.not_before)?,
            not_after: ts(w, "not_after", &self.not_after)?,
            renew_after: ts(w, "renew_after", &self.renew_after)?,
        };
        if t.not_after <= t.not_before {
            return bad("not_after must be after not_before");
        }
        if t.renew_after < t.not_before || t.renew_after > t.not_after {
            return bad("renew_after must lie within the lease");
        }
        check_keys_asked(
            w,
            "grants",
            self.encryption_public_key.as_deref(),
            self.grants.iter().map(|g| &g.bundle_id),
        )?;
        if self.encryption_public_key.is_some() && self.grants.is_empty() {
            return bad("encryption_public_key comes only with grants");
        }
        for g in &self.grants {
            crate::build::wrapped_key_bytes(w, &g.wrapped_key)?;
        }
        if let Some(p) = &self.pool {
            p.validate(w)?;
        }
        crate::identity::check_match(w, self.match_policy.as_deref(), &self.components)?;
        Ok(t)
    }
}

/// A machine's signed receipt that it removed its activation (`deactivation.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deactivation {
    /// Always `airlock-deactivation`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The seat given back.
    pub activation_id: String,
    /// The license it was for.
    pub license_id: String,
    /// Its lineage.
    pub lineage_id: String,
    /// The product.
    pub product: String,
    /// The machine's fingerprint.
    pub fingerprint: String,
    /// The machine's instance key, base64: it signs this receipt.
    pub instance_public_key: String,
    /// The sequence of the last lease the machine held.
    pub last_sequence: u64,
    /// When the activation was removed.
    pub deactivated_at: String,
}

impl Artifact for Deactivation {
    const KIND: Kind = Kind::Deactivation;
    const WHAT: &'static str = "deactivation receipt";
    const MAX_BYTES: usize = MAX_ACTIVATION_BYTES;
    type Facts = Timestamp;

    fn signed_at(at: &Timestamp) -> Option<Timestamp> {
        Some(*at)
    }

    fn validate(&self) -> Result<Timestamp, SchemaError> {
        let w = Self::WHAT;
        if self.doc_type != DEACTIVATION_TYPE {
            return Err(SchemaError::new(
                w,
                format!("type must be {DEACTIVATION_TYPE:?}"),
            ));
        }
        check_ids(
            w,
            &[
                ("activation_id", &self.activation_id),
                ("license_id", &self.license_id),
                ("lineage_id", &self.lineage_id),
                ("product", &self.product),
            ],
        )?;
        check_binding(w, &self.fingerprint, &self.instance_public_key)?;
        if self.last_sequence == 0 || self.last_sequence > MAX_SAFE_INTEGER {
            return Err(SchemaError::new(
                w,
                "last_sequence must be from 1 to 2^53-1",
            ));
        }
        ts(w, "deactivated_at", &self.deactivated_at)
    }
}

/// The vendor's signed, short-lived permission for `allowance` machines to activate one
/// license without its key (`factory token create`). It travels as a [`SignedFile`] in text
/// form, [`TOKEN_PREFIX`] + base64 of the file's canonical bytes; the activation service
/// verifies it against the trust file (role `activation`) and spends it in the transaction
/// that makes the seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallToken {
    /// Always `airlock-install-token`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// 32 hex digits, random: what a request names and the service records as spent.
    pub token_id: String,
    /// The license it activates.
    pub license_id: String,
    /// Its lineage.
    pub lineage_id: String,
    /// Its product.
    pub product: String,
    /// Its workspace.
    pub workspace: String,
    /// How many machines may activate with it (1 = one-time).
    pub allowance: u64,
    /// When it was signed.
    pub issued_at: String,
    /// When it stops being accepted: at most 72 hours after `issued_at`.
    pub expires_at: String,
}

/// The times of an install token, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTimes {
    /// When it was signed.
    pub issued_at: Timestamp,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

impl Artifact for InstallToken {
    const KIND: Kind = Kind::InstallToken;
    const WHAT: &'static str = "install token";
    const MAX_BYTES: usize = MAX_ACTIVATION_BYTES;
    type Facts = TokenTimes;

    fn signed_at(t: &TokenTimes) -> Option<Timestamp> {
        Some(t.issued_at)
    }

    fn validate(&self) -> Result<TokenTimes, SchemaError> {
        let w = Self::WHAT;
        if self.doc_type != INSTALL_TOKEN_TYPE {
            return Err(SchemaError::new(
                w,
                format!("type must be {INSTALL_TOKEN_TYPE:?}"),
            ));
        }
        if !valid_nonce(&self.token_id) {
            return Err(SchemaError::new(
                w,
                "token_id must be 32 lowercase hex digits",
            ));
        }
        check_ids(
            w,
            &[
                ("license_id", &self.license_id),
                ("lineage_id", &self.lineage_id),
                ("product", &self.product),
            ],
        )?;
        check_text(w, "workspace", &self.workspace, 256)?;
        if self.allowance == 0 || self.allowance > MAX_DEVICE_LIMIT {
            return Err(SchemaError::new(w, "allowance must be from 1 to 10000"));
        }
        let t = TokenTimes {
            issued_at: ts(w, "issued_at", &self.issued_at)?,
            expires_at: ts(w, "expires_at", &self.expires_at)?,
        };
        if t.expires_at <= t.issued_at || t.expires_at.0 - t.issued_at.0 > MAX_TOKEN_SECONDS {
            return Err(SchemaError::new(
                w,
                "expires_at must be after issued_at and at most 72 hours later",
            ));
        }
        Ok(t)
    }
}

/// A document signed by the machine's own key: the public key it carries.
pub trait InstanceSigned: Artifact {
    /// The base64 instance public key member.
    fn instance_public_key(&self) -> &str;
}

impl InstanceSigned for ActivationRequest {
    fn instance_public_key(&self) -> &str {
        &self.instance_public_key
    }
}

impl InstanceSigned for Deactivation {
    fn instance_public_key(&self) -> &str {
        &self.instance_public_key
    }
}

/// One file holding an instance-signed document and its envelope:
/// `{"signature": <envelope object>, "signed": <document>}`, canonical, with a final newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFile {
    /// The canonical bytes of `signed`.
    pub canonical: Vec<u8>,
    /// The envelope.
    pub envelope: Envelope,
}

impl SignedFile {
    /// Splits a file into the document's canonical bytes and its envelope (shape only: no
    /// signature or schema check). `what` names the document in messages.
    pub fn parse(what: &'static str, bytes: &[u8]) -> Result<SignedFile, crate::ParseError> {
        if bytes.len() > MAX_ACTIVATION_BYTES + canon::sig::MAX_ENVELOPE_BYTES {
            return Err(crate::ParseError::TooLarge(
                what,
                (MAX_ACTIVATION_BYTES + canon::sig::MAX_ENVELOPE_BYTES) as u64,
            ));
        }
        let v = canon::parse(bytes).map_err(|e| crate::ParseError::Json(what, e))?;
        let shape = || {
            SchemaError::new(
                what,
                "must be an object with exactly the members signature and signed",
            )
        };
        let Value::Object(m) = &v else {
            return Err(shape().into());
        };
        let names: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        if names != ["signature", "signed"] {
            return Err(shape().into());
        }
        let (Some(sig), Some(signed)) = (v.get("signature"), v.get("signed")) else {
            return Err(shape().into());
        };
        let mut env_bytes = sig.to_canonical();
        env_bytes.push(b'\n');
        let envelope = Envelope::parse(&env_bytes)
            .map_err(|e| SchemaError::new(what, format!("signature: {e}")))?;
        Ok(SignedFile {
            canonical: signed.to_canonical(),
            envelope,
        })
    }

    /// The text form of a signed file (an install token): [`TOKEN_PREFIX`] + base64 of the
    /// file's canonical bytes, one line a command line can carry.
    pub fn to_token(&self) -> String {
        let v = canon::parse(&self.to_bytes()).expect("a signed file parses");
        format!("{TOKEN_PREFIX}{}", enc::b64(&v.to_canonical()))
    }

    /// Reads [`SignedFile::to_token`]'s text form back (shape only, like [`SignedFile::parse`]).
    pub fn from_token(text: &str) -> Result<SignedFile, crate::ParseError> {
        let what = InstallToken::WHAT;
        let body = text
            .trim()
            .strip_prefix(TOKEN_PREFIX)
            .ok_or_else(|| SchemaError::new(what, format!("does not start with {TOKEN_PREFIX}")))?;
        let bytes = enc::unb64(body)
            .ok_or_else(|| SchemaError::new(what, "is not base64 after its prefix"))?;
        SignedFile::parse(what, &bytes)
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut env = self.envelope.to_bytes();
        while env.last() == Some(&b'\n') {
            env.pop();
        }
        let sig = canon::parse(&env).expect("an envelope is canonical JSON");
        let signed = canon::parse(&self.canonical).expect("canonical bytes parse");
        let mut out = Value::object(vec![
            ("signature".to_string(), sig),
            ("signed".to_string(), signed),
        ])
        .expect("distinct member names")
        .to_pretty();
        if out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
        out
    }
}
