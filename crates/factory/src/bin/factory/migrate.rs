//! `factory migrate`: a legacy schema-2 license re-issued as schema 3.

use crate::cli::*;
use anyhow::{Context, Result};
use canon::Role;
use factory::issue::{self};
use runtime::license::{verify_license, LegacyPolicy};
use signing::clock;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct MigrateArgs {
    /// The schema-2 license.json to migrate
    pub(crate) license: PathBuf,
    /// A license key (NAME.key) to sign the schema-3 successor
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// New directory for the migrated license.json and license.sig
    #[arg(long)]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) signer: Signer,
    #[command(flatten)]
    pub(crate) common: Common,
}

pub(crate) fn migrate_cmd(a: MigrateArgs) -> Result<ExitCode> {
    let MigrateArgs {
        license,
        key,
        out,
        signer,
        common,
    } = a;
    let now = clock::now()?;
    let key_path = key;
    let key = factory::keys::load_signing_key(&key_path, Role::License, None, now)?;
    let doc = std::fs::read(&license).with_context(|| format!("{}", license.display()))?;
    let mut reg = common.registry()?;
    let trust = signer.vet(&mut reg, &key, &key_path, now)?;
    let trust = trust.context("migrate needs --trust (or AIRLOCK_TRUST) to verify the legacy license before re-signing it")?;
    let policy = LegacyPolicy::allowing_after_cutoff(true);
    let old = verify_license(&trust, &doc, None, &policy, now)
        .with_context(|| format!("{}", license.display()))?;
    if !old.is_legacy() {
        anyhow::bail!(
            "{} is already a schema-3 license; nothing to migrate",
            license.display()
        );
    }
    // Migrated once already: name its successor instead of a raw constraint error.
    if let Some(done) = reg.get(&old.license().license_id)? {
        match &done.renewed_by {
            Some(by) => anyhow::bail!(
                "legacy license {} was already migrated: its schema-3 successor is {by} (write its files again with `factory export {by} --out DIR`)",
                done.license_id
            ),
            None => anyhow::bail!(
                "license {} is already in the registry; nothing to migrate",
                done.license_id
            ),
        }
    }
    let (legacy_row, new) = issue::migration(&old, &doc, now)?;
    let signed = issue::sign(new, &key)?;
    let paths = issue::record_one(&mut reg, Some(legacy_row), &signed, "migrated", &out, now)?;
    print_issued(&signed, &paths, common.json, now);
    Ok(ExitCode::SUCCESS)
}
