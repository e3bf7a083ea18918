//! The deployment files (`deploy/`: systemd units, container recipes, Kubernetes manifests)
//! run the real binaries with the options they have: each command line they hold is parsed by
//! the binary it names, and a usage error (an option renamed or removed) fails here, not in a
//! customer's cluster.

use crate::kit::*;
use std::path::Path;

/// The command lines a deployment file holds: `ExecStart=` lines, a `CMD [...]` array, and
/// YAML `args:` lists, each as (binary, arguments).
fn command_lines(path: &Path) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("ExecStart=") {
            let mut words = cmd.split_whitespace().map(str::to_string);
            let bin = words.next().unwrap();
            out.push((bin.rsplit('/').next().unwrap().to_string(), words.collect()));
        }
        if let Some(arr) = line.strip_prefix("CMD ") {
            let args: Vec<String> = serde_json::from_str(arr).unwrap();
            let bin = if name.ends_with(".agent") {
                "airlock-agent"
            } else {
                "airlock-seatd"
            };
            out.push((bin.to_string(), args));
        }
    }
    // YAML: an `image:` names the binary (airlock-seatd or airlock-agent), the `args:` list
    // that follows is its command line.
    let lines: Vec<&str> = text.lines().collect();
    let mut bin = None;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim();
        if let Some(image) = t.strip_prefix("image: ") {
            bin = ["airlock-seatd", "airlock-agent"]
                .into_iter()
                .find(|b| image.contains(&format!("/{b}:")));
        }
        if t == "args:" {
            let Some(b) = bin else { continue };
            let indent = l.len() - l.trim_start().len();
            let args: Vec<String> = lines[i + 1..]
                .iter()
                .take_while(|x| {
                    let xi = x.len() - x.trim_start().len();
                    xi >= indent && x.trim_start().starts_with("- ")
                })
                .map(|x| x.trim_start().trim_start_matches("- ").to_string())
                .collect();
            out.push((b.to_string(), args));
        }
    }
    out
}

#[test]
fn the_deployment_files_hold_command_lines_the_binaries_accept() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let mut checked = 0;
    for dir in ["systemd", "container", "kubernetes"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            for (bin_name, args) in command_lines(&p) {
                if bin_name == "airlock-agent" && args == ["--help"] {
                    continue;
                }
                // Systemd specifiers and variables become sample values; nothing listens on a
                // fixed port: the configuration the files point to does not exist here, so
                // the binary stops at its first file (exit 2), after parsing its options.
                let args: Vec<String> = args
                    .iter()
                    .map(|a| {
                        a.replace("${SEAT_SERVER}", "http://127.0.0.1:9")
                            .replace("%i", "gateway")
                            .replace("%H", "node-1")
                            .replace("0.0.0.0:8700", "127.0.0.1:0")
                    })
                    .collect();
                let d = tempfile::tempdir().unwrap();
                let o = std::process::Command::new(bin(&bin_name))
                    .args(&args)
                    .current_dir(d.path())
                    .env_remove("AIRLOCK_ROOT")
                    .output()
                    .unwrap();
                let err = String::from_utf8_lossy(&o.stderr);
                let what = format!("{}: {bin_name} {}", p.display(), args.join(" "));
                assert!(
                    !err.contains("Usage:") && !err.contains("unexpected argument"),
                    "{what}: a usage error\n{err}"
                );
                assert_eq!(o.status.code(), Some(2), "{what}\n{err}");
                assert!(
                    err.contains("/etc/airlock") || err.contains("/var/lib"),
                    "{what}: stopped at {err}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "only {checked} command lines found");
}
