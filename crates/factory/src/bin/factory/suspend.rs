//! `factory suspend` and `resume`.

use crate::cli::*;
use anyhow::{Context, Result};
use factory::report as book;
use signing::clock;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct SuspendArgs {
    /// The license
    pub(crate) license_id: String,
    /// Why (recorded in the registry's audit log; not published)
    #[arg(long)]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) common: Common,
}

pub(crate) fn suspend_cmd(a: SuspendArgs, suspend: bool) -> Result<ExitCode> {
    let SuspendArgs {
        license_id,
        reason,
        common,
    } = a;
    if reason.trim().is_empty() {
        anyhow::bail!("--reason must not be empty");
    }
    let now = clock::now()?;
    let mut reg = common.existing_registry()?;
    reg.set_suspended(&license_id, suspend, &reason, now)?;
    if common.json {
        let r = reg.get(&license_id)?.context("license vanished")?;
        print_json(&book::record_json(&r, now, 30));
    } else {
        let what = if suspend { "suspended" } else { "resumed" };
        println!("{what} {license_id}: {reason}");
        println!("publish it: factory revocations --key <license key> --out <dir> (machines learn it when they import the list; the service refuses activations and renewals at once)");
    }
    Ok(ExitCode::SUCCESS)
}
