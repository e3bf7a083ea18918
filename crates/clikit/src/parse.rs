//! Parsing a binary's command line the same way everywhere: every command's `--help` ends with
//! the binary's exit codes, and a usage error under `--json` prints the JSON report (valid
//! false, check null, the error, `"command"`) before exiting 2, so a script that asked for
//! JSON always gets one object.

use clap::{CommandFactory, FromArgMatches};
use std::ffi::OsString;

/// The exit codes of `factory`, `packager` and `runtime-verify` (docs/CLI.md).
pub const EXIT_CODES: &str = "Exit codes: 0 valid or done; 1 rejected: an input was read and refused by a named check; 2 error: a usage error or a local problem (missing file, permissions, refusing to overwrite), nothing judged.";

/// Parses the process's arguments into `A` (see the module).
pub fn parse<A: CommandFactory + FromArgMatches>(exit_codes: &'static str) -> A {
    parse_from(std::env::args_os(), exit_codes)
}

/// [`parse`] over given arguments (the first is the program name).
pub fn parse_from<A: CommandFactory + FromArgMatches>(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    exit_codes: &'static str,
) -> A {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cmd = with_exit_codes(A::command(), exit_codes);
    let tool = cmd.get_name().to_string();
    let result = cmd
        .try_get_matches_from(&args)
        .and_then(|m| A::from_arg_matches(&m));
    match result {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind::*;
            let shown = matches!(
                e.kind(),
                DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
            );
            if !shown && args.iter().skip(1).any(|a| a == "--json") {
                let message = first_line(&e.to_string());
                let report = crate::report::object(vec![
                    ("valid", canon::Value::Bool(false)),
                    ("check", canon::Value::Null),
                    ("error", crate::report::s(format!("usage: {message}"))),
                    ("command", crate::report::s(command_words(&args))),
                ]);
                if let Ok(r) = report {
                    crate::report::print_json(&r);
                }
                eprintln!("{tool}: error: usage: {}", first_line(&e.to_string()));
                std::process::exit(i32::from(crate::outcome::EXIT_ERROR));
            }
            e.exit()
        }
    }
}

/// `cmd` and every subcommand under it with `exit_codes` at the end of their help.
pub fn with_exit_codes(cmd: clap::Command, exit_codes: &'static str) -> clap::Command {
    let cmd = if cmd.get_after_help().is_some() {
        cmd
    } else {
        cmd.after_help(exit_codes)
    };
    cmd.mut_subcommands(|c| with_exit_codes(c, exit_codes))
}

/// The words naming the command (the arguments before the first option).
fn command_words(args: &[OsString]) -> String {
    args.iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .take_while(|a| !a.starts_with('-'))
        .collect::<Vec<_>>()
        .join(" ")
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or("").trim();
    l.strip_prefix("error: ").unwrap_or(l).to_string()
}
