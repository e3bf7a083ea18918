//! The customer's `runtime-verify` and the vendor's `packager verify` judge bundles with the
//! same library call; this proves their CLIs report the same way too: over every named case
//! of the test kit (genuine and hostile), the same exit code, the same `--json` schema and the
//! same check code, and for a valid bundle the same facts.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use testkit::cases::bundle_cases;
use testkit::{bin, show, Keys, NOW};

fn runtime_verify(dir: &Path, root: &str, extra: &[&str]) -> Output {
    Command::new(bin("runtime-verify"))
        .args([
            "b.tar.gz",
            "--trust",
            "trust.json",
            "--root",
            root,
            "--at",
            NOW,
            "--json",
        ])
        .args(extra)
        .current_dir(dir)
        .env_remove("AIRLOCK_ROOT")
        .output()
        .unwrap()
}

fn packager_verify(dir: &Path, extra: &[&str]) -> Output {
    Command::new(bin("packager"))
        .args([
            "verify",
            "b.tar.gz",
            "--trust",
            "trust.json",
            "--at",
            NOW,
            "--json",
        ])
        .args(extra)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn report(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("--json printed no report ({e}): {}", show(o)))
}

fn keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn both_verifiers_report_every_case_alike() {
    let keys = Keys::new();
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("trust.json"), keys.trust_with(1, &keys.entries())).unwrap();
    let root = keys.root.key_id().to_string();
    let cases = bundle_cases(&keys);
    assert!(cases.len() >= 12);
    let mut valid_schema: Option<Vec<String>> = None;
    let mut failed_schema: Option<Vec<String>> = None;
    for case in &cases {
        std::fs::write(p.join("b.tar.gz"), &case.bundle.0).unwrap();
        std::fs::write(p.join("b.tar.gz.sig"), &case.bundle.1).unwrap();
        let rv = runtime_verify(p, &root, &[]);
        let pk = packager_verify(p, &[]);
        let (a, b) = (report(&rv), report(&pk));
        assert_eq!(
            rv.status.code(),
            pk.status.code(),
            "{}: exit codes differ\n{}\n{}",
            case.name,
            show(&rv),
            show(&pk)
        );
        assert_eq!(a, b, "{}: reports differ", case.name);
        match case.expect {
            None => {
                assert_eq!(rv.status.code(), Some(0), "{}: {}", case.name, show(&rv));
                assert_eq!(a["valid"], true);
                assert!(a["check"].is_null() && a["error"].is_null());
                let k = keys_of(&a);
                assert_eq!(*valid_schema.get_or_insert(k.clone()), k);
            }
            Some(code) => {
                assert_eq!(rv.status.code(), Some(1), "{}: {}", case.name, show(&rv));
                assert_eq!(a["valid"], false, "{}", case.name);
                assert_eq!(a["check"], code, "{}: {}", case.name, show(&rv));
                let k = keys_of(&a);
                assert_eq!(*failed_schema.get_or_insert(k.clone()), k);
                for o in [&rv, &pk] {
                    let err = String::from_utf8_lossy(&o.stderr);
                    assert!(err.contains(&format!("REJECTED [{code}]")), "{err}");
                }
            }
        }
    }
    assert_eq!(
        failed_schema.unwrap(),
        ["bundle", "check", "error", "valid"],
        "the documented failure schema"
    );
    // A local problem is not a verdict: a missing signature file is an error (exit 2) in
    // both, still with the report on stdout.
    std::fs::remove_file(p.join("b.tar.gz.sig")).unwrap();
    for o in [runtime_verify(p, &root, &[]), packager_verify(p, &[])] {
        assert_eq!(o.status.code(), Some(2), "{}", show(&o));
        let r = report(&o);
        assert_eq!(r["valid"], false);
        assert_eq!(r["check"], "error");
        assert!(String::from_utf8_lossy(&o.stderr).contains("error: "));
    }
}
