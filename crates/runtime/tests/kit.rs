//! Test kit: deterministic keys and trust files built with the signing crate.

use canon::{Role, Timestamp};
use runtime::KeyStatus;
use signing::trust::{sign_trust_file, TrustEntry};
use signing::SecretKey;

pub fn t(s: &str) -> Timestamp {
    Timestamp::parse_date_or_time(s).unwrap()
}

pub fn key(n: u8, role: Role) -> SecretKey {
    SecretKey::from_seed(&[n; 32], &format!("k{n}"), role, t("2026-01-01")).unwrap()
}

pub fn entry(k: &SecretKey, roles: &[Role], status: KeyStatus) -> TrustEntry {
    TrustEntry {
        public_key: k.public_key(),
        name: k.name.clone(),
        roles: roles.to_vec(),
        not_before: t("2026-01-01"),
        not_after: t("2030-01-01"),
        status,
    }
}

/// Root 1, license 2, release 3, all active.
pub struct Kit {
    pub root: SecretKey,
    pub license: SecretKey,
    pub release: SecretKey,
    pub activation: SecretKey,
    /// A machine's own key: never in a trust file.
    pub instance: SecretKey,
}

impl Kit {
    pub fn new() -> Kit {
        Kit {
            root: key(1, Role::Root),
            license: key(2, Role::License),
            release: key(3, Role::Release),
            activation: key(4, Role::Activation),
            instance: key(5, Role::Instance),
        }
    }

    pub fn entries(&self) -> Vec<TrustEntry> {
        vec![
            entry(&self.root, &[Role::Root], KeyStatus::Active),
            entry(&self.license, &[Role::License], KeyStatus::Active),
            entry(&self.release, &[Role::Release], KeyStatus::Active),
            entry(&self.activation, &[Role::Activation], KeyStatus::Active),
        ]
    }

    pub fn trust_bytes(&self, version: u64, entries: &[TrustEntry]) -> Vec<u8> {
        sign_trust_file(&self.root, version, t("2026-06-01"), entries).unwrap()
    }

    pub fn store(&self) -> runtime::TrustStore {
        let bytes = self.trust_bytes(1, &self.entries());
        runtime::TrustStore::from_trust_file(&bytes, &runtime::danger::trust_on_first_use())
            .unwrap()
    }
}
