//! Scenario tests (one binary): the users' flows through the real binaries.
//!
//! The binaries are the ones `cargo test --workspace` (`make test`) builds beside this test
//! executable; run through that, not `-p scenarios` alone.

mod activation;
mod amend;
mod cmd;
mod contract;
mod deploy;
mod desk;
mod downloads;
mod floating;
mod floating_ops;
mod floating_pool;
mod hsm;
mod hsm_kek;
mod identity;
mod insider;
mod journey;
mod kit;
mod online;
mod registry;
mod routine;
mod runbooks;
mod sealed;
mod sealed_online;
mod seats;
mod siege;
mod surface;
mod vectors;
mod verifiers;
