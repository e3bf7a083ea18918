//! The command-line surface users install and script against: completions and man pages
//! generated from each binary's own definitions, and the `AIRLOCK_` environment names winning
//! over their documented old aliases.

use std::path::Path;
use std::process::{Command, Output};
use testkit::{bin, ok};

fn run(dir: &Path, tool: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(bin(tool));
    c.args(args)
        .current_dir(dir)
        .env("AIRLOCK_NOW", "2026-11-22T10:00:00Z");
    for v in ["AIRLOCK_DB", "FACTORY_DB", "AIRLOCK_TRUST", "FACTORY_TRUST"] {
        c.env_remove(v);
    }
    c.env(
        "AIRLOCK_CATALOG",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json"),
    );
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn every_binary_generates_its_completions_and_man_pages() {
    let d = tempfile::tempdir().unwrap();
    for tool in [
        "factory",
        "packager",
        "runtime-verify",
        "airlock-agent",
        "airlock-server",
    ] {
        for shell in ["bash", "zsh", "fish"] {
            let script = ok(run(d.path(), tool, &["completions", shell], &[]));
            assert!(script.contains(tool), "{tool} {shell}: {script}");
        }
        let man = d.path().join(format!("man-{tool}"));
        ok(run(d.path(), tool, &["man", man.to_str().unwrap()], &[]));
        let page = std::fs::read_to_string(man.join(format!("{tool}.1"))).unwrap();
        assert!(page.contains(".TH"), "{tool}.1 is not a man page");
        // The server's only subcommands are these two generators: its page and theirs.
        let pages = if tool == "airlock-server" { 2 } else { 3 };
        assert!(
            std::fs::read_dir(&man).unwrap().count() >= pages,
            "{tool}: one page per subcommand"
        );
    }
}

#[test]
fn airlock_names_win_over_their_old_aliases() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(run(
        p,
        "factory",
        &[
            "keygen", "--role", "license", "--name", "lic", "--out", "keys",
        ],
        &[],
    ));
    let issue = |out: &str, env: &[(&str, &Path)]| {
        ok(run(
            p,
            "factory",
            &[
                "issue",
                "--tier",
                "sovereign",
                "--customer",
                "Acme",
                "--product",
                "gateway",
                "--key",
                "keys/lic.key",
                "--out",
                out,
            ],
            env,
        ))
    };
    let (new, old) = (p.join("new.db"), p.join("old.db"));
    issue("a", &[("AIRLOCK_DB", &new), ("FACTORY_DB", &old)]);
    assert!(new.exists() && !old.exists(), "AIRLOCK_DB wins");
    issue("b", &[("FACTORY_DB", &old)]);
    assert!(old.exists(), "the old name still works alone");
}

/// Every subcommand of every binary, by walking `--help`.
fn subcommands(tool: &str, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    let help = ok(Command::new(bin(tool))
        .args(path.iter())
        .arg("--help")
        .output()
        .unwrap());
    let mut section = "";
    let mut children = Vec::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = if line == "Commands:" { "commands" } else { "" };
            continue;
        }
        if section == "commands" {
            if let Some(name) = line
                .strip_prefix("  ")
                .and_then(|l| l.split_whitespace().next())
            {
                if name != "help" && !line.starts_with("   ") {
                    children.push(name.to_string());
                }
            }
        }
    }
    out.push((path.clone(), help));
    for c in children {
        path.push(c);
        subcommands(tool, path, out);
        path.pop();
    }
}

/// Item 5: every option and argument of every command says what it does (an option with no
/// help text is listed by name with nothing after it).
#[test]
fn every_option_of_every_command_has_help() {
    let mut missing = Vec::new();
    for tool in [
        "factory",
        "packager",
        "runtime-verify",
        "airlock-agent",
        "airlock-server",
    ] {
        let mut all = Vec::new();
        subcommands(tool, &mut Vec::new(), &mut all);
        assert!(all.len() >= 2, "{tool}: {} commands", all.len());
        for (path, help) in all {
            let lines: Vec<&str> = help.lines().collect();
            let mut in_args = false;
            for (i, line) in lines.iter().enumerate() {
                if !line.starts_with(' ') && line.ends_with(':') {
                    in_args = *line == "Options:" || *line == "Arguments:";
                    continue;
                }
                let t = line.trim_start();
                let is_item = in_args
                    && (line.starts_with("  -")
                        || line.starts_with("      --")
                        || line.starts_with("  <")
                        || line.starts_with("  ["));
                if !is_item {
                    continue;
                }
                let inline = t.split("  ").skip(1).any(|x| !x.trim().is_empty());
                let next = lines.get(i + 1).copied().unwrap_or("");
                let below = next.starts_with("          ")
                    && !next.trim().is_empty()
                    && !next.trim_start().starts_with('-');
                if !inline && !below {
                    missing.push(format!("{tool} {}: {t}", path.join(" ")));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "options without help:\n{}",
        missing.join("\n")
    );
}

/// The `factory issue` usage line shows the options it needs, not only `--key` and `--out`.
#[test]
fn the_issue_usage_line_names_what_it_needs() {
    let help = ok(Command::new(bin("factory"))
        .args(["issue", "--help"])
        .output()
        .unwrap());
    let usage = help.lines().find(|l| l.starts_with("Usage:")).unwrap();
    for needed in ["--tier", "--customer", "--product", "--key", "--out"] {
        assert!(usage.contains(needed), "{usage}");
    }
    assert!(help.contains("factory issue --batch <FILE>"), "{help}");
}

/// Options that do nothing are not offered: `--trust` only where a key signs.
#[test]
fn trust_is_offered_only_where_a_key_signs() {
    for (cmd, offered) in [
        (&["list"][..], false),
        (&["show"], false),
        (&["revoke"], false),
        (&["export"], false),
        (&["audit", "verify"], false),
        (&["issue"], true),
        (&["renew"], true),
        (&["revocations"], true),
        (&["migrate"], true),
    ] {
        let help = ok(Command::new(bin("factory"))
            .args(cmd)
            .arg("--help")
            .output()
            .unwrap());
        assert_eq!(
            help.contains("--trust"),
            offered,
            "factory {}",
            cmd.join(" ")
        );
    }
}

/// Item 5: docs/CLI.md's exit-code tables are the binaries' behaviour: `remind --help` prints
/// the same table, and each shared code is what the binaries return.
#[test]
fn the_documented_exit_codes_are_the_binaries_codes() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CLI.md"))
            .unwrap();
    // The remind table: `| N | meaning |` rows under "## runtime-verify remind".
    let remind = &doc[doc.find("## runtime-verify remind").unwrap()..];
    let rows: Vec<(u8, String)> = remind
        .lines()
        .skip_while(|l| !l.starts_with("| exit |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].parse().unwrap(), cells[2].to_string())
        })
        .collect();
    assert!(rows.len() >= 9, "{rows:?}");
    let help = ok(Command::new(bin("runtime-verify"))
        .args(["remind", "--help"])
        .output()
        .unwrap());
    for (code, meaning) in &rows {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{code} ")))
            .unwrap_or_else(|| panic!("remind --help lacks exit {code}: {help}"));
        let first = meaning.split([' ', ':', '(']).next().unwrap();
        assert!(
            line.contains(first),
            "exit {code}: doc {meaning:?}, help {line:?}"
        );
    }
    // The shared table: 0 valid, 1 rejected, 2 error, for each binary.
    let shared =
        &doc[doc.find("## Exit codes (contract)").unwrap()..doc.find("### Check codes").unwrap()];
    for (code, outcome) in [(0, "valid"), (1, "rejected"), (2, "error")] {
        assert!(
            shared.contains(&format!("| {code} | {outcome} |")),
            "{code} {outcome}"
        );
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("bad.json"), b"{\"a\":1,\"a\":2}").unwrap();
    let code = |tool: &str, args: &[&str]| {
        Command::new(bin(tool))
            .args(args)
            .current_dir(p)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(
        code("factory", &["canon", "bad.json"]),
        Some(1),
        "rejected input"
    );
    assert_eq!(
        code("factory", &["canon", "missing.json"]),
        Some(2),
        "missing file"
    );
    assert_eq!(code("factory", &["no-such-command"]), Some(2), "usage");
    assert_eq!(
        code(
            "packager",
            &["verify", "missing.tar.gz", "--trust", "missing.json"]
        ),
        Some(2)
    );
    assert_eq!(code("runtime-verify", &["--no-such-flag"]), Some(2));
    std::fs::write(p.join("x.tar.gz"), b"not a bundle").unwrap();
    std::fs::write(p.join("x.tar.gz.sig"), b"not a signature").unwrap();
    let trust =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/bundle/genuine/trust.json");
    let anchor = std::fs::read_to_string(trust.with_file_name("anchor.txt")).unwrap();
    assert_eq!(
        code(
            "runtime-verify",
            &[
                "x.tar.gz",
                "--trust",
                trust.to_str().unwrap(),
                "--root",
                anchor.trim()
            ]
        ),
        Some(1),
        "a bundle judged and refused"
    );
}

/// `make demo` runs on keys it generates: it must never lean on the development keys.
#[test]
fn the_demo_never_uses_the_development_keys() {
    let demo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/demo.sh"),
    )
    .unwrap();
    let code: String = demo
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!code.contains("keys-dev"), "scripts/demo.sh uses keys-dev/");
    assert!(
        code.contains("factory keygen"),
        "the demo generates its keys"
    );
}
