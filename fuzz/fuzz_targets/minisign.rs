#![no_main]
// minisign signature and public-key files, ustar headers.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = canon::minisign::Signature::parse(data) {
        assert_eq!(canon::minisign::Signature::parse(s.to_file().as_bytes()).unwrap(), s);
    }
    let _ = canon::minisign::PublicKey::parse(data);
    if data.len() >= 512 {
        let mut b = [0u8; 512];
        b.copy_from_slice(&data[..512]);
        if let Ok(h) = canon::ustar::decode(&b) {
            assert_eq!(canon::ustar::decode(&canon::ustar::encode(&h.path, h.size, h.mode).unwrap()).unwrap(), h);
        }
    }
});
