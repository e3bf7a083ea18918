//! Factory integration tests (one binary): they drive the real `factory` executable.

mod activations;
mod boundary;
mod cli_keys;
mod common;
mod integrity;
mod licenses;
mod registry_safety;
