//! Atomic file writes: the one atomic write of the workspace lives in `fsio`; re-exported here
//! for the signing side's callers.

pub use fsio::{write_atomic, write_atomic_with};
