//! `factory activation reset`.

use super::*;
use crate::cli::print_json;
use anyhow::Result;
use clikit::report::{n, s};
use factory::activation::{self as seats};
use signing::clock;
use std::process::ExitCode;

/// `factory activation reset`: every seat of a license's lineage freed, its epoch raised.
pub(super) fn reset_cmd(
    license_id: &str,
    reason: &str,
    common: &crate::cli::Common,
) -> Result<ExitCode> {
    let now = clock::now()?;
    let mut reg = common.existing_registry()?;
    let r = match seats::reset(&mut reg, license_id, reason, now)? {
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
    Ok(ExitCode::SUCCESS)
}
