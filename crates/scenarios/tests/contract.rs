//! The command-line contract of every binary, walked from its own `--help`: every command's
//! help ends with the binary's exit codes, and a usage error under `--json` prints one JSON
//! report object (`valid` false, `check` null, `error`, `command`) and exits 2.

use crate::kit::*;
use std::process::Command;

/// Airlock's binaries (`example-product` is an example of a product, not an Airlock tool: it
/// is checked for its exit codes below).
const BINARIES: [&str; 6] = [
    "factory",
    "packager",
    "runtime-verify",
    "airlock-agent",
    "airlock-server",
    "airlock-seatd",
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

/// The first `Usage:` line of a help text, as the arguments it requires: every required
/// option with a value, and every positional, given `bad` (a path below a regular file, so
/// nothing can be read or created there, whatever the user).
fn required_args(help: &str, words: usize, bad: &str) -> Vec<String> {
    let usage = help
        .lines()
        .find_map(|l| l.strip_prefix("Usage: "))
        .unwrap_or("");
    let mut out = Vec::new();
    let mut it = usage.split_whitespace().skip(words + 1).peekable();
    while let Some(t) = it.next() {
        if t.starts_with('[') {
            continue;
        }
        if t.starts_with("--") {
            out.push(t.to_string());
            if it.peek().is_some_and(|v| v.starts_with('<')) {
                it.next();
                out.push(bad.to_string());
            }
        } else if t.starts_with('<') {
            out.push(bad.to_string());
        }
    }
    out
}

/// Every leaf command given its required arguments, each a bad input, under `--json`: one
/// report object (`valid`, `check`, `error` and the subject), never a panic or a hang, exit
/// 1 or 2 (or 0 for a command that needs nothing, such as `factory home`).
#[test]
fn every_command_answers_a_bad_input_with_one_json_report() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let bad = file.join("x").display().to_string();
    let mut walked = 0;
    let mut wrong = Vec::new();
    for tool in BINARIES {
        for path in commands(tool) {
            let mut help_args = path.clone();
            help_args.push("--help".into());
            let help = String::from_utf8_lossy(&run(tool, &help_args).stdout).to_string();
            if help.contains("Commands:") {
                continue; // a group: its leaves are walked
            }
            let mut args = path.clone();
            args.extend(required_args(&help, path.len(), &bad));
            args.push("--json".into());
            let what = format!("{tool} {}", args.join(" "));
            let mut child = Command::new(bin(tool))
                .args(&args)
                .current_dir(d.path())
                .env("AIRLOCK_HOME", d.path().join("home"))
                .env_remove("AIRLOCK_DB")
                .env_remove("AIRLOCK_TRUST")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let mut hung = false;
            while child.try_wait().unwrap().is_none() {
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    hung = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let o = child.wait_with_output().unwrap();
            walked += 1;
            if hung {
                wrong.push(format!("{what}: still running after 20 s"));
                continue;
            }
            let out = String::from_utf8_lossy(&o.stdout);
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&out) else {
                wrong.push(format!(
                    "{what}: not one JSON object: {out:?} / {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                continue;
            };
            let code = o.status.code();
            let fine = match v["valid"].as_bool() {
                Some(false) => {
                    matches!(code, Some(1 | 2))
                        && v["error"].is_string()
                        && v.get("check").is_some()
                }
                Some(true) => code == Some(0),
                None => false,
            };
            if !fine {
                wrong.push(format!("{what}: exit {code:?}: {v}"));
            }
        }
    }
    assert!(walked > 30, "the walk found only {walked} commands");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
