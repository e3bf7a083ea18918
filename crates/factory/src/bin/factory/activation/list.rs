//! `factory activation list`: the seats of a lineage, or all.

use super::*;
use crate::cli::print_json;
use anyhow::Result;
use canon::Value;
use factory::activation::{self as seats};
use signing::clock;
use std::process::ExitCode;

/// `factory activation list`: every seat of a license (or all), with its status now.
pub(super) fn list_cmd(license_id: Option<&str>, common: &crate::cli::Common) -> Result<ExitCode> {
    let now = clock::now()?;
    let reg = common.existing_registry()?;
    let rows = seats::list(&reg, license_id)?;
    if common.json {
        print_json(&Value::Array(
            rows.iter()
                .map(|r| row_json(&r.row, r.rebound_from.as_deref(), now))
                .collect(),
        ));
    } else if rows.is_empty() {
        println!("no activations");
    } else {
        println!(
            "{:<21} {:<22} {:<14} {:<13} {:<20} {:<8} label",
            "ACTIVATION", "LICENSE", "STATUS", "FINGERPRINT", "LEASE UNTIL", "OVERAGE"
        );
        for l in &rows {
            let r = &l.row;
            println!(
                "{:<21} {:<22} {:<14} {:<13} {:<20} {:<8} {}",
                r.activation_id,
                r.license_id,
                r.status(now),
                &r.fingerprint[..r.fingerprint.len().min(13)],
                r.lease_not_after.to_string(),
                if r.overage { "yes" } else { "no" },
                runtime::text::escape(&r.label)
            );
            if let Some(old) = &l.rebound_from {
                println!("  re-binds the fingerprint of {old} to a new instance key (seat_rebound in the audit log)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
