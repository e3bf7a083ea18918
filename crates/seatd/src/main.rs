//! `airlock-seatd`: the seat server a customer runs inside its network (the library `seatd`;
//! docs/CLI.md).

#![forbid(unsafe_code)]

use seatd::{admin, export, ServeArgs, EXIT_CODES};
use std::process::ExitCode;

#[derive(clap::Parser)]
#[command(
    name = "airlock-seatd",
    version,
    about = "Airlock: the seat server that leases floating seats to nodes inside your network"
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Serve the pool: lease floating seats to the nodes that claim them
    Serve(ServeArgs),
    /// Administer a running seat server: seats in use, release, reservations, the lease log
    Admin(admin::AdminArgs),
    /// Export the lease log, signed by this server's instance key, for the vendor
    ExportLog(export::ExportArgs),
}

fn main() -> ExitCode {
    clikit::main("airlock-seatd", || {
        let args: Args = clikit::parse::parse(EXIT_CODES);
        match args.cmd {
            Cmd::Admin(a) => admin::run(a),
            Cmd::ExportLog(a) => export::run(&a),
            Cmd::Serve(a) => seatd::serve(a),
        }
    })
}
