//! `factory activation`: fulfil activation requests carried in by hand, list seats, release
//! them (with the machine's receipt, or forced), reset a license's seats. See docs/CLI.md.

use crate::cli::print_json;
use anyhow::{bail, Context, Result};
use canon::{Role, Timestamp, Value};
use clap::Subcommand;
use clikit::input::read_capped;
use clikit::report::{n, object, s};
use factory::activation::{self as seats, Refusal, Row};
use runtime::Artifact;
use signing::clock;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ActivationCmd {
    /// Answer a machine's activation request with a signed lease (DIR/activation.json + .sig)
    Fulfill {
        /// The request file the customer made with `airlock-agent request`
        request: PathBuf,
        /// An activation key (NAME.key, role activation) to sign the lease
        #[arg(long)]
        key: PathBuf,
        /// Directory for activation.json and activation.sig (a lease there for the same
        /// machine and license lineage is replaced; another machine's is refused before
        /// anything is recorded)
        #[arg(long)]
        out: PathBuf,
        /// Lease length in days (default: to the license's expiry plus grace)
        #[arg(long, value_name = "N")]
        lease_days: Option<u64>,
        #[command(flatten)]
        signer: crate::cli::Signer,
        #[command(flatten)]
        common: crate::cli::Common,
    },
    /// List seats: every activation of one license's lineage, or all
    List {
        /// A license id (its whole renewal lineage is listed)
        license_id: Option<String>,
        #[command(flatten)]
        common: crate::cli::Common,
    },
    /// Free a seat: with the machine's deactivation receipt, or --force for a dead machine
    Release {
        /// The activation id (`factory activation list`)
        activation_id: Option<String>,
        /// The receipt the machine made with `airlock-agent deactivate`
        #[arg(long, conflicts_with_all = ["force", "reason"])]
        receipt: Option<PathBuf>,
        /// Free it without a receipt (the lease is revoked in the next revocation list); at
        /// most the license's device limit per 90 days
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why (recorded in the audit log and the revocation list)
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        common: crate::cli::Common,
    },
    /// Free every seat of a license (hardware replaced): earlier leases stop verifying once
    /// the customer has the next revocation list. Once per 30 days
    Reset {
        /// The license id
        license_id: String,
        /// Why (recorded in the audit log)
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: crate::cli::Common,
    },
}

/// Seconds in a duration written `<N>s`, `<N>m`, `<N>h` or `<N>d`.
pub fn parse_duration(text: &str) -> Result<i64> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("duration {text:?}: write a number and a unit: 30m, 24h, 3d"),
    };
    let n: i64 = num
        .parse()
        .ok()
        .filter(|n| *n > 0 && *n <= 1_000_000)
        .with_context(|| format!("duration {text:?}: the number must be from 1 to 1000000"))?;
    Ok(n * mult)
}

impl ActivationCmd {
    pub fn json(&self) -> (&'static str, bool) {
        match self {
            ActivationCmd::Fulfill { common, .. } => ("activation fulfill", common.json),
            ActivationCmd::List { common, .. } => ("activation list", common.json),
            ActivationCmd::Release { common, .. } => ("activation release", common.json),
            ActivationCmd::Reset { common, .. } => ("activation reset", common.json),
        }
    }
}

/// Prints a refusal (a JSON report under --json) and returns exit 1.
pub(crate) fn refused(json: bool, subject: &str, r: &Refusal) -> Result<ExitCode> {
    if json {
        print_json(&object(vec![
            ("valid", Value::Bool(false)),
            ("check", s(r.code.as_str())),
            ("advice", s(r.code.advice())),
            ("error", s(&r.message)),
            ("command", s(subject)),
        ])?);
    }
    eprintln!("factory: {subject}: REJECTED [{}]: {}", r.code, r.message);
    eprintln!("  {}", r.code.advice());
    Ok(ExitCode::from(r.code.exit_code()))
}

fn row_json(r: &Row, rebound_from: Option<&str>, now: Timestamp) -> Value {
    let t = |v: Timestamp| s(v);
    let opt = |v: &Option<String>| v.as_deref().map_or(Value::Null, s);
    Value::object(vec![
        ("activation_id".into(), s(&r.activation_id)),
        ("license_id".into(), s(&r.license_id)),
        ("lineage_id".into(), s(&r.lineage_id)),
        ("fingerprint".into(), s(&r.fingerprint)),
        ("label".into(), s(&r.label)),
        ("status".into(), s(r.status(now))),
        ("overage".into(), Value::Bool(r.overage)),
        ("epoch".into(), n(r.epoch)),
        ("created_at".into(), t(r.created_at)),
        ("lease_sequence".into(), n(r.lease_sequence)),
        ("lease_not_after".into(), t(r.lease_not_after)),
        ("released_at".into(), r.released_at.map_or(Value::Null, t)),
        ("release_kind".into(), opt(&r.release_kind)),
        ("release_reason".into(), opt(&r.release_reason)),
        ("rebound_from".into(), rebound_from.map_or(Value::Null, s)),
    ])
    .unwrap_or(Value::Null)
}

/// Refuses an `out` directory holding another machine's lease (checked before anything is
/// recorded): a lease there for the same machine and lineage is the one being renewed.
fn check_out(out: &Path, fingerprint: &str, lineage: &str) -> Result<()> {
    let json = out.join(runtime::activation::LEASE_FILE);
    if json.exists() {
        let old = read_capped(&json, runtime::activation::MAX_ACTIVATION_BYTES as u64)?;
        let same_machine = runtime::activation::Activation::parse(&old)
            .is_ok_and(|(a, _, _)| a.fingerprint == fingerprint && a.lineage_id == lineage);
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
fn fulfill_cmd(
    request: &Path,
    key: &Path,
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
    factory::keys::load_signing_key(key_path, Role::Activation, None, now)?;
    let file = read_capped(
        request,
        (runtime::activation::MAX_ACTIVATION_BYTES + canon::sig::MAX_ENVELOPE_BYTES) as u64,
    )?;
    let subject = "activation fulfill";
    let req = match seats::check_request(&file, now, seats::Freshness::Carried) {
        Ok(r) => r,
        Err(r) => return refused(common.json, subject, &r),
    };
    check_out(out, &req.fingerprint, &req.lineage_id)?;
    let mut reg = common.existing_registry()?;
    let (key, _) = signer.key(&mut reg, key_path, Role::Activation, now)?;
    let f = match seats::fulfill(&mut reg, &req, &key, now, lease_days)? {
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
        println!("send the files to the customer: airlock-agent install <dir> --trust trust.json --state <dir>");
    }
    Ok(ExitCode::SUCCESS)
}

/// `factory activation list`: every seat of a license (or all), with its status now.
fn list_cmd(license_id: Option<&str>, common: &crate::cli::Common) -> Result<ExitCode> {
    let now = clock::now()?;
    let reg = common.existing_registry()?;
    let rows = seats::list(&reg, license_id)?;
    if common.json {
        print_json(&Value::Array(
            rows.iter()
                .map(|r| row_json(&r.row, r.rebound_from.as_deref(), now))
                .collect(),
        ));
    } else if rows.is_empty() {
        println!("no activations");
    } else {
        println!(
            "{:<21} {:<22} {:<14} {:<13} {:<20} {:<8} label",
            "ACTIVATION", "LICENSE", "STATUS", "FINGERPRINT", "LEASE UNTIL", "OVERAGE"
        );
        for l in &rows {
            let r = &l.row;
            println!(
                "{:<21} {:<22} {:<14} {:<13} {:<20} {:<8} {}",
                r.activation_id,
                r.license_id,
                r.status(now),
                &r.fingerprint[..r.fingerprint.len().min(13)],
                r.lease_not_after.to_string(),
                if r.overage { "yes" } else { "no" },
                runtime::text::escape(&r.label)
            );
            if let Some(old) = &l.rebound_from {
                println!("  re-binds the fingerprint of {old} to a new instance key (seat_rebound in the audit log)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(cmd: ActivationCmd) -> Result<ExitCode> {
    match cmd {
        ActivationCmd::Fulfill {
            request,
            key,
            out,
            lease_days,
            signer,
            common,
        } => return fulfill_cmd(&request, &key, &out, lease_days, &signer, &common),
        ActivationCmd::List { license_id, common } => {
            return list_cmd(license_id.as_deref(), &common)
        }
        ActivationCmd::Release {
            activation_id,
            receipt,
            force,
            reason,
            common,
        } => {
            let now = clock::now()?;
            let subject = "activation release";
            let result = match (&receipt, force) {
                (Some(path), false) => {
                    let file = read_capped(
                        path,
                        (runtime::activation::MAX_ACTIVATION_BYTES + canon::sig::MAX_ENVELOPE_BYTES)
                            as u64,
                    )?;
                    let d = match seats::check_receipt(&file) {
                        Ok(d) => d,
                        Err(r) => return refused(common.json, subject, &r),
                    };
                    if let Some(id) = &activation_id {
                        if *id != d.activation_id {
                            return refused(
                                common.json,
                                subject,
                                &Refusal::new(
                                    seats::Code::ReceiptMismatch,
                                    format!(
                                        "the receipt is for activation {}, not {id}",
                                        d.activation_id
                                    ),
                                ),
                            );
                        }
                    }
                    let mut reg = common.existing_registry()?;
                    seats::release_with_receipt(&mut reg, &d, now)?
                }
                (None, true) => {
                    let id = activation_id.context("--force needs the ACTIVATION_ID")?;
                    let reason = reason.context("--force needs --reason")?;
                    let mut reg = common.existing_registry()?;
                    seats::release_force(&mut reg, &id, &reason, now)?
                }
                _ => bail!("give --receipt FILE, or --force --reason TEXT with the ACTIVATION_ID"),
            };
            let r = match result {
                Ok(r) => r,
                Err(r) => return refused(common.json, subject, &r),
            };
            if common.json {
                print_json(&clikit::report::valid(
                    "command",
                    &subject,
                    vec![
                        ("activation", row_json(&r.row, None, now)),
                        ("changed", Value::Bool(r.changed)),
                    ],
                )?);
            } else if !r.changed {
                println!(
                    "activation {} was released by this receipt already; nothing to do",
                    r.row.activation_id
                );
            } else {
                println!(
                    "released {} of license {} ({})",
                    r.row.activation_id,
                    r.row.license_id,
                    r.row.release_kind.as_deref().unwrap_or("")
                );
                if force {
                    println!("its lease stays valid on that machine until the customer imports the next revocation list: factory revocations --key <license key> --out <dir>");
                }
            }
        }
        ActivationCmd::Reset {
            license_id,
            reason,
            common,
        } => {
            let now = clock::now()?;
            let mut reg = common.existing_registry()?;
            let r = match seats::reset(&mut reg, &license_id, &reason, now)? {
                Ok(r) => r,
                Err(r) => return refused(common.json, "activation reset", &r),
            };
            if common.json {
                print_json(&clikit::report::valid(
                    "command",
                    &"activation reset",
                    vec![
                        ("lineage_id", s(&r.lineage_id)),
                        ("epoch", n(r.epoch)),
                        ("released", n(r.released)),
                    ],
                )?);
            } else {
                println!(
                    "reset the seats of license {license_id}: {} released, epoch {}",
                    r.released, r.epoch
                );
                println!("earlier leases stop verifying once the customer imports the next revocation list: factory revocations --key <license key> --out <dir>");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
