//! Airlock's payload encryption (docs/FORMAT.md §19). Three published constructions, composed
//! and never re-implemented here:
//!
//! - **Files** ([`file`]): each payload file is deflated (RFC 1951; stored blocks when it does
//!   not compress) and the stream is sealed as one member.
//! - **Members** ([`member`]): each payload member is sealed with STREAM (Hoang, Reyhanitabar,
//!   Rogaway, Vizár; the RustCrypto `aead::stream` big-endian 32-bit counter flavour) over
//!   ChaCha20-Poly1305 (RFC 8439), in 64 KiB chunks, under a key derived from the build's
//!   content key with HKDF-SHA256 (RFC 5869), salted by a 16-byte member nonce and bound to the
//!   member's path. The nonce is an HMAC-SHA256 of the path and the plaintext's SHA-256 under the
//!   content key (synthetic, as in SIV): the same key and the same file give the same bytes (a
//!   reproducible build), and two different files never share a member key.
//! - **Key wrapping** ([`wrap`]): a content key travels only wrapped to an X25519 public key with
//!   HPKE (RFC 9180) base mode, suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
//!   ChaCha20-Poly1305, its `info` naming what the wrapped key is for.
//! - **Key files** ([`keyfile`]): X25519 keys (the vendor's key-encryption key, a machine's
//!   encryption key) in the same shape as Airlock's signing key files, with their own markers so
//!   neither loader takes the other's file.
//!
//! Opening (the runtime) needs no randomness; sealing, key generation and wrapping sit behind the
//! `seal` feature.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod file;
pub mod keyfile;
pub mod member;
#[cfg(feature = "seal")]
pub mod rsa_kek;
pub mod wrap;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// Why something could not be sealed, opened, wrapped or unwrapped. `Display` names the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// A chunk's tag did not verify: the bytes were changed, or the key is not theirs.
    Tag(String),
    /// The sealed bytes have a length no sealing produces, or end early or run long.
    Length(String),
    /// A wrapped key did not open with this key, or is not the wrapped-key shape.
    Unwrap(String),
    /// A key or key file is malformed.
    Key(String),
    /// Writing the output failed.
    Io(String),
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::Tag(m) => write!(f, "authentication failed: {m}"),
            SealError::Length(m) => write!(f, "sealed length: {m}"),
            SealError::Unwrap(m) => write!(f, "wrapped key: {m}"),
            SealError::Key(m) => write!(f, "key: {m}"),
            SealError::Io(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for SealError {}

/// A build's 256-bit content key. Zeroed when dropped; `Debug` hides it.
#[derive(Clone)]
pub struct ContentKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentKey(check {})", &self.check_hex()[..16])
    }
}

impl ContentKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(b: [u8; 32]) -> ContentKey {
        ContentKey(Zeroizing::new(b))
    }

    /// A fresh random key (the operating system's generator).
    #[cfg(feature = "seal")]
    pub fn generate() -> ContentKey {
        use rand_core::RngCore;
        let mut b = Zeroizing::new([0u8; 32]);
        rand_core::OsRng.fill_bytes(&mut *b);
        ContentKey(b)
    }

    /// The raw bytes (to wrap them).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key's public check value: HMAC-SHA256(key, `airlock/content-key-check/v1`). A
    /// manifest carries it, so a wrong key is told apart from damaged bytes before anything is
    /// opened; it reveals nothing about the key (HMAC is a PRF).
    pub fn check(&self) -> [u8; 32] {
        self.mac(&[b"airlock/content-key-check/v1"])
    }

    /// [`ContentKey::check`] in lowercase hex.
    pub fn check_hex(&self) -> String {
        canon::enc::hex(&self.check())
    }

    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&*self.0).expect("HMAC takes any key");
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }
}
