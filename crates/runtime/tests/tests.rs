//! Runtime integration tests, compiled as one binary.

mod boundary;
mod kit;
mod signatures;
mod wycheproof;
