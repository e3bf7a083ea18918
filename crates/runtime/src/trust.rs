//! The trust store: which public keys are trusted, for which roles, in which time window.
//!
//! It comes from keys embedded in the product at build time ([`TrustStore::embedded`]) or
//! from a trust file signed by a root key ([`TrustStore::from_trust_file`]). Development keys
//! get no special treatment anywhere: they are trusted only if a trust file or the product
//! says so.

use crate::error::VerifyError;
use crate::keys::verify_pae;
use crate::keys::PublicKey;
use canon::{enc, json, KeyId, Kind, Role, Timestamp, Value};
use format::trust::{TrustBody, MAX_TRUST_SIGNATURES};
use format::Artifact;

pub use format::trust::{KeyStatus, MAX_TRUST_BYTES};

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

/// What may sign a trust file. Whatever the anchor, the signing key must also be listed in
/// the file it signs as an active root key whose window contains the file's `issued_at`.
#[derive(Debug, Clone)]
pub enum Anchors {
    /// Only these root keys: embedded in the product at build time, or given by the operator
    /// (`--root`, `AIRLOCK_ROOT`).
    Roots(Vec<PublicKey>),
    /// Only root keys with these ids (an operator's `--root KEY_ID`). A key id is 64 bits of
    /// SHA-256: prefer the whole public key.
    RootIds(Vec<KeyId>),
    /// The active root keys of the last accepted trust file, with their windows (what a state
    /// directory pins): the signer must also be active and inside its pinned window at the
    /// new file's `issued_at`.
    Pinned(Vec<TrustedKey>),
    /// Any active root key the file itself lists (trust on first use: whoever can swap the
    /// delivery can swap the trust file with it). Weaker; made only by
    /// [`crate::danger::trust_on_first_use`].
    SelfSigned(FirstUse),
}

/// A set of trusted keys.
#[derive(Debug, Clone)]
pub struct TrustStore {
    keys: Vec<TrustedKey>,
    version: u64,
    issued_at: Timestamp,
    sha256: [u8; 32],
}

impl TrustStore {
    /// A store of keys compiled into the product (seed behaviour).
    pub fn embedded(keys: Vec<TrustedKey>) -> TrustStore {
        TrustStore {
            keys,
            version: 0,
            issued_at: Timestamp(i64::MIN),
            sha256: [0; 32],
        }
    }

    /// When the trust file was signed (the earliest instant for embedded keys).
    pub fn issued_at(&self) -> Timestamp {
        self.issued_at
    }

    /// SHA-256 of the trust file's canonical `signed` object (zero for embedded keys): two
    /// files of one version must be the same file.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
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

    /// Whether `id` may make a *new* signature needing `role` at `at`: listed with that role,
    /// active (a retired key still verifies what it signed before, but signs nothing new; a
    /// revoked key verifies nothing), and inside its window. The vendor's tools ask this
    /// before signing anything, so that nothing is made that every customer would refuse.
    pub fn may_sign(&self, id: KeyId, role: Role, at: Timestamp) -> Result<(), String> {
        let k = self
            .get(id)
            .ok_or_else(|| format!("key {id} is not in the trust file"))?;
        if !k.roles.contains(&role) {
            return Err(format!("key {id} is not a {role} key in the trust file"));
        }
        match k.status {
            KeyStatus::Active => {}
            KeyStatus::Retired => {
                return Err(format!(
                    "key {id} is retired in the trust file; sign with its successor"
                ))
            }
            KeyStatus::Revoked => {
                return Err(format!(
                    "key {id} is revoked in the trust file; it must not sign anything"
                ))
            }
        }
        if at < k.not_before || at > k.not_after {
            return Err(format!(
                "key {id} cannot sign now ({at}): its window is {} to {}",
                k.not_before, k.not_after
            ));
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
        let body = TrustBody::from_canonical(&canonical)?;
        let issued_at = body.validate()?;
        let mut keys: Vec<TrustedKey> = Vec::with_capacity(body.keys.len());
        for k in &body.keys {
            let p = k.parse()?;
            let key = PublicKey::from_bytes(&p.public_key)
                .map_err(|e| VerifyError::schema(WHAT, format!("key {:?}: {e}", k.name)))?;
            keys.push(TrustedKey {
                key,
                name: k.name.clone(),
                roles: p.roles,
                not_before: p.not_before,
                not_after: p.not_after,
                status: k.status,
            });
        }
        let store = TrustStore {
            keys,
            version: body.version,
            issued_at,
            sha256: enc::sha256(&canonical),
        };

        let Some(Value::Array(sigs)) = v.get("signatures") else {
            return Err(VerifyError::schema(WHAT, "signatures must be an array"));
        };
        if sigs.is_empty() || sigs.len() > MAX_TRUST_SIGNATURES {
            return Err(VerifyError::schema(
                WHAT,
                "signatures must hold 1 to 16 envelopes",
            ));
        }
        // Every entry must be a well-formed trust envelope by a distinct key, whether or not
        // an earlier one verified: no room for smuggled members or other payload types.
        let mut envs: Vec<canon::Envelope> = Vec::with_capacity(sigs.len());
        for s in sigs {
            let env = canon::Envelope::parse(&s.to_canonical()).map_err(VerifyError::Envelope)?;
            if env.kind != Kind::Trust {
                return Err(VerifyError::WrongKind {
                    expected: Kind::Trust,
                    found: env.kind,
                });
            }
            if envs.iter().any(|e| e.key_id == env.key_id) {
                return Err(VerifyError::schema(
                    WHAT,
                    format!("two signatures by key {}", env.key_id),
                ));
            }
            envs.push(env);
        }
        let mut first_error = None;
        for env in &envs {
            match store.check_trust_signer(env, anchors, &canonical) {
                Ok(()) => return Ok(store),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| VerifyError::Trust("no signature".into())))
    }

    /// One signature of this (new) trust file: by an acceptable anchor, listed here as an
    /// active root inside its window at `issued_at` (and, for pins, inside the pinned window
    /// too), and cryptographically valid.
    fn check_trust_signer(
        &self,
        env: &canon::Envelope,
        anchors: &Anchors,
        canonical: &[u8],
    ) -> Result<(), VerifyError> {
        let id = env.key_id;
        let listed = self.signer(id, Role::Root).map_err(|e| match e {
            VerifyError::UnknownKey(_) => VerifyError::Trust(format!(
                "the signing key {id} is not listed in the trust file it signs"
            )),
            e => e,
        })?;
        if listed.status != KeyStatus::Active {
            return Err(VerifyError::Trust(format!(
                "root key {id} is {} in the trust file it signs; only an active root signs trust files",
                listed.status.as_str()
            )));
        }
        self.check_window(id, self.issued_at)?;
        let anchored = match anchors {
            Anchors::Roots(roots) => roots.contains(&listed.key),
            Anchors::RootIds(ids) => ids.contains(&id),
            Anchors::Pinned(pins) => match pins.iter().find(|p| p.key == listed.key) {
                Some(p) => {
                    if p.status != KeyStatus::Active || !p.roles.contains(&Role::Root) {
                        return Err(VerifyError::Trust(format!(
                            "root key {id} is not an active root of the accepted trust file"
                        )));
                    }
                    if self.issued_at < p.not_before || self.issued_at > p.not_after {
                        return Err(VerifyError::KeyOutsideValidity {
                            key_id: id,
                            at: self.issued_at,
                            not_before: p.not_before,
                            not_after: p.not_after,
                        });
                    }
                    true
                }
                None => false,
            },
            Anchors::SelfSigned(_) => true,
        };
        if !anchored {
            return Err(VerifyError::Trust(format!(
                "signed by root key {id}, which is not an anchor this runtime trusts (pinned roots or --root)"
            )));
        }
        verify_pae(&listed.key, Kind::Trust, canonical, &env.sig, "trust file")
    }

    /// Verifies a chain of trust files (e.g. v2 then v3 for a customer who missed v2): sorted
    /// by version, the first anchored by `anchors`, each next one by the active roots of the one
    /// before (with their windows). Versions strictly increase and `issued_at` never goes back.
    /// Returns every file, oldest first.
    pub fn verify_chain(
        files: &[&[u8]],
        anchors: &Anchors,
    ) -> Result<Vec<TrustStore>, VerifyError> {
        let mut order: Vec<(u64, &[u8])> = Vec::with_capacity(files.len());
        for f in files {
            order.push((peek_version(f)?, f));
        }
        order.sort_by_key(|(v, _)| *v);
        if order.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(VerifyError::Trust(
                "two trust files of the same version".into(),
            ));
        }
        let mut out: Vec<TrustStore> = Vec::with_capacity(order.len());
        for (_, f) in order {
            let a = match out.last() {
                Some(prev) => prev.pins(),
                None => anchors.clone(),
            };
            let next = TrustStore::from_trust_file(f, &a)?;
            if let Some(prev) = out.last() {
                if next.issued_at < prev.issued_at {
                    return Err(VerifyError::Trust(format!(
                        "version {} was issued at {}, before version {} ({})",
                        next.version, next.issued_at, prev.version, prev.issued_at
                    )));
                }
            }
            out.push(next);
        }
        if out.is_empty() {
            return Err(VerifyError::Trust("no trust file given".into()));
        }
        Ok(out)
    }

    /// [`TrustStore::verify_chain`], returning the newest file.
    pub fn from_chain(files: &[&[u8]], anchors: &Anchors) -> Result<TrustStore, VerifyError> {
        let mut all = Self::verify_chain(files, anchors)?;
        all.pop()
            .ok_or_else(|| VerifyError::Trust("no trust file given".into()))
    }

    /// The anchors for the next trust file: this file's active root keys with their windows.
    pub fn pins(&self) -> Anchors {
        Anchors::Pinned(self.active_roots())
    }

    /// The active root keys (what a state directory pins).
    pub fn active_roots(&self) -> Vec<TrustedKey> {
        self.keys
            .iter()
            .filter(|k| k.status == KeyStatus::Active && k.roles.contains(&Role::Root))
            .cloned()
            .collect()
    }
}

/// The `signed.version` of a trust file, read without verifying it (to order a chain).
pub(crate) fn peek_version(bytes: &[u8]) -> Result<u64, VerifyError> {
    if bytes.len() > MAX_TRUST_BYTES {
        return Err(VerifyError::TooLarge {
            what: "trust file",
            limit: MAX_TRUST_BYTES as u64,
        });
    }
    let v = json::parse(bytes).map_err(|error| VerifyError::Json {
        what: "trust file",
        error,
    })?;
    match v.get("signed").and_then(|s| s.get("version")) {
        Some(Value::Number(n))
            if *n >= 1.0 && n.fract() == 0.0 && *n <= crate::MAX_SAFE_INTEGER as f64 =>
        {
            Ok(*n as u64)
        }
        _ => Err(VerifyError::schema(
            "trust file",
            "version must be an integer from 1 to 2^53-1",
        )),
    }
}

/// One vendor root given by an operator or a product: a key, or only its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSpec {
    /// The root's public key.
    Key(PublicKey),
    /// The root's key id (64 bits: weaker than the key itself).
    Id(KeyId),
}

impl RootSpec {
    /// Parses a root given as text: a 16-hex-digit key id, base64 of the 32-byte public key,
    /// or the contents of a root's `NAME.pub` or `NAME.minisign.pub` file.
    pub fn parse(text: &[u8]) -> Result<RootSpec, VerifyError> {
        let bad = |m: String| VerifyError::Trust(format!("root key: {m}"));
        if text.len() > 4096 {
            return Err(bad("longer than 4096 bytes".into()));
        }
        let s = std::str::from_utf8(text)
            .map_err(|_| bad("not UTF-8".into()))?
            .trim();
        if let Some(id) = KeyId::parse(s) {
            return Ok(RootSpec::Id(id));
        }
        if let Some(raw) = enc::unb64_exact::<32>(s) {
            return Ok(RootSpec::Key(
                PublicKey::from_bytes(&raw).map_err(|e| bad(e.to_string()))?,
            ));
        }
        if s.starts_with('{') {
            let v = json::parse(s.as_bytes()).map_err(|e| bad(e.to_string()))?;
            if v.get("role").and_then(Value::as_str) != Some("root") {
                return Err(bad("the .pub file is not a root key's".into()));
            }
            let raw = v
                .get("public_key")
                .and_then(Value::as_str)
                .and_then(enc::unb64_exact::<32>)
                .ok_or_else(|| bad("the .pub file has no base64 public_key".into()))?;
            let key = PublicKey::from_bytes(&raw).map_err(|e| bad(e.to_string()))?;
            if v.get("key_id")
                .and_then(Value::as_str)
                .and_then(KeyId::parse)
                != Some(key.key_id())
            {
                return Err(bad("the .pub file's key_id is not its key's".into()));
            }
            return Ok(RootSpec::Key(key));
        }
        let key = crate::keys::minisign_public_key(s.as_bytes()).map_err(|_| {
            bad("not a key id, a base64 public key, or a .pub / .minisign.pub file".into())
        })?;
        Ok(RootSpec::Key(key))
    }

    /// The anchors for a set of roots (ids when any root is given only by id).
    pub fn anchors(roots: &[RootSpec]) -> Anchors {
        if roots.iter().all(|r| matches!(r, RootSpec::Key(_))) {
            Anchors::Roots(
                roots
                    .iter()
                    .filter_map(|r| match r {
                        RootSpec::Key(k) => Some(k.clone()),
                        RootSpec::Id(_) => None,
                    })
                    .collect(),
            )
        } else {
            Anchors::RootIds(
                roots
                    .iter()
                    .map(|r| match r {
                        RootSpec::Key(k) => k.key_id(),
                        RootSpec::Id(id) => *id,
                    })
                    .collect(),
            )
        }
    }
}

/// Proof that the caller asked for trust on first use. Only [`trust_on_first_use`] makes one,
/// so the weak anchor cannot be reached by matching or constructing [`Anchors`] by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstUse(());

impl FirstUse {
    /// The token; only [`crate::danger::trust_on_first_use`] asks for it.
    pub(crate) const fn token() -> FirstUse {
        FirstUse(())
    }
}
