//! `factory activation`: the seat decision (table and properties), racing processes, and every
//! refusal, driven through the real binary with requests signed by freshly made instance keys.

use crate::common::{fails, ok, NOW};
use canon::{enc, Kind, Role, Timestamp};
use factory::activation::{decide, Code, Decision, Seat, Terms};
use proptest::prelude::*;
use runtime::activation::{ActivationRequest, Deactivation, SignedFile};
use runtime::license::License;
use runtime::Artifact;
use signing::SecretKey;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn at(dir: &Path, now: &str, args: &[&str]) -> Output {
    crate::common::fac_at(dir, now, args)
}

fn fac(dir: &Path, args: &[&str]) -> Output {
    at(dir, NOW, args)
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// Keys (root, license, release, activation) generated now, a trust file, and a professional
/// license with `limit` seats in `lic/`.
fn vendor(dir: &Path, limit: u64) -> License {
    for (role, name) in [
        ("root", "root"),
        ("license", "lic"),
        ("release", "rel"),
        ("activation", "act"),
    ] {
        ok(&fac(
            dir,
            &["keygen", "--role", role, "--name", name, "--out", "keys"],
        ));
    }
    ok(&fac(
        dir,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--add",
            "keys/lic.pub",
            "keys/rel.pub",
            "keys/act.pub",
            "--out",
            "trust.json",
        ],
    ));
    issue(dir, "lic", limit)
}

fn issue(dir: &Path, out: &str, limit: u64) -> License {
    ok(&fac(
        dir,
        &[
            "issue",
            "--tier",
            "professional",
            "--customer",
            "Acme",
            "--product",
            "gateway",
            "--expires",
            "2027-06-01",
            "--device-limit",
            &limit.to_string(),
            "--key",
            "keys/lic.key",
            "--out",
            out,
        ],
    ));
    let doc = std::fs::read(dir.join(out).join("license.json")).unwrap();
    License::parse(&doc).unwrap().0
}

/// A machine: its instance key and its fingerprint for the gateway.
struct Machine {
    key: SecretKey,
    fingerprint: String,
}

fn machine(n: u8) -> Machine {
    Machine {
        key: SecretKey::from_seed(&[n; 32], "instance", Role::Instance, Timestamp(0)).unwrap(),
        fingerprint: runtime::fingerprint::derive(format!("machine-{n}").as_bytes(), "gateway"),
    }
}

fn sign_file<A: Artifact>(k: &SecretKey, kind: Kind, a: &A) -> Vec<u8> {
    let canonical = a.to_canonical();
    SignedFile {
        envelope: k.sign_document(kind, &canonical).unwrap(),
        canonical,
    }
    .to_bytes()
}

fn request_of(l: &License, m: &Machine, created: &str) -> ActivationRequest {
    let mut rid = [0u8; 16];
    rid[..8].copy_from_slice(&m.key.public_key()[..8]);
    rid[8..].copy_from_slice(
        &(created.len() as u64 + NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
            .to_be_bytes(),
    );
    ActivationRequest {
        doc_type: "airlock-activation-request".into(),
        request_id: enc::hex(&rid),
        license_id: l.license_id.clone(),
        license_key: l.license_key.clone(),
        lineage_id: l.lineage_id.clone(),
        product: l.product.clone(),
        workspace: l.workspace.clone(),
        fingerprint: m.fingerprint.clone(),
        fingerprint_source: "machine-id".into(),
        instance_public_key: enc::b64(&m.key.public_key()),
        label: "node".into(),
        created_at: created.into(),
        install_token_id: None,
        encryption_public_key: None,
        builds: Vec::new(),
        pool: false,
        components: Default::default(),
        environment: None,
    }
}

static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn write_request(dir: &Path, name: &str, m: &Machine, r: &ActivationRequest) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, sign_file(&m.key, Kind::ActivationRequest, r)).unwrap();
    p
}

fn fulfil(dir: &Path, now: &str, req: &Path, out: &str) -> Output {
    at(
        dir,
        now,
        &[
            "activation",
            "fulfill",
            req.to_str().unwrap(),
            "--key",
            "keys/act.key",
            "--out",
            out,
            "--json",
        ],
    )
}

#[test]
fn the_seat_decision_table() {
    let seat = |id: &str, fp: &str| Seat {
        activation_id: id.into(),
        fingerprint: fp.into(),
        instance_key: format!("key-{fp}"),
        overage: false,
    };
    let t = |limit, max, new| Terms {
        device_limit: limit,
        max_seats: max,
        new_seats: new,
    };
    let two = [seat("a", "f1"), seat("b", "f2")];
    assert_eq!(
        decide(&t(3, 3, true), &two, "f3", "key-f3"),
        Decision::New { overage: false }
    );
    assert_eq!(
        decide(&t(2, 2, true), &two, "f3", "key-f3"),
        Decision::Refused(Code::DeviceLimitExceeded)
    );
    assert_eq!(
        decide(&t(2, 3, true), &two, "f3", "key-f3"),
        Decision::New { overage: true }
    );
    // The same machine again: its seat, at the limit, in grace, never a second one.
    assert_eq!(
        decide(&t(2, 2, true), &two, "f2", "key-f2"),
        Decision::Existing("b".into())
    );
    assert_eq!(
        decide(&t(2, 2, false), &two, "f1", "key-f1"),
        Decision::Existing("a".into())
    );
    // Another instance key for a live seat's fingerprint: refused, with room or without.
    assert_eq!(
        decide(&t(5, 5, true), &two, "f1", "key-clone"),
        Decision::Refused(Code::SeatTaken)
    );
    assert_eq!(
        decide(&t(2, 2, false), &two, "f2", "key-clone"),
        Decision::Refused(Code::SeatTaken)
    );
    assert_eq!(
        decide(&t(5, 5, false), &two, "f3", "key-f3"),
        Decision::Refused(Code::LicenseInGrace)
    );
}

proptest! {
    /// Any sequence of requests (from several keys per fingerprint: clones and reinstalls)
    /// and releases: never more live seats than the limit plus its overage, never two seats
    /// for one fingerprint, never an overage seat below the limit, a live seat's key never
    /// changes, and a fingerprint is re-bound to a new key only after its seat was released.
    #[test]
    fn seats_never_exceed_the_limit_nor_change_hands(
        limit in 1u64..6,
        overage_pct in 0u64..101,
        ops in proptest::collection::vec((0u8..12, 0u8..3, any::<bool>()), 1..80),
    ) {
        let max = limit + limit * overage_pct / 100;
        let terms = Terms { device_limit: limit, max_seats: max, new_seats: true };
        let mut live: Vec<Seat> = Vec::new();
        // The key each fingerprint's seat was last bound to, and whether it was released since.
        let mut bound: std::collections::HashMap<String, (String, bool)> = Default::default();
        let mut next = 0;
        for (machine, key, release) in ops {
            let fp = format!("fp-{machine}");
            let key = format!("key-{machine}-{key}");
            if release {
                if live.iter().any(|s| s.fingerprint == fp) {
                    live.retain(|s| s.fingerprint != fp);
                    bound.get_mut(&fp).unwrap().1 = true;
                }
                continue;
            }
            let holder = live.iter().find(|s| s.fingerprint == fp).cloned();
            match decide(&terms, &live, &fp, &key) {
                Decision::Existing(id) => {
                    let s = holder.unwrap();
                    prop_assert_eq!(&s.activation_id, &id);
                    prop_assert_eq!(&s.instance_key, &key);
                }
                Decision::New { overage } => {
                    prop_assert!(holder.is_none());
                    prop_assert_eq!(overage, live.len() as u64 >= limit);
                    if let Some((old, released)) = bound.get(&fp) {
                        // A re-binding to another key only after a release.
                        prop_assert!(*released || *old == key);
                    }
                    next += 1;
                    bound.insert(fp.clone(), (key.clone(), false));
                    live.push(Seat { activation_id: format!("a{next}"), fingerprint: fp, instance_key: key, overage });
                }
                Decision::Refused(Code::SeatTaken) => {
                    let s = holder.unwrap();
                    prop_assert_ne!(&s.instance_key, &key);
                }
                Decision::Refused(code) => {
                    prop_assert_eq!(code, Code::DeviceLimitExceeded);
                    prop_assert!(holder.is_none());
                    prop_assert_eq!(live.len() as u64, max);
                }
            }
            prop_assert!(live.len() as u64 <= max);
            let mut fps: Vec<_> = live.iter().map(|s| &s.fingerprint).collect();
            fps.sort();
            fps.dedup();
            prop_assert_eq!(fps.len(), live.len());
        }
    }
}

#[test]
fn racing_fulfils_take_exactly_the_free_seats() {
    crate::common::on_each_registry(|p| {
        let l = vendor(p, 3);
        let reqs: Vec<PathBuf> = (1..=10u8)
            .map(|n| {
                let m = machine(n);
                write_request(p, &format!("req-{n}.json"), &m, &request_of(&l, &m, NOW))
            })
            .collect();
        // Ten processes at once, each for another machine.
        let children: Vec<_> = reqs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Command::new(env!("CARGO_BIN_EXE_factory"))
                    .args([
                        "activation",
                        "fulfill",
                        r.to_str().unwrap(),
                        "--key",
                        "keys/act.key",
                    ])
                    .args(["--out", &format!("out-{i}")])
                    .current_dir(p)
                    .env("AIRLOCK_NOW", NOW)
                    .env("FACTORY_DB", crate::common::db_of(p))
                    .env_remove("AIRLOCK_DB")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let won = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(won, 3, "exactly the limit succeeds");
        for o in outs.iter().filter(|o| !o.status.success()) {
            fails(o, 1, "DEVICE_LIMIT_EXCEEDED");
        }
        let list =
            json(&fac(p, &["activation", "list", &l.license_id, "--json"]))["activations"].clone();
        let active = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "active")
            .count();
        assert_eq!(active, 3);
        // A winner's request answered into another winner's directory: refused before anything
        // is recorded (no fresh lease, nothing overwritten).
        let won: Vec<usize> = (0..outs.len())
            .filter(|i| outs[*i].status.success())
            .collect();
        let before = std::fs::read(p.join(format!("out-{}/activation.json", won[1]))).unwrap();
        let o = fac(
            p,
            &[
                "activation",
                "fulfill",
                reqs[won[0]].to_str().unwrap(),
                "--key",
                "keys/act.key",
                "--out",
                &format!("out-{}", won[1]),
            ],
        );
        fails(&o, 2, "another machine's activation");
        assert_eq!(
            std::fs::read(p.join(format!("out-{}/activation.json", won[1]))).unwrap(),
            before
        );
        ok(&fac(p, &["audit", "verify"]));
    });
}

#[test]
fn reactivation_returns_the_same_seat_with_a_fresh_lease() {
    crate::common::on_each_registry(|p| {
        let l = vendor(p, 1);
        let m = machine(1);
        let r1 = write_request(p, "r1.json", &m, &request_of(&l, &m, NOW));
        let first = json(&fulfil(p, NOW, &r1, "a1"));
        assert_eq!(first["new_seat"], true);
        // The machine reinstalled without its state (or a clone reports the same id): a new
        // instance key for the live seat's fingerprint is refused, the seat stays the first
        // key's and nothing is written.
        let again = Machine {
            key: SecretKey::from_seed(&[77; 32], "instance", Role::Instance, Timestamp(0)).unwrap(),
            fingerprint: m.fingerprint.clone(),
        };
        let r2 = write_request(p, "r2.json", &again, &request_of(&l, &again, NOW));
        let taken = fulfil(p, "2026-11-23T10:00:00Z", &r2, "a2");
        fails(&taken, 1, "SEAT_TAKEN");
        assert_eq!(json(&taken)["check"], "SEAT_TAKEN");
        assert!(!p.join("a2").exists());
        // The same machine (same key) again: its seat, a fresh lease, never a second seat.
        let r1b = write_request(
            p,
            "r1b.json",
            &m,
            &request_of(&l, &m, "2026-11-23T10:00:00Z"),
        );
        let second = json(&fulfil(p, "2026-11-23T10:00:00Z", &r1b, "a1b"));
        assert_eq!(second["activation_id"], first["activation_id"]);
        assert_eq!(second["new_seat"], false);
        assert_eq!(second["seats_in_use"], 1);
        assert!(second["sequence"].as_u64() > first["sequence"].as_u64());
        // The same request file again (a retry): still that seat, never a second.
        let third = json(&fulfil(p, "2026-11-23T11:00:00Z", &r1, "a1"));
        assert_eq!(third["activation_id"], first["activation_id"]);
        // A lease never outlives the license's expiry plus grace (14 days), whatever is asked.
        let long = json(&at(
            p,
            NOW,
            &[
                "activation",
                "fulfill",
                r1.to_str().unwrap(),
                "--key",
                "keys/act.key",
                "--out",
                "a3",
                "--lease-days",
                "3650",
                "--json",
            ],
        ));
        assert_eq!(long["not_after"], "2027-06-15T00:00:00Z");
        let short = json(&at(
            p,
            NOW,
            &[
                "activation",
                "fulfill",
                r1.to_str().unwrap(),
                "--key",
                "keys/act.key",
                "--out",
                "a4",
                "--lease-days",
                "7",
                "--json",
            ],
        ));
        assert_eq!(short["not_after"], "2026-11-29T10:00:00Z");
        let list = json(&fac(p, &["activation", "list", "--json"]))["activations"].clone();
        assert_eq!(list.as_array().unwrap().len(), 1);
        // The legitimate reinstall: the vendor releases the seat, then the new key activates.
        // It is a new seat that re-binds the fingerprint, shown in the list and audited.
        let first_id = first["activation_id"].as_str().unwrap();
        ok(&at(
            p,
            "2026-11-23T11:30:00Z",
            &[
                "activation",
                "release",
                first_id,
                "--force",
                "--reason",
                "reinstalled",
            ],
        ));
        let r2b = write_request(
            p,
            "r2b.json",
            &again,
            &request_of(&l, &again, "2026-11-23T12:00:00Z"),
        );
        let rebound = json(&fulfil(p, "2026-11-23T12:00:00Z", &r2b, "a2b"));
        assert_eq!(rebound["new_seat"], true);
        assert_ne!(rebound["activation_id"], first["activation_id"]);
        let list = json(&fac(p, &["activation", "list", "--json"]))["activations"].clone();
        let rows = list.as_array().unwrap();
        assert_eq!(rows.len(), 2);
        let new_row = rows
            .iter()
            .find(|r| r["activation_id"] == rebound["activation_id"])
            .unwrap();
        assert_eq!(new_row["rebound_from"], first_id);
        assert_eq!(new_row["label"], rows[0]["label"]);
        let text = ok(&fac(p, &["activation", "list"]));
        assert!(
            text.contains(&format!("re-binds the fingerprint of {first_id}")),
            "{text}"
        );
        ok(&fac(p, &["audit", "verify"]));
        // The re-binding is its own audit event, naming both keys.
        let reg = factory::registry::Registry::open_location(
            std::path::Path::new(&crate::common::db_of(p)),
            false,
        )
        .unwrap();
        let detail = reg
            .sql()
            .one(
                "SELECT detail FROM audit WHERE event = 'seat_rebound'",
                &[],
                |r| r.text(0),
            )
            .unwrap();
        assert!(
            detail.contains(first_id) && detail.contains("now to key"),
            "{detail}"
        );
    });
}

#[test]
fn a_renewal_keeps_its_seats() {
    crate::common::on_each_registry(|p| {
        let l = vendor(p, 1);
        let m = machine(1);
        let r1 = write_request(p, "r1.json", &m, &request_of(&l, &m, NOW));
        let first = json(&fulfil(p, NOW, &r1, "a1"));
        ok(&fac(
            p,
            &[
                "renew",
                &l.license_id,
                "--expires",
                "2028-06-01",
                "--key",
                "keys/lic.key",
                "--out",
                "ren",
            ],
        ));
        let renewed = License::parse(&std::fs::read(p.join("ren/license.json")).unwrap())
            .unwrap()
            .0;
        // Before the renewal begins, the lineage's license in force is the old one: the old
        // key and the renewal's both activate (the same seat), and the lease is for the old
        // license: a machine is never given only a license that is not valid yet.
        let old = write_request(p, "old.json", &m, &request_of(&l, &m, NOW));
        let o = json(&fulfil(p, NOW, &old, "x"));
        assert_eq!(o["activation_id"], first["activation_id"]);
        assert_eq!(o["license_id"], l.license_id.as_str());
        assert!(!p.join("x/license.json").exists());
        let r2 = write_request(p, "r2.json", &m, &request_of(&renewed, &m, NOW));
        let second = json(&fulfil(p, NOW, &r2, "a2"));
        assert_eq!(second["activation_id"], first["activation_id"]);
        assert_eq!(second["license_id"], l.license_id.as_str());
        assert_eq!(second["not_after"], "2027-06-15T00:00:00Z");
        // Once it begins (the old one is in its grace), the old key's request is given the
        // renewal's lease and the renewal's license files beside it.
        let later = "2027-06-05T00:00:00Z";
        let r4 = write_request(p, "r4.json", &m, &request_of(&l, &m, later));
        let third = json(&fulfil(p, later, &r4, "a4"));
        assert_eq!(third["activation_id"], first["activation_id"]);
        assert_eq!(third["license_id"], renewed.license_id.as_str());
        assert_eq!(third["not_after"], "2028-06-15T00:00:00Z");
        let sent = License::parse(&std::fs::read(p.join("a4/license.json")).unwrap())
            .unwrap()
            .0;
        assert_eq!(sent.license_id, renewed.license_id);
        // Another machine: still one seat for the lineage.
        let other = machine(2);
        let r3 = write_request(p, "r3.json", &other, &request_of(&renewed, &other, NOW));
        fails(&fulfil(p, NOW, &r3, "a3"), 1, "DEVICE_LIMIT_EXCEEDED");
        // The seat moved to the renewal's license as its audit event recorded.
        ok(&fac(p, &["audit", "verify"]));
    });
}

#[test]
fn every_fulfil_refusal_names_its_code() {
    crate::common::on_each_registry(|p| {
        let l = vendor(p, 1);
        let m = machine(1);
        let req = |name: &str, f: &dyn Fn(&mut ActivationRequest)| {
            let mut r = request_of(&l, &m, NOW);
            f(&mut r);
            write_request(p, name, &m, &r)
        };
        let cases: Vec<(PathBuf, &str)> = vec![
            (
                req("unknown.json", &|r| r.license_id = "lic-nope".into()),
                "LICENSE_NOT_FOUND",
            ),
            (
                // A wrong key gets the unknown license's answer (no id oracle).
                req("key.json", &|r| {
                    r.license_key = "2222-2222-2222-2222".into()
                }),
                "LICENSE_NOT_FOUND",
            ),
            (
                req("product.json", &|r| r.product = "pbx".into()),
                "LICENSE_MISMATCH",
            ),
            (
                req("stale.json", &|r| {
                    r.created_at = "2026-10-01T00:00:00Z".into()
                }),
                "REQUEST_STALE",
            ),
            (
                req("future.json", &|r| {
                    r.created_at = "2026-11-22T11:00:00Z".into()
                }),
                "REQUEST_FROM_FUTURE",
            ),
        ];
        for (file, code) in cases {
            let o = fulfil(p, NOW, &file, "out");
            fails(&o, 1, code);
            assert_eq!(json(&o)["check"], code);
        }
        // Forged: signed by another key than the one it names (someone else's request).
        let thief = machine(9);
        let forged = p.join("forged.json");
        std::fs::write(
            &forged,
            sign_file(
                &thief.key,
                Kind::ActivationRequest,
                &request_of(&l, &m, NOW),
            ),
        )
        .unwrap();
        fails(&fulfil(p, NOW, &forged, "out"), 1, "REQUEST_INVALID");
        // Edited after signing (the label, say).
        let good = req("good.json", &|_| {});
        let text = std::fs::read_to_string(&good).unwrap();
        let edited = p.join("edited.json");
        std::fs::write(&edited, text.replace("\"node\"", "\"evil\"")).unwrap();
        fails(&fulfil(p, NOW, &edited, "out"), 1, "REQUEST_INVALID");
        std::fs::write(p.join("garbage.json"), b"{\"signed\":").unwrap();
        fails(
            &fulfil(p, NOW, &p.join("garbage.json"), "out"),
            1,
            "REQUEST_INVALID",
        );
        // The license key is not an activation key (exit 2: nothing judged).
        let o = at(
            p,
            NOW,
            &[
                "activation",
                "fulfill",
                good.to_str().unwrap(),
                "--key",
                "keys/lic.key",
                "--out",
                "out",
            ],
        );
        fails(&o, 2, "activation key");
        // Grace: the machine holding a seat gets a fresh lease, a new machine is refused.
        ok(&fulfil(p, NOW, &good, "seat"));
        let in_grace = "2027-06-05T00:00:00Z";
        let again = req("again.json", &|r| r.created_at = in_grace.into());
        ok(&fulfil(p, in_grace, &again, "seat2"));
        let m2 = machine(2);
        let mut r = request_of(&l, &m2, in_grace);
        r.created_at = in_grace.into();
        let newcomer = write_request(p, "newcomer.json", &m2, &r);
        fails(&fulfil(p, in_grace, &newcomer, "x"), 1, "LICENSE_IN_GRACE");
        // Past the grace period: nothing.
        let late = "2027-06-20T00:00:00Z";
        let mut r = request_of(&l, &m, late);
        r.created_at = late.into();
        let after = write_request(p, "after.json", &m, &r);
        fails(&fulfil(p, late, &after, "x"), 1, "LICENSE_EXPIRED");
        // Revoked.
        ok(&fac(p, &["revoke", &l.license_id, "--reason", "unpaid"]));
        let o = fulfil(p, NOW, &good, "x");
        fails(&o, 1, "LICENSE_REVOKED");
        ok(&fac(p, &["audit", "verify"]));
    });
}

#[test]
fn release_and_reset_rules() {
    crate::common::on_each_registry(|p| {
        let l = vendor(p, 1);
        let m = machine(1);
        let r1 = write_request(p, "r1.json", &m, &request_of(&l, &m, NOW));
        let a = json(&fulfil(p, NOW, &r1, "a1"));
        let id = a["activation_id"].as_str().unwrap().to_string();
        let receipt = |k: &SecretKey, act: &str| Deactivation {
            doc_type: "airlock-deactivation".into(),
            activation_id: act.into(),
            license_id: l.license_id.clone(),
            lineage_id: l.lineage_id.clone(),
            product: "gateway".into(),
            fingerprint: m.fingerprint.clone(),
            instance_public_key: enc::b64(&k.public_key()),
            last_sequence: 1,
            deactivated_at: NOW.into(),
        };
        let write = |name: &str, k: &SecretKey, d: &Deactivation| {
            let f = p.join(name);
            std::fs::write(&f, sign_file(k, Kind::Deactivation, d)).unwrap();
            f
        };
        // A receipt made by another machine's key for this seat: refused.
        let thief = machine(9);
        let forged = write("forged.json", &thief.key, &receipt(&thief.key, &id));
        fails(
            &fac(
                p,
                &[
                    "activation",
                    "release",
                    "--receipt",
                    forged.to_str().unwrap(),
                ],
            ),
            1,
            "RECEIPT_MISMATCH",
        );
        let unknown = write("unknown.json", &m.key, &receipt(&m.key, "act-0000"));
        fails(
            &fac(
                p,
                &[
                    "activation",
                    "release",
                    "--receipt",
                    unknown.to_str().unwrap(),
                ],
            ),
            1,
            "ACTIVATION_NOT_FOUND",
        );
        let good = write("good.json", &m.key, &receipt(&m.key, &id));
        ok(&fac(
            p,
            &["activation", "release", "--receipt", good.to_str().unwrap()],
        ));
        // Replayed: nothing done twice.
        let again = ok(&fac(
            p,
            &["activation", "release", "--receipt", good.to_str().unwrap()],
        ));
        assert!(again.contains("nothing to do"), "{again}");
        // The released seat's old request cannot bring it back.
        fails(&fulfil(p, NOW, &r1, "x"), 1, "REQUEST_REPLAYED");
        // Forced releases: at most the device limit (1) per 90 days.
        let r2 = write_request(p, "r2.json", &m, &request_of(&l, &m, NOW));
        let b = json(&fulfil(p, NOW, &r2, "b"));
        let bid = b["activation_id"].as_str().unwrap();
        ok(&fac(
            p,
            &[
                "activation",
                "release",
                bid,
                "--force",
                "--reason",
                "disk died",
            ],
        ));
        fails(
            &fac(
                p,
                &["activation", "release", bid, "--force", "--reason", "again"],
            ),
            1,
            "ALREADY_RELEASED",
        );
        let r3 = write_request(p, "r3.json", &m, &request_of(&l, &m, NOW));
        let c = json(&fulfil(p, NOW, &r3, "c"));
        let cid = c["activation_id"].as_str().unwrap();
        fails(
            &fac(
                p,
                &["activation", "release", cid, "--force", "--reason", "again"],
            ),
            1,
            "RELEASE_BUDGET_EXHAUSTED",
        );
        // Every seat freed before its lease ended is in the next revocation list: the
        // receipt's, the forced ones (a restored state directory must not bring one back).
        ok(&fac(
            p,
            &["revocations", "--key", "keys/lic.key", "--out", "rl"],
        ));
        let list: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.join("rl/revocations.json")).unwrap()).unwrap();
        let revoked: Vec<&str> = list["revoked_activations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["activation_id"].as_str().unwrap())
            .collect();
        let mut want = vec![id.as_str(), bid];
        want.sort();
        assert_eq!(revoked, want);
        assert!(
            !String::from_utf8_lossy(&std::fs::read(p.join("rl/revocations.json")).unwrap())
                .contains("disk died"),
            "the vendor's reason stays in the registry"
        );
        // Reset: every seat, epoch 2, once per 30 days.
        let reset = json(&fac(
            p,
            &[
                "activation",
                "reset",
                &l.license_id,
                "--reason",
                "new hardware",
                "--json",
            ],
        ));
        assert_eq!(reset["released"], 1);
        assert_eq!(reset["epoch"], 2);
        fails(
            &fac(p, &["activation", "reset", &l.license_id, "--reason", "x"]),
            1,
            "RESET_TOO_SOON",
        );
        ok(&at(
            p,
            "2026-12-23T10:00:00Z",
            &["activation", "reset", &l.license_id, "--reason", "x"],
        ));
        ok(&at(
            p,
            "2026-12-23T10:00:00Z",
            &["revocations", "--key", "keys/lic.key", "--out", "rl2"],
        ));
        let list: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.join("rl2/revocations.json")).unwrap())
                .unwrap();
        assert_eq!(list["activation_epochs"][0]["min_epoch"], 3);
        ok(&fac(p, &["audit", "verify"]));
        // A seat freed with plain SQL is caught by the audit.
        crate::common::raw_sql(
            p,
            &format!("UPDATE activations SET released_at = NULL WHERE activation_id = '{cid}'"),
        );
        fails(&fac(p, &["audit", "verify"]), 1, "activation");
    });
}

/// Each lineage keeps its count of live seats (a renewal reads it instead of counting): every
/// seat taken or freed moves it, a registry from before the count gets it right on upgrade,
/// and a count edited with plain SQL (to squeeze in more machines) is caught by the audit.
#[test]
fn the_live_seat_count_follows_the_seats_and_is_audited() {
    crate::common::on_each_registry(|p| {
        let l = vendor(p, 2);
        let take = |n: u8, out: &str| {
            let m = machine(n);
            let r = write_request(p, &format!("{out}.json"), &m, &request_of(&l, &m, NOW));
            fulfil(p, NOW, &r, out)
        };
        assert_eq!(json(&take(1, "a"))["seats_in_use"], 1);
        let b = json(&take(2, "b"));
        assert_eq!(b["seats_in_use"], 2);
        // The same machine again: its seat, still two in use.
        let again = json(&take(1, "a2"));
        assert_eq!(again["seats_in_use"], 2);
        assert_eq!(again["new_seat"], false);
        fails(&take(3, "c"), 1, "DEVICE_LIMIT_EXCEEDED");
        // A freed seat is counted out: the third machine fits.
        let bid = b["activation_id"].as_str().unwrap();
        ok(&fac(
            p,
            &["activation", "release", bid, "--force", "--reason", "gone"],
        ));
        assert_eq!(json(&take(3, "c2"))["seats_in_use"], 2);
        fails(&take(4, "d"), 1, "DEVICE_LIMIT_EXCEEDED");
        ok(&fac(p, &["audit", "verify"]));

        // A registry from before the count (schema 5): the upgrade counts the live seats.
        if p.join("registry.url").exists() {
            crate::common::raw_sql(
                p,
                "ALTER TABLE activation_lineages DROP COLUMN live_seats; DROP TABLE audit_anchors; DROP INDEX activations_fingerprint; DROP INDEX licenses_suspended; ALTER TABLE licenses DROP COLUMN revoke_code; ALTER TABLE licenses DROP COLUMN suspended_at; ALTER TABLE issue_requests DROP COLUMN params; DROP TABLE trust_files; ALTER TABLE licenses DROP COLUMN grace_days; DROP TABLE install_tokens; DROP TABLE activation_grants; DROP TABLE builds; ALTER TABLE activations DROP COLUMN components; UPDATE airlock_schema SET version = 5",
            );
        } else {
            crate::common::raw_sql(
                p,
                "ALTER TABLE activation_lineages DROP COLUMN live_seats; DROP TABLE audit_anchors; DROP INDEX activations_fingerprint; DROP INDEX licenses_suspended; ALTER TABLE licenses DROP COLUMN revoke_code; ALTER TABLE licenses DROP COLUMN suspended_at; ALTER TABLE issue_requests DROP COLUMN params; DROP TABLE trust_files; ALTER TABLE licenses DROP COLUMN grace_days; DROP TABLE install_tokens; DROP TABLE activation_grants; DROP TABLE builds; ALTER TABLE activations DROP COLUMN components; PRAGMA user_version = 5",
            );
        }
        ok(&fac(p, &["audit", "verify"]));
        fails(&take(4, "d2"), 1, "DEVICE_LIMIT_EXCEEDED");

        // The count lowered behind factory's back: the audit names the lineage.
        crate::common::raw_sql(p, "UPDATE activation_lineages SET live_seats = 0");
        let o = fac(p, &["audit", "verify"]);
        fails(&o, 1, "live seat");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(&l.lineage_id),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    });
}

/// A seat server asks for a pool lease (docs/FORMAT.md §20): refused for a license whose tier
/// does not float (nothing recorded); granted with the license's floating terms for one that
/// does, as one seat of the license.
#[test]
fn a_seat_server_gets_a_pool_lease_only_for_a_license_that_floats() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let plain = vendor(dir, 2);
    let server = machine(40);
    let mut r = request_of(&plain, &server, NOW);
    r.pool = true;
    let req = write_request(dir, "pool-req.json", &server, &r);
    let o = fulfil(dir, NOW, &req, "pool-act");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(json(&o)["check"], "FLOATING_NOT_LICENSED");
    assert!(!dir.join("pool-act").exists());
    // A catalog whose professional tier floats: 10 seats, 15-minute node leases, 3-day borrows.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json");
    let text = std::fs::read_to_string(fixture).unwrap().replacen(
        r#""activation": {"required": true, "device_limit": 1}"#,
        r#""activation": {"required": true, "device_limit": 1}, "floating": {"seats": 10, "node_lease_minutes": 15, "borrow_hours": 72}"#,
        1,
    );
    assert!(text.contains("floating"));
    std::fs::write(dir.join("float.json"), text).unwrap();
    ok(&fac(
        dir,
        &[
            "issue",
            "--tier",
            "professional",
            "--customer",
            "Acme",
            "--customer-id",
            "acme",
            "--additional",
            "--product",
            "gateway",
            "--expires",
            "2027-06-01",
            "--key",
            "keys/lic.key",
            "--out",
            "lic-float",
            "--catalog",
            "float.json",
        ],
    ));
    let doc = std::fs::read(dir.join("lic-float/license.json")).unwrap();
    let floating = License::parse(&doc).unwrap().0;
    assert_eq!(floating.limits.get("floating_seats"), Some(&10));
    let mut r = request_of(&floating, &server, NOW);
    r.pool = true;
    let req = write_request(dir, "pool-req2.json", &server, &r);
    ok(&fulfil(dir, NOW, &req, "pool-act"));
    let lease: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("pool-act/activation.json")).unwrap())
            .unwrap();
    assert_eq!(
        lease["pool"],
        serde_json::json!({"max_borrow_seconds": 259200, "max_node_lease_seconds": 900, "seats": 10})
    );
}
