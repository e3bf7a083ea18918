//! Factory benchmarks (SPEC §7): batch issuance of 10,000 licenses, and every view over a
//! registry of 1,000,000 rows. Run with `cargo bench -p factory`.

use canon::{Role, Timestamp};
use criterion::{criterion_group, criterion_main, Criterion};
use factory::catalog::Catalog;
use factory::issue::{build_batch, issue_batch, Request};
use factory::registry::{Registry, View};
use std::path::Path;

/// `cargo bench` passes `--bench`; `cargo test --benches` (what `make test` runs, once per
/// benchmark, to keep them from rotting) does not: there the sizes shrink so a debug build
/// checks every code path in seconds.
fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn now() -> Timestamp {
    Timestamp::parse("2026-11-22T00:00:00Z").unwrap()
}

fn catalog() -> Catalog {
    Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json"))
        .unwrap()
}

fn batch(c: &mut Criterion) {
    let key = signing::SecretKey::from_seed(&[7; 32], "bench", Role::License, now()).unwrap();
    let cat = catalog();
    let n = if full() { 10_000 } else { 100 };
    let reqs: Vec<Request> = (0..n)
        .map(|i| Request {
            tier: ["evaluation", "professional", "sovereign"][i % 3].into(),
            customer: format!("Customer {i}"),
            product: "gateway".into(),
            expires: Some("2027-11-22".into()),
            ..Request::default()
        })
        .collect();
    let mut g = c.benchmark_group("factory");
    g.sample_size(10);
    g.bench_function("issue_batch_10000", |b| {
        b.iter_with_setup(
            || tempfile::tempdir().unwrap(),
            |d| {
                let mut reg = Registry::open(&d.path().join("f.db")).unwrap();
                let licenses = build_batch(&cat, &reqs, now()).unwrap();
                let done = issue_batch(
                    &mut reg,
                    &key,
                    &reqs,
                    licenses,
                    &d.path().join("out"),
                    now(),
                    |_| {},
                )
                .unwrap();
                assert_eq!(done.issued.len(), n);
                d
            },
        )
    });
    g.finish();
}

fn views(c: &mut Criterion) {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::open(&d.path().join("big.db")).unwrap();
    // 1,000,000 rows spread over three years around `now`, some renewed and revoked.
    reg.sqlite()
        .unwrap()
        .execute_batch(&format!(
            "BEGIN;
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
             INSERT INTO licenses (license_id, lineage_id, sequence, customer_id, customer_name, product, tier,
                 issued_at, not_before, expires_at, license_key, key_id, revoked_at, revoke_reason)
             SELECT 'lic-' || i, 'lin-' || i, 1, 'c' || (i % 5000), 'Customer', 'gateway', 'professional',
                 {n} - 400*86400 + (i % 1000) * 86400, {n} - 400*86400 + (i % 1000) * 86400,
                 {n} - 35*86400 + (i % 1000) * 86400, 'K' || i, 'k',
                 CASE WHEN i % 97 = 0 THEN {n} END, CASE WHEN i % 97 = 0 THEN 'r' END
             FROM n;
             INSERT INTO license_documents (license_id, document, signature)
             SELECT license_id, x'7b7d', x'7b7d' FROM licenses;
             COMMIT;",
            n = now().0,
            last = if full() { 999_999 } else { 9_999 }
        ))
        .unwrap();
    let mut g = c.benchmark_group("views_1m");
    g.sample_size(10);
    for v in View::ALL {
        g.bench_function(v.as_str(), |b| {
            b.iter(|| reg.list(v, now(), 30, 0).unwrap().len())
        });
    }
    g.bench_function("expiring-soon_count", |b| {
        b.iter(|| reg.count(View::ExpiringSoon, now(), 30).unwrap())
    });
    g.finish();
}

/// A registry in `dir` holding one license of 10,000 seats, the activation key, and `n`
/// machines' signed activation requests for it (one instance key each, from a seed).
fn registry_with_requests(dir: &Path, n: usize) -> (Registry, signing::SecretKey, Vec<Vec<u8>>) {
    use canon::{enc, Kind};
    use runtime::activation::{ActivationRequest, SignedFile};
    use runtime::Artifact;
    let lic_key = signing::SecretKey::from_seed(&[7; 32], "lic", Role::License, now()).unwrap();
    let act_key = signing::SecretKey::from_seed(&[8; 32], "act", Role::Activation, now()).unwrap();
    let req = Request {
        tier: "professional".into(),
        customer: "Bench".into(),
        product: "gateway".into(),
        expires: Some("2027-11-22".into()),
        device_limit: Some(10_000),
        ..Request::default()
    };
    let mut reg = Registry::open(&dir.join("f.db")).unwrap();
    let reqs = vec![req];
    let licenses = build_batch(&catalog(), &reqs, now()).unwrap();
    let l = licenses[0].clone();
    issue_batch(
        &mut reg,
        &lic_key,
        &reqs,
        licenses,
        &dir.join("out"),
        now(),
        |_| {},
    )
    .unwrap();
    let signed = (0..n)
        .map(|i| {
            let mut seed = [1u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let k =
                signing::SecretKey::from_seed(&seed, "instance", Role::Instance, now()).unwrap();
            let r = ActivationRequest {
                doc_type: "airlock-activation-request".into(),
                request_id: enc::hex(&(i as u128).to_be_bytes()),
                license_id: l.license_id.clone(),
                license_key: l.license_key.clone(),
                lineage_id: l.lineage_id.clone(),
                product: "gateway".into(),
                workspace: l.workspace.clone(),
                fingerprint: runtime::fingerprint::derive(format!("m{i}").as_bytes(), "gateway"),
                fingerprint_source: "machine-id".into(),
                instance_public_key: enc::b64(&k.public_key()),
                label: String::new(),
                created_at: now().to_string(),
                install_token_id: None,
                encryption_public_key: None,
                builds: Vec::new(),
                pool: false,
                components: Default::default(),
                environment: None,
            };
            let canonical = r.to_canonical();
            SignedFile {
                envelope: k
                    .sign_document(Kind::ActivationRequest, &canonical)
                    .unwrap(),
                canonical,
            }
            .to_bytes()
        })
        .collect();
    (reg, act_key, signed)
}

/// `factory activation fulfill`'s work without the process: verify each machine's signed
/// request, then the seat decision, the signed lease and the audit event in one transaction
/// per activation (SQLite WAL, synchronous=FULL), into one license of 10,000 seats.
fn fulfil(c: &mut Criterion) {
    let n = if full() { 1_000 } else { 20 };
    let mut g = c.benchmark_group("activation");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(n as u64));
    g.bench_function("fulfil_1000", |b| {
        b.iter_with_setup(
            || {
                let d = tempfile::tempdir().unwrap();
                let (reg, key, signed) = registry_with_requests(d.path(), n);
                (d, reg, key, signed)
            },
            |(d, mut reg, key, signed)| {
                for f in &signed {
                    let r = factory::activation::check_request(
                        f,
                        now(),
                        factory::activation::Freshness::Carried,
                    )
                    .unwrap();
                    factory::activation::fulfill(&mut reg, &r, (&key, None), now(), None)
                        .unwrap()
                        .unwrap();
                }
                d
            },
        )
    });
    g.finish();
}

/// The activation service's serial work: renewals of live seats run as the service's writer
/// thread runs them, 256 to a transaction with a savepoint each (group commit). One license,
/// 500 seats; each renewal re-checks the license's standing, records a fresh lease and appends
/// its audit event (the service signs the lease outside the transaction).
fn renew_group(c: &mut Criterion) {
    use factory::activation::{self as seats, How, LeaseTerms};
    let seats_n = if full() { 500 } else { 8 };
    let group = if full() { 256 } else { 8 };
    let d = tempfile::tempdir().unwrap();
    let (mut reg, act_key, signed) = registry_with_requests(d.path(), seats_n);
    let reqs: Vec<_> = signed
        .iter()
        .map(|f| seats::check_request(f, now(), factory::activation::Freshness::Carried).unwrap())
        .collect();
    let lease = LeaseTerms::online(7);
    let ids: Vec<String> = reqs
        .iter()
        .map(|r| {
            seats::fulfill(&mut reg, r, (&act_key, None), now(), None)
                .unwrap()
                .unwrap()
                .activation
                .activation_id
        })
        .collect();
    let mut g = c.benchmark_group("activation");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(group as u64));
    let mut k = 0usize;
    g.bench_function("renew_group_256", |b| {
        b.iter(|| {
            let ops: Vec<seats::GroupOp<'_, ()>> = (0..group)
                .map(|_| {
                    k += 1;
                    let (r, id) = (&reqs[k % reqs.len()], &ids[k % ids.len()]);
                    Box::new(move |tx: &dyn factory::db::Sql| {
                        let how = How::Renew {
                            activation_id: id,
                            heartbeat: None,
                        };
                        Ok(seats::grant_in(tx, r, how, now(), &lease)?.map(|_| ()))
                    }) as seats::GroupOp<'_, ()>
                })
                .collect();
            for a in reg.group(ops).unwrap() {
                a.unwrap().unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, batch, views, fulfil, renew_group);
criterion_main!(benches);
