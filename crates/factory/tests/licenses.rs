//! issue, renew, revoke, revocations, views, show, verify, migrate through the binary,
//! including every failure path with its message and exit code.

use crate::common::*;
use runtime::KeyStatus;
use std::fs;

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&ok(o)).unwrap()
}

#[test]
fn issue_sovereign_and_verify() {
    crate::common::on_each_registry(|p| {
        keys_and_trust(p);
        let o = fac(
            p,
            &[
                "issue",
                "--tier",
                "sovereign",
                "--customer",
                "ACME Corp",
                "--product",
                "gateway",
                "--expires",
                "2027-11-22",
                "--key",
                "keys/lic.key",
                "--out",
                "l1",
                "--json",
            ],
        );
        let rec = json(&o);
        assert_eq!(rec["tier"], "sovereign");
        assert_eq!(rec["view"], "active");
        let lic: serde_json::Value =
            serde_json::from_slice(&fs::read(p.join("l1/license.json")).unwrap()).unwrap();
        assert_eq!(lic["features"].as_array().unwrap().len(), 14);
        // Every product limit unlimited; the tier's activation terms are signed beside them.
        let limits = lic["limits"].as_object().unwrap();
        for l in ["agents", "aiorgs", "instances"] {
            assert_eq!(limits[l], 0, "{l}");
        }
        assert_eq!(limits["activation_required"], 1);
        assert_eq!(limits["activations"], 3);
        assert_eq!(limits["activation_overage_percent"], 34);
        assert_eq!(lic["renewal_of"], serde_json::Value::Null);
        let key = lic["license_key"].as_str().unwrap();
        assert!(runtime::license::valid_license_key(key), "{key}");
        let v = json(&fac(
            p,
            &[
                "verify",
                "l1/license.json",
                "--trust",
                "trust.json",
                "--json",
            ],
        ));
        assert_eq!(v["state"], "active");
        // Evaluation template: 3 agents, 1 AI org, 60 days, no production use.
        issue(p, &["--tier", "evaluation", "--out", "ev"]);
        let ev: serde_json::Value =
            serde_json::from_slice(&fs::read(p.join("ev/license.json")).unwrap()).unwrap();
        assert_eq!(ev["limits"]["agents"], 3);
        assert_eq!(ev["limits"]["aiorgs"], 1);
        assert_eq!(ev["production_use"], false);
        assert_eq!(ev["expires_at"], "2027-01-21T10:00:00Z");
        // Overrides.
        issue(
            p,
            &[
                "--tier",
                "professional",
                "--feature",
                "mssql",
                "--limit",
                "agents=500",
                "--out",
                "pro",
            ],
        );
        let pro: serde_json::Value =
            serde_json::from_slice(&fs::read(p.join("pro/license.json")).unwrap()).unwrap();
        assert!(pro["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "mssql"));
        assert_eq!(pro["limits"]["agents"], 500);
    });
}

#[test]
fn issue_refusals() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    keys_and_trust(p);
    let base = [
        "issue",
        "--key",
        "keys/lic.key",
        "--customer",
        "ACME",
        "--out",
        "x",
    ];
    let run = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        fac(p, &a)
    };
    fails(
        &run(&["--tier", "gold", "--product", "gateway"]),
        2,
        "unknown tier \"gold\"",
    );
    fails(
        &run(&["--tier", "sovereign", "--product", "toaster"]),
        2,
        "unknown product \"toaster\"",
    );
    fails(
        &run(&[
            "--tier",
            "professional",
            "--product",
            "gateway",
            "--feature",
            "teleport",
        ]),
        2,
        "unknown feature \"teleport\"",
    );
    fails(
        &run(&[
            "--tier",
            "professional",
            "--product",
            "gateway",
            "--limit",
            "robots=3",
        ]),
        2,
        "unknown limit \"robots\"",
    );
    fails(
        &run(&[
            "--tier",
            "professional",
            "--product",
            "gateway",
            "--limit",
            "agents=x",
        ]),
        2,
        "is not a whole number",
    );
    fails(
        &run(&[
            "--tier",
            "professional",
            "--product",
            "gateway",
            "--expires",
            "2020-01-01",
        ]),
        2,
        "must be after the start of validity",
    );
    fails(
        &run(&[
            "--tier",
            "professional",
            "--product",
            "gateway",
            "--expires",
            "2027-02-30",
        ]),
        2,
        "is not a date",
    );
    // Wrong role: a release key cannot sign licenses.
    fails(
        &fac(
            p,
            &[
                "issue",
                "--key",
                "keys/rel.key",
                "--customer",
                "A",
                "--product",
                "gateway",
                "--tier",
                "sovereign",
                "--out",
                "y",
            ],
        ),
        2,
        "this is a release key; this command signs with a license key",
    );
    // Loose permissions on the private key.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(p.join("keys/lic.key"), fs::Permissions::from_mode(0o644)).unwrap();
        fails(
            &run(&["--tier", "sovereign", "--product", "gateway"]),
            2,
            "accessible by group or others (mode 0644)",
        );
        fs::set_permissions(p.join("keys/lic.key"), fs::Permissions::from_mode(0o600)).unwrap();
    }
    // Nothing recorded: refused requests never even create the registry.
    assert!(
        !p.join("factory.db").exists(),
        "a refused request created a registry"
    );
    fails(&fac(p, &["list", "--json"]), 2, "no registry at");
}

#[test]
fn retired_revoked_and_expired_keys_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    keys_and_trust(p);
    let lic_id = fs::read_to_string(p.join("keys/lic.pub"))
        .unwrap()
        .split("\"key_id\":\"")
        .nth(1)
        .unwrap()[..16]
        .to_string();
    ok(&fac(
        p,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--from",
            "trust.json",
            "--out",
            "trust.json",
            "--retire",
            &lic_id,
        ],
    ));
    fails(
        &fac(
            p,
            &[
                "issue",
                "--key",
                "keys/lic.key",
                "--customer",
                "A",
                "--product",
                "gateway",
                "--tier",
                "sovereign",
                "--out",
                "a",
            ],
        ),
        2,
        "is retired in the trust file",
    );
    ok(&fac(
        p,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--from",
            "trust.json",
            "--out",
            "trust.json",
            "--revoke",
            &lic_id,
        ],
    ));
    fails(
        &fac(
            p,
            &[
                "issue",
                "--key",
                "keys/lic.key",
                "--customer",
                "A",
                "--product",
                "gateway",
                "--tier",
                "sovereign",
                "--out",
                "a",
            ],
        ),
        2,
        "is revoked in the trust file",
    );
    // Expired key: a new key whose window ended before now.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_factory"))
        .args([
            "keygen", "--role", "license", "--name", "old", "--out", "keys",
        ])
        .current_dir(p)
        .env("AIRLOCK_NOW", "2026-01-01T00:00:00Z")
        .output()
        .unwrap();
    ok(&o);
    ok(&fac(
        p,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--from",
            "trust.json",
            "--out",
            "trust.json",
            "--add",
            "keys/old.pub",
            "--not-after",
            "2026-11-22T09:00:00Z",
        ],
    ));
    fails(
        &fac(
            p,
            &[
                "issue",
                "--key",
                "keys/old.key",
                "--customer",
                "A",
                "--product",
                "gateway",
                "--tier",
                "sovereign",
                "--out",
                "a",
            ],
        ),
        2,
        "cannot sign now",
    );
}

#[test]
fn renew_lineage_revoke_and_views() {
    crate::common::on_each_registry(|p| {
        keys_and_trust(p);
        let a = issue(
            p,
            &[
                "--tier",
                "professional",
                "--expires",
                "2026-12-10",
                "--out",
                "a",
            ],
        );
        let b = ok(&fac(
            p,
            &[
                "renew",
                &a,
                "--expires",
                "2027-12-10",
                "--key",
                "keys/lic.key",
                "--out",
                "b",
            ],
        ))
        .trim()
        .to_string();
        let lb: serde_json::Value =
            serde_json::from_slice(&fs::read(p.join("b/license.json")).unwrap()).unwrap();
        let la: serde_json::Value =
            serde_json::from_slice(&fs::read(p.join("a/license.json")).unwrap()).unwrap();
        assert_eq!(lb["renewal_of"], a.as_str());
        assert_eq!(lb["lineage_id"], la["lineage_id"]);
        assert_eq!(lb["sequence"], 2);
        assert_eq!(
            lb["not_before"], "2026-12-10T00:00:00Z",
            "validity runs on from the old expiry"
        );
        // Renewing the old one again is refused (renew the latest).
        fails(
            &fac(
                p,
                &[
                    "renew",
                    &a,
                    "--expires",
                    "2028-01-01",
                    "--key",
                    "keys/lic.key",
                    "--out",
                    "c",
                ],
            ),
            2,
            "already renewed by",
        );
        let show = json(&fac(p, &["show", &b, "--json"]));
        assert_eq!(show["lineage"].as_array().unwrap().len(), 2);
        assert_eq!(show["license"]["view"], "future");
        // One license per view.
        let soon = issue(
            p,
            &[
                "--tier",
                "professional",
                "--expires",
                "2026-12-01",
                "--out",
                "soon",
            ],
        );
        let active = issue(
            p,
            &[
                "--tier",
                "professional",
                "--expires",
                "2027-12-01",
                "--out",
                "act",
            ],
        );
        let future = issue(
            p,
            &[
                "--tier",
                "professional",
                "--not-before",
                "2027-01-01",
                "--expires",
                "2027-12-01",
                "--out",
                "fut",
            ],
        );
        let revoked = issue(
            p,
            &[
                "--tier",
                "professional",
                "--expires",
                "2027-12-01",
                "--out",
                "rev",
            ],
        );
        fails(
            &fac(p, &["revoke", &revoked, "--reason", "x", "--code", "fraud"]),
            2,
            "not a reason code",
        );
        ok(&fac(
            p,
            &[
                "revoke",
                &revoked,
                "--reason",
                "non-payment since March",
                "--code",
                "privilege_withdrawn",
            ],
        ));
        fails(
            &fac(p, &["revoke", &revoked, "--reason", "again"]),
            2,
            "already revoked",
        );
        fails(
            &fac(
                p,
                &[
                    "renew",
                    &revoked,
                    "--expires",
                    "2028-01-01",
                    "--key",
                    "keys/lic.key",
                    "--out",
                    "r2",
                ],
            ),
            2,
            "a revoked license cannot be renewed",
        );
        let view = |v: &str| -> Vec<String> {
            json(&fac(p, &["list", "--view", v, "--json"]))["licenses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["license_id"].as_str().unwrap().to_string())
                .collect()
        };
        // Renewed early: `a` stays in force (its own view, with renewed_by) until its renewal
        // begins.
        assert!(view("renewed").is_empty());
        assert_eq!(view("revoked"), vec![revoked.clone()]);
        assert_eq!(view("expiring-soon"), vec![soon.clone(), a.clone()]);
        assert_eq!(view("active"), vec![active.clone()]);
        let mut fut = view("future");
        fut.sort();
        let mut want = vec![b.clone(), future.clone()];
        want.sort();
        assert_eq!(fut, want);
        assert!(view("expired").is_empty());
        // Later (time moves via AIRLOCK_NOW): the expiring-soon one is in its 14 grace days,
        // then expired; `a` is renewed once its renewal has begun.
        let at = |now: &str, v: &str| -> Vec<String> {
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_factory"))
                .args(["list", "--view", v, "--json"])
                .env("AIRLOCK_NOW", now)
                .env("FACTORY_DB", crate::common::db_of(p))
                .output()
                .unwrap();
            json(&o)["licenses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["license_id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(at("2026-12-05T00:00:00Z", "grace"), vec![soon.clone()]);
        assert!(at("2026-12-05T00:00:00Z", "expired").is_empty());
        assert_eq!(at("2026-12-20T00:00:00Z", "expired"), vec![soon.clone()]);
        assert_eq!(at("2026-12-20T00:00:00Z", "renewed"), vec![a.clone()]);
        // Each license appears in exactly one view.
        let all = json(&fac(p, &["list", "--json"]));
        assert_eq!(all["licenses"].as_array().unwrap().len(), 6);
        assert_eq!(
            (&all["valid"], &all["command"]),
            (&serde_json::json!(true), &serde_json::json!("list"))
        );
        // Revocation list: signed, sequence increases.
        ok(&fac(
            p,
            &["revocations", "--key", "keys/lic.key", "--out", "rl"],
        ));
        let r1: serde_json::Value =
            serde_json::from_slice(&fs::read(p.join("rl/revocations.json")).unwrap()).unwrap();
        assert_eq!(r1["sequence"], 1);
        assert_eq!(r1["revoked"][0]["license_id"], revoked.as_str());
        // The code is published; the vendor's own words stay in the registry.
        assert_eq!(r1["revoked"][0]["reason"], "privilege_withdrawn");
        let published = fs::read_to_string(p.join("rl/revocations.json")).unwrap();
        assert!(!published.contains("non-payment"), "{published}");
        ok(&fac(
            p,
            &["revocations", "--key", "keys/lic.key", "--out", "rl"],
        ));
        let r2: serde_json::Value =
            serde_json::from_slice(&fs::read(p.join("rl/revocations.json")).unwrap()).unwrap();
        assert_eq!(r2["sequence"], 2);
        let audit = json(&fac(p, &["audit", "verify", "--json"]));
        // 9 events, plus one `superseded` event recording the renewed predecessor's new row,
        // plus `trust_kept` for the trust file the first signing command was given.
        assert_eq!(audit["events"], 11);
        assert_eq!(audit["head"].as_str().unwrap().len(), 64);
    });
}

#[test]
fn verify_rejects_tampering_and_migrate_reissues_legacy() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    keys_and_trust(p);
    issue(p, &["--tier", "professional", "--out", "a"]);
    let text = fs::read_to_string(p.join("a/license.json")).unwrap();
    fs::create_dir(p.join("t")).unwrap();
    fs::write(
        p.join("t/license.json"),
        text.replace("\"agents\": 50", "\"agents\": 5000"),
    )
    .unwrap();
    fs::copy(p.join("a/license.sig"), p.join("t/license.sig")).unwrap();
    fails(
        &fac(p, &["verify", "t/license.json", "--trust", "trust.json"]),
        1,
        "license: signature does not verify under key",
    );
    fs::remove_file(p.join("t/license.sig")).unwrap();
    fails(
        &fac(p, &["verify", "t/license.json", "--trust", "trust.json"]),
        1,
        "license.sig is missing",
    );

    // Legacy v2 fixture: generated by code from the dev key, identical to the committed file.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fixture = fs::read(root.join("fixtures/legacy-v2/license.json")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::copy(
            root.join("keys-dev/dev-license.key"),
            p.join("dev-license.key"),
        )
        .unwrap();
        fs::set_permissions(p.join("dev-license.key"), fs::Permissions::from_mode(0o600)).unwrap();
        let key = signing::SecretKey::load(&p.join("dev-license.key")).unwrap();
        assert_eq!(
            factory::fixtures::legacy_v2_license(&key).unwrap(),
            fixture,
            "regenerate: cargo run -p factory --example gen_fixtures"
        );
    }
    let devtrust = root.join("keys-dev/trust.json");
    let o = fac(
        p,
        &[
            "verify",
            root.join("fixtures/legacy-v2/license.json")
                .to_str()
                .unwrap(),
            "--trust",
            devtrust.to_str().unwrap(),
        ],
    );
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("deprecated schema-2 license"));
    // After the cut-off the legacy license is refused.
    let late = std::process::Command::new(env!("CARGO_BIN_EXE_factory"))
        .args([
            "verify",
            root.join("fixtures/legacy-v2/license.json")
                .to_str()
                .unwrap(),
            "--trust",
            devtrust.to_str().unwrap(),
            "--at",
            "2027-01-02",
        ])
        .output()
        .unwrap();
    fails(
        &late,
        1,
        "schema 2 licenses are refused from 2027-01-01T00:00:00Z on",
    );
    // Migrate (with the dev trust and key).
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_factory"))
        .args([
            "migrate",
            root.join("fixtures/legacy-v2/license.json")
                .to_str()
                .unwrap(),
            "--key",
            "dev-license.key",
            "--out",
            "mig",
            "--trust",
            devtrust.to_str().unwrap(),
            "--json",
        ])
        .current_dir(p)
        .env("AIRLOCK_NOW", NOW)
        .env("FACTORY_DB", p.join("factory.db"))
        .output()
        .unwrap();
    let rec = json(&o);
    assert_eq!(rec["renewal_of"], "lic-legacy-0001");
    assert_eq!(rec["sequence"], 2);
    // Twice: the successor is named, not a raw UNIQUE constraint error.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_factory"))
        .args([
            "migrate",
            root.join("fixtures/legacy-v2/license.json")
                .to_str()
                .unwrap(),
            "--key",
            "dev-license.key",
            "--out",
            "mig2",
            "--trust",
            devtrust.to_str().unwrap(),
        ])
        .current_dir(p)
        .env("AIRLOCK_NOW", NOW)
        .env("FACTORY_DB", p.join("factory.db"))
        .output()
        .unwrap();
    fails(
        &again,
        2,
        &format!(
            "already migrated: its schema-3 successor is {}",
            rec["license_id"].as_str().unwrap()
        ),
    );
    assert!(!String::from_utf8_lossy(&again.stderr).contains("UNIQUE"));
    assert!(!p.join("mig2").exists());
    let v = json(&fac(
        p,
        &[
            "verify",
            "mig/license.json",
            "--trust",
            devtrust.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(v["legacy"], false);
    let legacy = json(&fac(p, &["show", "lic-legacy-0001", "--json"]));
    assert_eq!(legacy["license"]["view"], "renewed");
}

#[test]
fn a_legacy_license_sig_must_name_the_key_that_signed() {
    use canon::{Kind, Role};
    let keys = testkit::Keys::new();
    let other = testkit::key(4, Role::License);
    let trust = keys.store_with(&[
        testkit::entry(&keys.root, KeyStatus::Active),
        testkit::entry(&keys.license, KeyStatus::Active),
        testkit::entry(&other, KeyStatus::Active),
    ]);
    let lic = &keys.license;
    let t = testkit::t;
    let doc = factory::fixtures::legacy_v2_license(lic).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    let inline: [u8; 64] = canon::enc::unb64_exact(v["signature"].as_str().unwrap()).unwrap();
    let policy = runtime::license::LegacyPolicy::default();
    let now = t("2026-11-22");
    let detached = |key_id| {
        canon::Envelope {
            key_id,
            kind: Kind::License,
            sig: inline,
        }
        .to_bytes()
    };
    // Naming the signer: accepted (the detached file is the trust source).
    runtime::license::verify_license(&trust, &doc, Some(&detached(lic.key_id())), &policy, now)
        .unwrap();
    // The same signature labelled with another trusted license key: refused, not ignored.
    let e = runtime::license::verify_license(
        &trust,
        &doc,
        Some(&detached(other.key_id())),
        &policy,
        now,
    )
    .unwrap_err();
    assert_eq!(e.code(), "schema_invalid", "{e}");
    assert!(e.to_string().contains("names another key"), "{e}");
}

#[test]
fn list_limit_counts_rows_of_the_whole_listing() {
    crate::common::on_each_registry(|p| {
        keys_and_trust(p);
        // Two active licenses, one future and one about to expire: three views have rows.
        issue(p, &["--tier", "professional", "--out", "a1"]);
        issue(p, &["--tier", "professional", "--out", "a2"]);
        issue(
            p,
            &[
                "--tier",
                "professional",
                "--not-before",
                "2027-01-01",
                "--out",
                "f1",
            ],
        );
        issue(
            p,
            &[
                "--tier",
                "professional",
                "--expires",
                "2026-12-01",
                "--out",
                "e1",
            ],
        );
        let rows = |args: &[&str]| {
            let mut a = vec!["list", "--json"];
            a.extend_from_slice(args);
            json(&fac(p, &a))["licenses"].as_array().unwrap().len()
        };
        assert!(rows(&[]) >= 4);
        for n in [1usize, 2, 3] {
            let limit = n.to_string();
            assert_eq!(rows(&["--limit", &limit]), n, "--limit {n}");
        }
        let text = ok(&fac(p, &["list", "--limit", "2"]));
        assert_eq!(text.lines().count(), 1 + 2, "header and two rows:\n{text}");
    });
}
