#![no_main]
// Product and bundle manifests, revocation lists, the runtime state file.
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    thread_local!(static STORE: runtime::TrustStore = common::store());
    let _ = runtime::manifest::parse_product_manifest(data);
    let mid = data.len() / 2;
    STORE.with(|s| {
        let _ = runtime::manifest::verify_bundle_manifest(s, &data[..mid], &data[mid..]);
        let _ = runtime::manifest::verify_product_manifest(s, &data[..mid], &data[mid..], canon::Timestamp(1_795_000_000));
        let _ = runtime::revocation::verify_revocations(s, &data[..mid], &data[mid..]);
    });
});
