//! Generated fixtures (never edited by hand): the legacy schema-2 license in
//! `fixtures/legacy-v2/license.json`, signed by the dev license key. `cargo run -p factory
//! --example gen_fixtures` rewrites it; a test checks that the committed file equals the
//! generated one (Ed25519 signatures are deterministic).

use anyhow::Result;
use canon::{enc, Value};
use signing::SecretKey;

/// The legacy v2 license document, signed with `key` (a license key).
pub fn legacy_v2_license(key: &SecretKey) -> Result<Vec<u8>> {
    let s = |v: &str| Value::String(v.into());
    let members = vec![
        ("schema_version".to_string(), Value::Number(2.0)),
        ("license_id".into(), s("lic-legacy-0001")),
        ("license_key".into(), s("GCYH-2345-6789-ABCD")),
        ("issuer".into(), s("Example Vendor Ltd (DEV)")),
        ("customer_id".into(), s("acme-corp")),
        ("customer_name".into(), s("ACME Corp")),
        ("product".into(), s("gateway")),
        ("tier".into(), s("professional")),
        (
            "features".into(),
            Value::Array(vec![s("gate"), s("chron"), s("airgap_bundle")]),
        ),
        (
            "limits".into(),
            Value::object(vec![
                ("agents".into(), Value::Number(25.0)),
                ("instances".into(), Value::Number(2.0)),
            ])
            .expect("names"),
        ),
        ("issued_at".into(), s("2026-11-05T00:00:00Z")),
        ("expires_at".into(), s("2027-06-30T00:00:00Z")),
    ];
    let unsigned = Value::object(members.clone()).expect("names");
    let sig = key.sign_legacy_v2(&unsigned.to_canonical())?;
    let mut all = members;
    all.push(("signature".into(), Value::String(enc::b64(&sig))));
    Ok(Value::object(all).expect("names").to_pretty())
}
