//! Extraction: a fresh staging directory next to the destination, moved into place only by
//! [`Verdict::install`], removed otherwise.

use super::*;

/// A fresh staging directory (mode 0700 while verified) next to the destination, moved into
/// place only by [`Verdict::install`] (then with the umask's mode); removed when dropped
/// before that. Creating one removes the staging directories of killed runs.
#[derive(Debug)]
pub(super) struct Staging {
    dir: PathBuf,
    dest: PathBuf,
    done: bool,
    /// Staging directories of earlier runs that were killed, removed by this one.
    pub(super) cleaned: usize,
}

/// Removes `.<name>.staging-<pid>` directories under `parent` whose process is gone (a run
/// killed mid-extraction leaves its staging directory, possibly large). Returns how many; one
/// that cannot be removed is left (the extraction goes on).
fn clean_stale(parent: &Path, name: &str) -> usize {
    let prefix = format!(".{name}.staging-");
    fsio::remove_orphans(parent, |f| f.strip_prefix(&prefix)?.parse().ok()).unwrap_or(0)
}

/// The mode a new directory gets under this process's umask (what `mkdir` would make), read
/// off a probe directory: the installed tree follows the operator's umask, not the staging
/// directory's 0700.
#[cfg(unix)]
fn umask_dir_mode(parent: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let probe = parent.join(format!(".airlock-umask-{}", std::process::id()));
    fs::create_dir(&probe).ok()?;
    let mode = fs::metadata(&probe)
        .ok()
        .map(|m| m.permissions().mode() & 0o777);
    let _ = fs::remove_dir(&probe);
    mode
}

/// Refuses a destination whose parent others can write to without the sticky bit: someone
/// else could swap the staging directory between verification and install.
#[cfg(unix)]
fn check_parent(parent: &Path) -> Result<(), BundleError> {
    use std::os::unix::fs::MetadataExt;
    let md =
        fs::metadata(parent).map_err(|e| BundleError::Io(format!("{}: {e}", parent.display())))?;
    if md.mode() & 0o022 != 0 && md.mode() & 0o1000 == 0 {
        return Err(BundleError::Io(format!(
            "{}: writable by group or others without the sticky bit; extract under a directory only you can write to",
            parent.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_parent(_parent: &Path) -> Result<(), BundleError> {
    Ok(())
}

impl Staging {
    pub(super) fn create(dest: &Path) -> Result<Staging, BundleError> {
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .ok_or_else(|| BundleError::Io(format!("{}: not a directory name", dest.display())))?;
        check_parent(&parent)?;
        let cleaned = clean_stale(&parent, &name.to_string_lossy());
        let dir = parent.join(format!(
            ".{}.staging-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let mut b = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&dir)
            .map_err(|e| BundleError::Io(format!("{}: {e}", dir.display())))?;
        Ok(Staging {
            dir,
            dest: dest.to_path_buf(),
            done: false,
            cleaned,
        })
    }

    pub(super) fn file(
        &self,
        path: &canon::path::SafePath,
        mode: u32,
    ) -> Result<File, BundleError> {
        // SafePath cannot escape; the staging tree holds only what this process created.
        let target = self.dir.join(path.as_str());
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| BundleError::Io(format!("staging {path}: {e}")))?;
        }
        let mut o = fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(mode);
        }
        let _ = mode;
        o.open(&target)
            .map_err(|e| BundleError::Io(format!("staging {path}: {e}")))
    }

    /// Renames the staging directory to the destination; on any failure it is removed.
    pub(super) fn commit(mut self) -> Result<PathBuf, BundleError> {
        if self.dest.exists() {
            return Err(BundleError::Io(format!(
                "{}: appeared during verification; nothing was installed",
                self.dest.display()
            )));
        }
        // Private while it was verified; installed, it follows the umask like any mkdir.
        #[cfg(unix)]
        if let Some(mode) = self.dir.parent().and_then(umask_dir_mode) {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(mode))
                .map_err(|e| BundleError::Io(format!("{}: {e}", self.dir.display())))?;
        }
        fs::rename(&self.dir, &self.dest)
            .map_err(|e| BundleError::Io(format!("{}: {e}", self.dest.display())))?;
        self.done = true;
        Ok(self.dest.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
