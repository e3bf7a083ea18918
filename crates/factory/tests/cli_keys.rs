//! keygen, trust and canon through the binary.

use crate::common::*;
use std::fs;

#[test]
fn keygen_writes_three_files_with_modes() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(&factory(
        d.path(),
        &[
            "keygen", "--role", "license", "--name", "lic", "--out", "k", "--json",
        ],
    ));
    assert!(out.contains("\"role\": \"license\""));
    for f in ["lic.key", "lic.pub", "lic.minisign.pub"] {
        assert!(d.path().join("k").join(f).exists(), "{f}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = fs::metadata(d.path().join("k/lic.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o600);
    }
    // The private seed is never printed.
    let key = fs::read_to_string(d.path().join("k/lic.key")).unwrap();
    let seed = key
        .split("\"seed\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(!out.contains(seed));
    // Never overwrites a key.
    fails(
        &factory(
            d.path(),
            &["keygen", "--role", "license", "--name", "lic", "--out", "k"],
        ),
        2,
        "refusing to overwrite",
    );
    fails(
        &factory(
            d.path(),
            &["keygen", "--role", "admin", "--name", "x", "--out", "k"],
        ),
        2,
        "invalid value",
    );
    fails(
        &factory(
            d.path(),
            &["keygen", "--role", "root", "--name", "../x", "--out", "k"],
        ),
        2,
        "key name",
    );
}

#[test]
fn trust_file_versions_retire_and_revoke() {
    let d = tempfile::tempdir().unwrap();
    keys_and_trust(d.path());
    let t1 = fs::read(d.path().join("trust.json")).unwrap();
    let store =
        runtime::TrustStore::from_trust_file(&t1, &runtime::danger::trust_on_first_use()).unwrap();
    assert_eq!(store.version(), 1);
    assert_eq!(store.keys().len(), 3);
    // Refuses to overwrite without --from/--force.
    fails(
        &factory(
            d.path(),
            &[
                "trust",
                "--root-key",
                "keys/root.key",
                "--out",
                "trust.json",
            ],
        ),
        2,
        "refusing to overwrite",
    );
    // Retire the license key in version 2.
    let lic = fs::read_to_string(d.path().join("keys/lic.pub")).unwrap();
    let lic_id = lic.split("\"key_id\":\"").nth(1).unwrap()[..16].to_string();
    ok(&factory(
        d.path(),
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
    let t2 = fs::read(d.path().join("trust.json")).unwrap();
    let store =
        runtime::TrustStore::from_trust_file(&t2, &runtime::danger::trust_on_first_use()).unwrap();
    assert_eq!(store.version(), 2);
    let k = store.get(canon::KeyId::parse(&lic_id).unwrap()).unwrap();
    assert_eq!(k.status, runtime::KeyStatus::Retired);
    assert_eq!(k.not_after.to_string(), NOW);
    // A lower explicit version is refused.
    fails(
        &factory(
            d.path(),
            &[
                "trust",
                "--root-key",
                "keys/root.key",
                "--from",
                "trust.json",
                "--out",
                "t3.json",
                "--version",
                "2",
            ],
        ),
        2,
        "must be higher",
    );
    // Revoked keys cannot come back.
    ok(&factory(
        d.path(),
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
        &factory(
            d.path(),
            &[
                "trust",
                "--root-key",
                "keys/root.key",
                "--from",
                "trust.json",
                "--out",
                "trust.json",
                "--add",
                "keys/lic.pub",
            ],
        ),
        2,
        "revoked",
    );
    // A non-root key cannot sign a trust file.
    fails(
        &factory(
            d.path(),
            &["trust", "--root-key", "keys/lic.key", "--out", "t4.json"],
        ),
        2,
        "this is a license key; this command signs with a root key",
    );
}

#[test]
fn canon_prints_exact_bytes_and_rejects_invalid_json() {
    let d = tempfile::tempdir().unwrap();
    fs::write(
        d.path().join("a.json"),
        "{\"b\": 1.50, \"a\": \"\\u00e9\"}\n",
    )
    .unwrap();
    let o = factory(d.path(), &["canon", "a.json"]);
    assert_eq!(ok(&o).as_bytes(), "{\"a\":\"é\",\"b\":1.5}".as_bytes());
    fs::write(d.path().join("dup.json"), "{\"a\":1,\"\\u0061\":2}").unwrap();
    fails(
        &factory(d.path(), &["canon", "dup.json"]),
        1,
        "duplicate object member name \"a\" at byte 7",
    );
    fs::write(d.path().join("nan.json"), "[NaN]").unwrap();
    fails(
        &factory(d.path(), &["canon", "nan.json"]),
        1,
        "invalid number at byte 1",
    );
    fails(
        &factory(d.path(), &["canon", "missing.json"]),
        2,
        "missing.json",
    );
    // Standard input.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_factory"))
        .arg("canon")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"[1e21, -0]")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(ok(&o), "[1e+21,0]");
}
