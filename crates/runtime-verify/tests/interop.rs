//! Interoperability with Debian's stock `minisign`: its signatures verify with Airlock's
//! verifier, Airlock's verify with it, and tampering fails both ways.
//!
//! Under CI (`CI=true`) a missing `minisign` fails the test; elsewhere it is skipped loudly.

use runtime::KeyStatus;
use std::path::Path;
use std::process::Command;

pub use testkit::have_tool;

fn run(dir: &Path, cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .env("AIRLOCK_NOW", "2026-11-22T10:00:00Z")
        .output()
        .unwrap()
}

#[test]
fn stock_minisign_signature_verifies_with_airlock() {
    if !have_tool("minisign") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("file.bin"), b"payload from minisign".repeat(100)).unwrap();
    let o = run(p, "minisign", &["-G", "-W", "-p", "m.pub", "-s", "m.key"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(
        p,
        "minisign",
        &[
            "-S",
            "-s",
            "m.key",
            "-m",
            "file.bin",
            "-t",
            "made by stock minisign",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pubkey = std::fs::read(p.join("m.pub")).unwrap();
    let sig = std::fs::read(p.join("file.bin.minisig")).unwrap();
    let data = std::fs::read(p.join("file.bin")).unwrap();
    let ok = runtime::signed::verify_minisign_foreign(&pubkey, &data, &sig).unwrap();
    assert_eq!(ok.trusted_comment, "made by stock minisign");
    let mut tampered = data.clone();
    tampered[0] ^= 1;
    assert!(matches!(
        runtime::signed::verify_minisign_foreign(&pubkey, &tampered, &sig),
        Err(runtime::VerifyError::BadSignature { .. })
    ));
    let o = run(
        p,
        "minisign",
        &["-G", "-W", "-p", "other.pub", "-s", "other.key"],
    );
    assert!(o.status.success());
    let other = std::fs::read(p.join("other.pub")).unwrap();
    assert!(matches!(
        runtime::signed::verify_minisign_foreign(&other, &data, &sig),
        Err(runtime::VerifyError::UnknownKey(_))
    ));
}

#[test]
fn airlock_signature_verifies_with_stock_minisign_and_runtime_verify() {
    if !have_tool("minisign") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let key = signing::SecretKey::generate(
        "rel",
        canon::Role::Release,
        canon::Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
    )
    .unwrap();
    let root = signing::SecretKey::generate(
        "root",
        canon::Role::Root,
        canon::Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
    )
    .unwrap();
    signing::keyfile::write_key_files(&key, &p.join("keys")).unwrap();
    let entries = [&root, &key].map(|k| signing::trust::TrustEntry {
        public_key: k.public_key(),
        name: k.name.clone(),
        roles: vec![k.role],
        not_before: k.created_at,
        not_after: canon::Timestamp::parse("2030-01-01T00:00:00Z").unwrap(),
        status: KeyStatus::Active,
    });
    let trust = signing::trust::sign_trust_file(
        &root,
        1,
        canon::Timestamp::parse("2026-06-01T00:00:00Z").unwrap(),
        &entries,
    )
    .unwrap();
    std::fs::write(p.join("trust.json"), trust).unwrap();
    std::fs::write(p.join("file.bin"), b"airlock bytes".repeat(1000)).unwrap();

    let sig = key
        .sign_minisign(
            &std::fs::read(p.join("file.bin")).unwrap()[..],
            "timestamp:1790000000\tfile:file.bin\thashed",
        )
        .unwrap();
    std::fs::write(p.join("file.bin.sig"), &sig).unwrap();

    let o = run(
        p,
        "minisign",
        &[
            "-Vm",
            "file.bin",
            "-p",
            "keys/rel.minisign.pub",
            "-x",
            "file.bin.sig",
        ],
    );
    assert!(
        o.status.success(),
        "stock minisign refused: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rv = env!("CARGO_BIN_EXE_runtime-verify");
    // The vendor's root given by key id (the short form an operator can read over the phone).
    let root_id = root.key_id().to_string();
    let o = run(
        p,
        rv,
        &[
            "sig",
            "file.bin",
            "--trust",
            "trust.json",
            "--root",
            &root_id,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    std::fs::write(p.join("file.bin"), b"airlock bytes".repeat(999)).unwrap();
    let o = run(
        p,
        "minisign",
        &[
            "-Vm",
            "file.bin",
            "-p",
            "keys/rel.minisign.pub",
            "-x",
            "file.bin.sig",
        ],
    );
    assert!(
        !o.status.success(),
        "stock minisign accepted a tampered file"
    );
    let o = run(
        p,
        rv,
        &[
            "sig",
            "file.bin",
            "--trust",
            "trust.json",
            "--root",
            &root_id,
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("minisign signature: signature does not verify"));

    // A genuine signature whose trusted comment has no well-formed signing time: the key's
    // window cannot be checked (a retired key could go on signing), so it is refused.
    for comment in [
        "timestamp:17900000x0\tfile:file.bin",
        "file:file.bin",
        "timestamp:1790000000\ttimestamp:1\tfile:file.bin",
        "timestamp:-5\tfile:file.bin",
    ] {
        let sig = key
            .sign_minisign(&std::fs::read(p.join("file.bin")).unwrap()[..], comment)
            .unwrap();
        std::fs::write(p.join("file.bin.sig"), &sig).unwrap();
        let o = run(
            p,
            rv,
            &[
                "sig",
                "file.bin",
                "--trust",
                "trust.json",
                "--root",
                &root_id,
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{comment}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("timestamp"),
            "{comment}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
