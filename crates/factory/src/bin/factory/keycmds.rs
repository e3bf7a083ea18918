//! `factory keygen`, `trust` and `canon`: keys, trust files and canonical JSON.

use crate::cli::print_json;
use anyhow::{Context, Result};
use canon::{KeyId, Role};
use clap::ValueEnum;
use clikit::input::vendor_trust;
use clikit::report::s;
use signing::clock;
use signing::PublicKeyFile;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Largest input `factory canon` reads.
pub(crate) const MAX_CANON_INPUT: u64 = 64 << 20;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    Root,
    License,
    Release,
    Activation,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Root => Role::Root,
            RoleArg::License => Role::License,
            RoleArg::Release => Role::Release,
            RoleArg::Activation => Role::Activation,
        }
    }
}

#[derive(clap::Args)]
pub(crate) struct KeygenArgs {
    /// What the key signs: root (trust files), license (licenses, revocation lists),
    /// release (bundles, files) or activation (activation leases)
    #[arg(long, value_enum)]
    pub(crate) role: RoleArg,
    /// The key's name: its files are NAME.key, NAME.pub and NAME.minisign.pub
    #[arg(long)]
    pub(crate) name: String,
    /// Directory for the key files (created; an existing file is never replaced)
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Make the key inside a PKCS#11 token (an HSM) named by this URI, e.g.
    /// pkcs11:token=airlock?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:pin;
    /// only NAME.pub and NAME.minisign.pub are written, and the key is used as
    /// pkcs11:token=...;object=NAME?...
    #[arg(long, value_name = "URI")]
    pub(crate) pkcs11: Option<String>,
    /// Print the key id and paths as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct TrustArgs {
    /// Root key file(s) that sign; during a root rotation the old and the new root co-sign
    #[arg(long, required = true)]
    pub(crate) root_key: Vec<PathBuf>,
    /// Public key files (NAME.pub) to trust
    #[arg(long, num_args = 1..)]
    pub(crate) add: Vec<PathBuf>,
    /// The trust file to write
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Previous trust file: its keys carry over and the version goes up by one
    #[arg(long)]
    pub(crate) from: Option<PathBuf>,
    /// Explicit version number (must be higher than --from's)
    #[arg(long)]
    pub(crate) version: Option<u64>,
    /// Mark a key (by key id) retired: it verifies what it signed until now, signs nothing new
    #[arg(long)]
    pub(crate) retire: Vec<String>,
    /// Mark a key (by key id) revoked: it verifies nothing
    #[arg(long)]
    pub(crate) revoke: Vec<String>,
    /// End of the validity window of added keys (default: 5 years after their creation)
    #[arg(long)]
    pub(crate) not_after: Option<String>,
    /// Replace an existing --out file that is not the --from file
    #[arg(long)]
    pub(crate) force: bool,
    /// Print the version and key ids as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct CanonArgs {
    /// File to read; `-` or nothing for standard input
    pub(crate) file: Option<PathBuf>,
}

pub(crate) fn keygen_cmd(a: KeygenArgs) -> Result<ExitCode> {
    let KeygenArgs {
        role,
        name,
        out,
        pkcs11,
        json,
    } = a;
    let now = clock::now()?;
    let (key, paths) = factory::keys::keygen(role.into(), &name, &out, pkcs11.as_deref(), now)?;
    // A key in a token is used through its URI (without the PIN: give it with pin-source or
    // $AIRLOCK_PKCS11_PIN); a key file through its path.
    let private = match &pkcs11 {
        Some(uri) => signing::pkcs11::Uri::parse(uri)?.for_object(&key.name),
        None => paths[0].display().to_string(),
    };
    let public = &paths[paths.len() - 2];
    let minisign = &paths[paths.len() - 1];
    if json {
        let v = canon::Value::object(vec![
            ("key_id".into(), s(key.key_id())),
            ("name".into(), s(&key.name)),
            ("role".into(), s(key.role)),
            ("private_key".into(), s(&private)),
            ("in_token".into(), canon::Value::Bool(key.in_token())),
            ("public_key".into(), s(public.display())),
            ("minisign_public_key".into(), s(minisign.display())),
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
        println!("  {private}");
        println!("  {}", public.display());
        println!("  {}", minisign.display());
        if key.in_token() {
            println!("the private key stays in the token; sign with --key '{private}&pin-source=file:PIN_FILE' (or set AIRLOCK_PKCS11_PIN)");
        } else {
            println!("keep {private} offline; share only the .pub files");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Keeps a new trust file in the vendor's registry, when there is one (the first trust file is
/// usually signed before any license, so none is created for it): signing commands then check
/// their keys against it without being given it. Returns whether a registry took it.
fn keep_in_registry(out: &Path, bytes: &[u8], now: canon::Timestamp) -> Result<bool> {
    let l = crate::cli::locate_db(None)?;
    let pg = l.path.to_str().is_some_and(factory::db::is_postgres_url);
    if !pg && !l.path.exists() {
        return Ok(false);
    }
    let mut reg = factory::registry::Registry::open_location(&l.path, false)?;
    factory::keys::known_trust(&mut reg, Some((out, bytes.to_vec())), now)?;
    Ok(true)
}

pub(crate) fn trust_cmd(a: TrustArgs) -> Result<ExitCode> {
    let TrustArgs {
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
    } = a;
    let now = clock::now()?;
    let roots = root_key
        .iter()
        .map(|p| factory::keys::load_signing_key(p, Role::Root, None, now))
        .collect::<Result<Vec<_>>>()?;
    let add = add
        .iter()
        .map(|p| PublicKeyFile::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let from_store = from.as_deref().map(vendor_trust).transpose()?;
    let ids = |v: &[String]| -> Result<Vec<KeyId>> {
        v.iter()
            .map(|s| {
                KeyId::parse(s).with_context(|| format!("{s:?} is not a key id (16 lowercase hex)"))
            })
            .collect()
    };
    let not_after = not_after
        .map(|s| clock::parse_time("--not-after", &s))
        .transpose()?;
    let (bytes, version) = factory::keys::build_trust(factory::keys::TrustRequest {
        roots: &roots,
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
    let kept = keep_in_registry(&out, &bytes, now);
    if let Err(e) = &kept {
        eprintln!("factory: warning: {} was written, but the registry could not keep it ({e:#}); signing commands check keys against it once it is passed to them with --trust", out.display());
    }
    if json {
        let v = canon::Value::object(vec![
            ("path".into(), s(out.display())),
            (
                "kept_in_registry".into(),
                canon::Value::Bool(matches!(kept, Ok(true))),
            ),
            ("version".into(), canon::Value::Number(version as f64)),
            ("signed_by".into(), s(roots[0].key_id())),
            (
                "signers".into(),
                canon::Value::Array(roots.iter().map(|r| s(r.key_id())).collect()),
            ),
        ])
        .context("json")?;
        print_json(&v);
    } else {
        println!(
            "wrote {} (version {version}, signed by root key {})",
            out.display(),
            roots
                .iter()
                .map(|r| r.key_id().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        );
    }
    Ok(ExitCode::SUCCESS)
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

pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
