//! The rotation runbook and the compromised-key runbook of docs/OPERATIONS.md, played end to
//! end with freshly generated keys: every vendor step through `factory`/`packager`, every
//! customer step through `runtime-verify` with a state directory and a real (faked) clock.

use crate::kit::*;
use std::path::Path;

const T0: &str = "2026-11-22T10:00:00Z";

/// Day one: keys, trust v1, a sovereign license, bundle 1 (a release from *before* the keys
/// existed), installed by the customer with the vendor's root. Returns the license id.
pub(crate) fn day_one(v: &Path, c: &Path) -> String {
    for (role, name) in [
        ("root", "root"),
        ("license", "license"),
        ("release", "release"),
    ] {
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
            "keys/release.pub",
            "--out",
            "trust-v1.json",
        ],
    ));
    let lic = ok(vendor(
        v,
        "factory",
        T0,
        &[
            "issue",
            "--tier",
            "sovereign",
            "--customer",
            "Acme",
            "--product",
            "gateway",
            "--expires",
            "2027-11-30",
            "--key",
            "keys/license.key",
            "--trust",
            "trust-v1.json",
            "--out",
            "lic1",
        ],
    ))
    .trim()
    .to_string();
    product(v, "2026-11-15T00:00:00Z", "1.0.0");
    ok(vendor(
        v,
        "packager",
        "2026-11-22T11:00:00Z",
        &[
            "bundle",
            "--license",
            "lic1",
            "--payload",
            "payload",
            "--product-manifest",
            "pm-1.0.0.json",
            "--key",
            "keys/release.key",
            "--trust",
            "trust-v1.json",
            "--airgap",
            "--name",
            "b1",
            "--out",
            "d1",
            "--state",
            "seq.json",
        ],
    ));
    // The customer receives the delivery and the vendor's root key out of band.
    for f in ["d1", "keys/root.pub", "trust-v1.json", "lic1"] {
        copy(&v.join(f), &c.join(Path::new(f).file_name().unwrap()));
    }
    ok(customer(
        c,
        "2026-11-22T12:00:00Z",
        &[
            "d1/b1.tar.gz",
            "--trust",
            "trust-v1.json",
            "--root",
            "root.pub",
            "--state",
            "st",
            "--extract",
            "inst1",
        ],
    ));
    lic
}

fn state(c: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(c.join("st/state.json")).unwrap()).unwrap()
}

#[test]
fn rotation_runbook() {
    if !have_tool("faketime") {
        return;
    }
    let (vd, cd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (v, c) = (vd.path(), cd.path());
    day_one(v, c);

    // --- Release key rotation (planned) ---------------------------------------------------
    let t1 = "2026-12-01T09:00:00Z";
    let old_release = key_id(v, "keys/release.pub");
    ok(vendor(
        v,
        "factory",
        t1,
        &[
            "keygen",
            "--role",
            "release",
            "--name",
            "release-2",
            "--out",
            "keys",
        ],
    ));
    ok(vendor(
        v,
        "factory",
        t1,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--from",
            "trust-v1.json",
            "--add",
            "keys/release-2.pub",
            "--retire",
            &old_release,
            "--out",
            "trust-v2.json",
        ],
    ));
    // The retired key signs nothing new.
    product(v, "2026-11-30T00:00:00Z", "1.1.0");
    let b2 = [
        "bundle",
        "--license",
        "lic1",
        "--payload",
        "payload",
        "--product-manifest",
        "pm-1.1.0.json",
        "--trust",
        "trust-v2.json",
        "--airgap",
        "--name",
        "b2",
        "--out",
        "d2",
        "--state",
        "seq.json",
        "--key",
    ];
    let mut args = b2.to_vec();
    args.push("keys/release.key");
    fails(
        vendor(v, "packager", "2026-12-01T10:00:00Z", &args),
        2,
        "retired in the trust file",
    );
    let mut args = b2.to_vec();
    args.push("keys/release-2.key");
    ok(vendor(v, "packager", "2026-12-01T10:00:00Z", &args));
    copy(&v.join("d2"), &c.join("d2"));
    copy(&v.join("trust-v2.json"), &c.join("trust-v2.json"));
    // The customer installs it with the new trust file: no --root needed, the state pins it.
    ok(customer(
        c,
        "2026-12-01T12:00:00Z",
        &[
            "d2/b2.tar.gz",
            "--trust",
            "trust-v2.json",
            "--state",
            "st",
            "--extract",
            "inst2",
        ],
    ));
    assert_eq!(state(c)["trust"]["version"], 2);
    assert_eq!(state(c)["bundle_sequences"]["gateway/acme"], 2);
    // Bundle 1, signed by the old key inside its window, still verifies (stateless check).
    ok(customer(
        c,
        "2026-12-01T13:00:00Z",
        &[
            "d1/b1.tar.gz",
            "--trust",
            "trust-v2.json",
            "--root",
            "root.pub",
        ],
    ));

    // --- Root rotation ----------------------------------------------------------------------
    let t2 = "2027-01-10T09:00:00Z";
    let old_root = key_id(v, "keys/root.pub");
    ok(vendor(
        v,
        "factory",
        t2,
        &[
            "keygen", "--role", "root", "--name", "root-2", "--out", "keys",
        ],
    ));
    // v3: both roots active, co-signed, so runtimes pinned on either accept it.
    ok(vendor(
        v,
        "factory",
        t2,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--root-key",
            "keys/root-2.key",
            "--from",
            "trust-v2.json",
            "--add",
            "keys/root-2.pub",
            "--out",
            "trust-v3.json",
        ],
    ));
    // Retiring the old root in a file it signs itself is refused (a runtime would refuse it).
    fails(
        vendor(
            v,
            "factory",
            t2,
            &[
                "trust",
                "--root-key",
                "keys/root.key",
                "--from",
                "trust-v3.json",
                "--retire",
                &old_root,
                "--out",
                "bad.json",
            ],
        ),
        2,
        "must be active with the root role",
    );
    // v4: signed by the new root, retiring the old one.
    ok(vendor(
        v,
        "factory",
        "2027-01-11T09:00:00Z",
        &[
            "trust",
            "--root-key",
            "keys/root-2.key",
            "--from",
            "trust-v3.json",
            "--retire",
            &old_root,
            "--out",
            "trust-v4.json",
        ],
    ));
    for f in ["trust-v3.json", "trust-v4.json"] {
        copy(&v.join(f), &c.join(f));
    }
    // A customer who missed v3 cannot jump to v4 (its signer was never pinned) ...
    fails(
        customer(
            c,
            "2027-01-12T00:00:00Z",
            &[
                "license",
                "lic1/license.json",
                "--trust",
                "trust-v4.json",
                "--state",
                "st",
            ],
        ),
        1,
        "not an anchor",
    );
    // ... but walks the chain without deleting anything.
    ok(customer(
        c,
        "2027-01-12T00:00:00Z",
        &[
            "license",
            "lic1/license.json",
            "--trust",
            "trust-v3.json",
            "--trust",
            "trust-v4.json",
            "--state",
            "st",
        ],
    ));
    assert_eq!(state(c)["trust"]["version"], 4);
    // The retired root leaks: its holder signs a trust file with a huge version, a license key
    // of their own, from the last file in which that root was active.
    ok(vendor(
        v,
        "factory",
        t2,
        &[
            "keygen", "--role", "license", "--name", "evil", "--out", "evil",
        ],
    ));
    ok(vendor(
        v,
        "factory",
        "2027-01-20T00:00:00Z",
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--from",
            "trust-v3.json",
            "--version",
            "999",
            "--add",
            "evil/evil.pub",
            "--out",
            "evil-trust.json",
        ],
    ));
    copy(&v.join("evil-trust.json"), &c.join("evil-trust.json"));
    fails(
        customer(
            c,
            "2027-01-21T00:00:00Z",
            &[
                "license",
                "lic1/license.json",
                "--trust",
                "evil-trust.json",
                "--state",
                "st",
            ],
        ),
        1,
        "not an anchor",
    );
    // The vendor's real next file still goes through.
    ok(vendor(
        v,
        "factory",
        "2027-01-25T00:00:00Z",
        &[
            "trust",
            "--root-key",
            "keys/root-2.key",
            "--from",
            "trust-v4.json",
            "--out",
            "trust-v5.json",
        ],
    ));
    copy(&v.join("trust-v5.json"), &c.join("trust-v5.json"));
    ok(customer(
        c,
        "2027-01-26T00:00:00Z",
        &[
            "license",
            "lic1/license.json",
            "--trust",
            "trust-v5.json",
            "--state",
            "st",
        ],
    ));
    assert_eq!(state(c)["trust"]["version"], 5);
}

#[test]
fn compromised_key_runbook() {
    if !have_tool("faketime") {
        return;
    }
    let (vd, cd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (v, c) = (vd.path(), cd.path());
    let lic = day_one(v, c);
    let t = "2027-02-01T09:00:00Z";
    // 1. A new license key; the compromised one revoked in the next trust file.
    let bad = key_id(v, "keys/license.pub");
    ok(vendor(
        v,
        "factory",
        t,
        &[
            "keygen",
            "--role",
            "license",
            "--name",
            "license-2",
            "--out",
            "keys",
        ],
    ));
    ok(vendor(
        v,
        "factory",
        t,
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--from",
            "trust-v1.json",
            "--add",
            "keys/license-2.pub",
            "--revoke",
            &bad,
            "--out",
            "trust-v2.json",
        ],
    ));
    // The revoked key signs nothing more.
    fails(
        vendor(
            v,
            "factory",
            t,
            &[
                "issue",
                "--tier",
                "sovereign",
                "--customer",
                "Other",
                "--product",
                "gateway",
                "--key",
                "keys/license.key",
                "--trust",
                "trust-v2.json",
                "--out",
                "x",
            ],
        ),
        2,
        "revoked in the trust file",
    );
    // 2. Every license the key signed is re-issued with the new key (stored bytes checked
    //    first), and the old ids are revoked and published.
    let new = ok(vendor(
        v,
        "factory",
        t,
        &[
            "renew",
            &lic,
            "--from-now",
            "--expires",
            "2027-11-30",
            "--key",
            "keys/license-2.key",
            "--trust",
            "trust-v2.json",
            "--out",
            "lic2",
        ],
    ))
    .trim()
    .to_string();
    assert_ne!(new, lic);
    ok(vendor(
        v,
        "factory",
        t,
        &[
            "revoke",
            &lic,
            "--reason",
            "signing key compromised",
            "--code",
            "superseded",
        ],
    ));
    ok(vendor(
        v,
        "factory",
        t,
        &[
            "revocations",
            "--key",
            "keys/license-2.key",
            "--trust",
            "trust-v2.json",
            "--out",
            "rl",
        ],
    ));
    ok(vendor(v, "factory", t, &["audit", "verify"]));
    for f in ["trust-v2.json", "lic2", "rl"] {
        copy(&v.join(f), &c.join(f));
    }
    // 3. The customer: the old license no longer verifies under the new trust file ...
    fails(
        customer(
            c,
            "2027-02-02T00:00:00Z",
            &[
                "license",
                "lic1/license.json",
                "--trust",
                "trust-v2.json",
                "--state",
                "st",
            ],
        ),
        1,
        "is revoked in the trust file",
    );
    // ... the replacement does; the published list is imported and sticks.
    ok(customer(
        c,
        "2027-02-02T00:00:00Z",
        &[
            "revocations",
            "import",
            "rl/revocations.json",
            "--trust",
            "trust-v2.json",
            "--state",
            "st",
        ],
    ));
    ok(customer(
        c,
        "2027-02-02T01:00:00Z",
        &[
            "license",
            "lic2/license.json",
            "--trust",
            "trust-v2.json",
            "--state",
            "st",
        ],
    ));
    assert_eq!(state(c)["revoked"][&lic], "superseded");
    // An old trust file (before the revocation) cannot be played back to revive the key: the
    // state's copy of the accepted version judges instead, and the key stays revoked.
    fails(
        customer(
            c,
            "2027-02-03T00:00:00Z",
            &[
                "license",
                "lic1/license.json",
                "--trust",
                "trust-v1.json",
                "--state",
                "st",
            ],
        ),
        1,
        "is revoked in the trust file",
    );
}

/// After a rotation the customer replaces `trust.json` in place; a cron job or product still
/// given the old file keeps working (the state keeps the newest accepted file and says so),
/// and only a state without that copy refuses, with its own code, never `invalid`.
#[test]
fn an_old_trust_file_after_a_rotation_is_not_an_alarm() {
    let d = tempfile::tempdir().unwrap();
    let (v, c) = (d.path().join("vendor"), d.path().join("customer"));
    std::fs::create_dir_all(&v).unwrap();
    std::fs::create_dir_all(&c).unwrap();
    day_one(&v, &c);
    ok(vendor(
        &v,
        "factory",
        "2026-11-23T10:00:00Z",
        &[
            "keygen",
            "--role",
            "release",
            "--name",
            "release-2",
            "--out",
            "keys",
        ],
    ));
    ok(vendor(
        &v,
        "factory",
        "2026-11-23T10:00:00Z",
        &[
            "trust",
            "--root-key",
            "keys/root.key",
            "--from",
            "trust-v1.json",
            "--add",
            "keys/release-2.pub",
            "--out",
            "trust-v2.json",
        ],
    ));
    // The customer replaces its trust.json in place (it kept v1 there).
    copy(&v.join("trust-v1.json"), &c.join("trust.json"));
    let license = |trust: &str, now: &str| {
        customer(
            &c,
            now,
            &[
                "license",
                "lic1/license.json",
                "--trust",
                trust,
                "--state",
                "st",
            ],
        )
    };
    ok(license("trust.json", "2026-11-24T00:00:00Z"));
    copy(&v.join("trust-v2.json"), &c.join("trust.json"));
    ok(license("trust.json", "2026-11-24T01:00:00Z"));
    assert!(
        c.join("st/trust.json").exists(),
        "the accepted file is kept"
    );
    // A job still given the old file: valid, with a note to replace it.
    let o = license("trust-v1.json", "2026-11-24T02:00:00Z");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("older than version 2") && err.contains("replace"),
        "{err}"
    );
    let o = customer(
        &c,
        "2026-11-24T03:00:00Z",
        &[
            "remind",
            "--license",
            "lic1/license.json",
            "--trust",
            "trust-v1.json",
            "--state",
            "st",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Without the kept copy (a state from an older release): its own code, exit 2.
    std::fs::remove_file(c.join("st/trust.json")).unwrap();
    let o = customer(
        &c,
        "2026-11-24T04:00:00Z",
        &[
            "license",
            "lic1/license.json",
            "--trust",
            "trust-v1.json",
            "--state",
            "st",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["check"], "trust_outdated", "{v}");
}
