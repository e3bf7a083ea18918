//! A vendor's first real day and a customer's first install (issue 10), through the real
//! binaries: freshly generated keys (never the development keys), the vendor's own catalog,
//! product manifest and payload, a vendor home, and an air-gapped customer with a state
//! directory and stock tools. Each test is one question a user asks, or one mistake a user
//! makes; each failed before its fix.

use crate::kit::{copy, have_tool, ok};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The vendor's day one.
const T0: &str = "2026-11-22T10:00:00Z";

/// The vendor's own catalog: a phone system, not the example gateway.
const CATALOG: &str = r#"{
  "catalog_version": 1,
  "issuer": "Northwind Telephony",
  "products": {
    "pbx": {
      "name": "Northwind PBX",
      "editions": ["standard", "sovereign"],
      "features": ["calls", "voicemail", "recording", "airgap_bundle"],
      "limits": ["extensions", "trunks"],
      "tiers": {
        "evaluation": {
          "editions": ["standard"],
          "features": ["calls", "voicemail"],
          "limits": {"extensions": 5, "trunks": 1},
          "validity_days": 21,
          "grace_days": 0,
          "production_use": false
        },
        "professional": {
          "editions": ["standard"],
          "features": ["calls", "voicemail", "airgap_bundle"],
          "limits": {"extensions": 200, "trunks": 8},
          "validity_days": 365,
          "grace_days": 14,
          "production_use": true
        },
        "sovereign": {
          "editions": ["standard", "sovereign"],
          "validity_days": 365,
          "grace_days": 30,
          "production_use": true
        }
      }
    }
  }
}
"#;

/// One vendor and one customer, each in a directory of their own.
pub struct World {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    /// The vendor's working directory (keys, catalog, product, deliveries).
    pub v: PathBuf,
    /// The customer's machine.
    pub c: PathBuf,
}

impl World {
    /// Keys generated today, trust v1, the vendor's catalog, a product released today with a
    /// payload, and the vendor's home in `v/home`.
    pub fn new() -> World {
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (v, c) = (dirs.0.path().to_path_buf(), dirs.1.path().to_path_buf());
        let w = World { _dirs: dirs, v, c };
        for role in ["root", "license", "release"] {
            ok(w.fac(&["keygen", "--role", role, "--name", role, "--out", "keys"]));
        }
        ok(w.fac(&[
            "trust",
            "--root-key",
            "keys/root.key",
            "--add",
            "keys/license.pub",
            "keys/release.pub",
            "--out",
            "trust.json",
        ]));
        // The vendor's catalog lives in the vendor home, where every command finds it.
        std::fs::create_dir_all(w.v.join("home")).unwrap();
        std::fs::write(w.v.join("home/catalog.json"), CATALOG).unwrap();
        std::fs::create_dir_all(w.v.join("payload/bin")).unwrap();
        std::fs::write(w.v.join("payload/bin/pbxd"), b"#!/bin/sh\necho pbx\n").unwrap();
        std::fs::write(w.v.join("payload/README"), b"Northwind PBX 4.2\n").unwrap();
        std::fs::write(
            w.v.join("pm.json"),
            format!(
                r#"{{"type":"airlock-product-manifest","product":"pbx","name":"Northwind PBX","version":"4.2.0","edition":"sovereign","released_at":"{T0}","components":[],"min_runtime_version":"0.1.0","requires_features":["calls"]}}"#
            ),
        )
        .unwrap();
        w
    }

    /// A vendor command at the vendor's clock `now`, in the vendor's directory.
    pub fn vendor_at(&self, tool: &str, now: &str, args: &[&str]) -> Output {
        self.vendor_in(&self.v, tool, now, args).output().unwrap()
    }

    /// A vendor command run from `cwd`, its vendor home `v/home` (nothing else set).
    pub fn vendor_in(&self, cwd: &Path, tool: &str, now: &str, args: &[&str]) -> Command {
        let mut c = Command::new(testkit::bin(tool));
        c.args(args)
            .current_dir(cwd)
            .env("AIRLOCK_NOW", now)
            .env("AIRLOCK_HOME", self.v.join("home"))
            .env("AIRLOCK_TRUST", self.v.join("trust.json"))
            .env_remove("AIRLOCK_CATALOG")
            .env_remove("AIRLOCK_DB")
            .env_remove("FACTORY_DB")
            .env_remove("AIRLOCK_PACKAGER_STATE")
            .env_remove("PACKAGER_STATE")
            .env_remove("FACTORY_TRUST")
            .env_remove("FACTORY_CATALOG");
        c
    }

    /// `factory` on day one.
    pub fn fac(&self, args: &[&str]) -> Output {
        self.vendor_at("factory", T0, args)
    }

    /// `factory` at `now`.
    pub fn fac_at(&self, now: &str, args: &[&str]) -> Output {
        self.vendor_at("factory", now, args)
    }

    /// `packager` on day one.
    pub fn pkg(&self, args: &[&str]) -> Output {
        self.vendor_at("packager", T0, args)
    }

    /// Issues a license for `customer` on day one (`extra` adds flags); returns its id.
    pub fn issue(&self, customer: &str, tier: &str, out: &str, extra: &[&str]) -> String {
        let mut a = vec![
            "issue",
            "--tier",
            tier,
            "--customer",
            customer,
            "--product",
            "pbx",
            "--key",
            "keys/license.key",
            "--out",
            out,
        ];
        a.extend_from_slice(extra);
        ok(self.fac(&a)).trim().to_string()
    }

    /// Copies a vendor file or directory to the customer's machine (the hand-carried media).
    pub fn carry(&self, what: &str) {
        copy(&self.v.join(what), &self.c.join(what));
    }

    /// `runtime-verify` on the customer's machine with its system clock at `now`.
    pub fn customer(&self, now: &str, args: &[&str]) -> Output {
        testkit::at_clock(now, testkit::bin("runtime-verify"))
            .args(args)
            .current_dir(&self.c)
            .env_remove("AIRLOCK_ROOT")
            .output()
            .unwrap()
    }

    /// `runtime-verify` on the customer's machine, with no fake clock (previews use `--at`).
    pub fn rv(&self, args: &[&str]) -> Output {
        Command::new(testkit::bin("runtime-verify"))
            .args(args)
            .current_dir(&self.c)
            .env_remove("AIRLOCK_ROOT")
            .output()
            .unwrap()
    }
}

/// Exit code and both streams, as one string.
fn all(o: &Output) -> (Option<i32>, String) {
    (
        o.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", all(o)))
}

/// Item 1: one definition of each state, the same answer from every command.
#[test]
fn every_command_gives_one_answer_per_question() {
    let w = World::new();
    let id = w.issue("Acme Telecom", "sovereign", "lic", &[]);
    w.carry("lic");
    w.carry("trust.json");
    let root = crate::kit::key_id(&w.v, "keys/root.pub");
    let license = |at: &str, extra: &[&str]| {
        let mut a = vec![
            "license",
            "lic/license.json",
            "--trust",
            "trust.json",
            "--root",
            &root,
            "--at",
            at,
            "--json",
        ];
        a.extend_from_slice(extra);
        w.rv(&a)
    };
    let remind = |at: &str| {
        w.rv(&[
            "remind",
            "--license",
            "lic/license.json",
            "--trust",
            "trust.json",
            "--root",
            &root,
            "--at",
            at,
            "--format",
            "json",
        ])
    };
    // The day it was issued (at 10:00), a date preview covers that whole day: valid.
    let o = license("2026-11-22", &[]);
    assert_eq!(o.status.code(), Some(0), "{:?}", all(&o));
    assert_eq!(json(&o)["state"], "active");
    // 60 days before expiry (2027-11-22T10:00): remind reminds, and both call it active.
    let o = remind("2027-09-22");
    assert_eq!(o.status.code(), Some(3), "{:?}", all(&o));
    assert_eq!(json(&o)["state"], "active");
    assert_eq!(json(&o)["days_remaining"], 60);
    assert_eq!(json(&license("2027-09-22", &[]))["state"], "active");
    // Inside the 30-day window both say expiring_soon, and `--warn-days` moves it for both.
    assert_eq!(json(&license("2027-11-07", &[]))["state"], "expiring_soon");
    assert_eq!(json(&remind("2027-11-07"))["state"], "expiring_soon");
    // Between threshold days remind keeps quiet (cron mails only on output).
    let o = remind("2027-11-01");
    assert_eq!((o.status.code(), o.stdout.len()), (Some(0), 0));
    assert_eq!(
        json(&license("2027-09-22", &["--warn-days", "90"]))["state"],
        "expiring_soon"
    );
    // In grace: usable (exit 0), and said so in words, not "(0 days)".
    let o = w.rv(&[
        "license",
        "lic/license.json",
        "--trust",
        "trust.json",
        "--root",
        &root,
        "--at",
        "2027-11-30",
    ]);
    let (code, text) = all(&o);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("VALID (GRACE PERIOD)") && text.contains("(8 days ago)"),
        "{text}"
    );
    // Past grace: every command says expired and exits 1, the vendor's `factory verify` too.
    for o in [
        license("2028-01-01", &[]),
        w.fac(&[
            "verify",
            "lic/license.json",
            "--trust",
            "trust.json",
            "--at",
            "2028-01-01",
        ]),
    ] {
        let (code, text) = all(&o);
        assert_eq!(code, Some(1), "{text}");
        assert!(
            text.contains("license_expired") || text.contains("EXPIRED"),
            "{text}"
        );
    }
    assert_eq!(remind("2028-01-01").status.code(), Some(5));
    // An early renewal (30 days before expiry) starts at the old expiry: not valid yet, and
    // said so, never `VALID ... not_yet_valid`.
    let o = w.fac_at(
        "2027-10-23T10:00:00Z",
        &[
            "renew",
            &id,
            "--expires",
            "2028-11-22",
            "--key",
            "keys/license.key",
            "--out",
            "lic2",
        ],
    );
    ok(o);
    w.carry("lic2");
    let o = w.rv(&[
        "license",
        "lic2/license.json",
        "--trust",
        "trust.json",
        "--root",
        &root,
        "--at",
        "2027-10-23",
    ]);
    let (code, text) = all(&o);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("NOT VALID YET") && !text.contains(": VALID"),
        "{text}"
    );
    assert!(
        text.contains("not valid until 2027-11-22T10:00:00Z"),
        "{text}"
    );
    // ...and the same renewal on the day it starts is valid.
    let o = w.rv(&[
        "license",
        "lic2/license.json",
        "--trust",
        "trust.json",
        "--root",
        &root,
        "--at",
        "2027-11-22",
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", all(&o));
}

/// Builds the customer's air-gap delivery `d1/b1.tar.gz` on day one from license `lic`.
fn bundle(w: &World, lic: &str, out: &str) -> Output {
    w.pkg(&[
        "bundle",
        "--license",
        lic,
        "--payload",
        "payload",
        "--product-manifest",
        "pm.json",
        "--key",
        "keys/release.key",
        "--airgap",
        "--name",
        "b1",
        "--out",
        out,
    ])
}

/// The whole first day: the vendor's own catalog and product, issue, bundle, the customer's
/// checks with stock tools, install, and reminders in every format around expiry.
#[test]
fn a_vendor_and_a_customer_first_day() {
    if !have_tool("minisign") || !have_tool("faketime") {
        return;
    }
    let w = World::new();
    w.issue("Acme Telecom", "sovereign", "lic", &[]);
    ok(bundle(&w, "lic", "d1"));
    for f in [
        "d1",
        "keys/root.pub",
        "keys/release.minisign.pub",
        "trust.json",
    ] {
        w.carry(f);
    }
    // Stock tools on the customer's side: checksums, then the bundle's minisign signature.
    let o = Command::new("sha256sum")
        .args(["-c", "CHECKSUMS.txt"])
        .current_dir(w.c.join("d1"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", all(&o));
    let o = Command::new("minisign")
        .args(["-V", "-P"])
        .arg(
            std::fs::read_to_string(w.c.join("keys/release.minisign.pub"))
                .unwrap()
                .lines()
                .nth(1)
                .unwrap(),
        )
        .args(["-m", "d1/b1.tar.gz", "-x", "d1/b1.tar.gz.sig"])
        .current_dir(&w.c)
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", all(&o));
    // Install, anchored by the vendor's root, with a state directory. A destination whose
    // parent is missing is a local path problem (exit 2, before anything is read), not a
    // verdict on the bundle; nothing is left behind and the retry installs.
    let install = || {
        w.customer(
            "2026-11-23T09:00:00Z",
            &[
                "d1/b1.tar.gz",
                "--trust",
                "trust.json",
                "--root",
                "keys/root.pub",
                "--state",
                "st",
                "--extract",
                "opt/pbx",
            ],
        )
    };
    let (code, text) = all(&install());
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("parent directory opt does not exist") && !text.contains("REJECTED"),
        "{text}"
    );
    assert!(!w.c.join("opt").exists() && !w.c.join("st").exists());
    std::fs::create_dir(w.c.join("opt")).unwrap();
    let o = w.customer(
        "2026-11-23T09:00:00Z",
        &[
            "d1/b1.tar.gz",
            "--trust",
            "trust.json",
            "--root",
            "keys/root.pub",
            "--state",
            "st",
            "--extract",
            "opt/pbx",
        ],
    );
    let (code, text) = all(&o);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        std::fs::read(w.c.join("opt/pbx/payload/bin/pbxd")).unwrap(),
        b"#!/bin/sh\necho pbx\n"
    );
    // Cron on the customer's machine: silent while nothing is due, then each format speaks.
    let remind = |now: &str, format: &str| {
        w.customer(
            now,
            &[
                "remind",
                "--license",
                "opt/pbx/license.json",
                "--trust",
                "trust.json",
                "--state",
                "st",
                "--format",
                format,
            ],
        )
    };
    let o = remind("2027-03-01T09:00:00Z", "text");
    assert_eq!(
        (o.status.code(), o.stdout.len()),
        (Some(0), 0),
        "{:?}",
        all(&o)
    );
    let o = remind("2027-10-23T09:00:00Z", "text");
    assert_eq!(o.status.code(), Some(3), "{:?}", all(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("(in 30 days)"));
    let o = remind("2027-11-30T09:00:00Z", "json");
    assert_eq!(o.status.code(), Some(4), "{:?}", all(&o));
    assert_eq!(json(&o)["state"], "grace");
    let o = remind("2027-12-01T09:00:00Z", "prometheus");
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stdout).contains("state=\"grace\"} 1"));
    let o = remind("2028-01-01T09:00:00Z", "text");
    assert_eq!(o.status.code(), Some(5));
    // The cron run recorded that time: a clock wound back afterwards is caught.
    let o = remind("2027-06-01T09:00:00Z", "text");
    assert_eq!(o.status.code(), Some(9), "{:?}", all(&o));
}

/// Item 6: one vendor home. Run from any directory, the commands find the same registry,
/// catalog and sequence state, say where a new one is created, and `factory home` names them.
#[test]
fn the_vendor_home_is_found_from_any_directory() {
    let w = World::new();
    let home = w.v.join("home");
    let o = json(&w.fac(&["home", "--json"]));
    assert_eq!(o["home"]["path"], home.display().to_string());
    assert_eq!(o["home"]["source"], "from $AIRLOCK_HOME");
    assert_eq!(o["registry"]["exists"], false);
    assert_eq!(o["catalog"]["exists"], true);
    // A mistyped first request is refused before any registry exists.
    let (code, text) = all(&w.fac(&[
        "issue",
        "--tier",
        "platinum",
        "--customer",
        "Acme",
        "--product",
        "pbx",
        "--key",
        "keys/license.key",
        "--out",
        "lic-typo",
    ]));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        !text.contains("new registry") && !home.join("factory.db").exists(),
        "{text}"
    );
    // The first license creates the registry in the home, and says so.
    let o = w.fac(&[
        "issue",
        "--tier",
        "sovereign",
        "--customer",
        "Acme",
        "--product",
        "pbx",
        "--key",
        "keys/license.key",
        "--out",
        "lic-a",
    ]);
    let (code, text) = all(&o);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "new registry at {}",
            home.join("factory.db").display()
        )),
        "{text}"
    );
    // From another directory: the same registry (no second one, no note), the same catalog.
    let elsewhere = w.v.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let key = w.v.join("keys/license.key");
    let o = w
        .vendor_in(
            &elsewhere,
            "factory",
            T0,
            &[
                "issue",
                "--tier",
                "professional",
                "--customer",
                "Beta",
                "--product",
                "pbx",
                "--key",
                key.to_str().unwrap(),
                "--out",
                "lic-b",
            ],
        )
        .output()
        .unwrap();
    let (code, text) = all(&o);
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("new registry"), "{text}");
    assert!(!elsewhere.join("factory.db").exists() && !w.v.join("factory.db").exists());
    let o = w
        .vendor_in(&elsewhere, "factory", T0, &["list", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        json(&o)["licenses"].as_array().map(Vec::len),
        Some(2),
        "{:?}",
        all(&o)
    );
    // The packager's sequence lives there too: bundles from two directories count on.
    let seq = |cwd: &Path, out: &str| {
        let o = w
            .vendor_in(
                cwd,
                "packager",
                T0,
                &[
                    "bundle",
                    "--license",
                    w.v.join("lic-a").to_str().unwrap(),
                    "--payload",
                    w.v.join("payload").to_str().unwrap(),
                    "--product-manifest",
                    w.v.join("pm.json").to_str().unwrap(),
                    "--key",
                    w.v.join("keys/release.key").to_str().unwrap(),
                    "--out",
                    out,
                    "--json",
                ],
            )
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{:?}", all(&o));
        json(&o)["sequence"].as_u64()
    };
    assert_eq!(seq(&w.v, "d1"), Some(1));
    assert_eq!(seq(&elsewhere, "d2"), Some(2));
    assert!(home.join("packager-state.json").exists());
    // Without AIRLOCK_HOME: $XDG_DATA_HOME/airlock, else $HOME/.local/share/airlock.
    let o = w
        .vendor_in(&w.v, "factory", T0, &["home", "--json"])
        .env_remove("AIRLOCK_HOME")
        .env("XDG_DATA_HOME", w.v.join("xdg"))
        .output()
        .unwrap();
    assert_eq!(
        json(&o)["home"]["path"],
        w.v.join("xdg/airlock").display().to_string()
    );
    let o = w
        .vendor_in(&w.v, "factory", T0, &["home"])
        .env_remove("AIRLOCK_HOME")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", w.v.join("h"))
        .output()
        .unwrap();
    assert!(ok(o).contains(&w.v.join("h/.local/share/airlock").display().to_string()),);
    // A catalog missing from the home is named, with the ways to give one.
    std::fs::remove_file(home.join("catalog.json")).unwrap();
    let (code, text) = all(&w.fac(&[
        "issue",
        "--tier",
        "professional",
        "--customer",
        "Gamma",
        "--product",
        "pbx",
        "--key",
        "keys/license.key",
        "--out",
        "lic-c",
    ]));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("no catalog at") && text.contains("--catalog"),
        "{text}"
    );
}

/// Item 2: several `factory issue` at once to the same `--out` record exactly one license;
/// the others are refused before recording, and say why.
#[test]
fn concurrent_issues_to_one_directory_record_one_license() {
    let w = World::new();
    for round in 0..3 {
        let out = format!("same-{round}");
        let kids: Vec<_> = (0..6)
            .map(|i| {
                let customer = format!("Racer {i}");
                w.vendor_in(
                    &w.v,
                    "factory",
                    T0,
                    &[
                        "issue",
                        "--additional",
                        "--tier",
                        "sovereign",
                        "--customer",
                        &customer,
                        "--product",
                        "pbx",
                        "--key",
                        "keys/license.key",
                        "--out",
                        &out,
                    ],
                )
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
            })
            .collect();
        let outs: Vec<Output> = kids
            .into_iter()
            .map(|k| k.wait_with_output().unwrap())
            .collect();
        let won: Vec<&Output> = outs.iter().filter(|o| o.status.success()).collect();
        assert_eq!(
            won.len(),
            1,
            "{:?}",
            outs.iter().map(all).collect::<Vec<_>>()
        );
        for o in outs.iter().filter(|o| !o.status.success()) {
            let (code, text) = all(o);
            assert_eq!(code, Some(2), "{text}");
            assert!(
                text.contains("another factory process is writing a license there")
                    || text.contains("already exists; refusing to overwrite"),
                "{text}"
            );
        }
        let id = String::from_utf8_lossy(&won[0].stdout).trim().to_string();
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(w.v.join(&out).join("license.json")).unwrap())
                .unwrap();
        assert_eq!(written["license_id"], id.as_str());
        assert!(!w.v.join(&out).join(".license.lock").exists());
    }
    let book = json(&w.fac(&["list", "--json"]))["licenses"].clone();
    assert_eq!(
        book.as_array().map(Vec::len),
        Some(3),
        "one license per round"
    );
}

/// Item 2: the vendor's mistakes are refused before anything is lost or made that customers
/// would refuse: re-signing over a signature, signing with a retired key, publishing over a
/// list that is not older, a bundle sequence below the last, an empty payload directory.
#[test]
fn vendor_mistakes_are_refused_and_lose_nothing() {
    let w = World::new();
    let lic = w.issue("Acme Telecom", "sovereign", "lic", &[]);
    // packager sign: never over an existing signature without --force.
    std::fs::write(w.v.join("notes.txt"), b"release notes\n").unwrap();
    ok(w.pkg(&["sign", "notes.txt", "--key", "keys/release.key"]));
    let first = std::fs::read(w.v.join("notes.txt.sig")).unwrap();
    let (code, text) = all(&w.pkg(&["sign", "notes.txt", "--key", "keys/release.key"]));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("already exists") && text.contains("--force"),
        "{text}"
    );
    assert_eq!(std::fs::read(w.v.join("notes.txt.sig")).unwrap(), first);
    // Rotation: a new release key, the old one retired. The retired key signs nothing new,
    // neither files nor bundles (the trust file comes from $AIRLOCK_TRUST).
    ok(w.fac(&[
        "keygen", "--role", "release", "--name", "release2", "--out", "keys",
    ]));
    let old = crate::kit::key_id(&w.v, "keys/release.pub");
    ok(w.fac(&[
        "trust",
        "--root-key",
        "keys/root.key",
        "--from",
        "trust.json",
        "--add",
        "keys/release2.pub",
        "--retire",
        &old,
        "--out",
        "trust.json",
    ]));
    let (code, text) = all(&w.pkg(&["sign", "notes.txt", "--key", "keys/release.key", "--force"]));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("is retired in the trust file"), "{text}");
    assert_eq!(std::fs::read(w.v.join("notes.txt.sig")).unwrap(), first);
    ok(w.pkg(&["sign", "notes.txt", "--key", "keys/release2.key", "--force"]));
    assert_ne!(std::fs::read(w.v.join("notes.txt.sig")).unwrap(), first);
    // Revocation lists: an older list in --out is replaced (and said so); anything else is not.
    let other = w.issue("Beta Telecom", "sovereign", "lic-beta", &[]);
    ok(w.fac(&["revoke", &other, "--reason", "contract ended"]));
    ok(w.fac(&["revocations", "--key", "keys/license.key", "--out", "pub"]));
    // A revoked license cannot be renewed: refused, and no empty --out directory is left.
    let (code, text) = all(&w.fac(&[
        "renew",
        &other,
        "--expires",
        "2028-01-01",
        "--key",
        "keys/license.key",
        "--out",
        "renew-revoked",
    ]));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("revoked"), "{text}");
    assert!(!w.v.join("renew-revoked").exists());
    let gamma = w.issue("Gamma Telecom", "sovereign", "lic-gamma", &[]);
    ok(w.fac(&["revoke", &gamma, "--reason", "unpaid"]));
    let o = ok(w.fac(&["revocations", "--key", "keys/license.key", "--out", "pub"]));
    assert!(
        o.contains("sequence 2") && o.contains("replaces sequence 1"),
        "{o}"
    );
    std::fs::create_dir(w.v.join("mine")).unwrap();
    std::fs::write(w.v.join("mine/revocations.json"), b"my own notes").unwrap();
    let (code, text) = all(&w.fac(&["revocations", "--key", "keys/license.key", "--out", "mine"]));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("is not a revocation list"), "{text}");
    assert_eq!(
        std::fs::read(w.v.join("mine/revocations.json")).unwrap(),
        b"my own notes"
    );
    // A list newer than this registry's (another registry's) is not replaced either.
    let published = std::fs::read_to_string(w.v.join("pub/revocations.json")).unwrap();
    std::fs::create_dir(w.v.join("newer")).unwrap();
    std::fs::write(
        w.v.join("newer/revocations.json"),
        published.replace("\"sequence\": 2", "\"sequence\": 9"),
    )
    .unwrap();
    let (code, text) = all(&w.fac(&["revocations", "--key", "keys/license.key", "--out", "newer"]));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("#9, newer than this registry's last"),
        "{text}"
    );
    // Bundles: the sequence counts on; one below the last is refused, the same is a rebuild.
    let bundle = |out: &str, extra: &[&str]| {
        let mut a = vec![
            "bundle",
            "--license",
            "lic",
            "--payload",
            "payload",
            "--product-manifest",
            "pm.json",
            "--key",
            "keys/release2.key",
            "--out",
            out,
            "--json",
        ];
        a.extend_from_slice(extra);
        w.pkg(&a)
    };
    assert_eq!(json(&bundle("b1", &[]))["sequence"], 1);
    assert_eq!(json(&bundle("b2", &[]))["sequence"], 2);
    let (code, text) = all(&bundle("b3", &["--sequence", "1"]));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("below the last bundle") && text.contains("rollback"),
        "{text}"
    );
    assert!(!w.v.join("b3").exists());
    assert_eq!(
        json(&bundle("b2-again", &["--sequence", "2"]))["sequence"],
        2
    );
    assert_eq!(json(&bundle("b4", &[]))["sequence"], 3);
    // An empty payload directory would not reach the customer: refused, nothing written.
    std::fs::create_dir_all(w.v.join("payload/var/log")).unwrap();
    let (code, text) = all(&bundle("b5", &[]));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("payload/var/log is an empty directory"),
        "{text}"
    );
    assert!(!w.v.join("b5").exists());
    let _ = lic;
}

/// Item 2: a batch killed part-way, run again, issues only the lines not recorded and writes
/// the files that are missing; `factory export --all` restores every missing file too.
#[test]
fn an_interrupted_batch_run_again_issues_nothing_twice() {
    let w = World::new();
    let n = 3000;
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{{\"tier\":\"professional\",\"customer\":\"Customer {i}\",\"product\":\"pbx\"}}\n"
            )
        })
        .collect();
    std::fs::write(w.v.join("batch.jsonl"), lines).unwrap();
    let args = [
        "issue",
        "--batch",
        "batch.jsonl",
        "--key",
        "keys/license.key",
        "--out",
        "out",
    ];
    let mut kid = w
        .vendor_in(&w.v, "factory", T0, &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a first chunk is on disk (if it finishes first, the re-run has nothing
    // to do, which the assertions below accept as well).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let written = std::fs::read_dir(w.v.join("out")).map_or(0, |d| d.count());
        if written >= 600
            || kid.try_wait().unwrap().is_some()
            || std::time::Instant::now() > deadline
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = kid.kill();
    let _ = kid.wait();
    let recorded_before = json(&w.fac(&["list", "--json"]))["licenses"]
        .as_array()
        .unwrap()
        .len();
    // Run the same file again: it finishes the rest.
    let o = w.fac(&args);
    let (code, text) = all(&o);
    assert_eq!(code, Some(0), "{text}");
    let ids: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), n, "every line's license id, in order");
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        n
    );
    if recorded_before > 0 {
        assert!(
            text.contains("already recorded by an earlier run"),
            "{text}"
        );
    }
    let book = json(&w.fac(&["list", "--json"]));
    assert_eq!(
        book["licenses"].as_array().unwrap().len(),
        n,
        "no line issued twice"
    );
    for id in &ids {
        assert!(
            w.v.join("out").join(id).join("license.sig").exists(),
            "{id}"
        );
    }
    // A third run changes nothing.
    let o = w.fac(&args);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), n);
    assert!(all(&o).1.contains("issued 0 licenses"), "{:?}", all(&o));
    assert_eq!(
        json(&w.fac(&["list", "--json"]))["licenses"]
            .as_array()
            .unwrap()
            .len(),
        n
    );
    // Lost files: export --all writes back exactly the missing ones, byte for byte.
    let keep = std::fs::read(w.v.join("out").join(&ids[7]).join("license.json")).unwrap();
    for id in &ids[..10] {
        std::fs::remove_dir_all(w.v.join("out").join(id)).unwrap();
    }
    let o = ok(w.fac(&["export", "--all", "--out", "out"]));
    assert!(o.contains("wrote the files of 10 that were missing"), "{o}");
    assert_eq!(
        std::fs::read(w.v.join("out").join(&ids[7]).join("license.json")).unwrap(),
        keep
    );
    // The same for one command-line issue with --request-id: a retry is the same license.
    let one = |out: &str| {
        w.fac(&[
            "issue",
            "--tier",
            "sovereign",
            "--customer",
            "Solo",
            "--product",
            "pbx",
            "--key",
            "keys/license.key",
            "--out",
            out,
            "--request-id",
            "crm-4711",
        ])
    };
    let first = ok(one("solo"));
    std::fs::remove_dir_all(w.v.join("solo")).unwrap();
    let o = one("solo");
    let (code, text) = all(&o);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), first);
    assert!(
        text.contains("already recorded as license") && text.contains("written again"),
        "{text}"
    );
    assert_eq!(
        json(&w.fac(&["list", "--json"]))["licenses"]
            .as_array()
            .unwrap()
            .len(),
        n + 1
    );
}

/// Item 3: input is checked the way users count and errors point where users look: names in
/// characters (not bytes) with the usage exit code, catalog errors at the line of the vendor's
/// own file, a missing bundle or signature named as such, and each refusal with its own advice.
#[test]
fn input_is_checked_the_way_users_count() {
    let w = World::new();
    let issue = |name: &str, out: &str| {
        w.fac(&[
            "issue",
            "--tier",
            "sovereign",
            "--customer",
            name,
            "--product",
            "pbx",
            "--key",
            "keys/license.key",
            "--out",
            out,
        ])
    };
    // 129 × "ü" is 129 characters (258 bytes): accepted; 257 characters: a usage error.
    ok(issue(&"ü".repeat(129), "u129"));
    let (code, text) = all(&issue(&"ü".repeat(257), "u257"));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("customer.name must be 1-256 characters"),
        "{text}"
    );
    assert!(!w.v.join("u257").exists());
    // A catalog mistake on line 31 of the vendor's file is reported at line 31.
    let bad = CATALOG.replace(
        "\"grace_days\": 14,",
        "\"grace_days\": 14, \"colour\": \"red\",",
    );
    let line = bad.lines().position(|l| l.contains("colour")).unwrap() + 1;
    std::fs::write(w.v.join("home/catalog.json"), bad).unwrap();
    let (code, text) = all(&issue("Acme", "bad-cat"));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("unknown field `colour`") && text.contains(&format!("at line {line} column")),
        "{text}"
    );
    std::fs::write(w.v.join("home/catalog.json"), CATALOG).unwrap();
    // The customer: a missing bundle and a missing signature are each named.
    w.issue("Acme Telecom", "sovereign", "lic", &[]);
    ok(bundle(&w, "lic", "d1"));
    w.carry("d1");
    w.carry("trust.json");
    let root = crate::kit::key_id(&w.v, "keys/root.pub");
    let verify = |b: &str| w.rv(&[b, "--trust", "trust.json", "--root", &root]);
    let (code, text) = all(&verify("d1/b2.tar.gz"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("d1/b2.tar.gz: No such file"), "{text}");
    std::fs::rename(w.c.join("d1/b1.tar.gz.sig"), w.c.join("b1.sig")).unwrap();
    let (code, text) = all(&verify("d1/b1.tar.gz"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("the bundle's signature is missing"), "{text}");
    std::fs::rename(w.c.join("b1.sig"), w.c.join("d1/b1.tar.gz.sig")).unwrap();
    // Each refusal says what to do about it, in its own words.
    let mut damaged = std::fs::read(w.c.join("d1/b1.tar.gz")).unwrap();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x40;
    std::fs::write(w.c.join("d1/bad.tar.gz"), damaged).unwrap();
    std::fs::copy(w.c.join("d1/b1.tar.gz.sig"), w.c.join("d1/bad.tar.gz.sig")).unwrap();
    let (code, text) = all(&verify("d1/bad.tar.gz"));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("altered or damaged: get a fresh copy"),
        "{text}"
    );
    let (code, text) = all(&w.rv(&[
        "d1/b1.tar.gz",
        "--trust",
        "trust.json",
        "--root",
        &root,
        "--at",
        "2029-01-01",
    ]));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("[license_expired]") && text.contains("ask the vendor to renew it"),
        "{text}"
    );
}

/// Item 4: evaluation is a real feature: the vendor's catalog sets its terms (21 days, 5
/// extensions), the customer's first start begins it, `remind` follows it, and it ends.
#[test]
fn an_evaluation_follows_the_catalog_from_the_first_start() {
    if !have_tool("faketime") {
        return;
    }
    let w = World::new();
    w.issue("Evaluation", "evaluation", "eval", &[]);
    w.issue("Acme Telecom", "professional", "paid", &[]);
    w.carry("eval");
    w.carry("paid");
    w.carry("trust.json");
    w.carry("keys/root.pub");
    let eval = |now: &str, extra: &[&str]| {
        let mut a = vec![
            "evaluation",
            "eval/license.json",
            "--trust",
            "trust.json",
            "--root",
            "keys/root.pub",
            "--state",
            "st",
            "--json",
        ];
        a.extend_from_slice(extra);
        w.customer(now, &a)
    };
    // A preview writes nothing: the evaluation has not started.
    let o = eval("2026-12-01T09:00:00Z", &["--at", "2026-12-01T09:00:00Z"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", all(&o));
    assert!(
        !w.c.join("st/state.json").exists()
            || !std::fs::read_to_string(w.c.join("st/state.json"))
                .unwrap()
                .contains("\"pbx\"")
    );
    // The first real start, ten days after the terms were signed: 21 days from now.
    let o = eval("2026-12-02T09:00:00Z", &[]);
    assert_eq!(o.status.code(), Some(0), "{:?}", all(&o));
    let v = json(&o);
    assert_eq!(v["state"], "evaluation");
    assert_eq!(v["tier"], "evaluation");
    let text = all(&w.customer(
        "2026-12-03T09:00:00Z",
        &[
            "evaluation",
            "eval/license.json",
            "--trust",
            "trust.json",
            "--state",
            "st",
        ],
    ))
    .1;
    assert!(
        text.contains("EVALUATION")
            && text.contains("evaluation started 2026-12-02T09:00:00Z, ends 2026-12-23T09:00:00Z"),
        "{text}"
    );
    // remind follows the evaluation, not the terms' own dates.
    let remind = |now: &str| {
        w.customer(
            now,
            &[
                "remind",
                "--license",
                "eval/license.json",
                "--trust",
                "trust.json",
                "--state",
                "st",
                "--format",
                "json",
            ],
        )
    };
    let o = remind("2026-12-16T08:00:00Z");
    assert_eq!(o.status.code(), Some(3), "{:?}", all(&o));
    assert_eq!(json(&o)["state"], "evaluation");
    assert_eq!(json(&o)["days_remaining"], 7);
    let o = remind("2026-12-24T09:00:00Z");
    assert_eq!(o.status.code(), Some(5), "{:?}", all(&o));
    assert_eq!(json(&o)["state"], "evaluation_expired");
    // Over: exit 1, said so; restarting the product does not restart it.
    let o = eval("2026-12-25T09:00:00Z", &[]);
    assert_eq!(o.status.code(), Some(1), "{:?}", all(&o));
    assert_eq!(json(&o)["state"], "evaluation_expired");
    // A paid license is not evaluation terms.
    let (code, text) = all(&w.customer(
        "2026-12-25T09:00:00Z",
        &[
            "evaluation",
            "paid/license.json",
            "--trust",
            "trust.json",
            "--state",
            "st",
        ],
    ));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("not evaluation terms"), "{text}");
}
