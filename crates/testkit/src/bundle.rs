//! Builds bundles member by member with seeded test keys, so that tests can make every kind of
//! hostile archive: wrong signatures, mixed members, forged headers, trailing data.

use canon::path::SafePath;
use canon::{enc, ustar, Kind, Role, Timestamp, Value};
use runtime::bundle::{verify_bundle, BundleError, Options, Verdict};
use runtime::license::{Customer, License, Tier};
pub use runtime::manifest::BundleManifest;
use runtime::manifest::{Member, ProductManifest};
use runtime::Artifact;
use runtime::KeyStatus;
use runtime::TrustStore;
use signing::trust::{sign_trust_file, TrustEntry};
use signing::SecretKey;
use std::io::Write;

pub fn t(s: &str) -> Timestamp {
    Timestamp::parse_date_or_time(s).unwrap()
}

pub const NOW: &str = "2026-11-22T10:00:00Z";

pub struct Keys {
    pub root: SecretKey,
    pub license: SecretKey,
    pub release: SecretKey,
}

pub fn key(n: u8, role: Role) -> SecretKey {
    SecretKey::from_seed(&[n; 32], &format!("k{n}"), role, t("2026-01-01")).unwrap()
}

pub fn entry(k: &SecretKey, status: KeyStatus) -> TrustEntry {
    TrustEntry {
        public_key: k.public_key(),
        name: k.name.clone(),
        roles: vec![k.role],
        not_before: t("2026-01-01"),
        not_after: t("2030-01-01"),
        status,
    }
}

impl Default for Keys {
    fn default() -> Keys {
        Keys::new()
    }
}

impl Keys {
    pub fn new() -> Keys {
        Keys {
            root: key(1, Role::Root),
            license: key(2, Role::License),
            release: key(3, Role::Release),
        }
    }
    pub fn entries(&self) -> Vec<TrustEntry> {
        vec![
            entry(&self.root, KeyStatus::Active),
            entry(&self.license, KeyStatus::Active),
            entry(&self.release, KeyStatus::Active),
        ]
    }
    pub fn trust_with(&self, version: u64, entries: &[TrustEntry]) -> Vec<u8> {
        sign_trust_file(&self.root, version, t("2026-06-01"), entries).unwrap()
    }
    pub fn store_with(&self, entries: &[TrustEntry]) -> TrustStore {
        TrustStore::from_trust_file(
            &self.trust_with(1, entries),
            &runtime::danger::trust_on_first_use(),
        )
        .unwrap()
    }
    pub fn store(&self) -> TrustStore {
        self.store_with(&self.entries())
    }
}

pub fn license() -> License {
    License {
        schema_version: 3,
        license_id: "lic-test-0001".into(),
        license_key: "ABCD-EFGH-JKMN-PQRS".into(),
        issuer: "Test Vendor".into(),
        customer: Customer {
            id: "acme".into(),
            name: "ACME".into(),
        },
        workspace: "default".into(),
        product: "gateway".into(),
        tier: Tier::Sovereign,
        editions: vec!["standard".into(), "sovereign".into()],
        issued_at: "2026-11-01T00:00:00Z".into(),
        not_before: "2026-11-01T00:00:00Z".into(),
        expires_at: "2027-11-01T00:00:00Z".into(),
        grace_days: 30,
        features: vec!["airgap_bundle".into(), "gate".into(), "helm_chart".into()],
        limits: [("agents".to_string(), 0u64)].into_iter().collect(),
        production_use: true,
        data_residency: "eu".into(),
        renewal_of: None,
        lineage_id: "lin-test-0001".into(),
        sequence: 1,
    }
}

pub fn product_manifest() -> ProductManifest {
    ProductManifest {
        doc_type: "airlock-product-manifest".into(),
        product: "gateway".into(),
        name: "Gateway".into(),
        version: "1.0.0".into(),
        edition: "sovereign".into(),
        released_at: "2026-11-15T00:00:00Z".into(),
        components: vec![],
        min_runtime_version: "0.1.0".into(),
        requires_features: vec!["gate".into()],
        channel: None,
        images: Vec::new(),
    }
}

pub fn signed_json<T: serde::Serialize>(key: &SecretKey, kind: Kind, v: &T) -> (Vec<u8>, Vec<u8>) {
    let canonical = canon::canonicalize(&serde_json::to_vec(v).unwrap()).unwrap();
    let env = key.sign_document(kind, &canonical).unwrap();
    (
        canon::parse(&canonical).unwrap().to_pretty(),
        env.to_bytes(),
    )
}

/// Edits the uncompressed tar stream or the gzip bytes.
pub type BytesEdit = Box<dyn Fn(&mut Vec<u8>)>;
/// Edits the bundle manifest before it is signed.
pub type ManifestEdit = Box<dyn Fn(&mut BundleManifest)>;

/// Everything that goes into one bundle; tests change fields, then `build`.
pub struct Spec {
    pub license: License,
    pub license_key: SecretKey,
    pub pm: ProductManifest,
    pub payload: Vec<(String, Vec<u8>, u32)>,
    pub revocations: Option<(Vec<u8>, Vec<u8>)>,
    pub airgap: bool,
    pub sequence: u64,
    pub created_at: String,
    /// Change the manifest after it is built from the members, before signing.
    pub edit_manifest: Option<ManifestEdit>,
    /// Replace member bytes in the archive (after the manifest was computed).
    pub replace: Vec<(String, Vec<u8>)>,
    /// Change the uncompressed tar stream.
    pub edit_tar: Option<BytesEdit>,
    /// Change the gzip bytes (after compression, before the outer signature).
    pub edit_gz: Option<BytesEdit>,
    /// Sign the manifest with this key instead of the release key.
    pub manifest_signer: Option<SecretKey>,
    /// Use these bytes as the bundle manifest signature.
    pub manifest_sig: Option<Vec<u8>>,
    pub checksums: Option<Vec<u8>>,
}

impl Spec {
    pub fn new(_keys: &Keys) -> Spec {
        Spec {
            license: license(),
            license_key: SecretKey::from_seed(&[2; 32], "k2", Role::License, t("2026-01-01"))
                .unwrap(),
            pm: product_manifest(),
            payload: vec![
                // Sorted by path bytes, as FORMAT.md §15 requires.
                ("payload/app/readme.txt".into(), b"hello".to_vec(), 0o644),
                (
                    "payload/big.bin".into(),
                    (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect(),
                    0o644,
                ),
                (
                    "payload/bin/install.sh".into(),
                    b"#!/bin/sh\necho ok\n".to_vec(),
                    0o755,
                ),
            ],
            revocations: None,
            airgap: true,
            sequence: 5,
            created_at: "2026-11-20T00:00:00Z".into(),
            edit_manifest: None,
            replace: vec![],
            edit_tar: None,
            edit_gz: None,
            manifest_signer: None,
            manifest_sig: None,
            checksums: None,
        }
    }
}

/// The bundle manifest `build` makes for `spec`, without hashes and members: what the
/// trusted comment names.
pub fn manifest_of(spec: &Spec) -> BundleManifest {
    BundleManifest {
        doc_type: "airlock-bundle-manifest".into(),
        bundle_id: BUNDLE_ID.into(),
        created_at: spec.created_at.clone(),
        airgap: spec.airgap,
        product: spec.pm.product.clone(),
        version: spec.pm.version.clone(),
        customer: spec.license.customer.clone(),
        encryption: None,
        license_id: spec.license.license_id.clone(),
        license_sha256: String::new(),
        product_manifest_sha256: String::new(),
        sequence: spec.sequence,
        members: vec![],
    }
}

pub fn tar_entry(path: &str, data: &[u8], mode: u32) -> Vec<u8> {
    let mut v = ustar::encode(&SafePath::new(path).unwrap(), data.len() as u64, mode)
        .unwrap()
        .to_vec();
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

/// The bundle id of every kit bundle.
pub const BUNDLE_ID: &str = "bnd-00000000000000aa";

/// The packager's trusted comment for `manifest` signed by `key` (FORMAT.md §16).
pub fn trusted_comment(manifest: &BundleManifest, key: &SecretKey) -> String {
    format!(
        "bundle_id:{}\tproduct:{}\tversion:{}\tkey_id:{}\ttimestamp:{}\tfile:b.tar.gz",
        manifest.bundle_id,
        manifest.product,
        manifest.version,
        key.key_id(),
        Timestamp::parse(&manifest.created_at).map_or(0, |t| t.0)
    )
}

/// Builds (tar.gz bytes, minisign signature).
pub fn build(keys: &Keys, spec: &Spec) -> (Vec<u8>, Vec<u8>) {
    let (lic_json, lic_sig) = signed_json(&spec.license_key, Kind::License, &spec.license);
    let (pm_json, pm_sig) = signed_json(&keys.release, Kind::ProductManifest, &spec.pm);
    let mut rest: Vec<(String, Vec<u8>, u32)> = vec![
        ("license.json".into(), lic_json, 0o644),
        ("license.sig".into(), lic_sig, 0o644),
        ("manifests/product-manifest.json".into(), pm_json, 0o644),
        ("manifests/product-manifest.sig".into(), pm_sig, 0o644),
    ];
    if let Some((d, s)) = &spec.revocations {
        rest.push(("revocations.json".into(), d.clone(), 0o644));
        rest.push(("revocations.sig".into(), s.clone(), 0o644));
    }
    rest.extend(spec.payload.iter().cloned());
    let sums = spec.checksums.clone().unwrap_or_else(|| {
        let mut entries: Vec<canon::checksums::Entry> = spec
            .payload
            .iter()
            .map(|(p, b, _)| canon::checksums::Entry {
                name: SafePath::new(p).unwrap(),
                sha256: enc::sha256(b),
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        canon::checksums::write(&entries).into_bytes()
    });
    let mut members = vec![("CHECKSUMS.txt".to_string(), sums, 0o644)];
    members.extend(rest);
    let lic_canonical = spec.license.to_canonical();
    let pm_canonical = canon::canonicalize(&serde_json::to_vec(&spec.pm).unwrap()).unwrap();
    let mut manifest = BundleManifest {
        license_sha256: enc::sha256_hex(&lic_canonical),
        product_manifest_sha256: enc::sha256_hex(&pm_canonical),
        members: members
            .iter()
            .map(|(p, b, m)| Member {
                path: p.clone(),
                size: b.len() as u64,
                sha256: enc::sha256_hex(b),
                mode: *m,
            })
            .collect(),
        ..manifest_of(spec)
    };
    if let Some(f) = &spec.edit_manifest {
        f(&mut manifest);
    }
    let signer = spec.manifest_signer.as_ref().unwrap_or(&keys.release);
    let canonical = canon::canonicalize(&serde_json::to_vec(&manifest).unwrap()).unwrap();
    let m_sig = spec.manifest_sig.clone().unwrap_or_else(|| {
        let kind = if signer.role == Role::License {
            Kind::License
        } else {
            Kind::BundleManifest
        };
        let env = signer.sign_document(kind, &canonical).unwrap();
        let env = canon::Envelope {
            kind: Kind::BundleManifest,
            ..env
        };
        env.to_bytes()
    });
    let mut tar = Vec::new();
    tar.extend(tar_entry(runtime::bundle::MANIFEST_PATH, &canonical, 0o644));
    tar.extend(tar_entry(runtime::bundle::MANIFEST_SIG_PATH, &m_sig, 0o644));
    for (p, b, m) in &members {
        let b = spec
            .replace
            .iter()
            .find(|(q, _)| q == p)
            .map_or(b.clone(), |(_, x)| x.clone());
        tar.extend(tar_entry(p, &b, *m));
    }
    tar.extend([0u8; 1024]);
    if let Some(f) = &spec.edit_tar {
        f(&mut tar);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&tar).unwrap();
    let mut gz = gz.finish().unwrap();
    if let Some(f) = &spec.edit_gz {
        f(&mut gz);
    }
    let sig = keys
        .release
        .sign_minisign(&gz[..], &trusted_comment(&manifest, &keys.release))
        .unwrap();
    (gz, sig.into_bytes())
}

pub fn opts<'a>(store: &'a TrustStore) -> Options<'a> {
    Options::new(store, t(NOW), "0.1.0")
}

pub fn verify(store: &TrustStore, bundle: &(Vec<u8>, Vec<u8>)) -> Result<Verdict, BundleError> {
    verify_bundle(&bundle.0[..], &bundle.1, &opts(store))
}

/// Verifies with extraction into `dir/x`, and checks that a rejection left nothing in `dir`.
pub fn verify_extract(
    store: &TrustStore,
    bundle: &(Vec<u8>, Vec<u8>),
) -> Result<Verdict, BundleError> {
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("x");
    let o = opts(store).with_extract(Some(&dest));
    let r = verify_bundle(&bundle.0[..], &bundle.1, &o);
    if r.is_err() {
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "a rejected bundle left {left:?} behind");
    }
    r
}

pub fn expect(r: Result<Verdict, BundleError>, code: &str, needle: &str) {
    match r {
        Ok(v) => panic!("accepted, expected {code}: {v:?}"),
        Err(e) => {
            assert_eq!(e.code(), code, "{e}");
            assert!(e.to_string().contains(needle), "{needle:?} not in: {e}");
        }
    }
}

pub fn revocations(keys: &Keys, seq: u64, ids: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let v = Value::object(vec![
        ("type".into(), Value::String("airlock-revocations".into())),
        ("sequence".into(), Value::Number(seq as f64)),
        (
            "issued_at".into(),
            Value::String("2026-11-10T00:00:00Z".into()),
        ),
        (
            "revoked".into(),
            Value::Array(
                ids.iter()
                    .map(|id| {
                        Value::object(vec![
                            ("license_id".into(), Value::String((*id).into())),
                            ("reason".into(), Value::String("unspecified".into())),
                            (
                                "revoked_at".into(),
                                Value::String("2026-11-09T00:00:00Z".into()),
                            ),
                        ])
                        .unwrap()
                    })
                    .collect(),
            ),
        ),
    ])
    .unwrap();
    let env = keys
        .license
        .sign_document(Kind::Revocations, &v.to_canonical())
        .unwrap();
    (v.to_pretty(), env.to_bytes())
}

/// A raw ustar header block with an arbitrary type flag, mode and name (valid checksum).
pub fn raw_header(name: &[u8], size: u64, mode: &[u8; 7], typeflag: u8) -> Vec<u8> {
    let mut h = ustar::encode(&SafePath::new("payload/x").unwrap(), size, 0o644).unwrap();
    h[..100].fill(0);
    h[..name.len()].copy_from_slice(name);
    h[100..107].copy_from_slice(mode);
    h[156] = typeflag;
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..154].copy_from_slice(format!("{sum:06o}").as_bytes());
    h[154] = 0;
    h[155] = b' ';
    h.to_vec()
}
