//! `factory`: the vendor's license office. See docs/CLI.md.
//!
//! Exit codes: 0 ok, 1 rejected or invalid input, 2 usage or I/O error.

#![forbid(unsafe_code)]

mod activation;
mod book;
mod cli;
mod desk;
mod keycmds;
mod licenses;
mod tokens;

use std::process::ExitCode;

fn main() -> ExitCode {
    clikit::main("factory", || {
        cli::run(clikit::parse::parse(clikit::parse::EXIT_CODES))
    })
}
