//! # runtime — Airlock's verify-only runtime
//!
//! The library a product embeds to verify its license and delivery bundles locally, with no
//! phone-home. Architecture invariants (each enforced by a test):
//! - it never holds a private key, never signs and never generates keys: its dependency tree
//!   has no signing path (`ed25519-dalek` without `rand_core`, no `airlock-signing`);
//! - it never opens a socket and depends on no networking crate;
//! - it never reads the clock: every check takes `now` as a parameter (`clippy.toml` bans
//!   `SystemTime::now` and `Instant::now` in this crate);
//! - success is unforgeable: verified artifacts are types only this crate can construct.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bundle;
pub mod enforce;
pub mod error;
pub mod keys;
pub mod license;
pub mod manifest;
pub mod revocation;
pub mod signed;
pub mod state;
pub mod trust;

pub use error::VerifyError;
pub use keys::PublicKey;
pub use trust::{Anchors, KeyStatus, TrustStore, TrustedKey};

/// Largest integer a schema field may hold (2^53 − 1): every JSON consumer reads it exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
