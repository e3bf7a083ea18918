//! # runtime — Airlock's verify-only runtime
//!
//! The library a product embeds to verify its license and delivery bundles locally, with no
//! phone-home. Architecture invariants (each enforced by a test):
//! - it never holds a private key, never signs and never generates keys: its dependency tree
//!   has no signing path (`ed25519-dalek` without `rand_core`, no `signing`);
//! - it never opens a socket and depends on no networking crate;
//! - it never reads the clock: every check takes `now` as a parameter (`clippy.toml` bans
//!   `SystemTime::now` and `Instant::now` in this crate);
//! - success is unforgeable: verified artifacts are types only this crate can construct.
//!
//! # Embedding it
//!
//! ```
//! use runtime::enforce::Entitlements;
//! use runtime::license::{date_state, verify_license, LegacyPolicy, DEFAULT_WARN_DAYS};
//! use runtime::{Anchors, TrustStore};
//! # use canon::{Kind, Role, Timestamp};
//! # use runtime::Artifact;
//! # let t = |s: &str| Timestamp::parse(s).unwrap();
//! # let root = signing::SecretKey::from_seed(&[1; 32], "root", Role::Root, t("2026-01-01T00:00:00Z")).unwrap();
//! # let lic = signing::SecretKey::from_seed(&[2; 32], "lic", Role::License, t("2026-01-01T00:00:00Z")).unwrap();
//! # let entries: Vec<_> = [&root, &lic].iter().map(|k| signing::trust::TrustEntry {
//! #     public_key: k.public_key(), name: k.name.clone(), roles: vec![k.role],
//! #     not_before: t("2026-01-01T00:00:00Z"), not_after: t("2030-01-01T00:00:00Z"), status: runtime::KeyStatus::Active }).collect();
//! # let trust_json = signing::trust::sign_trust_file(&root, 1, t("2026-06-01T00:00:00Z"), &entries).unwrap();
//! # let license = runtime::license::License {
//! #     schema_version: 3, license_id: "lic-1".into(), license_key: "ABCD-EFGH-JKMN-PQRS".into(),
//! #     issuer: "Vendor".into(), customer: runtime::license::Customer { id: "acme".into(), name: "ACME".into() },
//! #     workspace: "default".into(), product: "gateway".into(), tier: runtime::license::Tier::Professional,
//! #     editions: vec!["standard".into()], issued_at: "2026-11-01T00:00:00Z".into(),
//! #     not_before: "2026-11-01T00:00:00Z".into(), expires_at: "2027-11-01T00:00:00Z".into(), grace_days: 14,
//! #     features: vec!["gate".into()], limits: [("agents".to_string(), 50)].into_iter().collect(),
//! #     production_use: true, data_residency: "eu".into(), renewal_of: None, lineage_id: "lin-1".into(), sequence: 1 };
//! # let license_json = license.to_canonical();
//! # let license_sig = lic.sign_document(Kind::License, &license_json).unwrap().to_bytes();
//! // Trust: a trust file delivered out of band (or keys embedded at build time).
//! let trust = TrustStore::from_trust_file(&trust_json, &runtime::danger::trust_on_first_use())?;
//! // Time is a parameter: the product's glue reads the clock, the library never does.
//! let now = canon::Timestamp::parse("2026-11-22T00:00:00Z").unwrap();
//! let verified = verify_license(&trust, &license_json, Some(&license_sig), &LegacyPolicy::default(), now)?;
//! let state = date_state(verified.times(), verified.license().grace_days, now, DEFAULT_WARN_DAYS);
//! assert_eq!(state.as_str(), "active");
//! // Enforcement: in-memory lookups with stable denial codes.
//! let e = Entitlements::from_license(&verified, state);
//! assert!(e.check_feature("gate").is_ok());
//! let denied = e.check_limit("agents", 50).unwrap_err();
//! assert_eq!((denied.code, denied.http_status), ("agent_limit_reached", 402));
//! # Ok::<(), runtime::VerifyError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod activation;
pub mod bundle;
pub mod check;
pub mod danger;
pub mod enforce;
pub mod error;
pub mod failure;
pub mod fingerprint;
pub mod floating;
pub mod identity;
pub mod io;
pub mod keys;
pub mod license;
pub mod manifest;
pub mod payload;
pub mod policy;
pub mod product;
pub mod revocation;
pub mod session;
pub mod signed;
pub mod state;
pub mod trust;

pub use check::Check;
pub use error::VerifyError;
pub use failure::check_of;
pub use format::floating as format_floating;
pub use format::identity as format_identity;
pub use format::seatlog;
pub use format::{build, refusal, text, Artifact, MAX_SAFE_INTEGER};
pub use keys::PublicKey;
pub use trust::{Anchors, KeyStatus, TrustStore, TrustedKey};
