//! `factory`: the vendor's license office. See docs/CLI.md.
//!
//! Exit codes: 0 ok, 1 rejected or invalid input, 2 usage or I/O error.

#![forbid(unsafe_code)]

mod activation;
mod amend;
mod audit;
mod builds;
mod canon;
mod cli;
mod export;
mod home;
mod issue;
mod keygen;
mod list;
mod migrate;
mod renew;
mod revocations;
mod revoke;
mod show;
mod suspend;
mod tokens;
mod trust;
mod verify;

use std::process::ExitCode;

fn main() -> ExitCode {
    clikit::main("factory", || {
        cli::run(clikit::parse::parse(clikit::parse::EXIT_CODES))
    })
}
