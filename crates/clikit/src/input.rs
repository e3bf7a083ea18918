//! Reading what a command is given: capped reads (nothing hostile is read whole), the default
//! signature path, the vendor's own trust file, and the customer's clock.

use anyhow::{Context, Result};
use canon::Timestamp;
use runtime::session::Clock;
use runtime::trust::RootSpec;
use runtime::{Anchors, TrustStore, VerifyError};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Reads at most `cap` bytes of `path`; a larger file is refused (`input_too_large`) without
/// being read further.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    match read_optional(path, cap)? {
        Some(b) => Ok(b),
        // Missing: the system's own words for it (the open fails again, as it did).
        None => Err(std::fs::File::open(path)
            .err()
            .unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)))
        .with_context(|| format!("{}", path.display())),
    }
}

/// A capped read of an optional file: `None` when it does not exist. The one capped read,
/// `runtime::io::read_capped`, with the runtime's check for a file over the cap.
pub fn read_optional(path: &Path, cap: u64) -> Result<Option<Vec<u8>>> {
    runtime::io::read_capped(path, cap).map_err(|e| {
        match e {
            runtime::io::ReadError::TooLarge { cap } => anyhow::Error::new(VerifyError::TooLarge {
                what: "input file",
                limit: cap,
            }),
            runtime::io::ReadError::Io(io) => anyhow::Error::new(io),
        }
        .context(format!("{}", path.display()))
    })
}

/// A license as `--license` names it (its directory or its `license.json`:
/// `runtime::license::files_at`): the document (missing: an error naming both forms), the
/// signature when present (`sig` overrides where it is looked for), and the document's path.
pub fn read_license(p: &Path, sig: Option<&Path>) -> Result<(Vec<u8>, Option<Vec<u8>>, PathBuf)> {
    let (doc_path, sig_path) = runtime::license::files_at(p);
    let doc = read_optional(&doc_path, runtime::license::MAX_LICENSE_BYTES as u64)?
        .with_context(|| runtime::license::missing(p))?;
    let sig_path = sig.map_or(sig_path, Path::to_path_buf);
    let sig = read_optional(&sig_path, canon::sig::MAX_ENVELOPE_BYTES as u64)?;
    Ok((doc, sig, doc_path))
}

/// The signature of `file`: `sig` when given, else `FILE.sig` beside it.
pub fn sig_path(file: &Path, sig: Option<PathBuf>) -> PathBuf {
    sig.unwrap_or_else(|| {
        let mut p = file.as_os_str().to_owned();
        p.push(".sig");
        PathBuf::from(p)
    })
}

/// The vendor's own trust file (factory, packager): capped, and accepted on its own roots —
/// the vendor holds those keys. Customers anchor theirs (`runtime::session`).
pub fn vendor_trust(path: &Path) -> Result<TrustStore> {
    let bytes = read_capped(path, runtime::trust::MAX_TRUST_BYTES as u64)?;
    TrustStore::from_trust_file(&bytes, &runtime::danger::trust_on_first_use())
        .with_context(|| format!("{}", path.display()))
}

/// The anchors for a customer's first trust file, in this order: every `--root` (a public key
/// in base64, a key id, or a NAME.pub / NAME.minisign.pub file), then `AIRLOCK_ROOT`
/// (comma-separated, same forms), then `STATE/root.pub`. With none, trust on first use when
/// `first_use` (the operator's explicit `--trust-on-first-use`, with a warning), else `None`.
/// A malformed root is a usage error (exit 2), not a rejected artifact.
pub fn root_anchors(
    roots: &[String],
    state: Option<&Path>,
    first_use: bool,
) -> Result<Option<Anchors>> {
    let mut specs: Vec<RootSpec> = Vec::new();
    let env = crate::env::var_os("AIRLOCK_ROOT").unwrap_or_default();
    let env = env.to_string_lossy();
    let values = roots.iter().map(|r| ("--root", r.as_str())).chain(
        env.split(',')
            .filter(|v| !v.trim().is_empty())
            .map(|v| ("AIRLOCK_ROOT", v.trim())),
    );
    for (source, v) in values {
        let p = Path::new(v);
        let text = if p.is_file() {
            read_capped(p, 4096)?
        } else {
            v.as_bytes().to_vec()
        };
        specs.push(RootSpec::parse(&text).map_err(|e| anyhow::anyhow!("{source} {v:?}: {e}"))?);
    }
    if let Some(dir) = state {
        let p = dir.join("root.pub");
        if let Some(b) = read_optional(&p, 4096)? {
            specs.push(RootSpec::parse(&b).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?);
        }
    }
    if !specs.is_empty() {
        return Ok(Some(RootSpec::anchors(&specs)));
    }
    if first_use {
        eprintln!("warning: trust on first use: the trust file is accepted on the word of a root key it names itself; anyone who can replace the delivery can replace it (pass --root with the vendor's root key)");
        return Ok(Some(runtime::danger::trust_on_first_use()));
    }
    Ok(None)
}

/// The customer's clock: a preview at `--at` (RFC 3339 UTC, or a date meaning its last
/// second, [`Timestamp::parse_day_end_or_time`]),
/// else the system clock, read here once.
pub fn clock(at: Option<&str>) -> Result<Clock> {
    match at {
        Some(s) => Timestamp::parse_day_end_or_time(s)
            .map(Clock::Preview)
            .with_context(|| format!("--at {s:?} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")),
        None => Ok(Clock::System(Timestamp(
            SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64,
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_reads_refuse_one_byte_more() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_capped(&p, 5).unwrap(), b"12345");
        let e = read_capped(&p, 4).unwrap_err();
        assert_eq!(
            runtime::check_of(e.as_ref()),
            Some(runtime::Check::InputTooLarge)
        );
        assert!(read_optional(&d.path().join("none"), 4).unwrap().is_none());
        assert_eq!(
            sig_path(&p, None),
            d.path().join("f.sig"),
            "FILE.sig beside it"
        );
    }
}
