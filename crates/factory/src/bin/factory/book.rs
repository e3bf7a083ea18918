//! The license book: `factory list`, `show`, `home` and `export`.

use crate::cli::*;
use anyhow::{Context, Result};
use clikit::report::{self, s};
use factory::issue;
use factory::registry::View;
use factory::report as book;
use signing::clock;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct ListArgs {
    #[arg(long, value_parser = view_parser())]
    pub(crate) view: Option<View>,
    /// Warning window in days for expiring-soon
    #[arg(long, default_value_t = 30)]
    pub(crate) within: i64,
    /// At most this many rows in all, across views (0 = all)
    #[arg(long, default_value_t = 0)]
    pub(crate) limit: u64,
    /// Only this customer's licenses (customer id)
    #[arg(long, value_name = "ID")]
    pub(crate) customer: Option<String>,
    /// Only this product's
    #[arg(long, value_name = "ID")]
    pub(crate) product: Option<String>,
    /// Only this tier's
    #[arg(long)]
    pub(crate) tier: Option<String>,
    /// Only licenses signed by this key (key id: what a leaked key signed)
    #[arg(long = "signed-by", value_name = "KEY_ID")]
    pub(crate) signed_by: Option<String>,
    /// Only this lineage's
    #[arg(long, value_name = "ID")]
    pub(crate) lineage: Option<String>,
    #[command(flatten)]
    pub(crate) common: Common,
}

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

#[derive(clap::Args)]
pub(crate) struct HomeArgs {
    /// Print it as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn list_cmd(a: ListArgs) -> Result<ExitCode> {
    let ListArgs {
        view,
        within,
        limit,
        customer,
        product,
        tier,
        signed_by,
        lineage,
        common,
    } = a;
    let filter = factory::registry::Filter {
        customer,
        product,
        tier,
        key_id: signed_by,
        lineage,
    };
    let now = clock::now()?;
    let reg = common.existing_registry()?;
    let views: Vec<View> = match view {
        Some(v) => vec![v],
        None => View::ALL.to_vec(),
    };
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    // Rows are streamed: memory stays flat however large the view.
    let result = (|| -> Result<()> {
        // Under --json one report object (members in canonical order), its rows streamed.
        if common.json {
            w.write_all(br#"{"check":null,"command":"list","error":null,"licenses":["#)?;
        } else {
            writeln!(w, "{}", book::HEADER)?;
        }
        let mut first = true;
        // --limit counts rows of the whole listing, across views.
        let mut printed: u64 = 0;
        for v in views {
            let room = match limit {
                0 => 0,
                n if printed >= n => break,
                n => n - printed,
            };
            reg.for_each(v, &filter, now, within, room, |r| {
                printed += 1;
                if common.json {
                    w.write_all(if first { b"\n" } else { b",\n" })?;
                    w.write_all(&book::record_json(&r, now, within).to_canonical())?;
                } else {
                    writeln!(w, "{}", book::record_line(&r, now, within))?;
                }
                first = false;
                Ok(())
            })?;
        }
        if common.json {
            w.write_all(if first { b"" } else { b"\n" })?;
            w.write_all(b"],\"valid\":true}\n")?;
        }
        w.flush()?;
        Ok(())
    })();
    if let Err(e) = result {
        let broken = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if !broken {
            return Err(e).context("factory list");
        }
    }
    Ok(ExitCode::SUCCESS)
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

pub(crate) fn home_cmd(a: HomeArgs) -> Result<ExitCode> {
    let HomeArgs { json } = a;
    home(json)?;
    Ok(ExitCode::SUCCESS)
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

/// `--view`: the names of [`View::as_str`].
pub(crate) fn view_parser() -> impl clap::builder::TypedValueParser<Value = View> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(View::ALL.map(View::as_str))
        .map(|s: String| View::parse(&s).expect("a listed view"))
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
