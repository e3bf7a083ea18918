//! The activation service, driven as users drive it: the real `airlock-server` on 127.0.0.1
//! (port 0) over the vendor's SQLite registry, a real HTTP client (ureq) sending request files
//! the real agent signed, and the agent's own online commands. The service's clock is the
//! vendor's (`AIRLOCK_NOW`); each machine's clock is faked with libfaketime.

use crate::activation::Site;
use crate::kit::{have_tool, ok};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `airlock-server`; killed when dropped.
pub(crate) struct Service {
    child: Child,
    pub(crate) url: String,
}

impl Service {
    /// Starts the service over the site's registry at `now` with `extra` flags.
    pub(crate) fn start(s: &Site, now: &str, extra: &[&str]) -> Service {
        Service::start_under(s, now, extra, &[])
    }

    /// [`Service::start`] run through `wrapper` (e.g. `prlimit --nofile=1024:1024 --`).
    pub(crate) fn start_under(s: &Site, now: &str, extra: &[&str], wrapper: &[&str]) -> Service {
        let token = s.v.join("admin-token");
        std::fs::write(&token, "x".repeat(40)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        let server = testkit::bin("airlock-server");
        let mut cmd = match wrapper.split_first() {
            Some((prog, args)) => {
                let mut c = Command::new(prog);
                c.args(args).arg(&server);
                c
            }
            None => Command::new(&server),
        };
        let mut child = cmd
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
                "admin-token",
            ])
            .args(extra)
            .current_dir(&s.v)
            .env("AIRLOCK_NOW", now)
            .env("AIRLOCK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Service { child, url }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs `body`; (status, Retry-After, JSON answer).
pub(crate) fn post(url: &str, body: &Value, auth: Option<&str>) -> (u16, Option<String>, Value) {
    let mut r = http().post(url).header("content-type", "application/json");
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    answer(r.send(serde_json::to_vec(body).unwrap().as_slice()))
}

pub(crate) fn get(url: &str, auth: Option<&str>) -> (u16, Option<String>, Value) {
    let mut r = http().get(url);
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    answer(r.call())
}

fn answer(
    r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> (u16, Option<String>, Value) {
    let mut r = r.unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.body_mut().read_to_string().unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, retry, v)
}

pub(crate) fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// A fresh request file signed by `machine`'s instance key (as `airlock-agent request` makes
/// it), as the JSON the service takes.
pub(crate) fn request(s: &Site, machine: &str, now: &str) -> Value {
    let out = format!("req-{machine}.json");
    ok(s.on(
        machine,
        now,
        "airlock-agent",
        &[
            "request",
            "--license",
            "lic",
            "--state",
            &format!("state-{machine}"),
            "--out",
            &out,
            "--label",
            machine,
            "--force",
        ],
    ));
    serde_json::from_slice(&std::fs::read(s.c.join(out)).unwrap()).unwrap()
}

pub(crate) fn agent(s: &Site, machine: &str, now: &str, args: &[&str]) -> std::process::Output {
    let state = format!("state-{machine}");
    let mut a: Vec<&str> = args.to_vec();
    a.extend(["--state", &state, "--trust", "trust.json"]);
    s.on(machine, now, "airlock-agent", &a)
}

pub(crate) const DAY1: &str = "2026-11-23T09:00:00Z";

/// `airlock-agent activate` on `machine` against `url` with the license in `lic/` (plus
/// `extra` flags), first use trusting `root.pub`.
pub(crate) fn activate(
    s: &Site,
    machine: &str,
    now: &str,
    url: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut a = vec![
        "activate",
        "--server",
        url,
        "--license",
        "lic",
        "--root",
        "root.pub",
    ];
    a.extend(extra);
    agent(s, machine, now, &a)
}

/// Points `machine`'s online record at `url` (a service that came back on another port).
pub(crate) fn point_at(s: &Site, machine: &str, url: &str) {
    let rec =
        s.c.join(format!("state-{machine}/activation/gateway/online.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
    v["server"] = json!(url);
    std::fs::write(&rec, v.to_string()).unwrap();
}

#[test]
fn every_status_of_the_api() {
    if !have_tool("faketime") {
        return;
    }
    crate::kit::on_each_registry(|db| {
        let s = Site::on_registry(1, db);
        let svc = Service::start(&s, DAY1, &["--license-rate", "600/min,burst=100"]);
        let act = format!("{}/v1/activations", svc.url);

        // 201 a new seat; 200 the same seat for the same machine (a fresh request).
        let (st, _, a) = post(&act, &json!({"request": request(&s, "m1", DAY1)}), None);
        assert_eq!(st, 201, "{a}");
        let id = a["activation_id"].as_str().unwrap().to_string();
        assert_eq!(a["new_seat"], true);
        let (st, _, b) = post(&act, &json!({"request": request(&s, "m1", DAY1)}), None);
        assert_eq!(
            (st, b["activation_id"].as_str()),
            (200, Some(id.as_str())),
            "{b}"
        );
        assert!(b["sequence"].as_u64() > a["sequence"].as_u64());
        // 409 at the device limit.
        let m2 = request(&s, "m2", DAY1);
        let (st, _, e) = post(&act, &json!({"request": m2.clone()}), None);
        assert_eq!((st, code(&e)), (409, "DEVICE_LIMIT_EXCEEDED"), "{e}");

        // 400: not JSON, an unknown member, an edited request (its signature fails).
        for (body, want) in [
            (b"{".to_vec(), "BAD_REQUEST"),
            (br#"{"request":{},"extra":1}"#.to_vec(), "BAD_REQUEST"),
        ] {
            let r = http()
                .post(&act)
                .header("content-type", "application/json")
                .send(body.as_slice());
            let (st, _, e) = answer(r);
            assert_eq!((st, code(&e)), (400, want), "{e}");
        }
        let mut forged = request(&s, "m1", DAY1);
        forged["signed"]["label"] = json!("someone else");
        let (st, _, e) = post(&act, &json!({"request": forged}), None);
        assert_eq!((st, code(&e)), (400, "REQUEST_INVALID"), "{e}");
        // A body over the limit is refused before it is read.
        let big = json!({"request": "x".repeat(100_000)});
        let (st, _, e) = post(&act, &big, None);
        assert_eq!((st, code(&e)), (413, "BODY_TOO_LARGE"), "{e}");

        // Renewal: 200 with a heartbeat; another machine's request is 403; a bad heartbeat 400.
        let renew = format!("{}/v1/activations/{id}/renew", svc.url);
        let hb = json!({"product_version": "4.2.0", "uptime_seconds": 3600, "counts": {"calls_today": 17}});
        let (st, _, r) = post(
            &renew,
            &json!({"request": request(&s, "m1", DAY1), "heartbeat": hb}),
            None,
        );
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["activation_id"], json!(id));
        let (st, _, e) = post(&renew, &json!({"request": m2}), None);
        assert_eq!((st, code(&e)), (403, "INSTANCE_MISMATCH"), "{e}");
        let (st, _, e) = post(
            &renew,
            &json!({"request": request(&s, "m1", DAY1), "heartbeat": {"call_audio": "..."}}),
            None,
        );
        assert_eq!((st, code(&e)), (400, "HEARTBEAT_INVALID"), "{e}");

        // Admin: 401 without or with a wrong credential; the list shows the seat.
        let admin = format!("{}/v1/admin/activations", svc.url);
        assert_eq!(get(&admin, None).0, 401);
        assert_eq!(get(&admin, Some("Bearer wrong")).0, 401);
        let bearer = format!("Bearer {}", "x".repeat(40));
        let (st, _, l) = get(&admin, Some(&bearer));
        assert_eq!(st, 200);
        assert_eq!(l["activations"][0]["activation_id"], json!(id));

        // Deactivation with the machine's receipt: 200, again 200 (nothing twice), then the seat
        // is gone: a renewal is 410 and machine 2 gets the seat.
        let _ = std::fs::create_dir_all(s.c.join("lease-m1"));
        std::fs::write(
            s.c.join("lease-m1/activation.json"),
            r["files"]["activation.json"].as_str().unwrap(),
        )
        .unwrap();
        std::fs::write(
            s.c.join("lease-m1/activation.sig"),
            r["files"]["activation.sig"].as_str().unwrap(),
        )
        .unwrap();
        ok(agent(
            &s,
            "m1",
            DAY1,
            &["install", "lease-m1", "--root", "root.pub"],
        ));
        ok(s.on(
            "m1",
            DAY1,
            "airlock-agent",
            &[
                "deactivate",
                "--state",
                "state-m1",
                "--out",
                "receipt-m1.json",
            ],
        ));
        let receipt: Value =
            serde_json::from_slice(&std::fs::read(s.c.join("receipt-m1.json")).unwrap()).unwrap();
        let deact = format!("{}/v1/activations/{id}/deactivate", svc.url);
        let (st, _, d) = post(&deact, &json!({"receipt": receipt.clone()}), None);
        assert_eq!((st, d["changed"].as_bool()), (200, Some(true)), "{d}");
        let (st, _, d) = post(&deact, &json!({"receipt": receipt}), None);
        assert_eq!((st, d["changed"].as_bool()), (200, Some(false)), "{d}");
        let (st, _, e) = post(&renew, &json!({"request": request(&s, "m1", DAY1)}), None);
        assert_eq!((st, code(&e)), (410, "ACTIVATION_ENDED"), "{e}");
        let (st, _, m2a) = post(&act, &json!({"request": request(&s, "m2", DAY1)}), None);
        assert_eq!(st, 201, "{m2a}");
        let m2id = m2a["activation_id"].as_str().unwrap().to_string();

        // Admin release and reset, then revoke: 403 for the revoked license.
        let (st, _, e) = post(
            &format!("{}/v1/admin/activations/{m2id}/release", svc.url),
            &json!({}),
            Some(&bearer),
        );
        assert_eq!(
            (st, code(&e)),
            (400, "BAD_REQUEST"),
            "a release needs a reason: {e}"
        );
        let (st, _, rel) = post(
            &format!("{}/v1/admin/activations/{m2id}/release", svc.url),
            &json!({"reason": "machine lost"}),
            Some(&bearer),
        );
        assert_eq!(st, 200, "{rel}");
        assert_eq!(rel["activation"]["release_kind"], json!("force"));
        let (st, _, rs) = post(
            &format!("{}/v1/admin/licenses/{}/reset", svc.url, s.license_id),
            &json!({"reason": "hardware replaced"}),
            Some(&bearer),
        );
        assert_eq!((st, rs["epoch"].as_u64()), (200, Some(2)), "{rs}");
        let (st, _, rv) = post(
            &format!("{}/v1/admin/licenses/{}/revoke", svc.url, s.license_id),
            &json!({"reason": "contract ended"}),
            Some(&bearer),
        );
        assert_eq!(st, 200, "{rv}");
        let (st, _, e) = post(&act, &json!({"request": request(&s, "m3", DAY1)}), None);
        assert_eq!((st, code(&e)), (403, "LICENSE_REVOKED"), "{e}");

        // Health, metrics, an unknown endpoint.
        let (st, _, h) = get(&format!("{}/healthz", svc.url), None);
        assert_eq!((st, h["status"].as_str()), (200, Some("ok")));
        let engine = if db.is_some() { "postgres" } else { "sqlite" };
        assert_eq!(h["backend"], engine, "{h}");
        // Metrics are behind the admin credential (a scrape sends it as a bearer token).
        let (st, _, e) = get(&format!("{}/metrics", svc.url), None);
        assert_eq!((st, code(&e)), (401, "UNAUTHORIZED"), "{e}");
        let (st, _, m) = get(&format!("{}/metrics", svc.url), Some(&bearer));
        let m = m.as_str().unwrap().to_string();
        assert_eq!(st, 200);
        assert!(
            m.contains(
                "airlock_operations_total{op=\"activate\",result=\"DEVICE_LIMIT_EXCEEDED\"} 1"
            ),
            "{m}"
        );
        assert!(
            m.contains("airlock_http_request_duration_seconds_bucket{route=\"/v1/activations\"")
        );
        if have_tool("promtool") {
            let mut p = Command::new("promtool")
                .args(["check", "metrics"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(p.stdin.as_mut().unwrap(), m.as_bytes()).unwrap();
            let o = p.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let (st, _, e) = get(&format!("{}/v2/nothing", svc.url), None);
        assert_eq!((st, code(&e)), (404, "NOT_FOUND"));
        // The registry's audit chain holds after all of it.
        ok(s.factory(DAY1, &["audit", "verify"]));
    });
}

#[test]
fn an_expired_license_is_refused_and_a_burst_is_answered_429() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(10);
    // Past expiry (2027-06-01) and its grace: 403.
    let late = "2027-09-01T00:00:00Z";
    {
        let svc = Service::start(&s, late, &[]);
        let (st, _, e) = post(
            &format!("{}/v1/activations", svc.url),
            &json!({"request": request(&s, "m1", late)}),
            None,
        );
        assert_eq!((st, code(&e)), (403, "LICENSE_EXPIRED"), "{e}");
    }
    // Per license key: 2 at once, then 429 with an integer Retry-After of at least 1.
    let svc = Service::start(&s, DAY1, &["--license-rate", "1/min,burst=2"]);
    let act = format!("{}/v1/activations", svc.url);
    let reqs: Vec<Value> = (1..=3)
        .map(|i| request(&s, &format!("b{i}"), DAY1))
        .collect();
    assert_eq!(post(&act, &json!({"request": reqs[0]}), None).0, 201);
    assert_eq!(post(&act, &json!({"request": reqs[1]}), None).0, 201);
    let (st, retry, e) = post(&act, &json!({"request": reqs[2]}), None);
    assert_eq!((st, code(&e)), (429, "RATE_LIMITED"), "{e}");
    let secs: u64 = retry.expect("Retry-After").parse().expect("an integer");
    assert!((1..=60).contains(&secs), "{secs}");
    // The agent reports it and exits 4 (try later), without a seat.
    let o = activate(&s, "b3", DAY1, &svc.url, &[]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("retry after"));
}

#[test]
fn install_tokens_are_one_time_short_lived_and_vendor_signed() {
    if !have_tool("faketime") {
        return;
    }
    crate::kit::on_each_registry(|db| {
        let s = Site::on_registry(5, db);
        let svc = Service::start(&s, DAY1, &[]);
        let token = ok(s.factory(
            DAY1,
            &[
                "token",
                "create",
                "--license",
                &s.license_id,
                "--ttl",
                "24h",
                "--key",
                "keys/activation.key",
            ],
        ));
        let token = token.trim();
        assert!(token.starts_with("airlock-token:"));
        let act = |m: &str, t: &str, now: &str| {
            agent(
                &s,
                m,
                now,
                &[
                    "activate",
                    "--server",
                    &svc.url,
                    "--token",
                    t,
                    "--license",
                    &format!("lic-{m}"),
                    "--root",
                    "root.pub",
                    "--json",
                ],
            )
        };
        // The first machine: activated, and it receives the license it had no key for.
        let o = act("t1", token, DAY1);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(s.c.join("lic-t1/license.json").exists());
        let (code_t1, text) = {
            let o = s.on(
                "t1",
                DAY1,
                "example-product",
                &[
                    "--trust",
                    "trust.json",
                    "--license",
                    "lic-t1",
                    "--state",
                    "state-t1",
                    "--feature",
                    "gate",
                ],
            );
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
            )
        };
        assert_eq!(code_t1, Some(0), "{text}");
        // The same machine again (a retry): the same seat, the token not spent twice.
        let o = act("t1", token, DAY1);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // A second machine: refused (409 TOKEN_USED), and audited.
        let o = act("t2", token, DAY1);
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains("TOKEN_USED"));
        if have_tool("sqlite3") {
            assert_eq!(
                crate::kit::registry_query(
                    &s.v,
                    "SELECT count(*) FROM audit WHERE event = 'token_reuse_refused'"
                ),
                "1"
            );
        }
        // A token the vendor revoked (handed to the wrong person): 403 TOKEN_REVOKED, and the
        // book lists it so.
        let made: serde_json::Value = serde_json::from_str(&ok(s.factory(
            DAY1,
            &[
                "token",
                "create",
                "--license",
                &s.license_id,
                "--ttl",
                "24h",
                "--key",
                "keys/activation.key",
                "--json",
            ],
        )))
        .unwrap();
        let tid = made["token_id"].as_str().unwrap();
        ok(s.factory(
            DAY1,
            &[
                "token",
                "revoke",
                tid,
                "--reason",
                "sent to the wrong address",
            ],
        ));
        let o = act("t4", made["token"].as_str().unwrap(), DAY1);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("TOKEN_REVOKED"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let listed: serde_json::Value = serde_json::from_str(&ok(s.factory(
            DAY1,
            &["token", "list", "--license", &s.license_id, "--json"],
        )))
        .unwrap();
        let states: Vec<(String, String)> = listed["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["token_id"].as_str().unwrap().to_string(),
                    t["state"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert!(
            states.contains(&(tid.to_string(), "revoked".to_string())),
            "{states:?}"
        );
        assert!(states.iter().any(|(_, st)| st == "spent"), "{states:?}");
        crate::kit::fails(
            s.factory(DAY1, &["token", "revoke", tid, "--reason", "again"]),
            1,
            "revoked already",
        );
        // An expired token (made yesterday, for one hour): 403 TOKEN_EXPIRED.
        let old = ok(s.factory(
            "2026-11-22T12:00:00Z",
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
        let o = act("t3", old.trim(), DAY1);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("TOKEN_EXPIRED"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        // A token signed by a key the trust file does not hold: the agent refuses it before
        // sending, and the service answers 400 TOKEN_INVALID.
        ok(s.factory(
            DAY1,
            &[
                "keygen",
                "--role",
                "activation",
                "--name",
                "rogue",
                "--out",
                "keys",
            ],
        ));
        let rogue_token = || {
            s.factory(
                DAY1,
                &[
                    "token",
                    "create",
                    "--license",
                    &s.license_id,
                    "--ttl",
                    "1h",
                    "--key",
                    "keys/rogue.key",
                ],
            )
        };
        // The factory itself refuses to sign with it: the registry keeps the trust file.
        crate::kit::fails(rogue_token(), 2, "is not in the trust file");
        // An insider who empties the kept trust files gets one signed.
        crate::kit::registry_query(&s.v, "DELETE FROM trust_files");
        let rogue = ok(rogue_token());
        let o = act("t4", rogue.trim(), DAY1);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let fp_req = request(&s, "t4", DAY1);
        let (st, _, e) = post(
            &format!("{}/v1/activations", svc.url),
            &json!({"request": fp_req, "token": rogue.trim()}),
            None,
        );
        assert_eq!((st, code(&e)), (400, "TOKEN_INVALID"), "{e}");
        // More than 72 hours is refused at creation.
        let o = s.factory(
            DAY1,
            &[
                "token",
                "create",
                "--license",
                &s.license_id,
                "--ttl",
                "73h",
                "--key",
                "keys/activation.key",
            ],
        );
        assert_eq!(o.status.code(), Some(2));
    });
}

#[test]
fn the_agent_rides_out_a_stopped_service_until_its_lease_ends() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(1);
    let mut svc = Service::start(&s, DAY1, &["--lease-days", "7"]);
    let url = svc.url.clone();
    ok(activate(&s, "m1", DAY1, &url, &[]));
    // Not due yet: nothing to do.
    assert_eq!(
        agent(&s, "m1", DAY1, &["run", "--once"]).status.code(),
        Some(0)
    );
    svc.kill9();
    // Day 4 (past renew_after at half the lease): due, the service is gone: exit 4, and the
    // product works on.
    let day5 = "2026-11-27T09:00:00Z";
    let o = agent(&s, "m1", day5, &["run", "--once"]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("keeps working"));
    assert_eq!(s.product("m1", day5).0, 0);
    // Day 8: the lease ended: exit 5, and the product stops licensed work.
    let day8 = "2026-12-01T09:00:00Z";
    let o = agent(&s, "m1", day8, &["run", "--once"]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (code, text) = s.product("m1", day8);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("lease_expired"), "{text}");
    // The service is back: the seat was freed when its lease ended, so the agent activates
    // again on its own, and the product works.
    let svc = Service::start(&s, day8, &[]);
    // It came back on another port (port 0): point the machine's record at it.
    point_at(&s, "m1", &svc.url);
    let o = agent(&s, "m1", day8, &["run", "--once"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(s.product("m1", day8).0, 0);
}

#[test]
fn the_seat_limit_holds_over_http_when_ten_machines_race() {
    if !have_tool("faketime") {
        return;
    }
    crate::kit::on_each_registry(|db| {
        let s = Site::on_registry(3, db);
        let svc = Service::start(&s, DAY1, &["--license-rate", "600/min,burst=100"]);
        let reqs: Vec<Value> = (0..10)
            .map(|i| request(&s, &format!("r{i}"), DAY1))
            .collect();
        let url = format!("{}/v1/activations", svc.url);
        let statuses: Vec<(u16, String)> = std::thread::scope(|sc| {
            let hs: Vec<_> = reqs
                .iter()
                .map(|r| {
                    let url = url.clone();
                    sc.spawn(move || {
                        let (st, _, v) = post(&url, &json!({"request": r}), None);
                        (st, code(&v).to_string())
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won = statuses.iter().filter(|(s, _)| *s == 201).count();
        let lost = statuses
            .iter()
            .filter(|(s, c)| *s == 409 && c == "DEVICE_LIMIT_EXCEEDED")
            .count();
        assert_eq!((won, lost), (3, 7), "{statuses:?}");
    });
}

/// Two service nodes (two processes) on one PostgreSQL database: ten machines race, half
/// through each node, for three seats; a seat made on one node renews and is released on the
/// other; and the audit chain, written by both, verifies.
#[test]
fn two_nodes_on_postgresql_hold_one_seat_limit() {
    if !have_tool("faketime") || !testkit::pg::available() {
        return;
    }
    let server = testkit::pg::Server::start();
    let s = Site::on_registry(3, Some(&server.database()));
    let rate = ["--license-rate", "600/min,burst=100"];
    let (a, b) = (
        Service::start(&s, DAY1, &rate),
        Service::start(&s, DAY1, &rate),
    );
    let reqs: Vec<Value> = (0..10)
        .map(|i| request(&s, &format!("n{i}"), DAY1))
        .collect();
    let answers: Vec<(u16, Value)> = std::thread::scope(|sc| {
        let hs: Vec<_> = reqs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let url = format!(
                    "{}/v1/activations",
                    if i.is_multiple_of(2) { &a.url } else { &b.url }
                );
                sc.spawn(move || {
                    let (st, _, v) = post(&url, &json!({"request": r}), None);
                    (st, v)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<usize> = (0..10).filter(|i| answers[*i].0 == 201).collect();
    let lost = answers
        .iter()
        .filter(|(st, v)| *st == 409 && code(v) == "DEVICE_LIMIT_EXCEEDED")
        .count();
    let summary: Vec<(u16, &str)> = answers.iter().map(|(st, v)| (*st, code(v))).collect();
    assert_eq!((won.len(), lost), (3, 7), "{summary:?}");
    assert_eq!(
        crate::kit::registry_query(
            &s.v,
            "SELECT count(*) FROM activations WHERE released_at IS NULL"
        ),
        "3"
    );
    // A seat made through one node renews through the other, with the next lease number.
    let w = won[0];
    let id = answers[w].1["activation_id"].as_str().unwrap().to_string();
    let seq = answers[w].1["sequence"].as_u64().unwrap();
    let other = if w.is_multiple_of(2) { &b.url } else { &a.url };
    let (st, _, v) = post(
        &format!("{other}/v1/activations/{id}/renew"),
        &json!({"request": reqs[w]}),
        None,
    );
    assert_eq!(st, 200, "{v}");
    assert!(v["sequence"].as_u64().unwrap() > seq, "{v}");
    // Released by the admin on one node, the seat is free on the other.
    let admin = format!("Bearer {}", "x".repeat(40));
    let (st, _, v) = post(
        &format!("{}/v1/admin/activations/{id}/release", a.url),
        &json!({"reason": "machine scrapped"}),
        Some(&admin),
    );
    assert_eq!(st, 200, "{v}");
    let late = (0..10).find(|i| !won.contains(i)).unwrap();
    let (st, _, v) = post(
        &format!("{}/v1/activations", b.url),
        &json!({"request": reqs[late]}),
        None,
    );
    assert_eq!(st, 201, "{v}");
    drop((a, b));
    ok(s.factory(DAY1, &["audit", "verify"]));
}

#[test]
fn kill_9_mid_load_loses_nothing_the_service_acknowledged() {
    if !have_tool("faketime") {
        return;
    }
    crate::kit::on_each_registry(|db| {
        let s = Site::on_registry(20, db);
        let mut svc = Service::start(
            &s,
            DAY1,
            &[
                "--address-rate",
                "1000000/min,burst=1000000",
                "--license-rate",
                "600/min,burst=100",
            ],
        );
        // Twenty machines with a seat each; each then renews over and over (one request file per
        // machine, sent again: a renewal's proof is the instance key's signature).
        let mut seats = Vec::new();
        for i in 0..20 {
            let m = format!("k{i}");
            let r = request(&s, &m, DAY1);
            let (st, _, a) = post(
                &format!("{}/v1/activations", svc.url),
                &json!({"request": r.clone()}),
                None,
            );
            assert_eq!(st, 201, "{a}");
            seats.push((a["activation_id"].as_str().unwrap().to_string(), r));
        }
        let acked = std::sync::Mutex::new(std::collections::HashMap::<String, u64>::new());
        let url = svc.url.clone();
        std::thread::scope(|sc| {
            for (id, r) in &seats {
                let (url, acked) = (url.clone(), &acked);
                sc.spawn(move || {
                    for _ in 0..200 {
                        let res = http()
                            .post(format!("{url}/v1/activations/{id}/renew"))
                            .header("content-type", "application/json")
                            .send(
                                serde_json::to_vec(&json!({"request": r}))
                                    .unwrap()
                                    .as_slice(),
                            );
                        let Ok(mut res) = res else { break };
                        if res.status().as_u16() != 200 {
                            break;
                        }
                        let Ok(text) = res.body_mut().read_to_string() else {
                            break;
                        };
                        let Ok(v) = serde_json::from_str::<Value>(&text) else {
                            break;
                        };
                        let seq = v["sequence"].as_u64().unwrap();
                        let mut g = acked.lock().unwrap();
                        let e = g.entry(id.clone()).or_default();
                        *e = (*e).max(seq);
                    }
                });
            }
            // Let the load run, then kill the service without warning.
            std::thread::sleep(std::time::Duration::from_millis(700));
            svc.kill9();
        });
        let acked = acked.into_inner().unwrap();
        assert!(!acked.is_empty(), "no renewal was answered before the kill");
        // Restarted on the same registry: every acknowledged lease is there (its sequence or a
        // later one), and the audit chain and activation rows verify.
        ok(s.factory(DAY1, &["audit", "verify"]));
        let svc = Service::start(&s, DAY1, &[]);
        let (_, _, l) = get(
            &format!("{}/v1/admin/activations", svc.url),
            Some(&format!("Bearer {}", "x".repeat(40))),
        );
        for (id, seq) in &acked {
            let row = l["activations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["activation_id"] == json!(id))
                .unwrap_or_else(|| panic!("{id} lost"));
            assert!(
                row["lease_sequence"].as_u64().unwrap() >= *seq,
                "{id}: acknowledged #{seq}, registry has {row}"
            );
        }
    });
}

#[test]
fn updates_are_offered_to_activated_machines_and_verified_before_install() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(2);
    crate::kit::product(&s.v, "2026-11-22T10:00:00Z", "4.3.0");
    let pm = std::fs::read_to_string(s.v.join("pm-4.3.0.json"))
        .unwrap()
        .replace("\"sovereign\"", "\"standard\"");
    std::fs::write(s.v.join("pm-4.3.0.json"), pm).unwrap();
    ok(crate::kit::vendor(
        &s.v,
        "packager",
        DAY1,
        &[
            "bundle",
            "--license",
            "lic",
            "--payload",
            "payload",
            "--product-manifest",
            "pm-4.3.0.json",
            "--key",
            "keys/release.key",
            "--airgap",
            "--name",
            "gw-4.3.0",
            "--out",
            "bundles",
        ],
    ));
    let svc = Service::start(&s, DAY1, &["--bundles", "bundles"]);
    ok(activate(&s, "m1", DAY1, &svc.url, &[]));
    // Offered, downloaded, verified with the runtime, installed.
    let o = agent(
        &s,
        "m1",
        DAY1,
        &["update", "--extract", "installed-4.3.0", "--json"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], json!("4.3.0"));
    assert!(s.c.join("installed-4.3.0").is_dir());
    // Once installed, the same bundle is not offered again as news.
    let o = agent(&s, "m1", DAY1, &["update"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("up to date"));
    // Without a credential, or from a machine with no seat: refused.
    let list = format!("{}/v1/updates", svc.url);
    assert_eq!(get(&list, None).0, 401);
    let other = request(&s, "m2", DAY1);
    let cred = format!(
        "Airlock-Request {}",
        canon::enc::b64(other.to_string().as_bytes())
    );
    let (st, _, e) = get(&list, Some(&cred));
    assert_eq!((st, code(&e)), (404, "ACTIVATION_NOT_FOUND"), "{e}");
    // A file that is not an offered update is not served, whatever its name.
    let mine = request(&s, "m1", DAY1);
    let cred = format!(
        "Airlock-Request {}",
        canon::enc::b64(mine.to_string().as_bytes())
    );
    for f in ["..%2Ffactory.db", "factory.db", "gw-4.3.0.tar.gz.sig.x"] {
        let (st, _, _) = get(&format!("{list}/files/{f}"), Some(&cred));
        assert_eq!(st, 404, "{f}");
    }
    // Once its lease has ended, the machine's instance key alone gets no updates.
    drop(svc);
    let later = "2026-12-01T09:00:00Z";
    let svc = Service::start(&s, later, &["--bundles", "bundles"]);
    let late = request(&s, "m1", later);
    let cred = format!(
        "Airlock-Request {}",
        canon::enc::b64(late.to_string().as_bytes())
    );
    let (st, _, e) = get(&format!("{}/v1/updates", svc.url), Some(&cred));
    assert_eq!((st, code(&e)), (404, "ACTIVATION_NOT_FOUND"), "{e}");
}

/// The vendor renews the license early (the renewal starts at the old expiry, the default).
/// Until then the agent's renewals stay on the old license; its first renewal once the
/// renewal has begun moves the seat to it by itself: the same seat, the renewal's files
/// verified and installed beside the lease, the product working on, the vendor's audit whole.
#[test]
fn the_agent_moves_to_a_renewed_license_once_it_begins() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(1);
    let svc = Service::start(&s, DAY1, &["--lease-days", "366"]);
    let first: Value =
        serde_json::from_str(&ok(activate(&s, "m1", DAY1, &svc.url, &["--json"]))).unwrap();
    let renewal = ok(s.factory(
        DAY1,
        &[
            "renew",
            &s.license_id,
            "--expires",
            "2028-06-01",
            "--key",
            "keys/license.key",
            "--out",
            "ren",
        ],
    ))
    .trim()
    .to_string();
    let installed = || -> String {
        let doc = std::fs::read(s.c.join("lic/license.json")).unwrap();
        <runtime::license::License as runtime::Artifact>::parse(&doc)
            .unwrap()
            .0
            .license_id
    };
    // Before the old expiry: renewed on the old license, nothing installed.
    let o = ok(agent(&s, "m1", DAY1, &["run", "--once", "--force"]));
    assert!(!o.contains("installed license"), "{o}");
    assert_eq!(installed(), s.license_id);
    drop(svc);
    // The old license expired on 2027-06-01 and its renewal began: the service, back at that
    // time on another port, moves the seat.
    let later = "2027-06-02T09:00:00Z";
    let svc = Service::start(&s, later, &["--lease-days", "366"]);
    point_at(&s, "m1", &svc.url);
    let o = ok(agent(&s, "m1", later, &["run", "--once", "--force"]));
    assert!(o.contains(&format!("installed license {renewal}")), "{o}");
    assert_eq!(installed(), renewal);
    let (code, text) = s.product("m1", later);
    assert_eq!(code, 0, "{text}");
    // The same seat, now on the renewal.
    let (st, _, rows) = get(
        &format!("{}/v1/admin/activations", svc.url),
        Some(&format!("Bearer {}", "x".repeat(40))),
    );
    assert_eq!(st, 200, "{rows}");
    let rows = rows["activations"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["activation_id"], first["activation_id"]);
    assert_eq!(rows[0]["license_id"], renewal.as_str());
    ok(s.factory(later, &["audit", "verify"]));
}

/// A private CA (`ca.pem`) and a server certificate for 127.0.0.1 (`server.pem`,
/// `server.key`) in `dir`, made with openssl.
pub(crate) fn tls_files(dir: &std::path::Path) {
    // The certificates are made at a fixed past time (faketime) and last ten years, so the
    // machines' frozen clocks fall inside them.
    let ssl = |args: &[&str]| {
        let o = testkit::at_clock("2026-11-20 00:00:00", "openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    ssl(&[
        &["req", "-x509"][..],
        &ec[..],
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=Airlock test CA",
        ][..],
    ]
    .concat());
    ssl(&[
        &["req"][..],
        &ec[..],
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ][..],
    ]
    .concat());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    ssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "3650",
        "-extfile",
        "server.ext",
    ]);
}

/// TLS from certificate files: a private CA (made with openssl, dated from before the test's
/// clock), the service on https, the agent trusting that CA with `--ca`: it activates, renews
/// and the product works; without `--ca` it refuses the unknown issuer and sends nothing.
#[test]
fn the_service_speaks_tls_from_certificate_files() {
    if !have_tool("faketime") || !have_tool("openssl") {
        return;
    }
    let s = Site::new(2);
    tls_files(&s.v);
    std::fs::copy(s.v.join("ca.pem"), s.c.join("ca.pem")).unwrap();
    let svc = Service::start(
        &s,
        DAY1,
        &["--tls-cert", "server.pem", "--tls-key", "server.key"],
    );
    assert!(svc.url.starts_with("https://127.0.0.1:"), "{}", svc.url);
    let with_ca: &[&str] = &["--ca", "ca.pem"];
    // Without the CA: the certificate is not trusted; no seat is taken.
    let o = activate(&s, "m2", DAY1, &svc.url, &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
    assert!(
        err.contains("certificate is not trusted") && err.contains("--ca"),
        "{err}"
    );
    // With it: activated, renewed over TLS, the product works.
    ok(activate(&s, "m1", DAY1, &svc.url, with_ca));
    let o = ok(agent(
        &s,
        "m1",
        DAY1,
        &["run", "--once", "--force", "--ca", "ca.pem"],
    ));
    assert!(o.contains("renewed"), "{o}");
    assert_eq!(s.product("m1", DAY1).0, 0);
    // The CA is remembered with the service: a later run needs no --ca (before: it reported
    // the private CA's certificate as untrusted, an outage).
    let o = ok(agent(&s, "m1", DAY1, &["run", "--once", "--force"]));
    assert!(o.contains("renewed"), "{o}");
    // One seat: the refused machine took none.
    let rows = ok(s.factory(DAY1, &["activation", "list", &s.license_id, "--json"]));
    assert_eq!(rows.matches("\"activation_id\"").count(), 1, "{rows}");
}

/// Whoever answers in the service's name (a spoofed address, a compromised node) with a
/// genuinely signed license cannot make the agent install an older license of the lineage in
/// place of its renewal: the agent refuses it, and the installed license stays.
#[test]
fn a_lying_service_cannot_put_back_an_older_license() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(1);
    let svc = Service::start(&s, DAY1, &["--lease-days", "366"]);
    ok(activate(&s, "m1", DAY1, &svc.url, &[]));
    let old_doc = std::fs::read_to_string(s.c.join("lic/license.json")).unwrap();
    let old_sig = std::fs::read_to_string(s.c.join("lic/license.sig")).unwrap();
    // The vendor renews from now: the next renewal moves the machine to it.
    let renewal = ok(s.factory(
        DAY1,
        &[
            "renew",
            &s.license_id,
            "--from-now",
            "--expires",
            "2028-06-01",
            "--key",
            "keys/license.key",
            "--out",
            "ren",
        ],
    ))
    .trim()
    .to_string();
    let o = ok(agent(&s, "m1", DAY1, &["run", "--once", "--force"]));
    assert!(o.contains(&format!("installed license {renewal}")), "{o}");
    let renewed_doc = std::fs::read_to_string(s.c.join("lic/license.json")).unwrap();
    // A fake service answering every request with the old (genuine) license.
    let body = json!({
        "activation_id": "act-0000000000000000", "license_id": s.license_id, "new_seat": false,
        "seats_in_use": 1, "device_limit": 1, "overage": false, "sequence": 99,
        "not_after": "2027-06-15T00:00:00Z", "renew_after": "2027-06-01T00:00:00Z",
        "files": {"activation.json": "{}", "activation.sig": "{}",
                  "license.json": old_doc, "license.sig": old_sig},
    })
    .to_string();
    let fake = crate::downloads::fake(4, move |_| crate::downloads::Answer::Json(body.clone()));
    point_at(&s, "m1", &fake);
    let o = agent(&s, "m1", DAY1, &["run", "--once", "--force"]);
    assert!(!o.status.success());
    // The runtime refuses it (the state remembers the lineage's sequence), not the agent.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("REJECTED [rollback]") && err.contains("license sequence in its lineage"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(s.c.join("lic/license.json")).unwrap(),
        renewed_doc
    );
    assert_eq!(s.product("m1", DAY1).0, 0);
    // The same rule in the product: the old files put back by hand are refused as a rollback.
    std::fs::write(s.c.join("lic/license.json"), &old_doc).unwrap();
    std::fs::write(s.c.join("lic/license.sig"), &old_sig).unwrap();
    let (code, text) = s.product("m1", DAY1);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("rollback"), "{text}");
}

#[test]
fn the_server_finds_the_registry_and_trust_file_as_the_factory_does() {
    let s = Site::new(1);
    // The registry keeps the trust file once a signing command is given it.
    ok(s.factory(
        DAY1,
        &[
            "revocations",
            "--key",
            "keys/license.key",
            "--trust",
            "trust.json",
            "--out",
            "rl",
        ],
    ));
    let start = |envs: &[(&str, &std::path::Path)]| {
        let mut c = Command::new(testkit::bin("airlock-server"));
        c.args(["--listen", "127.0.0.1:0", "--key", "keys/activation.key"])
            .current_dir(&s.v)
            .env("AIRLOCK_NOW", DAY1)
            .env("AIRLOCK_LOG", "warn")
            .env_remove("AIRLOCK_DB")
            .env_remove("AIRLOCK_TRUST")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            c.env(k, v);
        }
        c.spawn().unwrap()
    };
    // No --db, no --trust: the vendor home's factory.db and the trust file it keeps.
    let mut child = start(&[("AIRLOCK_HOME", &s.v)]);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let (st, _, _) = get(&format!("{url}/healthz"), None);
    assert_eq!(st, 200);
    let _ = child.kill();
    let _ = child.wait();
    // $AIRLOCK_DB wins over the home; a wrong one is named, not created.
    let o = start(&[("AIRLOCK_HOME", &s.v), ("AIRLOCK_DB", &s.v.join("nope.db"))])
        .wait_with_output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("no registry at") && e.contains("nope.db"), "{e}");
    assert!(!s.v.join("nope.db").exists());
}

#[test]
fn a_suspended_license_renews_no_lease_and_a_resumed_one_does() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(1);
    let svc = Service::start(&s, DAY1, &["--lease-days", "7"]);
    ok(activate(&s, "m1", DAY1, &svc.url, &[]));
    drop(svc);
    // Suspended for non-payment; on day 5 the lease is due for renewal.
    ok(s.factory(
        DAY1,
        &["suspend", &s.license_id, "--reason", "invoice unpaid"],
    ));
    let day5 = "2026-11-27T09:00:00Z";
    let svc = Service::start(&s, day5, &["--lease-days", "7"]);
    point_at(&s, "m1", &svc.url);
    let o = agent(&s, "m1", day5, &["run", "--once"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("LICENSE_SUSPENDED"), "{err}");
    // The lease it holds is untouched: the machine works on until the lease ends (or until it
    // imports a list that suspends the license).
    assert_eq!(s.product("m1", day5).0, 0);
    // Resumed: the next renewal is granted.
    ok(s.factory(day5, &["resume", &s.license_id, "--reason", "paid"]));
    let o = agent(&s, "m1", day5, &["run", "--once"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_admin_api_suspends_resumes_and_revokes_install_tokens() {
    let s = Site::new(2);
    let svc = Service::start(&s, DAY1, &[]);
    let bearer = format!("Bearer {}", "x".repeat(40));
    let act = format!("{}/v1/activations", svc.url);
    let lic = format!("{}/v1/admin/licenses/{}", svc.url, s.license_id);
    let why = json!({"reason": "invoice unpaid"});
    // Without the credential: nothing.
    let (st, _, _) = post(&format!("{lic}/suspend"), &why, None);
    assert_eq!(st, 401);
    let (st, _, v) = post(&format!("{lic}/suspend"), &why, Some(&bearer));
    assert_eq!((st, &v["suspended"]), (200, &json!(true)), "{v}");
    let (st, _, e) = post(&format!("{lic}/suspend"), &why, Some(&bearer));
    assert_eq!((st, code(&e)), (403, "LICENSE_SUSPENDED"), "{e}");
    let (st, _, e) = post(&act, &json!({"request": request(&s, "m1", DAY1)}), None);
    assert_eq!((st, code(&e)), (403, "LICENSE_SUSPENDED"), "{e}");
    let (st, _, v) = post(&format!("{lic}/resume"), &why, Some(&bearer));
    assert_eq!((st, &v["suspended"]), (200, &json!(false)), "{v}");
    let (st, _, e) = post(&format!("{lic}/resume"), &why, Some(&bearer));
    assert_eq!((st, code(&e)), (400, "BAD_REQUEST"), "{e}");
    let (st, _, v) = post(&act, &json!({"request": request(&s, "m1", DAY1)}), None);
    assert_eq!(st, 201, "{v}");
    // An install token revoked through the API is refused.
    let made: Value = serde_json::from_str(&ok(s.factory(
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
            "--json",
        ],
    )))
    .unwrap();
    let tid = made["token_id"].as_str().unwrap();
    let (st, _, v) = post(
        &format!("{}/v1/admin/tokens/{tid}/revoke", svc.url),
        &json!({"reason": "sent to the wrong address"}),
        Some(&bearer),
    );
    assert_eq!((st, &v["token"]["revoked"]), (200, &json!(true)), "{v}");
    let o = activate(
        &s,
        "m2",
        DAY1,
        &svc.url,
        &["--token", made["token"].as_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("TOKEN_REVOKED"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
