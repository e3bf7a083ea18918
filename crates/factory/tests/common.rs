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

/// The registry of the test directory `dir`: the PostgreSQL URL in `dir/registry.url` (see
/// [`on_each_registry`]), else `dir/factory.db`.
pub fn db_of(dir: &Path) -> std::ffi::OsString {
    match std::fs::read_to_string(dir.join("registry.url")) {
        Ok(url) => url.trim().into(),
        Err(_) => dir.join("factory.db").into_os_string(),
    }
}

/// Runs `body` in a fresh directory whose registry is an SQLite file, then again in another
/// whose registry is a fresh database on a real PostgreSQL server started for it: the same
/// rules, checked the same way on both engines.
pub fn on_each_registry(body: impl Fn(&Path)) {
    let d = tempfile::tempdir().unwrap();
    body(d.path());
    if testkit::pg::available() {
        let server = testkit::pg::Server::start();
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("registry.url"), server.database()).unwrap();
        body(d.path());
    }
}

/// Runs `sql` on the registry of `dir` behind factory's back (a tampering operator).
pub fn raw_sql(dir: &Path, sql: &str) {
    match std::fs::read_to_string(dir.join("registry.url")) {
        Ok(url) => {
            let bin = testkit::pg::bin_dir().expect("psql");
            let out = Command::new(bin.join("psql"))
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", url.trim(), "-c", sql])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(_) => {
            let conn = rusqlite::Connection::open(dir.join("factory.db")).unwrap();
            conn.execute_batch(sql).unwrap();
        }
    }
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
        .env("FACTORY_DB", db_of(dir))
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

/// Issues a license and returns its id (`--additional`: these tests hold several live
/// licenses of one customer on purpose).
pub fn issue(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "issue",
        "--additional",
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
