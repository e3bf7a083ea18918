//! Shell completions and man pages, generated from the clap definitions so they cannot drift
//! from the commands (`make completions`, docs/OPERATIONS.md).

use anyhow::{Context, Result};
use clap::Command;
use std::path::{Path, PathBuf};

pub use clap_complete::Shell;

/// Writes the completion script for `shell` on stdout.
pub fn completions(mut cmd: Command, shell: Shell) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, &mut std::io::stdout());
}

/// Writes one man page per command and subcommand into `dir` (`tool.1`, `tool-sub.1`, ...);
/// returns the files written.
pub fn man_pages(cmd: Command, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let mut written = Vec::new();
    write_page(cmd, dir, &mut written)?;
    Ok(written)
}

fn write_page(cmd: Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    let cmd = cmd.disable_help_subcommand(true);
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .context("man page")?;
    let path = dir.join(format!("{}.1", cmd.get_name()));
    std::fs::write(&path, buf).with_context(|| format!("{}", path.display()))?;
    written.push(path);
    let parent = cmd.get_name().to_string();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{parent}-{}", sub.get_name());
        write_page(sub.clone().name(name), dir, written)?;
    }
    Ok(())
}

/// The two subcommands every binary offers, flattened into its own:
/// `TOOL completions SHELL` and (hidden) `TOOL man DIR`.
#[derive(Debug, clap::Subcommand)]
pub enum GenerateCmd {
    /// Print the shell completion script for SHELL on stdout
    Completions {
        /// bash, zsh, fish, elvish or powershell
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Write the man pages into DIR (used by `make install-docs`)
    #[command(hide = true)]
    Man {
        /// Output directory (created if missing)
        dir: PathBuf,
    },
}

impl GenerateCmd {
    /// Generates from `cmd` (the binary's `Args::command()`).
    pub fn run(self, cmd: Command) -> Result<std::process::ExitCode> {
        match self {
            GenerateCmd::Completions { shell } => completions(cmd, shell),
            GenerateCmd::Man { dir } => {
                for p in man_pages(cmd, &dir)? {
                    println!("{}", p.display());
                }
            }
        }
        Ok(std::process::ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    #[command(name = "demo")]
    struct Args {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[derive(clap::Subcommand)]
    enum Cmd {
        /// Does a thing
        Thing,
        #[command(flatten)]
        Generate(GenerateCmd),
    }

    #[test]
    fn man_pages_cover_every_visible_subcommand() {
        use clap::CommandFactory;
        let d = tempfile::tempdir().unwrap();
        let pages = man_pages(Args::command(), d.path()).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["demo.1", "demo-thing.1", "demo-completions.1"]);
        let page = std::fs::read_to_string(d.path().join("demo-thing.1")).unwrap();
        assert!(page.contains("Does a thing"), "{page}");
    }
}
