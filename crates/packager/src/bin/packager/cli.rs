//! Argument parsing and command dispatch for `packager`.

use anyhow::Result;
use canon::Role;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "packager",
    version,
    about = "Airlock packager: signed, reproducible air-gap delivery bundles"
)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sign a file: writes FILE.sig, a minisign prehashed signature (`minisign -Vm FILE -p KEY.minisign.pub`)
    Sign {
        file: PathBuf,
        /// A release key (NAME.key)
        #[arg(long)]
        key: PathBuf,
    },
}

/// 1 for rejected input, 2 for usage and I/O errors.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain()
        .any(|c| c.is::<runtime::VerifyError>() || c.is::<canon::ParseError>())
    {
        1
    } else {
        2
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.cmd {
        Cmd::Sign { file, key } => {
            let key = signing::SecretKey::load(&key)?;
            if key.role != Role::Release {
                anyhow::bail!(
                    "this is a {} key; files and bundles are signed with a release key",
                    key.role
                );
            }
            let out = packager::sign_file(&file, &key, signing::clock::now()?)?;
            println!("wrote {} (key id {})", out.display(), key.key_id());
        }
    }
    Ok(ExitCode::SUCCESS)
}
