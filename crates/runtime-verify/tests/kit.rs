//! The shared test kit (crates/testkit).

pub use testkit::*;
