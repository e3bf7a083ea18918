//! Verification of signed artifacts and bundles, and revocation import, through the C ABI.

use crate::{
    anchors, arg, clock, guarded, local, opt_arg, put_string, read, rejected, AirlockError,
    AirlockResult, Out,
};
use runtime::license::{verify_license, LegacyPolicy, DEFAULT_WARN_DAYS};
use runtime::session::Session;
use runtime::TrustStore;
use serde_json::json;
use std::ffi::c_char;
use std::path::{Path, PathBuf};

/// A refusal from any error of the runtime: its check code, or `io`.
fn refusal(what: &str, e: &(dyn std::error::Error + 'static)) -> (AirlockResult, AirlockError) {
    match runtime::check_of(e) {
        Some(c) => rejected(c.as_str(), &format!("{what}: {e}")),
        None => local("io", &format!("{what}: {e}")),
    }
}

fn trust_of(path: &str, root: &str) -> Out<TrustStore> {
    let bytes = read(Path::new(path), runtime::trust::MAX_TRUST_BYTES)?;
    let a = anchors(Some(root))?.expect("a root was given");
    TrustStore::from_trust_file(&bytes, &a).map_err(|e| refusal("trust", &e))
}

fn time_arg(s: Option<&str>, what: &str) -> Out<canon::Timestamp> {
    s.and_then(canon::Timestamp::parse).ok_or_else(|| {
        (
            AirlockResult::AirlockError,
            AirlockError::new(
                "usage",
                &format!("{what} must be YYYY-MM-DDTHH:MM:SSZ"),
                400,
            ),
        )
    })
}

/// Verifies one signed artifact against a trust file anchored by `root` (base64 public key,
/// key id or .pub contents), without a state directory: `kind` is `trust` (the trust file
/// itself), `license` (at `at`), `revocations`, `product-manifest` (`context`: its signing
/// time), `bundle-manifest`, or `bundle` (at `at`; `context`: the runtime version to judge
/// `min_runtime_version` by, null for this one). `sig_path` may be null where the artifact
/// has none (a schema-2 license; a bundle's is `bundle + ".sig"`). On success `*out_json` is
/// `{"valid": true, ...}` (a license adds `state`), freed with `airlock_string_free`.
///
/// # Safety
/// String arguments are NUL-terminated or null where allowed; `out_json` and `err` are valid
/// out-pointers (`err` may be null).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn airlock_verify(
    kind: *const c_char,
    trust_path: *const c_char,
    root: *const c_char,
    doc_path: *const c_char,
    sig_path: *const c_char,
    at: i64,
    context: *const c_char,
    out_json: *mut *mut c_char,
    err: *mut *mut AirlockError,
) -> AirlockResult {
    guarded(err, || {
        let kind = arg(kind, "kind")?;
        let trust = trust_of(arg(trust_path, "trust_path")?, arg(root, "root")?)?;
        let doc = PathBuf::from(arg(doc_path, "doc_path")?);
        let sig = opt_arg(sig_path, "sig_path")?.map(PathBuf::from);
        let context = opt_arg(context, "context")?;
        let at = canon::Timestamp(at);
        let env = |p: Option<&PathBuf>| -> Out<Vec<u8>> {
            let p = p.ok_or_else(|| local("usage", "sig_path is needed for this kind"))?;
            read(p, canon::sig::MAX_ENVELOPE_BYTES)
        };
        let v = match kind {
            "trust" => json!({"valid": true, "version": trust.version()}),
            "license" => {
                let d = read(&doc, runtime::license::MAX_LICENSE_BYTES)?;
                let s = sig.as_ref().map(|p| read(p, canon::sig::MAX_ENVELOPE_BYTES)).transpose()?;
                let l = verify_license(&trust, &d, s.as_deref(), &LegacyPolicy::default(), at)
                    .map_err(|e| refusal("license", &e))?;
                let state = runtime::license::date_state(l.times(), l.license().grace_days, at, DEFAULT_WARN_DAYS);
                json!({"valid": true, "state": state.as_str(), "license_id": l.license().license_id})
            }
            "revocations" => {
                let d = read(&doc, runtime::revocation::MAX_REVOCATIONS_BYTES)?;
                runtime::revocation::verify_revocations(&trust, &d, &env(sig.as_ref())?)
                    .map_err(|e| refusal("revocations", &e))?;
                json!({"valid": true})
            }
            "product-manifest" => {
                let d = read(&doc, runtime::manifest::MAX_PRODUCT_MANIFEST_BYTES)?;
                let signed = time_arg(context, "context (the signing time)")?;
                runtime::manifest::verify_product_manifest(&trust, &d, &env(sig.as_ref())?, signed)
                    .map_err(|e| refusal("product manifest", &e))?;
                json!({"valid": true})
            }
            "bundle-manifest" => {
                let d = read(&doc, runtime::manifest::MAX_BUNDLE_MANIFEST_BYTES)?;
                runtime::manifest::verify_bundle_manifest(&trust, &d, &env(sig.as_ref())?)
                    .map_err(|e| refusal("bundle manifest", &e))?;
                json!({"valid": true})
            }
            "bundle" => {
                let sig = sig.unwrap_or_else(|| with_sig(&doc));
                let version = context.unwrap_or(env!("CARGO_PKG_VERSION"));
                let opts = runtime::bundle::Options::new(&trust, at, version);
                let f = std::fs::File::open(&doc)
                    .map_err(|e| local("io", &format!("{}: {e}", doc.display())))?;
                let v = runtime::bundle::verify_bundle(f, &read(&sig, canon::sig::MAX_ENVELOPE_BYTES)?, &opts)
                    .map_err(|e| refusal("bundle", &e))?;
                verdict_json(&v)
            }
            other => return Err(local("usage", &format!("kind {other:?} is not one of trust, license, revocations, product-manifest, bundle-manifest, bundle"))),
        };
        put_string(out_json, &v.to_string())
    })
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

/// Verifies a delivery bundle as `runtime-verify` does with a state directory: the trust file
/// (anchored by the state, or by `root` at a first use), the minisign signature (`sig_path`,
/// null: `bundle + ".sig"`), every member, the license, the state's revocations and the
/// bundle's sequence; the bundle's revocation list is accepted into the state; with
/// `extract_dir` (a new directory) the payload is extracted there, moved into place only once
/// everything verified (a sealed payload stays sealed). `*out_json` describes the bundle.
///
/// # Safety
/// String arguments are NUL-terminated or null where allowed; `out_json` and `err` are valid
/// out-pointers (`err` may be null).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn airlock_verify_bundle(
    bundle_path: *const c_char,
    sig_path: *const c_char,
    trust_path: *const c_char,
    root: *const c_char,
    state_dir: *const c_char,
    extract_dir: *const c_char,
    now: i64,
    out_json: *mut *mut c_char,
    err: *mut *mut AirlockError,
) -> AirlockResult {
    guarded(err, || {
        let bundle = PathBuf::from(arg(bundle_path, "bundle_path")?);
        let sig = opt_arg(sig_path, "sig_path")?.map_or_else(|| with_sig(&bundle), PathBuf::from);
        let trust = read(
            Path::new(arg(trust_path, "trust_path")?),
            runtime::trust::MAX_TRUST_BYTES,
        )?;
        let state = Path::new(arg(state_dir, "state_dir")?);
        let extract = opt_arg(extract_dir, "extract_dir")?.map(Path::new);
        let a = anchors(opt_arg(root, "root")?)?;
        let mut session = Session::begin(Some(state), clock(now)?, &[&trust], a.as_ref())
            .map_err(|e| refusal("trust", &e))?;
        let known = session.known().clone();
        let opts = runtime::bundle::Options::new(
            session.trust(),
            session.now(),
            env!("CARGO_PKG_VERSION"),
        )
        .with_known(&known)
        .with_extract(extract)
        .with_sealed(runtime::bundle::Sealed::Keep);
        let f = std::fs::File::open(&bundle)
            .map_err(|e| local("io", &format!("{}: {e}", bundle.display())))?;
        let sig_bytes = read(&sig, canon::sig::MAX_ENVELOPE_BYTES)?;
        let mut v = runtime::bundle::verify_bundle(f, &sig_bytes, &opts)
            .map_err(|e| refusal("bundle", &e))?;
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
        put_string(out_json, &verdict_json(&v).to_string())
    })
}

/// Imports a revocation list (`list_path`, `sig_path`; null: `revocations.sig` beside it)
/// into the state directory: verified, never older than one accepted before; the licenses
/// and activations it names are refused from then on.
///
/// # Safety
/// String arguments are NUL-terminated or null where allowed; `err` is a valid out-pointer or
/// null.
#[no_mangle]
pub unsafe extern "C" fn airlock_import_revocations(
    list_path: *const c_char,
    sig_path: *const c_char,
    trust_path: *const c_char,
    root: *const c_char,
    state_dir: *const c_char,
    now: i64,
    err: *mut *mut AirlockError,
) -> AirlockResult {
    guarded(err, || {
        let list = PathBuf::from(arg(list_path, "list_path")?);
        let sig = opt_arg(sig_path, "sig_path")?
            .map_or_else(|| list.with_file_name("revocations.sig"), PathBuf::from);
        let trust = read(
            Path::new(arg(trust_path, "trust_path")?),
            runtime::trust::MAX_TRUST_BYTES,
        )?;
        let state = Path::new(arg(state_dir, "state_dir")?);
        let a = anchors(opt_arg(root, "root")?)?;
        let mut session = Session::begin(Some(state), clock(now)?, &[&trust], a.as_ref())
            .map_err(|e| refusal("trust", &e))?;
        let doc = read(&list, runtime::revocation::MAX_REVOCATIONS_BYTES)?;
        let r = runtime::revocation::verify_revocations(
            session.trust(),
            &doc,
            &read(&sig, canon::sig::MAX_ENVELOPE_BYTES)?,
        )
        .map_err(|e| refusal("revocations", &e))?;
        session
            .accept_revocations(&r)
            .map_err(|e| refusal("revocations", &e))?;
        session.commit().map_err(|e| refusal("state", &e))
    })
}
