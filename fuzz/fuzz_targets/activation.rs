#![no_main]
// Activation artifacts: the machine-signed request and receipt files (any bytes), the lease
// with its detached signature (any bytes, and the same bytes signed by a trusted activation
// key, so that the schema and binding checks behind the signature are reached), and the
// revocation list with its activation entries, and install tokens (any text, and any bytes
// signed by the trusted activation key), node leases (any bytes), and a PKCS#11 key URI.
// Nothing may panic.
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    thread_local!(static CTX: (runtime::TrustStore, signing::SecretKey) = common::activation_store());
    let now = common::t("2026-11-22T00:00:00Z");
    let _ = runtime::activation::verify_instance_signed::<runtime::activation::ActivationRequest>(data);
    let _ = runtime::activation::verify_instance_signed::<runtime::activation::Deactivation>(data);
    // A node lease a seat server signed (any bytes), and a pool lease with the same bytes.
    let _ = runtime::activation::verify_instance_signed::<runtime::format_floating::NodeLease>(data);
    let _ = <runtime::revocation::RevocationList as runtime::Artifact>::parse(data);
    // A PKCS#11 key URI (a signing command's --key): strict, never panicking.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = signing::pkcs11::Uri::parse(text);
    }
    let fp = runtime::fingerprint::derive(b"fuzz-machine", "gateway");
    // Identity components too: a lease with a match policy is judged against them.
    let mine: runtime::identity::Components = [(
        "hostname".to_string(),
        runtime::fingerprint::derive(b"fuzz-host", "gateway/hostname"),
    )]
    .into_iter()
    .collect();
    let binding = runtime::activation::Binding {
        product: "gateway",
        lineage_id: "lin-1",
        fingerprint: &fp,
        instance_key: None,
        components: Some(&mine),
    };
    let mut known = runtime::state::State::default();
    known.activation_sequences.insert("lin-1".into(), 2);
    known.activation_epochs.insert("lin-1".into(), 2);
    CTX.with(|(store, key)| {
        let mid = data.len() / 2;
        let _ = runtime::activation::verify_lease(store, &data[..mid], &data[mid..], &binding, &known, now);
        if let Ok(canonical) = canon::canonicalize(data) {
            let sig = key
                .sign_document(canon::Kind::Activation, &canonical)
                .unwrap()
                .to_bytes();
            let _ = runtime::activation::verify_lease(store, data, &sig, &binding, &known, now);
            // The same bytes as a trusted install token, in its text form.
            let envelope = key.sign_document(canon::Kind::InstallToken, &canonical).unwrap();
            let text = runtime::activation::SignedFile { canonical, envelope }.to_token();
            let _ = runtime::activation::verify_token(store, &text);
        }
        // Any text as a token.
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = runtime::activation::verify_token(store, text);
        }
    });
});
