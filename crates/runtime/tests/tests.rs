//! Runtime integration tests, compiled as one binary.

mod activation;
mod boundary;
mod kit;
mod protocol;
mod signatures;
mod wycheproof;
