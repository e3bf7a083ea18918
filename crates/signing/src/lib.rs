//! # signing — the signing side of Airlock
//!
//! Key generation, private and public key files, detached JSON signature envelopes and minisign
//! prehashed signatures, plus atomic file writes. Only `factory` and `packager` depend on this
//! crate; `runtime` must not (a test checks its dependency tree).
//!
//! Private keys: files are written 0600 and refused when group- or world-accessible; the
//! public key is always derived from the seed (never trusted from the file); `Debug` never
//! shows the seed, and the seed is zeroized on drop. Keys may instead stay in a PKCS#11 token
//! (an HSM): [`pkcs11`]; every signing path takes either.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
pub mod fsutil;
pub mod kek;
pub mod keyfile;
pub mod pkcs11;
pub mod trust;

pub use keyfile::{KeyError, PublicKeyFile, SecretKey};
