//! The registry and the trust file under an insider's hand (issue 8, item 5 and 1): plain SQL
//! edits, a cut chain, an edited license re-signed by renew, a retired key re-added, text that
//! would drive an operator's terminal.

use crate::common::*;
use std::path::Path;

fn db(p: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(p.join("factory.db")).unwrap()
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap()
}

#[test]
fn an_sql_edit_to_a_license_row_breaks_the_audit_and_blocks_publishing() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    keys_and_trust(p);
    let id = issue(p, &["--tier", "professional", "--out", "l1"]);
    issue(p, &["--tier", "professional", "--out", "l2"]);
    ok(&fac(p, &["revoke", &id, "--reason", "unpaid"]));
    let head = json(&ok(&fac(p, &["audit", "verify", "--json"])))["head"]
        .as_str()
        .unwrap()
        .to_string();
    // The revocation undone with plain SQL.
    db(p)
        .execute(
            "UPDATE licenses SET revoked_at = NULL, revoke_reason = NULL WHERE license_id = ?1",
            [&id],
        )
        .unwrap();
    let o = fac(p, &["audit", "verify"]);
    fails(
        &o,
        1,
        &format!("license {id}'s row differs from what its last audit event recorded"),
    );
    // The next revocation list would silently omit it: publishing is refused.
    let o = fac(p, &["revocations", "--key", "keys/lic.key", "--out", "rl"]);
    fails(&o, 1, "registry altered");
    assert!(!p.join("rl/revocations.json").exists());
    // Put back: verifies again, and the recorded head is still in the chain.
    db(p)
        .execute(
            "UPDATE licenses SET revoked_at = (SELECT at FROM audit WHERE event = 'revoked'), revoke_reason = 'unpaid' WHERE license_id = ?1",
            [&id],
        )
        .unwrap();
    ok(&fac(p, &["audit", "verify", "--head", &head]));
    // A row inserted with plain SQL has no audit event.
    db(p)
        .execute_batch(
            "INSERT INTO licenses SELECT 'lic-forged', lineage_id || 'x', sequence, renewal_of, customer_id, customer_name, product, 'sovereign', issued_at, not_before, expires_at, 'ZZZZ-ZZZZ-ZZZZ-ZZZZ', key_id, renewed_by, revoked_at, revoke_reason, revoke_code, suspended_at, grace_days FROM licenses LIMIT 1;
             INSERT INTO license_documents SELECT 'lic-forged', document, signature FROM license_documents LIMIT 1;",
        )
        .unwrap();
    fails(
        &fac(p, &["audit", "verify"]),
        1,
        "lic-forged has no audit event",
    );
}

#[test]
fn a_cut_chain_is_caught_by_the_recorded_head() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    keys_and_trust(p);
    issue(p, &["--tier", "professional", "--out", "l1"]);
    let early = json(&ok(&fac(p, &["audit", "verify", "--json"])))["head"]
        .as_str()
        .unwrap()
        .to_string();
    let id2 = issue(p, &["--tier", "professional", "--out", "l2"]);
    // The operator records the head after the second issue (e.g. in the ops log).
    let recorded = json(&ok(&fac(p, &["audit", "verify", "--json"])))["head"]
        .as_str()
        .unwrap()
        .to_string();
    // An insider drops the append-only trigger and cuts the chain's tail with its license.
    db(p)
        .execute_batch(&format!(
            "DROP TRIGGER audit_no_delete;
             DELETE FROM audit WHERE subject = '{id2}';
             DELETE FROM license_documents WHERE license_id = '{id2}';
             DELETE FROM licenses WHERE license_id = '{id2}';"
        ))
        .unwrap();
    // A prefix of a chain is a chain: without an anchor the cut is invisible ...
    ok(&fac(p, &["audit", "verify"]));
    ok(&fac(p, &["audit", "verify", "--head", &early]));
    // ... the recorded head is gone from it.
    fails(
        &fac(p, &["audit", "verify", "--head", &recorded]),
        1,
        "is not in the audit chain",
    );
}

/// The same cut after a revocation list was published: the anchor signed at publication holds
/// the head, so `audit verify` finds the cut with no head recorded by anyone (`audit_invalid`).
/// Deleting the anchor too is found (the publication event says it was anchored). A malformed
/// `--head` is a usage error.
#[test]
fn a_cut_tail_is_caught_by_the_signed_anchor_alone() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    keys_and_trust(p);
    issue(p, &["--tier", "professional", "--out", "l1"]);
    let id2 = issue(p, &["--tier", "professional", "--out", "l2"]);
    ok(&fac(
        p,
        &["revocations", "--key", "keys/lic.key", "--out", "rl"],
    ));
    ok(&fac(p, &["audit", "verify"]));
    let cut = |extra: &str| {
        db(p)
            .execute_batch(&format!(
                "DROP TRIGGER IF EXISTS audit_no_delete;
                 DELETE FROM audit WHERE seq >= (SELECT min(seq) FROM audit WHERE subject = '{id2}');
                 DELETE FROM license_documents WHERE license_id = '{id2}';
                 DELETE FROM licenses WHERE license_id = '{id2}';
                 DELETE FROM revocation_lists;{extra}"
            ))
            .unwrap();
    };
    let backup = std::fs::read(p.join("factory.db")).unwrap();
    cut("");
    let o = fac(p, &["audit", "verify", "--json"]);
    fails(&o, 1, "its tail was cut or rewritten");
    assert_eq!(
        json(&String::from_utf8_lossy(&o.stdout))["check"],
        "audit_invalid"
    );
    // The anchor deleted with the tail: the chain that is left still says a list was anchored
    // (when the cut keeps the publication), and a cut below the publication leaves an anchor
    // the chain cannot hold; either way it is found.
    std::fs::write(p.join("factory.db"), &backup).unwrap();
    let _ = std::fs::remove_file(p.join("factory.db-wal"));
    db(p).execute_batch("DELETE FROM audit_anchors;").unwrap();
    fails(
        &fac(p, &["audit", "verify"]),
        1,
        "with an anchor that is gone",
    );
    // A malformed head is a usage error, not a verdict.
    fails(
        &fac(p, &["audit", "verify", "--head", "abc"]),
        2,
        "not an audit head",
    );
}

#[test]
fn renew_refuses_an_edited_license_instead_of_signing_it() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    keys_and_trust(p);
    let id = issue(p, &["--tier", "evaluation", "--out", "l1"]);
    // The stored document turned into a sovereign, unlimited license with plain SQL.
    let conn = db(p);
    let doc: Vec<u8> = conn
        .query_row(
            "SELECT document FROM license_documents WHERE license_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    let edited = String::from_utf8(doc)
        .unwrap()
        .replace("\"tier\":\"evaluation\"", "\"tier\":\"sovereign\"");
    conn.execute(
        "UPDATE license_documents SET document = ?1 WHERE license_id = ?2",
        rusqlite::params![edited.as_bytes(), id],
    )
    .unwrap();
    conn.execute(
        "UPDATE licenses SET tier = 'sovereign' WHERE license_id = ?1",
        [&id],
    )
    .unwrap();
    let o = fac(
        p,
        &[
            "renew",
            &id,
            "--expires",
            "2028-01-01",
            "--key",
            "keys/lic.key",
            "--out",
            "r1",
        ],
    );
    fails(&o, 2, "the stored document does not verify");
    assert!(!p.join("r1/license.json").exists());
}

#[test]
fn a_retired_key_is_not_re_added_with_a_fresh_window() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    keys_and_trust(p);
    let pubfile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("keys/lic.pub")).unwrap()).unwrap();
    let lic_id = pubfile["key_id"].as_str().unwrap().to_string();
    ok(&factory(
        p,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--from",
            "trust.json",
            "--retire",
            &lic_id,
            "--out",
            "trust-v2.json",
        ],
    ));
    let o = factory(
        p,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--from",
            "trust-v2.json",
            "--add",
            "keys/lic.pub",
            "--out",
            "trust-v3.json",
        ],
    );
    fails(&o, 2, "is retired in the previous trust file");
    assert!(!p.join("trust-v3.json").exists());
}

#[test]
fn control_characters_are_refused_at_issue() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    keys_and_trust(p);
    for name in ["ACME\u{1b}[2J Corp", "ACME\u{202e}proC", "ACME\nCorp"] {
        let o = fac(
            p,
            &[
                "issue",
                "--key",
                "keys/lic.key",
                "--product",
                "gateway",
                "--tier",
                "professional",
                "--customer",
                name,
                "--customer-id",
                "acme",
                "--out",
                "x",
            ],
        );
        assert_ne!(o.status.code(), Some(0));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("control or formatting character"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert!(!p.join("x").exists());
}

#[test]
fn an_un_revocation_hidden_by_a_forged_audit_event_cannot_be_published() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    keys_and_trust(p);
    let id = issue(p, &["--tier", "professional", "--out", "l1"]);
    ok(&fac(p, &["revoke", &id, "--reason", "unpaid"]));
    ok(&fac(
        p,
        &["revocations", "--key", "keys/lic.key", "--out", "rl1"],
    ));
    // The insider un-revokes with SQL and appends an event that chains correctly and records
    // the edited row (the chain has no secret, so this is possible).
    let conn = db(p);
    conn.execute(
        "UPDATE licenses SET revoked_at = NULL, revoke_reason = NULL WHERE license_id = ?1",
        [&id],
    )
    .unwrap();
    let reg = factory::registry::Registry::open(&p.join("factory.db")).unwrap();
    let row = factory::registry::row_hash(&reg.get(&id).unwrap().unwrap());
    let (seq, prev): (i64, String) = conn
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let at = canon::Timestamp::parse(NOW).unwrap();
    let s = |x: &str| canon::Value::String(x.into());
    let hash = canon::enc::sha256_hex(
        &canon::Value::object(vec![
            ("prev_hash".into(), s(&prev)),
            ("seq".into(), canon::Value::Number((seq + 1) as f64)),
            ("at".into(), s(&at.to_string())),
            ("event".into(), s("anchored")),
            ("subject".into(), s(&id)),
            ("detail".into(), s("")),
            ("row_hash".into(), s(&row)),
        ])
        .unwrap()
        .to_canonical(),
    );
    conn.execute(
        "INSERT INTO audit (seq, at, event, subject, detail, prev_hash, hash, row_hash) VALUES (?1, ?2, 'anchored', ?3, '', ?4, ?5, ?6)",
        rusqlite::params![seq + 1, at.0, id, prev, hash, row],
    )
    .unwrap();
    // The unkeyed chain cannot tell (documented limitation) ...
    ok(&fac(p, &["audit", "verify"]));
    // ... the signed list already published can: the next list would drop the license.
    fails(
        &fac(p, &["revocations", "--key", "keys/lic.key", "--out", "rl2"]),
        1,
        &format!(
            "license {id} was revoked in published list #1 but is not revoked in the registry"
        ),
    );
    assert!(!p.join("rl2/revocations.json").exists());
}
