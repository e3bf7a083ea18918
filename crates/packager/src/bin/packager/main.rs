//! `packager`: builds and signs delivery bundles. See docs/CLI.md.
//!
//! Exit codes: 0 ok, 1 rejected or invalid input, 2 usage or I/O error.

#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    clikit::main("packager", || {
        cli::run(clikit::parse::parse(clikit::parse::EXIT_CODES))
    })
}
