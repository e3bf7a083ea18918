//! Key ids, key roles, artifact kinds, DSSE pre-authentication encoding and the detached
//! signature envelope. Formats only: signing and verification live in other crates.

use crate::enc;
use crate::json::{self, Value};
use std::fmt;

/// The 8-byte key id: the first 8 bytes of SHA-256 over the raw 32-byte public key.
/// Derived, never chosen, so it cannot be spoofed; it is only a lookup hint.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

/// A key name (FORMAT.md §2): 1–64 bytes of `A-Z a-z 0-9 . _ -`, not starting with `.`
/// (it becomes a file name on the vendor's side). Trust files are held to the same rule.
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl KeyId {
    /// Derives the key id of a raw Ed25519 public key.
    pub fn of(public_key: &[u8; 32]) -> KeyId {
        let h = enc::sha256(public_key);
        let mut id = [0u8; 8];
        id.copy_from_slice(&h[..8]);
        KeyId(id)
    }

    /// Parses 16 lowercase hex characters.
    pub fn parse(s: &str) -> Option<KeyId> {
        enc::unhex::<8>(s).map(KeyId)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&enc::hex(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// What a key may sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Signs trust files.
    Root,
    /// Signs licenses and revocation lists.
    License,
    /// Signs product manifests, bundle manifests and bundles.
    Release,
    /// Signs activation leases (a service that activates never holds a license key).
    Activation,
    /// A customer machine's own key (made by `airlock-agent`): signs activation requests and
    /// deactivation receipts. Never trusted by a trust file; verified against the public key
    /// the document carries (proof of possession).
    Instance,
}

impl Role {
    /// The role's name in key and trust files.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::License => "license",
            Role::Release => "release",
            Role::Activation => "activation",
            Role::Instance => "instance",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "root" => Some(Role::Root),
            "license" => Some(Role::License),
            "release" => Some(Role::Release),
            "activation" => Some(Role::Activation),
            "instance" => Some(Role::Instance),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of signed artifact. Each has its own payload type, so a signature over one kind
/// never verifies as another (domain separation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `license.json`, schema version 3.
    License,
    /// `product-manifest.json`.
    ProductManifest,
    /// `bundle-manifest.json`.
    BundleManifest,
    /// `revocations.json`.
    Revocations,
    /// `trust.json`.
    Trust,
    /// `activation-request.json`: a machine asks for a seat (signed by its instance key).
    ActivationRequest,
    /// `activation.json`: a signed lease binding a license to one machine.
    Activation,
    /// `deactivation.json`: a machine's receipt that it gave its seat back (instance key).
    Deactivation,
    /// An install token: the vendor's one-time, short-lived permission to activate.
    InstallToken,
    /// The vendor registry's audit head, signed when a revocation list is published (an
    /// insider who cuts the log's tail cannot also re-sign its anchor).
    AuditAnchor,
    /// A build record: an encrypted bundle's content key wrapped to the vendor's key-encryption
    /// key, with the facts the vendor's registry needs to release it (signed by the packager).
    Build,
    /// A node lease: a seat server's grant of one floating seat to a node (signed by the
    /// server's instance key, which its pool lease names).
    NodeLease,
    /// A seat server's lease log, exported for the vendor (signed by the server's instance
    /// key).
    SeatLog,
}

impl Kind {
    /// Every kind, for iteration in tests and tools.
    pub const ALL: [Kind; 13] = [
        Kind::License,
        Kind::ProductManifest,
        Kind::BundleManifest,
        Kind::Revocations,
        Kind::Trust,
        Kind::ActivationRequest,
        Kind::Activation,
        Kind::Deactivation,
        Kind::InstallToken,
        Kind::AuditAnchor,
        Kind::Build,
        Kind::NodeLease,
        Kind::SeatLog,
    ];

    /// The payload type bound into the signature by [`pae`].
    pub fn payload_type(self) -> &'static str {
        match self {
            Kind::License => "application/vnd.airlock.license+json; version=3",
            Kind::ProductManifest => "application/vnd.airlock.product-manifest+json; version=1",
            Kind::BundleManifest => "application/vnd.airlock.bundle-manifest+json; version=1",
            Kind::Revocations => "application/vnd.airlock.revocations+json; version=1",
            Kind::Trust => "application/vnd.airlock.trust+json; version=1",
            Kind::ActivationRequest => "application/vnd.airlock.activation-request+json; version=1",
            Kind::Activation => "application/vnd.airlock.activation+json; version=1",
            Kind::Deactivation => "application/vnd.airlock.deactivation+json; version=1",
            Kind::InstallToken => "application/vnd.airlock.install-token+json; version=1",
            Kind::AuditAnchor => "application/vnd.airlock.audit-anchor+json; version=1",
            Kind::Build => "application/vnd.airlock.build+json; version=1",
            Kind::NodeLease => "application/vnd.airlock.node-lease+json; version=1",
            Kind::SeatLog => "application/vnd.airlock.seat-log+json; version=1",
        }
    }

    /// The kind with this exact payload type.
    pub fn from_payload_type(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.payload_type() == s)
    }

    /// The only role whose keys may sign this kind.
    pub fn signer_role(self) -> Role {
        match self {
            Kind::License | Kind::Revocations | Kind::AuditAnchor => Role::License,
            Kind::ProductManifest | Kind::BundleManifest | Kind::Build => Role::Release,
            Kind::Trust => Role::Root,
            Kind::Activation | Kind::InstallToken => Role::Activation,
            Kind::ActivationRequest | Kind::Deactivation | Kind::NodeLease | Kind::SeatLog => {
                Role::Instance
            }
        }
    }
}

/// DSSE pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal.
/// This is the exact message an Ed25519 signature of an Airlock JSON artifact covers.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut m = pae_header(payload_type, body.len(), body.len());
    m.extend_from_slice(body);
    m
}

/// The PAE bytes before the body, for a body of `body_len` bytes, in a vector with room for
/// `reserve` more bytes: a reader can append the body as it streams in and verify in place.
pub fn pae_header(payload_type: &str, body_len: usize, reserve: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + payload_type.len() + reserve);
    m.extend_from_slice(b"DSSEv1 ");
    m.extend_from_slice(payload_type.len().to_string().as_bytes());
    m.push(b' ');
    m.extend_from_slice(payload_type.as_bytes());
    m.push(b' ');
    m.extend_from_slice(body_len.to_string().as_bytes());
    m.push(b' ');
    m
}

/// Largest envelope file accepted, in bytes.
pub const MAX_ENVELOPE_BYTES: usize = 4096;

/// A detached signature envelope (`*.sig` next to a JSON artifact).
///
/// On disk it is the canonical JSON object
/// `{"alg":"ed25519","key_id":"<16 hex>","payload_type":"<type>","sig":"<base64 of 64 bytes>"}`
/// followed by one newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Key id of the signing key (a hint; the signature must verify under that key).
    pub key_id: KeyId,
    /// The artifact kind, from the payload type.
    pub kind: Kind,
    /// The raw Ed25519 signature.
    pub sig: [u8; 64],
}

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Larger than [`MAX_ENVELOPE_BYTES`].
    TooLarge,
    /// Not strict JSON.
    Json(json::ParseError),
    /// Not an object with exactly the four members.
    Shape(&'static str),
    /// `alg` is not `ed25519`.
    Algorithm(String),
    /// `key_id` is not 16 lowercase hex characters.
    KeyId,
    /// `payload_type` names no Airlock artifact kind.
    PayloadType(String),
    /// `sig` is not canonical base64 of exactly 64 bytes.
    SignatureEncoding,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::TooLarge => write!(
                f,
                "signature envelope larger than {MAX_ENVELOPE_BYTES} bytes"
            ),
            EnvelopeError::Json(e) => write!(f, "signature envelope: {e}"),
            EnvelopeError::Shape(m) => write!(f, "signature envelope: {m}"),
            EnvelopeError::Algorithm(a) => write!(
                f,
                "signature envelope: unsupported alg {a:?} (only ed25519)"
            ),
            EnvelopeError::KeyId => {
                f.write_str("signature envelope: key_id is not 16 lowercase hex characters")
            }
            EnvelopeError::PayloadType(t) => {
                write!(f, "signature envelope: unknown payload_type {t:?}")
            }
            EnvelopeError::SignatureEncoding => {
                f.write_str("signature envelope: sig is not base64 of exactly 64 bytes")
            }
        }
    }
}

impl std::error::Error for EnvelopeError {}

impl Envelope {
    /// Parses an envelope strictly: size cap, strict JSON, exactly the four members.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge);
        }
        let v = json::parse(bytes).map_err(EnvelopeError::Json)?;
        let Value::Object(members) = &v else {
            return Err(EnvelopeError::Shape("not a JSON object"));
        };
        let names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        if names != ["alg", "key_id", "payload_type", "sig"] {
            return Err(EnvelopeError::Shape(
                "members must be exactly alg, key_id, payload_type, sig",
            ));
        }
        let s = |name| {
            v.get(name)
                .and_then(Value::as_str)
                .ok_or(EnvelopeError::Shape("members must be strings"))
        };
        let alg = s("alg")?;
        if alg != "ed25519" {
            return Err(EnvelopeError::Algorithm(alg.to_string()));
        }
        let key_id = KeyId::parse(s("key_id")?).ok_or(EnvelopeError::KeyId)?;
        let pt = s("payload_type")?;
        let kind = Kind::from_payload_type(pt)
            .ok_or_else(|| EnvelopeError::PayloadType(pt.to_string()))?;
        let sig = enc::unb64_exact::<64>(s("sig")?).ok_or(EnvelopeError::SignatureEncoding)?;
        Ok(Envelope { key_id, kind, sig })
    }

    /// The file form: canonical JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let v = Value::object(vec![
            ("alg".into(), Value::String("ed25519".into())),
            ("key_id".into(), Value::String(self.key_id.to_string())),
            (
                "payload_type".into(),
                Value::String(self.kind.payload_type().into()),
            ),
            ("sig".into(), Value::String(enc::b64(&self.sig))),
        ])
        .expect("distinct member names");
        let mut out = v.to_canonical();
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_dsse_spec_example() {
        // DSSE protocol example: type "http://example.com/HelloWorld", body "hello world".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn payload_types_are_distinct_and_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_payload_type(k.payload_type()), Some(k));
        }
        let mut pts: Vec<_> = Kind::ALL.iter().map(|k| k.payload_type()).collect();
        pts.sort();
        pts.dedup();
        assert_eq!(pts.len(), Kind::ALL.len());
        assert_eq!(
            Kind::from_payload_type("application/vnd.airlock.license+json; version=2"),
            None
        );
    }

    #[test]
    fn key_id_is_derived() {
        let id = KeyId::of(&[0u8; 32]);
        // SHA-256 of 32 zero bytes starts 66687aadf862bd77.
        assert_eq!(id.to_string(), "66687aadf862bd77");
        assert_eq!(KeyId::parse("66687aadf862bd77"), Some(id));
        assert_eq!(KeyId::parse("66687AADF862BD77"), None);
        assert_eq!(KeyId::parse("66687aadf862bd7"), None);
    }

    #[test]
    fn envelope_round_trip_and_strictness() {
        let e = Envelope {
            key_id: KeyId([1; 8]),
            kind: Kind::License,
            sig: [7; 64],
        };
        let bytes = e.to_bytes();
        assert_eq!(Envelope::parse(&bytes).unwrap(), e);
        let text = String::from_utf8(bytes).unwrap();
        let extra = text.replacen('{', "{\"x\":1,", 1);
        assert!(matches!(
            Envelope::parse(extra.as_bytes()),
            Err(EnvelopeError::Shape(_))
        ));
        let alg = text.replace("ed25519", "ed448");
        assert_eq!(
            Envelope::parse(alg.as_bytes()),
            Err(EnvelopeError::Algorithm("ed448".into()))
        );
        let short = text.replace(&enc::b64(&[7; 64]), &enc::b64(&[7; 63]));
        assert_eq!(
            Envelope::parse(short.as_bytes()),
            Err(EnvelopeError::SignatureEncoding)
        );
        let long = text.replace(&enc::b64(&[7; 64]), &enc::b64(&[7; 65]));
        assert_eq!(
            Envelope::parse(long.as_bytes()),
            Err(EnvelopeError::SignatureEncoding)
        );
        let pt = text.replace("version=3", "version=9");
        assert!(matches!(
            Envelope::parse(pt.as_bytes()),
            Err(EnvelopeError::PayloadType(_))
        ));
        let dup = text.replacen('{', "{\"alg\":\"ed25519\",", 1);
        assert!(matches!(
            Envelope::parse(dup.as_bytes()),
            Err(EnvelopeError::Json(_))
        ));
        assert_eq!(
            Envelope::parse(&vec![b' '; 5000]),
            Err(EnvelopeError::TooLarge)
        );
    }
}
