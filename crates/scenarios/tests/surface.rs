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
    for tool in ["factory", "packager", "runtime-verify"] {
        for shell in ["bash", "zsh", "fish"] {
            let script = ok(run(d.path(), tool, &["completions", shell], &[]));
            assert!(script.contains(tool), "{tool} {shell}: {script}");
        }
        let man = d.path().join(format!("man-{tool}"));
        ok(run(d.path(), tool, &["man", man.to_str().unwrap()], &[]));
        let page = std::fs::read_to_string(man.join(format!("{tool}.1"))).unwrap();
        assert!(page.contains(".TH"), "{tool}.1 is not a man page");
        assert!(
            std::fs::read_dir(&man).unwrap().count() > 2,
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
