#![no_main]
// Strict JSON parser and canonical form: never panics; canonical output is a fixed point. The
// typed value read from the parsed document (format::value, what verifiers do) is exactly what
// serde_json reads from its canonical bytes, as a generic value and as a license.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = canon::parse(data) {
        let c = v.to_canonical();
        assert_eq!(canon::canonicalize(&c).unwrap(), c);
        assert_eq!(canon::canonicalize(&v.to_pretty()).unwrap(), c);
        let generic: serde_json::Value = serde_json::from_slice(&c).unwrap();
        assert_eq!(format::value::from_value::<serde_json::Value>(v.clone()).unwrap(), generic);
        let typed = serde_json::from_slice::<format::License>(&c).ok();
        assert_eq!(format::value::from_value::<format::License>(v).ok(), typed);
    }
});
