//! `factory canon`: the RFC 8785 canonical form of a JSON document.

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Largest input `factory canon` reads.
pub(crate) const MAX_CANON_INPUT: u64 = 64 << 20;

#[derive(clap::Args)]
pub(crate) struct CanonArgs {
    /// File to read; `-` or nothing for standard input
    pub(crate) file: Option<PathBuf>,
}

pub(crate) fn canon_cmd(a: CanonArgs) -> Result<ExitCode> {
    let CanonArgs { file } = a;
    let mut input = Vec::new();
    match file.as_deref() {
        None => read_capped(std::io::stdin().lock(), &mut input, Path::new("-"))?,
        Some(p) if p == Path::new("-") => read_capped(std::io::stdin().lock(), &mut input, p)?,
        Some(p) => {
            let f = std::fs::File::open(p).with_context(|| format!("{}", p.display()))?;
            read_capped(f, &mut input, p)?
        }
    };
    let name = file
        .as_deref()
        .unwrap_or(Path::new("-"))
        .display()
        .to_string();
    let out = canon::canonicalize(&input).with_context(|| name)?;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&out).and_then(|_| stdout.flush()) {
        Ok(()) => {}
        // A closed pipe (e.g. `| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e).context("stdout"),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn read_capped(r: impl Read, buf: &mut Vec<u8>, name: &Path) -> Result<()> {
    r.take(MAX_CANON_INPUT + 1)
        .read_to_end(buf)
        .with_context(|| format!("{}", name.display()))?;
    if buf.len() as u64 > MAX_CANON_INPUT {
        anyhow::bail!(
            "{}: input larger than {MAX_CANON_INPUT} bytes",
            name.display()
        );
    }
    Ok(())
}
