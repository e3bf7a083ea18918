//! `factory home`: the vendor home and the files found through it.

use crate::cli::*;
use anyhow::{Context, Result};
use clikit::report::s;
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct HomeArgs {
    /// Print it as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn home_cmd(a: HomeArgs) -> Result<ExitCode> {
    let HomeArgs { json } = a;
    home(json)?;
    Ok(ExitCode::SUCCESS)
}

/// A located path as printed: a PostgreSQL URL without its password.
fn shown(p: &Path) -> String {
    factory::db::redact(&p.display().to_string())
}

/// `factory home`: the vendor home and the three files the vendor commands find through it.
pub(crate) fn home(json: bool) -> Result<()> {
    let (dir, how) = clikit::home::vendor_home()?;
    let files = [
        ("registry", locate_db(None)?),
        ("catalog", locate_catalog(None)?),
        (
            "packager_state",
            clikit::home::locate(
                None,
                "--state",
                "AIRLOCK_PACKAGER_STATE",
                clikit::home::PACKAGER_STATE,
            )?,
        ),
    ];
    if json {
        let mut m = vec![(
            "home".to_string(),
            canon::Value::object(vec![
                ("path".into(), s(dir.display())),
                ("source".into(), s(&how)),
            ])
            .context("json")?,
        )];
        for (name, l) in &files {
            m.push((
                name.to_string(),
                canon::Value::object(vec![
                    ("path".into(), s(shown(&l.path))),
                    ("source".into(), s(&l.source)),
                    ("exists".into(), canon::Value::Bool(l.path.exists())),
                ])
                .context("json")?,
            ));
        }
        print_json(&canon::Value::object(m).context("json")?);
    } else {
        println!("vendor home     {} ({how})", dir.display());
        for (name, l) in &files {
            let missing = if l.path.exists() {
                ""
            } else {
                ", not there yet"
            };
            println!(
                "{:<15} {} ({}{missing})",
                name.replace('_', " "),
                shown(&l.path),
                l.source
            );
        }
    }
    Ok(())
}
