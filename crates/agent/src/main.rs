//! `airlock-agent`: the customer machine's side of activation. See docs/CLI.md and the
//! library (`agent`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    clikit::main("airlock-agent", || {
        agent::cli::run(clikit::parse::parse(agent::EXIT_CODES))
    })
}
