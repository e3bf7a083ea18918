//! The license desk (issue 23): a new vendor with its own keys makes the everyday mistakes of
//! a licensing desk through the real `factory`, and nothing is issued twice or written for
//! the wrong customer.

use crate::kit::*;
use std::path::Path;

const T0: &str = "2026-11-22T10:00:00Z";

/// Fresh keys (root, license) and trust v1 in `v`.
pub(crate) fn desk(v: &Path) {
    for (role, name) in [("root", "root"), ("license", "license")] {
        ok(vendor(
            v,
            "factory",
            T0,
            &["keygen", "--role", role, "--name", name, "--out", "keys"],
        ));
    }
    ok(vendor(
        v,
        "factory",
        T0,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--add",
            "keys/license.pub",
            "--out",
            "trust.json",
        ],
    ));
}

fn issue(v: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "issue",
        "--key",
        "keys/license.key",
        "--trust",
        "trust.json",
    ];
    if !args.contains(&"--batch") {
        all.extend(["--product", "gateway"]);
    }
    all.extend_from_slice(args);
    vendor(v, "factory", T0, &all)
}

fn count(v: &Path) -> usize {
    registry_query(v, "SELECT count(*) FROM licenses")
        .parse()
        .unwrap()
}

#[test]
fn the_desk_makes_no_silent_mistakes() {
    on_each_registry(|url| {
        let d = tempfile::tempdir().unwrap();
        let v = d.path();
        if let Some(url) = url {
            std::fs::write(v.join("registry.url"), url).unwrap();
        }
        desk(v);

        // A request id reused for another customer is refused, names the license that holds
        // it, and writes nothing into the new directory.
        let first = ok(issue(
            v,
            &[
                "--tier",
                "professional",
                "--customer",
                "Acme Corp",
                "--request-id",
                "order-1",
                "--out",
                "acme",
            ],
        ));
        let first = first.trim();
        fails(
            issue(
                v,
                &[
                    "--tier",
                    "professional",
                    "--customer",
                    "Globex",
                    "--request-id",
                    "order-1",
                    "--out",
                    "globex",
                ],
            ),
            2,
            &format!("request id order-1 is already recorded as license {first}"),
        );
        assert!(!v.join("globex").exists(), "nothing written for Globex");
        // The same request again is the same license (a retry), never a second one.
        let again = ok(issue(
            v,
            &[
                "--tier",
                "professional",
                "--customer",
                "Acme Corp",
                "--request-id",
                "order-1",
                "--out",
                "acme-again",
            ],
        ));
        assert_eq!(again.trim(), first);
        assert_eq!(count(v), 1);

        // A customer id derived from a name that belongs to another name is refused with the
        // ids to use; the explicit id is taken as the vendor's word.
        fails(
            issue(
                v,
                &[
                    "--tier",
                    "evaluation",
                    "--customer",
                    "ACME corp.",
                    "--out",
                    "acme2",
                ],
            ),
            2,
            "already belongs to \"Acme Corp\"; nothing was issued: if this is that customer, pass --customer-id acme-corp",
        );
        let o = issue(
            v,
            &[
                "--tier",
                "evaluation",
                "--customer",
                "ACME corp.",
                "--out",
                "acme2",
            ],
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("--customer-id acme-corp-2"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        ok(issue(
            v,
            &[
                "--tier",
                "evaluation",
                "--customer",
                "ACME corp.",
                "--customer-id",
                "acme-corp-2",
                "--out",
                "acme2",
            ],
        ));
        assert_eq!(count(v), 2);

        // A second live license of one product and tier for one customer needs --additional.
        fails(
            issue(
                v,
                &[
                    "--tier",
                    "professional",
                    "--customer",
                    "Acme Corp",
                    "--out",
                    "acme3",
                ],
            ),
            2,
            &format!("already holds a live gateway professional license, {first}"),
        );
        assert!(!v.join("acme3").exists());

        // A batch, interrupted or not, then edited with one line more: only the new line is
        // issued. A line that repeats a live license is refused (the whole run issues
        // nothing) unless it says "additional".
        let line = |c: &str| {
            format!(
                r#"{{"tier":"sovereign","customer":"{c}","product":"gateway","expires":"2027-12-01"}}"#
            )
        };
        let three = [line("Initech"), line("Hooli"), line("Umbrella")].join("\n");
        std::fs::write(v.join("b.jsonl"), format!("{three}\n")).unwrap();
        let batch = |extra: &[&str]| {
            let mut a = vec!["--batch", "b.jsonl", "--out", "batch"];
            a.extend_from_slice(extra);
            issue(v, &a)
        };
        let ids1 = ok(batch(&[]));
        assert_eq!(count(v), 5);
        std::fs::write(v.join("b.jsonl"), format!("{three}\n{}\n", line("Stark"))).unwrap();
        let ids2 = ok(batch(&[]));
        assert_eq!(count(v), 6, "only the added line is issued");
        assert!(ids2.starts_with(&ids1), "{ids1} / {ids2}");
        // The same customer again on another line (another expiry): refused, nothing issued.
        let dup =
            r#"{"tier":"sovereign","customer":"Hooli","product":"gateway","expires":"2028-01-01"}"#;
        std::fs::write(
            v.join("b.jsonl"),
            format!("{three}\n{}\n{dup}\n", line("Stark")),
        )
        .unwrap();
        fails(
            batch(&[]),
            2,
            "customer hooli already holds a live gateway sovereign license",
        );
        assert_eq!(count(v), 6);
        // Identical lines are one request: refused with the way to issue both.
        std::fs::write(v.join("b.jsonl"), format!("{three}\n{}\n", line("Hooli"))).unwrap();
        fails(batch(&[]), 2, "the same request as line 2");
        // Asked for: issued.
        let dup = r#"{"tier":"sovereign","customer":"Hooli","product":"gateway","expires":"2028-01-01","additional":true}"#;
        std::fs::write(v.join("b.jsonl"), format!("{three}\n{dup}\n")).unwrap();
        ok(batch(&[]));
        assert_eq!(count(v), 7);

        // Revocation: the vendor's words stay in the registry, the list says the code.
        ok(vendor(
            v,
            "factory",
            T0,
            &[
                "revoke",
                first,
                "--reason",
                "non-payment since March",
                "--code",
                "privilege_withdrawn",
            ],
        ));
        ok(vendor(
            v,
            "factory",
            T0,
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
        let list = std::fs::read_to_string(v.join("rl/revocations.json")).unwrap();
        assert!(list.contains("privilege_withdrawn"), "{list}");
        assert!(!list.contains("non-payment"), "{list}");
    });
}

#[test]
fn signing_keys_are_checked_against_the_trust_file_the_registry_keeps() {
    let d = tempfile::tempdir().unwrap();
    let v = d.path();
    desk(v);
    ok(vendor(
        v,
        "factory",
        T0,
        &[
            "keygen", "--role", "license", "--name", "license2", "--out", "keys",
        ],
    ));
    // No trust file known yet (a fresh registry): signing warns, and the registry keeps the
    // first trust file it is given.
    let o = vendor(
        v,
        "factory",
        T0,
        &[
            "issue",
            "--key",
            "keys/license.key",
            "--product",
            "gateway",
            "--tier",
            "evaluation",
            "--customer",
            "First",
            "--out",
            "first",
        ],
    );
    ok(o.clone());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no trust file known"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let sign = |key: &str, customer: &str, trust: Option<&str>, now: &str| {
        let mut a = vec![
            "issue",
            "--key",
            key,
            "--product",
            "gateway",
            "--tier",
            "evaluation",
            "--customer",
            customer,
            "--out",
            customer,
        ];
        if let Some(t) = trust {
            a.extend(["--trust", t]);
        }
        vendor(v, "factory", now, &a)
    };
    ok(sign("keys/license.key", "Second", Some("trust.json"), T0));
    // Trust v2 revokes the first license key and adds the second; `factory trust` hands it
    // to the registry.
    let id = key_id(v, "keys/license.pub");
    let o = ok(vendor(
        v,
        "factory",
        T0,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--from",
            "trust.json",
            "--add",
            "keys/license2.pub",
            "--revoke",
            &id,
            "--out",
            "trust-v2.json",
            "--json",
        ],
    ));
    let o: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(o["kept_in_registry"], true, "{o}");
    // Without --trust, and with the old file passed by habit: the revoked key is refused.
    fails(
        sign("keys/license.key", "Third", None, T0),
        2,
        "is revoked in the trust file",
    );
    fails(
        sign("keys/license.key", "Third", Some("trust.json"), T0),
        2,
        "is revoked in the trust file",
    );
    assert!(!v.join("Third").exists());
    ok(sign("keys/license2.key", "Third", None, T0));
    // A signing time before the key existed is refused, trust file or not.
    fails(
        sign("keys/license2.key", "Fourth", None, "2026-11-01T00:00:00Z"),
        2,
        "before it existed",
    );
    assert_eq!(
        registry_query(v, "SELECT count(*) FROM licenses"),
        "3",
        "nothing recorded for the refused ones"
    );
}

#[test]
fn the_book_is_private_and_says_no_password() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let v = d.path();
    desk(v);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // The vendor directory exists already (as the vendor home usually does): the registry is
    // still created 0600, and so are its WAL files.
    ok(issue(
        v,
        &[
            "--tier",
            "evaluation",
            "--customer",
            "Acme",
            "--out",
            "acme",
        ],
    ));
    assert_eq!(mode(&v.join("factory.db")), 0o600);
    for side in ["factory.db-wal", "factory.db-shm"] {
        if v.join(side).exists() {
            assert_eq!(mode(&v.join(side)), 0o600, "{side}");
        }
    }
    // A registry made readable by someone else is made private again by the next command.
    std::fs::set_permissions(v.join("factory.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(vendor(v, "factory", T0, &["list"]));
    assert_eq!(mode(&v.join("factory.db")), 0o600);
    // `factory home` shows a PostgreSQL registry without its password.
    let o = std::process::Command::new(bin("factory"))
        .args(["home", "--json"])
        .env("AIRLOCK_HOME", v.join("home"))
        .env(
            "AIRLOCK_DB",
            "postgres://airlock:s3cret-pw@127.0.0.1:5432/book",
        )
        .output()
        .unwrap();
    let text = ok(o);
    assert!(!text.contains("s3cret-pw"), "{text}");
    assert!(text.contains("airlock:***@127.0.0.1"), "{text}");
}

#[test]
fn export_all_restores_the_whole_book_and_only_what_is_missing() {
    let d = tempfile::tempdir().unwrap();
    let v = d.path();
    desk(v);
    let lines: Vec<String> = (0..1200)
        .map(|i| {
            format!(r#"{{"tier":"evaluation","customer":"Customer {i}","product":"gateway"}}"#)
        })
        .collect();
    std::fs::write(v.join("b.jsonl"), lines.join("\n")).unwrap();
    ok(issue(v, &["--batch", "b.jsonl", "--out", "issued"]));
    // Everything lost but the registry: more than one page (1000) comes back.
    let json = |o| -> serde_json::Value { serde_json::from_str(&ok(o)).unwrap() };
    let all = |out: &str| {
        vendor(
            v,
            "factory",
            T0,
            &["export", "--all", "--out", out, "--json"],
        )
    };
    let r = json(all("restored"));
    assert_eq!(
        (r["licenses"].as_u64(), r["restored"].as_u64()),
        (Some(1200), Some(1200))
    );
    let first = std::fs::read_dir(v.join("issued"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let name = first.file_name();
    assert_eq!(
        std::fs::read(first.path().join("license.sig")).unwrap(),
        std::fs::read(v.join("restored").join(&name).join("license.sig")).unwrap(),
        "the recorded bytes"
    );
    // One file lost: only it is written again. A run killed midway left a hidden partial
    // directory (its process is gone): removed, and said so.
    std::fs::remove_file(v.join("restored").join(&name).join("license.json")).unwrap();
    let stale = v.join("restored/.lic-0000000000000000.part-4194304");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("license.json"), b"{\"partial").unwrap();
    let o = all("restored");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("removed 1 partial directories"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = json(o);
    assert_eq!(r["restored"].as_u64(), Some(1));
    assert!(!stale.exists());
}

/// `example-product` with the clock at `now`.
fn product(v: &Path, now: &str, args: &[&str]) -> std::process::Output {
    testkit::at_clock(now, bin("example-product"))
        .args(args)
        .current_dir(v)
        .output()
        .unwrap()
}

#[test]
fn the_example_product_asks_what_it_is_told_and_names_each_state() {
    let d = tempfile::tempdir().unwrap();
    let v = d.path();
    desk(v);
    ok(issue(
        v,
        &[
            "--tier",
            "evaluation",
            "--customer",
            "Later",
            "--not-before",
            "2027-01-01",
            "--expires",
            "2027-06-01",
            "--out",
            "later",
        ],
    ));
    let ask_with = |now: &str, agents: &str| {
        product(
            v,
            now,
            &[
                "--trust",
                "trust.json",
                "--license",
                "later",
                "--state",
                "st",
                "--root",
                "keys/root.pub",
                "--feature",
                "pim",
                "--limit",
                agents,
            ],
        )
    };
    let ask = |now: &str| ask_with(now, "agents=2");
    // Before it begins: its own code, for the feature and the limit the product asked for.
    let o = ask("2026-12-01T00:00:00Z");
    assert_eq!(o.status.code(), Some(3));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("feature pim: denied (license_not_yet_valid, HTTP 402)"),
        "{out}"
    );
    assert!(
        out.contains("one more of agents (2 in use): denied (license_not_yet_valid"),
        "{out}"
    );
    // Begun: allowed (the evaluation tier: pim, three agents), the limit from the arguments.
    let o = ask("2027-02-01T00:00:00Z");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("feature pim: allowed"), "{out}");
    let o = ask_with("2027-02-01T00:00:00Z", "agents=3");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(
        out.contains("denied (agent_limit_reached, HTTP 402)"),
        "{out}"
    );
    // Past its end (an evaluation license, no grace): its own code again.
    let o = ask("2027-09-01T00:00:00Z");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("denied (evaluation_expired"), "{out}");
}

#[test]
fn the_desk_finds_anything() {
    on_each_registry(|url| {
        let d = tempfile::tempdir().unwrap();
        let v = d.path();
        if let Some(url) = url {
            std::fs::write(v.join("registry.url"), url).unwrap();
        }
        desk(v);
        let id = |o: std::process::Output| ok(o).trim().to_string();
        let acme = id(issue(
            v,
            &[
                "--tier",
                "professional",
                "--customer",
                "Acme Corp",
                "--expires",
                "2027-01-10",
                "--device-limit",
                "3",
                "--feature",
                "mssql",
                "--out",
                "acme",
            ],
        ));
        let globex = id(issue(
            v,
            &[
                "--tier",
                "sovereign",
                "--customer",
                "Globex",
                "--out",
                "globex",
            ],
        ));
        let initech = id(issue(
            v,
            &[
                "--tier",
                "professional",
                "--customer",
                "Initech",
                "--expires",
                "2026-12-01",
                "--out",
                "initech",
            ],
        ));
        let fac = |now: &str, args: &[&str]| -> serde_json::Value {
            serde_json::from_str(&ok(vendor(v, "factory", now, args))).unwrap()
        };
        // Renewed early: the license in force stays in its own view with "renewed by".
        let renewal = ok(vendor(
            v,
            "factory",
            T0,
            &[
                "renew",
                &acme,
                "--expires",
                "2028-01-10",
                "--key",
                "keys/license.key",
                "--trust",
                "trust.json",
                "--out",
                "acme-2028",
            ],
        ))
        .trim()
        .to_string();
        let ids = |x: &serde_json::Value| -> Vec<String> {
            x["licenses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["license_id"].as_str().unwrap().to_string())
                .collect()
        };
        let active = fac(T0, &["list", "--view", "active", "--json"]);
        assert!(ids(&active).contains(&acme), "{active}");
        assert!(
            fac(T0, &["list", "--view", "renewed", "--json"])["licenses"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        let text = ok(vendor(v, "factory", T0, &["list", "--view", "active"]));
        assert!(
            text.contains(&format!("active (renewed by {renewal})")),
            "{text}"
        );
        // A customer in grace is in `grace`, not `expired`.
        assert_eq!(
            ids(&fac(
                "2026-12-05T00:00:00Z",
                &["list", "--view", "grace", "--json"]
            )),
            vec![initech.clone()]
        );
        // `show` by the human key read over the phone: lower case, no dashes.
        let shown = fac(T0, &["show", &acme, "--json"]);
        let key = shown["license"]["license_key"]
            .as_str()
            .unwrap()
            .to_string();
        let spoken = key.replace('-', " ").to_lowercase();
        let by_key = fac(T0, &["show", &spoken, "--json"]);
        assert_eq!(by_key["license"]["license_id"], acme.as_str());
        assert_eq!(by_key["terms"]["device_limit"], 3);
        assert!(by_key["terms"]["features"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("mssql")));
        assert_eq!(by_key["terms"]["limits"]["agents"], 50);
        assert_eq!(by_key["seats_in_use"], 0);
        assert_eq!(by_key["license"]["grace_days"], 14);
        fails(
            vendor(v, "factory", T0, &["show", "ZZZZ-ZZZZ-ZZZZ-ZZZZ"]),
            2,
            "neither an id nor a license key",
        );
        // Filters: customer, product, tier, signing key, lineage.
        let all = |f: &[&str]| -> Vec<String> {
            let mut a = vec!["list", "--json"];
            a.extend_from_slice(f);
            let mut x = ids(&fac(T0, &a));
            x.sort();
            x
        };
        let mut acme_line = vec![acme.clone(), renewal.clone()];
        acme_line.sort();
        assert_eq!(all(&["--customer", "acme-corp"]), acme_line);
        assert_eq!(all(&["--tier", "sovereign"]), vec![globex.clone()]);
        assert_eq!(all(&["--product", "gateway"]).len(), 4);
        let kid = key_id(v, "keys/license.pub");
        assert_eq!(all(&["--signed-by", &kid]).len(), 4);
        assert!(all(&["--signed-by", "0000000000000000"]).is_empty());
        let lineage = shown["license"]["lineage_id"].as_str().unwrap();
        assert_eq!(all(&["--lineage", lineage]), acme_line);
        assert_eq!(
            all(&["--customer", "acme-corp", "--tier", "sovereign"]),
            Vec::<String>::new()
        );
    });
}
