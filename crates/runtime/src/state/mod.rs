//! The runtime's state directory: what it has already accepted, so that rollback, a clock set
//! backwards and a restored old state are detected. The protocol is specified in
//! `docs/TRUST.md`; [`crate::session::Session`] is the one call every command and product uses.
//!
//! Files (the directory must be owned by the user running the check and writable by no one
//! else, so nobody else can plant a file or a link in it):
//! - `state.json`: the facts, canonical JSON, replaced atomically (new file, fsync, rename);
//! - `state.seal`: the generation and SHA-256 of the current `state.json`. A save writes the new
//!   state to `state.json.pending`, then the seal, then renames the pending file into place; a
//!   run that finds the seal naming the pending file finishes that rename (an interrupted save).
//!   A `state.json` the seal does not name is an old copy put back (refused); a `state.json`
//!   missing while a seal exists is refused too;
//! - `.lock`: an advisory lock held for the whole read–verify–write, exclusive for a real run,
//!   shared for a preview. Previews (`--at`) never write anything.
//!
//! A corrupt file is reported, never silently reset.

use canon::{enc, Timestamp};
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// The state file's name inside the directory.
pub const FILE: &str = "state.json";
/// The seal's name inside the directory.
pub const SEAL: &str = "state.seal";
/// A saved state not yet renamed into place.
pub const PENDING: &str = "state.json.pending";
/// The lock file's name inside the directory.
pub const LOCK: &str = ".lock";
/// A copy of the newest trust file the state accepted: a run given an older file (a cron job
/// or a product still pointing at the path the vendor's previous file was saved to) uses it.
/// It needs no seal: it is signed, and the sealed state pins its digest.
pub const KEPT_TRUST: &str = "trust.json";
/// Largest state file read.
pub const MAX_STATE_BYTES: u64 = 64 << 20;

/// Why the state directory could not be used. `code()` is stable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing failed.
    Io(String),
    /// The file exists but is not a valid state file. It is left untouched.
    Corrupt(String),
    /// The directory was used (it has a seal) but `state.json` is gone.
    Missing(PathBuf),
    /// `state.json` is not the one the seal names: an older copy was put back.
    RolledBack(String),
    /// The directory or a file in it is owned by someone else, writable by others, or a link.
    Unsafe(String),
    /// The clock is earlier than a time already seen or than a signed time.
    TamperSuspected {
        /// The time given now.
        now: Timestamp,
        /// The time it is earlier than.
        seen: Timestamp,
        /// Where that time comes from.
        what: &'static str,
    },
    /// Older than something already accepted.
    Rollback {
        /// What went backwards.
        what: &'static str,
        /// The value presented.
        found: u64,
        /// The highest value accepted.
        seen: u64,
    },
    /// The same version or sequence as one already accepted, with other content.
    Conflict(String),
    /// Every trust file given is older than the version this machine accepted, and no copy of
    /// that version is kept.
    TrustOutdated {
        /// The newest version given.
        found: u64,
        /// The version accepted.
        seen: u64,
    },
}

impl StateError {
    /// A stable machine-readable code.
    pub fn code(&self) -> crate::check::Check {
        use crate::check::Check;
        match self {
            StateError::Io(_) => Check::StateIo,
            StateError::Corrupt(_) => Check::StateCorrupt,
            StateError::Missing(_) => Check::StateMissing,
            StateError::RolledBack(_) => Check::StateRolledBack,
            StateError::Unsafe(_) => Check::StateUnsafe,
            StateError::TamperSuspected { .. } => Check::TamperSuspected,
            StateError::Rollback { .. } => Check::Rollback,
            StateError::Conflict(_) => Check::Conflict,
            StateError::TrustOutdated { .. } => Check::TrustOutdated,
        }
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Io(m) => write!(f, "state directory: {m}"),
            StateError::Corrupt(m) => write!(f, "state file is corrupt ({m}); it was left untouched: inspect or restore it from backup"),
            StateError::Missing(p) => write!(f, "{} is missing from a state directory that was in use (its seal remains); restore it from backup, or delete the directory and start again with the vendor's root", p.display()),
            StateError::RolledBack(m) => write!(f, "state rolled back: {m}; restore the latest state from backup"),
            StateError::Unsafe(m) => write!(f, "unsafe state directory: {m}"),
            StateError::TamperSuspected { now, seen, what } => write!(
                f,
                "tamper suspected: the clock says {now}, earlier than {seen} ({what}); fix the system clock"
            ),
            StateError::Rollback { what, found, seen } => write!(
                f,
                "rollback: {what} {found} is lower than {seen}, already accepted"
            ),
            StateError::Conflict(m) => write!(f, "conflict: {m}"),
            StateError::TrustOutdated { found, seen } => write!(
                f,
                "the trust file given is version {found}, older than version {seen} this machine already accepted: give the vendor's current trust file (nothing was changed)"
            ),
        }
    }
}

impl std::error::Error for StateError {}

/// A pinned root key: the next trust file must be signed by one, inside its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedRoot {
    /// The raw public key.
    pub key: [u8; 32],
    /// Window start.
    pub not_before: Timestamp,
    /// Window end.
    pub not_after: Timestamp,
}

/// The last accepted trust file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPin {
    /// Its version.
    pub version: u64,
    /// SHA-256 of its canonical `signed` object.
    pub sha256: [u8; 32],
    /// When it was signed.
    pub issued_at: Timestamp,
    /// Its active root keys.
    pub roots: Vec<PinnedRoot>,
}

/// The last accepted revocation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationPin {
    /// Its sequence.
    pub sequence: u64,
    /// SHA-256 of its canonical form.
    pub sha256: [u8; 32],
    /// When it was signed.
    pub issued_at: Timestamp,
}

/// The remembered facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Incremented by every save.
    pub generation: u64,
    /// Highest real time a successful check ran at.
    pub highest_time_seen: Option<Timestamp>,
    /// The trust file accepted last.
    pub trust: Option<TrustPin>,
    /// The revocation list accepted last.
    pub revocations: Option<RevocationPin>,
    /// Every license id revoked by any accepted list, with its reason: refused ever after.
    pub revoked: BTreeMap<String, String>,
    /// Last installed bundle sequence per `product/customer`.
    pub bundle_sequences: BTreeMap<String, u64>,
    /// Evaluation start per product.
    pub evaluation_started: BTreeMap<String, Timestamp>,
    /// Activations never to be taken again, with why: revoked by an accepted list, or
    /// deactivated on this machine (format 3).
    pub revoked_activations: BTreeMap<String, String>,
    /// The lowest valid activation epoch per license lineage, from accepted lists (format 3).
    pub activation_epochs: BTreeMap<String, u64>,
    /// The highest lease sequence installed per license lineage (format 3).
    pub activation_sequences: BTreeMap<String, u64>,
    /// The highest license sequence accepted per license lineage (format 4): an older license
    /// of a lineage is never accepted again (a renewal is never replaced by its predecessor).
    pub license_sequences: BTreeMap<String, u64>,
    /// The licenses the newest accepted list suspends, and since when (format 5): replaced by
    /// each newer list, so a resume (a list without the license) lifts it.
    pub suspended: BTreeMap<String, Timestamp>,
}

/// The key of a product and customer channel in [`State::bundle_sequences`].
pub fn channel(product: &str, customer_id: &str) -> String {
    format!("{product}/{customer_id}")
}

impl State {
    /// The last installed bundle sequence of a channel.
    pub fn bundle_sequence(&self, product: &str, customer_id: &str) -> Option<u64> {
        self.bundle_sequences
            .get(&channel(product, customer_id))
            .copied()
    }
}

mod json;

use json::{corrupt, parse_format};
pub use json::{parse, to_bytes};

/// The seal: generation and SHA-256 of the state file it vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seal {
    current: (u64, [u8; 32]),
}

impl Seal {
    const MAGIC: &'static str = "airlock-state-seal 1";

    fn to_bytes(self) -> Vec<u8> {
        let (g, h) = self.current;
        format!("{}\n{g} {}\n", Self::MAGIC, enc::hex(&h)).into_bytes()
    }

    fn parse(b: &[u8]) -> Result<Seal, StateError> {
        let bad = || corrupt(format!("{SEAL} is not a valid seal"));
        let text = std::str::from_utf8(b).map_err(|_| bad())?;
        let text = text.strip_suffix('\n').ok_or_else(bad)?;
        let mut lines = text.split('\n');
        if lines.next() != Some(Self::MAGIC) {
            return Err(bad());
        }
        let entry = |l: &str| -> Result<(u64, [u8; 32]), StateError> {
            let (g, h) = l.split_once(' ').ok_or_else(bad)?;
            if g.is_empty() || !g.bytes().all(|c| c.is_ascii_digit()) || g.len() > 16 {
                return Err(bad());
            }
            Ok((
                g.parse().map_err(|_| bad())?,
                enc::unhex::<32>(h).ok_or_else(bad)?,
            ))
        };
        let current = entry(lines.next().ok_or_else(bad)?)?;
        if lines.next().is_some() {
            return Err(bad());
        }
        Ok(Seal { current })
    }
}

/// An open state directory.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    /// Held for the life of this value (exclusive unless read-only).
    _lock: Option<File>,
    writable: bool,
    fresh: bool,
    /// This run made the directory and has not saved into it yet: dropped so, it removes the
    /// directory again (a failed run, or a mistyped `--state`, leaves nothing behind).
    created: bool,
    /// The state as read.
    state: State,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StateError + '_ {
    move |e| StateError::Io(format!("{}: {e}", path.display()))
}

/// Refuses a path owned by someone else, writable by group or others, or a link.
#[cfg(unix)]
fn check_owner(path: &Path, dir: bool) -> Result<(), StateError> {
    use std::os::unix::fs::MetadataExt;
    let md = fs::symlink_metadata(path).map_err(io(path))?;
    let kind_ok = if dir {
        md.file_type().is_dir()
    } else {
        md.file_type().is_file()
    };
    if !kind_ok {
        return Err(StateError::Unsafe(format!(
            "{} is not a {} (a link or another kind of file)",
            path.display(),
            if dir { "directory" } else { "regular file" }
        )));
    }
    let me = rustix::process::geteuid().as_raw();
    if md.uid() != me {
        return Err(StateError::Unsafe(format!(
            "{} is owned by uid {}, not by the user running this check (uid {me})",
            path.display(),
            md.uid()
        )));
    }
    if md.mode() & 0o022 != 0 {
        return Err(StateError::Unsafe(format!(
            "{} is writable by group or others (mode {:o}); chmod go-w it",
            path.display(),
            md.mode() & 0o7777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner(_path: &Path, _dir: bool) -> Result<(), StateError> {
    Ok(())
}

fn read_capped(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    crate::io::read_capped(path, MAX_STATE_BYTES).map_err(|e| match e {
        crate::io::ReadError::TooLarge { .. } => corrupt(format!(
            "{} is larger than {MAX_STATE_BYTES} bytes",
            path.display()
        )),
        crate::io::ReadError::Io(e) => io(path)(e),
    })
}

impl StateDir {
    /// Opens a state directory for a real run: creates it (mode 0700) if it does not exist,
    /// checks its owner and mode, takes the exclusive lock, and reads the state.
    pub fn open(dir: &Path) -> Result<StateDir, StateError> {
        let created = match fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut b = fs::DirBuilder::new();
                b.recursive(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::DirBuilderExt;
                    b.mode(0o700);
                }
                b.create(dir).map_err(io(dir))?;
                true
            }
            Err(e) => return Err(io(dir)(e)),
            Ok(_) => false,
        };
        let mut d = Self::open_with(dir, true);
        match &mut d {
            Ok(d) => d.created = created,
            Err(_) if created => {
                let _ = fs::remove_file(dir.join(LOCK));
                let _ = fs::remove_dir(dir);
            }
            Err(_) => {}
        }
        d
    }

    /// Opens a state directory for a preview (`--at`): a shared lock, nothing created or written.
    /// A directory that does not exist reads as fresh.
    pub fn open_read_only(dir: &Path) -> Result<StateDir, StateError> {
        match fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StateDir {
                dir: dir.to_path_buf(),
                _lock: None,
                writable: false,
                fresh: true,
                created: false,
                state: State::default(),
            }),
            Err(e) => Err(io(dir)(e)),
            Ok(_) => Self::open_with(dir, false),
        }
    }

    fn open_with(dir: &Path, writable: bool) -> Result<StateDir, StateError> {
        check_owner(dir, true)?;
        let lock_path = dir.join(LOCK);
        let lock = if writable {
            let mut o = fs::OpenOptions::new();
            o.read(true).write(true).create(true).truncate(false);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                o.mode(0o600);
            }
            let f = o.open(&lock_path).map_err(io(&lock_path))?;
            check_owner(&lock_path, false)?;
            f.lock().map_err(io(&lock_path))?;
            Some(f)
        } else {
            match File::open(&lock_path) {
                Ok(f) => {
                    f.lock_shared().map_err(io(&lock_path))?;
                    Some(f)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io(&lock_path)(e)),
            }
        };
        let state_path = dir.join(FILE);
        let seal_path = dir.join(SEAL);
        let pending_path = dir.join(PENDING);
        let seal = match read_capped(&seal_path)? {
            Some(sb) => {
                check_owner(&seal_path, false)?;
                Some(Seal::parse(&sb)?)
            }
            None => None,
        };
        let mut state = read_capped(&state_path)?;
        if let Some(seal) = seal {
            let named =
                |b: &[u8]| parse(b).is_ok_and(|st| (st.generation, enc::sha256(b)) == seal.current);
            if !state.as_deref().is_some_and(named) {
                // An interrupted save: the seal names the pending file. Finish it.
                if let Some(p) = read_capped(&pending_path)?.filter(|p| named(p)) {
                    check_owner(&pending_path, false)?;
                    if writable {
                        fs::rename(&pending_path, &state_path).map_err(io(&state_path))?;
                    }
                    state = Some(p);
                }
            }
        }
        let (state, fresh) = match (state, seal) {
            (None, None) => (State::default(), true),
            (None, Some(_)) => return Err(StateError::Missing(state_path)),
            (Some(b), seal) => {
                check_owner(&state_path, false)?;
                let (st, format) = parse_format(&b)?;
                match seal {
                    Some(seal) => {
                        let mine = (st.generation, enc::sha256(&b));
                        if seal.current != mine {
                            return Err(StateError::RolledBack(format!(
                                "{} is generation {}, but its seal names generation {}",
                                state_path.display(),
                                mine.0,
                                seal.current.0
                            )));
                        }
                    }
                    // Format 1 had no seal; a format-2 state always has one.
                    None if format == 1 => {}
                    None => {
                        return Err(StateError::RolledBack(format!(
                            "{} is missing while {} exists",
                            seal_path.display(),
                            state_path.display()
                        )))
                    }
                }
                (st, false)
            }
        };
        Ok(StateDir {
            dir: dir.to_path_buf(),
            _lock: lock,
            writable,
            created: false,
            fresh,
            state,
        })
    }

    /// The state as read.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether nothing was ever saved here.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The kept copy of the newest accepted trust file ([`KEPT_TRUST`]), if there is one.
    pub fn kept_trust(&self) -> Option<Vec<u8>> {
        crate::io::read_capped(
            &self.dir.join(KEPT_TRUST),
            crate::trust::MAX_TRUST_BYTES as u64,
        )
        .ok()
        .flatten()
    }

    /// Keeps `bytes` as the newest accepted trust file (never in a preview).
    pub fn keep_trust(&self, bytes: &[u8]) -> Result<(), StateError> {
        if !self.writable {
            return Ok(());
        }
        write_atomic_replace(&self.dir.join(KEPT_TRUST), bytes)
    }

    /// Replaces the state with `next` (generation + 1): the new state goes to the pending
    /// file, then the seal names it, then it is renamed into place. Refused for a read-only
    /// (preview) directory.
    pub fn save(&mut self, mut next: State) -> Result<(), StateError> {
        if !self.writable {
            return Err(StateError::Io(
                "a preview (--at) never writes the state".into(),
            ));
        }
        let state_path = self.dir.join(FILE);
        let pending = self.dir.join(PENDING);
        next.generation = self.state.generation + 1;
        let bytes = to_bytes(&next);
        write_atomic(&pending, &bytes)?;
        let seal = Seal {
            current: (next.generation, enc::sha256(&bytes)),
        };
        write_atomic(&self.dir.join(SEAL), &seal.to_bytes())?;
        fs::rename(&pending, &state_path).map_err(io(&state_path))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        self.state = next;
        self.fresh = false;
        self.created = false;
        Ok(())
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        if self.created {
            // Only what this run put there: the lock (and nothing else, or the directory stays).
            let _ = fs::remove_file(self.dir.join(LOCK));
            let _ = fs::remove_dir(&self.dir);
        }
    }
}

/// A new file beside `path` (never following or reusing a link: the name must not exist),
/// fsync, rename over `path`, fsync of the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    fsio::write_atomic(path, bytes, 0o600, true).map_err(io(path))
}

/// [`write_atomic`] for a file that may exist (the kept trust file).
fn write_atomic_replace(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    fsio::write_atomic(path, bytes, 0o644, true).map_err(io(path))
}
