//! The key-encryption key in an HSM (issue 24): made inside a PKCS#11 token (SoftHSM2) as an
//! RSA key that never leaves it; the packager wraps a build's key to its public file, the
//! factory registers the build and releases the key to a machine's lease through the token,
//! and the machine opens the payload. A wrapped key the token opens is checked against the
//! build it was made for.

use crate::hsm::{run, token, MODULE};
use crate::kit::*;
use std::path::Path;
use std::process::Command;

#[test]
fn a_kek_in_the_token_releases_build_keys_it_never_exports() {
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
    for role in ["root", "license", "release", "activation"] {
        ok(fac(&[
            "keygen", "--role", role, "--name", role, "--out", "keys",
        ]));
    }
    ok(fac(&[
        "trust",
        "--root-key",
        "keys/root.key",
        "--add",
        "keys/license.pub",
        "keys/release.pub",
        "keys/activation.pub",
        "--out",
        "trust.json",
    ]));
    let made = fac(&[
        "keygen",
        "--role",
        "kek",
        "--name",
        "kek",
        "--out",
        "keys",
        "--pkcs11",
        "pkcs11:token=airlock?pin-source=file:pin",
        "--json",
    ]);
    let k: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    assert_eq!(k["in_token"], true, "{}", testkit::run::show(&made));
    assert!(!v.join("keys/kek.key").exists());
    let kek = "pkcs11:token=airlock;object=kek?pin-source=file:pin";
    ok(fac(&[
        "issue",
        "--tier",
        "professional",
        "--customer",
        "Globex",
        "--product",
        "gateway",
        "--expires",
        "2027-06-01",
        "--key",
        "keys/license.key",
        "--out",
        "lic",
        "--trust",
        "trust.json",
    ]));
    std::fs::create_dir_all(v.join("payload")).unwrap();
    std::fs::write(v.join("payload/app.txt"), "the sealed application\n").unwrap();
    std::fs::write(
        v.join("pm.json"),
        r#"{"type":"airlock-product-manifest","product":"gateway","name":"Gateway","version":"2.0.0","edition":"standard","released_at":"2026-11-20T00:00:00Z","components":[],"min_runtime_version":"0.1.0","requires_features":[]}"#,
    )
    .unwrap();
    let o = run(
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
            "pm.json",
            "--key",
            "keys/release.key",
            "--out",
            "out",
            "--trust",
            "trust.json",
            "--encrypt",
            "keys/kek.pub",
            "--state",
            "seq.json",
            "--json",
        ],
    );
    let b: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", testkit::run::show(&o)));
    let (bid, record) = (
        b["bundle_id"].as_str().unwrap().to_string(),
        b["build_record"].as_str().unwrap().to_string(),
    );
    let archive = b["archive"].as_str().unwrap().to_string();
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v.join(&record)).unwrap()).unwrap();
    assert_eq!(r["signed"]["kek_key_id"], k["key_id"]);
    ok(fac(&[
        "build",
        "register",
        &record,
        "--kek",
        kek,
        "--trust",
        "trust.json",
    ]));

    // The machine (real clock, its own id) asks for the build; the desk fulfils with the token.
    let machine = |tool: &str, args: &[&str]| {
        Command::new(bin(tool))
            .args(args)
            .current_dir(v)
            .env("AIRLOCK_INSTANCE_ID", "hsm-machine")
            .env_remove("AIRLOCK_ROOT")
            .output()
            .unwrap()
    };
    ok(machine(
        "airlock-agent",
        &[
            "request",
            "--license",
            "lic",
            "--state",
            "st",
            "--out",
            "req.json",
            "--build",
            &bid,
        ],
    ));
    let f = fac(&[
        "activation",
        "fulfill",
        "req.json",
        "--key",
        "keys/activation.key",
        "--out",
        "act",
        "--kek",
        kek,
        "--trust",
        "trust.json",
        "--json",
    ]);
    let fj: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
    assert_eq!(
        fj["build_keys"],
        serde_json::json!([bid]),
        "{}",
        testkit::run::show(&f)
    );
    ok(machine(
        "airlock-agent",
        &[
            "install",
            "act",
            "--trust",
            "trust.json",
            "--root",
            "keys/root.pub",
            "--state",
            "st",
        ],
    ));
    ok(machine(
        "runtime-verify",
        &[
            &archive,
            "--trust",
            "trust.json",
            "--state",
            "st",
            "--extract",
            "opened",
        ],
    ));
    assert_eq!(
        std::fs::read_to_string(v.join("opened/payload/app.txt")).unwrap(),
        "the sealed application\n"
    );

    // A record for another build carrying this build's wrapped key, signed by the release key
    // (an insider with the packager's key): the token decrypts it, the context check refuses.
    let mut forged = r["signed"].clone();
    forged["bundle_id"] = serde_json::json!("bnd-00000000000000aa");
    let canonical = canon::canonicalize(&serde_json::to_vec(&forged).unwrap()).unwrap();
    let release = signing::SecretKey::load(&v.join("keys/release.key")).unwrap();
    let envelope = release
        .sign_document(canon::Kind::Build, &canonical)
        .unwrap();
    let file = runtime::activation::SignedFile {
        canonical,
        envelope,
    }
    .to_bytes();
    let other = v.join("forged.build.json");
    std::fs::write(&other, file).unwrap();
    let o = fac(&[
        "build",
        "register",
        other.to_str().unwrap(),
        "--kek",
        kek,
        "--trust",
        "trust.json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", testkit::run::show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("wrapped for another build"),
        "{}",
        testkit::run::show(&o)
    );

    // The KEK's private half is sensitive and was never extractable.
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
        assert!(
            text.contains("RSA") && text.contains("never extractable"),
            "{text}"
        );
    }
}
