//! `factory list`: the license book by view, filtered, streamed.

use crate::cli::*;
use anyhow::{Context, Result};
use factory::registry::View;
use factory::report as book;
use signing::clock;
use std::io::Write;
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

/// `--view`: the names of [`View::as_str`].
pub(crate) fn view_parser() -> impl clap::builder::TypedValueParser<Value = View> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(View::ALL.map(View::as_str))
        .map(|s: String| View::parse(&s).expect("a listed view"))
}
