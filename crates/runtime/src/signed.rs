//! Verification of detached-signature JSON artifacts and minisign file signatures.
//!
//! The order of checks is fixed: size caps, strict parse, envelope shape, artifact kind
//! (domain separation), key lookup and role (cheap, before cryptography), `verify_strict`
//! over `PAE(payload_type, canonical bytes)`. The caller then checks the key's validity
//! window against the artifact's own signing time, once its content is authenticated.

use crate::error::VerifyError;
pub use crate::keys::minisign_public_key;
pub(crate) use crate::keys::verify_pae;
use crate::keys::PublicKey;
use crate::trust::TrustStore;
use canon::minisign::Signature as MinisignSig;
use canon::{json, Envelope, KeyId, Kind, Role, Timestamp, Value};
use format::Artifact;

/// A signed document whose signature verified under a trusted key of the right role.
/// Only this module constructs it.
#[derive(Debug, Clone)]
pub struct Checked {
    value: Value,
    canonical: Vec<u8>,
    signer: KeyId,
}

impl Checked {
    /// The parsed document.
    pub fn value(&self) -> &Value {
        &self.value
    }
    /// The canonical bytes that were signed.
    pub fn canonical(&self) -> &[u8] {
        &self.canonical
    }
    /// The signing key.
    pub fn signer(&self) -> KeyId {
        self.signer
    }
}

/// Verifies a JSON artifact of `kind` against its detached envelope.
pub fn verify_document(
    trust: &TrustStore,
    kind: Kind,
    what: &'static str,
    doc: &[u8],
    max_doc: usize,
    envelope: &[u8],
) -> Result<Checked, VerifyError> {
    if doc.len() > max_doc {
        return Err(VerifyError::TooLarge {
            what,
            limit: max_doc as u64,
        });
    }
    let env = Envelope::parse(envelope).map_err(VerifyError::Envelope)?;
    if env.kind != kind {
        return Err(VerifyError::WrongKind {
            expected: kind,
            found: env.kind,
        });
    }
    let signer = trust.signer(env.key_id, kind.signer_role())?;
    let value = json::parse(doc).map_err(|error| VerifyError::Json { what, error })?;
    check_parsed(&signer.key, (kind, what), value, env)
}

/// The signature of an already parsed document (its canonical form signed under `key`).
fn check_parsed(
    key: &crate::keys::PublicKey,
    (kind, what): (Kind, &'static str),
    value: Value,
    env: Envelope,
) -> Result<Checked, VerifyError> {
    let canonical = value.to_canonical();
    verify_pae(key, kind, &canonical, &env.sig, what)?;
    Ok(Checked {
        value,
        canonical,
        signer: env.key_id,
    })
}

/// An artifact whose signature verified under a trusted key of the role its kind needs, whose
/// schema holds, and whose signer was inside its window when it was signed. Only [`verify`]
/// and [`verify_buffered`] build one.
#[derive(Debug, Clone)]
pub struct Verified<A: Artifact> {
    value: A,
    facts: A::Facts,
    digest: [u8; 32],
    signer: KeyId,
}

impl<A: Artifact> Verified<A> {
    /// The verified document.
    pub fn value(&self) -> &A {
        &self.value
    }
    /// What its schema check yielded (e.g. a license's times).
    pub fn facts(&self) -> A::Facts {
        self.facts
    }
    /// SHA-256 of the canonical bytes that were signed (the bytes themselves are not kept: a
    /// bundle manifest may be 16 MiB).
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }
    /// The signing key.
    pub fn signer(&self) -> KeyId {
        self.signer
    }
    /// The verified document itself, when the caller keeps it past the verification.
    pub fn into_value(self) -> A {
        self.value
    }
}

/// Verifies an artifact of kind `A` against its detached envelope: size cap, strict parse (or,
/// for kinds stored canonical, the signature over the raw bytes first), kind, key and role,
/// signature, schema, then the signer's window at the artifact's signing time. `signed_at` is
/// that time for kinds whose document does not carry it (a product manifest: its bundle's
/// `created_at`); it is ignored for the others.
pub fn verify<A: Artifact>(
    trust: &TrustStore,
    doc: &[u8],
    envelope: &[u8],
    signed_at: Option<Timestamp>,
) -> Result<Verified<A>, VerifyError> {
    if A::STORED_CANONICAL {
        if doc.len() > A::MAX_BYTES {
            return Err(VerifyError::TooLarge {
                what: A::WHAT,
                limit: A::MAX_BYTES as u64,
            });
        }
        return verify_buffered(trust, PaeBuffer::from_bytes(A::KIND, doc), envelope);
    }
    verify_keeping(trust, doc, envelope, signed_at).map(|(v, _)| v)
}

/// [`verify`] for a kind not stored canonical, also returning the canonical bytes that were
/// signed (a license keeps them: bundle manifests reference their hash, tools write them).
pub(crate) fn verify_keeping<A: Artifact>(
    trust: &TrustStore,
    doc: &[u8],
    envelope: &[u8],
    signed_at: Option<Timestamp>,
) -> Result<(Verified<A>, Vec<u8>), VerifyError> {
    let checked = verify_document(trust, A::KIND, A::WHAT, doc, A::MAX_BYTES, envelope)?;
    typed(trust, checked, signed_at)
}

/// The typed value of a checked document, taken from the parsed value it holds (not from its
/// canonical bytes again), its schema and its signer's window.
fn typed<A: Artifact>(
    trust: &TrustStore,
    checked: Checked,
    signed_at: Option<Timestamp>,
) -> Result<(Verified<A>, Vec<u8>), VerifyError> {
    let Checked {
        value,
        canonical,
        signer,
    } = checked;
    let value = A::from_parsed(value)?;
    let v = finish(trust, value, &canonical, signer, signed_at)?;
    Ok((v, canonical))
}

/// [`verify_keeping`] of a document the caller parsed already (its size checked): the parse is
/// not repeated (a license is read once to learn its schema version).
pub(crate) fn verify_parsed_keeping<A: Artifact>(
    trust: &TrustStore,
    value: Value,
    envelope: &[u8],
) -> Result<(Verified<A>, Vec<u8>), VerifyError> {
    let env = Envelope::parse(envelope).map_err(VerifyError::Envelope)?;
    if env.kind != A::KIND {
        return Err(VerifyError::WrongKind {
            expected: A::KIND,
            found: env.kind,
        });
    }
    let signer = trust.signer(env.key_id, A::KIND.signer_role())?;
    let checked = check_parsed(&signer.key, (A::KIND, A::WHAT), value, env)?;
    typed(trust, checked, None)
}

/// [`verify`] for a kind stored in canonical form, over a document buffered behind its PAE
/// header as it streamed in: the signature is checked over the raw bytes before they are
/// parsed, then the bytes must be exactly the value's canonical form.
pub fn verify_buffered<A: Artifact>(
    trust: &TrustStore,
    buffer: PaeBuffer,
    envelope: &[u8],
) -> Result<Verified<A>, VerifyError> {
    let signer = verify_canonical_bytes(trust, A::KIND, A::WHAT, &buffer, A::MAX_BYTES, envelope)?;
    let doc = buffer.into_body();
    let value = A::from_canonical(&doc)?;
    if !serializes_to(&value, &doc) {
        return Err(VerifyError::schema(
            A::WHAT,
            "not stored in its canonical (RFC 8785) form",
        ));
    }
    finish(trust, value, &doc, signer, None)
}

fn finish<A: Artifact>(
    trust: &TrustStore,
    value: A,
    canonical: &[u8],
    signer: KeyId,
    signed_at: Option<Timestamp>,
) -> Result<Verified<A>, VerifyError> {
    let facts = value.validate()?;
    let at = A::signed_at(&facts).or(signed_at).ok_or_else(|| {
        VerifyError::schema(A::WHAT, "no signing time: its container must supply one")
    })?;
    trust.check_window(signer, at)?;
    Ok(Verified {
        value,
        facts,
        digest: canon::enc::sha256(canonical),
        signer,
    })
}

/// A document buffered behind its PAE header (see [`canon::sig::pae`]), so that its signature
/// is checked in place, without a second copy of a large document.
#[derive(Debug, Clone)]
pub struct PaeBuffer {
    kind: Kind,
    buf: Vec<u8>,
    body_start: usize,
    body_len: usize,
}

impl PaeBuffer {
    /// An empty buffer for a `kind` document of `body_len` bytes (its size is known up front,
    /// e.g. from an archive header, and checked against the kind's cap by the caller).
    pub fn new(kind: Kind, body_len: usize) -> PaeBuffer {
        let buf = canon::sig::pae_header(kind.payload_type(), body_len, body_len);
        PaeBuffer {
            kind,
            body_start: buf.len(),
            buf,
            body_len,
        }
    }

    /// A buffer holding `doc` (a copy).
    pub fn from_bytes(kind: Kind, doc: &[u8]) -> PaeBuffer {
        let mut b = PaeBuffer::new(kind, doc.len());
        b.extend(doc);
        b
    }

    /// Appends body bytes (never past the announced length).
    pub fn extend(&mut self, data: &[u8]) {
        let room = self.body_len - (self.buf.len() - self.body_start);
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// The document bytes received so far.
    pub fn body(&self) -> &[u8] {
        &self.buf[self.body_start..]
    }

    /// The document bytes, without the header (in place: no second copy).
    pub fn into_body(mut self) -> Vec<u8> {
        self.buf.drain(..self.body_start);
        self.buf
    }

    fn message(&self) -> Option<&[u8]> {
        (self.buf.len() - self.body_start == self.body_len).then_some(&self.buf[..])
    }
}

/// Verifies a JSON artifact of `kind` whose stored bytes must be its canonical form, checking the
/// signature over those raw bytes before anything parses them: a hostile document costs one
/// hash, never a parse. Returns the signing key; the caller parses and checks canonicality.
pub fn verify_canonical_bytes(
    trust: &TrustStore,
    kind: Kind,
    what: &'static str,
    doc: &PaeBuffer,
    max_doc: usize,
    envelope: &[u8],
) -> Result<KeyId, VerifyError> {
    if doc.body_len > max_doc {
        return Err(VerifyError::TooLarge {
            what,
            limit: max_doc as u64,
        });
    }
    let env = Envelope::parse(envelope).map_err(VerifyError::Envelope)?;
    if env.kind != kind || doc.kind != kind {
        return Err(VerifyError::WrongKind {
            expected: kind,
            found: env.kind,
        });
    }
    let signer = trust.signer(env.key_id, kind.signer_role())?;
    let message = doc
        .message()
        .ok_or_else(|| VerifyError::schema(what, "truncated"))?;
    if !signer.key.verify(message, &env.sig) {
        return Err(VerifyError::BadSignature {
            key_id: env.key_id,
            what,
        });
    }
    Ok(env.key_id)
}

/// Whether serializing `value` with serde_json gives exactly `bytes`, without buffering the
/// output. For types whose fields are declared in canonical (sorted) order and hold only
/// strings, booleans, integers up to 2^53 and such structs and lists, that output is the
/// RFC 8785 form, so this checks that `bytes` are canonical.
pub fn serializes_to<T: serde::Serialize>(value: &T, bytes: &[u8]) -> bool {
    struct Cmp<'a> {
        rest: &'a [u8],
        ok: bool,
    }
    impl std::io::Write for Cmp<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.ok && self.rest.starts_with(buf) {
                self.rest = &self.rest[buf.len()..];
            } else {
                self.ok = false;
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Cmp {
        rest: bytes,
        ok: true,
    };
    serde_json::to_writer(&mut c, value).is_ok() && c.ok && c.rest.is_empty()
}

/// A streaming check of a minisign prehashed (`ED`) signature: feed the file with
/// [`MinisignCheck::update`], then finish against a trust store or a single key.
pub struct MinisignCheck {
    sig: MinisignSig,
    hasher: canon::minisign::Prehash,
}

/// A verified minisign signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinisignVerified {
    /// The key number (Airlock key id) of the signer.
    pub key_id: KeyId,
    /// The trusted comment, authenticated by the global signature.
    pub trusted_comment: String,
}

impl MinisignVerified {
    /// The signing time its trusted comment states: exactly one `timestamp:N` field (Unix
    /// seconds, plain decimal digits). Anything else is refused: without it the key's window
    /// cannot be checked, and a retired key could go on signing files that pass.
    pub fn signed_at(&self) -> Result<Timestamp, VerifyError> {
        let bad = |m| {
            Err(VerifyError::Minisign(
                canon::minisign::MinisignError::Layout(m),
            ))
        };
        let mut found = self
            .trusted_comment
            .split('\t')
            .filter_map(|f| f.strip_prefix("timestamp:"));
        let (Some(t), None) = (found.next(), found.next()) else {
            return bad("the trusted comment must carry exactly one timestamp:N field");
        };
        if t.is_empty() || t.len() > 15 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return bad("the trusted comment's timestamp is not a whole number of seconds");
        }
        t.parse::<i64>()
            .map(Timestamp)
            .or_else(|_| bad("the trusted comment's timestamp is not a whole number of seconds"))
    }
}

impl MinisignCheck {
    /// Parses the signature file.
    pub fn new(signature_file: &[u8]) -> Result<MinisignCheck, VerifyError> {
        let sig = MinisignSig::parse(signature_file).map_err(VerifyError::Minisign)?;
        Ok(MinisignCheck {
            sig,
            hasher: canon::minisign::Prehash::new(),
        })
    }

    /// The key id the signature names.
    pub fn key_id(&self) -> KeyId {
        KeyId(self.sig.keynum)
    }

    /// Feeds file bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// Finishes against a trusted key holding `role` (the release role for bundles).
    /// The caller checks the key's window against the artifact's signing time.
    pub fn finish(self, trust: &TrustStore, role: Role) -> Result<MinisignVerified, VerifyError> {
        let key = trust.signer(self.key_id(), role)?.key.clone();
        self.finish_with_key(&key)
    }

    /// [`MinisignCheck::finish`], then the key's window at the signing time the trusted
    /// comment states ([`MinisignVerified::signed_at`], required).
    pub fn finish_in_window(
        self,
        trust: &TrustStore,
        role: Role,
    ) -> Result<MinisignVerified, VerifyError> {
        let ok = self.finish(trust, role)?;
        trust.check_window(ok.key_id, ok.signed_at()?)?;
        Ok(ok)
    }

    /// Finishes against one key (for example a stock minisign public key).
    pub fn finish_with_key(self, key: &PublicKey) -> Result<MinisignVerified, VerifyError> {
        if self.key_id() != key.key_id() {
            return Err(VerifyError::UnknownKey(self.key_id()));
        }
        self.check(key)
    }

    fn check(self, key: &PublicKey) -> Result<MinisignVerified, VerifyError> {
        let id = self.key_id();
        let digest = self.hasher.finalize();
        if !key.verify(&digest, &self.sig.signature) {
            return Err(VerifyError::BadSignature {
                key_id: id,
                what: "minisign signature",
            });
        }
        let global = MinisignSig::global_message(&self.sig.signature, &self.sig.trusted_comment);
        if !key.verify(&global, &self.sig.global_signature) {
            return Err(VerifyError::BadSignature {
                key_id: id,
                what: "minisign trusted comment",
            });
        }
        Ok(MinisignVerified {
            key_id: id,
            trusted_comment: self.sig.trusted_comment,
        })
    }
}

/// Verifies a whole file against a stock minisign public key (any key number).
pub fn verify_minisign_foreign(
    pubkey_file: &[u8],
    data: &[u8],
    signature_file: &[u8],
) -> Result<MinisignVerified, VerifyError> {
    let pk = canon::minisign::PublicKey::parse(pubkey_file).map_err(VerifyError::Minisign)?;
    let key = PublicKey::from_bytes(&pk.key)
        .map_err(|e| VerifyError::Trust(format!("minisign public key: {e}")))?;
    let mut check = MinisignCheck::new(signature_file)?;
    if check.sig.keynum != pk.keynum {
        return Err(VerifyError::UnknownKey(check.key_id()));
    }
    check.update(data);
    check.check(&key)
}
