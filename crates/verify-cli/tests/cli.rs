//! The runtime-verify binary: exit codes, JSON, the state directory (rollback, clock
//! tampering), remind, and proof under strace that it opens no socket.

use crate::interop::have_tool;
use crate::kit::*;
use std::path::Path;
use std::process::{Command, Output};

fn rv(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runtime-verify"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn setup(dir: &Path, spec_edit: impl FnOnce(&mut Spec)) {
    let keys = Keys::new();
    let mut spec = Spec::new(&keys);
    spec_edit(&mut spec);
    let (gz, sig) = build(&keys, &spec);
    std::fs::write(dir.join("b.tar.gz"), gz).unwrap();
    std::fs::write(dir.join("b.tar.gz.sig"), sig).unwrap();
    std::fs::write(dir.join("trust.json"), keys.trust_with(2, &keys.entries())).unwrap();
    std::fs::write(
        dir.join("trust-v1.json"),
        keys.trust_with(1, &keys.entries()),
    )
    .unwrap();
    let (lj, ls) = signed_json(&keys.license, canon::Kind::License, &spec.license);
    std::fs::create_dir_all(dir.join("lic")).unwrap();
    std::fs::write(dir.join("lic/license.json"), lj).unwrap();
    std::fs::write(dir.join("lic/license.sig"), ls).unwrap();
}

#[test]
fn exit_codes_json_and_state() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |s| s.sequence = 7);
    let o = rv(
        p,
        &[
            "b.tar.gz",
            "--trust",
            "trust.json",
            "--at",
            NOW,
            "--state",
            "st",
            "--json",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["sequence"], 7);
    assert_eq!(v["license_state"], "active");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("st/state.json")).unwrap()).unwrap();
    assert_eq!(state["bundle_sequences"]["gateway/acme"], 7);
    assert_eq!(state["trust_version"], 2);
    assert_eq!(state["trust_roots"].as_array().unwrap().len(), 1);
    // Clock set back below the highest time seen.
    let o = rv(
        p,
        &[
            "b.tar.gz",
            "--trust",
            "trust.json",
            "--at",
            "2026-11-21T00:00:00Z",
            "--state",
            "st",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("tamper suspected"));
    // An older trust file than one already accepted.
    let o = rv(
        p,
        &[
            "b.tar.gz",
            "--trust",
            "trust-v1.json",
            "--at",
            NOW,
            "--state",
            "st",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("version 1 is older than version 2"));
    // A newer trust file self-signed by a root the state never trusted: refused.
    let evil_root = key(42, canon::Role::Root);
    let keys = Keys::new();
    let mut entries = keys.entries();
    entries[0] = entry(&evil_root, "active");
    std::fs::write(
        p.join("evil-trust.json"),
        signing::trust::sign_trust_file(&evil_root, 9, t("2026-06-01"), &entries).unwrap(),
    )
    .unwrap();
    let o = rv(
        p,
        &[
            "b.tar.gz",
            "--trust",
            "evil-trust.json",
            "--at",
            NOW,
            "--state",
            "st",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("pins the roots"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A lower bundle sequence after 7 was installed.
    setup(p, |s| s.sequence = 6);
    let o = rv(
        p,
        &[
            "b.tar.gz",
            "--trust",
            "trust.json",
            "--at",
            NOW,
            "--state",
            "st",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["check"], "rollback");
    // A corrupt state file is reported, not reset.
    std::fs::write(p.join("st/state.json"), b"{\"airlock_state\":1}").unwrap();
    let o = rv(
        p,
        &[
            "b.tar.gz",
            "--trust",
            "trust.json",
            "--at",
            NOW,
            "--state",
            "st",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("state file is corrupt"));
    assert_eq!(
        std::fs::read(p.join("st/state.json")).unwrap(),
        b"{\"airlock_state\":1}"
    );
    // Usage and I/O errors: exit 2.
    assert_eq!(
        rv(p, &["missing.tar.gz", "--trust", "trust.json"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(rv(p, &["b.tar.gz"]).status.code(), Some(2));
    assert_eq!(
        rv(
            p,
            &["b.tar.gz", "--trust", "trust.json", "--at", "yesterday"]
        )
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn license_and_remind() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |_| {});
    let o = rv(
        p,
        &[
            "license",
            "lic/license.json",
            "--trust",
            "trust.json",
            "--at",
            NOW,
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "active");
    // Expires 2027-11-01; thresholds 90,60,30,14,7,1.
    let remind = |at: &str, fmt: &str| {
        rv(
            p,
            &[
                "remind",
                "--license",
                "lic/license.json",
                "--trust",
                "trust.json",
                "--at",
                at,
                "--format",
                fmt,
            ],
        )
    };
    let quiet = remind("2027-06-01", "text");
    assert_eq!(quiet.status.code(), Some(0));
    assert!(
        quiet.stdout.is_empty(),
        "nothing to say: no output for cron"
    );
    let between = remind("2027-09-01", "text");
    assert_eq!(between.status.code(), Some(0));
    assert!(between.stdout.is_empty());
    let hit = remind("2027-10-02", "text");
    assert_eq!(hit.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&hit.stdout).contains("expires in 30 days"));
    let grace = remind("2027-11-10", "json");
    assert_eq!(grace.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&grace.stdout).unwrap();
    assert_eq!(v["state"], "grace");
    let expired = remind("2027-12-10", "text");
    assert_eq!(expired.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&expired.stdout).contains("data is kept"));
    let early = remind("2026-10-01", "text");
    assert_eq!(early.status.code(), Some(6));
    let prom = remind("2027-06-01", "prometheus");
    assert_eq!(prom.status.code(), Some(0));
    let text = String::from_utf8_lossy(&prom.stdout);
    assert!(text.contains("airlock_license_state{license_id=\"lic-test-0001\",product=\"gateway\",customer=\"acme\",state=\"active\"} 1"), "{text}");
    assert!(text.contains("# TYPE airlock_license_days_remaining gauge"));
    std::fs::write(p.join("lic/license.json"), b"{}").unwrap();
    let bad = remind("2027-06-01", "text");
    assert_eq!(bad.status.code(), Some(8));
}

#[test]
fn runtime_verify_opens_no_socket() {
    if !have_tool("strace") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |_| {});
    let trace = p.join("trace.txt");
    let o = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=network", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_runtime-verify"))
        .args([
            "b.tar.gz",
            "--trust",
            "trust.json",
            "--at",
            NOW,
            "--state",
            "st",
            "--extract",
            "out",
        ])
        .current_dir(p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let calls = std::fs::read_to_string(&trace).unwrap();
    let network: Vec<&str> = calls
        .lines()
        .filter(|l| !l.contains("+++ exited"))
        .collect();
    assert!(network.is_empty(), "network syscalls: {network:?}");
    // The trace really ran: the same filter sees a socket when one is opened.
    let o = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=network", "-o"])
        .arg(p.join("t2.txt"))
        .args(["python3", "-c", "import socket; socket.socket()"])
        .output();
    if o.is_ok_and(|o| o.status.success()) {
        assert!(std::fs::read_to_string(p.join("t2.txt"))
            .unwrap()
            .contains("socket("));
    }
}
