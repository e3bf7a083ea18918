//! Writes the hostile inputs that `scripts/hostile-bench.sh` measures `runtime-verify` on:
//!
//! - `numbers-4k/`, `numbers-16m/`: bundles whose first member (the bundle manifest) is 4 KB
//!   or the cap (16 MiB) of `5e-324` numbers, under a minisign signature by an untrusted key;
//! - `trust-numbers.json`: a 256 KiB trust file full of such numbers;
//! - `many-members/`: a genuine bundle (trusted keys) with 99,000 payload files (the most a bundle holds is 99,984);
//! - `big-sig/`: a license whose `license.sig` is a 1 GiB sparse file;
//! - `sparse/`: a 1 TiB sparse "bundle" (zeros) with a well-formed signature file.
//!
//! Also `trust.json` and `root.pub`-style text (`root.b64`) for the trusted cases.
//! Usage: `cargo run --release -p runtime-verify --example hostile -- OUTDIR [MEMBERS]`

use canon::path::SafePath;
use canon::{ustar, Kind, Role, Timestamp};
use runtime::Artifact;
use runtime::KeyStatus;
use signing::trust::{sign_trust_file, TrustEntry};
use signing::SecretKey;
use std::fs;
use std::io::Write;
use std::path::Path;

fn t(s: &str) -> Timestamp {
    Timestamp::parse_date_or_time(s).unwrap()
}

fn key(n: u8, role: Role) -> SecretKey {
    SecretKey::from_seed(&[n; 32], &format!("k{n}"), role, t("2026-01-01")).unwrap()
}

fn entry(k: &SecretKey) -> TrustEntry {
    TrustEntry {
        public_key: k.public_key(),
        name: k.name.clone(),
        roles: vec![k.role],
        not_before: t("2026-01-01"),
        not_after: t("2030-01-01"),
        status: KeyStatus::Active,
    }
}

fn member(path: &str, data: &[u8]) -> Vec<u8> {
    let mut v = ustar::encode(&SafePath::new(path).unwrap(), data.len() as u64, 0o644)
        .unwrap()
        .to_vec();
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

/// A bundle whose manifest is `size` bytes of hostile numbers, signed (outside) by a stranger.
fn numbers_bundle(dir: &Path, size: usize) {
    fs::create_dir_all(dir).unwrap();
    let mut doc = String::with_capacity(size + 16);
    doc.push('[');
    while doc.len() + 8 < size {
        doc.push_str("5e-324,");
    }
    doc.push_str("5e-324]");
    let stranger = key(99, Role::Release);
    let env = stranger
        .sign_document(Kind::BundleManifest, doc.as_bytes())
        .unwrap();
    let mut tar = member("manifests/bundle-manifest.json", doc.as_bytes());
    tar.extend(member("manifests/bundle-manifest.sig", &env.to_bytes()));
    tar.extend([0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let sig = stranger.sign_minisign(&gz[..], "hostile").unwrap();
    fs::write(dir.join("b.tar.gz"), gz).unwrap();
    fs::write(dir.join("b.tar.gz.sig"), sig).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = Path::new(args.get(1).map(String::as_str).unwrap_or("out/hostile"));
    let members: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(99_000);
    fs::create_dir_all(out).unwrap();
    let (root, lic, rel) = (
        key(1, Role::Root),
        key(2, Role::License),
        key(3, Role::Release),
    );
    let trust = sign_trust_file(
        &root,
        1,
        t("2026-06-01"),
        &[entry(&root), entry(&lic), entry(&rel)],
    )
    .unwrap();
    fs::write(out.join("trust.json"), &trust).unwrap();
    fs::write(out.join("root.b64"), canon::enc::b64(&root.public_key())).unwrap();

    numbers_bundle(&out.join("numbers-4k"), 4 << 10);
    numbers_bundle(
        &out.join("numbers-16m"),
        runtime::manifest::MAX_BUNDLE_MANIFEST_BYTES - 64,
    );

    // A trust file padded with hostile numbers inside `signed` (canonicalized before its
    // signature can be checked).
    let text = String::from_utf8(trust.clone()).unwrap();
    let mut pad = String::from("\"pad\": [");
    while pad.len() < (250 << 10) {
        pad.push_str("5e-324,");
    }
    pad.push_str("0],");
    fs::write(
        out.join("trust-numbers.json"),
        text.replacen("\"signed\": {", &format!("\"signed\": {{{pad}"), 1),
    )
    .unwrap();

    // A genuine license, and one whose license.sig is 1 GiB (sparse).
    let license = runtime::license::License {
        schema_version: 3,
        license_id: "lic-hostile".into(),
        license_key: "ABCD-EFGH-JKMN-PQRS".into(),
        issuer: "Vendor".into(),
        customer: runtime::license::Customer {
            id: "acme".into(),
            name: "ACME".into(),
        },
        workspace: "default".into(),
        product: "gateway".into(),
        tier: runtime::license::Tier::Sovereign,
        editions: vec!["sovereign".into()],
        issued_at: "2026-11-01T00:00:00Z".into(),
        not_before: "2026-11-01T00:00:00Z".into(),
        expires_at: "2027-11-01T00:00:00Z".into(),
        grace_days: 30,
        features: vec!["airgap_bundle".into(), "gate".into()],
        limits: Default::default(),
        production_use: true,
        data_residency: "eu".into(),
        renewal_of: None,
        lineage_id: "lin-hostile".into(),
        sequence: 1,
    };
    let canonical = license.to_canonical();
    let lic_dir = out.join("lic");
    fs::create_dir_all(&lic_dir).unwrap();
    fs::write(lic_dir.join("license.json"), &canonical).unwrap();
    fs::write(
        lic_dir.join("license.sig"),
        lic.sign_document(Kind::License, &canonical)
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    let big = out.join("big-sig");
    fs::create_dir_all(&big).unwrap();
    fs::write(big.join("license.json"), &canonical).unwrap();
    fs::File::create(big.join("license.sig"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();

    // 1 TiB of zeros (sparse) with a well-formed signature file.
    let sparse = out.join("sparse");
    fs::create_dir_all(&sparse).unwrap();
    fs::File::create(sparse.join("b.tar.gz"))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    fs::write(
        sparse.join("b.tar.gz.sig"),
        rel.sign_minisign(&b"x"[..], "sparse").unwrap(),
    )
    .unwrap();

    // A genuine bundle with many members.
    let many = out.join("many-members");
    let payload = many.join("payload");
    for i in 0..members {
        // Short names: CHECKSUMS.txt must stay under its 8 MiB cap.
        let d = payload.join(format!("{:03}", i % 1000));
        if i < 1000 {
            fs::create_dir_all(&d).unwrap();
        }
        fs::write(d.join(format!("{i:05}")), format!("{i}\n")).unwrap();
    }
    fs::write(
        many.join("pm.json"),
        br#"{"type":"airlock-product-manifest","product":"gateway","name":"Gateway","version":"1.0.0","edition":"sovereign","released_at":"2026-11-15T00:00:00Z","components":[],"min_runtime_version":"0.1.0","requires_features":["gate"]}"#,
    )
    .unwrap();
    let store =
        runtime::TrustStore::from_trust_file(&trust, &runtime::danger::trust_on_first_use())
            .unwrap();
    let req = packager::bundle::Request {
        license_dir: &lic_dir,
        payload: &payload,
        product_manifest: &many.join("pm.json"),
        key: &rel,
        out: &many.join("d"),
        airgap: false,
        name: Some("b".into()),
        sequence: Some(1),
        revocations: None,
        created_at: t("2026-11-20T00:00:00Z"),
        trust: Some(&store),
        level: 6,
        threads: 2,
        state: &many.join("seq.json"),
        encrypt: None,
    };
    let built = packager::bundle::build(&req, |_| {}).unwrap();
    println!(
        "wrote {} ({} members, manifest canonical)",
        built.archive.display(),
        built.members
    );
}
