//! What a bundle is built from, read and checked before anything is written (the license, the
//! product manifest, the revocation list, coherence), and its sequence in the packager's
//! state.

use crate::bundle::Request;
use anyhow::{bail, Context, Result};
use canon::{Kind, Role, Timestamp, Value};
use runtime::license::License;
use runtime::manifest::ProductManifest;
use runtime::policy::Release;
use runtime::Artifact;
use std::fs;
use std::path::Path;

pub(crate) fn read_small(path: &Path, cap: usize) -> Result<Vec<u8>> {
    match runtime::io::read_capped(path, cap as u64) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => bail!("{}: no such file", path.display()),
        Err(e) => bail!("{}: {e}", path.display()),
    }
}

pub(crate) fn load_state(path: &Path) -> Result<Vec<(String, Value)>> {
    match fs::read(path) {
        Ok(b) => {
            match canon::parse(&b).with_context(|| format!("sequence state {}", path.display()))? {
                Value::Object(m) => Ok(m.into_vec()),
                _ => bail!("sequence state {}: not a JSON object", path.display()),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("sequence state {}", path.display())),
    }
}

/// Checks that the license, product manifest and request fit together, with the runtime's
/// own rule ([`runtime::policy::coherence`]): everything the runtime would refuse for these
/// signed facts is refused here, before anything is signed.
pub fn coherence(
    license: &License,
    pm: &ProductManifest,
    airgap: bool,
    created_at: Timestamp,
) -> Result<()> {
    let times = license.validate()?;
    runtime::policy::coherence(license, times, &Release::new(pm, airgap, created_at))
        .map_err(runtime::bundle::BundleError::from)?;
    Ok(())
}

/// What a bundle is built from, read and checked before anything is written: the license
/// (schema 3, verified under the trust when given), the product manifest (coherent with the
/// license, signed), the revocation list (never one that revokes the license).
pub(crate) struct Inputs {
    pub(crate) lic_json: Vec<u8>,
    pub(crate) lic_sig: Vec<u8>,
    pub(crate) license: License,
    pub(crate) lic_canonical: Vec<u8>,
    pub(crate) pm: ProductManifest,
    pub(crate) pm_canonical: Vec<u8>,
    pub(crate) pm_pretty: Vec<u8>,
    pub(crate) pm_sig: Vec<u8>,
    pub(crate) revocations: Option<(Vec<u8>, Vec<u8>)>,
}

pub(crate) fn inputs(req: &Request<'_>) -> Result<Inputs> {
    if req.key.role != Role::Release {
        bail!(
            "this is a {} key; bundles are signed with a release key",
            req.key.role
        );
    }
    if !(2..=9).contains(&req.level) {
        bail!(
            "compression level must be 2 to 9 (level 1 makes incompressible data slow to verify)"
        );
    }
    // License.
    let (lic_json, lic_sig, lic_path) = clikit::input::read_license(req.license_dir, None)?;
    let lic_sig = lic_sig.with_context(|| {
        format!(
            "{}: no license.sig beside it (a bundle carries the signed license)",
            lic_path.display()
        )
    })?;
    // Bundles carry schema-3 licenses: the manifest references the canonical hash of the
    // document itself, which for a schema-2 license is not the upgraded view the runtime checks.
    match canon::parse(&lic_json)
        .context("license.json")?
        .get("schema_version")
    {
        Some(Value::Number(n)) if *n == 3.0 => {}
        other => bail!(
            "license.json has schema_version {}; bundles carry schema-3 licenses only: migrate it first with `factory migrate`",
            other.map_or("(none)".into(), |v| String::from_utf8_lossy(&v.to_canonical()).into_owned())
        ),
    }
    let license: License = match req.trust {
        Some(t) => runtime::license::verify_license(
            t,
            &lic_json,
            Some(&lic_sig),
            &Default::default(),
            req.created_at,
        )
        .context("license")?
        .license()
        .clone(),
        None => {
            canon::Envelope::parse(&lic_sig).context("license.sig")?;
            let canonical = canon::canonicalize(&lic_json).context("license.json")?;
            serde_json::from_slice(&canonical).context("license.json (schema 3 expected)")?
        }
    };

    let lic_canonical = license.to_canonical();
    // Product manifest.
    let pm_input = fs::read(req.product_manifest)
        .with_context(|| format!("{}", req.product_manifest.display()))?;
    let (pm, pm_canonical) = runtime::manifest::parse_product_manifest(&pm_input)
        .with_context(|| format!("product manifest {}", req.product_manifest.display()))?;
    coherence(&license, &pm, req.airgap, req.created_at)?;
    let pm_sig = req
        .key
        .sign_document(Kind::ProductManifest, &pm_canonical)?
        .to_bytes();
    let pm_pretty = canon::parse(&pm_canonical)?.to_pretty();
    // Revocations.
    let revocations = match req.revocations {
        Some(dir) => {
            let doc = read_small(
                &dir.join("revocations.json"),
                runtime::revocation::MAX_REVOCATIONS_BYTES,
            )?;
            let sig = read_small(&dir.join("revocations.sig"), canon::sig::MAX_ENVELOPE_BYTES)?;
            let revoked = match req.trust {
                Some(t) => runtime::revocation::verify_revocations(t, &doc, &sig)
                    .context("revocation list")?
                    .reason(&license.license_id)
                    .is_some(),
                // Unverified, but a list that names this license is refused all the same.
                None => lists_license(&doc, &license.license_id)?,
            };
            if revoked {
                bail!("license {} is revoked in the revocation list; the runtime would refuse this bundle", license.license_id);
            }
            Some((doc, sig))
        }
        None => None,
    };
    Ok(Inputs {
        lic_json,
        lic_sig,
        license,
        lic_canonical,
        pm,
        pm_canonical,
        pm_pretty,
        pm_sig,
        revocations,
    })
}

/// The bundle's sequence in its product and customer channel, from the packager's state.
pub(crate) struct Sequence {
    pub(crate) state: Vec<(String, Value)>,
    pub(crate) key: String,
    pub(crate) stored: Option<u64>,
    pub(crate) sequence: u64,
}

pub(crate) fn next_sequence(req: &Request<'_>, license: &License) -> Result<Sequence> {
    let key = runtime::state::channel(&license.product, &license.customer.id);
    let state = load_state(req.state)?;
    let stored = state
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| match v {
            Value::Number(n) => Some(*n as u64),
            _ => None,
        });
    let sequence = req.sequence.unwrap_or_else(|| stored.map_or(1, |s| s + 1));
    if sequence == 0 || sequence > runtime::MAX_SAFE_INTEGER {
        bail!("--sequence must be from 1 to 2^53-1");
    }
    if let (Some(asked), Some(last)) = (req.sequence, stored) {
        // The same sequence is a rebuild (a customer may reinstall it); a lower one is refused
        // by every customer who installed the last as a rollback.
        if asked < last {
            bail!(
                "--sequence {asked} is below the last bundle for {} / {} ({last}, in {}): every customer who installed it would refuse this one as a rollback; omit --sequence to use {}",
                license.product,
                license.customer.id,
                req.state.display(),
                last + 1
            );
        }
    }
    Ok(Sequence {
        state,
        key,
        stored,
        sequence,
    })
}

/// Whether an (unverified) revocation list names `license_id`.
pub(crate) fn lists_license(doc: &[u8], license_id: &str) -> Result<bool> {
    let v = canon::parse(doc).context("revocations.json")?;
    let Some(Value::Array(entries)) = v.get("revoked") else {
        bail!("revocations.json: no revoked list");
    };
    Ok(entries
        .iter()
        .any(|e| e.get("license_id").and_then(Value::as_str) == Some(license_id)))
}
