//! The vendor home: one directory for the vendor's working files (the registry, the
//! packager's sequence state, the catalog), so that running a command from another directory
//! never silently starts a new registry or a new sequence.
//!
//! It is `$AIRLOCK_HOME`, else `$XDG_DATA_HOME/airlock`, else `$HOME/.local/share/airlock`.
//! Each file in it can still be named by a flag or its own variable (`AIRLOCK_DB`,
//! `AIRLOCK_CATALOG`, `AIRLOCK_PACKAGER_STATE`), which win over the home.

use anyhow::{bail, Context, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// The packager's sequence state's file name in the vendor home.
pub const PACKAGER_STATE: &str = "packager-state.json";

/// Where a path came from, for `factory home` and for the messages that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag(&'static str),
    /// An environment variable (or its old alias).
    Env(&'static str),
    /// The vendor home, itself found through this source.
    Home(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(x) => write!(f, "from {x}"),
            Source::Env(x) => write!(f, "from ${x}"),
            Source::Home(x) => write!(f, "in the vendor home, {x}"),
        }
    }
}

/// A located vendor file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The path.
    pub path: PathBuf,
    /// Where it came from.
    pub source: Source,
}

/// The vendor home and how it was found.
pub fn vendor_home() -> Result<(PathBuf, String)> {
    if let Some(h) = crate::env::path("AIRLOCK_HOME") {
        return Ok((h, "from $AIRLOCK_HOME".into()));
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        let x = PathBuf::from(x);
        if x.is_absolute() {
            return Ok((x.join("airlock"), "from $XDG_DATA_HOME".into()));
        }
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => Ok((
            PathBuf::from(h).join(".local/share/airlock"),
            "the default, $HOME/.local/share/airlock".into(),
        )),
        None => bail!("no vendor home: set AIRLOCK_HOME (or HOME) to the directory that keeps the registry, the catalog and the packager's state"),
    }
}

/// A vendor file: `flag` when given, else the variable `env`, else `name` in the vendor home.
pub fn locate(
    flag: Option<&Path>,
    flag_name: &'static str,
    env: &'static str,
    name: &str,
) -> Result<Located> {
    if let Some(p) = flag {
        return Ok(Located {
            path: p.to_path_buf(),
            source: Source::Flag(flag_name),
        });
    }
    if let Some(p) = crate::env::path(env) {
        return Ok(Located {
            path: p,
            source: Source::Env(env),
        });
    }
    let (home, how) = vendor_home()?;
    Ok(Located {
        path: home.join(name),
        source: Source::Home(how),
    })
}

/// Before a vendor file may be created: makes its parent directory (the vendor home, mode
/// 0700, on first use). Returns whether the file is new; say so with [`announce`] once it
/// was created.
pub fn prepare(l: &Located) -> Result<bool> {
    if l.path.exists() {
        return Ok(false);
    }
    if let Some(dir) = l.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    Ok(true)
}

/// Says on standard error that a vendor file was created, and where it came from (running
/// from the wrong place shows at once).
pub fn announce(l: &Located, what: &str) {
    eprintln!("note: new {what} at {} ({})", l.path.display(), l.source);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_wins_then_the_variable_then_the_home() {
        let l = locate(
            Some(Path::new("x.db")),
            "--db",
            "AIRLOCK_TEST_UNSET_VAR",
            "factory.db",
        )
        .unwrap();
        assert_eq!(
            (l.path, l.source),
            (PathBuf::from("x.db"), Source::Flag("--db"))
        );
    }
}
