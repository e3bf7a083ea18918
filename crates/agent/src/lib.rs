//! `airlock-agent`, the customer machine's side of activation (docs/CLI.md), and the library
//! behind it: a product that holds a floating seat itself, without a separate process, uses
//! [`node::Seats`] (claim, renew, borrow, release, and [`node::Seats::hold`] to keep the seat
//! alive until told to stop).
//!
//! It holds the machine's instance key (made at first use, 0600 in the state directory) and
//! signs with it only what a machine says about itself: activation requests and deactivation
//! receipts. Leases are verified with the verify-only `runtime` before they are installed.
//! Exit codes: 0 done, 1 rejected (a lease or input refused by a named check), 2 usage or
//! local error.

#![forbid(unsafe_code)]

pub mod cli;
mod client;
pub mod node;
mod offline;
pub mod online;
mod update;

pub use client::Failure;

/// The agent's exit codes, at the end of every `--help`.
pub const EXIT_CODES: &str = "Exit codes: 0 done; 1 rejected: a lease or input refused by a named check, or a refusal by the service; 2 error: a usage error or a local problem; 4 the service was unreachable or asked to retry later (rate limited): try again.";
