//! `airlock-seatd export-log`: the lease log, signed by the server's instance key, written
//! with the pool lease for the vendor (FORMAT.md §20). It reads the records directly (the
//! server may be running or not) and carries to the vendor by hand like every other file.

use crate::{pool, store};
use anyhow::{bail, Context, Result};
use canon::Kind;
use runtime::seatlog::{SeatLog, MAX_SEAT_LOG_BYTES, SEAT_LOG_TYPE};
use runtime::Artifact;
use std::path::PathBuf;
use std::process::ExitCode;

/// The options.
#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pool: pool::PoolArgs,
    /// The directory to write: seat-log.json, seat-log.sig, pool.json, pool.sig
    #[arg(long)]
    out: PathBuf,
    /// Only the entries after this one (what the vendor has not seen yet)
    #[arg(long, default_value_t = 0)]
    after: u64,
    /// Replace the files of an earlier export in --out
    #[arg(long)]
    force: bool,
}

/// Writes the export.
pub fn run(a: &ExportArgs) -> Result<ExitCode> {
    let names = ["seat-log.json", "seat-log.sig", "pool.json", "pool.sig"];
    if !a.force && names.iter().any(|n| a.out.join(n).exists()) {
        bail!(
            "{} holds an export already; refusing to overwrite (pass --force, or choose another --out)",
            a.out.display()
        );
    }
    let o = pool::open(&a.pool)?;
    let after = i64::try_from(a.after).context("--after")?;
    let entries = store::log(o.conn.sql(), after)?;
    let log = SeatLog {
        doc_type: SEAT_LOG_TYPE.into(),
        entries,
        exported_at: crate::now().to_string(),
        lineage_id: o.lease.lineage_id.clone(),
        pool_activation_id: o.lease.activation_id.clone(),
        product: o.lease.product.clone(),
        server_public_key: o.lease.instance_public_key.clone(),
    };
    log.validate()
        .map_err(anyhow::Error::new)
        .context("the export")?;
    let mut canonical = log.to_canonical();
    if canonical.len() > MAX_SEAT_LOG_BYTES {
        bail!(
            "the log after entry {} is {} bytes, more than an export holds ({MAX_SEAT_LOG_BYTES}): export it in parts with --after",
            a.after,
            canonical.len()
        );
    }
    let envelope = o.key.sign_document(Kind::SeatLog, &canonical)?;
    canonical.push(b'\n');
    std::fs::create_dir_all(&a.out).with_context(|| format!("{}", a.out.display()))?;
    // The signature last: a directory with seat-log.sig holds a whole export.
    for (name, bytes) in [
        ("pool.json", o.doc.as_bytes().to_vec()),
        ("pool.sig", o.sig.as_bytes().to_vec()),
        ("seat-log.json", canonical),
        ("seat-log.sig", envelope.to_bytes()),
    ] {
        signing::fsutil::write_atomic(&a.out.join(name), &bytes, 0o644, true)
            .with_context(|| format!("{}", a.out.join(name).display()))?;
    }
    let (first, last) = (
        log.entries.first().map_or(0, |e| e.seq),
        log.entries.last().map_or(0, |e| e.seq),
    );
    println!(
        "exported {} entries ({first}..{last}) of pool {} to {}",
        log.entries.len(),
        log.pool_activation_id,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
