//! `packager sign` produces what stock `minisign -Vm` accepts; tampering or the wrong key fails.

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .env("AIRLOCK_NOW", "2026-11-22T10:00:00Z")
        .output()
        .unwrap()
}

fn have_minisign() -> bool {
    let found = Command::new("minisign")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "minisign is required under CI (.ci/run installs it)"
        );
        eprintln!("\n*** SKIPPED: minisign is not installed (apt-get install minisign) ***\n");
    }
    found
}

#[test]
fn packager_sign_verifies_with_stock_minisign() {
    if !have_minisign() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let t = canon::Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    for (name, role) in [
        ("rel", canon::Role::Release),
        ("other", canon::Role::Release),
        ("lic", canon::Role::License),
    ] {
        let k = signing::SecretKey::generate(name, role, t).unwrap();
        signing::keyfile::write_key_files(&k, &p.join("keys")).unwrap();
    }
    std::fs::write(p.join("data.tar.gz"), vec![42u8; 3 << 20]).unwrap();
    let packager = env!("CARGO_BIN_EXE_packager");
    let o = run(
        p,
        packager,
        &["sign", "data.tar.gz", "--key", "keys/rel.key"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sig = std::fs::read_to_string(p.join("data.tar.gz.sig")).unwrap();
    assert!(
        sig.contains("trusted comment: timestamp:1795341600\tfile:data.tar.gz\thashed\tkey_id:"),
        "{sig}"
    );

    let o = run(
        p,
        "minisign",
        &[
            "-Vm",
            "data.tar.gz",
            "-p",
            "keys/rel.minisign.pub",
            "-x",
            "data.tar.gz.sig",
        ],
    );
    assert!(
        o.status.success(),
        "stock minisign refused: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("Trusted comment: timestamp:1795341600"));

    let o = run(
        p,
        "minisign",
        &[
            "-Vm",
            "data.tar.gz",
            "-p",
            "keys/other.minisign.pub",
            "-x",
            "data.tar.gz.sig",
        ],
    );
    assert!(!o.status.success(), "accepted under the wrong key");

    let mut data = std::fs::read(p.join("data.tar.gz")).unwrap();
    data[1 << 20] ^= 0x80;
    std::fs::write(p.join("data.tar.gz"), &data).unwrap();
    let o = run(
        p,
        "minisign",
        &[
            "-Vm",
            "data.tar.gz",
            "-p",
            "keys/rel.minisign.pub",
            "-x",
            "data.tar.gz.sig",
        ],
    );
    assert!(!o.status.success(), "accepted a tampered file");

    // Only release keys sign files.
    let o = run(
        p,
        packager,
        &["sign", "data.tar.gz", "--key", "keys/lic.key"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("signed with a release key"));
}
