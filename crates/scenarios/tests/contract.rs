//! The command-line contract of every binary, walked from its own `--help`: every command's
//! help ends with the binary's exit codes, and a usage error under `--json` prints one JSON
//! report object (`valid` false, `check` null, `error`, `command`) and exits 2.

use crate::kit::*;
use std::process::Command;

/// Airlock's binaries (`example-product` is an example of a product, not an Airlock tool: it
/// is checked for its exit codes below).
const BINARIES: [&str; 5] = [
    "factory",
    "packager",
    "runtime-verify",
    "airlock-agent",
    "airlock-server",
];

/// The subcommands a `--help` text lists (its `Commands:` section), without `help`.
fn subcommands(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with("  ") {
                break;
            }
            let name = line.split_whitespace().next().unwrap_or("");
            if !name.is_empty() && name != "help" {
                out.push(name.to_string());
            }
        }
    }
    out
}

fn run(tool: &str, args: &[String]) -> std::process::Output {
    Command::new(bin(tool))
        .args(args)
        .env(
            "AIRLOCK_HOME",
            std::env::temp_dir().join("airlock-contract-walk"),
        )
        .output()
        .unwrap()
}

/// Every command path of `tool`, walked depth first from its root.
fn commands(tool: &str) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let mut args = path.clone();
        args.push("--help".into());
        let o = run(tool, &args);
        assert_eq!(o.status.code(), Some(0), "{tool} {args:?}");
        let help = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            help.contains("Exit codes:"),
            "{tool} {}: --help does not give the exit codes:\n{help}",
            path.join(" ")
        );
        for sub in subcommands(&help) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
        all.push(path);
    }
    all
}

#[test]
fn every_command_gives_its_exit_codes_and_a_json_usage_error() {
    let mut walked = 0;
    for tool in BINARIES {
        for path in commands(tool) {
            let mut args = path.clone();
            args.extend(["--no-such-option".to_string(), "--json".to_string()]);
            let o = run(tool, &args);
            let what = format!("{tool} {}", path.join(" "));
            assert_eq!(o.status.code(), Some(2), "{what}: usage error exit code");
            let out = String::from_utf8_lossy(&o.stdout);
            let v: serde_json::Value = serde_json::from_str(&out)
                .unwrap_or_else(|e| panic!("{what}: not one JSON object ({e}): {out:?}"));
            assert_eq!(v["valid"], false, "{what}: {v}");
            assert!(v["check"].is_null(), "{what}: {v}");
            assert!(
                v["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("--no-such-option")),
                "{what}: {v}"
            );
            assert_eq!(v["command"], path.join(" ").as_str(), "{what}: {v}");
            // Without --json: the human line only, on stderr, same exit code.
            let o = run(tool, &args[..args.len() - 1]);
            assert_eq!(o.status.code(), Some(2), "{what}");
            assert!(o.stdout.is_empty(), "{what}");
            walked += 1;
        }
    }
    assert!(walked > 40, "the walk found only {walked} commands");
    // The example product: its exit codes in its help, a usage error exits 2.
    let o = run("example-product", &["--help".to_string()]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Exit codes:"));
    let o = run("example-product", &["--no-such-option".to_string()]);
    assert_eq!(o.status.code(), Some(2));
}

/// Successes print the same report: `valid` true, `check` and `error` null, then the facts.
#[test]
fn successes_print_the_common_report_members() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let runs: [(&str, Vec<&str>); 5] = [
        ("factory", vec!["home", "--json"]),
        (
            "factory",
            vec![
                "keygen", "--role", "license", "--name", "k", "--out", "keys", "--json",
            ],
        ),
        (
            "factory",
            vec![
                "trust",
                "--root-key",
                "keys/r.key",
                "--add",
                "keys/k.pub",
                "--out",
                "t.json",
                "--json",
            ],
        ),
        (
            "airlock-agent",
            vec!["id", "--product", "gateway", "--state", "s", "--json"],
        ),
        ("airlock-agent", vec!["status", "--state", "s", "--json"]),
    ];
    let o = Command::new(bin("factory"))
        .args(["keygen", "--role", "root", "--name", "r", "--out", "keys"])
        .current_dir(p)
        .output()
        .unwrap();
    ok(o);
    for (tool, args) in runs {
        let o = Command::new(bin(tool))
            .args(&args)
            .current_dir(p)
            .env("AIRLOCK_HOME", p.join("home"))
            .env("AIRLOCK_INSTANCE_ID", "contract-machine")
            .output()
            .unwrap();
        let out = ok(o);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["valid"], true, "{tool} {args:?}: {v}");
        assert!(
            v["check"].is_null() && v["error"].is_null(),
            "{tool} {args:?}: {v}"
        );
        assert!(v["command"].is_string(), "{tool} {args:?}: {v}");
    }
}
