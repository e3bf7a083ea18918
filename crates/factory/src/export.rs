//! Writing recorded licenses back to files: one license's directory made whole again
//! ([`restore_files`]), and the whole book (`factory export --all`, [`export_all`]).
//!
//! A whole book is mostly directory operations for the kernel, so a license whose directory is
//! missing is written the cheapest way that is still atomic: its two files go into a hidden
//! directory `.<license_id>.part-<pid>` that is renamed into place, so `<license_id>/` appears
//! whole or not at all. A run killed midway leaves such hidden directories; the next run removes
//! them (those of processes no longer running) and says how many.

use crate::issue::files_of;
use crate::registry::{Record, Registry};
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::Path;

/// Licenses read from the registry per page.
pub const PAGE: usize = 1000;

/// Makes sure `dir` holds the files of recorded license `r`: writes each that is missing (an
/// interrupted run may have left `license.json` without `license.sig`), accepts each that
/// holds the recorded bytes, refuses anything else. Returns whether it wrote anything.
pub fn restore_files(r: &Record, dir: &Path, durable: bool) -> Result<bool> {
    let (json, sig) = files_of(r)?;
    let mut wrote = false;
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    for (name, bytes) in [("license.json", &json), ("license.sig", &sig)] {
        let p = dir.join(name);
        match std::fs::read(&p) {
            Ok(found) if found == *bytes => {}
            Ok(_) => bail!(
                "{} is not the recorded license {}; move it away and run again",
                p.display(),
                r.license_id
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                signing::fsutil::write_atomic_with(&p, bytes, 0o644, false, durable)
                    .with_context(|| format!("{}", p.display()))?;
                wrote = true;
            }
            Err(e) => return Err(e).with_context(|| format!("{}", p.display())),
        }
    }
    Ok(wrote)
}

/// What [`export_all`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    /// Licenses in the registry.
    pub licenses: u64,
    /// Of those, how many had files written.
    pub restored: u64,
    /// Hidden partial directories of earlier, killed runs removed.
    pub cleaned: u64,
}

/// Makes `out/<license_id>/` hold the files of every recorded license (the layout of
/// `issue --batch`): missing directories written whole, present ones checked and completed
/// ([`restore_files`]). Files are not fsynced one by one; the filesystem is synced once at the
/// end. `progress` is told of each page done.
pub fn export_all(reg: &Registry, out: &Path, progress: impl Fn(u64)) -> Result<Exported> {
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let mut done = Exported {
        cleaned: clean_stale(out)?,
        ..Exported::default()
    };
    let present = names_in(out)?;
    let mut after: Option<String> = None;
    loop {
        let page = reg.records_after(after.as_deref(), PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.license_id.clone());
        done.restored += restore_page(&page, out, &present)?;
        done.licenses += page.len() as u64;
        progress(page.len() as u64);
    }
    if done.restored > 0 {
        sync_filesystem(out)?;
    }
    Ok(done)
}

/// Restores one page on every core.
fn restore_page(page: &[Record], out: &Path, present: &HashSet<String>) -> Result<u64> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let part = page.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let jobs: Vec<_> = page
            .chunks(part)
            .map(|rows| {
                scope.spawn(move || -> Result<u64> {
                    let mut n = 0;
                    for r in rows {
                        let wrote = if present.contains(&r.license_id) {
                            restore_files(r, &out.join(&r.license_id), false)?
                        } else {
                            write_new(r, out)?
                        };
                        n += u64::from(wrote);
                    }
                    Ok(n)
                })
            })
            .collect();
        jobs.into_iter()
            .map(|j| {
                j.join()
                    .map_err(|_| anyhow::anyhow!("an export worker panicked"))?
            })
            .sum()
    })
}

/// Writes `out/<id>/` whole through a hidden directory renamed into place. When the directory
/// appeared meanwhile (another process), falls back to [`restore_files`].
fn write_new(r: &Record, out: &Path) -> Result<bool> {
    let (json, sig) = files_of(r)?;
    let part = out.join(format!(".{}.part-{}", r.license_id, std::process::id()));
    let target = out.join(&r.license_id);
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir(&part)?;
        for (name, bytes) in [("license.json", &json), ("license.sig", &sig)] {
            write_file(&part.join(name), bytes)?;
        }
        std::fs::rename(&part, &target)
    })();
    match result {
        Ok(()) => Ok(true),
        Err(_) if target.is_dir() => {
            let _ = std::fs::remove_dir_all(&part);
            restore_files(r, &target, false)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&part);
            Err(e).with_context(|| format!("writing {}", target.display()))
        }
    }
}

fn write_file(p: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o644);
    }
    o.open(p)?.write_all(bytes)
}

/// The names of the directories in `out`.
fn names_in(out: &Path) -> Result<HashSet<String>> {
    let mut names = HashSet::new();
    for e in std::fs::read_dir(out).with_context(|| format!("{}", out.display()))? {
        let e = e.with_context(|| format!("{}", out.display()))?;
        if let Some(n) = e.file_name().to_str() {
            names.insert(n.to_string());
        }
    }
    Ok(names)
}

/// Removes the hidden partial directories (`.<id>.part-<pid>`) of runs no longer running.
fn clean_stale(out: &Path) -> Result<u64> {
    let n = fsio::remove_orphans(out, |name| {
        name.strip_prefix(".lic-")
            .and_then(|s| s.rsplit_once(".part-"))
            .and_then(|(_, pid)| pid.parse().ok())
    })
    .with_context(|| format!("{}", out.display()))?;
    Ok(n as u64)
}

/// Flushes the filesystem holding `dir` to disk: one call for every file written below it.
fn sync_filesystem(dir: &Path) -> Result<()> {
    let d = std::fs::File::open(dir).with_context(|| format!("{}", dir.display()))?;
    #[cfg(target_os = "linux")]
    rustix::fs::syncfs(&d).with_context(|| format!("syncing {}", dir.display()))?;
    #[cfg(not(target_os = "linux"))]
    d.sync_all()
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}
