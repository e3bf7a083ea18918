//! `factory activation`: fulfil activation requests carried in by hand, list seats, release
//! them (with the machine's receipt, or forced), reset a license's seats. See docs/CLI.md.

use crate::cli::print_json;
use anyhow::{bail, Context, Result};
use canon::{Timestamp, Value};
use clap::Subcommand;
use clikit::report::{n, object, s};
use factory::activation::{Refusal, Row};
use std::path::PathBuf;
use std::process::ExitCode;

mod fulfill;
mod list;
mod release;
mod reset;
mod seatlogs;

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
        /// The key-encryption key (NAME.key, or a pkcs11: URI; `keygen --role kek`): the lease
        /// then carries the content keys of the builds the request names (and those the seat
        /// was given), wrapped to the machine
        #[arg(long, value_name = "KEK")]
        kek: Option<String>,
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
    /// Check seat logs exported by customers' seat servers (`airlock-seatd export-log`):
    /// each verified through the chain, then compared; two chains for one pool (a copied
    /// seat server, or servers of one pool on separate databases) exit 1
    SeatLogs {
        /// Export directories (seat-log.json, seat-log.sig, pool.json, pool.sig)
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Trust file (trust.json) whose activation keys signed the pool leases
        #[arg(long)]
        trust: PathBuf,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
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
            ActivationCmd::SeatLogs { json, .. } => ("activation seat-logs", *json),
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

pub(super) fn row_json(r: &Row, rebound_from: Option<&str>, now: Timestamp) -> Value {
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

pub fn run(cmd: ActivationCmd) -> Result<ExitCode> {
    match cmd {
        ActivationCmd::Fulfill {
            request,
            key,
            out,
            lease_days,
            kek,
            signer,
            common,
        } => fulfill::fulfill_cmd(
            &request,
            (&key, kek.as_deref()),
            &out,
            lease_days,
            &signer,
            &common,
        ),
        ActivationCmd::List { license_id, common } => {
            list::list_cmd(license_id.as_deref(), &common)
        }
        ActivationCmd::Release {
            activation_id,
            receipt,
            force,
            reason,
            common,
        } => release::release_cmd(activation_id, receipt, force, reason, &common),
        ActivationCmd::Reset {
            license_id,
            reason,
            common,
        } => reset::reset_cmd(&license_id, &reason, &common),
        ActivationCmd::SeatLogs { dirs, trust, json } => {
            seatlogs::seat_logs_cmd(&dirs, &trust, json)
        }
    }
}
