//! Identities that survive containers and VMs (docs/FORMAT.md §21): a machine described by
//! several components, each sent as a per-product one-way value (never the raw id), matched
//! against a seat's under the vendor's policy (`match: any|two|most|all`), and the environment
//! the system shows (a physical machine, a VM, a container).
//!
//! Components: `machine-id` (`/etc/machine-id`), `dmi-uuid` (the DMI product UUID, when
//! readable), `mac` (the primary network interface's address: the first by name of those
//! backed by a device, else of any but loopback), `hostname`, and `custom` (the caller's id,
//! `$AIRLOCK_INSTANCE_ID`). Each value is `fp1:` + hex(HMAC-SHA256(key = the raw value,
//! message = `airlock/fp/v1/<product>/<component>`)).
//!
//! Detection reads what the system shows (files under `/`, or `$AIRLOCK_SYSTEM_ROOT` when a
//! host's files are mounted elsewhere); whoever controls a machine controls what it shows, so
//! the environment is a declaration the vendor's policy acts on, not a proof. Nothing here
//! reads the clock or opens a socket.

use std::collections::BTreeMap;
use std::path::Path;

pub use format::identity::{matches, COMPONENTS, ENVIRONMENTS, POLICIES};

/// Component name → per-product one-way value.
pub type Components = BTreeMap<String, String>;

pub use crate::fingerprint::Probe;

use crate::fingerprint::read_text;

/// The primary network interface's address: of the interfaces backed by a device (not
/// virtual: no bridges, veths or tunnels), the first by name; else of any but loopback.
fn primary_mac(p: &Probe) -> Option<String> {
    let dir = p.path("/sys/class/net");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n != "lo")
        .collect();
    names.sort();
    let mac = |n: &String| -> Option<String> {
        let a = read_text(&dir.join(n).join("address"))?.to_ascii_lowercase();
        let hex: String = a.chars().filter(char::is_ascii_hexdigit).collect();
        (hex.len() == 12 && hex.bytes().any(|b| b != b'0')).then_some(a)
    };
    names
        .iter()
        .filter(|n| dir.join(n).join("device").exists())
        .find_map(mac)
        .or_else(|| names.iter().find_map(mac))
}

/// The raw value of each component this system has (never sent: see [`components`]).
fn raw(p: &Probe) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(id) = p.read("/etc/machine-id").filter(|s| {
        s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
    }) {
        out.push(("machine-id", id.to_ascii_lowercase()));
    }
    if let Some(u) = p.read("/sys/class/dmi/id/product_uuid").filter(|s| {
        let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
        hex.len() == 32
            && hex.iter().all(u8::is_ascii_hexdigit)
            && !hex
                .iter()
                .all(|b| *b == b'0' || b.eq_ignore_ascii_case(&b'f'))
    }) {
        out.push(("dmi-uuid", u.to_ascii_lowercase()));
    }
    if let Some(m) = primary_mac(p) {
        out.push(("mac", m));
    }
    if let Some(h) = p
        .read("/proc/sys/kernel/hostname")
        .or_else(|| p.read("/etc/hostname"))
    {
        out.push(("hostname", h.to_ascii_lowercase()));
    }
    if let Some(c) = p.custom.as_deref().map(str::trim).filter(|c| {
        !c.is_empty()
            && c.len() <= crate::fingerprint::MAX_ID_BYTES
            && !c.chars().any(char::is_control)
    }) {
        out.push(("custom", c.to_string()));
    }
    out
}

/// This system's components for `product`, each a one-way value.
pub fn components(product: &str, p: &Probe) -> Components {
    raw(p)
        .into_iter()
        .map(|(name, v)| {
            (
                name.to_string(),
                crate::fingerprint::derive(v.as_bytes(), &format!("{product}/{name}")),
            )
        })
        .collect()
}

/// What the system shows it runs in: `container` (a container's marker files, its cgroup, or
/// its environment), else `vm` (a hypervisor's DMI vendor or product, or the CPU's hypervisor
/// flag), else `physical`.
pub fn environment(p: &Probe) -> &'static str {
    let container = p.container_env
        || p.path("/.dockerenv").exists()
        || p.path("/run/.containerenv").exists()
        || p.read("/proc/1/cgroup").is_some_and(|c| {
            ["docker", "kubepods", "containerd", "libpod", "lxc"]
                .iter()
                .any(|m| c.contains(m))
        });
    if container {
        return "container";
    }
    const HYPERVISORS: [&str; 13] = [
        "qemu",
        "kvm",
        "vmware",
        "virtualbox",
        "innotek",
        "xen",
        "microsoft corporation",
        "amazon ec2",
        "google compute engine",
        "parallels",
        "bochs",
        "bhyve",
        "openstack",
    ];
    let dmi = [
        "/sys/class/dmi/id/sys_vendor",
        "/sys/class/dmi/id/product_name",
    ]
    .iter()
    .filter_map(|f| p.read(f))
    .any(|v| {
        let v = v.to_ascii_lowercase();
        HYPERVISORS.iter().any(|h| v.contains(h))
    });
    let cpu = read_flags(&p.path("/proc/cpuinfo")).is_some_and(|f| f.contains(" hypervisor"));
    if dmi || cpu {
        "vm"
    } else {
        "physical"
    }
}

/// The first `flags` line of a cpuinfo file (bounded read).
fn read_flags(path: &Path) -> Option<String> {
    use std::io::{BufRead, Read};
    let f = std::fs::File::open(path).ok()?;
    std::io::BufReader::new(f.take(1 << 20))
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("flags"))
        .map(|l| format!(" {l} "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(dir: &Path, files: &[(&str, &str)]) -> Probe {
        for (p, body) in files {
            let f = dir.join(p.trim_start_matches('/'));
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, body).unwrap();
        }
        Probe {
            root: dir.to_path_buf(),
            custom: None,
            container_env: false,
        }
    }

    #[test]
    fn components_are_one_way_per_product_and_the_raw_ids_never_show() {
        let d = tempfile::tempdir().unwrap();
        let p = system(
            d.path(),
            &[
                ("/etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
                ("/sys/class/net/eth0/address", "52:54:00:12:34:56\n"),
                ("/sys/class/net/eth0/device/x", ""),
                ("/sys/class/net/docker0/address", "02:42:ac:11:00:01\n"),
                ("/proc/sys/kernel/hostname", "Build-7\n"),
            ],
        );
        let a = components("gateway", &p);
        let b = components("console", &p);
        assert_eq!(
            a.keys().map(String::as_str).collect::<Vec<_>>(),
            ["hostname", "mac", "machine-id"]
        );
        for (k, v) in &a {
            assert!(v.starts_with("fp1:"), "{k}");
            assert_ne!(Some(v), b.get(k), "{k}: one value per product");
            for raw in ["0123456789abcdef", "52:54:00", "build-7", "Build-7"] {
                assert!(!v.contains(raw));
            }
        }
        // The primary interface is the device-backed one, not the bridge before it by name.
        let mac = crate::fingerprint::derive(b"52:54:00:12:34:56", "gateway/mac");
        assert_eq!(a["mac"], mac);
    }

    #[test]
    fn environments_are_read_from_what_the_system_shows() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(environment(&system(d.path(), &[])), "physical");
        let vm = tempfile::tempdir().unwrap();
        let p = system(vm.path(), &[("/sys/class/dmi/id/sys_vendor", "QEMU\n")]);
        assert_eq!(environment(&p), "vm");
        let cpu = tempfile::tempdir().unwrap();
        let p = system(
            cpu.path(),
            &[(
                "/proc/cpuinfo",
                "processor\t: 0\nflags\t\t: fpu vme hypervisor lahf_lm\n",
            )],
        );
        assert_eq!(environment(&p), "vm");
        let c = tempfile::tempdir().unwrap();
        let p = system(
            c.path(),
            &[
                ("/proc/1/cgroup", "0::/kubepods/besteffort/pod1\n"),
                ("/sys/class/dmi/id/sys_vendor", "QEMU"),
            ],
        );
        assert_eq!(environment(&p), "container");
        let mut p = system(d.path(), &[]);
        p.container_env = true;
        assert_eq!(environment(&p), "container");
    }
}
