//! The customer's routine events (issue 23): `--license` as a directory or a file everywhere,
//! runs that fail or only read leave no state directory, extraction follows the umask, a run
//! cleans what a killed run left (and says so), and two deliveries share one directory.

use crate::kit::*;
use crate::runbooks::day_one;
use std::os::unix::fs::PermissionsExt;

const NOW: &str = "2026-11-24T10:00:00Z";

fn dirs() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let (v, c) = (d.path().join("vendor"), d.path().join("customer"));
    std::fs::create_dir_all(&v).unwrap();
    std::fs::create_dir_all(&c).unwrap();
    (d, v, c)
}

#[test]
fn license_takes_a_directory_or_a_file_everywhere() {
    let (_d, v, c) = dirs();
    day_one(&v, &c);
    for form in ["lic1", "lic1/license.json"] {
        ok(customer(
            &c,
            NOW,
            &["license", form, "--trust", "trust-v1.json", "--state", "st"],
        ));
        ok(customer(
            &c,
            NOW,
            &[
                "remind",
                "--license",
                form,
                "--trust",
                "trust-v1.json",
                "--state",
                "st",
            ],
        ));
        let o = std::process::Command::new(bin("airlock-agent"))
            .args([
                "request",
                "--license",
                form,
                "--state",
                "st-agent",
                "--out",
                "req.json",
                "--force",
            ])
            .current_dir(&c)
            .output()
            .unwrap();
        ok(o);
        ok(vendor(
            &v,
            "factory",
            T0_VENDOR,
            &["verify", form, "--trust", "trust-v1.json"],
        ));
    }
    // A path that is neither: one message naming both forms, no OS jargon, nothing created.
    let o = customer(
        &c,
        NOW,
        &[
            "license",
            "nowhere",
            "--trust",
            "trust-v1.json",
            "--root",
            "root.pub",
            "--state",
            "st-typo",
        ],
    );
    fails(o, 2, "give the license directory, or its license.json");
    assert!(
        !c.join("st-typo").exists(),
        "a failed run creates no state directory"
    );
}

const T0_VENDOR: &str = "2026-11-22T10:00:00Z";

#[test]
fn extraction_follows_the_umask_and_cleans_what_a_killed_run_left() {
    let (_d, v, c) = dirs();
    day_one(&v, &c);
    // day_one extracted into inst1 under the test's umask: not the staging directory's 0700.
    let mode = std::fs::metadata(c.join("inst1"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    let probe = c.join("probe");
    std::fs::create_dir(&probe).unwrap();
    let want = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, want, "the installed tree follows the umask");
    // A run killed mid-extraction left a large hidden staging directory (its process gone).
    let stale = c.join(".inst2.staging-4194304");
    std::fs::create_dir_all(stale.join("payload")).unwrap();
    std::fs::write(stale.join("payload/big.bin"), vec![0u8; 1 << 20]).unwrap();
    let o = customer(
        &c,
        NOW,
        &[
            "d1/b1.tar.gz",
            "--trust",
            "trust-v1.json",
            "--state",
            "st",
            "--extract",
            "inst2",
            "--json",
        ],
    );
    let out = ok(o);
    assert!(
        !stale.exists(),
        "the killed run's staging directory is gone"
    );
    assert!(out.contains("removed 1 partial extraction"), "{out}");
}

#[test]
fn two_deliveries_share_one_checksums_file() {
    let (_d, v, c) = dirs();
    day_one(&v, &c);
    product(&v, "2026-11-20T00:00:00Z", "1.1.0");
    ok(vendor(
        &v,
        "packager",
        "2026-11-23T11:00:00Z",
        &[
            "bundle",
            "--license",
            "lic1/license.json",
            "--payload",
            "payload",
            "--product-manifest",
            "pm-1.1.0.json",
            "--key",
            "keys/release.key",
            "--trust",
            "trust-v1.json",
            "--airgap",
            "--name",
            "b2",
            "--out",
            "d1",
            "--state",
            "seq.json",
        ],
    ));
    let sums = std::fs::read_to_string(v.join("d1/CHECKSUMS.txt")).unwrap();
    for f in ["b1.tar.gz", "b1.tar.gz.sig", "b2.tar.gz", "b2.tar.gz.sig"] {
        assert!(sums.contains(f), "{f} missing from {sums}");
    }
    if have_tool("sha256sum") {
        let o = std::process::Command::new("sha256sum")
            .args(["-c", "CHECKSUMS.txt"])
            .current_dir(v.join("d1"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    // The same name again is refused, and the file is left as it was.
    fails(
        vendor(
            &v,
            "packager",
            "2026-11-23T12:00:00Z",
            &[
                "bundle",
                "--license",
                "lic1",
                "--payload",
                "payload",
                "--product-manifest",
                "pm-1.1.0.json",
                "--key",
                "keys/release.key",
                "--trust",
                "trust-v1.json",
                "--airgap",
                "--name",
                "b2",
                "--out",
                "d1",
                "--state",
                "seq.json",
            ],
        ),
        2,
        "already exists",
    );
    assert_eq!(
        std::fs::read_to_string(v.join("d1/CHECKSUMS.txt")).unwrap(),
        sums
    );
}
