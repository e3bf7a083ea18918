#![no_main]
// CHECKSUMS.txt reader and safe paths: anything accepted writes back identically.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = canon::checksums::parse(data) {
        assert_eq!(canon::checksums::write(&entries).as_bytes(), data);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(p) = canon::path::SafePath::new(s) {
            assert!(!p.as_str().split('/').any(|c| c == ".." || c.is_empty()));
        }
    }
});
