//! The runtime's state directory: what it has already seen, so that rollback and a clock set
//! backwards are detected. One file, `state.json`, replaced atomically (temp file, fsync,
//! rename). A corrupt file is reported, never silently reset.
//!
//! ```json
//! {"airlock_state":1,"bundle_sequences":{"gateway/acme":3},"evaluation_started":{"gateway":T},
//!  "highest_time_seen":T,"revocation_sequence":N,"trust_roots":[B64],"trust_version":N}
//! ```

use canon::{Timestamp, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The state file's name inside the directory.
pub const FILE: &str = "state.json";
/// Evaluation length in days.
pub const EVALUATION_DAYS: i64 = 60;

/// Why the state directory could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing failed.
    Io(String),
    /// The file exists but is not a valid state file. It is left untouched.
    Corrupt(String),
    /// The clock is earlier than a time already seen.
    TamperSuspected {
        /// The time given now.
        now: Timestamp,
        /// The highest time seen before.
        seen: Timestamp,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Io(m) => write!(f, "state directory: {m}"),
            StateError::Corrupt(m) => write!(f, "state file is corrupt ({m}); it was left untouched: inspect or restore it from backup"),
            StateError::TamperSuspected { now, seen } => write!(
                f,
                "tamper suspected: the clock says {now}, but {seen} was already seen; fix the system clock"
            ),
        }
    }
}

impl std::error::Error for StateError {}

/// The remembered facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Highest time any verification ran at.
    pub highest_time_seen: Option<Timestamp>,
    /// Highest trust-file version accepted.
    pub trust_version: u64,
    /// Root public keys of the last trust file accepted: the next one must be signed by one.
    pub trust_roots: Vec<[u8; 32]>,
    /// Highest revocation-list sequence accepted.
    pub revocation_sequence: u64,
    /// Last installed bundle sequence per `product/customer`.
    pub bundle_sequences: BTreeMap<String, u64>,
    /// Evaluation start per product.
    pub evaluation_started: BTreeMap<String, Timestamp>,
}

/// A state directory.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    /// The current state.
    pub state: State,
}

fn corrupt(m: impl Into<String>) -> StateError {
    StateError::Corrupt(m.into())
}

fn int(v: &Value, what: &str) -> Result<u64, StateError> {
    match v {
        Value::Number(n)
            if *n >= 0.0 && n.fract() == 0.0 && *n <= crate::MAX_SAFE_INTEGER as f64 =>
        {
            Ok(*n as u64)
        }
        _ => Err(corrupt(format!("{what} is not a whole number"))),
    }
}

fn time(v: &Value, what: &str) -> Result<Timestamp, StateError> {
    v.as_str()
        .and_then(Timestamp::parse)
        .ok_or_else(|| corrupt(format!("{what} is not a timestamp")))
}

impl StateDir {
    /// Opens (creating the directory if needed) and reads the state.
    pub fn open(dir: &Path) -> Result<StateDir, StateError> {
        fs::create_dir_all(dir).map_err(|e| StateError::Io(format!("{}: {e}", dir.display())))?;
        let path = dir.join(FILE);
        let state = match fs::read(&path) {
            Ok(b) => Self::parse(&b)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(StateError::Io(format!("{}: {e}", path.display()))),
        };
        Ok(StateDir { path, state })
    }

    fn parse(b: &[u8]) -> Result<State, StateError> {
        let v = canon::parse(b).map_err(|e| corrupt(e.to_string()))?;
        let Value::Object(m) = &v else {
            return Err(corrupt("not an object"));
        };
        let names: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        let want = [
            "airlock_state",
            "bundle_sequences",
            "evaluation_started",
            "highest_time_seen",
            "revocation_sequence",
            "trust_roots",
            "trust_version",
        ];
        if names != want {
            return Err(corrupt(format!("members must be exactly {want:?}")));
        }
        let get = |k: &str| v.get(k).ok_or_else(|| corrupt(format!("missing {k}")));
        if int(get("airlock_state")?, "airlock_state")? != 1 {
            return Err(corrupt("unknown airlock_state version"));
        }
        let mut s = State {
            highest_time_seen: match get("highest_time_seen")? {
                Value::Null => None,
                t => Some(time(t, "highest_time_seen")?),
            },
            trust_version: int(get("trust_version")?, "trust_version")?,
            revocation_sequence: int(get("revocation_sequence")?, "revocation_sequence")?,
            ..State::default()
        };
        let Value::Array(roots) = get("trust_roots")? else {
            return Err(corrupt("trust_roots must be an array"));
        };
        for r in roots {
            let key = r
                .as_str()
                .and_then(canon::enc::unb64_exact::<32>)
                .ok_or_else(|| corrupt("trust_roots entries must be base64 of 32 bytes"))?;
            s.trust_roots.push(key);
        }
        let Value::Object(seqs) = get("bundle_sequences")? else {
            return Err(corrupt("bundle_sequences"));
        };
        for (k, n) in seqs {
            s.bundle_sequences
                .insert(k.clone(), int(n, "bundle sequence")?);
        }
        let Value::Object(evs) = get("evaluation_started")? else {
            return Err(corrupt("evaluation_started"));
        };
        for (k, t) in evs {
            s.evaluation_started
                .insert(k.clone(), time(t, "evaluation start")?);
        }
        Ok(s)
    }

    fn to_bytes(&self) -> Vec<u8> {
        let s = &self.state;
        let num = |n: u64| Value::Number(n as f64);
        let v = Value::object(vec![
            ("airlock_state".into(), num(1)),
            (
                "highest_time_seen".into(),
                s.highest_time_seen
                    .map_or(Value::Null, |t| Value::String(t.to_string())),
            ),
            ("trust_version".into(), num(s.trust_version)),
            (
                "trust_roots".into(),
                Value::Array(
                    s.trust_roots
                        .iter()
                        .map(|k| Value::String(canon::enc::b64(k)))
                        .collect(),
                ),
            ),
            ("revocation_sequence".into(), num(s.revocation_sequence)),
            (
                "bundle_sequences".into(),
                Value::object(
                    s.bundle_sequences
                        .iter()
                        .map(|(k, n)| (k.clone(), num(*n)))
                        .collect(),
                )
                .unwrap_or(Value::Null),
            ),
            (
                "evaluation_started".into(),
                Value::object(
                    s.evaluation_started
                        .iter()
                        .map(|(k, t)| (k.clone(), Value::String(t.to_string())))
                        .collect(),
                )
                .unwrap_or(Value::Null),
            ),
        ])
        .unwrap_or(Value::Null);
        v.to_pretty()
    }

    /// How the next trust file must be anchored: the roots pinned by the last accepted one,
    /// or `fallback` when none was accepted yet.
    pub fn trust_anchors(&self, fallback: crate::Anchors) -> Result<crate::Anchors, StateError> {
        if self.state.trust_roots.is_empty() {
            return Ok(fallback);
        }
        let keys = self
            .state
            .trust_roots
            .iter()
            .map(|k| {
                crate::PublicKey::from_bytes(k).map_err(|e| corrupt(format!("trust_roots: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::Anchors::Roots(keys))
    }

    /// Records an accepted trust file: its version and its roots.
    pub fn accept_trust(&mut self, trust: &crate::TrustStore) {
        self.state.trust_version = self.state.trust_version.max(trust.version());
        self.state.trust_roots = trust
            .roots()
            .iter()
            .map(crate::PublicKey::to_bytes)
            .collect();
    }

    /// Refuses a clock earlier than the highest time already seen.
    pub fn check_clock(&self, now: Timestamp) -> Result<(), StateError> {
        match self.state.highest_time_seen {
            Some(seen) if now < seen => Err(StateError::TamperSuspected { now, seen }),
            _ => Ok(()),
        }
    }

    /// Records `now` as seen.
    pub fn observe(&mut self, now: Timestamp) {
        if self.state.highest_time_seen.is_none_or(|s| now > s) {
            self.state.highest_time_seen = Some(now);
        }
    }

    /// The evaluation start for `product`, starting it at `now` on first use.
    pub fn evaluation_start(&mut self, product: &str, now: Timestamp) -> Timestamp {
        *self
            .state
            .evaluation_started
            .entry(product.to_string())
            .or_insert(now)
    }

    /// Writes the state atomically.
    pub fn save(&self) -> Result<(), StateError> {
        let io = |e: std::io::Error| StateError::Io(format!("{}: {e}", self.path.display()));
        let tmp = self
            .path
            .with_file_name(format!(".{FILE}.tmp-{}", std::process::id()));
        let mut f = fs::File::create(&tmp).map_err(io)?;
        f.write_all(&self.to_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}
