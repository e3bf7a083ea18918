//! Runs the workspace binaries in a scratch directory: the vendor's clock through
//! `AIRLOCK_NOW`, the customer's system clock through libfaketime (as cron, or an attacker
//! holding the machine's clock, would see it).

use std::path::Path;
use std::process::{Command, Output};

pub use testkit::{bin, fails, have_tool, ok};

/// The vendor side: `factory` or `packager` at time `now`, registry and catalog in `dir`.
/// The registry of the vendor directory `dir`: the PostgreSQL URL in `dir/registry.url`, else
/// `dir/factory.db`.
pub fn db_of(dir: &Path) -> String {
    match std::fs::read_to_string(dir.join("registry.url")) {
        Ok(url) => url.trim().to_string(),
        Err(_) => dir.join("factory.db").display().to_string(),
    }
}

/// Runs `body` with no registry URL (SQLite, the default), then with a fresh database on a
/// real PostgreSQL server started for it.
pub fn on_each_registry(body: impl Fn(Option<&str>)) {
    body(None);
    if testkit::pg::available() {
        let server = testkit::pg::Server::start();
        body(Some(&server.database()));
    }
}

/// The first column of the first row of `sql` on the registry of `dir` (sqlite3 or psql).
pub fn registry_query(dir: &Path, sql: &str) -> String {
    let out = match std::fs::read_to_string(dir.join("registry.url")) {
        Ok(url) => Command::new(testkit::pg::bin_dir().expect("psql").join("psql"))
            .args(["-X", "-q", "-A", "-t", url.trim(), "-c", sql])
            .output(),
        Err(_) => Command::new("sqlite3")
            .arg(dir.join("factory.db"))
            .arg(sql)
            .output(),
    }
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn vendor(dir: &Path, tool: &str, now: &str, args: &[&str]) -> Output {
    Command::new(bin(tool))
        .args(args)
        .current_dir(dir)
        .env("AIRLOCK_NOW", now)
        .env("AIRLOCK_DB", db_of(dir))
        .env(
            "AIRLOCK_CATALOG",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json"),
        )
        .env_remove("AIRLOCK_TRUST")
        .env_remove("FACTORY_TRUST")
        .env_remove("AIRLOCK_ROOT")
        .output()
        .unwrap()
}

/// The customer side: `runtime-verify` with the system clock set to `now`.
pub fn customer(dir: &Path, now: &str, args: &[&str]) -> Output {
    // `-f` with an absolute time freezes the clock there.
    testkit::at_clock(now, bin("runtime-verify"))
        .args(args)
        .current_dir(dir)
        .env_remove("AIRLOCK_ROOT")
        .output()
        .unwrap()
}

/// The `key_id` of a `NAME.pub` file.
pub fn key_id(dir: &Path, pubfile: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(pubfile)).unwrap()).unwrap();
    v["key_id"].as_str().unwrap().to_string()
}

/// A small payload and a product manifest released `released_at`.
pub fn product(dir: &Path, released_at: &str, version: &str) {
    std::fs::create_dir_all(dir.join("payload/bin")).unwrap();
    std::fs::write(
        dir.join("payload/README.txt"),
        format!("gateway {version}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("payload/bin/run.sh"), b"#!/bin/sh\necho run\n").unwrap();
    std::fs::write(
        dir.join(format!("pm-{version}.json")),
        format!(
            r#"{{"type":"airlock-product-manifest","product":"gateway","name":"Gateway","version":"{version}","edition":"sovereign","released_at":"{released_at}","components":[],"min_runtime_version":"0.1.0","requires_features":["gate"]}}"#
        ),
    )
    .unwrap();
}

/// Copies a file or a directory tree.
pub fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy(&e.path(), &to.join(e.file_name()));
        }
    } else {
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::copy(from, to).unwrap();
    }
}
