//! Conformance: the RFC 8785 reference vectors, and Airlock's own self-describing vectors
//! (`tests/data/vectors/*.txt`: `expect: ok` with an `output:` line, or `expect: error <Kind>`;
//! then either `input-hex:` or a `---` line followed by the raw input).

use canon::json::ErrorKind;
use std::fs;
use std::path::Path;

fn data(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

#[test]
fn rfc8785_reference_vectors() {
    let mut n = 0;
    for entry in fs::read_dir(data("rfc8785/input")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        let input = fs::read(&path).unwrap();
        let want = fs::read(data("rfc8785/output").join(name)).unwrap();
        let got = canon::canonicalize(&input).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{name:?}"
        );
        // Canonical output is a fixed point.
        assert_eq!(canon::canonicalize(&got).unwrap(), got);
        n += 1;
    }
    assert_eq!(n, 6, "all six reference files ran");
}

fn error_name(k: &ErrorKind) -> String {
    let dbg = format!("{k:?}");
    dbg.split('(').next().unwrap().to_string()
}

#[test]
fn own_vectors() {
    let mut n = 0;
    for entry in fs::read_dir(data("vectors")).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read(&path).unwrap();
        let (mut expect, mut output, mut input) = (None, None, None);
        let mut rest = &text[..];
        while !rest.is_empty() {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let line = std::str::from_utf8(&rest[..end]).unwrap();
            let after = rest.get(end + 1..).unwrap_or(&[]);
            if line == "---" {
                input = Some(after.to_vec());
                break;
            } else if let Some(v) = line.strip_prefix("expect: ") {
                expect = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("output: ") {
                output = Some(v.as_bytes().to_vec());
            } else if let Some(v) = line.strip_prefix("input-hex: ") {
                input = Some(
                    (0..v.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&v[i..i + 2], 16).unwrap())
                        .collect(),
                );
            } else if !line.starts_with("comment: ") {
                panic!("{path:?}: unknown header line {line:?}");
            }
            rest = after;
        }
        let (expect, input) = (expect.expect("expect: line"), input.expect("input"));
        let got = canon::canonicalize(&input);
        match expect.strip_prefix("error ") {
            Some(kind) => {
                let e = got.expect_err(&format!("{path:?} must be rejected"));
                assert_eq!(error_name(&e.kind), kind, "{path:?}: {e}");
            }
            None => {
                assert_eq!(expect, "ok");
                let got = got.unwrap_or_else(|e| panic!("{path:?}: {e}"));
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&output.expect("output: line")),
                    "{path:?}"
                );
            }
        }
        n += 1;
    }
    assert!(n >= 19, "vectors ran: {n}");
}
