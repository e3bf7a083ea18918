//! Trust decisions that weaken verification, kept in one corner so that every use reads as
//! what it is (as rustls keeps its `dangerous()` configuration).
//!
//! Today there is one: trust on first use, where a trust file is accepted on the word of a root
//! key it lists itself. Whoever can replace the delivery can replace the trust file with it, so
//! it protects nothing the first time; products anchor in embedded or operator-given roots
//! ([`crate::Anchors::Roots`]) and the state directory pins them after the first success.

use crate::trust::Anchors;

pub use crate::trust::FirstUse;

/// Anchors that accept a trust file signed by any active root key that the file itself lists.
/// Use it only on an explicit operator request (`runtime-verify --trust-on-first-use`) or for
/// the vendor's own trust file, whose roots the vendor holds.
pub fn trust_on_first_use() -> Anchors {
    Anchors::SelfSigned(FirstUse::token())
}
