//! `factory revoke`: a license revoked, with the reason code the lists publish.

use crate::cli::*;
use anyhow::{Context, Result};
use factory::report as book;
use signing::clock;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct RevokeArgs {
    /// The license to revoke
    pub(crate) license_id: String,
    /// Why, in your words (recorded in the registry and the audit log; never published)
    #[arg(long)]
    pub(crate) reason: String,
    /// The reason code published in the revocation list: unspecified, key_compromise,
    /// affiliation_changed, superseded, cessation_of_operation or privilege_withdrawn
    #[arg(long, default_value = "unspecified", value_parser = parse_reason)]
    pub(crate) code: runtime::revocation::Reason,
    #[command(flatten)]
    pub(crate) common: Common,
}

fn parse_reason(s: &str) -> Result<runtime::revocation::Reason, String> {
    runtime::revocation::Reason::parse(s).ok_or_else(|| {
        format!(
            "not a reason code; use one of {}",
            runtime::revocation::Reason::names()
        )
    })
}

pub(crate) fn revoke_cmd(a: RevokeArgs) -> Result<ExitCode> {
    let RevokeArgs {
        license_id,
        reason,
        code,
        common,
    } = a;
    let now = clock::now()?;
    if reason.trim().is_empty() {
        anyhow::bail!("--reason must not be empty");
    }
    let mut reg = common.existing_registry()?;
    reg.revoke(&license_id, code, &reason, now)?;
    if common.json {
        let r = reg.get(&license_id)?.context("revoked license vanished")?;
        print_json(&book::record_json(&r, now, 30));
    } else {
        println!("revoked {license_id} ({code}; published as the code only): {reason}");
        println!("publish it: factory revocations --key <license key> --out <dir>");
    }
    Ok(ExitCode::SUCCESS)
}
