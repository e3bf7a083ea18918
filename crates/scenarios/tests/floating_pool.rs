//! A seat server's pool under load and under its administrator, through the real binaries:
//! nodes racing for seats, many nodes claiming and renewing, a node killed, the server killed
//! with `kill -9`, force release, reservations for a group, the lease log exported, and the
//! node's own loop (`airlock-agent run --seat-server`) holding and releasing its seat.

use crate::floating::{claim_at, seat_server_site, start_seatd, start_seatd_with, SeatServer};
use crate::kit::*;
use serde_json::Value;

const NOW: &str = "2026-11-23T10:00:00Z";

/// `airlock-agent CMD --json` on `node` at `now` against the seat server at `url`, with `extra`.
fn node_cmd(
    s: &crate::activation::Site,
    url: &str,
    (node, now): (&str, &str),
    cmd: &str,
    extra: &[&str],
) -> std::process::Output {
    let args = [&["--json"][..], extra].concat();
    crate::floating::node_run(s, (node, now), cmd, url, &args)
}

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", testkit::run::show(o)))
}

/// The seats a server holds, from its health check.
pub(crate) fn in_use(server: &SeatServer) -> u64 {
    let (st, _, h) = crate::online::get(&format!("{}/healthz", server.url), None);
    assert_eq!(st, 200, "{h}");
    h["in_use"].as_u64().unwrap()
}

#[test]
fn fifty_nodes_race_for_ten_seats_and_a_killed_server_loses_and_duplicates_nothing() {
    if !have_tool("faketime") {
        return;
    }
    let s = seat_server_site(NOW, r#"{"seats": 10, "node_lease_minutes": 15}"#);
    let server = start_seatd(&s, NOW, "seatd").unwrap();
    // Fifty processes at once, each a node with its own machine and instance key.
    let outs: Vec<(String, std::process::Output)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..50)
            .map(|i| {
                let (s, url) = (&s, &server.url);
                sc.spawn(move || {
                    let node = format!("r{i}");
                    let o = claim_at(s, url, &node, NOW);
                    (node, o)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let held: Vec<&String> = outs
        .iter()
        .filter(|(_, o)| o.status.code() == Some(0))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(held.len(), 10, "exactly ten hold a seat");
    for (_, o) in outs.iter().filter(|(_, o)| o.status.code() != Some(0)) {
        assert_eq!(o.status.code(), Some(4), "{}", testkit::run::show(o));
        assert_eq!(
            json_of(o)["check"],
            "POOL_FULL",
            "{}",
            testkit::run::show(o)
        );
    }
    assert_eq!(in_use(&server), 10);

    // The server killed with kill -9 mid-pool and started again: every holder renews the same
    // seat (none lost), and nobody else gets one (none duplicated).
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = start_seatd(&s, NOW, "seatd").unwrap();
    assert_eq!(in_use(&server), 10);
    for n in &held {
        let v = json_of(&claim_at(&s, &server.url, n, NOW));
        assert_eq!(v["new_seat"], false, "{n}: {v}");
    }
    let loser = outs
        .iter()
        .find(|(_, o)| o.status.code() != Some(0))
        .map(|(n, _)| n.clone())
        .unwrap();
    fails(claim_at(&s, &server.url, &loser, NOW), 4, "POOL_FULL");

    // A node killed (it never renews nor releases): its seat frees itself when its lease
    // ends, and the next node takes it; the others, renewed meanwhile, keep theirs.
    drop(server);
    let later = "2026-11-23T10:10:00Z";
    let server = start_seatd(&s, later, "seatd").unwrap();
    let (dead, alive) = held.split_first().unwrap();
    for n in alive {
        ok(claim_at(&s, &server.url, n, later));
    }
    fails(claim_at(&s, &server.url, &loser, later), 4, "POOL_FULL");
    drop(server);
    let after = "2026-11-23T10:16:00Z";
    let server = start_seatd(&s, after, "seatd").unwrap();
    let v = json_of(&claim_at(&s, &server.url, &loser, after));
    assert_eq!(v["new_seat"], true, "{v}");
    // The dead node, back, finds its seat gone and the pool full.
    fails(claim_at(&s, &server.url, dead, after), 4, "POOL_FULL");
    assert_eq!(in_use(&server), 10);
}

#[test]
fn two_hundred_nodes_claim_and_renew() {
    if !have_tool("faketime") {
        return;
    }
    let s = seat_server_site(NOW, r#"{"seats": 200, "node_lease_minutes": 15}"#);
    let server = start_seatd(&s, NOW, "seatd").unwrap();
    let run_all = |now: &'static str| -> Vec<Value> {
        std::thread::scope(|sc| {
            let hs: Vec<_> = (0..4)
                .map(|t| {
                    let (s, url) = (&s, &server.url);
                    sc.spawn(move || {
                        (0..50)
                            .map(|i| json_of(&claim_at(s, url, &format!("m{}", t * 50 + i), now)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        })
    };
    let first = run_all(NOW);
    assert!(first.iter().all(|v| v["new_seat"] == true), "{first:?}");
    let renewed = run_all(NOW);
    assert!(renewed.iter().all(|v| v["new_seat"] == false));
    // Each renewal is the same seat, and every lease carries its own server sequence.
    let mut ids: Vec<&str> = first
        .iter()
        .map(|v| v["node_lease_id"].as_str().unwrap())
        .collect();
    let mut again: Vec<&str> = renewed
        .iter()
        .map(|v| v["node_lease_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    again.sort_unstable();
    assert_eq!(ids, again);
    ids.dedup();
    assert_eq!(ids.len(), 200);
    let mut seqs: Vec<u64> = first
        .iter()
        .chain(&renewed)
        .map(|v| v["server_sequence"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 400, "one sequence per lease signed");
    assert_eq!(in_use(&server), 200);
    fails(claim_at(&s, &server.url, "m200", NOW), 4, "POOL_FULL");
}

/// A 40-character admin credential in `name` (0600).
fn credential(s: &crate::activation::Site, name: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let p = s.c.join(name);
    std::fs::write(&p, "c0ffee-seat-admin-credential-0123456789ab\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn an_administrator_sees_the_seats_frees_one_and_reserves_seats_for_a_group() {
    if !have_tool("faketime") {
        return;
    }
    let s = seat_server_site(
        NOW,
        r#"{"seats": 3, "node_lease_minutes": 15, "borrow_hours": 24}"#,
    );
    // A credential others may read is refused at start.
    credential(&s, "open.cred", 0o644);
    let refused = start_seatd_with(&s, NOW, "seatd", &["--admin-credential", "open.cred"])
        .err()
        .expect("refused");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("chmod 600"));
    credential(&s, "admin.cred", 0o600);
    let server = start_seatd_with(&s, NOW, "seatd", &["--admin-credential", "admin.cred"]).unwrap();
    let admin = |cred: &str, args: &[&str]| {
        let mut a = vec!["admin", "--server", &server.url, "--credential", cred];
        a.extend_from_slice(args);
        s.on("seatd", NOW, "airlock-seatd", &a)
    };
    let url = server.url.clone();
    let claim = |node: &str, extra: &[&str]| node_cmd(&s, &url, (node, NOW), "claim", extra);
    ok(claim("n1", &["--name", "build-1"]));
    let v = json_of(&node_cmd(
        &s,
        &url,
        ("n2", NOW),
        "borrow",
        &["--hours", "8", "--name", "laptop-2"],
    ));
    assert_eq!(v["borrowed"], true, "{v}");

    // Who holds what, since when: the names the nodes gave.
    let seats = json_of(&admin("admin.cred", &["--json", "seats"]));
    assert_eq!(seats["in_use"], 2, "{seats}");
    let held = seats["held"].as_array().unwrap();
    let by_name = |n: &str| held.iter().find(|h| h["node"] == n).cloned().unwrap();
    assert_eq!(by_name("build-1")["since"], NOW);
    assert_eq!(by_name("laptop-2")["borrowed"], true);
    let text = admin("admin.cred", &["seats"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("2 of 3 seats in use"));
    // Another credential, or none on the server: refused with their codes.
    credential(&s, "wrong.cred", 0o600);
    std::fs::write(
        s.c.join("wrong.cred"),
        "not-the-admin-credential-but-long-enough-0",
    )
    .unwrap();
    fails(admin("wrong.cred", &["--json", "seats"]), 1, "UNAUTHORIZED");
    let (st, _, e) = crate::online::get(&format!("{url}/v1/admin/seats"), None);
    assert_eq!((st, crate::online::code(&e)), (401, "UNAUTHORIZED"));

    // One seat reserved for the gpu group: the free seat is no outsider's.
    fails(
        admin(
            "admin.cred",
            &["--json", "reserve", "gpu", "--seats", "4", "--group", "gpu"],
        ),
        1,
        "BAD_REQUEST",
    );
    ok(admin(
        "admin.cred",
        &["reserve", "gpu", "--seats", "1", "--group", "gpu"],
    ));
    fails(claim("n3", &[]), 4, "POOL_FULL");
    ok(claim("n4", &["--group", "gpu", "--name", "gpu-4"]));
    // The borrowed seat is not the administrator's to free; the other is.
    let borrowed = by_name("laptop-2")["node_lease_id"]
        .as_str()
        .unwrap()
        .to_string();
    fails(
        admin("admin.cred", &["--json", "release", &borrowed]),
        1,
        "BAD_REQUEST",
    );
    let build = by_name("build-1")["node_lease_id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(admin(
        "admin.cred",
        &["release", &build, "--reason", "stuck build agent"],
    ));
    fails(
        admin("admin.cred", &["--json", "release", &build]),
        1,
        "ACTIVATION_NOT_FOUND",
    );
    ok(claim("n3", &[]));
    // The freed node, renewing, finds its seat given away.
    fails(claim("n1", &[]), 4, "POOL_FULL");
    ok(admin("admin.cred", &["unreserve", "gpu"]));
    fails(
        admin("admin.cred", &["--json", "unreserve", "gpu"]),
        1,
        "NOT_FOUND",
    );

    // The lease log, exported: every decision, chained.
    let log = json_of(&admin("admin.cred", &["log"]));
    let entries = log["entries"].as_array().unwrap();
    let events: Vec<&str> = entries
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for e in ["leased", "reserved", "force-released", "unreserved"] {
        assert!(events.contains(&e), "{e}: {events:?}");
    }
    for w in entries.windows(2) {
        assert_eq!(w[1]["prev"], w[0]["hash"]);
        assert_eq!(
            w[1]["seq"].as_i64().unwrap(),
            w[0]["seq"].as_i64().unwrap() + 1
        );
    }
    let tail = json_of(&admin("admin.cred", &["log", "--after", "3"]));
    assert_eq!(tail["entries"][0]["seq"], 4);

    // Metrics for Prometheus.
    let m = ureq::get(format!("{url}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(m.contains("airlock_seatd_seats_in_use 3"), "{m}");
    assert!(
        m.contains("airlock_seatd_claims_refused_total{code=\"POOL_FULL\"} 2"),
        "{m}"
    );
    if have_tool("promtool") {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.txt"), &m).unwrap();
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg("promtool check metrics < m.txt")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", testkit::run::show(&o));
    }

    // The records edited behind the server's back (a seat's log entry rewritten): it does not
    // start over them.
    drop(server);
    let db = rusqlite::Connection::open(s.c.join("state-seatd/seats.db")).unwrap();
    db.execute(
        "UPDATE log SET detail = 'fingerprint=forged' WHERE seq = 2",
        [],
    )
    .unwrap();
    drop(db);
    let o = start_seatd(&s, NOW, "seatd").err().expect("refused");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("log entry 2"),
        "{}",
        testkit::run::show(&o)
    );
}

#[test]
fn the_admin_api_is_off_without_a_credential() {
    if !have_tool("faketime") {
        return;
    }
    let s = seat_server_site(NOW, r#"{"seats": 1, "node_lease_minutes": 15}"#);
    let server = start_seatd(&s, NOW, "seatd").unwrap();
    let (st, _, e) =
        crate::online::get(&format!("{}/v1/admin/seats", server.url), Some("Bearer x"));
    assert_eq!((st, crate::online::code(&e)), (404, "ADMIN_DISABLED"));
}

/// A one-seat pool with one-minute node leases, its server answering `Retry-After: 1`, and the
/// libfaketime its holders run under (preloaded, so that a signal reaches the agent itself);
/// `None` outside CI without faketime.
pub(crate) fn one_seat_pool() -> Option<(crate::activation::Site, SeatServer, String)> {
    if !have_tool("faketime") {
        return None;
    }
    let lib = testkit::libfaketime()
        .expect("faketime is installed but libfaketime.so.1 is not where Debian puts it");
    let s = seat_server_site(NOW, r#"{"seats": 1, "node_lease_minutes": 1}"#);
    let server = start_seatd_with(
        &s,
        NOW,
        "seatd",
        &["--lease-minutes", "1", "--retry-seconds", "1"],
    )
    .unwrap();
    Some((s, server, lib))
}

/// `airlock-agent run --seat-server` on `node`, its clock starting at `NOW` and running; its
/// stdout lines come through the channel.
pub(crate) fn holder(
    s: &crate::activation::Site,
    url: &str,
    node: &str,
    lib: &str,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let state = format!("state-{node}");
    let mut child = std::process::Command::new(bin("airlock-agent"))
        .args([
            "run",
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
            "--name",
            node,
        ])
        .current_dir(&s.c)
        .env("LD_PRELOAD", lib)
        .env(
            "FAKETIME",
            format!("@{}", NOW.replace('T', " ").trim_end_matches('Z')),
        )
        .env("TZ", "UTC")
        .env("AIRLOCK_INSTANCE_ID", node)
        .env_remove("AIRLOCK_ROOT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The next line of a holder containing `want` (within a minute).
pub(crate) fn line_with(rx: &std::sync::mpsc::Receiver<String>, want: &str) -> String {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(want) => return l,
            Ok(_) => {}
            Err(e) => panic!("no line with {want:?}: {e}"),
        }
    }
}

fn terminate(child: &mut std::process::Child) -> Option<i32> {
    let pid = child.id().to_string();
    let o = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .output()
        .unwrap();
    assert!(o.status.success());
    child.wait().unwrap().code()
}

#[test]
fn a_node_holds_its_seat_with_run_waits_while_the_pool_is_full_and_releases_on_stop() {
    let Some((s, server, lib)) = crate::floating_pool::one_seat_pool() else {
        return;
    };
    let (mut a, a_out) = holder(&s, &server.url, "h1", &lib);
    let first = line_with(&a_out, "floating seat");
    assert!(first.starts_with("claimed"), "{first}");
    // The second node waits as the server says (Retry-After: 1), holding nothing.
    let (mut b, b_out) = holder(&s, &server.url, "h2", &lib);
    line_with(&b_out, "POOL_FULL");
    line_with(&b_out, "POOL_FULL");
    // The first node stopped: it releases its seat on the way out; the waiting node gets it.
    assert_eq!(terminate(&mut a), Some(0));
    line_with(&a_out, "seat released");
    let got = line_with(&b_out, "floating seat");
    assert!(got.starts_with("claimed"), "{got}");
    assert_eq!(in_use(&server), 1);
    // It keeps the seat alive: a renewal within the one-minute lease (at half of it).
    let renewed = line_with(&b_out, "floating seat");
    assert!(renewed.starts_with("renewed"), "{renewed}");
    assert_eq!(terminate(&mut b), Some(0));
    assert_eq!(in_use(&server), 0);
}

#[test]
fn two_seat_servers_on_one_postgresql_pool_never_exceed_it() {
    if !have_tool("faketime") || !testkit::pg::available() {
        return;
    }
    let pg = testkit::pg::Server::start();
    let db = pg.database();
    let s = seat_server_site(NOW, r#"{"seats": 10, "node_lease_minutes": 15}"#);
    // A second seat server machine, activated for the same license with its own pool lease.
    ok(s.on(
        "seatd2",
        NOW,
        "airlock-agent",
        &[
            "request",
            "--license",
            "lic-float",
            "--state",
            "state-seatd2",
            "--out",
            "req-seatd2.json",
            "--pool",
        ],
    ));
    s.carry_back("req-seatd2.json");
    ok(s.factory(
        NOW,
        &[
            "activation",
            "fulfill",
            "req-seatd2.json",
            "--key",
            "keys/activation.key",
            "--out",
            "act-seatd2",
        ],
    ));
    s.carry("act-seatd2", "act-seatd2");
    ok(s.on(
        "seatd2",
        NOW,
        "airlock-agent",
        &[
            "install",
            "act-seatd2",
            "--trust",
            "trust.json",
            "--root",
            "root.pub",
            "--state",
            "state-seatd2",
        ],
    ));
    let a = start_seatd_with(&s, NOW, "seatd", &["--db", &db]).unwrap();
    let b = start_seatd_with(&s, NOW, "seatd2", &["--state", "state-seatd2", "--db", &db]).unwrap();
    let (st, _, h) = crate::online::get(&format!("{}/healthz", b.url), None);
    assert_eq!((st, h["backend"].as_str()), (200, Some("postgres")), "{h}");
    // Thirty nodes race, half through each server.
    let outs: Vec<std::process::Output> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..30usize)
            .map(|i| {
                let s = &s;
                let url = if i.is_multiple_of(2) {
                    a.url.clone()
                } else {
                    b.url.clone()
                };
                sc.spawn(move || claim_at(s, &url, &format!("p{i}"), NOW))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<usize> = (0..30)
        .filter(|i| outs[*i].status.code() == Some(0))
        .collect();
    assert_eq!(won.len(), 10, "exactly the pool's ten, across both servers");
    assert!(outs
        .iter()
        .filter(|o| o.status.code() != Some(0))
        .all(|o| json_of(o)["check"] == "POOL_FULL"));
    assert_eq!((in_use(&a), in_use(&b)), (10, 10));
    // A seat taken through one server renews through the other (the same seat), and that
    // server signs it under its own pool lease.
    let w = won[0];
    let other = if w.is_multiple_of(2) { &b.url } else { &a.url };
    let v = json_of(&claim_at(&s, other, &format!("p{w}"), NOW));
    assert_eq!(v["new_seat"], false, "{v}");
    // One server gone: the other still serves the whole pool and no more.
    drop(a);
    fails(claim_at(&s, &b.url, "p99", NOW), 4, "POOL_FULL");
    assert_eq!(in_use(&b), 10);
}

/// `airlock-seatd export-log` of the server whose state is `state`, as machine `machine`.
fn export_log(
    s: &crate::activation::Site,
    state: &str,
    machine: &str,
    out: &str,
) -> std::process::Output {
    std::process::Command::new(bin("airlock-seatd"))
        .args([
            "export-log",
            "--state",
            state,
            "--trust",
            "trust.json",
            "--root",
            "root.pub",
            "--license",
            "lic-float",
            "--out",
            out,
        ])
        .current_dir(&s.c)
        .env("AIRLOCK_NOW", NOW)
        .env("AIRLOCK_INSTANCE_ID", machine)
        .output()
        .unwrap()
}

#[test]
fn a_copied_seat_server_leaves_two_chains_the_vendor_sees() {
    if !have_tool("faketime") {
        return;
    }
    let s = seat_server_site(NOW, r#"{"seats": 4, "node_lease_minutes": 15}"#);
    let server = start_seatd(&s, NOW, "seatd").unwrap();
    ok(claim_at(&s, &server.url, "n1", NOW));
    ok(claim_at(&s, &server.url, "n2", NOW));
    drop(server);
    ok(export_log(&s, "state-seatd", "seatd", "exp-a"));
    let check = |dirs: &[&str]| {
        let mut args = vec!["activation", "seat-logs", "--trust", "trust.json", "--json"];
        for d in dirs {
            let _ = std::fs::remove_dir_all(s.v.join(d));
            crate::kit::copy(&s.c.join(d), &s.v.join(d));
            args.push(d);
        }
        s.factory(NOW, &args)
    };
    let v = json_of(&check(&["exp-a"]));
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["lineages"][0]["entries"], 2, "{v}");
    // Exporting again is refused without --force (an export is never half-replaced).
    fails(
        export_log(&s, "state-seatd", "seatd", "exp-a"),
        2,
        "refusing to overwrite",
    );

    // The whole machine copied: the same identity, the same records, then each copy leases
    // on its own. Each export verifies; together they are two chains.
    copy(&s.c.join("state-seatd"), &s.c.join("state-clone"));
    let original = start_seatd(&s, NOW, "seatd").unwrap();
    ok(claim_at(&s, &original.url, "n3", NOW));
    drop(original);
    let clone = start_seatd_with(&s, NOW, "seatd", &["--state", "state-clone"]).unwrap();
    ok(claim_at(&s, &clone.url, "n4", NOW));
    drop(clone);
    ok(export_log(&s, "state-seatd", "seatd", "exp-b"));
    ok(export_log(&s, "state-clone", "seatd", "exp-clone"));
    let o = check(&["exp-b", "exp-clone"]);
    assert_eq!(o.status.code(), Some(1), "{}", testkit::run::show(&o));
    let v = json_of(&o);
    assert_eq!(v["forks"][0]["seq"], 3, "{v}");
    // Alone, each is one chain; with the first export, the original agrees with it.
    assert_eq!(check(&["exp-a", "exp-b"]).status.code(), Some(0));

    // An export edited after it was signed, or signed by another key: refused with its check.
    let doc = s.c.join("exp-a/seat-log.json");
    let text = std::fs::read_to_string(&doc).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut forged = v.clone();
    forged["exported_at"] = "2026-11-23T11:00:00Z".into();
    std::fs::create_dir_all(s.c.join("exp-forged")).unwrap();
    for f in ["pool.json", "pool.sig", "seat-log.sig"] {
        std::fs::copy(s.c.join("exp-a").join(f), s.c.join("exp-forged").join(f)).unwrap();
    }
    std::fs::write(s.c.join("exp-forged/seat-log.json"), forged.to_string()).unwrap();
    let o = check(&["exp-forged"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        json_of(&o)["refused"][0]["check"],
        "signature_invalid",
        "{}",
        testkit::run::show(&o)
    );
    let outsider =
        signing::SecretKey::generate("outsider", canon::Role::Instance, canon::Timestamp(0))
            .unwrap();
    let canonical = canon::canonicalize(text.as_bytes()).unwrap();
    let env = outsider
        .sign_document(canon::Kind::SeatLog, &canonical)
        .unwrap();
    std::fs::write(s.c.join("exp-forged/seat-log.json"), &text).unwrap();
    std::fs::write(s.c.join("exp-forged/seat-log.sig"), env.to_bytes()).unwrap();
    let o = check(&["exp-forged"]);
    assert_eq!(
        json_of(&o)["refused"][0]["check"],
        "node_lease_forged",
        "{}",
        testkit::run::show(&o)
    );
}
