//! `factory token list`.

use super::*;
use crate::cli::print_json;
use anyhow::Result;
use canon::Value;
use factory::activation::{self as seats};
use signing::clock;
use std::process::ExitCode;

pub(super) fn list(license: Option<&str>, common: &crate::cli::Common) -> Result<ExitCode> {
    let now = clock::now()?;
    let reg = common.existing_registry()?;
    let rows = seats::token_list(&reg, license)?;
    if common.json {
        print_json(&clikit::report::valid(
            "command",
            &"token list",
            vec![(
                "tokens",
                Value::Array(rows.iter().map(|t| row_json(t, now)).collect()),
            )],
        )?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "TOKEN                             LICENSE               USED  EXPIRES_AT            STATE"
    );
    for t in &rows {
        println!(
            "{:<33} {:<21} {:>2}/{:<2} {} {}",
            t.token_id,
            t.license_id,
            t.used,
            t.allowance,
            t.expires_at,
            t.state(now)
        );
    }
    Ok(ExitCode::SUCCESS)
}
