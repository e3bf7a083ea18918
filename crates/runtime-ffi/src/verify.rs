//! Verification of signed artifacts and bundles, and revocation import (the safe API; the C
//! functions in `lib.rs` wrap these).

use crate::api::{anchors, clock, local, read, refusal, usage, Out};
use runtime::license::{verify_license, LegacyPolicy, DEFAULT_WARN_DAYS};
use runtime::session::Session;
use runtime::TrustStore;
use serde_json::json;
use std::path::{Path, PathBuf};

fn trust_of(path: &str, root: &str) -> Out<TrustStore> {
    let bytes = read(Path::new(path), runtime::trust::MAX_TRUST_BYTES)?;
    let a = anchors(Some(root))?.ok_or_else(|| usage("root is needed"))?;
    TrustStore::from_trust_file(&bytes, &a).map_err(|e| refusal("trust", &e))
}

fn time_arg(s: Option<&str>, what: &str) -> Out<canon::Timestamp> {
    s.and_then(canon::Timestamp::parse)
        .ok_or_else(|| usage(&format!("{what} must be YYYY-MM-DDTHH:MM:SSZ")))
}

fn envelope(p: Option<&Path>) -> Out<Vec<u8>> {
    let p = p.ok_or_else(|| usage("sig_path is needed for this kind"))?;
    read(p, canon::sig::MAX_ENVELOPE_BYTES)
}

/// One signed artifact against a trust file anchored by `root`, without a state directory
/// (docs/SDK.md, "Verifying files"): `{"valid": true, ...}` (a license adds its `state` at
/// `at`).
pub fn verify(
    kind: &str,
    (trust_path, root): (&str, &str),
    (doc, sig): (&str, Option<&str>),
    at: i64,
    context: Option<&str>,
) -> Out<String> {
    let trust = trust_of(trust_path, root)?;
    let doc = Path::new(doc);
    let sig = sig.map(Path::new);
    let at = canon::Timestamp(at);
    let v = match kind {
        "trust" => json!({"valid": true, "version": trust.version()}),
        "license" => {
            let d = read(doc, runtime::license::MAX_LICENSE_BYTES)?;
            let s = sig
                .map(|p| read(p, canon::sig::MAX_ENVELOPE_BYTES))
                .transpose()?;
            let l = verify_license(&trust, &d, s.as_deref(), &LegacyPolicy::default(), at)
                .map_err(|e| refusal("license", &e))?;
            let state = runtime::license::date_state(
                l.times(),
                l.license().grace_days,
                at,
                DEFAULT_WARN_DAYS,
            );
            json!({"valid": true, "state": state.as_str(), "license_id": l.license().license_id})
        }
        "revocations" => {
            let d = read(doc, runtime::revocation::MAX_REVOCATIONS_BYTES)?;
            runtime::revocation::verify_revocations(&trust, &d, &envelope(sig)?)
                .map_err(|e| refusal("revocations", &e))?;
            json!({"valid": true})
        }
        "product-manifest" => {
            let d = read(doc, runtime::manifest::MAX_PRODUCT_MANIFEST_BYTES)?;
            let signed = time_arg(context, "context (the signing time)")?;
            runtime::manifest::verify_product_manifest(&trust, &d, &envelope(sig)?, signed)
                .map_err(|e| refusal("product manifest", &e))?;
            json!({"valid": true})
        }
        "bundle-manifest" => {
            let d = read(doc, runtime::manifest::MAX_BUNDLE_MANIFEST_BYTES)?;
            runtime::manifest::verify_bundle_manifest(&trust, &d, &envelope(sig)?)
                .map_err(|e| refusal("bundle manifest", &e))?;
            json!({"valid": true})
        }
        "bundle" => {
            let sig = sig.map_or_else(|| with_sig(doc), Path::to_path_buf);
            let version = context.unwrap_or(env!("CARGO_PKG_VERSION"));
            let opts = runtime::bundle::Options::new(&trust, at, version);
            let f = std::fs::File::open(doc)
                .map_err(|e| local("io", &format!("{}: {e}", doc.display())))?;
            let s = read(&sig, canon::sig::MAX_ENVELOPE_BYTES)?;
            let v = runtime::bundle::verify_bundle(f, &s, &opts)
                .map_err(|e| refusal("bundle", &e))?;
            verdict_json(&v)
        }
        other => {
            return Err(usage(&format!(
                "kind {other:?} is not one of trust, license, revocations, product-manifest, bundle-manifest, bundle"
            )))
        }
    };
    Ok(v.to_string())
}

fn with_sig(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

fn verdict_json(v: &runtime::bundle::Verdict) -> serde_json::Value {
    json!({"valid": true, "bundle_id": v.bundle_id, "product": v.product, "version": v.version,
           "edition": v.edition, "channel": v.channel, "license_id": v.license_id,
           "license_state": v.license_state.as_str(), "sequence": v.sequence,
           "sealed": v.sealed, "warnings": v.warnings,
           "extracted_to": v.extracted_to.as_ref().map(|p| p.display().to_string())})
}

/// A delivery bundle as `runtime-verify` checks it with a state directory (docs/SDK.md),
/// extracted into `extract` (a new directory) only once everything verified.
pub fn verify_bundle(
    (bundle, sig): (&str, Option<&str>),
    (trust_path, root): (&str, Option<&str>),
    (state, extract): (&str, Option<&str>),
    now: i64,
) -> Out<String> {
    let bundle = Path::new(bundle);
    let sig = sig.map_or_else(|| with_sig(bundle), PathBuf::from);
    let trust = read(Path::new(trust_path), runtime::trust::MAX_TRUST_BYTES)?;
    let a = anchors(root)?;
    let mut session = Session::begin(Some(Path::new(state)), clock(now)?, &[&trust], a.as_ref())
        .map_err(|e| refusal("trust", &e))?;
    let known = session.known().clone();
    let opts =
        runtime::bundle::Options::new(session.trust(), session.now(), env!("CARGO_PKG_VERSION"))
            .with_known(&known)
            .with_extract(extract.map(Path::new))
            .with_sealed(runtime::bundle::Sealed::Keep);
    let f = std::fs::File::open(bundle)
        .map_err(|e| local("io", &format!("{}: {e}", bundle.display())))?;
    let sig_bytes = read(&sig, canon::sig::MAX_ENVELOPE_BYTES)?;
    let mut v =
        runtime::bundle::verify_bundle(f, &sig_bytes, &opts).map_err(|e| refusal("bundle", &e))?;
    if let Some(r) = &v.revocations {
        session
            .accept_revocations(r)
            .map_err(|e| refusal("revocations", &e))?;
    }
    session
        .record_bundle(&v.product, &v.customer.0, v.sequence)
        .map_err(|e| refusal("state", &e))?;
    session.commit().map_err(|e| refusal("state", &e))?;
    v.install().map_err(|e| refusal("extract", &e))?;
    Ok(verdict_json(&v).to_string())
}

/// Imports a revocation list into the state directory (docs/SDK.md).
pub fn import_revocations(
    (list, sig): (&str, Option<&str>),
    (trust_path, root): (&str, Option<&str>),
    state: &str,
    now: i64,
) -> Out<()> {
    let list = Path::new(list);
    let sig = sig.map_or_else(|| list.with_file_name("revocations.sig"), PathBuf::from);
    let trust = read(Path::new(trust_path), runtime::trust::MAX_TRUST_BYTES)?;
    let a = anchors(root)?;
    let mut session = Session::begin(Some(Path::new(state)), clock(now)?, &[&trust], a.as_ref())
        .map_err(|e| refusal("trust", &e))?;
    let doc = read(list, runtime::revocation::MAX_REVOCATIONS_BYTES)?;
    let s = read(&sig, canon::sig::MAX_ENVELOPE_BYTES)?;
    let r = runtime::revocation::verify_revocations(session.trust(), &doc, &s)
        .map_err(|e| refusal("revocations", &e))?;
    session
        .accept_revocations(&r)
        .map_err(|e| refusal("revocations", &e))?;
    session.commit().map_err(|e| refusal("state", &e))
}
