//! `factory activation seat-logs`: the vendor's view of seat logs its customers exported.

use crate::cli::print_json;
use anyhow::{Context, Result};
use canon::Value;
use clikit::report::{n, object, s};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Verifies each export, then compares them: exit 0 one chain per pool, 1 an export refused
/// (its check named) or two chains for one pool.
pub(super) fn seat_logs_cmd(dirs: &[PathBuf], trust: &Path, json: bool) -> Result<ExitCode> {
    let trust = clikit::input::vendor_trust(trust)?;
    let read = |d: &Path, f: &str, cap: usize| -> Result<Vec<u8>> {
        clikit::input::read_capped(&d.join(f), cap as u64)
            .with_context(|| format!("{}", d.display()))
    };
    let mut logs = Vec::new();
    let mut refused = Vec::new();
    for d in dirs {
        let pool = read(d, "pool.json", runtime::activation::MAX_ACTIVATION_BYTES)?;
        let pool_sig = read(d, "pool.sig", canon::sig::MAX_ENVELOPE_BYTES)?;
        let log = read(d, "seat-log.json", runtime::seatlog::MAX_SEAT_LOG_BYTES)?;
        let log_sig = read(d, "seat-log.sig", canon::sig::MAX_ENVELOPE_BYTES)?;
        match runtime::floating::verify_seat_log(&trust, (&pool, &pool_sig), (&log, &log_sig)) {
            Ok((_, l)) => logs.push((d.display().to_string(), l)),
            Err(e) => refused.push((d.display().to_string(), e.code().as_str(), e.to_string())),
        }
    }
    let (seen, forks) = factory::seatlogs::compare(&logs);
    if json {
        print_json(&object(vec![
            ("valid", Value::Bool(refused.is_empty() && forks.is_empty())),
            (
                "refused",
                Value::Array(
                    refused
                        .iter()
                        .map(|(d, c, m)| {
                            object(vec![("dir", s(d)), ("check", s(c)), ("error", s(m))])
                        })
                        .collect::<Result<_>>()?,
                ),
            ),
            (
                "lineages",
                Value::Array(
                    seen.iter()
                        .map(|(l, v)| {
                            object(vec![
                                ("lineage_id", s(l)),
                                ("entries", n(v.entries)),
                                ("head", n(v.head as u64)),
                                (
                                    "servers",
                                    Value::Array(v.leases_by_server.keys().map(s).collect()),
                                ),
                            ])
                        })
                        .collect::<Result<_>>()?,
                ),
            ),
            (
                "forks",
                Value::Array(
                    forks
                        .iter()
                        .map(|f| {
                            object(vec![
                                ("lineage_id", s(&f.lineage_id)),
                                ("seq", n(f.seq as u64)),
                                (
                                    "between",
                                    Value::Array(f.between.iter().map(|(d, _)| s(d)).collect()),
                                ),
                            ])
                        })
                        .collect::<Result<_>>()?,
                ),
            ),
        ])?);
    } else {
        for (d, c, m) in &refused {
            println!("{d}: REJECTED [{c}]: {m}");
        }
        for (l, v) in &seen {
            let servers: Vec<String> = v
                .leases_by_server
                .iter()
                .map(|(k, c)| format!("{k} ({c} leases)"))
                .collect();
            println!(
                "lineage {l}: {} entries up to {} from {}",
                v.entries,
                v.head,
                servers.join(", ")
            );
        }
        for f in &forks {
            println!(
                "TWO CHAINS for lineage {} from entry {}: {} (pool {}) and {} (pool {}): a seat server copied onto a second machine, or the pool's servers on separate databases",
                f.lineage_id, f.seq, f.between[0].0, f.between[0].1, f.between[1].0, f.between[1].1
            );
        }
    }
    Ok(if refused.is_empty() && forks.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(clikit::outcome::EXIT_REJECTED)
    })
}
