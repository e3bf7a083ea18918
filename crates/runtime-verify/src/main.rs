//! `runtime-verify`: the customer's check before install. See docs/CLI.md.
//!
//! Exit codes: 0 valid, 1 rejected, 2 usage or I/O error (`remind` has its own, documented).
//! This binary reads the system clock once, at start, unless `--at` is given; the `runtime`
//! library it calls never does.

#![forbid(unsafe_code)]

mod activation;
mod cli;
mod remind;

use std::process::ExitCode;

fn main() -> ExitCode {
    clikit::main("runtime-verify", || {
        cli::run(clikit::parse::parse(clikit::parse::EXIT_CODES))
    })
}
