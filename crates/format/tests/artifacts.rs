//! Every artifact type writes what it reads: `to_canonical` then `parse` gives the same value,
//! the canonical bytes are a fixed point, and each declared constant is what FORMAT.md says.

use canon::{Kind, Role, Timestamp};
use format::trust::{trust_file, KeyEntry, KeyStatus, TrustBody};
use format::{
    Artifact, BundleManifest, Component, Customer, License, LicenseV2, Member, ParseError,
    ProductManifest, RevocationList, Tier,
};

fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn license() -> License {
    License {
        schema_version: 3,
        license_id: "lic-1".into(),
        license_key: "ABCD-EFGH-JKMN-PQRS".into(),
        issuer: "Vendor".into(),
        customer: Customer {
            id: "acme".into(),
            name: "ACME".into(),
        },
        workspace: "default".into(),
        product: "gateway".into(),
        tier: Tier::Sovereign,
        editions: vec!["standard".into()],
        issued_at: "2026-11-01T00:00:00Z".into(),
        not_before: "2026-11-01T00:00:00Z".into(),
        expires_at: "2027-11-01T00:00:00Z".into(),
        grace_days: 14,
        features: vec!["gate".into()],
        limits: [("agents".to_string(), 50)].into(),
        production_use: true,
        data_residency: "eu".into(),
        renewal_of: None,
        lineage_id: "lin-1".into(),
        sequence: 1,
    }
}

fn product() -> ProductManifest {
    ProductManifest {
        doc_type: "airlock-product-manifest".into(),
        product: "gateway".into(),
        name: "Gateway".into(),
        version: "1.2.3".into(),
        edition: "standard".into(),
        released_at: "2026-10-01T00:00:00Z".into(),
        components: vec![Component {
            name: "core".into(),
            version: "1.2.3".into(),
        }],
        min_runtime_version: "1.0.0".into(),
        requires_features: vec!["gate".into()],
        channel: None,
        images: Vec::new(),
    }
}

fn bundle() -> BundleManifest {
    BundleManifest {
        airgap: true,
        bundle_id: "bnd-0123456789abcdef".into(),
        created_at: "2026-11-02T00:00:00Z".into(),
        customer: Customer {
            id: "acme".into(),
            name: "ACME".into(),
        },
        encryption: None,
        license_id: "lic-1".into(),
        license_sha256: "a".repeat(64),
        members: vec![Member {
            mode: 0o644,
            path: "payload/a.txt".into(),
            sha256: "b".repeat(64),
            size: 3,
        }],
        product: "gateway".into(),
        product_manifest_sha256: "c".repeat(64),
        sequence: 1,
        doc_type: "airlock-bundle-manifest".into(),
        version: "1.2.3".into(),
    }
}

fn trust() -> TrustBody {
    let entry = |seed: u8, roles: &[Role]| {
        KeyEntry::new(
            [seed; 32],
            &format!("key-{seed}"),
            roles,
            t("2026-01-01T00:00:00Z"),
            t("2030-01-01T00:00:00Z"),
            KeyStatus::Active,
        )
    };
    TrustBody::new(
        1,
        t("2026-06-01T00:00:00Z"),
        vec![entry(2, &[Role::License]), entry(1, &[Role::Root])],
    )
}

fn round_trip<A: Artifact + PartialEq + std::fmt::Debug>(a: A) -> A::Facts {
    let canonical = a.to_canonical();
    assert_eq!(canon::canonicalize(&canonical).unwrap(), canonical);
    let (back, facts, again) = A::parse(&a.to_pretty()).unwrap();
    assert_eq!(back, a);
    assert_eq!(again, canonical);
    // What a verifier reads from the parsed document is what the canonical bytes read back to.
    let parsed = canon::parse(&a.to_pretty()).unwrap();
    assert_eq!(A::from_parsed(parsed).unwrap(), a);
    facts
}

#[test]
fn every_artifact_reads_what_it_writes() {
    let times = round_trip(license());
    assert_eq!(License::signed_at(&times), Some(t("2026-11-01T00:00:00Z")));
    let released = round_trip(product());
    assert_eq!(
        ProductManifest::signed_at(&released),
        None,
        "signed by its bundle"
    );
    let created = round_trip(bundle());
    assert_eq!(BundleManifest::signed_at(&created), Some(created));
    let list = RevocationList::new(
        3,
        t("2026-11-05T00:00:00Z"),
        [(
            "lic-1".to_string(),
            format::revocation::Reason::PrivilegeWithdrawn,
            t("2026-11-04T00:00:00Z"),
        )],
    );
    assert_eq!(list.reason("lic-1"), Some("privilege_withdrawn"));
    round_trip(list.clone());
    // Free text is the vendor's, never published: a list carrying it is refused.
    let mut free = list;
    free.revoked[0].reason = "fraud".into();
    let e = format::Artifact::validate(&free).unwrap_err().to_string();
    assert!(e.contains("not a reason code"), "{e}");
    round_trip(trust());
}

#[test]
fn kinds_caps_and_storage_are_declared_once() {
    assert_eq!(License::KIND, Kind::License);
    assert_eq!(ProductManifest::KIND, Kind::ProductManifest);
    assert_eq!(BundleManifest::KIND, Kind::BundleManifest);
    assert_eq!(RevocationList::KIND, Kind::Revocations);
    assert_eq!(TrustBody::KIND, Kind::Trust);
    let stored = [
        License::STORED_CANONICAL,
        BundleManifest::STORED_CANONICAL,
        TrustBody::STORED_CANONICAL,
    ];
    assert_eq!(stored, [false, true, false]);
    assert_eq!(License::MAX_BYTES, 64 * 1024);
    assert_eq!(TrustBody::MAX_BYTES, 256 * 1024);
    assert_eq!(RevocationList::MAX_BYTES, 8 << 20);
    assert_eq!(ProductManifest::MAX_BYTES, 1 << 20);
    assert_eq!(BundleManifest::MAX_BYTES, 16 << 20);
}

#[test]
fn parse_refuses_with_the_failing_rule() {
    let big = vec![b' '; License::MAX_BYTES + 1];
    assert!(matches!(
        License::parse(&big),
        Err(ParseError::TooLarge(..))
    ));
    assert!(matches!(License::parse(b"{"), Err(ParseError::Json(..))));
    let mut l = license();
    l.sequence = 2;
    let e = License::parse(&l.to_canonical()).unwrap_err();
    assert!(e.to_string().contains("without renewal_of"), "{e}");
    let unknown = br#"{"type":"airlock-revocations","sequence":1,"issued_at":"2026-11-05T00:00:00Z","revoked":[],"extra":1}"#;
    let e = RevocationList::parse(unknown).unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
    let mut b = trust();
    b.keys.retain(|k| k.roles != ["root"]);
    let e = TrustBody::parse(&b.to_canonical()).unwrap_err();
    assert!(e.to_string().contains("no active root"), "{e}");
    let mut b = trust();
    b.keys[0].key_id = "0000000000000000".into();
    let e = TrustBody::parse(&b.to_canonical()).unwrap_err();
    assert!(e.to_string().contains("not the id derived"), "{e}");
}

#[test]
fn trust_files_and_legacy_licenses_are_written_in_their_one_form() {
    let body = trust();
    assert_eq!(body.keys[0].name, "key-1", "keys are sorted by key id");
    let env = canon::Envelope {
        key_id: canon::KeyId::of(&[1; 32]),
        kind: Kind::Trust,
        sig: [7; 64],
    };
    let file = trust_file(&body, &[env]);
    let v = canon::parse(&file).unwrap();
    let names: Vec<&str> = match &v {
        canon::Value::Object(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
        _ => panic!(),
    };
    assert_eq!(names, ["signatures", "signed"]);
    assert_eq!(v.get("signed").unwrap().to_canonical(), body.to_canonical());

    let v2 = LicenseV2 {
        schema_version: 2,
        license_id: "lic-old".into(),
        license_key: "ABCD-EFGH-JKMN-PQRS".into(),
        issuer: "Vendor".into(),
        customer_id: "acme".into(),
        customer_name: "ACME".into(),
        product: "gateway".into(),
        tier: Tier::Evaluation,
        features: vec![],
        limits: Default::default(),
        issued_at: "2026-01-01T00:00:00Z".into(),
        expires_at: "2026-03-01T00:00:00Z".into(),
        signature: "sig".into(),
    };
    let signed = String::from_utf8(v2.signed_bytes()).unwrap();
    assert!(!signed.contains("signature"), "{signed}");
    let (v3, times) = v2.to_v3().unwrap();
    assert_eq!(v3.lineage_id, "lic-old");
    assert!(!v3.production_use, "evaluation tier");
    assert_eq!(times.not_before, t("2026-01-01T00:00:00Z"));
}
