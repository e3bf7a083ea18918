//! A seat server run as operators run it, through the real binaries: activated online (its
//! pool lease renewed by `airlock-agent run` stays a pool lease), served over TLS with a
//! private CA, and a node whose holder process is killed with `kill -9` (its seat is not
//! released; it frees itself when the node lease ends).

use crate::floating::{seat_server_site, start_seatd_with};
use crate::kit::*;
use crate::online::Service;
use serde_json::Value;

const NOW: &str = "2026-11-23T10:00:00Z";

fn lease_of(s: &crate::activation::Site, state: &str) -> Value {
    serde_json::from_slice(
        &std::fs::read(s.c.join(format!("{state}/activation/gateway/activation.json"))).unwrap(),
    )
    .unwrap()
}

#[test]
fn a_seat_server_activated_online_stays_a_pool_through_renewals_and_serves_over_tls() {
    if !have_tool("faketime") || !have_tool("openssl") {
        return;
    }
    let s = seat_server_site(NOW, r#"{"seats": 2, "node_lease_minutes": 15}"#);
    let svc = Service::start(&s, NOW, &[]);
    let agent = |now: &str, args: &[&str]| s.on("seatd2", now, "airlock-agent", args);
    ok(agent(
        NOW,
        &[
            "activate",
            "--server",
            &svc.url,
            "--license",
            "lic-float",
            "--state",
            "state-seatd2",
            "--trust",
            "trust.json",
            "--root",
            "root.pub",
            "--pool",
        ],
    ));
    assert!(lease_of(&s, "state-seatd2")["pool"].is_object());
    // Renewed by the agent's loop: still a pool lease (a renewal asked as a machine's would
    // have left it without its pool, and the seat server would not start).
    let later = NOW;
    ok(agent(
        later,
        &[
            "run",
            "--once",
            "--force",
            "--state",
            "state-seatd2",
            "--trust",
            "trust.json",
        ],
    ));
    let renewed = lease_of(&s, "state-seatd2");
    assert!(renewed["pool"].is_object(), "{renewed}");
    assert!(renewed["sequence"].as_u64() > Some(1), "{renewed}");
    drop(svc);

    // Served over TLS with a private CA: nodes and the administrator pass --ca.
    crate::online::tls_files(&s.c);
    std::fs::write(
        s.c.join("admin.cred"),
        "tls-seat-admin-credential-0123456789abcdef",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        s.c.join("admin.cred"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let server = start_seatd_with(
        &s,
        later,
        "seatd2",
        &[
            "--state",
            "state-seatd2",
            "--tls-cert",
            "server.pem",
            "--tls-key",
            "server.key",
            "--admin-credential",
            "admin.cred",
        ],
    )
    .unwrap();
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let claim = |extra: &[&str]| {
        let args = [&["--json"][..], extra].concat();
        crate::floating::node_run(&s, ("n1", later), "claim", &server.url, &args)
    };
    // Without the CA: not trusted, nothing claimed.
    let o = claim(&[]);
    assert_eq!(o.status.code(), Some(4), "{}", testkit::run::show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--ca"));
    let v: Value = serde_json::from_slice(&claim(&["--ca", "ca.pem"]).stdout).unwrap();
    assert_eq!(v["new_seat"], true, "{v}");
    let o = s.on(
        "seatd2",
        later,
        "airlock-seatd",
        &[
            "admin",
            "--server",
            &server.url,
            "--credential",
            "admin.cred",
            "--ca",
            "ca.pem",
            "--json",
            "seats",
        ],
    );
    let seats: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(seats["in_use"], 1, "{seats}");
}

#[test]
fn a_node_killed_with_kill_9_holds_its_seat_only_until_its_lease_ends() {
    use crate::floating_pool::{holder, in_use, line_with};
    let Some((s, server, lib)) = crate::floating_pool::one_seat_pool() else {
        return;
    };
    let (mut h, out) = holder(&s, &server.url, "h1", &lib);
    assert!(line_with(&out, "floating seat").starts_with("claimed"));
    // Killed: no release reaches the server; the seat stays held, the pool full.
    h.kill().unwrap();
    h.wait().unwrap();
    assert_eq!(in_use(&server), 1);
    fails(
        crate::floating::claim_at(&s, &server.url, "n2", NOW),
        4,
        "POOL_FULL",
    );
    drop(server);
    // Two minutes on, its one-minute lease has ended: the seat is the next node's, and the
    // killed node's product stops.
    let after = "2026-11-23T10:02:00Z";
    let server = start_seatd_with(&s, after, "seatd", &["--lease-minutes", "1"]).unwrap();
    let v: Value =
        serde_json::from_slice(&crate::floating::claim_at(&s, &server.url, "n2", after).stdout)
            .unwrap();
    assert_eq!(v["new_seat"], true, "{v}");
    let o = s.on(
        "h1",
        after,
        "example-product",
        &[
            "--trust",
            "trust.json",
            "--license",
            "lic-float",
            "--state",
            "state-h1",
            "--root",
            "root.pub",
            "--feature",
            "gate",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", testkit::run::show(&o));
}
