//! The runtime's error type. Every variant names one failing check and has a stable `code()`
//! that scripts and the `--json` output rely on.

use crate::check::Check;
use canon::{KeyId, Kind, Role, Timestamp};
use std::fmt;

/// Why verification failed. Match on the variant; print it for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// An input is larger than its cap; nothing was parsed.
    TooLarge {
        /// Which input.
        what: &'static str,
        /// The cap in bytes.
        limit: u64,
    },
    /// A document is not strict JSON.
    Json {
        /// Which document.
        what: &'static str,
        /// The parser's error with its offset.
        error: canon::ParseError,
    },
    /// A detached signature envelope is malformed.
    Envelope(canon::sig::EnvelopeError),
    /// A minisign signature or key file is malformed.
    Minisign(canon::minisign::MinisignError),
    /// The envelope's payload type is for another artifact kind (cross-type substitution).
    WrongKind {
        /// The kind being verified.
        expected: Kind,
        /// The kind named by the envelope.
        found: Kind,
    },
    /// No trusted key has this key id.
    UnknownKey(KeyId),
    /// The key exists but does not hold the role this artifact needs.
    WrongRole {
        /// The signing key.
        key_id: KeyId,
        /// The role the artifact kind requires.
        needed: Role,
    },
    /// The trust file marks the key revoked: it verifies nothing.
    KeyRevoked(KeyId),
    /// The artifact's signing time is outside the key's validity window.
    KeyOutsideValidity {
        /// The signing key.
        key_id: KeyId,
        /// The artifact's signing time.
        at: Timestamp,
        /// Start of the key's window.
        not_before: Timestamp,
        /// End of the key's window.
        not_after: Timestamp,
    },
    /// The signature does not verify (`verify_strict`) under the named key.
    BadSignature {
        /// The key the signature claims.
        key_id: KeyId,
        /// What was signed.
        what: &'static str,
    },
    /// The signed document does not follow its schema.
    Schema {
        /// Which document.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The trust file is unusable (not signed by an acceptable root, older than one seen, ...).
    Trust(String),
}

impl VerifyError {
    /// A stable machine-readable code for this failure.
    pub fn code(&self) -> Check {
        match self {
            VerifyError::TooLarge { .. } => Check::InputTooLarge,
            VerifyError::Json { .. } => Check::JsonInvalid,
            VerifyError::Envelope(_) => Check::SignatureEnvelopeInvalid,
            VerifyError::Minisign(_) => Check::MinisignInvalid,
            VerifyError::WrongKind { .. } => Check::SignatureWrongKind,
            VerifyError::UnknownKey(_) => Check::KeyUnknown,
            VerifyError::WrongRole { .. } => Check::KeyWrongRole,
            VerifyError::KeyRevoked(_) => Check::KeyRevoked,
            VerifyError::KeyOutsideValidity { .. } => Check::KeyOutsideValidity,
            VerifyError::BadSignature { .. } => Check::SignatureInvalid,
            VerifyError::Schema { .. } => Check::SchemaInvalid,
            VerifyError::Trust(_) => Check::TrustInvalid,
        }
    }

    pub(crate) fn schema(what: &'static str, detail: impl Into<String>) -> VerifyError {
        VerifyError::Schema {
            what,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::TooLarge { what, limit } => write!(f, "{what} is larger than {limit} bytes"),
            VerifyError::Json { what, error } => write!(f, "{what}: {error}"),
            VerifyError::Envelope(e) => write!(f, "{e}"),
            VerifyError::Minisign(e) => write!(f, "{e}"),
            VerifyError::WrongKind { expected, found } => write!(
                f,
                "signature is for a {} but a {} was expected (payload type {:?})",
                kind_name(*found),
                kind_name(*expected),
                found.payload_type()
            ),
            VerifyError::UnknownKey(id) => write!(f, "signing key {id} is not in the trust store"),
            VerifyError::WrongRole { key_id, needed } => {
                write!(f, "key {key_id} does not hold the {needed} role needed for this artifact")
            }
            VerifyError::KeyRevoked(id) => write!(f, "key {id} is revoked in the trust file"),
            VerifyError::KeyOutsideValidity { key_id, at, not_before, not_after } => write!(
                f,
                "key {key_id} is valid from {not_before} to {not_after}, but the artifact was signed at {at}"
            ),
            VerifyError::BadSignature { key_id, what } => {
                write!(f, "{what}: signature does not verify under key {key_id}")
            }
            VerifyError::Schema { what, detail } => write!(f, "{what}: {detail}"),
            VerifyError::Trust(m) => write!(f, "trust file: {m}"),
        }
    }
}

impl std::error::Error for VerifyError {}

impl From<format::SchemaError> for VerifyError {
    fn from(e: format::SchemaError) -> VerifyError {
        VerifyError::Schema {
            what: e.what,
            detail: e.detail,
        }
    }
}

impl From<format::ParseError> for VerifyError {
    fn from(e: format::ParseError) -> VerifyError {
        match e {
            format::ParseError::TooLarge(what, limit) => VerifyError::TooLarge { what, limit },
            format::ParseError::Json(what, error) => VerifyError::Json { what, error },
            format::ParseError::Schema(e) => e.into(),
        }
    }
}

/// A short human name for an artifact kind.
pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::License => "license",
        Kind::ProductManifest => "product manifest",
        Kind::BundleManifest => "bundle manifest",
        Kind::Revocations => "revocation list",
        Kind::Trust => "trust file",
        Kind::ActivationRequest => "activation request",
        Kind::Activation => "activation",
        Kind::Deactivation => "deactivation receipt",
        Kind::InstallToken => "install token",
        Kind::AuditAnchor => "audit anchor",
        Kind::Build => "build record",
        Kind::NodeLease => "node lease",
        Kind::SeatLog => "seat log",
    }
}

/// Why the product facade (`product::check`) could not judge at all (trust, license or state): the check and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The failing check, when it is one of the runtime's.
    pub check: Option<Check>,
    /// What failed.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    /// A capped read of `path` that failed.
    pub(crate) fn read(path: &std::path::Path, e: &crate::io::ReadError) -> Refusal {
        Refusal {
            check: Some(match e {
                crate::io::ReadError::TooLarge { .. } => Check::InputTooLarge,
                crate::io::ReadError::Io(_) => Check::IoError,
            }),
            message: format!("{}: {e}", path.display()),
        }
    }
}
