//! Activation leases and instance-signed documents: what someone holding the customer's
//! machine (its files, its clock, its state directory) or an old key could try. Each case
//! asserts the exact check that refuses it.

use crate::kit::{key, t, Kit};
use canon::{enc, Kind, Role, Timestamp};
use runtime::activation::{
    verify_instance_signed, verify_lease, Activation, ActivationError, ActivationRequest, Binding,
    Deactivation, SignedFile,
};
use runtime::fingerprint::derive;
use runtime::revocation::{ActivationEpoch, RevocationList, RevokedActivation};
use runtime::state::State;
use runtime::{Artifact, Check};
use signing::SecretKey;

const PRODUCT: &str = "gateway";
const LINEAGE: &str = "lin-1";

fn fp(id: &str) -> String {
    derive(id.as_bytes(), PRODUCT)
}

fn lease(kit: &Kit, fingerprint: &str, sequence: u64, epoch: u64) -> Activation {
    Activation {
        doc_type: "airlock-activation".into(),
        activation_id: "act-1".into(),
        request_id: "0123456789abcdef0123456789abcdef".into(),
        license_id: "lic-1".into(),
        lineage_id: LINEAGE.into(),
        product: PRODUCT.into(),
        customer_id: "acme".into(),
        workspace: "default".into(),
        fingerprint: fingerprint.into(),
        instance_public_key: enc::b64(&kit.instance.public_key()),
        label: "node a".into(),
        device_limit: 1,
        overage: false,
        epoch,
        sequence,
        issued_at: "2026-11-22T00:00:00Z".into(),
        not_before: "2026-11-22T00:00:00Z".into(),
        not_after: "2027-01-31T00:00:00Z".into(),
        renew_after: "2027-01-20T00:00:00Z".into(),
        encryption_public_key: None,
        grants: Vec::new(),
        pool: None,
        components: Default::default(),
        match_policy: None,
    }
}

fn signed(k: &SecretKey, a: &Activation) -> (Vec<u8>, Vec<u8>) {
    let doc = a.to_canonical();
    // Refused by the signing side for the wrong role; sign the PAE by hand for forgeries.
    let sig = match k.sign_document(Kind::Activation, &doc) {
        Ok(e) => e.to_bytes(),
        Err(_) => forge(k, Kind::Activation, &doc),
    };
    (doc, sig)
}

/// An envelope over `doc` by `k` whatever its role (what an attacker holding a key can make).
fn forge(k: &SecretKey, kind: Kind, doc: &[u8]) -> Vec<u8> {
    let twin =
        SecretKey::from_seed(&seed_of(k), &k.name, kind.signer_role(), t("2026-01-01")).unwrap();
    twin.sign_document(kind, doc).unwrap().to_bytes()
}

fn seed_of(k: &SecretKey) -> [u8; 32] {
    // The kit's keys are made from seeds [n; 32]; find n from the public key.
    (1..=16u8)
        .map(|n| [n; 32])
        .find(|s| {
            SecretKey::from_seed(s, "x", Role::Root, t("2026-01-01"))
                .unwrap()
                .public_key()
                == k.public_key()
        })
        .expect("a kit key")
}

fn here() -> String {
    fp("machine-a")
}

fn binding(fingerprint: &str) -> Binding<'_> {
    Binding {
        product: PRODUCT,
        lineage_id: LINEAGE,
        fingerprint,
        instance_key: None,
        components: None,
    }
}

fn check(kit: &Kit, doc: &[u8], sig: &[u8], known: &State, now: &str) -> Result<(), Check> {
    let me = here();
    verify_lease(&kit.store(), doc, sig, &binding(&me), known, t(now))
        .map(|_| ())
        .map_err(|e| e.code())
}

#[test]
fn a_valid_lease_verifies_and_says_when_to_renew() {
    let kit = Kit::new();
    let (doc, sig) = signed(&kit.activation, &lease(&kit, &here(), 1, 1));
    let me = here();
    let l = verify_lease(
        &kit.store(),
        &doc,
        &sig,
        &binding(&me),
        &State::default(),
        t("2026-12-01"),
    )
    .unwrap();
    assert_eq!(
        l.state_at(t("2026-12-01")),
        runtime::activation::LeaseState::Active
    );
    assert_eq!(
        l.state_at(t("2027-01-25")),
        runtime::activation::LeaseState::RenewDue
    );
    assert!(l.describe(t("2026-12-01")).contains("act-1"));
}

#[test]
fn leases_for_another_machine_product_or_lineage_are_refused() {
    let kit = Kit::new();
    let st = State::default();
    let (doc, sig) = signed(&kit.activation, &lease(&kit, &fp("machine-b"), 1, 1));
    assert_eq!(
        check(&kit, &doc, &sig, &st, "2026-12-01"),
        Err(Check::ActivationOtherMachine)
    );
    // The same machine id for another product is another fingerprint.
    let other_product = derive(b"machine-a", "pbx");
    let (doc, sig) = signed(&kit.activation, &lease(&kit, &other_product, 1, 1));
    assert_eq!(
        check(&kit, &doc, &sig, &st, "2026-12-01"),
        Err(Check::ActivationOtherMachine)
    );
    let mut a = lease(&kit, &here(), 1, 1);
    a.product = "pbx".into();
    let (doc, sig) = signed(&kit.activation, &a);
    assert_eq!(
        check(&kit, &doc, &sig, &st, "2026-12-01"),
        Err(Check::ActivationMismatch)
    );
    let mut a = lease(&kit, &here(), 1, 1);
    a.lineage_id = "lin-2".into();
    let (doc, sig) = signed(&kit.activation, &a);
    assert_eq!(
        check(&kit, &doc, &sig, &st, "2026-12-01"),
        Err(Check::ActivationMismatch)
    );
    // The agent also checks its own instance key.
    let (doc, sig) = signed(&kit.activation, &lease(&kit, &here(), 1, 1));
    let me = here();
    let other_key = enc::b64(&key(9, Role::Instance).public_key());
    let b = Binding {
        instance_key: Some(&other_key),
        components: None,
        ..binding(&me)
    };
    let e = verify_lease(&kit.store(), &doc, &sig, &b, &st, t("2026-12-01")).unwrap_err();
    assert_eq!(e.code(), Check::ActivationOtherMachine);
}

#[test]
fn only_an_activation_key_signs_a_lease() {
    let kit = Kit::new();
    let st = State::default();
    let a = lease(&kit, &here(), 1, 1);
    for k in [&kit.license, &kit.release, &kit.root] {
        let (doc, sig) = signed(k, &a);
        assert_eq!(
            check(&kit, &doc, &sig, &st, "2026-12-01"),
            Err(Check::KeyWrongRole),
            "{}",
            k.name
        );
    }
    // The machine's own key is no signer of leases (an attacker holding the machine has it).
    let (doc, sig) = signed(&kit.instance, &a);
    assert_eq!(
        check(&kit, &doc, &sig, &st, "2026-12-01"),
        Err(Check::KeyUnknown)
    );
    // A lease edited after signing (a longer lease, more seats) fails the signature.
    let (doc, sig) = signed(&kit.activation, &a);
    let longer = String::from_utf8(doc)
        .unwrap()
        .replace("2027-01-31T00:00:00Z", "2099-01-31T00:00:00Z");
    assert_eq!(
        check(&kit, longer.as_bytes(), &sig, &st, "2026-12-01"),
        Err(Check::SignatureInvalid)
    );
    // A license signature relabelled as a lease.
    let mut env = canon::Envelope::parse(&sig).unwrap();
    env.kind = Kind::License;
    assert_eq!(
        check(&kit, &a.to_canonical(), &env.to_bytes(), &st, "2026-12-01"),
        Err(Check::SignatureWrongKind)
    );
}

#[test]
fn window_clock_and_state_rules() {
    let kit = Kit::new();
    let (doc, sig) = signed(&kit.activation, &lease(&kit, &here(), 5, 2));
    let st = State::default();
    assert_eq!(
        check(&kit, &doc, &sig, &st, "2027-02-01"),
        Err(Check::LeaseExpired)
    );
    // Before its start: the clock set back before the lease was signed.
    assert_eq!(
        check(&kit, &doc, &sig, &st, "2026-11-21"),
        Err(Check::ActivationNotYetValid)
    );
    // Deactivated here, or revoked by an accepted list: never taken again.
    let mut known = State::default();
    known
        .revoked_activations
        .insert("act-1".into(), "deactivated on this machine".into());
    assert_eq!(
        check(&kit, &doc, &sig, &known, "2026-12-01"),
        Err(Check::ActivationRevoked)
    );
    // A reset raised the lineage's epoch: leases of earlier epochs are void.
    let mut known = State::default();
    known.activation_epochs.insert(LINEAGE.into(), 3);
    assert_eq!(
        check(&kit, &doc, &sig, &known, "2026-12-01"),
        Err(Check::ActivationRevoked)
    );
    known.activation_epochs.insert(LINEAGE.into(), 2);
    assert_eq!(check(&kit, &doc, &sig, &known, "2026-12-01"), Ok(()));
    // An older lease after a newer one was installed.
    let mut known = State::default();
    known.activation_sequences.insert(LINEAGE.into(), 6);
    assert_eq!(
        check(&kit, &doc, &sig, &known, "2026-12-01"),
        Err(Check::Rollback)
    );
    known.activation_sequences.insert(LINEAGE.into(), 5);
    assert_eq!(check(&kit, &doc, &sig, &known, "2026-12-01"), Ok(()));
}

/// A lease naming a small-order point (or any key that is no valid public key) as the machine's
/// instance key is refused like any other bad key, even when the vendor signed it. (Before:
/// only its base64 length was checked.)
#[test]
fn a_lease_naming_a_small_order_instance_key_is_refused() {
    let kit = Kit::new();
    // The identity point (order 1) and a point of order 8, canonical encodings.
    let mut order8 = [0u8; 32];
    order8[..32].copy_from_slice(&[
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ]);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    for weak in [identity, order8] {
        let mut a = lease(&kit, &here(), 5, 2);
        a.instance_public_key = enc::b64(&weak);
        let (doc, sig) = signed(&kit.activation, &a);
        assert_eq!(
            check(&kit, &doc, &sig, &State::default(), "2026-12-01"),
            Err(Check::SchemaInvalid)
        );
    }
    let (doc, sig) = signed(&kit.activation, &lease(&kit, &here(), 5, 2));
    assert_eq!(
        check(&kit, &doc, &sig, &State::default(), "2026-12-01"),
        Ok(())
    );
}

#[test]
fn a_lease_signed_in_the_future_means_the_clock_is_behind() {
    let kit = Kit::new();
    let mut a = lease(&kit, &here(), 1, 1);
    a.issued_at = "2026-11-25T00:00:00Z".into();
    let (doc, sig) = signed(&kit.activation, &a);
    // Within its window but before it was signed (more than 5 minutes): tamper.
    assert_eq!(
        check(&kit, &doc, &sig, &State::default(), "2026-11-24"),
        Err(Check::TamperSuspected)
    );
}

#[test]
fn a_reset_or_forced_release_reaches_the_runtime_through_the_revocation_list() {
    let kit = Kit::new();
    let store = kit.store();
    let (doc, sig) = signed(&kit.activation, &lease(&kit, &here(), 1, 1));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let trust = kit.trust_bytes(1, &kit.entries());
    let now = t("2026-12-01");
    let begin = || {
        runtime::session::Session::begin(
            Some(&state),
            runtime::session::Clock::System(now),
            &[&trust],
            Some(&runtime::danger::trust_on_first_use()),
        )
        .unwrap()
    };
    let me = here();
    let s = begin();
    assert!(verify_lease(&store, &doc, &sig, &binding(&me), s.known(), now).is_ok());
    s.commit().unwrap();
    for list in [
        {
            let mut l = RevocationList::new(1, t("2026-11-30"), []);
            l.activation_epochs.push(ActivationEpoch {
                lineage_id: LINEAGE.into(),
                min_epoch: 2,
            });
            l
        },
        {
            let mut l = RevocationList::new(1, t("2026-11-30"), []);
            l.revoked_activations.push(RevokedActivation {
                activation_id: "act-1".into(),
                lineage_id: LINEAGE.into(),
                reason: "machine lost".into(),
                revoked_at: "2026-11-30T00:00:00Z".into(),
            });
            l
        },
    ] {
        let _ = std::fs::remove_dir_all(&state);
        let s = begin();
        s.commit().unwrap();
        let mut s = begin();
        let ldoc = list.to_canonical();
        let lsig = kit
            .license
            .sign_document(Kind::Revocations, &ldoc)
            .unwrap()
            .to_bytes();
        let r = runtime::revocation::verify_revocations(&store, &ldoc, &lsig).unwrap();
        s.accept_revocations(&r).unwrap();
        s.commit().unwrap();
        // Kept for good, with or without the list at hand.
        let s = begin();
        let e = verify_lease(&store, &doc, &sig, &binding(&me), s.known(), now).unwrap_err();
        assert_eq!(e.code(), Check::ActivationRevoked, "{e}");
    }
}

fn request(k: &SecretKey) -> ActivationRequest {
    ActivationRequest {
        doc_type: "airlock-activation-request".into(),
        request_id: "00112233445566778899aabbccddeeff".into(),
        license_id: "lic-1".into(),
        license_key: "ABCD-EFGH-JKMN-PQRS".into(),
        lineage_id: LINEAGE.into(),
        product: PRODUCT.into(),
        workspace: "default".into(),
        fingerprint: here(),
        fingerprint_source: "machine-id".into(),
        instance_public_key: enc::b64(&k.public_key()),
        label: String::new(),
        created_at: "2026-11-22T00:00:00Z".into(),
        install_token_id: None,
        encryption_public_key: None,
        builds: Vec::new(),
        pool: false,
        components: Default::default(),
        environment: None,
    }
}

fn instance_file<A: Artifact>(k: &SecretKey, kind: Kind, a: &A) -> Vec<u8> {
    let canonical = a.to_canonical();
    SignedFile {
        envelope: k.sign_document(kind, &canonical).unwrap(),
        canonical,
    }
    .to_bytes()
}

#[test]
fn instance_signed_documents_prove_possession_of_the_key_they_carry() {
    let kit = Kit::new();
    let r = request(&kit.instance);
    let file = instance_file(&kit.instance, Kind::ActivationRequest, &r);
    let (back, _, _) = verify_instance_signed::<ActivationRequest>(&file).unwrap();
    assert_eq!(back, r);
    // Signed by another key than the one it names: someone else's request.
    let thief = key(9, Role::Instance);
    let forged = instance_file(&thief, Kind::ActivationRequest, &r);
    assert!(matches!(
        verify_instance_signed::<ActivationRequest>(&forged),
        Err(runtime::VerifyError::BadSignature { .. })
    ));
    // Edited after signing (another license key, another fingerprint).
    let text = String::from_utf8(file.clone()).unwrap();
    let edited = text.replace("ABCD-EFGH-JKMN-PQRS", "ABCD-EFGH-JKMN-PQRT");
    assert!(matches!(
        verify_instance_signed::<ActivationRequest>(edited.as_bytes()),
        Err(runtime::VerifyError::BadSignature { .. })
    ));
    // A request presented as a receipt (domain separation).
    assert!(matches!(
        verify_instance_signed::<Deactivation>(&file),
        Err(runtime::VerifyError::WrongKind { .. })
    ));
    // Extra members, a missing signature, garbage: refused, no panic.
    for bad in [
        text.replacen('{', "{\"x\":1,", 1),
        r#"{"signed":{}}"#.to_string(),
        "[]".to_string(),
        String::new(),
    ] {
        assert!(
            verify_instance_signed::<ActivationRequest>(bad.as_bytes()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn schema_rules_of_the_activation_artifacts() {
    let kit = Kit::new();
    let good = lease(&kit, &here(), 1, 1);
    assert!(good.validate().is_ok());
    type Edit = Box<dyn Fn(&mut Activation)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "fingerprint",
            Box::new(|a| a.fingerprint = "fp1:XYZ".into()),
        ),
        ("device_limit", Box::new(|a| a.device_limit = 0)),
        ("device_limit", Box::new(|a| a.device_limit = 10_001)),
        ("sequence", Box::new(|a| a.sequence = 0)),
        (
            "not_after",
            Box::new(|a| a.not_after = a.not_before.clone()),
        ),
        (
            "renew_after",
            Box::new(|a| a.renew_after = "2028-01-01T00:00:00Z".into()),
        ),
        (
            "instance_public_key",
            Box::new(|a| a.instance_public_key = "AAAA".into()),
        ),
        ("type", Box::new(|a| a.doc_type = "airlock-license".into())),
        ("label", Box::new(|a| a.label = "a\u{202e}b".into())),
    ];
    for (what, f) in cases {
        let mut a = good.clone();
        f(&mut a);
        let e = a.validate().unwrap_err();
        assert!(e.detail.contains(what), "{what}: {e}");
    }
    let mut r = request(&kit.instance);
    r.fingerprint_source = "mac-address".into();
    assert!(r.validate().is_err());
    let _ = ActivationError::Expired(Timestamp(0)).code();
}

fn token() -> runtime::activation::InstallToken {
    runtime::activation::InstallToken {
        doc_type: "airlock-install-token".into(),
        token_id: "ffeeddccbbaa99887766554433221100".into(),
        license_id: "lic-1".into(),
        lineage_id: LINEAGE.into(),
        product: PRODUCT.into(),
        workspace: "default".into(),
        allowance: 1,
        issued_at: "2026-11-22T00:00:00Z".into(),
        expires_at: "2026-11-23T00:00:00Z".into(),
    }
}

fn token_text(k: &SecretKey, tk: &runtime::activation::InstallToken) -> String {
    let canonical = tk.to_canonical();
    let envelope = match k.sign_document(Kind::InstallToken, &canonical) {
        Ok(e) => e,
        Err(_) => canon::Envelope::parse(&forge(k, Kind::InstallToken, &canonical)).unwrap(),
    };
    SignedFile {
        canonical,
        envelope,
    }
    .to_token()
}

#[test]
fn install_tokens_verify_only_from_a_trusted_activation_key() {
    use runtime::activation::verify_token;
    let kit = Kit::new();
    let store = kit.store();
    let v = verify_token(&store, &token_text(&kit.activation, &token())).unwrap();
    assert_eq!(v.value().token_id, token().token_id);
    // Another role's key, or the machine's own: refused by the trust file.
    let code = |text: &str| verify_token(&store, text).map(|_| ()).map_err(|e| e.code());
    assert_eq!(
        code(&token_text(&kit.license, &token())),
        Err(Check::KeyWrongRole)
    );
    assert_eq!(
        code(&token_text(&kit.instance, &token())),
        Err(Check::KeyUnknown)
    );
    // An edited token (more machines) fails its signature.
    let text = token_text(&kit.activation, &token());
    let f = SignedFile::from_token(&text).unwrap();
    let mut more = token();
    more.allowance = 1000;
    let edited = SignedFile {
        canonical: more.to_canonical(),
        envelope: f.envelope,
    }
    .to_token();
    assert_eq!(code(&edited), Err(Check::SignatureInvalid));
    // Schema: at most 72 hours, an allowance of 1 to 10,000, a 128-bit id.
    let mut long = token();
    long.expires_at = "2026-11-25T00:00:01Z".into();
    let mut none = token();
    none.allowance = 0;
    let mut short_id = token();
    short_id.token_id = "abc".into();
    for bad in [long, none, short_id] {
        assert_eq!(
            code(&token_text(&kit.activation, &bad)),
            Err(Check::SchemaInvalid)
        );
    }
    // Not a token at all.
    for junk in [
        "",
        "airlock-token:",
        "airlock-token:!!!",
        "hello",
        "airlock-token:e30=",
    ] {
        assert!(verify_token(&store, junk).is_err(), "{junk:?}");
    }
}

#[test]
fn a_request_may_omit_its_license_key_only_when_it_names_a_token() {
    let k = key(9, Role::Instance);
    let mut r = request(&k);
    r.license_key = String::new();
    assert!(r.validate().is_err(), "no key and no token");
    r.install_token_id = Some("ffeeddccbbaa99887766554433221100".into());
    assert!(r.validate().is_ok());
    r.install_token_id = Some("not-hex".into());
    assert!(r.validate().is_err());
    // Without a token the request's canonical form is unchanged (no member added).
    let plain = request(&k);
    assert!(!String::from_utf8(plain.to_canonical())
        .unwrap()
        .contains("install_token_id"));
}
