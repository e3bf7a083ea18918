//! Packager integration tests (one binary): they drive the real `packager` executable.

mod bundle;
mod coherence;
mod sign;
