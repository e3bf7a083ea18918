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
        components: Default::default(),
        match_policy: None,
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

/// A running `airlock-seatd`; killed when dropped.
pub(crate) struct SeatServer {
    pub(crate) child: std::process::Child,
    pub(crate) url: String,
}

impl Drop for SeatServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A site with a license whose professional tier floats on `terms` (`lic-float`), and a seat
/// server machine (`state-seatd`) activated for it with a pool lease at `now`.
pub(crate) fn seat_server_site(now: &str, terms: &str) -> Site {
    let s = Site::new(2);
    // A catalog whose professional tier floats on `terms`.
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json");
    let text = std::fs::read_to_string(fixture).unwrap().replacen(
        r#""activation": {"required": true, "device_limit": 1}"#,
        r#""activation": {"required": true, "device_limit": 1}, "floating": TERMS"#,
        1,
    );
    std::fs::write(s.v.join("float.json"), text.replace("TERMS", terms)).unwrap();
    ok(s.factory(
        crate::activation::DAY0,
        &[
            "issue",
            "--tier",
            "professional",
            "--customer",
            "Globex",
            "--customer-id",
            "globex",
            "--additional",
            "--product",
            "gateway",
            "--expires",
            "2027-06-01",
            "--device-limit",
            "2",
            "--key",
            "keys/license.key",
            "--out",
            "lic-float",
            "--catalog",
            "float.json",
        ],
    ));
    s.carry("lic-float", "lic-float");
    // The seat server is activated like a machine, asking for a pool lease.
    ok(s.on(
        "seatd",
        now,
        "airlock-agent",
        &[
            "request",
            "--license",
            "lic-float",
            "--state",
            "state-seatd",
            "--out",
            "req-seatd.json",
            "--pool",
        ],
    ));
    s.carry_back("req-seatd.json");
    ok(s.factory(
        now,
        &[
            "activation",
            "fulfill",
            "req-seatd.json",
            "--key",
            "keys/activation.key",
            "--out",
            "act-seatd",
        ],
    ));
    s.carry("act-seatd", "act-seatd");
    ok(s.on(
        "seatd",
        now,
        "airlock-agent",
        &[
            "install",
            "act-seatd",
            "--trust",
            "trust.json",
            "--root",
            "root.pub",
            "--state",
            "state-seatd",
        ],
    ));
    s
}

/// Starts `airlock-seatd` over `state-seatd` as machine `machine` with its clock at `now`; the
/// process's output when it exits before listening.
pub(crate) fn start_seatd(
    s: &Site,
    now: &str,
    machine: &str,
) -> Result<SeatServer, std::process::Output> {
    start_seatd_with(s, now, machine, &[])
}

/// [`start_seatd`] with more options (`--admin-credential`, `--db`, ...).
pub(crate) fn start_seatd_with(
    s: &Site,
    now: &str,
    machine: &str,
    extra: &[&str],
) -> Result<SeatServer, std::process::Output> {
    start_seatd_as(s, now, extra, |c| {
        c.env("AIRLOCK_INSTANCE_ID", machine);
    })
}

/// [`start_seatd_with`] on a machine `machine` sets up (its environment: an instance id, or
/// the system files it shows).
pub(crate) fn start_seatd_as(
    s: &Site,
    now: &str,
    extra: &[&str],
    machine: impl FnOnce(&mut std::process::Command),
) -> Result<SeatServer, std::process::Output> {
    use std::io::BufRead;
    // `--state` in `extra` names another seat server's state directory.
    let state = if extra.contains(&"--state") {
        &[][..]
    } else {
        &["--state", "state-seatd"][..]
    };
    let mut cmd = std::process::Command::new(bin("airlock-seatd"));
    machine(&mut cmd);
    let mut child = cmd
        .arg("serve")
        .args(state)
        .args([
            "--trust",
            "trust.json",
            "--root",
            "root.pub",
            "--license",
            "lic-float",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .current_dir(&s.c)
        .env("AIRLOCK_NOW", now)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    match line.split_whitespace().find(|w| w.starts_with("http")) {
        Some(url) => Ok(SeatServer {
            url: url.to_string(),
            child,
        }),
        None => Err(child.wait_with_output().unwrap()),
    }
}

#[test]
fn a_seat_server_leases_its_pool_to_nodes_and_a_released_seat_goes_to_the_next() {
    if !have_tool("faketime") {
        return;
    }
    let now = "2026-11-23T10:00:00Z";
    let s = seat_server_site(now, r#"{"seats": 2, "node_lease_minutes": 15}"#);
    let server = start_seatd(&s, now, "seatd").unwrap();
    let claim = |node: &str| node_run(&s, (node, now), "claim", &server.url, &["--json"]);
    let product = |node: &str| {
        let state = format!("state-{node}");
        s.on(
            node,
            now,
            "example-product",
            &[
                "--trust",
                "trust.json",
                "--license",
                "lic-float",
                "--state",
                &state,
                "--root",
                "root.pub",
                "--feature",
                "gate",
            ],
        )
    };
    // An outsider on the network, with its own key and the lineage id a node's files show but
    // not the license's key, gets no seat.
    let (st, _, e) = crate::online::post(
        &format!("{}/v1/nodes/claim", server.url),
        &serde_json::json!({"request": own_request(&s, now, "ABCD-EFGH-JKMN-PQRS")}),
        None,
    );
    assert_eq!(
        (st, crate::online::code(&e)),
        (404, "LICENSE_NOT_FOUND"),
        "{e}"
    );
    // A borrow that is not a whole number of seconds is refused, not taken as no borrow.
    let lic: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.c.join("lic-float/license.json")).unwrap())
            .unwrap();
    let key = lic["license_key"].as_str().unwrap();
    for borrow in [
        serde_json::json!("48h"),
        serde_json::json!(-1),
        serde_json::json!(1.5),
    ] {
        let (st, _, e) = crate::online::post(
            &format!("{}/v1/nodes/claim", server.url),
            &serde_json::json!({"request": own_request(&s, now, key), "borrow_seconds": borrow}),
            None,
        );
        assert_eq!(
            (st, crate::online::code(&e)),
            (400, "BAD_REQUEST"),
            "{borrow}: {e}"
        );
    }
    ok(claim("n1"));
    ok(claim("n2"));
    // The same node again: the same seat, renewed.
    let again: serde_json::Value = serde_json::from_slice(&claim("n1").stdout).unwrap();
    assert_eq!(again["new_seat"], false, "{again}");
    fails(claim("n3"), 4, "POOL_FULL");
    // A node's request is the credential of one call: minutes old at most, never ahead (nodes
    // whose clocks are off, n4 and n5, so that no other node's state sees those clocks).
    let (ahead, behind) = ("2026-11-23T10:10:00Z", "2026-11-23T09:50:00Z");
    fails(
        claim_at(&s, &server.url, "n5", ahead),
        1,
        "REQUEST_FROM_FUTURE",
    );
    fails(claim_at(&s, &server.url, "n4", behind), 1, "REQUEST_STALE");
    let p = product("n1");
    assert_eq!(p.status.code(), Some(0), "{}", testkit::run::show(&p));
    assert!(String::from_utf8_lossy(&p.stdout).contains("floating seat"));
    assert_eq!(product("n3").status.code(), Some(3));
    // n1 gives its seat back; n3 takes it.
    ok(node_run(&s, ("n1", now), "release", &server.url, &[]));
    assert_eq!(product("n1").status.code(), Some(3));
    ok(claim("n3"));
    assert_eq!(product("n3").status.code(), Some(0));
    let (st, _, h) = crate::online::get(&format!("{}/healthz", server.url), None);
    assert_eq!(st, 200);
    assert_eq!(
        (h["seats"].as_u64(), h["in_use"].as_u64()),
        (Some(2), Some(2)),
        "{h}"
    );
    assert!(h["log_entries"].as_u64().unwrap() >= 5, "{h}");

    // The server killed with kill -9 and started again: no seat lost, none duplicated.
    drop(server);
    let server = start_seatd(&s, now, "seatd").unwrap();
    let again: serde_json::Value =
        serde_json::from_slice(&claim_at(&s, &server.url, "n3", now).stdout).unwrap();
    assert_eq!(again["new_seat"], false, "{again}");
    fails(claim_at(&s, &server.url, "n1", now), 4, "POOL_FULL");
    drop(server);
    // Its clock set back behind what it signed: it leases nothing; the nodes keep their leases.
    let later = "2026-11-23T10:05:00Z";
    let server = start_seatd(&s, later, "seatd").unwrap();
    ok(claim_at(&s, &server.url, "n3", later));
    drop(server);
    let server = start_seatd(&s, now, "seatd").unwrap();
    fails(claim_at(&s, &server.url, "n2", now), 4, "SERVER_CLOCK_BACK");
    assert_eq!(product("n2").status.code(), Some(0));
    drop(server);
    // Set back behind what its state directory saw: it does not start.
    let before = start_seatd(&s, "2026-11-23T09:00:00Z", "seatd")
        .err()
        .expect("refused");
    assert_eq!(
        before.status.code(),
        Some(1),
        "{}",
        testkit::run::show(&before)
    );
    assert!(String::from_utf8_lossy(&before.stderr).contains("tamper_suspected"));
    // Its state directory copied onto another machine: the pool lease is not this machine's.
    let copied = start_seatd(&s, now, "another-host").err().expect("refused");
    assert_eq!(
        copied.status.code(),
        Some(2),
        "{}",
        testkit::run::show(&copied)
    );
    assert!(
        String::from_utf8_lossy(&copied.stderr).contains("another machine"),
        "{}",
        testkit::run::show(&copied)
    );
}

/// `airlock-agent CMD --seat-server URL` as node `node` of the site at `now`: its own state
/// directory (`state-NODE`), the site's license, trust and root, then `extra`.
pub(crate) fn node_run(
    s: &Site,
    (node, now): (&str, &str),
    cmd: &str,
    url: &str,
    extra: &[&str],
) -> std::process::Output {
    let state = format!("state-{node}");
    let mut args = vec![
        cmd,
        "--seat-server",
        url,
        "--license",
        "lic-float",
        "--state",
        &state,
        "--trust",
        "trust.json",
        "--root",
        "root.pub",
    ];
    args.extend_from_slice(extra);
    s.on(node, now, "airlock-agent", &args)
}

/// `airlock-agent claim` on `node` against the seat server at `url`.
pub(crate) fn claim_at(s: &Site, url: &str, node: &str, now: &str) -> std::process::Output {
    node_run(s, (node, now), "claim", url, &["--json"])
}

#[test]
fn a_node_borrows_a_seat_to_leave_the_network_and_returns_it_early() {
    if !have_tool("faketime") {
        return;
    }
    let now = "2026-11-23T10:00:00Z";
    let s = seat_server_site(
        now,
        r#"{"seats": 1, "node_lease_minutes": 15, "borrow_hours": 72}"#,
    );
    let server = start_seatd(&s, now, "seatd").unwrap();
    let claim = |node: &str, extra: &[&str]| {
        let args = [&["--json"][..], extra].concat();
        node_run(&s, (node, now), "claim", &server.url, &args)
    };
    // Longer than the pool allows: refused, nothing held.
    fails(claim("n1", &["--borrow-hours", "100"]), 1, "BAD_REQUEST");
    let o = claim("n1", &["--borrow-hours", "48"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["borrowed"], true, "{v}");
    let product = |node: &str, at: &str| {
        let state = format!("state-{node}");
        s.on(
            node,
            at,
            "example-product",
            &[
                "--trust",
                "trust.json",
                "--license",
                "lic-float",
                "--state",
                &state,
                "--root",
                "root.pub",
                "--feature",
                "gate",
            ],
        )
    };
    let release = |node: &str, cmd: &str| node_run(&s, (node, now), cmd, &server.url, &[]);
    // The borrowed seat counts against the pool until it is returned early.
    fails(claim("n2", &[]), 4, "POOL_FULL");
    ok(release("n1", "return"));
    ok(claim("n2", &[]));
    ok(release("n2", "release"));
    // Two days later, away from the network, the product still runs on a borrowed seat; after
    // the borrow it stops (`borrow` is `claim --borrow-hours`).
    ok(node_run(
        &s,
        ("n3", now),
        "borrow",
        &server.url,
        &["--hours", "48"],
    ));
    assert_eq!(product("n3", "2026-11-25T09:00:00Z").status.code(), Some(0));
    assert_eq!(product("n3", "2026-11-25T11:00:00Z").status.code(), Some(3));
}

/// A claim request signed with a key of its own, not an agent's: the pool's product and
/// lineage, and `license_key` (an outsider makes one up).
fn own_request(s: &Site, now: &str, license_key: &str) -> serde_json::Value {
    let lic: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.c.join("lic-float/license.json")).unwrap())
            .unwrap();
    let key = signing::SecretKey::generate("outsider", canon::Role::Instance, canon::Timestamp(0))
        .unwrap();
    let req = runtime::activation::ActivationRequest {
        doc_type: "airlock-activation-request".into(),
        request_id: "0f0e0d0c0b0a09080706050403020100".into(),
        license_id: lic["license_id"].as_str().unwrap().into(),
        license_key: license_key.into(),
        lineage_id: lic["lineage_id"].as_str().unwrap().into(),
        product: "gateway".into(),
        workspace: "default".into(),
        fingerprint: runtime::fingerprint::derive(b"outsider", "gateway"),
        fingerprint_source: "instance-id".into(),
        instance_public_key: enc::b64(&key.public_key()),
        label: String::new(),
        created_at: now.into(),
        install_token_id: None,
        encryption_public_key: None,
        builds: Vec::new(),
        pool: false,
        components: Default::default(),
        environment: None,
    };
    let canonical = req.to_canonical();
    let file = SignedFile {
        envelope: key
            .sign_document(Kind::ActivationRequest, &canonical)
            .unwrap(),
        canonical,
    };
    serde_json::from_slice(&file.to_bytes()).unwrap()
}
