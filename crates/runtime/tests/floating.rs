//! Floating seats (docs/FORMAT.md §20): the chain trust → activation key → pool lease → node
//! lease, and what a node's holder, a second seat server or a forger could try. Each case
//! asserts the exact check that refuses it.

use crate::kit::{key, t, Kit};
use canon::{enc, Kind, Role};
use runtime::activation::{Activation, Binding, SignedFile};
use runtime::fingerprint::derive;
use runtime::floating::verify_node_seat;
use runtime::format_floating::{NodeLease, PoolTerms};
use runtime::state::State;
use runtime::{Artifact, Check};
use signing::SecretKey;

const PRODUCT: &str = "gateway";
const LINEAGE: &str = "lin-1";

fn fp(id: &str) -> String {
    derive(id.as_bytes(), PRODUCT)
}

/// The seat server's pool lease: 10 seats, node leases up to 15 minutes, borrows up to 3 days.
fn pool(server: &SecretKey) -> Activation {
    Activation {
        doc_type: "airlock-activation".into(),
        activation_id: "act-pool".into(),
        request_id: "0123456789abcdef0123456789abcdef".into(),
        license_id: "lic-1".into(),
        lineage_id: LINEAGE.into(),
        product: PRODUCT.into(),
        customer_id: "acme".into(),
        workspace: "default".into(),
        fingerprint: fp("seat-server"),
        instance_public_key: enc::b64(&server.public_key()),
        label: "seatd".into(),
        device_limit: 1,
        overage: false,
        epoch: 1,
        sequence: 4,
        issued_at: "2026-11-22T00:00:00Z".into(),
        not_before: "2026-11-22T00:00:00Z".into(),
        not_after: "2026-12-22T00:00:00Z".into(),
        renew_after: "2026-12-15T00:00:00Z".into(),
        encryption_public_key: None,
        grants: Vec::new(),
        pool: Some(PoolTerms {
            seats: 10,
            max_node_lease_seconds: 900,
            max_borrow_seconds: 3 * 86_400,
        }),
        components: Default::default(),
        match_policy: None,
    }
}

fn node(server: &SecretKey, node: &SecretKey, at: &str, until: &str) -> NodeLease {
    NodeLease {
        doc_type: "airlock-node-lease".into(),
        node_lease_id: "00112233445566778899aabbccddeeff".into(),
        pool_activation_id: "act-pool".into(),
        lineage_id: LINEAGE.into(),
        product: PRODUCT.into(),
        node_fingerprint: fp("node-a"),
        node_public_key: enc::b64(&node.public_key()),
        server_public_key: enc::b64(&server.public_key()),
        server_sequence: 17,
        server_time: at.into(),
        issued_at: at.into(),
        not_after: until.into(),
        borrowed: false,
    }
}

fn node_file(signer: &SecretKey, n: &NodeLease) -> Vec<u8> {
    let canonical = n.to_canonical();
    SignedFile {
        envelope: signer.sign_document(Kind::NodeLease, &canonical).unwrap(),
        canonical,
    }
    .to_bytes()
}

struct Case {
    kit: Kit,
    server: SecretKey,
    node_key: SecretKey,
}

impl Case {
    fn new() -> Case {
        Case {
            kit: Kit::new(),
            server: key(6, Role::Instance),
            node_key: key(7, Role::Instance),
        }
    }

    fn check(
        &self,
        p: &Activation,
        n: &[u8],
        me: &str,
        known: &State,
        now: &str,
    ) -> Result<(), Check> {
        let doc = p.to_canonical();
        let sig = self
            .kit
            .activation
            .sign_document(Kind::Activation, &doc)
            .unwrap()
            .to_bytes();
        let fpr = fp(me);
        let b = Binding {
            product: PRODUCT,
            lineage_id: LINEAGE,
            fingerprint: &fpr,
            instance_key: None,
            components: None,
        };
        verify_node_seat(&self.kit.store(), (&doc, &sig), n, &b, known, t(now))
            .map(|_| ())
            .map_err(|e| e.code())
    }
}

const NOW: &str = "2026-11-30T10:05:00Z";

#[test]
fn a_node_holds_its_seat_through_the_whole_chain() {
    let c = Case::new();
    let n = node(
        &c.server,
        &c.node_key,
        "2026-11-30T10:00:00Z",
        "2026-11-30T10:15:00Z",
    );
    let f = node_file(&c.server, &n);
    assert_eq!(
        c.check(&pool(&c.server), &f, "node-a", &State::default(), NOW),
        Ok(())
    );
    // Borrowed for three days: within the pool's limit.
    let mut b = node(
        &c.server,
        &c.node_key,
        "2026-11-30T10:00:00Z",
        "2026-12-03T10:00:00Z",
    );
    b.borrowed = true;
    let f = node_file(&c.server, &b);
    assert_eq!(
        c.check(&pool(&c.server), &f, "node-a", &State::default(), NOW),
        Ok(())
    );
}

#[test]
fn each_break_in_the_chain_has_its_code() {
    let c = Case::new();
    let at = "2026-11-30T10:00:00Z";
    let ok_lease = node(&c.server, &c.node_key, at, "2026-11-30T10:15:00Z");
    let p = pool(&c.server);
    let none = State::default();
    let run =
        |n: &NodeLease, signer: &SecretKey, me: &str, p: &Activation, known: &State, now: &str| {
            c.check(p, &node_file(signer, n), me, known, now)
        };
    // Replayed on another node.
    assert_eq!(
        run(&ok_lease, &c.server, "node-b", &p, &none, NOW),
        Err(Check::NodeOtherMachine)
    );
    // Forged by another seat server's key (it names itself, and signs correctly).
    let other = key(8, Role::Instance);
    let mut forged = ok_lease.clone();
    forged.server_public_key = enc::b64(&other.public_key());
    assert_eq!(
        run(&forged, &other, "node-a", &p, &none, NOW),
        Err(Check::NodeLeaseForged)
    );
    // Signed by another key than the one it names.
    assert_eq!(
        run(&ok_lease, &other, "node-a", &p, &none, NOW),
        Err(Check::SignatureInvalid)
    );
    // Another product, lineage or pool.
    for edit in [
        |n: &mut NodeLease| n.product = "phones".into(),
        |n: &mut NodeLease| n.lineage_id = "lin-2".into(),
        |n: &mut NodeLease| n.pool_activation_id = "act-other".into(),
    ] {
        let mut n = ok_lease.clone();
        edit(&mut n);
        assert_eq!(
            run(&n, &c.server, "node-a", &p, &none, NOW),
            Err(Check::NodeLeaseMismatch)
        );
    }
    // Longer than the pool allows: a lease of an hour; a borrow of four days.
    let long = node(&c.server, &c.node_key, at, "2026-11-30T11:00:00Z");
    assert_eq!(
        run(&long, &c.server, "node-a", &p, &none, NOW),
        Err(Check::NodeLeaseTooLong)
    );
    let mut borrow = node(&c.server, &c.node_key, at, "2026-12-04T10:00:00Z");
    borrow.borrowed = true;
    assert_eq!(
        run(&borrow, &c.server, "node-a", &p, &none, NOW),
        Err(Check::NodeLeaseTooLong)
    );
    // Past the pool's end.
    let late = node(
        &c.server,
        &c.node_key,
        "2026-12-21T23:55:00Z",
        "2026-12-22T00:05:00Z",
    );
    assert_eq!(
        run(
            &late,
            &c.server,
            "node-a",
            &p,
            &none,
            "2026-12-21T23:56:00Z"
        ),
        Err(Check::NodeLeasePastPool)
    );
    // Ended; signed in this clock's future.
    assert_eq!(
        run(
            &ok_lease,
            &c.server,
            "node-a",
            &p,
            &none,
            "2026-11-30T10:16:00Z"
        ),
        Err(Check::NodeLeaseExpired)
    );
    assert_eq!(
        run(
            &ok_lease,
            &c.server,
            "node-a",
            &p,
            &none,
            "2026-11-30T09:00:00Z"
        ),
        Err(Check::TamperSuspected)
    );
    // The pool: ended; revoked or released by a list; reset; a machine's lease, no pool.
    assert_eq!(
        run(
            &ok_lease,
            &c.server,
            "node-a",
            &p,
            &none,
            "2026-12-22T00:00:00Z"
        ),
        Err(Check::PoolExpired)
    );
    let mut revoked = State::default();
    revoked
        .revoked_activations
        .insert("act-pool".into(), "released by the vendor".into());
    assert_eq!(
        run(&ok_lease, &c.server, "node-a", &p, &revoked, NOW),
        Err(Check::PoolRevoked)
    );
    let mut reset = State::default();
    reset.activation_epochs.insert(LINEAGE.into(), 2);
    assert_eq!(
        run(&ok_lease, &c.server, "node-a", &p, &reset, NOW),
        Err(Check::PoolRevoked)
    );
    let mut machine = p.clone();
    machine.pool = None;
    assert_eq!(
        run(&ok_lease, &c.server, "node-a", &machine, &none, NOW),
        Err(Check::NodeLeaseMismatch)
    );
    let mut elsewhere = p.clone();
    elsewhere.product = "phones".into();
    assert_eq!(
        run(&ok_lease, &c.server, "node-a", &elsewhere, &none, NOW),
        Err(Check::ActivationMismatch)
    );
}

#[test]
fn pool_terms_and_floating_limits_are_bounded() {
    let c = Case::new();
    for (seats, lease, borrow) in [
        (0, 900, 0),
        (10, 30, 0),
        (10, 90_000, 0),
        (10, 900, 91 * 86_400),
    ] {
        let mut p = pool(&c.server);
        p.pool = Some(PoolTerms {
            seats,
            max_node_lease_seconds: lease,
            max_borrow_seconds: borrow,
        });
        assert!(p.validate().is_err(), "{seats} {lease} {borrow}");
    }
    let mut limits = std::collections::BTreeMap::new();
    limits.insert("floating_lease_seconds".to_string(), 900u64);
    assert!(runtime::format_floating::check_limits("license", &limits).is_err());
    limits.insert("floating_seats".to_string(), 5u64);
    assert!(runtime::format_floating::check_limits("license", &limits).is_ok());
}

/// A product on a node (no machine lease) runs licensed work on the floating seat its seat
/// server handed it, and stops when the node lease ends or the files are another node's.
#[test]
fn the_product_facade_accepts_a_node_seat() {
    use runtime::product::{check, Activation as Act, Inputs};
    use runtime::session::Clock;
    let c = Case::new();
    let d = tempfile::tempdir().unwrap();
    let (lic_dir, state) = (d.path().join("lic"), d.path().join("state"));
    std::fs::create_dir_all(&lic_dir).unwrap();
    let mut limits = std::collections::BTreeMap::new();
    limits.insert("activation_required".to_string(), 1u64);
    limits.insert("floating_seats".to_string(), 10u64);
    let license = runtime::license::License {
        schema_version: 3,
        license_id: "lic-1".into(),
        license_key: "ABCD-EFGH-JKMN-PQRS".into(),
        issuer: "Test Vendor".into(),
        customer: runtime::license::Customer {
            id: "acme".into(),
            name: "ACME".into(),
        },
        workspace: "default".into(),
        product: PRODUCT.into(),
        tier: runtime::license::Tier::Sovereign,
        editions: vec!["standard".into()],
        issued_at: "2026-11-01T00:00:00Z".into(),
        not_before: "2026-11-01T00:00:00Z".into(),
        expires_at: "2027-11-01T00:00:00Z".into(),
        grace_days: 30,
        features: vec!["gate".into()],
        limits,
        production_use: true,
        data_residency: "eu".into(),
        renewal_of: None,
        lineage_id: LINEAGE.into(),
        sequence: 1,
    };
    let doc = license.to_canonical();
    std::fs::write(lic_dir.join("license.json"), &doc).unwrap();
    let sig = c.kit.license.sign_document(Kind::License, &doc).unwrap();
    std::fs::write(lic_dir.join("license.sig"), sig.to_bytes()).unwrap();
    let dir = runtime::activation::installed_dir(&state, PRODUCT);
    std::fs::create_dir_all(&dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let p = pool(&c.server).to_canonical();
    std::fs::write(dir.join(runtime::floating::POOL_FILE), &p).unwrap();
    let psig = c
        .kit
        .activation
        .sign_document(Kind::Activation, &p)
        .unwrap();
    std::fs::write(dir.join(runtime::floating::POOL_SIG), psig.to_bytes()).unwrap();
    let n = node(
        &c.server,
        &c.node_key,
        "2026-11-30T10:00:00Z",
        "2026-11-30T10:15:00Z",
    );
    std::fs::write(
        dir.join(runtime::floating::NODE_LEASE_FILE),
        node_file(&c.server, &n),
    )
    .unwrap();
    let trust = c.kit.trust_bytes(1, &c.kit.entries());
    let trusts: [&[u8]; 1] = [&trust];
    let root =
        runtime::trust::RootSpec::parse(canon::enc::b64(&c.kit.root.public_key()).as_bytes())
            .unwrap();
    let anchors = runtime::trust::RootSpec::anchors(&[root]);
    let run = |me: &str, now: &str| {
        let mut i = Inputs::new(&trusts, &lic_dir, &state, Clock::Preview(t(now)));
        i.anchors = Some(&anchors);
        i.sources = runtime::fingerprint::Sources {
            explicit: Some(me.into()),
            config: None,
            machine_id: None,
            dmi: None,
            state: None,
            probe: None,
        };
        check(&i).unwrap()
    };
    let s = run("node-a", NOW);
    assert!(
        matches!(s.activation, Act::Floating(_)),
        "{:?}",
        s.activation
    );
    assert!(s.entitlements.check_feature("gate").is_ok());
    let s = run("node-b", NOW);
    assert!(
        matches!(s.activation, Act::Refused(Check::NodeOtherMachine, _)),
        "{:?}",
        s.activation
    );
    assert!(s.entitlements.check_feature("gate").is_err());
    let s = run("node-a", "2026-11-30T10:20:00Z");
    assert_eq!(s.state(), "lease_expired");
    assert!(s.entitlements.check_feature("gate").is_err());
}
