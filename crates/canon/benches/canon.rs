//! Canonicalization throughput against serde_json serialization of the same documents.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

fn license_like() -> Vec<u8> {
    br#"{"schema_version":3,"license_id":"lic-0123456789abcdef","license_key":"ABCD-EFGH-JKMN-PQRS",
    "issuer":"Example Vendor","customer":{"id":"cust-42","name":"ACME Corp"},"workspace":"default",
    "product":"gateway","tier":"sovereign","editions":["standard","sovereign"],
    "issued_at":"2026-11-22T00:00:00Z","not_before":"2026-11-22T00:00:00Z","expires_at":"2027-11-22T00:00:00Z",
    "grace_days":14,"features":["gate","chron","pim","aiorg","skills","policies","docker_compose","helm_chart",
    "saml_oidc","ha","mssql","mtls_mesh","airgap_bundle","compliance_pack"],
    "limits":{"agents":0,"aiorgs":0,"instances":0},"production_use":true,"data_residency":"eu",
    "renewal_of":null,"lineage_id":"lin-0123456789abcdef","sequence":1}"#
        .to_vec()
}

fn bench(c: &mut Criterion) {
    let doc = license_like();
    let vectors = std::fs::read("../../../shared/vectors/jcs-rfc8785/input/weird.json").ok();
    let mut g = c.benchmark_group("license_1k");
    g.throughput(Throughput::Bytes(doc.len() as u64));
    g.bench_function("canon_parse_canonicalize", |b| {
        b.iter(|| canon::canonicalize(black_box(&doc)).unwrap())
    });
    let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    g.bench_function("serde_json_parse_serialize", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(&doc)).unwrap();
            serde_json::to_vec(&v).unwrap()
        })
    });
    g.bench_function("serde_json_serialize_only", |b| {
        b.iter(|| serde_json::to_vec(black_box(&v)).unwrap())
    });
    let parsed = canon::parse(&doc).unwrap();
    g.bench_function("canon_serialize_only", |b| {
        b.iter(|| black_box(&parsed).to_canonical())
    });
    g.finish();
    // Hostile numbers: non-integers whose exact expansion is hundreds of digits long.
    let hostile: Vec<u8> = format!("[{}5e-324]", "5e-324,".repeat(499)).into_bytes();
    let mut g = c.benchmark_group("hostile_numbers_500");
    g.throughput(Throughput::Elements(500));
    g.bench_function("canonicalize", |b| {
        b.iter(|| canon::canonicalize(black_box(&hostile)).unwrap())
    });
    g.finish();
    // The prehash a bundle's outer signature covers: on a large bundle a third of the verifier's
    // work (runtime::bundle), so its throughput bounds the whole-process figure.
    let block = vec![0x5au8; 1 << 20];
    let mut g = c.benchmark_group("minisign_prehash_1MiB");
    g.throughput(Throughput::Bytes(block.len() as u64));
    g.bench_function("blake2b_512", |b| {
        b.iter(|| {
            let mut h = canon::minisign::Prehash::new();
            h.update(black_box(&block));
            h.finalize()
        })
    });
    g.finish();
    if let Some(w) = vectors {
        c.bench_function("rfc8785_weird", |b| {
            b.iter(|| canon::canonicalize(black_box(&w)).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
