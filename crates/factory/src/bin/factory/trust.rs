//! `factory trust`: a trust file signed (and kept in the registry).

use crate::cli::print_json;
use anyhow::{Context, Result};
use canon::{KeyId, Role};
use clikit::input::vendor_trust;
use clikit::report::s;
use signing::clock;
use signing::PublicKeyFile;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
