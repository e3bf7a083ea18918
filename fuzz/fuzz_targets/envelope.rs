#![no_main]
// Signature envelopes and trust files.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = canon::Envelope::parse(data) {
        assert_eq!(canon::Envelope::parse(&e.to_bytes()).unwrap(), e);
    }
    let _ = runtime::TrustStore::from_trust_file(data, &runtime::danger::trust_on_first_use());
});
