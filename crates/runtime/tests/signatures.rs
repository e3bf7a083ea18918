//! Signature attacks (THREATS.md "Update and signature attacks"): each case asserts the exact
//! rejection.

use crate::kit::{entry, key, t, Kit};
use canon::{Envelope, KeyId, Kind, Role};
use runtime::signed::{verify_document, MinisignCheck};
use runtime::KeyStatus;
use runtime::{Anchors, TrustStore, VerifyError};

const DOC: &[u8] = br#"{"b": 2, "a": [1, "x"]}"#;

fn verify(store: &TrustStore, kind: Kind, doc: &[u8], env: &Envelope) -> Result<(), VerifyError> {
    verify_document(store, kind, "doc", doc, 1 << 20, &env.to_bytes()).map(|_| ())
}

fn signer_for(kit: &Kit, kind: Kind) -> &signing::SecretKey {
    match kind.signer_role() {
        Role::Root => &kit.root,
        Role::License => &kit.license,
        Role::Release => &kit.release,
        Role::Activation => &kit.activation,
        Role::Instance => &kit.instance,
    }
}

#[test]
fn valid_signature_verifies_over_canonical_form() {
    let kit = Kit::new();
    let store = kit.store();
    let env = kit
        .license
        .sign_document(Kind::License, &canon::canonicalize(DOC).unwrap())
        .unwrap();
    let checked =
        verify_document(&store, Kind::License, "doc", DOC, 1 << 20, &env.to_bytes()).unwrap();
    assert_eq!(checked.signer(), kit.license.key_id());
    // Any formatting of the same value verifies; any change of value does not.
    assert!(verify(&store, Kind::License, br#"{"a":[1,"x"],"b":2}"#, &env).is_ok());
    assert_eq!(
        verify(&store, Kind::License, br#"{"a":[1,"x"],"b":3}"#, &env),
        Err(VerifyError::BadSignature {
            key_id: kit.license.key_id(),
            what: "doc"
        })
    );
    // Unknown fields are covered by the signature too.
    assert!(matches!(
        verify(
            &store,
            Kind::License,
            br#"{"a":[1,"x"],"b":2,"extra":null}"#,
            &env
        ),
        Err(VerifyError::BadSignature { .. })
    ));
}

#[test]
fn cross_type_substitution_fails_for_every_pair() {
    let kit = Kit::new();
    let store = kit.store();
    let canonical = canon::canonicalize(DOC).unwrap();
    for a in Kind::ALL {
        let env = signer_for(&kit, a).sign_document(a, &canonical).unwrap();
        for b in Kind::ALL {
            if a == b {
                continue;
            }
            // The envelope as signed names kind a: refused outright as kind b.
            assert_eq!(
                verify(&store, b, DOC, &env),
                Err(VerifyError::WrongKind {
                    expected: b,
                    found: a
                }),
                "{a:?} as {b:?}"
            );
            // Relabelled to claim kind b: PAE differs, so the signature fails (or the role).
            let relabelled = Envelope {
                kind: b,
                ..env.clone()
            };
            let err = verify(&store, b, DOC, &relabelled).unwrap_err();
            if a.signer_role() == Role::Instance {
                // A machine's own key is in no trust file: never a trusted signer.
                assert!(
                    matches!(err, VerifyError::UnknownKey(_)),
                    "{a:?} as {b:?}: {err}"
                );
            } else if a.signer_role() == b.signer_role() {
                assert!(
                    matches!(err, VerifyError::BadSignature { .. }),
                    "{a:?} as {b:?}: {err}"
                );
            } else {
                assert!(
                    matches!(err, VerifyError::WrongRole { .. }),
                    "{a:?} as {b:?}: {err}"
                );
            }
        }
    }
}

#[test]
fn arbitrary_installation_attempts_fail() {
    let kit = Kit::new();
    let store = kit.store();
    let canonical = canon::canonicalize(DOC).unwrap();
    let good = kit
        .license
        .sign_document(Kind::License, &canonical)
        .unwrap();

    // Wrong key: an untrusted key signs.
    let stranger = key(9, Role::License);
    let env = stranger.sign_document(Kind::License, &canonical).unwrap();
    assert_eq!(
        verify(&store, Kind::License, DOC, &env),
        Err(VerifyError::UnknownKey(stranger.key_id()))
    );

    // Spoofed key id: an untrusted key's signature labelled with the trusted key's id.
    let spoofed = Envelope {
        key_id: kit.license.key_id(),
        ..env
    };
    assert!(matches!(
        verify(&store, Kind::License, DOC, &spoofed),
        Err(VerifyError::BadSignature { .. })
    ));

    // Garbage signature bytes.
    let garbage = Envelope {
        sig: [0x5a; 64],
        ..good.clone()
    };
    assert!(matches!(
        verify(&store, Kind::License, DOC, &garbage),
        Err(VerifyError::BadSignature { .. })
    ));
    // All-zero signature (identity R, zero S).
    let zero = Envelope {
        sig: [0; 64],
        ..good.clone()
    };
    assert!(matches!(
        verify(&store, Kind::License, DOC, &zero),
        Err(VerifyError::BadSignature { .. })
    ));

    // Signature over another file.
    let other = kit
        .license
        .sign_document(Kind::License, b"{\"other\":true}")
        .unwrap();
    assert!(matches!(
        verify(&store, Kind::License, DOC, &other),
        Err(VerifyError::BadSignature { .. })
    ));

    // Unsigned / malformed envelopes.
    for bad in [&b""[..], b"{}", b"not json", b"{\"alg\":\"ed25519\"}"] {
        let e = verify_document(&store, Kind::License, "doc", DOC, 1 << 20, bad).unwrap_err();
        assert_eq!(e.code(), "signature_envelope_invalid", "{bad:?}: {e}");
    }

    // A signature of the wrong length is not representable in an envelope.
    let text = String::from_utf8(good.to_bytes()).unwrap();
    let b64 = canon::enc::b64(&good.sig);
    let short = text.replace(&b64, &canon::enc::b64(&good.sig[..63]));
    let e =
        verify_document(&store, Kind::License, "doc", DOC, 1 << 20, short.as_bytes()).unwrap_err();
    assert_eq!(e.code(), "signature_envelope_invalid");

    // Size caps come before parsing.
    let big = vec![b' '; 2 << 20];
    assert_eq!(
        verify_document(
            &store,
            Kind::License,
            "doc",
            &big,
            1 << 20,
            &good.to_bytes()
        )
        .unwrap_err(),
        VerifyError::TooLarge {
            what: "doc",
            limit: 1 << 20
        }
    );
}

#[test]
fn key_compromise_rows() {
    let kit = Kit::new();
    let canonical = canon::canonicalize(DOC).unwrap();
    let env = kit
        .license
        .sign_document(Kind::License, &canonical)
        .unwrap();

    // Revoked key: verifies nothing.
    let mut entries = kit.entries();
    entries[1].status = KeyStatus::Revoked;
    let store = TrustStore::from_trust_file(
        &kit.trust_bytes(2, &entries),
        &runtime::danger::trust_on_first_use(),
    )
    .unwrap();
    assert_eq!(
        verify(&store, Kind::License, DOC, &env),
        Err(VerifyError::KeyRevoked(kit.license.key_id()))
    );

    // Key used outside its role: the release key signs a license (the signing crate refuses,
    // so forge the envelope by signing as a bundle manifest and relabelling).
    let rel = kit
        .release
        .sign_document(Kind::BundleManifest, &canonical)
        .unwrap();
    let as_license = Envelope {
        kind: Kind::License,
        ..rel
    };
    assert_eq!(
        verify(&kit.store(), Kind::License, DOC, &as_license),
        Err(VerifyError::WrongRole {
            key_id: kit.release.key_id(),
            needed: Role::License
        })
    );

    // Outside the validity window (checked against the artifact's signing time).
    let store = kit.store();
    assert!(store
        .check_window(kit.license.key_id(), t("2027-01-01"))
        .is_ok());
    assert!(matches!(
        store.check_window(kit.license.key_id(), t("2030-01-02")),
        Err(VerifyError::KeyOutsideValidity { .. })
    ));
    assert!(matches!(
        store.check_window(kit.license.key_id(), t("2025-12-31")),
        Err(VerifyError::KeyOutsideValidity { .. })
    ));

    // Retired: still verifies artifacts from inside its window.
    let mut entries = kit.entries();
    entries[1].status = KeyStatus::Retired;
    let store = TrustStore::from_trust_file(
        &kit.trust_bytes(3, &entries),
        &runtime::danger::trust_on_first_use(),
    )
    .unwrap();
    assert!(verify(&store, Kind::License, DOC, &env).is_ok());
}

#[test]
fn trust_file_checks() {
    let kit = Kit::new();
    let bytes = kit.trust_bytes(4, &kit.entries());
    let store =
        TrustStore::from_trust_file(&bytes, &runtime::danger::trust_on_first_use()).unwrap();
    assert_eq!(store.version(), 4);
    assert_eq!(store.keys().len(), 4);

    // Pinned to the right root: fine. Pinned to another root: unknown key.
    let roots: Vec<_> = store.active_roots().into_iter().map(|k| k.key).collect();
    assert!(TrustStore::from_trust_file(&bytes, &Anchors::Roots(roots)).is_ok());
    let other = runtime::PublicKey::from_bytes(&key(8, Role::Root).public_key()).unwrap();
    let e = TrustStore::from_trust_file(&bytes, &Anchors::Roots(vec![other])).unwrap_err();
    assert_eq!(e.code(), "trust_invalid");
    assert!(e.to_string().contains("not an anchor"), "{e}");

    // Key names follow the key-name rule (FORMAT.md §2), in trust files too.
    for bad in ["", "has space", ".hidden", "x/y"] {
        let mut entries = kit.entries();
        entries[1].name = bad.to_string();
        let e = TrustStore::from_trust_file(
            &kit.trust_bytes(4, &entries),
            &runtime::danger::trust_on_first_use(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "schema_invalid", "{bad:?}: {e}");
        assert!(e.to_string().contains("key name"), "{e}");
    }

    // Tampered content (a key added after signing).
    let text = String::from_utf8(bytes.clone()).unwrap();
    let tampered = text.replace("\"version\": 4", "\"version\": 5");
    assert!(matches!(
        TrustStore::from_trust_file(tampered.as_bytes(), &runtime::danger::trust_on_first_use()),
        Err(VerifyError::BadSignature { .. })
    ));

    // Signed by a key without the root role (another key is the file's active root).
    let entries = vec![
        entry(&kit.root, &[Role::License], KeyStatus::Active),
        entry(&kit.license, &[Role::License], KeyStatus::Active),
        entry(&key(8, Role::Root), &[Role::Root], KeyStatus::Active),
    ];
    let by_non_root =
        signing::trust::sign_trust_file(&key(1, Role::Root), 1, t("2026-06-01"), &entries).unwrap();
    assert_eq!(
        TrustStore::from_trust_file(&by_non_root, &runtime::danger::trust_on_first_use())
            .unwrap_err(),
        VerifyError::WrongRole {
            key_id: kit.root.key_id(),
            needed: Role::Root
        }
    );

    // Self-signed by a revoked root (another key is the file's active root).
    let mut entries = kit.entries();
    entries[0].status = KeyStatus::Revoked;
    entries.push(entry(&key(8, Role::Root), &[Role::Root], KeyStatus::Active));
    assert_eq!(
        TrustStore::from_trust_file(
            &kit.trust_bytes(1, &entries),
            &runtime::danger::trust_on_first_use()
        )
        .unwrap_err(),
        VerifyError::KeyRevoked(kit.root.key_id())
    );

    // A key id that is not derived from its key is a schema error.
    let wrong_id = text.replacen(
        &kit.license.key_id().to_string(),
        &KeyId([7; 8]).to_string(),
        1,
    );
    assert_eq!(
        TrustStore::from_trust_file(wrong_id.as_bytes(), &runtime::danger::trust_on_first_use())
            .unwrap_err()
            .code(),
        "schema_invalid"
    );

    // Duplicate member names anywhere are JSON errors, not last-one-wins.
    let dup = text.replacen("\"signed\": {", "\"signed\": {\"version\": 9,", 1);
    assert_eq!(
        TrustStore::from_trust_file(dup.as_bytes(), &runtime::danger::trust_on_first_use())
            .unwrap_err()
            .code(),
        "json_invalid"
    );

    // A weak (small-order) public key inside the trust file is refused.
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let mut entries = kit.entries();
    entries.push(signing::trust::TrustEntry {
        public_key: weak,
        ..entries[1].clone()
    });
    let e = TrustStore::from_trust_file(
        &kit.trust_bytes(1, &entries),
        &runtime::danger::trust_on_first_use(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("weak"), "{e}");
}

#[test]
fn minisign_signatures() {
    let kit = Kit::new();
    let store = kit.store();
    let data = b"bundle bytes".repeat(1000);
    let sig = kit
        .release
        .sign_minisign(&data[..], "bundle_id:b1\tproduct:gateway")
        .unwrap();
    let mut c = MinisignCheck::new(sig.as_bytes()).unwrap();
    c.update(&data);
    let ok = c.finish(&store, Role::Release).unwrap();
    assert_eq!(ok.trusted_comment, "bundle_id:b1\tproduct:gateway");

    let mut c = MinisignCheck::new(sig.as_bytes()).unwrap();
    c.update(&data[1..]);
    assert!(matches!(
        c.finish(&store, Role::Release),
        Err(VerifyError::BadSignature {
            what: "minisign signature",
            ..
        })
    ));

    let forged = sig.replace("bundle_id:b1", "bundle_id:b2");
    let mut c = MinisignCheck::new(forged.as_bytes()).unwrap();
    c.update(&data);
    assert!(matches!(
        c.finish(&store, Role::Release),
        Err(VerifyError::BadSignature {
            what: "minisign trusted comment",
            ..
        })
    ));

    // A release signature does not pass as a license-role signature.
    let mut c = MinisignCheck::new(sig.as_bytes()).unwrap();
    c.update(&data);
    assert!(matches!(
        c.finish(&store, Role::License),
        Err(VerifyError::WrongRole { .. })
    ));
}

#[test]
fn evaluation_mode_persists_its_start_and_lasts_as_long_as_its_signed_terms() {
    use runtime::enforce::{Entitlements, Gate};
    use runtime::license::{verify_license, LegacyPolicy, Standing, State, Tier};
    use runtime::session::{Clock, Session};
    let d = std::env::temp_dir().join(format!("airlock-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    // The vendor's evaluation terms: the catalog's evaluation tier, 21 days.
    let kit = Kit::new();
    let signed = |tier: Tier| {
        let doc = serde_json::json!({
            "schema_version": 3, "license_id": "lic-eval-0001", "license_key": "ABCD-EFGH-JKMN-PQRS",
            "issuer": "Test Vendor", "customer": {"id": "evaluation", "name": "Evaluation"},
            "workspace": "default", "product": "gateway", "tier": tier, "editions": ["standard"],
            "issued_at": "2026-11-01T00:00:00Z", "not_before": "2026-11-01T00:00:00Z",
            "expires_at": "2026-11-22T00:00:00Z", "grace_days": 0, "features": ["gate"],
            "limits": {"agents": 3}, "production_use": false, "data_residency": "eu",
            "renewal_of": null, "lineage_id": "lin-eval-0001", "sequence": 1
        });
        let canonical = canon::canonicalize(doc.to_string().as_bytes()).unwrap();
        let env = kit
            .license
            .sign_document(Kind::License, &canonical)
            .unwrap();
        (canonical, env.to_bytes())
    };
    let (doc, sig) = signed(Tier::Evaluation);
    let store = kit.store();
    let first = t("2026-11-22");
    let terms = verify_license(&store, &doc, Some(&sig), &LegacyPolicy::default(), first).unwrap();
    let mut st = Session::with_store(Some(&d), Clock::System(first), store.clone()).unwrap();
    assert_eq!(st.evaluation_start("gateway"), first);
    st.commit().unwrap();
    // A later start (process restart) keeps the first start.
    let later = t("2026-12-10");
    let mut st = Session::with_store(Some(&d), Clock::System(later), store.clone()).unwrap();
    assert_eq!(st.evaluation_start("gateway"), first);
    st.commit().unwrap();
    let limits = [("agents", 3u64), ("aiorgs", 1)];
    let now = Standing::evaluation(&terms, first, later, 30).unwrap();
    assert_eq!(now.state, State::Evaluation);
    assert_eq!(
        now.times.expires_at,
        t("2026-12-13"),
        "21 days from the first start"
    );
    let e = Entitlements::evaluation(&now, &["gate"], &limits);
    assert_eq!(e.gate_state(), Gate::Open);
    assert_eq!(
        e.check_limit("agents", 3).unwrap_err().code,
        "agent_limit_reached"
    );
    let over = Standing::evaluation(&terms, first, t("2026-12-13"), 30).unwrap();
    assert_eq!(over.state, State::EvaluationExpired);
    let e = Entitlements::evaluation(&over, &["gate"], &limits);
    assert_eq!(
        e.check_feature("gate").unwrap_err().code,
        "evaluation_expired"
    );
    // A license of another tier is not evaluation terms.
    let (doc, sig) = signed(Tier::Professional);
    let paid = verify_license(&store, &doc, Some(&sig), &LegacyPolicy::default(), first).unwrap();
    assert!(Standing::evaluation(&paid, first, later, 30).is_none());
    // The clock going back below what was seen is tamper.
    let e = Session::with_store(Some(&d), Clock::System(t("2026-11-21")), store).unwrap_err();
    assert_eq!(e.code(), "tamper_suspected");
    let _ = std::fs::remove_dir_all(&d);
}
