//! The trust and state protocol (docs/TRUST.md) under attack, through the library where each
//! rule lives: one test per attack of issue 8, each asserting the exact check code.

use crate::kit::*;
use canon::{Kind, Role, Value};
use runtime::session::{Clock, Session, SessionError};
use runtime::state::{StateDir, StateError};
use runtime::KeyStatus;
use runtime::{Anchors, PublicKey, TrustStore};
use signing::trust::{sign_trust_file_by, TrustEntry};
use signing::SecretKey;
use std::path::Path;

fn entry_w(k: &SecretKey, role: Role, status: KeyStatus, nb: &str, na: &str) -> TrustEntry {
    TrustEntry {
        public_key: k.public_key(),
        name: k.name.clone(),
        roles: vec![role],
        not_before: t(nb),
        not_after: t(na),
        status,
    }
}

fn sign(by: &[&SecretKey], version: u64, at: &str, entries: &[TrustEntry]) -> Vec<u8> {
    sign_trust_file_by(by, version, t(at), entries).unwrap()
}

fn root_anchor(k: &SecretKey) -> Anchors {
    Anchors::Roots(vec![PublicKey::from_bytes(&k.public_key()).unwrap()])
}

fn real(at: &str) -> Clock {
    Clock::System(t(at))
}

fn begin(
    dir: &Path,
    clock: Clock,
    files: &[&[u8]],
    a: Option<&Anchors>,
) -> Result<Session, SessionError> {
    Session::begin(Some(dir), clock, files, a)
}

/// A documented root rotation: v1 (R1), v2 co-signed by R1 and R2 (both active), v3 signed by
/// R2 retiring R1 (its window closed at the rotation).
struct Rotation {
    r1: SecretKey,
    r2: SecretKey,
    lic: SecretKey,
    v1: Vec<u8>,
    v2: Vec<u8>,
    v3: Vec<u8>,
}

fn rotation() -> Rotation {
    let r1 = key(11, Role::Root);
    let r2 = key(12, Role::Root);
    let lic = key(13, Role::License);
    let l = entry_w(
        &lic,
        Role::License,
        KeyStatus::Active,
        "2026-01-01",
        "2030-01-01",
    );
    let v1 = sign(
        &[&r1],
        1,
        "2026-02-01",
        &[
            entry_w(
                &r1,
                Role::Root,
                KeyStatus::Active,
                "2026-01-01",
                "2031-01-01",
            ),
            l.clone(),
        ],
    );
    let v2 = sign(
        &[&r1, &r2],
        2,
        "2026-06-01",
        &[
            entry_w(
                &r1,
                Role::Root,
                KeyStatus::Active,
                "2026-01-01",
                "2031-01-01",
            ),
            entry_w(
                &r2,
                Role::Root,
                KeyStatus::Active,
                "2026-05-01",
                "2031-01-01",
            ),
            l.clone(),
        ],
    );
    let v3 = sign(
        &[&r2],
        3,
        "2026-07-01",
        &[
            entry_w(
                &r1,
                Role::Root,
                KeyStatus::Retired,
                "2026-01-01",
                "2026-07-01",
            ),
            entry_w(
                &r2,
                Role::Root,
                KeyStatus::Active,
                "2026-05-01",
                "2031-01-01",
            ),
            l,
        ],
    );
    Rotation {
        r1,
        r2,
        lic,
        v1,
        v2,
        v3,
    }
}

#[test]
fn a_retired_root_cannot_sign_trust_files_after_rotation() {
    let r = rotation();
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("st");
    // The customer walks the chain v1 → v3 over time.
    for (f, at) in [
        (&r.v1, "2026-03-01"),
        (&r.v2, "2026-06-02"),
        (&r.v3, "2026-07-02"),
    ] {
        begin(&st, real(at), &[f], Some(&root_anchor(&r.r1)))
            .unwrap()
            .commit()
            .unwrap();
    }
    // The retired root's key leaks: a trust file with a huge version, listing R1 as active
    // and an attacker's license key.
    let evil_lic = key(66, Role::License);
    let evil = sign(
        &[&r.r1],
        999,
        "2026-08-01",
        &[
            entry_w(
                &r.r1,
                Role::Root,
                KeyStatus::Active,
                "2026-01-01",
                "2040-01-01",
            ),
            entry_w(
                &evil_lic,
                Role::License,
                KeyStatus::Active,
                "2026-01-01",
                "2040-01-01",
            ),
        ],
    );
    let e = begin(&st, real("2026-08-02"), &[&evil], None).unwrap_err();
    assert_eq!(e.code(), "trust_invalid", "{e}");
    assert!(e.to_string().contains("not an anchor"), "{e}");
    // The vendor's real next file (signed by R2) is still accepted afterwards.
    let v4 = sign(
        &[&r.r2],
        4,
        "2026-09-01",
        &[
            entry_w(
                &r.r2,
                Role::Root,
                KeyStatus::Active,
                "2026-05-01",
                "2031-01-01",
            ),
            entry_w(
                &r.lic,
                Role::License,
                KeyStatus::Active,
                "2026-01-01",
                "2030-01-01",
            ),
        ],
    );
    let s = begin(&st, real("2026-09-02"), &[&v4], None).unwrap();
    assert_eq!(s.trust().version(), 4);
}

#[test]
fn a_pinned_root_signs_only_inside_its_pinned_window_and_only_while_active_in_the_new_file() {
    let r = rotation();
    // Pinned R1 (from v1) has the window 2026-01-01..2031-01-01; a file it "signs" dated 2032
    // is outside it.
    let late = sign(
        &[&r.r1],
        2,
        "2032-01-01",
        &[entry_w(
            &r.r1,
            Role::Root,
            KeyStatus::Active,
            "2026-01-01",
            "2040-01-01",
        )],
    );
    let v1 = TrustStore::from_trust_file(&r.v1, &root_anchor(&r.r1)).unwrap();
    let e = TrustStore::from_trust_file(&late, &v1.pins()).unwrap_err();
    assert_eq!(e.code(), "key_outside_validity", "{e}");
    // A root that retires itself in the file it signs does not count as its signer.
    let self_retiring = sign(
        &[&r.r1],
        2,
        "2026-06-01",
        &[
            entry_w(
                &r.r1,
                Role::Root,
                KeyStatus::Retired,
                "2026-01-01",
                "2026-06-01",
            ),
            entry_w(
                &r.r2,
                Role::Root,
                KeyStatus::Active,
                "2026-05-01",
                "2031-01-01",
            ),
        ],
    );
    let e = TrustStore::from_trust_file(&self_retiring, &v1.pins()).unwrap_err();
    assert_eq!(e.code(), "trust_invalid");
    assert!(e.to_string().contains("only an active root signs"), "{e}");
}

#[test]
fn a_customer_who_missed_a_version_moves_on_with_the_chain() {
    let r = rotation();
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("st");
    begin(&st, real("2026-03-01"), &[&r.v1], Some(&root_anchor(&r.r1)))
        .unwrap()
        .commit()
        .unwrap();
    // v3 alone is signed by R2, which v1 never listed.
    let e = begin(&st, real("2026-07-02"), &[&r.v3], None).unwrap_err();
    assert_eq!(e.code(), "trust_invalid", "{e}");
    // v2 and v3 together (in any order) walk the chain; no state is deleted.
    let s = begin(&st, real("2026-07-02"), &[&r.v3, &r.v2], None).unwrap();
    assert_eq!(s.trust().version(), 3);
    s.commit().unwrap();
    let dir = StateDir::open_read_only(&st).unwrap();
    let pin = dir.state().trust.clone().unwrap();
    assert_eq!(pin.version, 3);
    // Pins are the active roots only (R1 retired in v3), with their windows.
    assert_eq!(pin.roots.len(), 1);
    assert_eq!(pin.roots[0].key, r.r2.public_key());
    assert_eq!(pin.roots[0].not_after, t("2031-01-01"));
    // Passing the whole history again later is harmless: older files are skipped.
    drop(dir);
    let s = begin(&st, real("2026-07-03"), &[&r.v1, &r.v2, &r.v3], None).unwrap();
    assert_eq!(s.trust().version(), 3);
}

#[test]
fn first_use_needs_the_vendor_root_and_a_file_without_an_active_root_is_refused() {
    let kit = Kit::new();
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("st");
    let v1 = kit.trust_bytes(1, &kit.entries());
    assert_eq!(
        begin(&st, real("2026-11-22"), &[&v1], None).unwrap_err(),
        SessionError::NoAnchor
    );
    // No trust file at all is named as such.
    let e = begin(&st, real("2026-11-22"), &[], Some(&root_anchor(&kit.root))).unwrap_err();
    assert_eq!(e.code(), "trust_invalid");
    assert!(e.to_string().contains("no trust file given"), "{e}");
    // The wrong vendor root.
    let e = begin(
        &st,
        real("2026-11-22"),
        &[&v1],
        Some(&root_anchor(&key(9, Role::Root))),
    )
    .unwrap_err();
    assert_eq!(e.code(), "trust_invalid");
    // The right one, by key id.
    let ids = Anchors::RootIds(vec![kit.root.key_id()]);
    begin(&st, real("2026-11-22"), &[&v1], Some(&ids))
        .unwrap()
        .commit()
        .unwrap();
    // A later file that lists no root at all would empty the pins: refused.
    let no_root = kit.trust_bytes(2, &kit.entries()[1..]);
    let e = begin(&st, real("2026-11-23"), &[&no_root], None).unwrap_err();
    assert_eq!(e.code(), "schema_invalid");
    assert!(e.to_string().contains("no active root"), "{e}");
    // The explicit trust-on-first-use anchor still works when asked for.
    let d2 = tempfile::tempdir().unwrap();
    assert!(begin(
        d2.path(),
        real("2026-11-22"),
        &[&v1],
        Some(&runtime::danger::trust_on_first_use())
    )
    .is_ok());
}

#[test]
fn extra_signature_entries_must_be_well_formed_trust_envelopes() {
    let kit = Kit::new();
    let v1 = kit.trust_bytes(1, &kit.entries());
    let mut doc = canon::parse(&v1).unwrap();
    let Some(Value::Array(list)) = doc.get_mut("signatures") else {
        panic!()
    };
    // A license envelope by another key, smuggled after the valid root signature.
    let other = key(7, Role::License)
        .sign_document(Kind::License, b"{}")
        .unwrap();
    list.push(canon::parse(&other.to_bytes()).unwrap());
    let e = TrustStore::from_trust_file(&doc.to_pretty(), &runtime::danger::trust_on_first_use())
        .unwrap_err();
    assert_eq!(e.code(), "signature_wrong_kind", "{e}");
}

#[test]
fn previews_never_write_and_failures_write_nothing() {
    let kit = Kit::new();
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("st");
    let v1 = kit.trust_bytes(1, &kit.entries());
    let a = root_anchor(&kit.root);
    // A preview on a directory that does not exist creates nothing.
    begin(&st, Clock::Preview(t("2027-01-01")), &[&v1], Some(&a))
        .unwrap()
        .commit()
        .unwrap();
    assert!(!st.exists());
    // A real run records its time; a preview far in the future does not move it.
    begin(&st, real("2026-11-22"), &[&v1], Some(&a))
        .unwrap()
        .commit()
        .unwrap();
    begin(&st, Clock::Preview(t("2030-01-01")), &[&v1], None)
        .unwrap()
        .commit()
        .unwrap();
    let seen = StateDir::open_read_only(&st)
        .unwrap()
        .state()
        .highest_time_seen;
    assert_eq!(seen, Some(t("2026-11-22")));
    // A session dropped without commit (a failed check) writes nothing.
    let before = std::fs::read(st.join("state.json")).unwrap();
    let mut s = begin(&st, real("2026-11-23"), &[&v1], None).unwrap();
    s.record_bundle("gateway", "acme", 3).unwrap();
    drop(s);
    assert_eq!(std::fs::read(st.join("state.json")).unwrap(), before);
}

#[test]
fn the_clock_is_bounded_by_what_was_seen_and_by_signed_times() {
    let kit = Kit::new();
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("st");
    let v1 = kit.trust_bytes(1, &kit.entries()); // issued 2026-06-01
    let a = root_anchor(&kit.root);
    // Before the trust file was even signed: tamper, with or without a state directory.
    for dir in [None, Some(st.as_path())] {
        let e = Session::begin(dir, real("2026-05-01"), &[&v1], Some(&a)).unwrap_err();
        assert_eq!(e.code(), "tamper_suspected", "{e}");
        assert!(e.to_string().contains("trust file's issued_at"), "{e}");
    }
    // Five minutes of vendor clock skew are tolerated.
    assert!(Session::begin(None, real("2026-05-31T23:56:00Z"), &[&v1], Some(&a)).is_ok());
    begin(&st, real("2026-11-22"), &[&v1], Some(&a))
        .unwrap()
        .commit()
        .unwrap();
    let e = begin(&st, real("2026-11-21"), &[&v1], None).unwrap_err();
    assert_eq!(e.code(), "tamper_suspected");
}

#[test]
fn an_old_copy_of_the_state_or_a_missing_one_is_refused() {
    let kit = Kit::new();
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("st");
    let v1 = kit.trust_bytes(1, &kit.entries());
    let v2 = kit.trust_bytes(2, &kit.entries());
    let a = root_anchor(&kit.root);
    begin(&st, real("2026-11-01"), &[&v1], Some(&a))
        .unwrap()
        .commit()
        .unwrap();
    let old = std::fs::read(st.join("state.json")).unwrap();
    let mut s = begin(&st, real("2026-11-22"), &[&v2], None).unwrap();
    s.record_bundle("gateway", "acme", 9).unwrap();
    s.commit().unwrap();
    // Put back the copy from before: trust v1 and an earlier clock.
    std::fs::write(st.join("state.json"), &old).unwrap();
    let e = begin(&st, real("2026-11-10"), &[&v1], None).unwrap_err();
    assert_eq!(e.code(), "state_rolled_back", "{e}");
    // Delete it instead: the seal says the directory was in use.
    std::fs::remove_file(st.join("state.json")).unwrap();
    let e = begin(&st, real("2026-11-23"), &[&v2], Some(&a)).unwrap_err();
    assert_eq!(e.code(), "state_missing", "{e}");
    // A save interrupted between the seal and the rename: the next run finishes it.
    let d2 = tempfile::tempdir().unwrap();
    let st2 = d2.path().join("st");
    begin(&st2, real("2026-11-01"), &[&v1], Some(&a))
        .unwrap()
        .commit()
        .unwrap();
    let before = std::fs::read(st2.join("state.json")).unwrap();
    let mut s = begin(&st2, real("2026-11-02"), &[&v1], None).unwrap();
    s.record_bundle("gateway", "acme", 2).unwrap();
    s.commit().unwrap();
    std::fs::rename(st2.join("state.json"), st2.join("state.json.pending")).unwrap();
    std::fs::write(st2.join("state.json"), &before).unwrap();
    let s = begin(&st2, real("2026-11-03"), &[&v1], None).unwrap();
    assert_eq!(s.known().bundle_sequence("gateway", "acme"), Some(2));
    assert!(!st2.join("state.json.pending").exists());
    // The same old copy without the pending file is a rollback.
    drop(s);
    std::fs::write(st2.join("state.json"), &before).unwrap();
    let e = begin(&st2, real("2026-11-03"), &[&v1], None).unwrap_err();
    assert_eq!(e.code(), "state_rolled_back");
}

#[cfg(unix)]
#[test]
fn the_state_directory_must_be_private_and_its_temporary_files_never_follow_links() {
    use std::os::unix::fs::PermissionsExt;
    let kit = Kit::new();
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("st");
    let v1 = kit.trust_bytes(1, &kit.entries());
    let a = root_anchor(&kit.root);
    begin(&st, real("2026-11-01"), &[&v1], Some(&a))
        .unwrap()
        .commit()
        .unwrap();
    // Writable by others: someone else could plant files or links in it.
    std::fs::set_permissions(&st, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = begin(&st, real("2026-11-02"), &[&v1], None).unwrap_err();
    assert_eq!(e.code(), "state_unsafe", "{e}");
    std::fs::set_permissions(&st, std::fs::Permissions::from_mode(0o700)).unwrap();
    // state.json replaced by a link.
    let real_state = d.path().join("elsewhere.json");
    std::fs::rename(st.join("state.json"), &real_state).unwrap();
    std::os::unix::fs::symlink(&real_state, st.join("state.json")).unwrap();
    let e = begin(&st, real("2026-11-02"), &[&v1], None).unwrap_err();
    assert_eq!(e.code(), "state_unsafe", "{e}");
    std::fs::remove_file(st.join("state.json")).unwrap();
    std::fs::rename(&real_state, st.join("state.json")).unwrap();
    // Links planted at every name a save writes: no write ever follows one.
    let victim = d.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let pid = std::process::id();
    let planted = [
        st.join("state.json.pending"),
        st.join(format!(".state.json.pending.tmp-{pid}")),
        st.join(format!(".state.seal.tmp-{pid}")),
    ];
    for l in &planted {
        std::os::unix::fs::symlink(&victim, l).unwrap();
    }
    begin(&st, real("2026-11-02"), &[&v1], None)
        .unwrap()
        .commit()
        .unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    for l in &planted {
        assert!(
            std::fs::symlink_metadata(l).is_err(),
            "{} left behind",
            l.display()
        );
    }
    assert!(begin(&st, real("2026-11-03"), &[&v1], None).is_ok());
}

#[test]
fn concurrent_runs_lose_no_update() {
    let kit = Kit::new();
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("st");
    let v1 = kit.trust_bytes(1, &kit.entries());
    let a = root_anchor(&kit.root);
    begin(&st, real("2026-11-01"), &[&v1], Some(&a))
        .unwrap()
        .commit()
        .unwrap();
    std::thread::scope(|s| {
        for i in 0..8u64 {
            let (st, v1) = (&st, &v1);
            s.spawn(move || {
                let mut x = begin(st, real("2026-11-02"), &[v1], None).unwrap();
                x.record_bundle(&format!("p{i}"), "acme", i + 1).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(5));
                x.commit().unwrap();
            });
        }
    });
    let state = StateDir::open_read_only(&st).unwrap().state().clone();
    assert_eq!(
        state.bundle_sequences.len(),
        8,
        "{:?}",
        state.bundle_sequences
    );
    assert_eq!(state.generation, 9);
}

fn revocations(k: &SecretKey, seq: u64, at: &str, ids: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let v = Value::object(vec![
        ("type".into(), Value::String("airlock-revocations".into())),
        ("sequence".into(), Value::Number(seq as f64)),
        ("issued_at".into(), Value::String(t(at).to_string())),
        (
            "revoked".into(),
            Value::Array(
                ids.iter()
                    .map(|id| {
                        Value::object(vec![
                            ("license_id".into(), Value::String((*id).into())),
                            ("reason".into(), Value::String("privilege_withdrawn".into())),
                            ("revoked_at".into(), Value::String(t(at).to_string())),
                        ])
                        .unwrap()
                    })
                    .collect(),
            ),
        ),
    ])
    .unwrap();
    let env = k
        .sign_document(Kind::Revocations, &v.to_canonical())
        .unwrap();
    (v.to_pretty(), env.to_bytes())
}

#[test]
fn revocations_stick_and_never_go_back() {
    let kit = Kit::new();
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("st");
    let v1 = kit.trust_bytes(1, &kit.entries());
    let a = root_anchor(&kit.root);
    let mut s = begin(&st, real("2026-11-10"), &[&v1], Some(&a)).unwrap();
    let (doc, sig) = revocations(&kit.license, 2, "2026-11-09", &["lic-a"]);
    let r = runtime::revocation::verify_revocations(s.trust(), &doc, &sig).unwrap();
    s.accept_revocations(&r).unwrap();
    s.commit().unwrap();
    // Later, with no list at hand, the license is still known revoked.
    let mut s = begin(&st, real("2026-11-11"), &[&v1], None).unwrap();
    assert_eq!(s.revoked("lic-a"), Some("privilege_withdrawn"));
    assert_eq!(s.revoked("lic-b"), None);
    // An older list, or another list with the same sequence: refused.
    let (doc1, sig1) = revocations(&kit.license, 1, "2026-11-01", &[]);
    let r1 = runtime::revocation::verify_revocations(s.trust(), &doc1, &sig1).unwrap();
    assert!(matches!(
        s.accept_revocations(&r1),
        Err(StateError::Rollback { .. })
    ));
    let (doc2, sig2) = revocations(&kit.license, 2, "2026-11-09", &[]);
    let r2 = runtime::revocation::verify_revocations(s.trust(), &doc2, &sig2).unwrap();
    assert_eq!(s.accept_revocations(&r2).unwrap_err().code(), "conflict");
    // A newer list that no longer names it does not un-revoke it.
    let (doc3, sig3) = revocations(&kit.license, 3, "2026-11-10", &["lic-b"]);
    let r3 = runtime::revocation::verify_revocations(s.trust(), &doc3, &sig3).unwrap();
    s.accept_revocations(&r3).unwrap();
    assert_eq!(s.revoked("lic-a"), Some("privilege_withdrawn"));
    assert_eq!(s.revoked("lic-b"), Some("privilege_withdrawn"));
    // A list signed after the clock says now: the clock is behind.
    let (doc4, sig4) = revocations(&kit.license, 4, "2026-12-01", &[]);
    let r4 = runtime::revocation::verify_revocations(s.trust(), &doc4, &sig4).unwrap();
    assert_eq!(
        s.accept_revocations(&r4).unwrap_err().code(),
        "tamper_suspected"
    );
}

#[test]
fn a_format_1_state_is_read_and_upgraded() {
    let kit = Kit::new();
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("st");
    std::fs::create_dir(&st).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&st, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let root = canon::enc::b64(&kit.root.public_key());
    std::fs::write(
        st.join("state.json"),
        format!("{{\"airlock_state\":1,\"bundle_sequences\":{{\"gateway/acme\":4}},\"evaluation_started\":{{}},\"highest_time_seen\":\"2026-11-01T00:00:00Z\",\"revocation_sequence\":2,\"trust_roots\":[\"{root}\"],\"trust_version\":1}}"),
    )
    .unwrap();
    let v1 = kit.trust_bytes(1, &kit.entries());
    let s = begin(&st, real("2026-11-22"), &[&v1], None).unwrap();
    assert_eq!(s.known().bundle_sequence("gateway", "acme"), Some(4));
    assert_eq!(s.known().revocations.as_ref().unwrap().sequence, 2);
    s.commit().unwrap();
    let state = StateDir::open_read_only(&st).unwrap().state().clone();
    assert_eq!(state.generation, 1);
    assert_eq!(state.trust.unwrap().version, 1);
}

/// A license of one lineage, signed by the kit's license key.
fn lineage_license(kit: &Kit, id: &str, sequence: u64) -> runtime::license::VerifiedLicense {
    use runtime::Artifact;
    let l = runtime::license::License {
        schema_version: 3,
        license_id: id.into(),
        license_key: "ABCD-EFGH-JKMN-PQRS".into(),
        issuer: "Test Vendor".into(),
        customer: format::Customer {
            id: "acme".into(),
            name: "ACME".into(),
        },
        workspace: "default".into(),
        product: "gateway".into(),
        tier: format::Tier::Sovereign,
        editions: vec!["standard".into()],
        issued_at: "2026-11-01T00:00:00Z".into(),
        not_before: "2026-11-01T00:00:00Z".into(),
        expires_at: "2027-11-01T00:00:00Z".into(),
        grace_days: 30,
        features: vec!["gate".into()],
        limits: Default::default(),
        production_use: true,
        data_residency: "eu".into(),
        renewal_of: (sequence > 1).then(|| "lic-a".to_string()),
        lineage_id: "lin-test-0001".into(),
        sequence,
    };
    let doc = l.to_canonical();
    let sig = kit
        .license
        .sign_document(canon::Kind::License, &doc)
        .unwrap()
        .to_bytes();
    runtime::license::verify_license(
        &kit.store(),
        &doc,
        Some(&sig),
        &runtime::license::LegacyPolicy::default(),
        t("2026-11-22"),
    )
    .unwrap()
}

/// Licenses of a lineage never go back, whoever presents them (the agent with a service's
/// answer, the product with files put back by hand): the state remembers each lineage's
/// highest sequence (state format 4), and a format-3 state is read and upgraded.
#[test]
fn a_lineage_never_goes_back_to_an_older_license() {
    let kit = Kit::new();
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("st");
    let v1 = kit.trust_bytes(1, &kit.entries());
    let anchors = root_anchor(&kit.root);
    let (first, renewal) = (
        lineage_license(&kit, "lic-a", 1),
        lineage_license(&kit, "lic-b", 2),
    );
    let mut s = begin(&st, real("2026-11-22"), &[&v1], Some(&anchors)).unwrap();
    s.accept_license(&first).unwrap();
    s.accept_license(&renewal).unwrap();
    s.accept_license(&renewal).unwrap();
    s.commit().unwrap();
    let bytes = std::fs::read(st.join("state.json")).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("\"airlock_state\":5"));
    let mut s = begin(&st, real("2026-11-23"), &[&v1], None).unwrap();
    let e = s.accept_license(&first).unwrap_err();
    assert_eq!(e.code(), runtime::Check::Rollback, "{e}");
    // Format-4 and format-3 states (no suspensions; no license sequences either) are read and
    // upgraded on the next save.
    drop(s);
    let v5 = String::from_utf8(bytes).unwrap();
    let text = v5
        .replace("\"airlock_state\":5", "\"airlock_state\":4")
        .replace(",\"suspended\":{}", "");
    assert_ne!(v5, text);
    assert!(runtime::state::parse(text.as_bytes()).is_ok());
    let v3 = text
        .replace("\"airlock_state\":4", "\"airlock_state\":3")
        .replace(",\"license_sequences\":{\"lin-test-0001\":2}", "");
    assert_ne!(v3, text);
    let state = runtime::state::parse(v3.as_bytes()).unwrap();
    assert!(state.license_sequences.is_empty());
    assert!(runtime::state::parse(
        text.replace("\"airlock_state\":4", "\"airlock_state\":3")
            .as_bytes()
    )
    .is_err());
}
