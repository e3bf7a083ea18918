//! `packager bundle` and `packager verify` through the binary: reproducibility, stock tools
//! (sha256sum -c, minisign -Vm, tar), every refusal, and a payload of many small files plus
//! one large file.

use canon::{Kind, Role, Timestamp};
use runtime::license::License;
use runtime::Artifact;
use runtime::KeyStatus;
use signing::SecretKey;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const NOW: &str = "2026-11-22T10:00:00Z";

fn t(s: &str) -> Timestamp {
    Timestamp::parse_date_or_time(s).unwrap()
}

fn run(dir: &Path, cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .env("AIRLOCK_NOW", NOW)
        .output()
        .unwrap()
}

fn pk(dir: &Path, args: &[&str]) -> Output {
    run(dir, env!("CARGO_BIN_EXE_packager"), args)
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(o: &Output, code: i32, needle: &str) {
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{e}");
    assert!(e.contains(needle), "{needle:?} not in {e}");
}

/// The kit's license under this suite's own ids (its bundle names and sequences use them).
fn license() -> License {
    License {
        license_id: "lic-pk-1".into(),
        issuer: "Test".into(),
        limits: Default::default(),
        lineage_id: "lin-pk-1".into(),
        ..testkit::license()
    }
}

/// Keys (0600), a trust file, a signed license in `lic/`, a product manifest and a payload.
fn setup(p: &Path, edit: impl FnOnce(&mut License)) {
    let created = t("2026-01-01");
    let root = SecretKey::from_seed(&[1; 32], "root", Role::Root, created).unwrap();
    let lic = SecretKey::from_seed(&[2; 32], "lic", Role::License, created).unwrap();
    let rel = SecretKey::from_seed(&[3; 32], "rel", Role::Release, created).unwrap();
    for k in [&root, &lic, &rel] {
        signing::keyfile::write_key_files(k, &p.join("keys")).unwrap();
    }
    let entries: Vec<_> = [&root, &lic, &rel]
        .iter()
        .map(|k| signing::trust::TrustEntry {
            public_key: k.public_key(),
            name: k.name.clone(),
            roles: vec![k.role],
            not_before: created,
            not_after: t("2030-01-01"),
            status: KeyStatus::Active,
        })
        .collect();
    fs::write(
        p.join("trust.json"),
        signing::trust::sign_trust_file(&root, 1, t("2026-06-01"), &entries).unwrap(),
    )
    .unwrap();
    let mut l = license();
    edit(&mut l);
    let canonical = l.to_canonical();
    fs::create_dir_all(p.join("lic")).unwrap();
    fs::write(
        p.join("lic/license.json"),
        canon::parse(&canonical).unwrap().to_pretty(),
    )
    .unwrap();
    fs::write(
        p.join("lic/license.sig"),
        lic.sign_document(Kind::License, &canonical)
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    fs::write(
        p.join("pm.json"),
        fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/product-manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    fs::create_dir_all(p.join("payload/sub")).unwrap();
    fs::write(p.join("payload/a.txt"), b"alpha\n").unwrap();
    fs::write(p.join("payload/sub/b.bin"), vec![7u8; 100_000]).unwrap();
}

fn bundle_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "bundle",
        "--license",
        "lic",
        "--payload",
        "payload",
        "--product-manifest",
        "pm.json",
        "--key",
        "keys/rel.key",
        "--out",
        out,
        "--trust",
        "trust.json",
        "--state",
        "state.json",
    ];
    v.extend_from_slice(extra);
    v
}

use testkit::have_tool as have;

#[test]
fn reproducible_and_checked_by_stock_tools() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |_| {});
    let fixed = [
        "--airgap",
        "--created-at",
        "2026-11-20T00:00:00Z",
        "--sequence",
        "3",
        "--name",
        "acme-gw",
    ];
    ok(&pk(p, &bundle_args("out1", &fixed)));
    ok(&pk(
        p,
        &bundle_args("out2", &[&fixed[..], &["--threads", "1"]].concat()),
    ));
    for f in ["acme-gw.tar.gz", "acme-gw.tar.gz.sig", "CHECKSUMS.txt"] {
        assert_eq!(
            fs::read(p.join("out1").join(f)).unwrap(),
            fs::read(p.join("out2").join(f)).unwrap(),
            "{f} differs between builds"
        );
    }
    // The vendor-side check uses the runtime's verifier.
    let v = ok(&pk(
        p,
        &["verify", "out1/acme-gw.tar.gz", "--trust", "trust.json"],
    ));
    assert!(v.contains("VALID"), "{v}");
    if have("sha256sum") {
        ok(&run(&p.join("out1"), "sha256sum", &["-c", "CHECKSUMS.txt"]));
    }
    if have("minisign") {
        ok(&run(
            &p.join("out1"),
            "minisign",
            &[
                "-Vm",
                "acme-gw.tar.gz",
                "-p",
                "../keys/rel.minisign.pub",
                "-x",
                "acme-gw.tar.gz.sig",
            ],
        ));
    }
    if have("tar") && have("sha256sum") {
        fs::create_dir(p.join("x")).unwrap();
        ok(&run(
            &p.join("x"),
            "tar",
            &["-xzf", "../out1/acme-gw.tar.gz"],
        ));
        ok(&run(&p.join("x"), "sha256sum", &["-c", "CHECKSUMS.txt"]));
        assert_eq!(fs::read(p.join("x/payload/a.txt")).unwrap(), b"alpha\n");
    }
    // Default sequence: one more than the highest built for this product and customer.
    ok(&pk(p, &bundle_args("out3", &["--airgap"])));
    assert!(p.join("out3/gateway-1.0.0-acme-4.tar.gz").exists());
    // A sequence below the last is refused: customers would refuse it as a rollback.
    fails(
        &pk(p, &bundle_args("out5", &fixed)),
        2,
        "is below the last bundle",
    );
    // Never overwrites.
    let mut again = fixed;
    again[4] = "4";
    fails(
        &pk(p, &bundle_args("out1", &again)),
        2,
        "refusing to overwrite",
    );
    // A tampered bundle fails packager verify with exit 1.
    let mut b = fs::read(p.join("out1/acme-gw.tar.gz")).unwrap();
    let n = b.len() - 20;
    b[n] ^= 1;
    fs::write(p.join("out1/acme-gw.tar.gz"), b).unwrap();
    fails(
        &pk(
            p,
            &["verify", "out1/acme-gw.tar.gz", "--trust", "trust.json"],
        ),
        1,
        // The first failing check, found before the outer signature (reading stops there).
        "REJECTED [member_mismatch]",
    );
}

#[test]
fn refuses_incoherent_bundles() {
    type Edit = Box<dyn Fn(&mut License)>;
    let cases: Vec<(Edit, Vec<&str>, &str)> = vec![
        (
            Box::new(|l| l.product = "toaster".into()),
            vec![],
            "REJECTED [wrong_product]: coherence (wrong_product): the release is gateway, the license is for toaster",
        ),
        (
            Box::new(|l| l.editions = vec!["standard".into()]),
            vec![],
            "REJECTED [edition_not_licensed]: coherence (edition_not_licensed): edition sovereign is not allowed",
        ),
        (
            Box::new(|l| l.features.retain(|f| f != "helm_chart")),
            vec![],
            "REJECTED [feature_not_licensed]: coherence (feature_not_licensed): the release needs unlicensed features: helm_chart",
        ),
        (
            Box::new(|l| {
                l.features = vec!["gate".into(), "helm_chart".into(), "airgap_bundle".into()]
            }),
            vec!["--airgap", "--created-at", "2028-01-01"],
            "REJECTED [manifest_outside_license_window]: coherence (manifest_outside_license_window): the bundle was created at 2028-01-01T00:00:00Z, outside the license's 2026-11-01T00:00:00Z .. 2027-11-01T00:00:00Z",
        ),
        (
            Box::new(|l| l.not_before = "2027-01-01T00:00:00Z".into()),
            vec![],
            "REJECTED [manifest_outside_license_window]: coherence (manifest_outside_license_window): the bundle was created at 2026-11-22T10:00:00Z, outside the license's 2027-01-01",
        ),
    ];
    for (edit, extra, needle) in cases {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        setup(p, edit);
        // Refused by the runtime's own coherence rule: a rejection (exit 1) naming its check.
        fails(&pk(p, &bundle_args("out", &extra)), 1, needle);
        assert!(
            !p.join("out").exists() || fs::read_dir(p.join("out")).unwrap().count() == 0,
            "nothing written"
        );
    }
    // --airgap without the airgap_bundle feature (the manifest must not need it either).
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |l| l.features = vec!["gate".into(), "helm_chart".into()]);
    let pm = fs::read_to_string(p.join("pm.json")).unwrap().replace(
        "\"gate\", \"airgap_bundle\", \"helm_chart\"",
        "\"gate\", \"helm_chart\"",
    );
    fs::write(p.join("pm.json"), pm).unwrap();
    fails(
        &pk(p, &bundle_args("out", &["--airgap"])),
        1,
        "REJECTED [airgap_not_licensed]: coherence (airgap_not_licensed): an air-gap bundle needs the airgap_bundle feature",
    );
    ok(&pk(p, &bundle_args("out", &[])));
    // A key without the release role.
    fails(
        &pk(
            p,
            &[
                "bundle",
                "--license",
                "lic",
                "--payload",
                "payload",
                "--product-manifest",
                "pm.json",
                "--key",
                "keys/lic.key",
                "--out",
                "o2",
                "--state",
                "s.json",
            ],
        ),
        2,
        "bundles are signed with a release key",
    );
    // A tampered license (signature check with --trust).
    let l = fs::read_to_string(p.join("lic/license.json"))
        .unwrap()
        .replace("\"ACME\"", "\"EVIL\"");
    fs::write(p.join("lic/license.json"), l).unwrap();
    fails(
        &pk(p, &bundle_args("o3", &[])),
        1,
        "signature does not verify",
    );
}

#[test]
fn payload_safety() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |_| {});
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/etc/passwd", p.join("payload/link")).unwrap();
        fails(
            &pk(p, &bundle_args("o", &[])),
            2,
            "payload/link is a symbolic link",
        );
        fs::remove_file(p.join("payload/link")).unwrap();
        let fifo = Command::new("mkfifo").arg(p.join("payload/fifo")).status();
        if fifo.is_ok_and(|s| s.success()) {
            fails(
                &pk(p, &bundle_args("o", &[])),
                2,
                "payload/fifo is not a regular file",
            );
            fs::remove_file(p.join("payload/fifo")).unwrap();
        }
        use std::os::unix::ffi::OsStrExt;
        let bad = std::ffi::OsStr::from_bytes(b"bad\xffname");
        fs::write(p.join("payload").join(bad), b"x").unwrap();
        fails(&pk(p, &bundle_args("o", &[])), 2, "name is not UTF-8");
        fs::remove_file(p.join("payload").join(bad)).unwrap();
        // Unreadable file (not testable as root, who reads everything).
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(true);
        if !root {
            use std::os::unix::fs::PermissionsExt;
            fs::write(p.join("payload/secret"), b"x").unwrap();
            fs::set_permissions(p.join("payload/secret"), fs::Permissions::from_mode(0o000))
                .unwrap();
            fails(&pk(p, &bundle_args("o", &[])), 2, "cannot be read");
            fs::remove_file(p.join("payload/secret")).unwrap();
        }
    }
    fs::write(p.join("payload/ leading-space"), b"x").unwrap();
    fails(&pk(p, &bundle_args("o", &[])), 2, "unsafe name");
    fs::remove_file(p.join("payload/ leading-space")).unwrap();
    fs::write(p.join("payload/back\\slash"), b"x").unwrap();
    fails(&pk(p, &bundle_args("o", &[])), 2, "unsafe name");
    fs::remove_file(p.join("payload/back\\slash")).unwrap();
    assert!(!p.join("o").exists() || fs::read_dir(p.join("o")).unwrap().count() == 0);
}

#[test]
fn many_small_files_and_one_large_file() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |_| {});
    let mut expected: u64 = 6 + 100_000;
    for i in 0..3000 {
        let dir = p.join(format!("payload/many/{:02}", i % 50));
        fs::create_dir_all(&dir).unwrap();
        let body = format!("file {i}\n");
        expected += body.len() as u64;
        fs::write(dir.join(format!("f{i}.txt")), body).unwrap();
    }
    // 24 MiB, half incompressible.
    let mut big = vec![0u8; 24 << 20];
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for b in big[..12 << 20].iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    for (i, b) in big[12 << 20..].iter_mut().enumerate() {
        *b = b"the quick brown fox jumps over the lazy dog\n"[i % 44];
    }
    fs::write(p.join("payload/large.bin"), &big).unwrap();
    let out = ok(&pk(
        p,
        &bundle_args("out", &["--airgap", "--name", "big", "--json"]),
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["members"], 2 + 1 + 4 + 3000 + 3);
    assert_eq!(v["payload_bytes"], expected + (24 << 20));
    let o = pk(
        p,
        &[
            "verify",
            "out/big.tar.gz",
            "--trust",
            "trust.json",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(v["valid"], true);
}

#[test]
fn refuses_what_the_runtime_would_refuse_and_consumes_no_sequence() {
    // A schema-2 license: the runtime hashes the v2 document, the manifest the v3 view.
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |_| {});
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/legacy-v2/license.json"),
        p.join("lic/license.json"),
    )
    .unwrap();
    let without_trust = |mut a: Vec<&'static str>| {
        if let Some(i) = a.iter().position(|x| *x == "--trust") {
            a.drain(i..i + 2);
        }
        a
    };
    for args in [
        bundle_args("out", &[]),
        without_trust(bundle_args("out", &[])),
    ] {
        fails(
            &pk(p, &args),
            2,
            "bundles carry schema-3 licenses only: migrate it first",
        );
    }
    // A revocation list that names the bundle's own license, even with no --trust to verify it.
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p, |_| {});
    fs::create_dir(p.join("rl")).unwrap();
    fs::write(
        p.join("rl/revocations.json"),
        br#"{"type":"airlock-revocations","sequence":1,"issued_at":"2026-11-20T00:00:00Z","revoked":[{"license_id":"lic-pk-1","reason":"x","revoked_at":"2026-11-20T00:00:00Z"}]}"#,
    )
    .unwrap();
    fs::write(p.join("rl/revocations.sig"), b"{}").unwrap();
    let args = without_trust(bundle_args("out", &["--revocations", "rl"]));
    fails(&pk(p, &args), 2, "is revoked in the revocation list");
    // A refused build consumes no sequence: the next good build is sequence 1.
    let v: serde_json::Value =
        serde_json::from_str(&ok(&pk(p, &bundle_args("out", &["--json"])))).unwrap();
    assert_eq!(v["sequence"], 1);
}
