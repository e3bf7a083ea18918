//! The Rust side of `scripts/bindings-bench.sh` (issue 26, item 6): the one-call check and a
//! feature check through the safe API every binding calls, and the same two through the C
//! ABI, on the site `AIRLOCK_BENCH_SITE` names (made by `tests/c/fixture.sh`, as the machine
//! `AIRLOCK_INSTANCE_ID=ffi-test-machine`). Without it the site is made here with the vendor
//! binaries of this target directory (`make unit` or `cargo build --workspace` builds them);
//! when they are not built the benchmark says so and measures nothing.

// The C ABI's calls are unsafe by nature; this file calls them as a C product would.
#![allow(unsafe_code)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::ffi::CString;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The site, and the temporary directory holding it when made here.
fn site() -> Option<(PathBuf, Option<PathBuf>)> {
    if let Some(s) = std::env::var_os("AIRLOCK_BENCH_SITE") {
        return Some((PathBuf::from(s), None));
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = ["", "../debug", "../release"]
        .iter()
        .map(|p| profile_dir.join(p))
        .find(|d| d.join("factory").exists() && d.join("airlock-agent").exists())?;
    let dir = std::env::temp_dir().join(format!("airlock-ffi-bench-{}", std::process::id()));
    let ok = Command::new("bash")
        .arg(crate_dir.join("tests/c/fixture.sh"))
        .arg(&dir)
        .env("BIN", &bin)
        .env("AIRLOCK_INSTANCE_ID", "ffi-test-machine")
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "fixture.sh failed with the binaries of {}",
        bin.display()
    );
    Some((dir.clone(), Some(dir)))
}

fn bench(c: &mut Criterion) {
    let Some((site, made)) = site() else {
        eprintln!("runtime-ffi bench: no AIRLOCK_BENCH_SITE and no vendor binaries built; nothing measured");
        return;
    };
    std::env::set_var("AIRLOCK_INSTANCE_ID", "ffi-test-machine");
    let s = |p: &str| site.join(p).to_string_lossy().into_owned();
    let (trust, lic, state) = (s("trust.json"), s("license"), s("state"));
    let root = std::fs::read_to_string(site.join("root.txt")).unwrap();
    let first = airlock::api::check(&trust, &lic, &state, Some(root.trim()), -1).unwrap();

    let mut g = c.benchmark_group("rust_api");
    g.bench_function("check", |b| {
        b.iter(|| airlock::api::check(&trust, &lic, &state, None, -1).unwrap())
    });
    g.bench_function("feature", |b| {
        b.iter(|| airlock::api::feature(&first.status, black_box("gate")).unwrap())
    });
    g.finish();

    let (ct, cl, cs) = (
        CString::new(trust.clone()).unwrap(),
        CString::new(lic.clone()).unwrap(),
        CString::new(state.clone()).unwrap(),
    );
    let options = airlock::AirlockCheckOptions {
        trust_path: ct.as_ptr(),
        license_dir: cl.as_ptr(),
        state_dir: cs.as_ptr(),
        root: std::ptr::null(),
        now: -1,
    };
    let c_check = || {
        let mut st = std::ptr::null_mut();
        // SAFETY: valid options and out-pointers; no error handle asked (err null).
        let r = unsafe { airlock::airlock_check(&options, &mut st, std::ptr::null_mut()) };
        assert_eq!(r as i32, 0);
        st
    };
    let gate = CString::new("gate").unwrap();
    let mut g = c.benchmark_group("c_abi");
    g.bench_function("check", |b| {
        // SAFETY: a live handle from airlock_check, freed once.
        b.iter(|| unsafe { airlock::airlock_status_free(c_check()) })
    });
    let st = c_check();
    g.bench_function("feature", |b| {
        b.iter(|| {
            // SAFETY: a live handle and a NUL-terminated name; no error handle asked.
            unsafe {
                airlock::airlock_status_feature(st, black_box(gate.as_ptr()), std::ptr::null_mut())
            }
        })
    });
    g.finish();
    // SAFETY: the handle made above, freed once.
    unsafe { airlock::airlock_status_free(st) };
    if let Some(dir) = made {
        let _ = std::fs::remove_dir_all(dir);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
