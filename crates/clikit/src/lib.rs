//! # clikit — what every Airlock binary shares at its edge
//!
//! The binaries (`factory`, `packager`, `runtime-verify`) are thin: they parse arguments, call
//! a library, and report. This crate is the reporting half, so that it is written once:
//!
//! - [`outcome`]: one outcome type (valid, rejected with a check code, error) and its exit
//!   codes — 0, 1, 2 — the same in every binary;
//! - [`report`]: one JSON report schema for every verdict (`valid`, `check`, `error`, the
//!   subject, then the facts), shared by `runtime-verify` and `packager verify`;
//! - [`args`]: the options the vendor's verify commands share;
//! - [`input`]: capped reads, default signature paths, the vendor's trust file, the clock;
//! - [`env`]: the `AIRLOCK_` environment names and their documented old aliases;
//! - [`generate`]: shell completions and man pages from the clap definitions;
//! - [`parse`]: the command line, with the exit codes in every `--help` and usage errors as
//!   JSON under `--json`.
//!
//! It holds no rule of its own: what is valid is decided by `runtime`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod args;
pub mod env;
pub mod generate;
pub mod home;
pub mod input;
pub mod outcome;
pub mod parse;
pub mod report;

pub use outcome::{main, Outcome};
