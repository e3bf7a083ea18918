//! Wycheproof's Ed25519 vectors (tests/data/wycheproof, see ATTRIBUTION.md) through the
//! runtime's own verification path: every "valid" vector verifies, every "invalid" one fails.

use std::path::Path;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn wycheproof_ed25519() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wycheproof/ed25519_test.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in doc["testGroups"].as_array().unwrap() {
        let pk = unhex(group["publicKey"]["pk"].as_str().unwrap());
        for case in group["tests"].as_array().unwrap() {
            let msg = unhex(case["msg"].as_str().unwrap());
            let sig = unhex(case["sig"].as_str().unwrap());
            let got = runtime::keys::verify_raw(&pk, &msg, &sig);
            let want = match case["result"].as_str().unwrap() {
                "valid" => true,
                "invalid" => false,
                other => panic!("tcId {}: unexpected result {other}", case["tcId"]),
            };
            assert_eq!(got, want, "tcId {} ({})", case["tcId"], case["comment"]);
            if want {
                valid += 1
            } else {
                invalid += 1
            }
        }
    }
    assert_eq!(
        valid + invalid,
        doc["numberOfTests"].as_u64().unwrap() as usize
    );
    assert!(valid > 0 && invalid > 0);
}
