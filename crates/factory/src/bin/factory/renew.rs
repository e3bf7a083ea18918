//! `factory renew`: the successor of a license in its lineage.

use crate::cli::*;
use anyhow::{Context, Result};
use canon::Role;
use factory::issue::{self, RenewFrom};
use signing::clock;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct RenewArgs {
    /// The license to renew (the latest of its lineage)
    pub(crate) license_id: String,
    /// The renewal's expiry: YYYY-MM-DD (midnight UTC) or YYYY-MM-DDTHH:MM:SSZ
    #[arg(long)]
    pub(crate) expires: String,
    /// A license key (NAME.key) to sign the renewal
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// New directory for the renewal's license.json and license.sig
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Start the renewal now (for a license that already expired) instead of at the old expiry
    #[arg(long)]
    pub(crate) from_now: bool,
    #[command(flatten)]
    pub(crate) signer: Signer,
    #[command(flatten)]
    pub(crate) common: Common,
}

pub(crate) fn renew_cmd(a: RenewArgs) -> Result<ExitCode> {
    let RenewArgs {
        license_id,
        expires,
        key,
        out,
        from_now,
        signer,
        common,
    } = a;
    let now = clock::now()?;
    let key_path = key;
    let key = factory::keys::load_signing_key(&key_path, Role::License, None, now)?;
    let mut reg = common.existing_registry()?;
    let trust = signer.vet(&mut reg, &key, &key_path, now)?;
    let old = reg
        .get(&license_id)?
        .with_context(|| format!("no license {license_id} in the registry"))?;
    let expires = clock::parse_time("--expires", &expires)?;
    let from = if from_now {
        RenewFrom::Now
    } else {
        RenewFrom::OldExpiry
    };
    issue::check_stored(&old, &key, trust.as_ref())?;
    let signed = issue::sign(issue::renewal(&old, expires, from, now)?, &key)?;
    let paths = issue::record_one(&mut reg, None, &signed, "renewed", &out, now)?;
    print_issued(&signed, &paths, common.json, now);
    Ok(ExitCode::SUCCESS)
}
