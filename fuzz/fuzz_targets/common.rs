// Shared by the fuzz targets: a fixed trust store with deterministic test keys.
#![allow(dead_code)]
use canon::{Role, Timestamp};

pub fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

pub fn keys() -> (signing::SecretKey, signing::SecretKey, signing::SecretKey) {
    let c = t("2026-01-01T00:00:00Z");
    (
        signing::SecretKey::from_seed(&[1; 32], "root", Role::Root, c).unwrap(),
        signing::SecretKey::from_seed(&[2; 32], "lic", Role::License, c).unwrap(),
        signing::SecretKey::from_seed(&[3; 32], "rel", Role::Release, c).unwrap(),
    )
}

pub fn store() -> runtime::TrustStore {
    let (root, lic, rel) = keys();
    store_of(&root, &[&root, &lic, &rel])
}

/// A trust store signed by `root` listing `keys`, each for its own role.
fn store_of(root: &signing::SecretKey, keys: &[&signing::SecretKey]) -> runtime::TrustStore {
    let entries: Vec<_> = keys
        .iter()
        .map(|k| signing::trust::TrustEntry {
            public_key: k.public_key(),
            name: k.name.clone(),
            roles: vec![k.role],
            not_before: t("2026-01-01T00:00:00Z"),
            not_after: t("2030-01-01T00:00:00Z"),
            status: runtime::KeyStatus::Active,
        })
        .collect();
    let bytes = signing::trust::sign_trust_file(root, 1, t("2026-06-01T00:00:00Z"), &entries).unwrap();
    runtime::TrustStore::from_trust_file(&bytes, &runtime::danger::trust_on_first_use()).unwrap()
}

/// A trust store with the fixed keys and an activation key, and that key.
pub fn activation_store() -> (runtime::TrustStore, signing::SecretKey) {
    let (root, lic, rel) = keys();
    let act = signing::SecretKey::from_seed(&[4; 32], "act", Role::Activation, t("2026-01-01T00:00:00Z")).unwrap();
    (store_of(&root, &[&root, &lic, &rel, &act]), act)
}
