//! # format — every signed Airlock artifact, one type each, both ways
//!
//! Each artifact of docs/FORMAT.md has exactly one Rust type here, used by the tools that write
//! it (factory, packager, signing) and by the runtime that reads it. What a verifier needs to
//! know about a kind is declared once, on its [`Artifact`] impl: its [`Kind`] (so its payload
//! type and the role that signs it), its size cap, whether it is stored in canonical form, its
//! schema rules ([`Artifact::validate`]) and its signing time ([`Artifact::signed_at`]). The
//! runtime's `signed::verify::<A>` is then one generic function for every kind.
//!
//! Layering: `canon` is byte-level (canonical JSON, PAE, envelopes, key ids) and keeps
//! canonical member order unforgeable; this crate is schema-level (which members, which
//! values); neither does I/O, cryptography or reads the clock.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod activation;
pub mod build;
pub mod floating;
pub mod identity;
pub mod license;
pub mod manifest;
pub mod refusal;
pub mod revocation;
pub mod seatlog;
pub mod text;
pub mod trust;
pub mod value;

pub use activation::{
    Activation, ActivationRequest, Deactivation, InstallToken, LeaseTimes, SignedFile,
};
pub use build::{BuildRecord, KeyGrant};
pub use canon::{Kind, Timestamp};
pub use license::{Customer, License, LicenseV2, Tier, Times};
pub use manifest::{BundleManifest, Component, Member, ProductManifest};
pub use revocation::{ActivationEpoch, Revocation, RevocationList, RevokedActivation};
pub use trust::{KeyEntry, KeyStatus, TrustBody};

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

/// Largest integer a schema field may hold (2^53 − 1): every JSON consumer reads it exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A document that breaks its schema: which document, and which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// The artifact's human name ([`Artifact::WHAT`]).
    pub what: &'static str,
    /// The rule that failed, naming the member.
    pub detail: String,
}

impl SchemaError {
    /// A schema error for `what`.
    pub fn new(what: &'static str, detail: impl Into<String>) -> SchemaError {
        SchemaError {
            what,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.detail)
    }
}

impl std::error::Error for SchemaError {}

/// Why [`Artifact::parse`] refused a document (each names the artifact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Larger than its cap (in bytes); nothing was parsed.
    TooLarge(&'static str, u64),
    /// Not strict JSON (the parser's error carries the offset).
    Json(&'static str, canon::ParseError),
    /// Valid JSON that breaks the schema.
    Schema(SchemaError),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLarge(what, limit) => write!(f, "{what} is larger than {limit} bytes"),
            ParseError::Json(what, error) => write!(f, "{what}: {error}"),
            ParseError::Schema(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ParseError {}

impl From<SchemaError> for ParseError {
    fn from(e: SchemaError) -> ParseError {
        ParseError::Schema(e)
    }
}

/// One signed artifact kind. Everything a reader or a writer must agree on is declared here,
/// once.
pub trait Artifact: Serialize + DeserializeOwned + Sized {
    /// The kind: its payload type (bound into every signature) and the only role that signs it.
    const KIND: Kind;
    /// The human name used in every message about it.
    const WHAT: &'static str;
    /// The largest document accepted, in bytes, checked before anything is parsed.
    const MAX_BYTES: usize;
    /// Whether the stored bytes must be the canonical form itself (the bundle manifest, whose
    /// signature is checked over the raw bytes before they are parsed), rather than any strict
    /// JSON whose canonical form was signed.
    const STORED_CANONICAL: bool = false;

    /// What the schema check yields beyond the value (e.g. a license's parsed times).
    type Facts: Copy + fmt::Debug;

    /// Checks every schema rule beyond the JSON shape.
    fn validate(&self) -> Result<Self::Facts, SchemaError>;

    /// The instant the artifact was signed, at which its signer's validity window is judged;
    /// `None` when the document does not say and its container does (a product manifest is
    /// signed when its bundle is created).
    fn signed_at(facts: &Self::Facts) -> Option<Timestamp>;

    /// The canonical (RFC 8785) bytes of this value: what is signed and what is written.
    fn to_canonical(&self) -> Vec<u8> {
        json_value(self).to_canonical()
    }

    /// The canonical form, pretty-printed (members in canonical order, two-space indent, final
    /// newline): how tools write artifacts meant to be read by people too.
    fn to_pretty(&self) -> Vec<u8> {
        json_value(self).to_pretty()
    }

    /// The value from canonical bytes whose JSON shape is not yet known (no schema check).
    fn from_canonical(canonical: &[u8]) -> Result<Self, SchemaError> {
        serde_json::from_slice(canonical).map_err(|e| SchemaError::new(Self::WHAT, e.to_string()))
    }

    /// The value from a parsed document whose JSON shape is not yet known (no schema check):
    /// what [`Artifact::from_canonical`] gives for its canonical bytes, without writing and
    /// reading them again ([`value::from_value`]).
    fn from_parsed(value: canon::Value) -> Result<Self, SchemaError> {
        value::from_value(value).map_err(|e| SchemaError::new(Self::WHAT, e.to_string()))
    }

    /// Parses an unsigned document strictly (size cap, strict JSON, shape, schema): what a
    /// writing tool does with its input. Returns the value, its facts and its canonical bytes.
    fn parse(doc: &[u8]) -> Result<(Self, Self::Facts, Vec<u8>), ParseError> {
        if doc.len() > Self::MAX_BYTES {
            return Err(ParseError::TooLarge(Self::WHAT, Self::MAX_BYTES as u64));
        }
        let canonical =
            canon::canonicalize(doc).map_err(|error| ParseError::Json(Self::WHAT, error))?;
        let value = Self::from_canonical(&canonical)?;
        let facts = value.validate()?;
        Ok((value, facts, canonical))
    }
}

/// A value of one of this crate's types as a canonical JSON value (plain structs of strings,
/// booleans, integers up to 2^53 and lists: serde_json writes strict JSON for them).
pub(crate) fn json_value<T: serde::Serialize>(v: &T) -> canon::Value {
    let raw = serde_json::to_vec(v).expect("artifact types serialize");
    canon::parse(&raw).expect("serde_json writes strict JSON")
}

/// Parses a timestamp member or names the one that is malformed.
pub fn ts(what: &'static str, field: &str, s: &str) -> Result<Timestamp, SchemaError> {
    Timestamp::parse(s).ok_or_else(|| {
        SchemaError::new(
            what,
            format!("{field} {s:?} is not a YYYY-MM-DDTHH:MM:SSZ timestamp"),
        )
    })
}

/// Checks an identifier: 1–128 characters of `A-Z a-z 0-9 . _ : -`.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// Whether every item of `list` is distinct.
pub(crate) fn unique(list: &[String]) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(list.len());
    list.iter().all(|s| seen.insert(s.as_str()))
}
