//! # factory — the vendor's license office
//!
//! Library behind the `factory` binary: key generation, trust files and (see the modules) the
//! license book. The binary in `src/bin/factory` only parses arguments and prints.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod activation;
pub mod amend;
pub mod audit;
pub mod batch;
pub mod builds;
pub mod catalog;
pub use sqldb as db;
pub use sqldb::args;
pub mod export;
pub mod fixtures;
pub mod guard;
pub mod issue;
pub mod keys;
pub mod registry;
pub mod report;
pub mod seatlogs;
