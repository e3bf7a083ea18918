//! `factory activation fulfill`: a machine's request answered with a signed lease.

use super::*;
use crate::cli::print_json;
use anyhow::{bail, Context, Result};
use canon::{Role, Value};
use clikit::input::read_capped;
use clikit::report::{n, s};
use factory::activation::{self as seats};
use runtime::Artifact;
use signing::clock;
use std::path::Path;
use std::process::ExitCode;

/// Refuses an `out` directory holding another machine's lease (checked before anything is
/// recorded): a lease there for the same machine (its fingerprint, or its instance key: a
/// machine whose fingerprint changed keeps its seat under a match policy) and lineage is the
/// one being renewed.
fn check_out(out: &Path, req: &runtime::activation::ActivationRequest) -> Result<()> {
    let (fingerprint, lineage) = (&req.fingerprint, &req.lineage_id);
    let json = out.join(runtime::activation::LEASE_FILE);
    if json.exists() {
        let old = read_capped(&json, runtime::activation::MAX_ACTIVATION_BYTES as u64)?;
        let same_machine = runtime::activation::Activation::parse(&old).is_ok_and(|(a, _, _)| {
            (a.fingerprint == *fingerprint || a.instance_public_key == req.instance_public_key)
                && a.lineage_id == *lineage
        });
        if !same_machine {
            bail!(
                "{} holds another machine's activation; refusing to overwrite (choose another --out); nothing was recorded",
                json.display()
            );
        }
    }
    Ok(())
}

/// Writes the lease files into `out` (checked by [`check_out`]), and the license they are for
/// when it is not the one the request named (the renewal in force: the customer installs it
/// beside the lease).
fn write_lease(out: &Path, f: &seats::Fulfilled, requested: &str) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    if f.activation.license_id != requested {
        let mut doc = f.license_document.clone();
        doc.push(b'\n');
        signing::fsutil::write_atomic(&out.join("license.sig"), &f.license_signature, 0o644, true)
            .with_context(|| format!("{}", out.display()))?;
        signing::fsutil::write_atomic(&out.join("license.json"), &doc, 0o644, true)
            .with_context(|| format!("{}", out.display()))?;
    }
    let json = out.join(runtime::activation::LEASE_FILE);
    let mut doc = f.document.clone();
    doc.push(b'\n');
    // The signature first, then the lease: a crash between the two leaves a pair that fails
    // verification (never a forged-looking success), and a re-run of the same request (the
    // same seat, a fresh lease) writes both again.
    signing::fsutil::write_atomic(
        &out.join(runtime::activation::LEASE_SIG),
        &f.signature,
        0o644,
        true,
    )
    .with_context(|| format!("{}", out.display()))?;
    signing::fsutil::write_atomic(&json, &doc, 0o644, true)
        .with_context(|| format!("{}", json.display()))?;
    Ok(())
}

/// `factory activation fulfill`: verify the request, one seat transaction, then the files.
pub(super) fn fulfill_cmd(
    request: &Path,
    (key, kek): (&Path, Option<&str>),
    out: &Path,
    lease_days: Option<u64>,
    signer: &crate::cli::Signer,
    common: &crate::cli::Common,
) -> Result<ExitCode> {
    let now = clock::now()?;
    if lease_days == Some(0) {
        bail!("--lease-days must be at least 1");
    }
    let key_path = key;
    let key = factory::keys::load_signing_key(key_path, Role::Activation, None, now)?;
    let kek = kek.map(factory::builds::Kek::load).transpose()?;
    let file = read_capped(
        request,
        (runtime::activation::MAX_ACTIVATION_BYTES + canon::sig::MAX_ENVELOPE_BYTES) as u64,
    )?;
    let subject = "activation fulfill";
    let req = match seats::check_request(&file, now, seats::Freshness::Carried) {
        Ok(r) => r,
        Err(r) => return refused(common.json, subject, &r),
    };
    check_out(out, &req)?;
    let mut reg = common.existing_registry()?;
    signer.vet(&mut reg, &key, key_path, now)?;
    let f = match seats::fulfill(&mut reg, &req, (&key, kek.as_ref()), now, lease_days)? {
        Ok(f) => f,
        Err(r) => return refused(common.json, subject, &r),
    };
    write_lease(out, &f, &req.license_id).with_context(|| {
        format!(
            "activation {} is recorded; run the same fulfil again to write its files",
            f.activation.activation_id
        )
    })?;
    let a = &f.activation;
    if common.json {
        print_json(&clikit::report::valid(
            "command",
            &subject,
            vec![
                ("activation_id", s(&a.activation_id)),
                ("license_id", s(&a.license_id)),
                ("fingerprint", s(&a.fingerprint)),
                ("new_seat", Value::Bool(f.new_seat)),
                ("overage", Value::Bool(a.overage)),
                ("seats_in_use", n(f.seats_in_use)),
                ("device_limit", n(a.device_limit)),
                ("sequence", n(a.sequence)),
                ("not_after", s(&a.not_after)),
                (
                    "build_keys",
                    Value::Array(a.grants.iter().map(|g| s(&g.bundle_id)).collect()),
                ),
                ("out", s(out.display())),
            ],
        )?);
    } else {
        println!(
            "{} {} for license {} ({} of {} seats in use{}), lease #{} until {}",
            if f.new_seat {
                "activated"
            } else {
                "fresh lease for"
            },
            a.activation_id,
            a.license_id,
            f.seats_in_use,
            a.device_limit,
            if a.overage {
                ", this one over the limit"
            } else {
                ""
            },
            a.sequence,
            a.not_after
        );
        println!(
            "  {}\n  {}",
            out.join(runtime::activation::LEASE_FILE).display(),
            out.join(runtime::activation::LEASE_SIG).display()
        );
        if a.license_id != req.license_id {
            println!(
                "  {}\n  {}\nthe request named license {}; the lineage's license in force is its renewal {}: the customer installs license.json and license.sig in the product's license directory",
                out.join("license.json").display(),
                out.join("license.sig").display(),
                req.license_id,
                a.license_id
            );
        }
        if !a.grants.is_empty() {
            let ids: Vec<&str> = a.grants.iter().map(|g| g.bundle_id.as_str()).collect();
            println!(
                "  the lease carries the keys of build(s) {}, wrapped to this machine",
                ids.join(", ")
            );
        }
        println!("send the files to the customer: airlock-agent install <dir> --trust trust.json --state <dir>");
    }
    Ok(ExitCode::SUCCESS)
}
