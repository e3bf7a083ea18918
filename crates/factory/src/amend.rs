//! Amending a license mid-term: seats, features, limits, expiry or grace days change without
//! a new lineage. The amendment is a signed successor (`renewal_of` the old license, the same
//! lineage, sequence + 1) that takes effect now, so the lineage's seats and activations carry
//! over and every machine's next lease renewal brings the new terms.

use crate::catalog::Catalog;
use crate::registry::Record;
use anyhow::{bail, Context, Result};
use canon::Timestamp;
use runtime::license::License;
use std::collections::BTreeMap;

/// What an amendment changes (everything else is the old license's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// New device limit (seats), 1 to 10,000.
    pub device_limit: Option<u64>,
    /// Features to add (of the product).
    pub add_features: Vec<String>,
    /// Features to remove.
    pub remove_features: Vec<String>,
    /// Limits to set (0 = unlimited).
    pub limits: BTreeMap<String, u64>,
    /// New expiry.
    pub expires: Option<Timestamp>,
    /// New grace days.
    pub grace_days: Option<u64>,
}

impl Changes {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// Builds the amended successor of `old` (checked against the catalog's product), effective
/// from `now` (or from the old license's start, when that is later).
pub fn amendment(catalog: &Catalog, old: &Record, c: &Changes, now: Timestamp) -> Result<License> {
    let id = &old.license_id;
    if c.is_empty() {
        bail!("nothing to amend: give --device-limit, --feature, --remove-feature, --limit, --expires or --grace-days");
    }
    if old.revoked_at.is_some() {
        bail!("license {id} is revoked; a revoked license cannot be amended");
    }
    if let Some(by) = &old.renewed_by {
        bail!("license {id} was renewed by {by}; amend the latest license of the lineage");
    }
    if old.suspended_at.is_some() {
        bail!("license {id} is suspended; resume it first (`factory resume`), then amend it");
    }
    let prev: License = serde_json::from_slice(&old.document).context("stored license document")?;
    let product = catalog.product(&prev.product)?;
    let (features, limits) = product.apply(
        &prev.product,
        prev.features.clone(),
        prev.limits.clone(),
        crate::catalog::TermChanges {
            add: &c.add_features,
            remove: &c.remove_features,
            limits: &c.limits,
            device_limit: c.device_limit,
        },
    )?;
    let not_before = now.max(old.not_before);
    let expires = c.expires.unwrap_or(old.expires_at);
    if expires <= not_before {
        bail!("the amended license would end at {expires}, before it begins at {not_before}");
    }
    let l = License {
        license_id: format!("lic-{}", crate::issue::random_hex(8)),
        license_key: crate::issue::new_license_key(),
        issued_at: now.to_string(),
        not_before: not_before.to_string(),
        expires_at: expires.to_string(),
        grace_days: c.grace_days.unwrap_or(prev.grace_days),
        features,
        limits,
        renewal_of: Some(id.clone()),
        sequence: old.sequence + 1,
        ..prev
    };
    if let Err(e) = runtime::Artifact::validate(&l) {
        bail!("the amendment cannot make a valid license: {e}");
    }
    Ok(l)
}
