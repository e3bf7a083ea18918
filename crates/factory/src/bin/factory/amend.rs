//! `factory amend`: a license's terms changed mid-term, in its lineage.

use crate::cli::*;
use anyhow::{Context, Result};
use canon::Role;
use factory::amend::Changes;
use factory::issue;
use signing::clock;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct AmendArgs {
    /// The license to amend (the latest of its lineage)
    pub(crate) license_id: String,
    #[command(flatten)]
    pub(crate) terms: TermsArgs,
    /// Remove a feature (repeatable)
    #[arg(long = "remove-feature")]
    pub(crate) remove_features: Vec<String>,
    /// New expiry: date or time
    #[arg(long)]
    pub(crate) expires: Option<String>,
    /// A license key (NAME.key) to sign the amended license
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// New directory for the amended license.json and license.sig
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Product catalog (default: $AIRLOCK_CATALOG, else catalog.json in the vendor home)
    #[arg(long)]
    pub(crate) catalog: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) signer: Signer,
    #[command(flatten)]
    pub(crate) common: Common,
}

/// A license's terms on the command line (`issue`, `amend`).
#[derive(clap::Args)]
pub(crate) struct TermsArgs {
    /// Add a feature of the product (repeatable)
    #[arg(long = "feature")]
    pub(crate) features: Vec<String>,
    /// Set a limit: NAME=N, 0 = unlimited (repeatable)
    #[arg(long = "limit")]
    pub(crate) limits: Vec<String>,
    /// Days the license keeps working after its expiry (issue default: the tier's)
    #[arg(long)]
    pub(crate) grace_days: Option<u64>,
    /// Seats: how many machines may activate the license, 1 to 10000 (issue default: the
    /// tier's)
    #[arg(long, value_name = "N")]
    pub(crate) device_limit: Option<u64>,
}

/// `NAME=N` pairs.
pub(crate) fn parse_limits(pairs: &[String]) -> Result<std::collections::BTreeMap<String, u64>> {
    let mut limits = std::collections::BTreeMap::new();
    for l in pairs {
        let (k, v) = l
            .split_once('=')
            .with_context(|| format!("--limit {l:?} must be NAME=N"))?;
        let n: u64 = v
            .parse()
            .with_context(|| format!("--limit {l:?}: {v:?} is not a whole number"))?;
        limits.insert(k.to_string(), n);
    }
    Ok(limits)
}

pub(crate) fn amend_cmd(a: AmendArgs) -> Result<ExitCode> {
    let now = clock::now()?;
    let key = factory::keys::load_signing_key(&a.key, Role::License, None, now)?;
    let catalog = load_located(&locate_catalog(a.catalog.as_deref())?)?;
    let changes = Changes {
        device_limit: a.terms.device_limit,
        add_features: a.terms.features.clone(),
        remove_features: a.remove_features.clone(),
        limits: parse_limits(&a.terms.limits)?,
        expires: a
            .expires
            .as_deref()
            .map(|e| clock::parse_time("--expires", e))
            .transpose()?,
        grace_days: a.terms.grace_days,
    };
    let mut reg = a.common.existing_registry()?;
    let trust = a.signer.vet(&mut reg, &key, &a.key, now)?;
    let old = reg
        .get(&a.license_id)?
        .with_context(|| format!("no license {} in the registry", a.license_id))?;
    issue::check_stored(&old, &key, trust.as_ref())?;
    let signed = issue::sign(
        factory::amend::amendment(&catalog, &old, &changes, now)?,
        &key,
    )?;
    let seats = reg.live_seats(&old.lineage_id)?;
    let paths = issue::record_one(&mut reg, None, &signed, "amended", &a.out, now)?;
    if let Some(n) = a.terms.device_limit.filter(|n| *n < seats) {
        eprintln!(
            "factory: warning: {seats} seats are in use and the amended device limit is {n}: no new seat until {} are released (`factory activation list {}`)",
            seats - n,
            signed.license.license_id
        );
    }
    print_issued(&signed, &paths, a.common.json, now);
    if !a.common.json {
        eprintln!(
            "{} supersedes {} from now; its seats carry over, and each machine gets the new terms with its next lease",
            signed.license.license_id, old.license_id
        );
    }
    Ok(ExitCode::SUCCESS)
}
