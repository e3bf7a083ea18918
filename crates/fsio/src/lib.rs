//! # fsio — Airlock's two file primitives, one home each
//!
//! - [`read_capped`]: at most `cap` bytes of a file are read; a larger file is refused without
//!   reading further; a missing file is `None`. Every file a verifier is handed goes through it.
//! - [`write_atomic`]: a temporary file in the same directory (created new, never following a
//!   link, mode as asked), fsync, rename, fsync of the directory: a reader sees the old file
//!   or the whole new one, never half of it, and a killed run leaves nothing half-written.
//!
//! - [`remove_orphans`]: the hidden work directories of runs that were killed (named with
//!   their process id) are found and removed by the next run.
//!
//! No dependencies: the verify-only runtime and the signing side both use it.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically with the given Unix mode (ignored elsewhere), and
/// durably (file and directory fsync). Refuses to replace an existing file unless `overwrite`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, overwrite: bool) -> io::Result<()> {
    write_atomic_with(path, bytes, mode, overwrite, true)
}

/// Like [`write_atomic`]; with `durable` false the data is not fsynced: readers still see the
/// old file or the whole new one (rename), but after a power loss the file may be missing.
/// Use it only where another durable copy exists (the factory registry holds every license).
pub fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    overwrite: bool,
    durable: bool,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    if !overwrite && path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} already exists; refusing to overwrite", path.display()),
        ));
    }
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = open_new(&tmp, mode)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        drop(f);
        fs::rename(&tmp, path)?;
        if durable {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn open_new(path: &Path, mode: u32) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
    };
    match open() {
        // A temporary left behind by a killed process with the same pid: replace it.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(path)?;
            open()
        }
        other => other,
    }
}

#[cfg(not(unix))]
fn open_new(path: &Path, _mode: u32) -> io::Result<File> {
    let _ = fs::remove_file(path);
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Why a capped read failed.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(io::Error),
    /// The file is larger than the cap.
    TooLarge {
        /// The cap, in bytes.
        cap: u64,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::TooLarge { cap } => write!(f, "larger than {cap} bytes"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            ReadError::TooLarge { .. } => None,
        }
    }
}

/// The permission bits of a secret file (a private key, a credential) when its group or others
/// may read or write it (`Ok(None)`: owner only; always on platforms without Unix modes): the
/// one check every secret file passes before it is read.
pub fn shared_mode(path: &Path) -> io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Ok(Some(mode));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(None)
}

/// Reads at most `cap` bytes of `path`; `Ok(None)` when it does not exist.
pub fn read_capped(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, ReadError> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    };
    let mut b = Vec::new();
    f.take(cap.saturating_add(1))
        .read_to_end(&mut b)
        .map_err(ReadError::Io)?;
    if b.len() as u64 > cap {
        return Err(ReadError::TooLarge { cap });
    }
    Ok(Some(b))
}

/// Whether process `pid` still runs (Linux: `/proc/PID`; elsewhere assumed to, so that no
/// other run's work is ever removed).
pub fn process_running(pid: u32) -> bool {
    !cfg!(target_os = "linux") || Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the directories in `parent` whose name `owner` maps to the id of a process that no
/// longer runs (never this process's): what runs killed mid-work left behind. Returns how
/// many were removed; one that cannot be removed is an error naming it.
pub fn remove_orphans(parent: &Path, owner: impl Fn(&str) -> Option<u32>) -> io::Result<usize> {
    let mut n = 0;
    for e in fs::read_dir(parent)? {
        let e = e?;
        let Some(pid) = e.file_name().to_str().and_then(&owner) else {
            continue;
        };
        if pid != std::process::id() && !process_running(pid) {
            fs::remove_dir_all(e.path()).map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!("removing {}: {err}", e.path().display()),
                )
            })?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_file_with_mode_and_refuses_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        write_atomic(&p, b"hello", 0o600, false).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let e = write_atomic(&p, b"other", 0o600, false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        write_atomic(&p, b"other", 0o644, true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"other");
        // No temporary files left behind.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn reads_are_capped_and_a_missing_file_is_none() {
        let d = std::env::temp_dir().join(format!("airlock-io-{}", std::process::id()));
        std::fs::write(&d, b"12345").unwrap();
        assert_eq!(read_capped(&d, 5).unwrap().unwrap(), b"12345");
        assert!(matches!(
            read_capped(&d, 4),
            Err(ReadError::TooLarge { cap: 4 })
        ));
        std::fs::remove_file(&d).unwrap();
        assert!(read_capped(&d, 4).unwrap().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_readable_by_group_or_others_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("secret");
        for (mode, shared) in [
            (0o600, None),
            (0o400, None),
            (0o640, Some(0o640)),
            (0o604, Some(0o604)),
        ] {
            write_atomic(&p, b"k", mode, true).unwrap();
            assert_eq!(shared_mode(&p).unwrap(), shared, "mode {mode:o}");
        }
        assert!(shared_mode(&d.path().join("missing")).is_err());
    }

    #[test]
    fn orphans_of_dead_processes_are_removed_and_live_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        let me = std::process::id();
        for n in [format!(".w.{me}"), ".w.4194304".into(), "keep".into()] {
            fs::create_dir_all(d.path().join(&n).join("inner")).unwrap();
        }
        let owner = |f: &str| f.strip_prefix(".w.")?.parse().ok();
        assert_eq!(remove_orphans(d.path(), owner).unwrap(), 1);
        assert!(
            d.path().join(format!(".w.{me}")).exists(),
            "this run's own work stays"
        );
        assert!(d.path().join("keep").exists());
        assert!(!d.path().join(".w.4194304").exists());
    }
}
