//! Runtime benchmarks (SPEC §7): license verifications per second (parse, canonicalize,
//! verify_strict, schema), and feature / limit checks.

use canon::{Kind, Role, Timestamp};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use runtime::enforce::{Entitlements, Gate};
use runtime::license::{verify_license, Customer, LegacyPolicy, License, Tier};
use runtime::Artifact;
use runtime::KeyStatus;
use std::hint::black_box;

/// A trust store signed by `root` listing `keys`, each for its own role.
fn trust_of(root: &signing::SecretKey, keys: &[&signing::SecretKey]) -> runtime::TrustStore {
    let t = |s: &str| Timestamp::parse(s).unwrap();
    let entries: Vec<_> = keys
        .iter()
        .map(|k| signing::trust::TrustEntry {
            public_key: k.public_key(),
            name: k.name.clone(),
            roles: vec![k.role],
            not_before: t("2026-01-01T00:00:00Z"),
            not_after: t("2030-01-01T00:00:00Z"),
            status: KeyStatus::Active,
        })
        .collect();
    let bytes =
        signing::trust::sign_trust_file(root, 1, t("2026-06-01T00:00:00Z"), &entries).unwrap();
    runtime::TrustStore::from_trust_file(&bytes, &runtime::danger::trust_on_first_use()).unwrap()
}

fn bench(c: &mut Criterion) {
    let t = |s: &str| Timestamp::parse(s).unwrap();
    let root =
        signing::SecretKey::from_seed(&[1; 32], "root", Role::Root, t("2026-01-01T00:00:00Z"))
            .unwrap();
    let lic =
        signing::SecretKey::from_seed(&[2; 32], "lic", Role::License, t("2026-01-01T00:00:00Z"))
            .unwrap();
    let trust = trust_of(&root, &[&root, &lic]);
    let features: Vec<String> = [
        "gate",
        "chron",
        "pim",
        "aiorg",
        "skills",
        "policies",
        "docker_compose",
        "helm_chart",
        "saml_oidc",
        "ha",
        "mssql",
        "mtls_mesh",
        "airgap_bundle",
        "compliance_pack",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let license = License {
        schema_version: 3,
        license_id: "lic-0123456789abcdef".into(),
        license_key: "ABCD-EFGH-JKMN-PQRS".into(),
        issuer: "Example Vendor Ltd".into(),
        customer: Customer {
            id: "acme-corp".into(),
            name: "ACME Corp".into(),
        },
        workspace: "default".into(),
        product: "gateway".into(),
        tier: Tier::Sovereign,
        editions: vec!["standard".into(), "sovereign".into()],
        issued_at: "2026-11-01T00:00:00Z".into(),
        not_before: "2026-11-01T00:00:00Z".into(),
        expires_at: "2027-11-01T00:00:00Z".into(),
        grace_days: 30,
        features: features.clone(),
        limits: [
            ("agents".to_string(), 0u64),
            ("aiorgs".into(), 0),
            ("instances".into(), 0),
        ]
        .into_iter()
        .collect(),
        production_use: true,
        data_residency: "eu".into(),
        renewal_of: None,
        lineage_id: "lin-0123456789abcdef".into(),
        sequence: 1,
    };
    let canonical = license.to_canonical();
    let doc = canon::parse(&canonical).unwrap().to_pretty();
    let sig = lic
        .sign_document(Kind::License, &canonical)
        .unwrap()
        .to_bytes();
    let now = t("2026-11-22T00:00:00Z");
    let policy = LegacyPolicy::default();
    let mut g = c.benchmark_group("license");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_license_1k", |b| {
        b.iter(|| {
            verify_license(
                black_box(&trust),
                black_box(&doc),
                Some(black_box(&sig)),
                &policy,
                now,
            )
            .unwrap()
        })
    });
    g.finish();
    let e = Entitlements::new(
        Gate::Open,
        features.iter().map(String::as_str),
        [("agents", 50), ("aiorgs", 5), ("instances", 3)],
    );
    c.bench_function("check_feature_hit", |b| {
        b.iter(|| e.check_feature(black_box("mtls_mesh")).is_ok())
    });
    c.bench_function("check_feature_miss", |b| {
        b.iter(|| e.check_feature(black_box("teleport")).is_err())
    });
    c.bench_function("check_limit", |b| {
        b.iter(|| e.check_limit(black_box("agents"), black_box(49)).is_ok())
    });
}

/// An activation lease verified the way a product does at start: signature (activation role),
/// schema, binding to this machine's fingerprint, window, clock and the state's facts.
fn lease(c: &mut Criterion) {
    let t = |s: &str| Timestamp::parse(s).unwrap();
    let created = t("2026-01-01T00:00:00Z");
    let root = signing::SecretKey::from_seed(&[1; 32], "root", Role::Root, created).unwrap();
    let act = signing::SecretKey::from_seed(&[4; 32], "act", Role::Activation, created).unwrap();
    let trust = trust_of(&root, &[&root, &act]);
    let fp = runtime::fingerprint::derive(b"0123456789abcdef0123456789abcdef", "gateway");
    let a = runtime::activation::Activation {
        doc_type: "airlock-activation".into(),
        activation_id: "act-0123456789abcdef".into(),
        request_id: "0123456789abcdef0123456789abcdef".into(),
        license_id: "lic-0123456789abcdef".into(),
        lineage_id: "lin-0123456789abcdef".into(),
        product: "gateway".into(),
        customer_id: "acme-corp".into(),
        workspace: "default".into(),
        fingerprint: fp.clone(),
        instance_public_key: canon::enc::b64(&[9; 32]),
        label: "node a".into(),
        device_limit: 3,
        overage: false,
        epoch: 1,
        sequence: 7,
        issued_at: "2026-11-20T00:00:00Z".into(),
        not_before: "2026-11-20T00:00:00Z".into(),
        not_after: "2027-11-01T00:00:00Z".into(),
        renew_after: "2027-09-01T00:00:00Z".into(),
        encryption_public_key: None,
        grants: Vec::new(),
        pool: None,
        components: Default::default(),
        match_policy: None,
    };
    let canonical = a.to_canonical();
    let doc = canon::parse(&canonical).unwrap().to_pretty();
    let sig = act
        .sign_document(Kind::Activation, &canonical)
        .unwrap()
        .to_bytes();
    let mut known = runtime::state::State::default();
    known
        .activation_sequences
        .insert("lin-0123456789abcdef".into(), 6);
    let binding = runtime::activation::Binding {
        product: "gateway",
        lineage_id: "lin-0123456789abcdef",
        fingerprint: &fp,
        instance_key: None,
        components: None,
    };
    let now = t("2026-11-22T00:00:00Z");
    let mut g = c.benchmark_group("activation");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_lease", |b| {
        b.iter(|| {
            runtime::activation::verify_lease(
                black_box(&trust),
                black_box(&doc),
                black_box(&sig),
                &binding,
                &known,
                now,
            )
            .unwrap()
        })
    });
    // The floor: one Ed25519 verify_strict over the lease's PAE, nothing else.
    let key = runtime::PublicKey::from_bytes(&act.public_key()).unwrap();
    let pae = canon::pae(Kind::Activation.payload_type(), &canonical);
    let raw = canon::Envelope::parse(&sig).unwrap().sig;
    g.bench_function("ed25519_verify_strict_floor", |b| {
        b.iter(|| key.verify(black_box(&pae), black_box(&raw)))
    });
    g.bench_function("fingerprint", |b| {
        b.iter(|| runtime::fingerprint::derive(black_box(b"0123456789abcdef"), "gateway"))
    });
    g.finish();
}

/// On-demand opening of one sealed 1 MiB member of an extracted, still sealed payload
/// (`runtime::payload::SealedPayload::member`): its SHA-256 checked against the signed
/// manifest, then every chunk opened. The bound: under 5 ms.
fn sealed_member(c: &mut Criterion) {
    use std::io::Read;
    let t = |s: &str| Timestamp::parse(s).unwrap();
    let root =
        signing::SecretKey::from_seed(&[1; 32], "root", Role::Root, t("2026-01-01T00:00:00Z"))
            .unwrap();
    let rel =
        signing::SecretKey::from_seed(&[3; 32], "rel", Role::Release, t("2026-01-01T00:00:00Z"))
            .unwrap();
    let trust = trust_of(&root, &[&root, &rel]);
    let key = seal::ContentKey::from_bytes([5; 32]);
    // The worst case: a member that does not compress (stored deflate blocks).
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let plain: Vec<u8> = (0..1u32 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let path = "payload/lib.bin";
    let mut deflated = Vec::new();
    let prepared = seal::file::deflate_to(&plain[..], &mut deflated).unwrap();
    let mut sealed = Vec::new();
    seal::file::seal(&key, path, &prepared, &deflated[..], |b| {
        sealed.extend_from_slice(b);
        Ok(())
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("payload")).unwrap();
    std::fs::create_dir_all(dir.path().join("manifests")).unwrap();
    std::fs::write(dir.path().join(path), &sealed).unwrap();
    let m = runtime::manifest::BundleManifest {
        airgap: false,
        bundle_id: "bnd-0123456789abcdef".into(),
        created_at: "2026-11-01T00:00:00Z".into(),
        customer: Customer {
            id: "acme".into(),
            name: "ACME".into(),
        },
        encryption: Some(runtime::manifest::Encryption {
            key_check: key.check_hex(),
            scheme: runtime::manifest::ENCRYPTION_SCHEME.into(),
        }),
        license_id: "lic-1".into(),
        license_sha256: "a".repeat(64),
        members: vec![runtime::manifest::Member {
            mode: 0o644,
            path: path.into(),
            sha256: canon::enc::sha256_hex(&sealed),
            size: sealed.len() as u64,
        }],
        product: "gateway".into(),
        product_manifest_sha256: "b".repeat(64),
        sequence: 1,
        doc_type: "airlock-bundle-manifest".into(),
        version: "1.0.0".into(),
    };
    let canonical = m.to_canonical();
    std::fs::write(
        dir.path().join(runtime::manifest::MANIFEST_PATH),
        &canonical,
    )
    .unwrap();
    std::fs::write(
        dir.path().join(runtime::manifest::MANIFEST_SIG_PATH),
        rel.sign_document(Kind::BundleManifest, &canonical)
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    let p = runtime::payload::SealedPayload::open(dir.path(), &trust, key).unwrap();
    let mut g = c.benchmark_group("sealed_member_1mib");
    g.throughput(Throughput::Bytes(plain.len() as u64));
    let mut out = Vec::with_capacity(plain.len());
    g.bench_function("check_and_open", |b| {
        b.iter(|| {
            out.clear();
            p.member(path).unwrap().read_to_end(&mut out).unwrap();
            black_box(out.len())
        })
    });
    g.finish();
    // Unless a filter left the benchmark out, what it opened is the plaintext.
    assert!(out.is_empty() || out == plain);
}

criterion_group!(benches, bench, lease, sealed_member);
criterion_main!(benches);
