//! Runtime integration tests, compiled as one binary.

mod activation;
mod boundary;
mod floating;
mod kit;
mod protocol;
mod signatures;
mod wycheproof;
