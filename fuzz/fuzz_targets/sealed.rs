#![no_main]
// Sealed payloads (FORMAT.md §19): a sealed member's bytes (any bytes, pushed in pieces and
// pulled through the reader, at their own size and at a valid one), a wrapped key (any bytes),
// encryption key files (any bytes), and build records (any bytes, and the same bytes signed by
// the trusted release key so the schema behind the signature is reached). Nothing may panic,
// and nothing forged may open.
use libfuzzer_sys::fuzz_target;
use std::io::Read;
mod common;

fuzz_target!(|data: &[u8]| {
    let key = seal::ContentKey::from_bytes([7; 32]);
    // Pushed in two pieces, at the bytes' own length.
    if let Ok(mut op) = seal::member::Opener::new(&key, "payload/a", data.len() as u64) {
        let mid = data.len() / 3;
        let mut out = |_: &[u8]| Ok(());
        let opened = op
            .update(&data[..mid], &mut out)
            .and_then(|()| op.update(&data[mid..], &mut out));
        if opened.is_ok() {
            assert!(op.finish().is_err(), "forged bytes opened");
        }
    }
    // Pulled through the reader, announced at a valid size near the bytes' length.
    let sealed = seal::member::sealed_len(data.len() as u64 / 2);
    if let Ok(mut r) = seal::member::OpenReader::new(&key, "payload/a", sealed, data) {
        let mut sink = Vec::new();
        assert!(r.read_to_end(&mut sink).is_err(), "forged bytes opened");
    }
    let _ = seal::member::plain_len(u64::from_le_bytes(
        data.iter().chain([0u8; 8].iter()).take(8).copied().collect::<Vec<_>>().try_into().unwrap(),
    ));
    // A wrapped key.
    let kek = seal::wrap::SecretKey::from_seed([9; 32]);
    assert!(kek.unwrap(data, b"info").is_err(), "a forged wrapped key opened");
    // Key files.
    let dir = std::env::temp_dir().join(format!("airlock-fuzz-sealed-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let p = dir.join("k.key");
    if fsio::write_atomic(&p, data, 0o600, true).is_ok() {
        let _ = seal::keyfile::EncryptionKey::load(&p, seal::keyfile::EncRole::Kek);
        let _ = seal::keyfile::PublicEncryptionKey::load(&p, seal::keyfile::EncRole::Machine);
    }
    // Build records.
    thread_local!(static CTX: (runtime::TrustStore, signing::SecretKey) = {
        let (_, _, rel) = common::keys();
        (common::store(), rel)
    });
    let _ = runtime::activation::SignedFile::parse("build record", data);
    let _ = <runtime::build::BuildRecord as runtime::Artifact>::parse(data);
    CTX.with(|(store, rel)| {
        if let Ok(canonical) = canon::canonicalize(data) {
            let sig = rel.sign_document(canon::Kind::Build, &canonical).unwrap().to_bytes();
            let _ = runtime::signed::verify::<runtime::build::BuildRecord>(store, &canonical, &sig, None);
        }
    });
});
