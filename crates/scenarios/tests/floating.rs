//! Floating seats on a node (issue 25, so far): the files a seat server hands a node (its pool
//! lease as the vendor signed it, and a node lease it signed) verified by the real
//! `runtime-verify activation` and the example product, on the node and on another machine.
//! (The seat server itself comes next; here the test signs as it will.)

use crate::activation::Site;
use crate::kit::*;
use canon::{enc, Kind};
use runtime::activation::{Activation, SignedFile};
use runtime::format_floating::{NodeLease, PoolTerms};
use runtime::Artifact;

const NOW: &str = "2026-11-30T10:05:00Z";

#[test]
fn a_node_seat_is_verified_through_the_vendors_chain() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(2);
    let lic: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.c.join("lic/license.json")).unwrap()).unwrap();
    let activation_key = signing::SecretKey::load(&s.v.join("keys/activation.key")).unwrap();
    let server =
        signing::SecretKey::generate("seatd", canon::Role::Instance, canon::Timestamp(0)).unwrap();
    let pool = Activation {
        doc_type: "airlock-activation".into(),
        activation_id: "act-0123456789abcdef".into(),
        request_id: "0123456789abcdef0123456789abcdef".into(),
        license_id: lic["license_id"].as_str().unwrap().into(),
        lineage_id: lic["lineage_id"].as_str().unwrap().into(),
        product: "gateway".into(),
        customer_id: lic["customer"]["id"].as_str().unwrap().into(),
        workspace: "default".into(),
        fingerprint: runtime::fingerprint::derive(b"seat-server", "gateway"),
        instance_public_key: enc::b64(&server.public_key()),
        label: "seatd".into(),
        device_limit: 2,
        overage: false,
        epoch: 1,
        sequence: 1,
        issued_at: "2026-11-29T00:00:00Z".into(),
        not_before: "2026-11-29T00:00:00Z".into(),
        not_after: "2026-12-29T00:00:00Z".into(),
        renew_after: "2026-12-20T00:00:00Z".into(),
        encryption_public_key: None,
        grants: Vec::new(),
        pool: Some(PoolTerms {
            seats: 10,
            max_node_lease_seconds: 900,
            max_borrow_seconds: 0,
        }),
    };
    let node_key =
        signing::SecretKey::generate("node", canon::Role::Instance, canon::Timestamp(0)).unwrap();
    let node = NodeLease {
        doc_type: "airlock-node-lease".into(),
        node_lease_id: "00112233445566778899aabbccddeeff".into(),
        pool_activation_id: pool.activation_id.clone(),
        lineage_id: pool.lineage_id.clone(),
        product: "gateway".into(),
        node_fingerprint: runtime::fingerprint::derive(b"node-1", "gateway"),
        node_public_key: enc::b64(&node_key.public_key()),
        server_public_key: enc::b64(&server.public_key()),
        server_sequence: 3,
        server_time: "2026-11-30T10:00:00Z".into(),
        issued_at: "2026-11-30T10:00:00Z".into(),
        not_after: "2026-11-30T10:15:00Z".into(),
        borrowed: false,
    };
    let install = |machine: &str| {
        let dir = s.c.join(format!("state-{machine}/activation/gateway"));
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            s.c.join(format!("state-{machine}")),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        let doc = pool.to_canonical();
        std::fs::write(dir.join("pool.json"), &doc).unwrap();
        let sig = activation_key
            .sign_document(Kind::Activation, &doc)
            .unwrap();
        std::fs::write(dir.join("pool.sig"), sig.to_bytes()).unwrap();
        let canonical = node.to_canonical();
        let file = SignedFile {
            envelope: server.sign_document(Kind::NodeLease, &canonical).unwrap(),
            canonical,
        };
        std::fs::write(dir.join("node-lease.json"), file.to_bytes()).unwrap();
    };
    install("node-1");
    let (code, v) = s.verify("node-1", NOW, &["--root", "root.pub"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["activations"][0]["kind"], "node", "{v}");
    assert_eq!(v["activations"][0]["server_sequence"], 3);
    let (code, text) = s.product("node-1", NOW);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("floating seat"), "{text}");
    // The same files copied onto another machine: refused, and the product stops.
    install("node-2");
    let (code, v) = s.verify("node-2", NOW, &["--root", "root.pub"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["activations"][0]["check"], "node_other_machine", "{v}");
    let (code, text) = s.product("node-2", NOW);
    assert_eq!(code, 3, "{text}");
    // After the node lease ended: lease_expired until the seat server renews it.
    let (code, text) = s.product("node-1", "2026-11-30T10:20:00Z");
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("lease_expired") || text.contains("node_lease_expired"),
        "{text}"
    );
}
