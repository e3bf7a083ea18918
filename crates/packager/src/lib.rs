//! # packager — signed, reproducible delivery bundles
//!
//! Library behind the `packager` binary. [`sign_file`] makes minisign prehashed signatures
//! that stock `minisign -Vm` accepts.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use anyhow::{Context, Result};
use canon::Timestamp;
use signing::SecretKey;
pub mod bundle;
pub mod encrypt;
pub mod gz;
mod inputs;

use std::path::{Path, PathBuf};

/// The trusted comment Airlock puts on a file signature: minisign's own fields
/// (`timestamp`, `file`) plus the signing key id.
pub fn file_comment(file_name: &str, key: &SecretKey, now: Timestamp) -> String {
    let safe: String = file_name
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    format!(
        "timestamp:{}\tfile:{safe}\thashed\tkey_id:{}",
        now.0,
        key.key_id()
    )
}

/// Signs `path` with minisign's prehashed algorithm and writes `path.sig` atomically; an
/// existing `path.sig` is replaced only when `overwrite` (checked before reading the file).
pub fn sign_file(path: &Path, key: &SecretKey, now: Timestamp, overwrite: bool) -> Result<PathBuf> {
    let mut out = path.as_os_str().to_owned();
    out.push(".sig");
    let out = PathBuf::from(out);
    if !overwrite && out.exists() {
        anyhow::bail!(
            "{} already exists; refusing to replace a signature (pass --force to re-sign)",
            out.display()
        );
    }
    let f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sig = key.sign_minisign(std::io::BufReader::new(f), &file_comment(&name, key, now))?;
    signing::fsutil::write_atomic(&out, sig.as_bytes(), 0o644, overwrite)
        .with_context(|| format!("{}", out.display()))?;
    Ok(out)
}
