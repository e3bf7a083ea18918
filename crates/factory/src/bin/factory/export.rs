//! `factory export`: a recorded license's files written again, or the whole book's.

use crate::cli::*;
use anyhow::{Context, Result};
use clikit::report::{self, s};
use factory::issue;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct ExportArgs {
    /// The license to write (or --all)
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub(crate) license_id: Option<String>,
    /// Every recorded license whose files are missing from OUT/<license_id>/ (the layout
    /// of `issue --batch`); files already there must be the recorded bytes
    #[arg(long)]
    pub(crate) all: bool,
    /// Directory for license.json and license.sig (with --all: one directory per license)
    #[arg(long)]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) common: Common,
}

pub(crate) fn export_cmd(a: ExportArgs) -> Result<ExitCode> {
    let ExportArgs {
        license_id,
        all,
        out,
        common,
    } = a;
    let reg = common.existing_registry()?;
    if all {
        let bar = crate::cli::progress(reg.license_count()?, "licenses");
        let done = factory::export::export_all(&reg, &out, |n| bar.inc(n))?;
        bar.finish_and_clear();
        if done.cleaned > 0 {
            eprintln!(
                "removed {} partial directories left under {} by an earlier export that was killed",
                done.cleaned,
                out.display()
            );
        }
        let (count, restored) = (done.licenses, done.restored);
        if common.json {
            print_json(&report::valid(
                "command",
                &"export",
                vec![
                    ("licenses", report::n(count)),
                    ("restored", report::n(restored)),
                    ("out", s(out.display())),
                ],
            )?);
        } else {
            println!(
                "{} licenses in the registry; wrote the files of {restored} that were missing under {}",
                count,
                out.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let license_id = license_id.context("a license id or --all is required")?;
    let r = reg
        .get(&license_id)?
        .with_context(|| format!("no license {license_id} in the registry"))?;
    let (json, sig) = issue::files_of(&r)?;
    let paths = issue::write_files(&out, &json, &sig)?;
    if common.json {
        print_json(&report::valid(
            "command",
            &"export",
            vec![
                ("license_id", s(&license_id)),
                ("license", s(paths[0].display())),
                ("signature", s(paths[1].display())),
            ],
        )?);
    } else {
        println!("wrote {} and {}", paths[0].display(), paths[1].display());
    }
    Ok(ExitCode::SUCCESS)
}
