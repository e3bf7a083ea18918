//! Sealing and opening one payload member; the bound is opening 1 MiB on demand in
//! under 5 ms (docs/FORMAT.md §19).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seal::member::{seal_reader, OpenReader};
use seal::ContentKey;
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::io::Read;

fn sealed(key: &ContentKey, plain: &[u8]) -> Vec<u8> {
    let sha: [u8; 32] = Sha256::digest(plain).into();
    let mut out = Vec::new();
    seal_reader(
        key,
        "payload/lib.so",
        &sha,
        plain.len() as u64,
        plain,
        |b| {
            out.extend_from_slice(b);
            Ok(())
        },
    )
    .expect("seals");
    out
}

fn bench(c: &mut Criterion) {
    let key = ContentKey::from_bytes([5; 32]);
    let plain: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let s = sealed(&key, &plain);
    let mut g = c.benchmark_group("member_1mib");
    g.throughput(Throughput::Bytes(plain.len() as u64));
    g.bench_function("open", |b| {
        let mut out = Vec::with_capacity(plain.len());
        b.iter(|| {
            out.clear();
            let mut r =
                OpenReader::new(&key, "payload/lib.so", s.len() as u64, &s[..]).expect("opens");
            r.read_to_end(&mut out).expect("reads");
            black_box(out.len())
        })
    });
    g.bench_function("seal", |b| b.iter(|| black_box(sealed(&key, &plain).len())));
    g.bench_function("sha256_floor", |b| {
        b.iter(|| black_box(Sha256::digest(&plain)))
    });
    g.finish();
    let kek = seal::wrap::SecretKey::from_seed([9; 32]);
    let w = seal::wrap::wrap(&kek.public_key(), &key, b"info").expect("wraps");
    c.bench_function("unwrap_content_key", |b| {
        b.iter(|| black_box(kek.unwrap(&w, b"info").expect("opens")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
