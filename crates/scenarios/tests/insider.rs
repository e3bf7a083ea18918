//! An insider with the vendor's database: rows that grant something are reconciled by
//! `factory audit verify` against the hash-chained log.

use crate::activation::Site;
use crate::kit::{have_tool, ok};
use crate::online::{agent, Service, DAY1};

/// A spent install token re-armed by deleting its use rows: the service then lets a second
/// machine in on a one-machine token, but `audit verify` finds the token's seats in the log do
/// not match its use rows (`audit_invalid`). (Before: the audit passed.)
#[test]
fn deleted_token_uses_are_caught_by_the_audit() {
    if !have_tool("faketime") || !have_tool("sqlite3") {
        return;
    }
    let s = Site::new(5);
    let svc = Service::start(&s, DAY1, &[]);
    let token = ok(s.factory(
        DAY1,
        &[
            "token",
            "create",
            "--license",
            &s.license_id,
            "--instances",
            "1",
            "--ttl",
            "1h",
            "--key",
            "keys/activation.key",
        ],
    ));
    let install = |m: &str| {
        agent(
            &s,
            m,
            DAY1,
            &[
                "activate",
                "--server",
                &svc.url,
                "--license",
                &format!("lic-{m}"),
                "--token",
                token.trim(),
                "--root",
                "root.pub",
            ],
        )
    };
    ok(install("t1"));
    let o = install("t2");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("TOKEN_USED"));
    ok(s.factory(DAY1, &["audit", "verify"]));
    // The insider deletes the token's use: the token is spendable again.
    let sql = std::process::Command::new("sqlite3")
        .arg(s.v.join("factory.db"))
        .arg("DELETE FROM install_token_uses;")
        .output()
        .unwrap();
    assert!(sql.status.success(), "{sql:?}");
    let o = s.factory(DAY1, &["audit", "verify", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["check"], "audit_invalid", "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("a deleted use re-arms a spent token"),
        "{v}"
    );
    ok(install("t2"));
    let o = s.factory(DAY1, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
}
