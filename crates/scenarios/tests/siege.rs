//! The activation service under attack from outsiders on the network: they know license ids
//! (file names, logs) but no key, come from many addresses (IPv4, an IPv6 /64) and hold
//! connections half-open. Each test plays the attack against the real `airlock-server` on the
//! loopback and checks the customer is still served.

use crate::activation::Site;
use crate::kit::{have_tool, ok};
use crate::online::{activate, agent, code, request, Service, DAY1};
use serde_json::{json, Value};
use std::time::Duration;

fn http(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// POSTs `body` as a client at `from` (the service runs `--behind-proxy`).
fn post_from(url: &str, body: &Value, from: &str) -> (u16, Value) {
    let mut r = http(Duration::from_secs(30))
        .post(url)
        .header("content-type", "application/json")
        .header("x-forwarded-for", from)
        .send(serde_json::to_vec(body).unwrap().as_slice())
        .unwrap();
    let st = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (
        st,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A request an outsider makes for the customer's license id: its own instance key, a license
/// file copied with a guessed key.
fn forged_request(s: &Site, who: &str, license_id: Option<&str>) -> Value {
    let dir = s.c.join(format!("forged-{who}"));
    crate::kit::copy(&s.c.join("lic"), &dir);
    let p = dir.join("license.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["license_key"] = json!("2222-3333-4444-5555");
    if let Some(id) = license_id {
        v["license_id"] = json!(id);
    }
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let out = format!("req-{who}.json");
    ok(s.on(
        who,
        DAY1,
        "airlock-agent",
        &[
            "request",
            "--license",
            &format!("forged-{who}"),
            "--state",
            &format!("state-{who}"),
            "--out",
            &out,
            "--force",
        ],
    ));
    serde_json::from_slice(&std::fs::read(s.c.join(out)).unwrap()).unwrap()
}

/// `req` (a request file's JSON) made keyless (no license key, as a token activation's) and
/// signed again by `who`'s own instance key: what an outsider can send without any token.
fn keyless(s: &Site, who: &str, req: &Value) -> Value {
    use runtime::Artifact;
    let bytes = serde_json::to_vec(req).unwrap();
    let f = runtime::activation::SignedFile::parse("activation request", &bytes).unwrap();
    let (mut r, _, _) = runtime::activation::ActivationRequest::parse(&f.canonical).unwrap();
    r.license_key = String::new();
    r.install_token_id = Some("0123456789abcdef0123456789abcdef".into());
    let key =
        signing::SecretKey::load(&s.c.join(format!("state-{who}/agent/instance.key"))).unwrap();
    let canonical = r.to_canonical();
    let envelope = key
        .sign_document(canon::Kind::ActivationRequest, &canonical)
        .unwrap();
    let out = runtime::activation::SignedFile {
        canonical,
        envelope,
    };
    serde_json::from_slice(&out.to_bytes()).unwrap()
}

/// An outsider who knows the license id sends a burst of activations from many addresses: each
/// is refused as an unknown license (the same answer as a license id that does not exist), and
/// none is charged to the license, so the customer's own activation right after is answered.
/// (Before: six requests spent the per-license budget and the customer got 429.) Then the
/// per-address limit keys IPv6 by /64: addresses of one /64 share it, another /64 does not.
/// (Before: each IPv6 address had a budget of its own.)
#[test]
fn outsiders_spend_no_license_budget_and_a_64_is_one_client() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(3);
    let svc = Service::start(
        &s,
        DAY1,
        &["--behind-proxy", "--address-rate", "600/min,burst=4"],
    );
    let url = format!("{}/v1/activations", svc.url);
    let forged = forged_request(&s, "outsider", None);
    let mut wrong_key = Value::Null;
    for i in 0..12 {
        let (st, v) = post_from(&url, &json!({ "request": forged }), &format!("192.0.2.{i}"));
        assert_eq!((st, code(&v)), (404, "LICENSE_NOT_FOUND"), "{v}");
        wrong_key = v;
    }
    // A license id that does not exist gets the same answer: no oracle for ids.
    let other = "lic-0123456789abcdef";
    let unknown = forged_request(&s, "prober", Some(other));
    let (st, v) = post_from(&url, &json!({ "request": unknown }), "192.0.2.200");
    assert_eq!((st, code(&v)), (404, "LICENSE_NOT_FOUND"), "{v}");
    assert_eq!(
        v["error"]["message"].as_str().unwrap().replace(other, "ID"),
        wrong_key["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&s.license_id, "ID")
    );
    // Keyless requests (what a token install sends) without a token: refused before any
    // per-license limiter, so the customer's token install is not locked out.
    let bare = keyless(&s, "outsider", &forged);
    for i in 0..12 {
        let (st, v) = post_from(&url, &json!({ "request": bare }), &format!("192.0.2.{i}"));
        assert_eq!((st, code(&v)), (404, "LICENSE_NOT_FOUND"), "{v}");
    }
    let token = ok(s.factory(
        DAY1,
        &[
            "token",
            "create",
            "--license",
            &s.license_id,
            "--ttl",
            "1h",
            "--key",
            "keys/activation.key",
        ],
    ));
    let o = agent(
        &s,
        "m-token",
        DAY1,
        &[
            "activate",
            "--server",
            &svc.url,
            "--license",
            "lic-token",
            "--token",
            token.trim(),
            "--root",
            "root.pub",
        ],
    );
    ok(o);
    let real = request(&s, "m1", DAY1);
    let (st, v) = post_from(&url, &json!({ "request": real }), "198.51.100.7");
    assert_eq!(st, 201, "{v}");
    // IPv6 by /64: four requests from four addresses of one /64 use its burst of 4.
    for i in 1..=4 {
        let (st, _) = post_from(&url, &json!({}), &format!("2001:db8:1:2::{i}"));
        assert_eq!(st, 400);
    }
    let (st, v) = post_from(&url, &json!({}), "2001:db8:1:2:ffff::99");
    assert_eq!((st, code(&v)), (429, "RATE_LIMITED"), "{v}");
    let (st, _) = post_from(&url, &json!({}), "2001:db8:1:3::1");
    assert_eq!(st, 400, "another /64 is another client");
}

/// 1,100 connections held half-open (headers never finished) from one address, against a
/// service limited to 1,024 descriptors as a default systemd unit is: the caps close what is
/// over the per-address cap at once, the header timeout closes the rest, and meanwhile
/// `/healthz` and a machine's renewal from another address keep answering. (Before: no cap
/// and no header timeout; the descriptors ran out and the service answered nobody.)
#[test]
fn half_open_connections_do_not_take_the_service_down() {
    if !have_tool("faketime") || !have_tool("prlimit") {
        return;
    }
    let s = Site::new(1);
    let svc = Service::start_under(
        &s,
        DAY1,
        &["--header-timeout", "3"],
        &["prlimit", "--nofile=1024:1024", "--"],
    );
    ok(activate(&s, "m1", DAY1, &svc.url, &[]));
    let addr: std::net::SocketAddr = svc.url.trim_start_matches("http://").parse().unwrap();
    let from: std::net::SocketAddr = "127.0.0.2:0".parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..1100 {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&from.into()).unwrap();
        if sock
            .connect_timeout(&addr.into(), Duration::from_secs(5))
            .is_ok()
        {
            let _ = std::io::Write::write_all(
                &mut &sock,
                b"POST /v1/activations HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n",
            );
        }
        held.push(sock);
    }
    let (st, _) = {
        let mut r = http(Duration::from_secs(10))
            .get(format!("{}/healthz", svc.url))
            .call()
            .expect("healthz answers while 1,100 connections are held");
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    assert_eq!(st, 200);
    ok(agent(&s, "m1", DAY1, &["run", "--once", "--force"]));
    // The half-open ones are closed by the header timeout (3 s): the service holds none of them.
    std::thread::sleep(Duration::from_secs(5));
    let mut r = http(Duration::from_secs(10))
        .get(format!("{}/metrics", svc.url))
        .header("authorization", format!("Bearer {}", "x".repeat(40)))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.body_mut().read_to_string().unwrap();
    let open: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("airlock_connections_open "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(open <= 2, "{open} connections still open:\n{text}");
    let refused: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("airlock_connections_refused_total "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(refused >= 500, "{refused} refused at accept");
    drop(held);
}

/// The admin credential is a secret like a key file: the service refuses to start on a file
/// its group or others may read. (Before: accepted world-readable.)
#[test]
fn a_readable_admin_credential_is_refused_like_a_key() {
    let s = Site::new(1);
    let cred = s.v.join("admin-open");
    std::fs::write(&cred, "y".repeat(40)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = std::process::Command::new(testkit::bin("airlock-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--db",
            &crate::kit::db_of(&s.v),
            "--key",
            "keys/activation.key",
            "--trust",
            "trust.json",
            "--admin-token-file",
            "admin-open",
        ])
        .current_dir(&s.v)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("admin-open") && err.contains("chmod 600"),
        "{err}"
    );
}

/// Behind a reverse proxy every connection comes from the proxy's address: the per-address
/// connection cap would throttle every client together, so it does not apply there (the
/// global cap does). Three connections held from one address, cap 2: `/healthz` still answers.
#[test]
fn behind_a_proxy_the_per_address_connection_cap_does_not_apply() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(1);
    let svc = Service::start(
        &s,
        DAY1,
        &["--behind-proxy", "--max-connections-per-address", "2"],
    );
    let addr = svc.url.trim_start_matches("http://").to_string();
    let held: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let mut r = http(Duration::from_secs(10))
        .get(format!("{}/healthz", svc.url))
        .call()
        .expect("healthz answers through the proxy's address");
    assert_eq!(r.status().as_u16(), 200);
    let _ = r.body_mut().read_to_string();
    drop(held);
}
