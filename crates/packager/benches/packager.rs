//! Packager benchmarks (SPEC §7): building a signed air-gap bundle (scan, hash, tar, parallel
//! gzip, manifests, signatures) from a payload of one large and many small files. Run with
//! `cargo bench -p packager`; `scripts/perf-compare.sh` compares the whole process with
//! `tar -czf` + `sha256sum`.

use canon::Kind;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::fs;
use std::path::Path;
use testkit::{license, product_manifest, signed_json, t, Keys};

/// `cargo bench` passes `--bench`; under `cargo test --benches` (make test) the payload is
/// small, so the path is checked in seconds.
fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn setup(p: &Path, keys: &Keys, big: usize) {
    let (lj, ls) = signed_json(&keys.license, Kind::License, &license());
    fs::create_dir_all(p.join("lic")).unwrap();
    fs::write(p.join("lic/license.json"), lj).unwrap();
    fs::write(p.join("lic/license.sig"), ls).unwrap();
    fs::write(
        p.join("pm.json"),
        serde_json::to_vec(&product_manifest()).unwrap(),
    )
    .unwrap();
    fs::create_dir_all(p.join("payload/small")).unwrap();
    // Not all zeros: a compressible but non-trivial stream.
    let data: Vec<u8> = (0..big as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 & 0x3f)
        .collect();
    fs::write(p.join("payload/big.bin"), data).unwrap();
    for i in 0..200 {
        fs::write(
            p.join(format!("payload/small/f{i:03}.txt")),
            format!("file {i}\n"),
        )
        .unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let keys = Keys::new();
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let big = if full() { 64 << 20 } else { 256 << 10 };
    setup(p, &keys, big);
    let store = keys.store();
    let mut g = c.benchmark_group("packager");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(big as u64));
    for threads in [1, 2] {
        g.bench_function(format!("bundle_64MiB_{threads}_threads"), |b| {
            b.iter_with_setup(
                || tempfile::tempdir_in(p).unwrap(),
                |out| {
                    let req = packager::bundle::Request {
                        license_dir: &p.join("lic"),
                        payload: &p.join("payload"),
                        product_manifest: &p.join("pm.json"),
                        key: &keys.release,
                        out: &out.path().join("o"),
                        airgap: true,
                        name: Some("bench".into()),
                        sequence: Some(1),
                        revocations: None,
                        created_at: t("2026-11-20"),
                        trust: Some(&store),
                        level: packager::bundle::DEFAULT_LEVEL,
                        threads,
                        state: &out.path().join("state.json"),
                        encrypt: None,
                    };
                    packager::bundle::build(&req, |_| {}).unwrap();
                    out
                },
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
