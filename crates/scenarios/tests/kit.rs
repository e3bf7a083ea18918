//! Runs the workspace binaries in a scratch directory: the vendor's clock through
//! `AIRLOCK_NOW`, the customer's system clock through libfaketime (as cron, or an attacker
//! holding the machine's clock, would see it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A workspace binary built beside this test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is not built: run the scenarios through `cargo test --workspace` (make test)",
        p.display()
    );
    p
}

/// Whether a tool is installed (required under CI, which installs it).
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required under CI (.ci/run installs it)"
        );
        eprintln!("\n*** SKIPPED: {tool} is not installed (apt-get install {tool}) ***\n");
    }
    found
}

/// The vendor side: `factory` or `packager` at time `now`, registry and catalog in `dir`.
pub fn vendor(dir: &Path, tool: &str, now: &str, args: &[&str]) -> Output {
    Command::new(bin(tool))
        .args(args)
        .current_dir(dir)
        .env("AIRLOCK_NOW", now)
        .env("FACTORY_DB", dir.join("factory.db"))
        .env(
            "FACTORY_CATALOG",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json"),
        )
        .env_remove("FACTORY_TRUST")
        .env_remove("AIRLOCK_ROOT")
        .output()
        .unwrap()
}

/// The customer side: `runtime-verify` with the system clock set to `now`.
pub fn customer(dir: &Path, now: &str, args: &[&str]) -> Output {
    // `-f` with an absolute time freezes the clock there.
    Command::new("faketime")
        .arg("-f")
        .arg(now.replace('T', " ").trim_end_matches('Z'))
        .arg(bin("runtime-verify"))
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .env_remove("AIRLOCK_ROOT")
        .output()
        .unwrap()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts success; returns stdout.
pub fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", show(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts exit `code` with `needle` in stderr or stdout.
pub fn fails(o: Output, code: i32, needle: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", show(&o));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(all.contains(needle), "{needle:?} not in {}", show(&o));
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
