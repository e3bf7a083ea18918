//! Seats that hold, played as the attacks of issue 22 would be: machines that report one
//! stable id, a state directory restored after its seat was released, and an early renewal
//! that must strand no machine, offline and online, before and after the renewal begins.

use crate::activation::Site;
use crate::kit::{have_tool, ok};
use crate::online::{activate, agent, Service, DAY1};
use serde_json::Value;

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
        panic!(
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn license_id_in(path: &std::path::Path) -> String {
    let doc = std::fs::read(path).unwrap();
    <runtime::license::License as runtime::Artifact>::parse(&doc)
        .unwrap()
        .0
        .license_id
}

/// Three machines (three state directories, three instance keys) report one stable id, as a
/// customer who sets `AIRLOCK_INSTANCE_ID` alike or clones `/etc/machine-id` does. The first
/// takes the seat; the others are refused `SEAT_TAKEN` by files and over HTTP although the
/// license has room, and the registry shows one seat. (Before: each newcomer was handed the
/// live seat and three machines ran on it.)
#[test]
fn three_machines_with_one_stable_id_hold_one_seat() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(3);
    let id = "cloned-machine-id";
    let request = |state: &str, out: &str| {
        ok(s.on(
            id,
            DAY1,
            "airlock-agent",
            &[
                "request",
                "--license",
                "lic",
                "--state",
                state,
                "--out",
                out,
                "--force",
            ],
        ));
        s.carry_back(out);
    };
    let fulfil = |req: &str, out: &str| {
        s.factory(
            DAY1,
            &[
                "activation",
                "fulfill",
                req,
                "--key",
                "keys/activation.key",
                "--out",
                out,
                "--json",
            ],
        )
    };
    request("state-c1", "req-c1.json");
    let first = json(&fulfil("req-c1.json", "act-c1"));
    assert_eq!(first["new_seat"], true);
    for n in ["c2", "c3"] {
        request(&format!("state-{n}"), &format!("req-{n}.json"));
        let o = fulfil(&format!("req-{n}.json"), &format!("act-{n}"));
        assert_eq!(o.status.code(), Some(1));
        let v = json(&o);
        assert_eq!(v["check"], "SEAT_TAKEN", "{v}");
        assert!(!s.v.join(format!("act-{n}")).exists());
    }
    // The first machine itself keeps renewing its seat.
    request("state-c1", "req-c1b.json");
    let again = json(&fulfil("req-c1b.json", "act-c1"));
    assert_eq!(again["activation_id"], first["activation_id"]);
    // Online: the same answer over HTTP, 409 and the agent's exit 1.
    let svc = Service::start(&s, DAY1, &[]);
    for n in ["c2", "c3"] {
        let o = s.on(
            id,
            DAY1,
            "airlock-agent",
            &[
                "activate",
                "--server",
                &svc.url,
                "--license",
                "lic",
                "--root",
                "root.pub",
                "--state",
                &format!("state-{n}"),
                "--trust",
                "trust.json",
            ],
        );
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("409 SEAT_TAKEN"), "{err}");
    }
    let list = json(&s.factory(DAY1, &["activation", "list", "--json"]));
    assert_eq!(list["activations"].as_array().unwrap().len(), 1, "{list}");
    ok(s.factory(DAY1, &["audit", "verify"]));
}

/// A machine deactivates (its receipt frees the seat), another takes the seat, and the first
/// machine's state directory is restored from a backup with the old lease in it. The vendor's
/// next revocation list names the released lease: once imported, the restored machine refuses
/// it. (Before: only forced releases were listed, and the restored machine stayed licensed.)
#[test]
fn a_restored_state_directory_does_not_bring_back_a_released_seat() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(1);
    s.activate("machine-a", DAY1, &[]).unwrap();
    crate::kit::copy(&s.c.join("state-machine-a"), &s.c.join("backup-a"));
    ok(s.on(
        "machine-a",
        DAY1,
        "airlock-agent",
        &[
            "deactivate",
            "--state",
            "state-machine-a",
            "--out",
            "receipt-a.json",
        ],
    ));
    s.carry_back("receipt-a.json");
    ok(s.factory(
        DAY1,
        &["activation", "release", "--receipt", "receipt-a.json"],
    ));
    s.activate("machine-b", DAY1, &[]).unwrap();
    std::fs::remove_dir_all(s.c.join("state-machine-a")).unwrap();
    crate::kit::copy(&s.c.join("backup-a"), &s.c.join("state-machine-a"));
    let (code, _) = s.verify("machine-a", DAY1, &[]);
    assert_eq!(
        code, 0,
        "the restored lease verifies until the list arrives"
    );
    ok(s.factory(
        DAY1,
        &["revocations", "--key", "keys/license.key", "--out", "rl"],
    ));
    s.carry("rl", "rl");
    let import = |machine: &str| {
        ok(s.on(
            machine,
            DAY1,
            "runtime-verify",
            &[
                "revocations",
                "import",
                "rl/revocations.json",
                "--trust",
                "trust.json",
                "--state",
                &format!("state-{machine}"),
            ],
        ))
    };
    import("machine-a");
    let (code, v) = s.verify("machine-a", DAY1, &[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["activations"][0]["check"], "activation_revoked", "{v}");
    let (code, text) = s.product("machine-a", DAY1);
    assert_ne!(code, 0, "{text}");
    // The machine holding the seat now is not touched by the list.
    import("machine-b");
    let (code, v) = s.verify("machine-b", DAY1, &[]);
    assert_eq!(code, 0, "{v}");
}

/// The vendor renews early (the renewal begins at the old expiry). Seats freed meanwhile are
/// taken again by files and online with the old license's key and its tokens: before the
/// renewal begins the lease is the old license's (never only a license not valid yet); after,
/// the renewal's, with its license sent along. (Before: every one of these was refused
/// `LICENSE_RENEWED`, and a token for the renewal gave a license valid a year later.)
#[test]
fn an_early_renewal_strands_no_machine() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(2);
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
    // Before it begins: by files with the old license, then online, then with a token made
    // for the renewal (which answers with the license in force, the old one).
    s.activate("m-files", DAY1, &[]).unwrap();
    assert_eq!(
        json(&s.factory(DAY1, &["activation", "list", "--json"]))["activations"][0]["license_id"],
        s.license_id.as_str()
    );
    let (code, text) = s.product("m-files", DAY1);
    assert_eq!(code, 0, "{text}");
    let svc = Service::start(&s, DAY1, &[]);
    let v = json(&activate(&s, "m-online", DAY1, &svc.url, &["--json"]));
    assert_eq!(v["license_id"], s.license_id.as_str());
    let (code, text) = s.product("m-online", DAY1);
    assert_eq!(code, 0, "{text}");
    ok(s.factory(
        DAY1,
        &[
            "activation",
            "reset",
            &s.license_id,
            "--reason",
            "reinstall",
        ],
    ));
    let token = ok(s.factory(
        DAY1,
        &[
            "token",
            "create",
            "--license",
            &renewal,
            "--ttl",
            "24h",
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
            "--json",
        ],
    );
    assert_eq!(json(&o)["license_id"], s.license_id.as_str());
    assert_eq!(
        license_id_in(&s.c.join("lic-token/license.json")),
        s.license_id
    );
    drop(svc);
    // After it begins (the old license is in its grace): the old key is given the renewal.
    let later = "2027-06-05T09:00:00Z";
    ok(s.factory(
        later,
        &[
            "activation",
            "reset",
            &s.license_id,
            "--reason",
            "new hosts",
        ],
    ));
    s.activate("m-files2", later, &[]).unwrap();
    assert_eq!(
        license_id_in(&s.c.join("act-m-files2/license.json")),
        renewal
    );
    let svc = Service::start(&s, later, &[]);
    let v = json(&activate(&s, "m-online2", later, &svc.url, &["--json"]));
    assert_eq!(v["license_id"], renewal.as_str());
    assert_eq!(license_id_in(&s.c.join("lic/license.json")), renewal);
    let (code, text) = s.product("m-online2", later);
    assert_eq!(code, 0, "{text}");
    ok(s.factory(later, &["audit", "verify"]));
}
