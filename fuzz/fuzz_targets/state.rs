#![no_main]
// The state file (every format) and root specs: strict, never panicking; a state that parses
// writes back to bytes that parse to the same state.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = runtime::state::parse(data) {
        let again = runtime::state::parse(&runtime::state::to_bytes(&s)).unwrap();
        assert_eq!(again.bundle_sequences, s.bundle_sequences);
        assert_eq!(again.revoked, s.revoked);
        assert_eq!(again.trust, s.trust);
        assert_eq!(again.suspended, s.suspended);
        assert_eq!(again.license_sequences, s.license_sequences);
    }
    let _ = runtime::trust::RootSpec::parse(data);
    let _ = runtime::trust::TrustStore::verify_chain(&[data, data], &runtime::danger::trust_on_first_use());
});
