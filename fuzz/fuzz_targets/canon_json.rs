#![no_main]
// Strict JSON parser and canonical form: never panics; canonical output is a fixed point.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = canon::parse(data) {
        let c = v.to_canonical();
        assert_eq!(canon::canonicalize(&c).unwrap(), c);
        assert_eq!(canon::canonicalize(&v.to_pretty()).unwrap(), c);
    }
});
