//! `factory show`: one license by id or human key, with its terms, seats and lineage.

use crate::cli::*;
use anyhow::{Context, Result};
use clikit::report::{self};
use factory::registry::View;
use factory::report as book;
use signing::clock;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct ShowArgs {
    /// The license: its id, or its human key (XXXX-XXXX-XXXX-XXXX, as read over the phone)
    pub(crate) license_id: String,
    /// Warning window in days for expiring-soon
    #[arg(long, default_value_t = 30)]
    pub(crate) within: i64,
    #[command(flatten)]
    pub(crate) common: Common,
}

pub(crate) fn show_cmd(a: ShowArgs) -> Result<ExitCode> {
    let ShowArgs {
        license_id,
        within,
        common,
    } = a;
    let now = clock::now()?;
    let reg = common.existing_registry()?;
    let r = match reg.get(&license_id)? {
        Some(r) => r,
        None => reg.get_by_key(&license_id)?.with_context(|| {
            format!("no license {license_id} in the registry (neither an id nor a license key)")
        })?,
    };
    let lineage = reg.lineage(&r.lineage_id)?;
    let terms = factory::report::terms(&r)?;
    let seats = reg.live_seats(&r.lineage_id)?;
    if common.json {
        print_json(
            &canon::Value::object(vec![
                ("license".into(), book::record_json(&r, now, within)),
                ("terms".into(), terms.json()),
                ("seats_in_use".into(), report::n(seats)),
                (
                    "lineage".into(),
                    canon::Value::Array(
                        lineage
                            .iter()
                            .map(|x| book::record_json(x, now, within))
                            .collect(),
                    ),
                ),
            ])
            .context("json")?,
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("license     {}", r.license_id);
    println!("key         {}", r.license_key);
    println!("customer    {} ({})", r.customer_name, r.customer_id);
    println!("product     {} / tier {}", r.product, r.tier);
    println!(
        "valid       {} .. {} (grace {} days, until {})",
        r.not_before,
        r.expires_at,
        r.grace_days,
        r.grace_ends()
    );
    println!("view        {}", book::view_text(&r, now, within));
    println!("features    {}", terms.features.join(" "));
    println!("limits      {}", terms.limits_text());
    println!(
        "seats       {seats} in use of {}",
        terms
            .device_limit
            .map_or("no device limit".into(), |n| n.to_string())
    );
    println!("signed by   {}", r.key_id);
    if let (Some(at), Some(why)) = (r.revoked_at, &r.revoke_reason) {
        println!(
            "revoked     {at} ({}): {why}",
            r.revoke_code.as_deref().unwrap_or("unspecified")
        );
    }
    if let Some(at) = r.suspended_at {
        println!("suspended   since {at}");
    }
    println!("lineage     {}", r.lineage_id);
    for x in &lineage {
        let mark = if x.license_id == r.license_id {
            "*"
        } else {
            " "
        };
        println!(
            "  {mark} #{} {} {} .. {} [{}]",
            x.sequence,
            x.license_id,
            x.not_before,
            x.expires_at,
            View::of(x, now, within).as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}
