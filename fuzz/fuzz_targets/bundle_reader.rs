#![no_main]
// The streaming bundle reader on arbitrary bytes (as a gzip stream, and as a raw tar stream
// wrapped in valid gzip framing), with extraction into a temporary directory: it must never
// panic, hang or leave anything behind.
use libfuzzer_sys::fuzz_target;
use std::io::Write;
mod common;

fuzz_target!(|data: &[u8]| {
    thread_local!(static CTX: (runtime::TrustStore, signing::SecretKey) = (common::store(), common::keys().2));
    CTX.with(|(store, rel)| {
        let dir = std::env::temp_dir().join(format!("airlock-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("x");
        let opts =
            runtime::bundle::Options::new(store, common::t("2026-11-22T00:00:00Z"), "0.1.0")
                .with_extract(Some(&dest));
        let mut gz = flate2_like_gzip(data);
        for input in [data.to_vec(), std::mem::take(&mut gz)] {
            let sig = rel.sign_minisign(&input[..], "fuzz").unwrap();
            let r = runtime::bundle::verify_bundle(&input[..], sig.as_bytes(), &opts);
            if r.is_err() {
                assert!(!dest.exists());
            }
            let _ = std::fs::remove_dir_all(&dest);
        }
        let left = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(left, 0, "staging left behind");
        let _ = std::fs::remove_dir_all(&dir);
    });
});

/// Stored-block gzip framing around `data` (no compression crate needed here).
fn flate2_like_gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(65535).peekable();
    if chunks.peek().is_none() {
        out.extend([1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        let last = chunks.peek().is_none();
        out.push(u8::from(last));
        let n = c.len() as u16;
        out.write_all(&n.to_le_bytes()).unwrap();
        out.write_all(&(!n).to_le_bytes()).unwrap();
        out.extend_from_slice(c);
    }
    let crc = crc32(data);
    out.extend(crc.to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xedb8_8320 } else { c >> 1 };
        }
    }
    !c
}
