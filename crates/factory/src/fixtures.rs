//! Generated fixtures (never edited by hand): the legacy schema-2 license in
//! `fixtures/legacy-v2/license.json`, signed by the dev license key. `cargo run -p factory
//! --example gen_fixtures` rewrites it; a test checks that the committed file equals the
//! generated one (Ed25519 signatures are deterministic).

use anyhow::Result;
use canon::enc;
use runtime::license::{LicenseV2, Tier};
use signing::SecretKey;

/// The legacy v2 license document, signed with `key` (a license key).
pub fn legacy_v2_license(key: &SecretKey) -> Result<Vec<u8>> {
    let mut doc = LicenseV2 {
        schema_version: 2,
        license_id: "lic-legacy-0001".into(),
        license_key: "GCYH-2345-6789-ABCD".into(),
        issuer: "Example Vendor Ltd (DEV)".into(),
        customer_id: "acme-corp".into(),
        customer_name: "ACME Corp".into(),
        product: "gateway".into(),
        tier: Tier::Professional,
        features: vec!["gate".into(), "chron".into(), "airgap_bundle".into()],
        limits: [("agents".to_string(), 25), ("instances".to_string(), 2)].into(),
        issued_at: "2026-11-05T00:00:00Z".into(),
        expires_at: "2027-06-30T00:00:00Z".into(),
        signature: String::new(),
    };
    doc.signature = enc::b64(&key.sign_legacy_v2(&doc.signed_bytes())?);
    Ok(doc.to_pretty())
}
