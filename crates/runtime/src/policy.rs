//! The coherence rule: does this release fit this license? One function, called by the
//! packager before it signs anything and by the runtime after every signature verified, so
//! the two can never disagree (a test feeds both the same cases).
//!
//! What is judged here is fixed by the signed artifacts alone (license, product manifest,
//! the bundle's creation time and air-gap flag) plus, on the customer's side, this runtime's
//! edition and version. The license's state at "now" is judged apart, by the caller that owns
//! the clock ([`crate::license::date_state`]).

use crate::check::{Check, Failed};
use crate::license::{License, Times};
use crate::manifest::{parse_version, ProductManifest};
use canon::Timestamp;

/// The license feature an air-gap bundle needs.
pub const AIRGAP_FEATURE: &str = "airgap_bundle";

/// The release being judged against a license.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Release<'a> {
    /// The product manifest (signed by the vendor, or about to be).
    pub product: &'a ProductManifest,
    /// Whether the bundle is an air-gap bundle.
    pub airgap: bool,
    /// When the bundle was (or is being) made.
    pub created_at: Timestamp,
    /// The edition of the runtime that will install it (`None` on the vendor's side).
    pub runtime_edition: Option<&'a str>,
    /// The version of the runtime that will install it (`None` on the vendor's side).
    pub runtime_version: Option<&'a str>,
}

impl<'a> Release<'a> {
    /// A release judged on the vendor's side: no runtime known yet.
    pub fn new(product: &'a ProductManifest, airgap: bool, created_at: Timestamp) -> Self {
        Release {
            product,
            airgap,
            created_at,
            runtime_edition: None,
            runtime_version: None,
        }
    }

    /// The same release, judged by a runtime of this edition (if it has one) and version.
    pub fn for_runtime(mut self, edition: Option<&'a str>, version: &'a str) -> Self {
        self.runtime_edition = edition;
        self.runtime_version = Some(version);
        self
    }
}

fn refuse(check: Check, detail: String) -> Result<(), Failed> {
    Err(Failed::new(check, detail))
}

/// Whether a release of `product` in `edition` needing `requires_features` is one `license`
/// entitles its holder to: the product, the edition, the features (the rules of
/// [`coherence`] that do not depend on a bundle or a runtime). The vendor's registry asks it
/// before it releases a build's content key to a machine (docs/FORMAT.md §19).
pub fn entitles(
    license: &License,
    product: &str,
    edition: &str,
    requires_features: &[String],
) -> Result<(), Failed> {
    product_and_edition(license, product, edition)?;
    features(license, requires_features)
}

fn product_and_edition(license: &License, product: &str, edition: &str) -> Result<(), Failed> {
    if product != license.product {
        return refuse(
            Check::WrongProduct,
            format!(
                "the release is {product}, the license is for {}",
                license.product
            ),
        );
    }
    if !license.editions.iter().any(|e| e == edition) {
        return refuse(
            Check::EditionNotLicensed,
            format!(
                "edition {edition} is not allowed by the {} license (allowed: {})",
                license.tier,
                license.editions.join(", ")
            ),
        );
    }
    Ok(())
}

fn features(license: &License, requires: &[String]) -> Result<(), Failed> {
    let missing: Vec<&str> = requires
        .iter()
        .filter(|f| !license.features.iter().any(|x| x == *f))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return refuse(
            Check::FeatureNotLicensed,
            format!(
                "the release needs unlicensed features: {}",
                missing.join(", ")
            ),
        );
    }
    Ok(())
}

/// Checks that a release fits a license, in a fixed order (the first failing check is the
/// one reported): product, edition allowed, runtime edition, features, air gap, runtime
/// version, and the bundle made inside the license's validity window.
pub fn coherence(license: &License, times: Times, r: &Release<'_>) -> Result<(), Failed> {
    let p = r.product;
    let has = |f: &str| license.features.iter().any(|x| x == f);
    product_and_edition(license, &p.product, &p.edition)?;
    if let Some(e) = r.runtime_edition {
        if e != p.edition {
            return refuse(
                Check::WrongEdition,
                format!(
                    "this runtime is the {e} edition, the bundle is {}",
                    p.edition
                ),
            );
        }
    }
    features(license, &p.requires_features)?;
    if r.airgap && !has(AIRGAP_FEATURE) {
        return refuse(
            Check::AirgapNotLicensed,
            format!("an air-gap bundle needs the {AIRGAP_FEATURE} feature"),
        );
    }
    if let Some(v) = r.runtime_version {
        match (parse_version(&p.min_runtime_version), parse_version(v)) {
            (Some(min), Some(have)) if have >= min => {}
            _ => {
                return refuse(
                    Check::RuntimeTooOld,
                    format!(
                        "the release needs runtime {} or later, this is {v}",
                        p.min_runtime_version
                    ),
                )
            }
        }
    }
    if r.created_at < times.not_before || r.created_at > times.expires_at {
        return refuse(
            Check::ManifestOutsideLicenseWindow,
            format!(
                "the bundle was created at {}, outside the license's {} .. {}",
                r.created_at, times.not_before, times.expires_at
            ),
        );
    }
    Ok(())
}
