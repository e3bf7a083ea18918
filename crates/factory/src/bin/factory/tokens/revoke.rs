//! `factory token revoke`: a token refused from now on.

use super::*;
use crate::activation::refused;
use crate::cli::print_json;
use anyhow::{bail, Result};
use factory::activation::{self as seats};
use signing::clock;
use std::process::ExitCode;

pub(super) fn revoke(
    token_id: &str,
    reason: &str,
    common: &crate::cli::Common,
) -> Result<ExitCode> {
    if reason.trim().is_empty() {
        bail!("--reason must not be empty");
    }
    let now = clock::now()?;
    let mut reg = common.existing_registry()?;
    let t = match seats::token_revoke(&mut reg, token_id, reason, now)? {
        Ok(t) => t,
        Err(r) => return refused(common.json, "token revoke", &r),
    };
    if common.json {
        print_json(&clikit::report::valid(
            "command",
            &"token revoke",
            vec![("token", row_json(&t, now))],
        )?);
    } else {
        println!(
            "revoked install token {} (license {}, {} of {} used): refused from now on",
            t.token_id, t.license_id, t.used, t.allowance
        );
    }
    Ok(ExitCode::SUCCESS)
}
