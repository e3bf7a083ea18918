//! Argument parsing and command dispatch for `runtime-verify`.

use anyhow::{Context, Result};
use canon::{Role, Timestamp};
use clap::{Parser, Subcommand};
use runtime::signed::MinisignCheck;
use runtime::{Anchors, TrustStore};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "runtime-verify",
    version,
    about = "Airlock: verify bundles, licenses and signatures offline"
)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Verify FILE against its minisign signature FILE.sig made by a trusted release key
    Sig {
        file: PathBuf,
        #[arg(long)]
        trust: PathBuf,
        /// Signature file (default: FILE.sig)
        #[arg(long)]
        sig: Option<PathBuf>,
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

fn read_file(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut buf = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("{}", path.display()))?;
    if buf.len() as u64 > cap {
        return Err(runtime::VerifyError::TooLarge {
            what: "input file",
            limit: cap,
        })
        .with_context(|| format!("{}", path.display()));
    }
    Ok(buf)
}

fn load_trust(path: &Path) -> Result<TrustStore> {
    let bytes = read_file(path, runtime::trust::MAX_TRUST_BYTES as u64)?;
    TrustStore::from_trust_file(&bytes, &Anchors::SelfSigned)
        .with_context(|| format!("{}", path.display()))
}

/// The trusted comment's `timestamp:` field, when present.
fn comment_time(comment: &str) -> Option<Timestamp> {
    comment
        .split('\t')
        .find_map(|f| f.strip_prefix("timestamp:"))
        .and_then(|t| t.parse::<i64>().ok())
        .map(Timestamp)
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.cmd {
        Cmd::Sig { file, trust, sig } => {
            let trust = load_trust(&trust)?;
            let sig_path = sig.unwrap_or_else(|| {
                let mut p = file.as_os_str().to_owned();
                p.push(".sig");
                PathBuf::from(p)
            });
            let sig_bytes = read_file(&sig_path, canon::minisign::MAX_SIGNATURE_BYTES as u64)?;
            let mut check = MinisignCheck::new(&sig_bytes)
                .with_context(|| format!("{}", sig_path.display()))?;
            let mut f =
                std::fs::File::open(&file).with_context(|| format!("{}", file.display()))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f
                    .read(&mut buf)
                    .with_context(|| format!("{}", file.display()))?;
                if n == 0 {
                    break;
                }
                check.update(&buf[..n]);
            }
            let ok = check
                .finish(&trust, Role::Release)
                .with_context(|| format!("{}", file.display()))?;
            if let Some(at) = comment_time(&ok.trusted_comment) {
                trust
                    .check_window(ok.key_id, at)
                    .with_context(|| format!("{}", file.display()))?;
            }
            println!(
                "{}: signature OK (release key {})",
                file.display(),
                ok.key_id
            );
            println!("trusted comment: {}", ok.trusted_comment);
        }
    }
    Ok(ExitCode::SUCCESS)
}
