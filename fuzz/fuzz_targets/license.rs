#![no_main]
// License documents (v3 and legacy v2) against a fixed trust store, with and without a
// detached signature taken from the second half of the input.
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    thread_local!(static STORE: runtime::TrustStore = common::store());
    let policy = runtime::license::LegacyPolicy::allowing_after_cutoff(true);
    let now = common::t("2026-11-22T00:00:00Z");
    let mid = data.len() / 2;
    STORE.with(|s| {
        let _ = runtime::license::verify_license(s, data, None, &policy, now);
        let _ = runtime::license::verify_license(s, &data[..mid], Some(&data[mid..]), &policy, now);
    });
});
