//! Helpers to run the binaries in a temporary directory.

use std::path::Path;
use std::process::{Command, Output};

pub const NOW: &str = "2026-11-22T10:00:00Z";

pub fn factory(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_factory"))
        .args(args)
        .current_dir(dir)
        .env("AIRLOCK_NOW", NOW)
        .output()
        .expect("run factory")
}

pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn fails(o: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(
        err.contains(needle),
        "stderr does not contain {needle:?}: {err}"
    );
}

/// root, license and release keys plus a trust file in `dir/keys`.
pub fn keys_and_trust(dir: &Path) {
    for (role, name) in [("root", "root"), ("license", "lic"), ("release", "rel")] {
        ok(&factory(
            dir,
            &["keygen", "--role", role, "--name", name, "--out", "keys"],
        ));
    }
    ok(&factory(
        dir,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--add",
            "keys/lic.pub",
            "keys/rel.pub",
            "--out",
            "trust.json",
        ],
    ));
}

/// Runs factory with a registry and trust file in `dir`.
pub fn fac(dir: &Path, args: &[&str]) -> Output {
    fac_at(dir, NOW, args)
}

/// [`fac`] with the vendor's clock at `now`.
pub fn fac_at(dir: &Path, now: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_factory"))
        .args(args)
        .current_dir(dir)
        .env("AIRLOCK_NOW", now)
        // The old names (documented aliases of AIRLOCK_DB, AIRLOCK_TRUST, AIRLOCK_CATALOG) on
        // purpose: every factory test proves the aliases still work; the scenarios use the
        // new names.
        .env("FACTORY_DB", dir.join("factory.db"))
        .env("FACTORY_TRUST", dir.join("trust.json"))
        .env(
            "FACTORY_CATALOG",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json"),
        )
        .env_remove("AIRLOCK_DB")
        .env_remove("AIRLOCK_TRUST")
        .env_remove("AIRLOCK_CATALOG")
        .output()
        .expect("run factory")
}

/// Issues a license and returns its id.
pub fn issue(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "issue",
        "--key",
        "keys/lic.key",
        "--product",
        "gateway",
        "--customer",
        "ACME Corp",
    ];
    args.extend_from_slice(extra);
    ok(&fac(dir, &args)).trim().to_string()
}
