//! The business checks, once the archive is read: license, manifests, runtime edition, key
//! roles and windows, revocations and sequence ([`crate::policy::coherence`] for the rules the
//! packager shares), in a fixed order.

use super::*;

impl TarReader<'_> {
    pub(super) fn coherence(&self, opts: &Options<'_>) -> Result<Verdict, BundleError> {
        let bm = self
            .manifest
            .as_ref()
            .ok_or_else(|| BundleError::Archive("no bundle manifest".into()))?;
        let m = bm.manifest();
        let get = |p: &str| self.kept.get(p).map(Vec::as_slice).unwrap_or_default();
        let co = |check: Check, detail: String| BundleError::Coherence { check, detail };
        let mut warnings = Vec::new();

        let lic: VerifiedLicense = verify_license(
            opts.trust,
            get("license.json"),
            Some(get("license.sig")),
            &opts.legacy,
            opts.now,
        )
        .map_err(BundleError::License)?;
        if lic.is_legacy() {
            warnings.push("the bundled license is a deprecated schema-2 license".into());
        }
        let l = lic.license();
        if l.license_id != m.license_id || lic.sha256() != m.license_sha256 {
            return Err(co(
                Check::LicenseMismatch,
                format!(
                    "the manifest names license {} ({}), the bundle holds {} ({})",
                    m.license_id,
                    m.license_sha256,
                    l.license_id,
                    lic.sha256()
                ),
            ));
        }
        if l.customer.id != m.customer.id {
            return Err(co(
                Check::CustomerMismatch,
                format!(
                    "the manifest is for customer {}, the license for {}",
                    m.customer.id, l.customer.id
                ),
            ));
        }
        let pm = verify_product_manifest(
            opts.trust,
            get("manifests/product-manifest.json"),
            get("manifests/product-manifest.sig"),
            bm.created_at(),
        )
        .map_err(BundleError::Manifest)?;
        let p = pm.manifest();
        if pm.sha256() != m.product_manifest_sha256
            || p.product != m.product
            || p.version != m.version
        {
            return Err(co(
                Check::ProductManifestMismatch,
                format!(
                    "the bundle manifest names {} {} ({}), the product manifest is {} {} ({})",
                    m.product,
                    m.version,
                    m.product_manifest_sha256,
                    p.product,
                    p.version,
                    pm.sha256()
                ),
            ));
        }
        let t = lic.times();
        let release = Release::new(p, m.airgap, bm.created_at())
            .for_runtime(opts.edition, opts.runtime_version);
        policy::coherence(l, t, &release)?;
        let standing = Standing::at(t, l.grace_days, opts.now, opts.warn_days);
        if !standing.usable() {
            return Err(BundleError::LicenseState(
                standing.state,
                standing.describe(),
            ));
        }
        if matches!(standing.state, State::Grace | State::ExpiringSoon) {
            warnings.push(format!("license {}", standing.describe()));
        }
        // Signed times bound the clock from below (a clock set back before the vendor signed).
        let state_err = BundleError::State;
        check_signed_time(opts.now, bm.created_at(), "the bundle's created_at")
            .map_err(state_err)?;
        check_signed_time(opts.now, t.issued_at, "the license's issued_at").map_err(state_err)?;
        let known = opts.known;
        if let Some(why) = known.and_then(|k| k.revoked.get(&l.license_id)) {
            return Err(BundleError::Revoked(format!(
                "{} was revoked by a revocation list this runtime already accepted: {why}",
                l.license_id
            )));
        }
        let mut revocations = None;
        if self.kept.contains_key("revocations.json") {
            let r = verify_revocations(opts.trust, get("revocations.json"), get("revocations.sig"))
                .map_err(BundleError::Manifest)?;
            check_revocation_order(known.and_then(|k| k.revocations.as_ref()), &r)
                .map_err(state_err)?;
            check_signed_time(opts.now, r.issued_at(), "the revocation list's issued_at")
                .map_err(state_err)?;
            if let Some(why) = r.reason(&l.license_id) {
                return Err(BundleError::Revoked(format!(
                    "{} is listed in revocation list #{}: {why}",
                    l.license_id,
                    r.sequence()
                )));
            }
            revocations = Some(r);
        }
        if let Some(seen) = known.and_then(|k| k.bundle_sequence(&m.product, &m.customer.id)) {
            if m.sequence < seen {
                return Err(BundleError::State(StateError::Rollback {
                    what: "bundle sequence",
                    found: m.sequence,
                    seen,
                }));
            }
        }
        checksums_match(get("CHECKSUMS.txt"), m)?;
        Ok(Verdict {
            bundle_id: m.bundle_id.clone(),
            product: p.product.clone(),
            version: p.version.clone(),
            edition: p.edition.clone(),
            channel: p.channel().to_string(),
            images: p.images.clone(),
            customer: (l.customer.id.clone(), l.customer.name.clone()),
            license_id: l.license_id.clone(),
            license_state: standing.state,
            sequence: m.sequence,
            created_at: bm.created_at(),
            members: self.index,
            payload_bytes: self.payload_bytes,
            sealed: m.encryption.is_some(),
            opened: self.key.is_some(),
            revocations_sequence: revocations.as_ref().map(Revocations::sequence),
            revocations,
            signed_by: bm.signer(),
            warnings,
            extracted_to: None,
            staged: None,
        })
    }
}

/// The payload's CHECKSUMS.txt lists exactly the payload members of the signed manifest, with
/// their hashes (what `sha256sum -c` checks after extraction is what was verified).
fn checksums_match(text: &[u8], m: &crate::manifest::BundleManifest) -> Result<(), BundleError> {
    let co = |check: Check, detail: String| BundleError::Coherence { check, detail };
    let sums =
        canon::checksums::parse(text).map_err(|e| co(Check::ChecksumsMismatch, e.to_string()))?;
    let payload: HashMap<&str, &str> = m
        .members
        .iter()
        .filter(|x| x.path.starts_with("payload/"))
        .map(|x| (x.path.as_str(), x.sha256.as_str()))
        .collect();
    if sums.len() != payload.len() {
        return Err(co(
            Check::ChecksumsMismatch,
            format!(
                "CHECKSUMS.txt lists {} files, the payload has {}",
                sums.len(),
                payload.len()
            ),
        ));
    }
    // Names in CHECKSUMS.txt are unique (its parser refuses duplicates), so equal counts
    // and every entry found means the same set.
    for e in &sums {
        if payload.get(e.name.as_str()) != Some(&enc::hex(&e.sha256).as_str()) {
            return Err(co(
                Check::ChecksumsMismatch,
                format!(
                    "CHECKSUMS.txt entry {} does not match the signed manifest",
                    e.name
                ),
            ));
        }
    }
    Ok(())
}
