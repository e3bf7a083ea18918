//! The runtime-verify binary: exit codes, JSON, the state directory (rollback, clock
//! tampering), remind, and proof under strace that it opens no socket.

use crate::interop::have_tool;
use crate::kit::*;
use runtime::KeyStatus;
use std::path::Path;
use std::process::{Command, Output};

/// The vendor's root, as an operator passes it for a first use.
pub fn root_b64() -> String {
    canon::enc::b64(&Keys::new().root.public_key())
}

fn rv(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runtime-verify"))
        .args(args)
        .env("AIRLOCK_ROOT", root_b64())
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

/// Runs runtime-verify with the system clock set to `clock` (libfaketime), the way a cron job
/// runs it, or an attacker holding the machine's clock would. `None` when faketime is missing
/// (outside CI only).
pub fn rv_clock(dir: &Path, clock: &str, args: &[&str]) -> Option<Output> {
    if !have_tool("faketime") {
        return None;
    }
    Some(
        // `-f` with an absolute time freezes the clock there (exact times in assertions).
        testkit::at_clock(clock, env!("CARGO_BIN_EXE_runtime-verify"))
            .args(args)
            .env("AIRLOCK_ROOT", root_b64())
            .current_dir(dir)
            .output()
            .unwrap(),
    )
}

fn state_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p.join("st/state.json")).unwrap()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn exit_codes_json_and_state() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |s| s.sequence = 7);
    fn bundle<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["b.tar.gz", "--trust", "trust.json", "--state", "st"];
        a.extend_from_slice(extra);
        a
    }
    // A preview on a fresh state directory: verified, nothing written, not even the directory.
    let o = rv(p, &bundle(&["--at", NOW, "--json"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["sequence"], 7);
    assert_eq!(v["license_state"], "active");
    assert!(
        !p.join("st").exists(),
        "a preview (--at) never writes the state"
    );
    // A real run (the system clock says NOW) records the facts and the time.
    let Some(o) = rv_clock(p, NOW, &bundle(&["--json"])) else {
        return;
    };
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let state = state_json(p);
    assert_eq!(state["bundle_sequences"]["gateway/acme"], 7);
    assert_eq!(state["trust"]["version"], 2);
    assert_eq!(state["trust"]["roots"].as_array().unwrap().len(), 1);
    assert_eq!(state["highest_time_seen"], NOW);
    assert_eq!(state["generation"], 1);
    // Clock set back below the highest time seen: refused, for a real run and a preview alike,
    // and nothing is written.
    let before = std::fs::read(p.join("st/state.json")).unwrap();
    let o = rv_clock(p, "2026-11-21T00:00:00Z", &bundle(&[])).unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("REJECTED [tamper_suspected]"),
        "{}",
        stderr(&o)
    );
    let o = rv(p, &bundle(&["--at", "2026-11-21T00:00:00Z", "--json"]));
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["check"], "tamper_suspected");
    assert_eq!(std::fs::read(p.join("st/state.json")).unwrap(), before);
    // A preview in the future does not move the clock floor: the real clock still works.
    assert_eq!(
        rv(p, &bundle(&["--at", "2030-01-01"])).status.code(),
        Some(1)
    );
    let o = rv_clock(p, "2026-11-22T11:00:00Z", &bundle(&[])).unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // An older trust file than one already accepted: the state's copy of the accepted
    // version judges, and the operator is told to replace the file (not a failure).
    let o = rv(
        p,
        &[
            "b.tar.gz",
            "--trust",
            "trust-v1.json",
            "--at",
            "2026-11-22T12:00:00Z",
            "--state",
            "st",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("older than version 2 this machine accepted"),
        "{}",
        stderr(&o)
    );
    // A newer trust file self-signed by a root the state never trusted: refused.
    let evil_root = key(42, canon::Role::Root);
    let keys = Keys::new();
    let mut entries = keys.entries();
    entries[0] = entry(&evil_root, KeyStatus::Active);
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
            "2026-11-22T12:00:00Z",
            "--state",
            "st",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not an anchor"), "{}", stderr(&o));
    // A lower bundle sequence after 7 was installed.
    setup(p, |s| s.sequence = 6);
    let o = rv(p, &bundle(&["--at", "2026-11-22T12:00:00Z", "--json"]));
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["check"], "rollback");
    // A corrupt state file is reported, not reset.
    std::fs::write(p.join("st/state.json"), b"{\"airlock_state\":1}").unwrap();
    let o = rv(p, &bundle(&["--at", "2026-11-22T12:00:00Z"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("state file is corrupt"));
    assert_eq!(
        std::fs::read(p.join("st/state.json")).unwrap(),
        b"{\"airlock_state\":1}"
    );
    // Usage and I/O errors: exit 2, and no REJECTED verdict.
    let o = rv(p, &["missing.tar.gz", "--trust", "trust.json", "--at", NOW]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains("REJECTED"), "{}", stderr(&o));
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
    // Expires 2027-11-01T00:00:00Z; thresholds 90,60,30,14,7,1. `--at DATE` is the end of
    // that day, as a cron run that day would see it: 2027-10-01 has 30 whole days left.
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
    let between = remind("2027-09-02", "text");
    assert_eq!(between.status.code(), Some(0));
    assert!(between.stdout.is_empty());
    let hit = remind("2027-10-01", "text");
    assert_eq!(hit.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&hit.stdout).contains("(in 30 days)"),
        "{}",
        String::from_utf8_lossy(&hit.stdout)
    );
    // 60 days out is a threshold day too, while the state is still active (the warning
    // window is 30 days, the same as `license` reports).
    let early = remind("2027-09-01", "json");
    assert_eq!(early.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&early.stdout).unwrap();
    assert_eq!(
        (v["state"].as_str(), v["days_remaining"].as_i64()),
        (Some("active"), Some(60))
    );
    let grace = remind("2027-11-10", "json");
    assert_eq!(grace.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&grace.stdout).unwrap();
    assert_eq!(v["state"], "grace");
    let expired = remind("2027-12-10", "text");
    assert_eq!(expired.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&expired.stdout).contains("data is kept"));
    // Before the license was even signed: the clock is behind (a signed time bounds it).
    let early = remind("2026-10-01", "text");
    assert_eq!(early.status.code(), Some(9));
    assert!(String::from_utf8_lossy(&early.stdout).contains("the license's issued_at"));
    // Signed, but valid only from a later date (an early renewal): not valid yet.
    let keys = Keys::new();
    let mut later = license();
    later.not_before = "2026-12-01T00:00:00Z".into();
    let (lj, ls) = signed_json(&keys.license, canon::Kind::License, &later);
    std::fs::create_dir_all(p.join("lic2")).unwrap();
    std::fs::write(p.join("lic2/license.json"), lj).unwrap();
    std::fs::write(p.join("lic2/license.sig"), ls).unwrap();
    let o = rv(
        p,
        &[
            "remind",
            "--license",
            "lic2/license.json",
            "--trust",
            "trust.json",
            "--at",
            "2026-11-15",
        ],
    );
    assert_eq!(o.status.code(), Some(6));
    let prom = remind("2027-06-01", "prometheus");
    assert_eq!(prom.status.code(), Some(0));
    let text = String::from_utf8_lossy(&prom.stdout);
    assert!(
        text.contains(
            "airlock_license_state{license_file=\"lic/license.json\",state=\"active\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("# TYPE airlock_license_remaining_seconds gauge"));
    // The end of 2027-06-01 to the expiry 2027-11-01: 152 days and one second, in seconds
    // (a base unit).
    assert!(text
        .contains("airlock_license_remaining_seconds{license_file=\"lic/license.json\"} 13132801"));
    let series = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
            .collect()
    };
    let mut outputs = vec![text.into_owned()];
    for at in ["2027-12-10", "2027-10-25", "2026-10-01"] {
        outputs.push(String::from_utf8(remind(at, "prometheus").stdout).unwrap());
    }
    std::fs::write(p.join("lic/license.json"), b"{}").unwrap();
    let invalid = String::from_utf8(remind("2027-06-01", "prometheus").stdout).unwrap();
    assert!(invalid
        .contains("airlock_license_remaining_seconds{license_file=\"lic/license.json\"} NaN"));
    assert!(invalid
        .contains("airlock_license_state{license_file=\"lic/license.json\",state=\"invalid\"} 1"));
    outputs.push(invalid);
    // The same series and labels in every state: expired, grace, tamper, invalid.
    for o in &outputs {
        assert_eq!(series(o), series(&outputs[0]), "{o}");
        if have_tool("promtool") {
            let mut c = std::process::Command::new("promtool")
                .args(["check", "metrics"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(o.as_bytes()).unwrap();
            let r = c.wait_with_output().unwrap();
            assert!(
                r.status.success() && r.stdout.is_empty() && r.stderr.is_empty(),
                "promtool: {}{}\n{o}",
                String::from_utf8_lossy(&r.stdout),
                String::from_utf8_lossy(&r.stderr)
            );
        }
    }
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
    // A real run (system clock set by faketime) that verifies, records state and extracts.
    if !have_tool("faketime") {
        return;
    }
    let o = testkit::at_clock("2026-11-22 10:00:00", "strace")
        .args(["-f", "-qq", "-e", "trace=network", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_runtime-verify"))
        .args([
            "b.tar.gz",
            "--trust",
            "trust.json",
            "--state",
            "st",
            "--extract",
            "out",
        ])
        .env("TZ", "UTC")
        .env("AIRLOCK_ROOT", root_b64())
        .current_dir(p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(p.join("out/payload/app/readme.txt").exists());
    assert!(p.join("st/state.json").exists());
    let calls = std::fs::read_to_string(&trace).unwrap();
    let network: Vec<&str> = calls
        .lines()
        .filter(|l| !l.contains("+++ exited") && !l.contains(" --- SIG"))
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

#[test]
fn first_use_needs_the_vendor_root() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |_| {});
    let bare = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_runtime-verify"))
            .args(args)
            .current_dir(p)
            .env_remove("AIRLOCK_ROOT")
            .output()
            .unwrap()
    };
    // No root anywhere: a usage error naming the three ways to give it.
    let o = bare(&["b.tar.gz", "--trust", "trust.json", "--at", NOW]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no trust anchor"), "{}", stderr(&o));
    // A malformed --root is a usage error too.
    let o = bare(&[
        "b.tar.gz",
        "--trust",
        "trust.json",
        "--at",
        NOW,
        "--root",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Someone else's root: the trust file is rejected.
    let other = canon::enc::b64(&key(9, canon::Role::Root).public_key());
    let o = bare(&[
        "b.tar.gz",
        "--trust",
        "trust.json",
        "--at",
        NOW,
        "--root",
        &other,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("REJECTED [trust_invalid]"),
        "{}",
        stderr(&o)
    );
    // The root as a .pub file placed in the state directory by the operator.
    std::fs::create_dir(p.join("st")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p.join("st"), std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let root = Keys::new().root;
    std::fs::write(
        p.join("st/root.pub"),
        signing::keyfile::SecretKey::public_file(&root).to_file_bytes(),
    )
    .unwrap();
    let o = bare(&[
        "b.tar.gz",
        "--trust",
        "trust.json",
        "--at",
        NOW,
        "--state",
        "st",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Trust on first use only when asked for, and loudly.
    let o = bare(&[
        "b.tar.gz",
        "--trust",
        "trust.json",
        "--at",
        NOW,
        "--trust-on-first-use",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: trust on first use"));
}

#[test]
fn remind_and_license_follow_the_state_protocol() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |_| {});
    let Some(o) = rv_clock(
        p,
        NOW,
        &[
            "license",
            "lic/license.json",
            "--trust",
            "trust.json",
            "--state",
            "st",
        ],
    ) else {
        return;
    };
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // remind --state honours the pinned roots: a self-signed trust file by another root is
    // invalid (exit 8), not trusted afresh.
    let evil_root = key(42, canon::Role::Root);
    let keys = Keys::new();
    let mut entries = keys.entries();
    entries[0] = entry(&evil_root, KeyStatus::Active);
    std::fs::write(
        p.join("evil-trust.json"),
        signing::trust::sign_trust_file(&evil_root, 9, t("2026-06-01"), &entries).unwrap(),
    )
    .unwrap();
    let before = std::fs::read(p.join("st/state.json")).unwrap();
    let o = rv(
        p,
        &[
            "remind",
            "--license",
            "lic/license.json",
            "--trust",
            "evil-trust.json",
            "--state",
            "st",
            "--at",
            "2026-11-23",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // ... but an older trust version is not: the state's copy of the accepted one judges.
    let o = rv(
        p,
        &[
            "remind",
            "--license",
            "lic/license.json",
            "--trust",
            "trust-v1.json",
            "--state",
            "st",
            "--at",
            "2026-11-23",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // remind --at never writes the state; a clock before what was seen is tamper (exit 9).
    let o = rv(
        p,
        &[
            "remind",
            "--license",
            "lic/license.json",
            "--trust",
            "trust.json",
            "--state",
            "st",
            "--at",
            "2027-10-01",
        ],
    );
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(std::fs::read(p.join("st/state.json")).unwrap(), before);
    let o = rv_clock(
        p,
        "2026-11-21T00:00:00Z",
        &[
            "remind",
            "--license",
            "lic/license.json",
            "--trust",
            "trust.json",
            "--state",
            "st",
        ],
    )
    .unwrap();
    assert_eq!(o.status.code(), Some(9));
    assert_eq!(std::fs::read(p.join("st/state.json")).unwrap(), before);
    // A real remind run records the time.
    let o = rv_clock(
        p,
        "2026-11-23T00:00:00Z",
        &[
            "remind",
            "--license",
            "lic/license.json",
            "--trust",
            "trust.json",
            "--state",
            "st",
        ],
    )
    .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(state_json(p)["highest_time_seen"], "2026-11-23T00:00:00Z");
}

#[test]
fn a_revocation_list_imported_once_is_enforced_by_every_later_check() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |_| {});
    let keys = Keys::new();
    let (doc, sig) = revocations(&keys, 3, &["lic-test-0001"]);
    std::fs::create_dir(p.join("rl")).unwrap();
    std::fs::write(p.join("rl/revocations.json"), doc).unwrap();
    std::fs::write(p.join("rl/revocations.sig"), sig).unwrap();
    let Some(o) = rv_clock(
        p,
        NOW,
        &[
            "revocations",
            "import",
            "rl/revocations.json",
            "--trust",
            "trust.json",
            "--state",
            "st",
            "--json",
        ],
    ) else {
        return;
    };
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["sequence"], 3);
    assert_eq!(state_json(p)["revoked"]["lic-test-0001"], "unspecified");
    // The license alone, without any list at hand.
    let o = rv(
        p,
        &[
            "license",
            "lic/license.json",
            "--trust",
            "trust.json",
            "--state",
            "st",
            "--at",
            NOW,
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["check"], "license_revoked");
    // remind has its own code for it.
    let o = rv(
        p,
        &[
            "remind",
            "--license",
            "lic/license.json",
            "--trust",
            "trust.json",
            "--state",
            "st",
            "--at",
            NOW,
        ],
    );
    assert_eq!(o.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&o.stdout).contains("license revoked"));
    // A bundle that does not carry the list.
    let o = rv(
        p,
        &[
            "b.tar.gz",
            "--trust",
            "trust.json",
            "--state",
            "st",
            "--at",
            NOW,
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["check"], "license_revoked");
    // An older list cannot be imported after it.
    let (doc, sig) = revocations(&keys, 2, &[]);
    std::fs::write(p.join("rl/revocations.json"), doc).unwrap();
    std::fs::write(p.join("rl/revocations.sig"), sig).unwrap();
    let o = rv(
        p,
        &[
            "revocations",
            "import",
            "rl/revocations.json",
            "--trust",
            "trust.json",
            "--state",
            "st",
            "--at",
            NOW,
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("REJECTED [rollback]"), "{}", stderr(&o));
}

#[test]
fn processes_at_once_lose_no_update() {
    if !have_tool("faketime") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |_| {});
    let keys = Keys::new();
    // Four channels (customers), each its own bundle.
    for i in 0..4 {
        let mut spec = Spec::new(&keys);
        spec.license.customer.id = format!("c{i}");
        spec.sequence = 10 + i;
        let (gz, sig) = build(&keys, &spec);
        std::fs::write(p.join(format!("c{i}.tar.gz")), gz).unwrap();
        std::fs::write(p.join(format!("c{i}.tar.gz.sig")), sig).unwrap();
    }
    // First use, then four processes at once on the same state directory.
    let o = rv_clock(
        p,
        NOW,
        &[
            "license",
            "lic/license.json",
            "--trust",
            "trust.json",
            "--state",
            "st",
        ],
    )
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let children: Vec<_> = (0..4)
        .map(|i| {
            testkit::at_clock("2026-11-22 11:00:00", env!("CARGO_BIN_EXE_runtime-verify"))
                .args([
                    &format!("c{i}.tar.gz"),
                    "--trust",
                    "trust.json",
                    "--state",
                    "st",
                ])
                .env("TZ", "UTC")
                .current_dir(p)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let state = state_json(p);
    for i in 0..4 {
        assert_eq!(state["bundle_sequences"][format!("gateway/c{i}")], 10 + i);
    }
    assert_eq!(state["generation"], 5);
}
