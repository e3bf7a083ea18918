//! Keys in an HSM (issue 23): a vendor whose every signing key lives in a PKCS#11 token
//! (SoftHSM2 here, a real process's library) makes each key there with `factory keygen
//! --pkcs11` and signs every artifact kind through its `pkcs11:` URI; the customer's verifiers
//! accept them as they accept key files, and no private key ever leaves the token.

use crate::kit::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub(crate) const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

// Every tool runs on the real clock: the customer's machine and the vendor agree on it.

/// A SoftHSM2 token labelled `airlock` in `dir`; the environment the vendor's tools need.
pub(crate) fn token(dir: &Path) -> Vec<(&'static str, String)> {
    let conf = dir.join("softhsm2.conf");
    std::fs::create_dir_all(dir.join("tokens")).unwrap();
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\n", dir.join("tokens").display()),
    )
    .unwrap();
    let o = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "airlock",
            "--pin",
            "4711",
            "--so-pin",
            "0815",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(dir.join("pin"), "4711\n").unwrap();
    vec![
        ("SOFTHSM2_CONF", conf.display().to_string()),
        ("AIRLOCK_PKCS11_MODULE", MODULE.to_string()),
    ]
}

pub(crate) fn run(v: &Path, env: &[(&str, String)], tool: &str, args: &[&str]) -> Output {
    Command::new(bin(tool))
        .args(args)
        .current_dir(v)
        .envs(env.iter().map(|(k, x)| (*k, x.as_str())))
        .env_remove("AIRLOCK_NOW")
        .env("AIRLOCK_DB", v.join("factory.db"))
        .env("AIRLOCK_HOME", v.join("home"))
        .env(
            "AIRLOCK_CATALOG",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json"),
        )
        .env_remove("AIRLOCK_TRUST")
        .env_remove("AIRLOCK_PKCS11_PIN")
        .output()
        .unwrap()
}

fn uri(name: &str) -> String {
    format!("pkcs11:token=airlock;object={name}?pin-source=file:pin")
}

#[test]
fn every_artifact_is_signed_by_keys_that_never_leave_the_token() {
    if !have_tool("softhsm2-util") || !Path::new(MODULE).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "SoftHSM2 is required under CI"
        );
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let v = d.path();
    let env = token(v);
    let fac = |args: &[&str]| run(v, &env, "factory", args);
    // The key ceremony: every key made in the token; only public files on disk.
    for role in ["root", "license", "release", "activation"] {
        let o = ok(fac(&[
            "keygen",
            "--role",
            role,
            "--name",
            role,
            "--out",
            "keys",
            "--pkcs11",
            "pkcs11:token=airlock?pin-source=file:pin",
            "--json",
        ]));
        let j: serde_json::Value = serde_json::from_str(&o).unwrap();
        assert_eq!(j["in_token"], true, "{j}");
    }
    let files: Vec<String> = std::fs::read_dir(v.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().all(|f| f.ends_with(".pub")), "{files:?}");
    // A second key with a name the token holds is refused.
    fails(
        fac(&[
            "keygen",
            "--role",
            "root",
            "--name",
            "root",
            "--out",
            "keys2",
            "--pkcs11",
            "pkcs11:token=airlock?pin-source=file:pin",
        ]),
        2,
        "already holds a key labelled",
    );
    // Trust (root in the token), licenses, renewals, revocations (license key in the token).
    ok(fac(&[
        "trust",
        "--root-key",
        &uri("root"),
        "--add",
        "keys/license.pub",
        "keys/release.pub",
        "keys/activation.pub",
        "--out",
        "trust.json",
    ]));
    let lic = ok(fac(&[
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
        &uri("license"),
        "--trust",
        "trust.json",
        "--out",
        "lic",
    ]))
    .trim()
    .to_string();
    let other = ok(fac(&[
        "issue",
        "--tier",
        "evaluation",
        "--customer",
        "Globex",
        "--product",
        "gateway",
        "--key",
        &uri("license"),
        "--out",
        "globex",
    ]))
    .trim()
    .to_string();
    ok(fac(&[
        "renew",
        &other,
        "--expires",
        "2027-12-31",
        "--key",
        &uri("license"),
        "--out",
        "globex-2",
    ]));
    ok(fac(&[
        "revoke",
        &other,
        "--reason",
        "test",
        "--code",
        "superseded",
    ]));
    ok(fac(&[
        "revocations",
        "--key",
        &uri("license"),
        "--out",
        "rl",
    ]));
    // A bundle (release key in the token).
    product(v, "2026-11-15T00:00:00Z", "1.0.0");
    ok(run(
        v,
        &env,
        "packager",
        &[
            "bundle",
            "--license",
            "lic",
            "--payload",
            "payload",
            "--product-manifest",
            "pm-1.0.0.json",
            "--key",
            &uri("release"),
            "--trust",
            "trust.json",
            "--airgap",
            "--name",
            "b1",
            "--out",
            "d1",
            "--state",
            "seq.json",
        ],
    ));
    // An install token and an offline lease (activation key in the token).
    ok(fac(&[
        "token",
        "create",
        "--license",
        &lic,
        "--ttl",
        "1h",
        "--key",
        &uri("activation"),
    ]));
    copy(&v.join("lic"), &v.join("c/lic"));
    let agent = |args: &[&str]| {
        Command::new(bin("airlock-agent"))
            .args(args)
            .current_dir(v.join("c"))
            .env("AIRLOCK_INSTANCE_ID", "hsm-machine-1")
            .output()
            .unwrap()
    };
    ok(agent(&[
        "request",
        "--license",
        "lic",
        "--state",
        "st",
        "--out",
        "req.json",
    ]));
    std::fs::copy(v.join("c/req.json"), v.join("req.json")).unwrap();
    ok(fac(&[
        "activation",
        "fulfill",
        "req.json",
        "--key",
        &uri("activation"),
        "--out",
        "act",
    ]));
    copy(&v.join("act"), &v.join("c/act"));
    std::fs::copy(v.join("trust.json"), v.join("c/trust.json")).unwrap();
    std::fs::copy(v.join("keys/root.pub"), v.join("c/root.pub")).unwrap();
    ok(agent(&[
        "install",
        "act",
        "--trust",
        "trust.json",
        "--root",
        "root.pub",
        "--state",
        "st",
    ]));

    // The customer's verifiers accept every artifact.
    let rv = |args: &[&str]| {
        Command::new(bin("runtime-verify"))
            .args(args)
            .current_dir(v)
            .output()
            .unwrap()
    };
    ok(rv(&[
        "license",
        "lic/license.json",
        "--trust",
        "trust.json",
        "--root",
        "keys/root.pub",
    ]));
    ok(rv(&[
        "d1/b1.tar.gz",
        "--trust",
        "trust.json",
        "--root",
        "keys/root.pub",
        "--state",
        "st-b",
    ]));
    ok(rv(&[
        "revocations",
        "import",
        "rl/revocations.json",
        "--trust",
        "trust.json",
        "--root",
        "keys/root.pub",
        "--state",
        "st-r",
    ]));
    // Stock minisign checks the bundle's signature against the token key's public file.
    if have_tool("minisign") {
        let o = Command::new("minisign")
            .args([
                "-Vm",
                "d1/b1.tar.gz",
                "-x",
                "d1/b1.tar.gz.sig",
                "-p",
                "keys/release.minisign.pub",
            ])
            .current_dir(v)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    // The activation service signs with the key in the token.
    let mut server = Command::new(bin("airlock-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--key",
            &uri("activation"),
            "--trust",
            "trust.json",
        ])
        .current_dir(v)
        .envs(env.iter().map(|(k, x)| (*k, x.as_str())))
        .env("AIRLOCK_DB", v.join("factory.db"))
        .env("AIRLOCK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    // A second machine activates online: its lease is signed in the token by the service.
    let o = Command::new(bin("airlock-agent"))
        .args([
            "activate",
            "--server",
            &url,
            "--license",
            "lic",
            "--root",
            "root.pub",
            "--state",
            "st2",
            "--trust",
            "trust.json",
            "--json",
        ])
        .current_dir(v.join("c"))
        .env("AIRLOCK_INSTANCE_ID", "hsm-machine-2")
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let out = ok(o);
    let lease: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(lease["valid"], true, "{lease}");
    let act = key_id(v, "keys/activation.pub");
    let sig = std::fs::read_to_string(v.join("c/st2/activation/gateway/activation.sig")).unwrap();
    assert!(
        sig.contains(&act),
        "the lease is signed by the token's activation key: {sig}"
    );

    // The private keys are sensitive and were never extractable.
    if have_tool("pkcs11-tool") {
        let o = Command::new("pkcs11-tool")
            .args([
                "--module",
                MODULE,
                "--token-label",
                "airlock",
                "--login",
                "--pin",
                "4711",
                "--list-objects",
                "--type",
                "privkey",
            ])
            .envs(env.iter().map(|(k, x)| (*k, x.as_str())))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(text.matches("never extractable").count(), 4, "{text}");
    }
    // A wrong PIN is refused by the token, and nothing is signed.
    std::fs::write(v.join("pin"), "0000\n").unwrap();
    fails(
        fac(&[
            "issue",
            "--tier",
            "evaluation",
            "--customer",
            "Initech",
            "--product",
            "gateway",
            "--key",
            &uri("license"),
            "--out",
            "initech",
        ]),
        2,
        "PKCS#11",
    );
    assert!(!v.join("initech").exists());
}
