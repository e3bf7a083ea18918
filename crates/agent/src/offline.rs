//! The machine's side carried by hand: `airlock-agent id`, `request`, `install`, `status` and
//! `deactivate`; leases go through the runtime before they are installed (`install_lease`, also
//! the online path's).

use crate::cli::*;
use anyhow::{bail, Context, Result};
use canon::{enc, Kind, Timestamp, Value};
use clikit::input::{read_capped, read_optional};
use clikit::report::{n, print_json, s};
use runtime::activation::{
    self, Activation, ActivationRequest, Binding, Deactivation, LEASE_FILE, LEASE_SIG,
};
use runtime::fingerprint::{self, Sources};
use runtime::license::License;
use runtime::session::{Clock, Session};
use runtime::{Artifact, TrustStore};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) fn id_cmd(product: &str, state: Option<&Path>, json: bool) -> Result<ExitCode> {
    check_product(product)?;
    let fp = fingerprint_of(product, state)?;
    if json {
        print_json(&clikit::report::valid(
            "command",
            &"id",
            vec![
                ("product", s(product)),
                ("fingerprint", s(&fp.value)),
                ("source", s(fp.source)),
            ],
        )?);
    } else {
        println!("{} (product {product}, from {})", fp.value, fp.source);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn request_cmd(
    license_dir: &Path,
    state: &Path,
    out: &Path,
    (label, builds, pool): (&str, &[String], bool),
    force: bool,
    json: bool,
) -> Result<ExitCode> {
    let (doc, _, lic_path) = clikit::input::read_license(license_dir, None)?;
    let (license, _, _) = License::parse(&doc)
        .map_err(anyhow::Error::new)
        .with_context(|| format!("{}", lic_path.display()))?;
    if out.exists() && !force {
        bail!(
            "{} exists; refusing to overwrite (pass --force, or choose another --out)",
            out.display()
        );
    }
    let mut f = crate::online::For::license(&license);
    f.builds = builds.to_vec();
    f.pool = pool;
    let (req, bytes) = crate::online::fresh_request(state, &f, label)?;
    let dir = activation::installed_dir(state, &license.product);
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    signing::fsutil::write_atomic(&dir.join(REQUEST_FILE), &bytes, 0o600, true)
        .with_context(|| format!("{}", dir.display()))?;
    signing::fsutil::write_atomic(out, &bytes, 0o644, true)
        .with_context(|| format!("{}", out.display()))?;
    if json {
        print_json(&clikit::report::valid(
            "out",
            &out.display(),
            vec![
                ("request_id", s(&req.request_id)),
                ("license_id", s(&req.license_id)),
                ("product", s(&req.product)),
                ("fingerprint", s(&req.fingerprint)),
                ("fingerprint_source", s(&req.fingerprint_source)),
                ("builds", Value::Array(req.builds.iter().map(s).collect())),
                (
                    "environment",
                    req.environment.as_deref().map_or(Value::Null, s),
                ),
                (
                    "components",
                    Value::Array(req.components.keys().map(s).collect()),
                ),
            ],
        )?);
    } else {
        println!(
            "wrote activation request {} for license {} (product {}, fingerprint {} from {})",
            req.request_id, req.license_id, req.product, req.fingerprint, req.fingerprint_source
        );
        println!(
            "  {}\ncarry it to the vendor; when the vendor sends back its activation directory: airlock-agent install ACTIVATION_DIR --trust trust.json --state {}",
            out.display(),
            state.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The lease in `dir` (json and signature bytes), parsed without verification.
pub(crate) fn read_lease(dir: &Path) -> Result<(Activation, Vec<u8>, Vec<u8>)> {
    let json = dir.join(LEASE_FILE);
    let doc = read_capped(&json, activation::MAX_ACTIVATION_BYTES as u64)?;
    let sig = read_optional(&dir.join(LEASE_SIG), canon::sig::MAX_ENVELOPE_BYTES as u64)?
        .with_context(|| {
            format!(
                "{}: its signature activation.sig is missing",
                json.display()
            )
        })?;
    let (a, _, _) = Activation::parse(&doc)
        .map_err(runtime::VerifyError::from)
        .with_context(|| format!("{}", json.display()))?;
    Ok((a, doc, sig))
}

pub(crate) fn install_cmd(
    dir: &Path,
    trust: &[PathBuf],
    roots: &[String],
    state: &Path,
    json: bool,
) -> Result<ExitCode> {
    let (lease, doc, sig) = read_lease(dir)?;
    let (a, described) = install_lease(&lease, &doc, &sig, trust, roots, state)
        .with_context(|| format!("{}", dir.join(LEASE_FILE).display()))?;
    let target = activation::installed_dir(state, &a.product);
    if json {
        print_json(&clikit::report::valid(
            "dir",
            &dir.display(),
            vec![
                ("activation_id", s(&a.activation_id)),
                ("license_id", s(&a.license_id)),
                ("product", s(&a.product)),
                ("sequence", n(a.sequence)),
                ("not_after", s(&a.not_after)),
                ("installed", s(target.display())),
            ],
        )?);
    } else {
        println!("installed {described}");
        println!("  {}", target.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Verifies a lease for this machine with the runtime and installs it (never an older one,
/// never another machine's or lineage's). Returns it and its description.
pub(crate) fn install_lease(
    lease: &Activation,
    doc: &[u8],
    sig: &[u8],
    trust: &[PathBuf],
    roots: &[String],
    state: &Path,
) -> Result<(Activation, String)> {
    let mut session = session(trust, roots, state)?;
    let key = instance_key(state, false)?;
    let mine = enc::b64(&key.public_key());
    let fp = fingerprint_of(&lease.product, Some(state))?;
    let target = activation::installed_dir(state, &lease.product);
    // The lineage it must be for: the installed lease's, else the pending request's.
    let installed = read_lease(&target).ok().map(|(a, _, _)| a);
    let pending = read_optional(&target.join(REQUEST_FILE), 64 * 1024)?
        .and_then(|b| runtime::activation::verify_instance_signed::<ActivationRequest>(&b).ok())
        .map(|(r, _, _)| r);
    let lineage = match (&installed, &pending) {
        (Some(a), _) => a.lineage_id.clone(),
        (None, Some(r)) => r.lineage_id.clone(),
        (None, None) => bail!(
            "no activation request was made on this machine for product {} (run `airlock-agent request` first)",
            lease.product
        ),
    };
    let binding = Binding {
        product: &lease.product,
        lineage_id: &lineage,
        fingerprint: &fp.value,
        instance_key: Some(&mine),
        components: None,
    };
    let verified = activation::verify_lease(
        session.trust(),
        doc,
        sig,
        &binding,
        session.known(),
        session.now(),
    )?;
    if let Some(a) = &installed {
        if verified.value().sequence < a.sequence {
            return Err(runtime::activation::ActivationError::Rollback {
                found: verified.value().sequence,
                seen: a.sequence,
            }
            .into());
        }
    }
    std::fs::create_dir_all(&target).with_context(|| format!("{}", target.display()))?;
    let same =
        |name: &str, bytes: &[u8]| std::fs::read(target.join(name)).is_ok_and(|b| b == bytes);
    if !(same(LEASE_FILE, doc) && same(LEASE_SIG, sig)) {
        signing::fsutil::write_atomic(&target.join(LEASE_SIG), sig, 0o644, true)
            .with_context(|| format!("{}", target.display()))?;
        signing::fsutil::write_atomic(&target.join(LEASE_FILE), doc, 0o644, true)
            .with_context(|| format!("{}", target.display()))?;
    }
    let a = verified.value().clone();
    session.record_activation(&a)?;
    let when = session.now();
    session.commit()?;
    Ok((a, verified.describe(when)))
}

pub(crate) fn status_cmd(state: &Path, json: bool) -> Result<ExitCode> {
    let now = now()?;
    let list = installed(state)?;
    let key = instance_key(state, false)
        .ok()
        .map(|k| enc::b64(&k.public_key()));
    let mut rows = Vec::new();
    for (product, a) in &list {
        let fp = fingerprint::of(product, &Sources::system(Some(state))).ok();
        let this_machine = fp.as_ref().is_some_and(|f| f.value == a.fingerprint)
            && key.as_deref() == Some(a.instance_public_key.as_str());
        let end = Timestamp::parse(&a.not_after).unwrap_or(Timestamp(0));
        let state_word = if !this_machine {
            "other_machine"
        } else if now > end {
            "lease_expired"
        } else {
            "active"
        };
        rows.push((product, a, state_word, end));
    }
    if json {
        let v = Value::Array(
            rows.iter()
                .map(|(p, a, st, _)| {
                    clikit::report::object(vec![
                        ("product", s(p)),
                        ("activation_id", s(&a.activation_id)),
                        ("license_id", s(&a.license_id)),
                        ("lineage_id", s(&a.lineage_id)),
                        ("state", s(st)),
                        ("sequence", n(a.sequence)),
                        ("not_after", s(&a.not_after)),
                        ("renew_after", s(&a.renew_after)),
                        ("fingerprint", s(&a.fingerprint)),
                    ])
                    .unwrap_or(Value::Null)
                })
                .collect(),
        );
        print_json(&clikit::report::valid(
            "command",
            &"status",
            vec![("activations", v)],
        )?);
    } else if rows.is_empty() {
        println!("no activation installed in {}", state.display());
    } else {
        for (p, a, st, end) in &rows {
            println!(
                "{p}: {st}: activation {} of license {} (lease #{}, until {end}, {})",
                a.activation_id,
                a.license_id,
                a.sequence,
                runtime::license::relative(now, *end)
            );
        }
        println!(
            "(as installed; `runtime-verify activation --state DIR --trust trust.json` verifies)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn deactivate_cmd(
    state: &Path,
    out: &Path,
    product: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let list = installed(state)?;
    let (product, lease) = match product {
        Some(p) => list.into_iter().find(|(q, _)| q == p).with_context(|| {
            format!(
                "no activation of product {p} is installed in {}",
                state.display()
            )
        })?,
        None => {
            let mut it = list.into_iter();
            match (it.next(), it.next()) {
                (Some(one), None) => one,
                (None, _) => bail!("no activation is installed in {}", state.display()),
                (Some(_), Some(_)) => bail!("several products are activated here; pass --product"),
            }
        }
    };
    let key = instance_key(state, false)?;
    let mine = enc::b64(&key.public_key());
    if lease.instance_public_key != mine {
        bail!(
            "the installed activation {} names another instance key than this machine's; it cannot be deactivated from here (the vendor can release it with --force)",
            lease.activation_id
        );
    }
    let now = now()?;
    // A receipt already written for this activation (an interrupted run) is kept as it is.
    match read_optional(out, 64 * 1024)? {
        Some(b) => {
            let (d, _, _) = runtime::activation::verify_instance_signed::<Deactivation>(&b)
                .with_context(|| {
                    format!(
                        "{} exists and is not a receipt of this machine (choose another --out)",
                        out.display()
                    )
                })?;
            if d.activation_id != lease.activation_id || d.instance_public_key != mine {
                bail!(
                    "{} holds a receipt for activation {}; choose another --out",
                    out.display(),
                    d.activation_id
                );
            }
        }
        None => {
            let d = Deactivation {
                doc_type: activation::DEACTIVATION_TYPE.into(),
                activation_id: lease.activation_id.clone(),
                license_id: lease.license_id.clone(),
                lineage_id: lease.lineage_id.clone(),
                product: product.clone(),
                fingerprint: lease.fingerprint.clone(),
                instance_public_key: mine.clone(),
                last_sequence: lease.sequence,
                deactivated_at: now.to_string(),
            };
            d.validate()
                .map_err(anyhow::Error::new)
                .context("the receipt")?;
            let b = signed_file(&key, Kind::Deactivation, d.to_canonical())?;
            signing::fsutil::write_atomic(out, &b, 0o644, true)
                .with_context(|| format!("{}", out.display()))?;
        }
    }
    // Remembered before the files go: this activation is never taken again here.
    let mut session = Session::with_store(
        Some(state),
        Clock::System(now),
        TrustStore::embedded(Vec::new()),
    )?;
    session.record_deactivation(
        &lease.activation_id,
        &format!("deactivated on this machine at {now}"),
    );
    session.commit()?;
    let dir = activation::installed_dir(state, &product);
    for name in [LEASE_FILE, LEASE_SIG, REQUEST_FILE] {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("{}", dir.join(name).display())),
        }
    }
    if json {
        print_json(&clikit::report::valid(
            "out",
            &out.display(),
            vec![
                ("activation_id", s(&lease.activation_id)),
                ("license_id", s(&lease.license_id)),
                ("product", s(&product)),
            ],
        )?);
    } else {
        println!(
            "deactivated {} (license {}, product {product}); the product no longer runs licensed work here",
            lease.activation_id, lease.license_id
        );
        println!(
            "  {}\ncarry the receipt to the vendor ({}): the vendor frees the seat with it",
            out.display(),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
