//! `factory audit verify`: the audit log's chain and every row against it.

use crate::cli::*;
use anyhow::{Context, Result};
use clap::Subcommand;
use clikit::report::{self, s};
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    pub(crate) cmd: AuditCmd,
}

#[derive(Subcommand)]
pub(crate) enum AuditCmd {
    /// Recompute the hash chain of every audit event and check every license row against it
    Verify {
        /// A head hash printed by an earlier run: it must still be in the chain (catches a
        /// chain cut back or rewritten below it)
        #[arg(long)]
        head: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
}

pub(crate) fn audit_cmd(a: AuditArgs) -> Result<ExitCode> {
    let AuditArgs {
        cmd: AuditCmd::Verify { head, common },
    } = a;
    for h in &head {
        factory::audit::check_head(h)?;
    }
    let reg = common.existing_registry()?;
    let (n, current) = reg
        .verify_audit()
        .map_err(audit_failed)
        .context("audit log")?;
    for h in &head {
        if !reg.has_audit_hash(h)? {
            return Err(anyhow::Error::new(runtime::check::Failed::new(
                runtime::Check::AuditInvalid,
                format!(
                    "the recorded head {h} is not in the audit chain: the log was cut back or rewritten"
                ),
            )))
            .context("audit log");
        }
    }
    if common.json {
        print_json(&report::valid(
            "command",
            &"audit verify",
            vec![("events", report::n(n)), ("head", s(&current))],
        )?);
    } else {
        println!("audit log OK: {n} events, hash chain intact, every license row matches");
        println!("head {current} (record it; later: factory audit verify --head {current})");
    }
    Ok(ExitCode::SUCCESS)
}

/// An audit failure as the `audit_invalid` check: an edit found, or an audit that could not
/// finish (then nothing vouches for the registry either). A failure that names its own check
/// keeps it.
pub(crate) fn audit_failed(e: anyhow::Error) -> anyhow::Error {
    if runtime::check_of(e.as_ref()).is_some() {
        return e;
    }
    anyhow::Error::new(runtime::check::Failed::new(
        runtime::Check::AuditInvalid,
        format!("{e:#}"),
    ))
}
