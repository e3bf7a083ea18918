//! Product and bundle manifests (docs/FORMAT.md §13–§14): their verification. The schemas are
//! `format::manifest`'s, re-exported here. Both are signed by release keys.

use crate::error::VerifyError;
use crate::signed::{verify, verify_buffered, PaeBuffer, Verified};
use crate::trust::TrustStore;
use canon::{enc, Timestamp};
pub use format::manifest::*;
use format::Artifact;

/// A verified product manifest.
pub type VerifiedProductManifest = Verified<ProductManifest>;

impl Verified<ProductManifest> {
    /// The manifest.
    pub fn manifest(&self) -> &ProductManifest {
        self.value()
    }
    /// Lowercase hex SHA-256 of its canonical form (what bundle manifests reference).
    pub fn sha256(&self) -> String {
        enc::hex(&self.digest())
    }
}

/// A verified bundle manifest.
pub type VerifiedBundleManifest = Verified<BundleManifest>;

impl Verified<BundleManifest> {
    /// The manifest.
    pub fn manifest(&self) -> &BundleManifest {
        self.value()
    }
    /// Its creation time (when the packager signed it).
    pub fn created_at(&self) -> Timestamp {
        self.facts()
    }
}

/// Verifies a product manifest and its envelope. `signed_at` is when the packager signed it
/// (the bundle's `created_at`): the key's window is judged then, not at the release date, so a
/// key made today can package last week's release.
pub fn verify_product_manifest(
    trust: &TrustStore,
    doc: &[u8],
    sig: &[u8],
    signed_at: Timestamp,
) -> Result<VerifiedProductManifest, VerifyError> {
    verify(trust, doc, sig, Some(signed_at))
}

/// Verifies a bundle manifest and its envelope. The stored bytes must be the manifest's
/// canonical form: the signature is checked over them before they are parsed.
pub fn verify_bundle_manifest(
    trust: &TrustStore,
    doc: &[u8],
    sig: &[u8],
) -> Result<VerifiedBundleManifest, VerifyError> {
    verify(trust, doc, sig, None)
}

/// [`verify_bundle_manifest`] over a manifest buffered behind its PAE header as it streamed in.
pub fn verify_bundle_manifest_buffered(
    trust: &TrustStore,
    buffer: PaeBuffer,
    sig: &[u8],
) -> Result<VerifiedBundleManifest, VerifyError> {
    verify_buffered(trust, buffer, sig)
}

/// Parses a product manifest without a signature (the packager's input), strictly; returns it
/// with its canonical bytes.
pub fn parse_product_manifest(doc: &[u8]) -> Result<(ProductManifest, Vec<u8>), VerifyError> {
    let (m, _, canonical) = ProductManifest::parse(doc)?;
    Ok((m, canonical))
}
