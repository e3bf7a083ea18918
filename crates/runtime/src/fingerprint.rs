//! Device identity: a per-product fingerprint of this machine.
//!
//! `fp1:` + hex(HMAC-SHA256(key = the machine's stable id, message = `airlock/fp/v1/<product>`)),
//! the construction of systemd's `sd_id128_get_machine_app_specific`: the raw id never leaves
//! the machine, and two products on one machine get unrelated fingerprints.
//!
//! The stable id comes from the first source that has one:
//! 1. `instance-id`: `$AIRLOCK_INSTANCE_ID` (containers, Kubernetes: set it from something
//!    that survives restarts, e.g. a StatefulSet pod name or the namespace UID);
//! 2. `config`: the file `$AIRLOCK_INSTANCE_ID_FILE`, default `/etc/airlock/instance-id`;
//! 3. `machine-id`: `/etc/machine-id` (32 hex digits; empty or `uninitialized` is skipped);
//! 4. `dmi-product-uuid`: `/sys/class/dmi/id/product_uuid` when readable (root only on most
//!    systems; all-zero or all-F placeholders are skipped);
//! 5. `state`: `STATE/instance-id`, 32 random hex digits that `airlock-agent` creates once.
//!
//! Reading these is not verification: nothing here reads the clock or opens a socket.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::path::{Path, PathBuf};

/// The file in a state directory holding the random id of the last resort.
pub const STATE_ID_FILE: &str = "instance-id";
/// The default instance id configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/airlock/instance-id";
/// Longest stable id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 512;

/// Where to look for the stable id (the system's places, or a test's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sources {
    /// An explicit id (`$AIRLOCK_INSTANCE_ID`).
    pub explicit: Option<String>,
    /// The configuration file.
    pub config: Option<PathBuf>,
    /// The machine id file.
    pub machine_id: Option<PathBuf>,
    /// The DMI product UUID file.
    pub dmi: Option<PathBuf>,
    /// The state directory holding [`STATE_ID_FILE`].
    pub state: Option<PathBuf>,
    /// Where this machine's identity components are read (docs/FORMAT.md §21): a lease whose
    /// fingerprint differs is still this machine's when they match its policy. `None`: the
    /// exact fingerprint only.
    pub probe: Option<Probe>,
}

impl Sources {
    /// The system's sources: the environment, `/etc/airlock/instance-id`, `/etc/machine-id`,
    /// the DMI product UUID, and `state` for the random id. The system files are read under
    /// `$AIRLOCK_SYSTEM_ROOT` when it is set (a host's files mounted elsewhere).
    pub fn system(state: Option<&Path>) -> Sources {
        let probe = Probe::system();
        let under = |p: &str| probe.root.join(p.trim_start_matches('/'));
        Sources {
            explicit: std::env::var("AIRLOCK_INSTANCE_ID").ok(),
            config: Some(
                std::env::var_os("AIRLOCK_INSTANCE_ID_FILE")
                    .map_or_else(|| PathBuf::from(DEFAULT_CONFIG), PathBuf::from),
            ),
            machine_id: Some(under("/etc/machine-id")),
            dmi: Some(under("/sys/class/dmi/id/product_uuid")),
            state: state.map(Path::to_path_buf),
            probe: Some(probe),
        }
    }

    /// The path of the random id in the state directory, if one is configured.
    pub fn state_id_path(&self) -> Option<PathBuf> {
        self.state.as_ref().map(|d| d.join(STATE_ID_FILE))
    }
}

/// Where the system's facts are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The root the system paths are under (`/`).
    pub root: PathBuf,
    /// The caller's id (`$AIRLOCK_INSTANCE_ID`), if any.
    pub custom: Option<String>,
    /// Environment variables that mark a container (`container`, `KUBERNETES_SERVICE_HOST`).
    pub container_env: bool,
}

impl Probe {
    /// This system: `$AIRLOCK_SYSTEM_ROOT` or `/`, `$AIRLOCK_INSTANCE_ID`, and the process's
    /// environment.
    pub fn system() -> Probe {
        Probe {
            root: std::env::var_os("AIRLOCK_SYSTEM_ROOT")
                .map_or_else(|| PathBuf::from("/"), PathBuf::from),
            custom: std::env::var("AIRLOCK_INSTANCE_ID").ok(),
            container_env: std::env::var_os("container").is_some()
                || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
        }
    }

    /// `p` under the root.
    pub fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    /// A small text file under the root, trimmed; `None` when absent, empty or not text.
    pub fn read(&self, p: &str) -> Option<String> {
        read_text(&self.path(p))
    }
}

/// A small text file (at most 4 KiB read), trimmed; `None` when absent, empty or holding
/// control characters.
pub fn read_text(p: &Path) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(p).ok()?;
    let mut s = String::new();
    f.take(4096).read_to_string(&mut s).ok()?;
    let t = s.trim();
    (!t.is_empty() && !t.chars().any(char::is_control)).then(|| t.to_string())
}

/// This machine's fingerprint for one product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `fp1:` and 64 hex digits.
    pub value: String,
    /// Where the stable id came from (one of `format::activation::FINGERPRINT_SOURCES`).
    pub source: &'static str,
}

/// Why no fingerprint could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerprintError {
    /// An explicit id or configuration file is set but unusable (never silently skipped: a
    /// container that meant to pin its id must not fall back to a per-container one).
    Unusable(String),
    /// No source has an id, and the state directory has no random id yet.
    NoSource,
}

impl fmt::Display for FingerprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FingerprintError::Unusable(m) => f.write_str(m),
            FingerprintError::NoSource => f.write_str(
                "no stable machine id: set AIRLOCK_INSTANCE_ID, or run `airlock-agent id --state DIR` once to create one in the state directory",
            ),
        }
    }
}

impl std::error::Error for FingerprintError {}

/// The fingerprint of `id` for `product`.
pub fn derive(id: &[u8], product: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(id).expect("HMAC takes any key length");
    mac.update(b"airlock/fp/v1/");
    mac.update(product.as_bytes());
    let out = mac.finalize().into_bytes();
    format!(
        "{}{}",
        format::activation::FINGERPRINT_PREFIX,
        canon::enc::hex(&out)
    )
}

fn usable_id(raw: &str) -> Option<&str> {
    let t = raw.trim();
    (!t.is_empty() && t.len() <= MAX_ID_BYTES && !t.chars().any(char::is_control)).then_some(t)
}

fn machine_id(raw: &str) -> Option<&str> {
    let t = raw.trim();
    (t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) && t.bytes().any(|b| b != b'0'))
        .then_some(t)
}

fn dmi_uuid(raw: &str) -> Option<&str> {
    let t = raw.trim();
    let hex: Vec<u8> = t.bytes().filter(|b| *b != b'-').collect();
    let placeholder =
        hex.iter().all(|b| *b == b'0') || hex.iter().all(|b| b.eq_ignore_ascii_case(&b'f'));
    (hex.len() == 32 && hex.iter().all(u8::is_ascii_hexdigit) && !placeholder).then_some(t)
}

/// This machine's stable id and its source, from the first source that has one.
pub fn stable_id(s: &Sources) -> Result<(String, &'static str), FingerprintError> {
    if let Some(e) = &s.explicit {
        return match usable_id(e) {
            Some(id) => Ok((id.to_string(), "instance-id")),
            None => Err(FingerprintError::Unusable(
                "AIRLOCK_INSTANCE_ID is set but empty, too long or holds control characters".into(),
            )),
        };
    }
    if let Some(p) = &s.config {
        if p.exists() {
            let raw = read_text(p).unwrap_or_default();
            return match usable_id(&raw) {
                Some(id) => Ok((id.to_string(), "config")),
                None => Err(FingerprintError::Unusable(format!(
                    "{}: the instance id file is unreadable, empty or too long",
                    p.display()
                ))),
            };
        }
    }
    if let Some(raw) = s.machine_id.as_deref().and_then(read_text) {
        if let Some(id) = machine_id(&raw) {
            return Ok((id.to_ascii_lowercase(), "machine-id"));
        }
    }
    if let Some(raw) = s.dmi.as_deref().and_then(read_text) {
        if let Some(id) = dmi_uuid(&raw) {
            return Ok((id.to_ascii_lowercase(), "dmi-product-uuid"));
        }
    }
    if let Some(raw) = s.state_id_path().as_deref().and_then(read_text) {
        if let Some(id) = machine_id(&raw) {
            return Ok((id.to_string(), "state"));
        }
    }
    Err(FingerprintError::NoSource)
}

/// This machine's fingerprint for `product`.
pub fn of(product: &str, s: &Sources) -> Result<Fingerprint, FingerprintError> {
    let (id, source) = stable_id(s)?;
    Ok(Fingerprint {
        value: derive(id.as_bytes(), product),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn products_get_unrelated_fingerprints_and_the_id_never_shows() {
        let a = derive(b"4c4c4544004d3510", "gateway");
        let b = derive(b"4c4c4544004d3510", "pbx");
        assert_ne!(a, b);
        assert!(format::activation::valid_fingerprint(&a));
        assert!(!a.contains("4c4c4544004d3510"));
        assert_eq!(a, derive(b"4c4c4544004d3510", "gateway"));
    }

    #[test]
    fn sources_in_order_and_fallbacks() {
        let d = tempfile::tempdir().unwrap();
        let mid = files(d.path(), "machine-id", "0123456789abcdef0123456789abcdef\n");
        let dmi = files(d.path(), "uuid", "4C4C4544-004D-3510-8052-B4C04F4E4D32\n");
        let st = d.path().join("state");
        std::fs::create_dir(&st).unwrap();
        files(&st, STATE_ID_FILE, "fedcba9876543210fedcba9876543210\n");
        let mut s = Sources {
            explicit: Some("pod-7".into()),
            config: Some(d.path().join("absent")),
            machine_id: Some(mid.clone()),
            dmi: Some(dmi.clone()),
            state: Some(st.clone()),
            probe: None,
        };
        assert_eq!(of("p", &s).unwrap().source, "instance-id");
        assert_eq!(of("p", &s).unwrap().value, derive(b"pod-7", "p"));
        s.explicit = None;
        s.config = Some(files(d.path(), "conf", "  node-a \n"));
        assert_eq!(stable_id(&s).unwrap(), ("node-a".into(), "config"));
        s.config = None;
        assert_eq!(of("p", &s).unwrap().source, "machine-id");
        // A container's empty machine id is no id.
        s.machine_id = Some(files(d.path(), "empty-mid", "\n"));
        assert_eq!(of("p", &s).unwrap().source, "dmi-product-uuid");
        s.dmi = Some(files(
            d.path(),
            "zero",
            "00000000-0000-0000-0000-000000000000",
        ));
        assert_eq!(of("p", &s).unwrap().source, "state");
        s.state = None;
        assert_eq!(of("p", &s), Err(FingerprintError::NoSource));
        // A set but unusable explicit id is an error, never a silent fallback.
        s.explicit = Some("  ".into());
        assert!(matches!(of("p", &s), Err(FingerprintError::Unusable(_))));
    }
}
