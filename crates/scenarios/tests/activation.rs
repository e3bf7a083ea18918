//! Activation, air-gap first, played as a vendor and a customer would: keys generated here,
//! the vendor's clock through `AIRLOCK_NOW`, each customer machine with its own state
//! directory, its own instance id and a system clock faked with libfaketime. Then what an
//! attacker holding a machine (its files, its clock, another machine's state) could try.

use crate::kit::{have_tool, ok, vendor};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) const DAY0: &str = "2026-11-22T10:00:00Z";

pub(crate) struct Site {
    _dir: tempfile::TempDir,
    /// The vendor's working directory.
    pub(crate) v: PathBuf,
    /// Where the customer keeps deliveries and machines' state directories.
    pub(crate) c: PathBuf,
    pub(crate) license_id: String,
}

impl Site {
    /// Root, license, release and activation keys generated today, trust v1, and a
    /// professional license (device limit `limit`) in `c/lic`.
    pub(crate) fn new(limit: u64) -> Site {
        Site::on_registry(limit, None)
    }

    /// [`Site::new`] with the registry in the PostgreSQL database `url` (None: factory.db).
    pub(crate) fn on_registry(limit: u64, url: Option<&str>) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join("vendor");
        let c = dir.path().join("customer");
        std::fs::create_dir_all(&v).unwrap();
        std::fs::create_dir_all(&c).unwrap();
        if let Some(url) = url {
            std::fs::write(v.join("registry.url"), url).unwrap();
        }
        let mut s = Site {
            _dir: dir,
            v,
            c,
            license_id: String::new(),
        };
        for role in ["root", "license", "release", "activation"] {
            ok(s.factory(
                DAY0,
                &["keygen", "--role", role, "--name", role, "--out", "keys"],
            ));
        }
        ok(s.factory(
            DAY0,
            &[
                "trust",
                "--root-key",
                "keys/root.key",
                "--add",
                "keys/license.pub",
                "keys/release.pub",
                "keys/activation.pub",
                "--out",
                "trust.json",
            ],
        ));
        let out = ok(s.factory(
            DAY0,
            &[
                "issue",
                "--tier",
                "professional",
                "--customer",
                "Globex",
                "--product",
                "gateway",
                "--expires",
                "2027-06-01",
                "--device-limit",
                &limit.to_string(),
                "--key",
                "keys/license.key",
                "--out",
                "lic",
            ],
        ));
        s.license_id = out.trim().to_string();
        for f in ["trust.json", "keys/root.pub"] {
            let to = s.c.join(Path::new(f).file_name().unwrap());
            std::fs::copy(s.v.join(f), to).unwrap();
        }
        crate::kit::copy(&s.v.join("lic"), &s.c.join("lic"));
        s
    }

    pub(crate) fn factory(&self, now: &str, args: &[&str]) -> Output {
        vendor(&self.v, "factory", now, args)
    }

    /// A customer-side binary on machine `machine` (its instance id), clock frozen at `now`.
    pub(crate) fn on(&self, machine: &str, now: &str, tool: &str, args: &[&str]) -> Output {
        testkit::at_clock(now, testkit::bin(tool))
            .args(args)
            .current_dir(&self.c)
            .env("AIRLOCK_INSTANCE_ID", machine)
            .env_remove("AIRLOCK_ROOT")
            .output()
            .unwrap()
    }

    pub(crate) fn carry(&self, from_vendor: &str, to_customer: &str) {
        crate::kit::copy(&self.v.join(from_vendor), &self.c.join(to_customer));
    }

    pub(crate) fn carry_back(&self, from_customer: &str) {
        std::fs::copy(self.c.join(from_customer), self.v.join(from_customer)).unwrap();
    }

    /// request on `machine` → fulfil at the vendor → install: the activation id.
    pub(crate) fn activate(
        &self,
        machine: &str,
        now: &str,
        extra: &[&str],
    ) -> Result<String, Output> {
        self.activate_with(machine, now, &[], extra)
    }

    /// [`Site::activate`] with `request_extra` flags for the request (e.g. `--build ID`) and
    /// `extra` for the fulfilment.
    pub(crate) fn activate_with(
        &self,
        machine: &str,
        now: &str,
        request_extra: &[&str],
        extra: &[&str],
    ) -> Result<String, Output> {
        let req = format!("req-{machine}.json");
        let state = format!("state-{machine}");
        let mut args = vec![
            "request",
            "--license",
            "lic",
            "--state",
            &state,
            "--out",
            &req,
            "--label",
            machine,
            "--force",
        ];
        args.extend_from_slice(request_extra);
        ok(self.on(machine, now, "airlock-agent", &args));
        self.carry_back(&req);
        let out = format!("act-{machine}");
        let _ = std::fs::remove_dir_all(self.v.join(&out));
        let mut args = vec![
            "activation",
            "fulfill",
            &req,
            "--key",
            "keys/activation.key",
            "--out",
            &out,
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = self.factory(now, &args);
        if !o.status.success() {
            return Err(o);
        }
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let _ = std::fs::remove_dir_all(self.c.join(&out));
        self.carry(&out, &out);
        ok(self.on(
            machine,
            now,
            "airlock-agent",
            &[
                "install",
                &out,
                "--trust",
                "trust.json",
                "--root",
                "root.pub",
                "--state",
                &state,
            ],
        ));
        Ok(v["activation_id"].as_str().unwrap().to_string())
    }

    pub(crate) fn verify(
        &self,
        machine: &str,
        now: &str,
        extra: &[&str],
    ) -> (i32, serde_json::Value) {
        let state = format!("state-{machine}");
        let mut args = vec![
            "activation",
            "--state",
            &state,
            "--trust",
            "trust.json",
            "--license",
            "lic",
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = self.on(machine, now, "runtime-verify", &args);
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
            panic!(
                "{}\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        });
        (o.status.code().unwrap(), v)
    }

    pub(crate) fn product(&self, machine: &str, now: &str) -> (i32, String) {
        let state = format!("state-{machine}");
        let o = self.on(
            machine,
            now,
            "example-product",
            &[
                "--trust",
                "trust.json",
                "--license",
                "lic",
                "--state",
                &state,
                "--root",
                "root.pub",
                "--feature",
                "gate",
            ],
        );
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    }
}

fn code_of(v: &serde_json::Value) -> String {
    v["activations"][0]["check"]
        .as_str()
        .or(v["check"].as_str())
        .unwrap_or("")
        .to_string()
}

#[test]
fn the_offline_round_trip_between_two_machines() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(1);
    let day1 = "2026-11-23T09:00:00Z";
    // Not activated yet: the product runs no licensed work (and says what to do).
    let (code, text) = s.product("machine-a", day1);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("activation_required") && text.contains("airlock-agent request"),
        "{text}"
    );
    let a = s.activate("machine-a", day1, &[]).unwrap();
    let (code, v) = s.verify("machine-a", day1, &[]);
    assert_eq!(
        (code, &v["valid"]),
        (0, &serde_json::Value::Bool(true)),
        "{v}"
    );
    assert_eq!(v["activations"][0]["activation_id"], a.as_str());
    let (code, text) = s.product("machine-a", day1);
    assert_eq!(code, 0, "{text}");
    let status = ok(s.on(
        "machine-a",
        day1,
        "airlock-agent",
        &["status", "--state", "state-machine-a", "--json"],
    ));
    assert!(status.contains("\"active\""), "{status}");
    // Machine B: refused at the limit, naming the seat in use.
    let refused = s.activate("machine-b", day1, &[]).unwrap_err();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("DEVICE_LIMIT_EXCEEDED"));
    // A retires: the receipt goes back, the seat is freed; A's product stops licensed work.
    ok(s.on(
        "machine-a",
        day1,
        "airlock-agent",
        &[
            "deactivate",
            "--state",
            "state-machine-a",
            "--out",
            "receipt-a.json",
        ],
    ));
    let (code, v) = s.verify("machine-a", day1, &[]);
    assert_eq!(
        (code, code_of(&v).as_str()),
        (1, "activation_missing"),
        "{v}"
    );
    // Interrupted after the receipt, before the lease was removed: run again, it finishes
    // with the same receipt (nothing twice).
    let receipt = std::fs::read(s.c.join("receipt-a.json")).unwrap();
    crate::kit::copy(
        &s.c.join("act-machine-a"),
        &s.c.join("state-machine-a/activation/gateway"),
    );
    ok(s.on(
        "machine-a",
        day1,
        "airlock-agent",
        &[
            "deactivate",
            "--state",
            "state-machine-a",
            "--out",
            "receipt-a.json",
        ],
    ));
    assert_eq!(std::fs::read(s.c.join("receipt-a.json")).unwrap(), receipt);
    let (code, _) = s.verify("machine-a", day1, &[]);
    assert_eq!(code, 1);
    // The old lease put back by hand on A: deactivated here, never taken again.
    s.carry("act-machine-a", "replay");
    let o = s.on(
        "machine-a",
        day1,
        "airlock-agent",
        &[
            "install",
            "replay",
            "--trust",
            "trust.json",
            "--state",
            "state-machine-a",
        ],
    );
    assert_ne!(o.status.code(), Some(0));
    s.carry_back("receipt-a.json");
    ok(s.factory(
        day1,
        &["activation", "release", "--receipt", "receipt-a.json"],
    ));
    let b = s.activate("machine-b", day1, &[]).unwrap();
    assert_ne!(a, b);
    let (code, _) = s.verify("machine-b", day1, &[]);
    assert_eq!(code, 0);
    // Reset: B's lease holds until B imports the next revocation list, then never again.
    ok(s.factory(
        day1,
        &[
            "activation",
            "reset",
            &s.license_id,
            "--reason",
            "hardware replaced",
        ],
    ));
    ok(s.factory(
        day1,
        &["revocations", "--key", "keys/license.key", "--out", "rl"],
    ));
    s.carry("rl", "rl");
    let (code, _) = s.verify("machine-b", day1, &[]);
    assert_eq!(code, 0);
    ok(s.on(
        "machine-b",
        day1,
        "runtime-verify",
        &[
            "revocations",
            "import",
            "rl/revocations.json",
            "--trust",
            "trust.json",
            "--state",
            "state-machine-b",
        ],
    ));
    let (code, v) = s.verify("machine-b", day1, &[]);
    assert_eq!(
        (code, code_of(&v).as_str()),
        (1, "activation_revoked"),
        "{v}"
    );
    // B asks again after the reset: a new seat in the new epoch.
    s.activate("machine-b", day1, &[]).unwrap();
    let (code, _) = s.verify("machine-b", day1, &[]);
    assert_eq!(code, 0);
    ok(s.factory(day1, &["audit", "verify"]));
}

#[test]
fn an_attacker_holding_a_machine() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(2);
    let day1 = "2026-11-23T09:00:00Z";
    s.activate("machine-a", day1, &["--lease-days", "30"])
        .unwrap();
    let first = s.c.join("act-machine-a");
    crate::kit::copy(&first, &s.c.join("lease-1"));
    // A fresh lease (#2) installed later; the older one put back is a rollback.
    let day2 = "2026-11-24T09:00:00Z";
    s.activate("machine-a", day2, &["--lease-days", "30"])
        .unwrap();
    let o = s.on(
        "machine-a",
        day2,
        "airlock-agent",
        &[
            "install",
            "lease-1",
            "--trust",
            "trust.json",
            "--state",
            "state-machine-a",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rollback"));
    // The whole state directory copied to another machine: bound to A's fingerprint.
    crate::kit::copy(&s.c.join("state-machine-a"), &s.c.join("state-machine-c"));
    let (code, v) = s.verify("machine-c", day2, &[]);
    assert_eq!(
        (code, code_of(&v).as_str()),
        (1, "activation_other_machine"),
        "{v}"
    );
    let (code, text) = s.product("machine-c", day2);
    assert_eq!(code, 3, "{text}");
    // The clock set back before what the state saw: tamper, not a valid lease.
    let (code, v) = s.verify("machine-a", "2026-11-23T12:00:00Z", &[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["check"], "tamper_suspected", "{v}");
    // A preview past the lease's end: lease_expired; the product denies growth, keeps data.
    let (code, v) = s.verify("machine-a", day2, &["--at", "2026-12-25"]);
    assert_eq!((code, code_of(&v).as_str()), (1, "lease_expired"), "{v}");
    // The cron reminder speaks about the lease before it ends, and once it ended.
    let remind = |now: &str| {
        s.on(
            "machine-a",
            now,
            "runtime-verify",
            &[
                "remind",
                "--license",
                "lic/license.json",
                "--trust",
                "trust.json",
                "--state",
                "state-machine-a",
            ],
        )
    };
    let o = remind("2026-12-17T09:00:00Z"); // 7 days before the lease ends
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("airlock-agent request"));
    let o = remind("2026-12-25T09:00:00Z");
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("lease ended"));
    let (code, text) = s.product("machine-a", "2026-12-26T09:00:00Z");
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("lease_expired") && text.contains("existing data"),
        "{text}"
    );
    // A lease edited by hand (a longer end) fails its signature.
    let lease =
        s.c.join("state-machine-a/activation/gateway/activation.json");
    let text = std::fs::read_to_string(&lease).unwrap();
    let end: serde_json::Value = serde_json::from_str(&text).unwrap();
    let edited = text.replace(end["not_after"].as_str().unwrap(), "2027-06-14T00:00:00Z");
    std::fs::write(&lease, edited).unwrap();
    let (code, v) = s.verify("machine-a", "2026-12-26T09:00:00Z", &[]);
    assert_eq!(
        (code, code_of(&v).as_str()),
        (1, "signature_invalid"),
        "{v}"
    );
}

#[test]
fn activation_key_rotation() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(3);
    let day1 = "2026-11-23T09:00:00Z";
    s.activate("machine-a", day1, &[]).unwrap();
    // The activation key is rotated: a new key, the old one retired in trust v2.
    let day2 = "2026-11-30T09:00:00Z";
    ok(s.factory(
        day2,
        &[
            "keygen",
            "--role",
            "activation",
            "--name",
            "activation2",
            "--out",
            "keys",
        ],
    ));
    let old_id = crate::kit::key_id(&s.v, "keys/activation.pub");
    ok(s.factory(
        day2,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--from",
            "trust.json",
            "--add",
            "keys/activation2.pub",
            "--retire",
            &old_id,
            "--out",
            "trust.json",
        ],
    ));
    std::fs::copy(s.v.join("trust.json"), s.c.join("trust.json")).unwrap();
    // What the old key signed before it retired still verifies (with trust v2).
    let (code, v) = s.verify("machine-a", day2, &[]);
    assert_eq!(code, 0, "{v}");
    // The retired key signs nothing new.
    let o = s.factory(
        day2,
        &[
            "activation",
            "fulfill",
            "req-machine-a.json",
            "--key",
            "keys/activation.key",
            "--out",
            "x",
            "--trust",
            "trust.json",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("retired"));
    // Machine B's request, answered with the retired key: refused for that reason.
    let refused = s
        .activate("machine-b", day2, &["--trust", "trust.json"])
        .unwrap_err();
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("retired"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // The new key's lease verifies on machine B (first use, trust v2).
    let b = {
        let req = "req-machine-b.json";
        let o = s.factory(
            day2,
            &[
                "activation",
                "fulfill",
                req,
                "--key",
                "keys/activation2.key",
                "--out",
                "act-b2",
                "--trust",
                "trust.json",
                "--json",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        s.carry("act-b2", "act-b2");
        ok(s.on(
            "machine-b",
            day2,
            "airlock-agent",
            &[
                "install",
                "act-b2",
                "--trust",
                "trust.json",
                "--root",
                "root.pub",
                "--state",
                "state-machine-b",
            ],
        ))
    };
    assert!(b.contains("installed"), "{b}");
    let (code, v) = s.verify("machine-b", day2, &[]);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn the_fingerprint_is_stable_per_product_and_says_where_it_comes_from() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let id = |env: &[(&str, &str)], product: &str| {
        let mut c = Command::new(testkit::bin("airlock-agent"));
        c.args(["id", "--product", product, "--state", "s", "--json"])
            .current_dir(p)
            .env_remove("AIRLOCK_INSTANCE_ID")
            .env_remove("AIRLOCK_INSTANCE_ID_FILE");
        for (k, v) in env {
            c.env(k, v);
        }
        let v: serde_json::Value = serde_json::from_str(&ok(c.output().unwrap())).unwrap();
        (
            v["fingerprint"].as_str().unwrap().to_string(),
            v["source"].as_str().unwrap().to_string(),
        )
    };
    // An explicit id (containers): stable across runs, per product, never the raw id.
    let a = id(&[("AIRLOCK_INSTANCE_ID", "gateway-0")], "gateway");
    assert_eq!(a.1, "instance-id");
    assert_eq!(a, id(&[("AIRLOCK_INSTANCE_ID", "gateway-0")], "gateway"));
    assert_ne!(a.0, id(&[("AIRLOCK_INSTANCE_ID", "gateway-0")], "pbx").0);
    assert_ne!(
        a.0,
        id(&[("AIRLOCK_INSTANCE_ID", "gateway-1")], "gateway").0
    );
    assert!(!a.0.contains("gateway-0"));
    // A configuration file (a mounted ConfigMap): the same id gives the same fingerprint.
    std::fs::write(p.join("instance-id"), "gateway-0\n").unwrap();
    let f = p.join("instance-id");
    let b = id(
        &[("AIRLOCK_INSTANCE_ID_FILE", f.to_str().unwrap())],
        "gateway",
    );
    assert_eq!((b.0.as_str(), b.1.as_str()), (a.0.as_str(), "config"));
    // Without either: the machine's own id (or, on a machine without one, a random id the
    // agent keeps in the state directory): the same on every run.
    let c1 = id(&[], "gateway");
    assert_eq!(c1, id(&[], "gateway"));
    assert!(
        ["machine-id", "dmi-product-uuid", "state"].contains(&c1.1.as_str()),
        "{c1:?}"
    );
    // An explicit id that is set but empty is an error, never a silent fallback.
    let o = Command::new(testkit::bin("airlock-agent"))
        .args(["id", "--product", "gateway"])
        .current_dir(p)
        .env("AIRLOCK_INSTANCE_ID", " ")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
