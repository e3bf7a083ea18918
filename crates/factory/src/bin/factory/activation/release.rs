//! `factory activation release`.

use super::*;
use crate::cli::print_json;
use anyhow::{bail, Context, Result};
use canon::Value;
use clikit::input::read_capped;
use factory::activation::{self as seats, Refusal};
use signing::clock;
use std::path::PathBuf;
use std::process::ExitCode;

/// `factory activation release`: a seat freed with the machine's receipt, or forced.
pub(super) fn release_cmd(
    activation_id: Option<String>,
    receipt: Option<PathBuf>,
    force: bool,
    reason: Option<String>,
    common: &crate::cli::Common,
) -> Result<ExitCode> {
    let now = clock::now()?;
    let subject = "activation release";
    let result = match (&receipt, force) {
        (Some(path), false) => {
            let file = read_capped(
                path,
                (runtime::activation::MAX_ACTIVATION_BYTES + canon::sig::MAX_ENVELOPE_BYTES) as u64,
            )?;
            let d = match seats::check_receipt(&file) {
                Ok(d) => d,
                Err(r) => return refused(common.json, subject, &r),
            };
            if let Some(id) = &activation_id {
                if *id != d.activation_id {
                    return refused(
                        common.json,
                        subject,
                        &Refusal::new(
                            seats::Code::ReceiptMismatch,
                            format!(
                                "the receipt is for activation {}, not {id}",
                                d.activation_id
                            ),
                        ),
                    );
                }
            }
            let mut reg = common.existing_registry()?;
            seats::release_with_receipt(&mut reg, &d, now)?
        }
        (None, true) => {
            let id = activation_id.context("--force needs the ACTIVATION_ID")?;
            let reason = reason.context("--force needs --reason")?;
            let mut reg = common.existing_registry()?;
            seats::release_force(&mut reg, &id, &reason, now)?
        }
        _ => bail!("give --receipt FILE, or --force --reason TEXT with the ACTIVATION_ID"),
    };
    let r = match result {
        Ok(r) => r,
        Err(r) => return refused(common.json, subject, &r),
    };
    if common.json {
        print_json(&clikit::report::valid(
            "command",
            &subject,
            vec![
                ("activation", row_json(&r.row, None, now)),
                ("changed", Value::Bool(r.changed)),
            ],
        )?);
    } else if !r.changed {
        println!(
            "activation {} was released by this receipt already; nothing to do",
            r.row.activation_id
        );
    } else {
        println!(
            "released {} of license {} ({})",
            r.row.activation_id,
            r.row.license_id,
            r.row.release_kind.as_deref().unwrap_or("")
        );
        if force {
            println!("its lease stays valid on that machine until the customer imports the next revocation list: factory revocations --key <license key> --out <dir>");
        }
    }
    Ok(ExitCode::SUCCESS)
}
