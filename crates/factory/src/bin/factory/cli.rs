//! Argument parsing and command dispatch for `factory`.

use anyhow::{Context, Result};
use canon::{KeyId, Role};
use clap::{Parser, Subcommand, ValueEnum};
use runtime::{Anchors, TrustStore};
use signing::clock;
use signing::PublicKeyFile;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Largest input `factory canon` reads.
const MAX_CANON_INPUT: u64 = 64 << 20;

#[derive(Parser)]
#[command(
    name = "factory",
    version,
    about = "Airlock factory: keys, trust files, licenses and the license book"
)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Root,
    License,
    Release,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Root => Role::Root,
            RoleArg::License => Role::License,
            RoleArg::Release => Role::Release,
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate a key: NAME.key (0600), NAME.pub and NAME.minisign.pub
    Keygen {
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Sign a trust file (trust.json) with a root key
    Trust {
        #[arg(long)]
        root_key: PathBuf,
        /// Public key files (NAME.pub) to trust
        #[arg(long, num_args = 1..)]
        add: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// Previous trust file: its keys carry over and the version goes up by one
        #[arg(long)]
        from: Option<PathBuf>,
        /// Explicit version number (must be higher than --from's)
        #[arg(long)]
        version: Option<u64>,
        /// Mark a key (by key id) retired: it verifies what it signed until now, signs nothing new
        #[arg(long)]
        retire: Vec<String>,
        /// Mark a key (by key id) revoked: it verifies nothing
        #[arg(long)]
        revoke: Vec<String>,
        /// End of the validity window of added keys (default: 5 years after their creation)
        #[arg(long)]
        not_after: Option<String>,
        /// Replace an existing --out file that is not the --from file
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the RFC 8785 canonical form of a JSON file (or stdin), exactly, with no newline
    Canon {
        /// File to read; `-` or nothing for standard input
        file: Option<PathBuf>,
    },
}

/// Maps an error to the documented exit code: 1 when an input was rejected as invalid,
/// 2 for usage and I/O errors.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.is::<runtime::VerifyError>() || cause.is::<canon::ParseError>() {
            return 1;
        }
    }
    2
}

fn load_trust(path: &Path) -> Result<TrustStore> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    TrustStore::from_trust_file(&bytes, &Anchors::SelfSigned)
        .with_context(|| format!("{}", path.display()))
}

fn print_json(v: &canon::Value) {
    let mut out = v.to_pretty();
    if out.last() != Some(&b'\n') {
        out.push(b'\n');
    }
    let _ = std::io::stdout().write_all(&out);
}

fn s(v: impl ToString) -> canon::Value {
    canon::Value::String(v.to_string())
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.cmd {
        Cmd::Keygen {
            role,
            name,
            out,
            json,
        } => {
            let now = clock::now()?;
            let (key, paths) = factory::keys::keygen(role.into(), &name, &out, now)?;
            if json {
                let v = canon::Value::object(vec![
                    ("key_id".into(), s(key.key_id())),
                    ("name".into(), s(&key.name)),
                    ("role".into(), s(key.role)),
                    ("private_key".into(), s(paths[0].display())),
                    ("public_key".into(), s(paths[1].display())),
                    ("minisign_public_key".into(), s(paths[2].display())),
                ])
                .context("json")?;
                print_json(&v);
            } else {
                println!(
                    "generated {} key {:?} with key id {}",
                    key.role,
                    key.name,
                    key.key_id()
                );
                for p in &paths {
                    println!("  {}", p.display());
                }
                println!(
                    "keep {} offline; share only the .pub files",
                    paths[0].display()
                );
            }
        }
        Cmd::Trust {
            root_key,
            add,
            out,
            from,
            version,
            retire,
            revoke,
            not_after,
            force,
            json,
        } => {
            let now = clock::now()?;
            let root = factory::keys::load_signing_key(&root_key, Role::Root, None, now)?;
            let add = add
                .iter()
                .map(|p| PublicKeyFile::load(p))
                .collect::<Result<Vec<_>, _>>()?;
            let from_store = from.as_deref().map(load_trust).transpose()?;
            let ids = |v: &[String]| -> Result<Vec<KeyId>> {
                v.iter()
                    .map(|s| {
                        KeyId::parse(s)
                            .with_context(|| format!("{s:?} is not a key id (16 lowercase hex)"))
                    })
                    .collect()
            };
            let not_after = not_after
                .map(|s| clock::parse_time("--not-after", &s))
                .transpose()?;
            let (bytes, version) = factory::keys::build_trust(factory::keys::TrustRequest {
                root: &root,
                add,
                from: from_store,
                version,
                retire: ids(&retire)?,
                revoke: ids(&revoke)?,
                not_after,
                now,
            })?;
            let overwrite = force || from.as_deref().is_some_and(|f| same_file(f, &out));
            signing::fsutil::write_atomic(&out, &bytes, 0o644, overwrite)
                .with_context(|| format!("{}", out.display()))?;
            if json {
                let v = canon::Value::object(vec![
                    ("path".into(), s(out.display())),
                    ("version".into(), canon::Value::Number(version as f64)),
                    ("signed_by".into(), s(root.key_id())),
                ])
                .context("json")?;
                print_json(&v);
            } else {
                println!(
                    "wrote {} (version {version}, signed by root key {})",
                    out.display(),
                    root.key_id()
                );
            }
        }
        Cmd::Canon { file } => {
            let mut input = Vec::new();
            match file.as_deref() {
                None => read_capped(std::io::stdin().lock(), &mut input, Path::new("-"))?,
                Some(p) if p == Path::new("-") => {
                    read_capped(std::io::stdin().lock(), &mut input, p)?
                }
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
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_capped(r: impl Read, buf: &mut Vec<u8>, name: &Path) -> Result<()> {
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

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
