//! `factory verify`: a license file checked with the runtime's own verification.

use crate::cli::*;
use anyhow::{Context, Result};
use clikit::args::Judge;
use clikit::input::vendor_trust;
use runtime::license::{verify_license, LegacyPolicy};
use signing::clock;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// license.json
    pub(crate) license: PathBuf,
    #[command(flatten)]
    pub(crate) judge: Judge,
}

pub(crate) fn verify_cmd(a: VerifyArgs) -> Result<ExitCode> {
    let VerifyArgs { license, judge } = a;
    let Judge {
        trust,
        sig,
        at,
        json,
    } = judge;
    let now = clock::at_or_now(at.as_deref())?;
    let trust = vendor_trust(&trust)?;
    let (doc, sig_bytes, license) = clikit::input::read_license(&license, sig.as_deref())?;
    let v = verify_license(
        &trust,
        &doc,
        sig_bytes.as_deref(),
        &LegacyPolicy::default(),
        now,
    )
    .with_context(|| format!("{}", license.display()))?;
    let st = runtime::license::Standing::of(&v, now, runtime::license::DEFAULT_WARN_DAYS);
    if json {
        print_json(&clikit::report::license(&license, &v, &st)?);
    } else {
        if v.is_legacy() {
            eprintln!(
                "warning: {} is a deprecated schema-2 license; migrate it with `factory migrate`",
                license.display()
            );
        }
        println!("{}", clikit::report::license_line(&license, &v, &st));
    }
    if !st.usable() {
        return Ok(ExitCode::from(clikit::outcome::EXIT_REJECTED));
    }
    Ok(ExitCode::SUCCESS)
}
