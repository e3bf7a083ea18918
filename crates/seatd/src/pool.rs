//! The server's pool, opened: the license it serves (verified and accepted into the state),
//! the pool lease installed in its state directory (verified as the runtime verifies a lease,
//! bound to this machine), the instance key that lease names, and its seat records (their log's
//! chain checked before anything reads or writes them).

use crate::store;
use anyhow::{bail, Context, Result};
use canon::enc;
use runtime::activation::Activation;
use runtime::format_floating::PoolTerms;
use runtime::license::License;
use std::path::PathBuf;

/// Where the pool is: the options `serve` and `export-log` share.
#[derive(clap::Args)]
pub struct PoolArgs {
    /// The state directory where its pool lease is installed (`airlock-agent request --pool`,
    /// then `airlock-agent install`), with its instance key
    #[arg(long)]
    pub state: PathBuf,
    /// Trust file (trust.json); repeat it to pass a chain
    #[arg(long, required = true)]
    pub trust: Vec<PathBuf>,
    /// The vendor's root for a first use of the state directory
    #[arg(long, value_name = "KEY_ID_OR_PUB")]
    pub root: Vec<String>,
    /// The license directory the pool serves (license.json): a node proves it holds the
    /// license by the key its request carries
    #[arg(long)]
    pub license: PathBuf,
    /// The seat records: a SQLite file (default: STATE/seats.db), or a postgres:// URL that
    /// several seat servers of one pool share
    #[arg(long, value_name = "FILE_OR_URL")]
    pub db: Option<String>,
}

/// An opened pool.
pub struct Opened {
    /// The pool lease.
    pub lease: Activation,
    /// Its terms.
    pub terms: PoolTerms,
    /// The license served.
    pub license: License,
    /// The instance key the pool lease names.
    pub key: signing::SecretKey,
    /// The pool lease's files, as installed.
    pub doc: String,
    /// Its signature.
    pub sig: String,
    /// The seat records.
    pub conn: store::Conn,
}

/// Opens the pool of `a`.
pub fn open(a: &PoolArgs) -> Result<Opened> {
    let files = a
        .trust
        .iter()
        .map(|p| clikit::input::read_capped(p, runtime::trust::MAX_TRUST_BYTES as u64))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
    let anchors = clikit::input::root_anchors(&a.root, Some(&a.state), false)?;
    let mut session = runtime::session::Session::begin(
        Some(&a.state),
        runtime::session::Clock::System(crate::now()),
        &refs,
        anchors.as_ref(),
    )
    .context("trust")?;
    let (doc, sig, lic_path) = clikit::input::read_license(&a.license, None)?;
    let license = runtime::license::verify_license(
        session.trust(),
        &doc,
        sig.as_deref(),
        &runtime::license::LegacyPolicy::default(),
        session.now(),
    )
    .with_context(|| format!("{}", lic_path.display()))?;
    session.accept_license(&license)?;
    let license = license.license().clone();
    let root = a.state.join(runtime::activation::DIR);
    let sources = runtime::fingerprint::Sources::system(Some(&a.state));
    for e in std::fs::read_dir(&root)
        .with_context(|| format!("{}: no activation installed", root.display()))?
    {
        let dir = e?.path();
        let product = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let Some(lease) = runtime::activation::verify_installed(
            session.trust(),
            &a.state,
            &product,
            None,
            &sources,
            session.known(),
            session.now(),
        )
        .map_err(|r| anyhow::anyhow!("{r}"))?
        else {
            continue;
        };
        let Some(terms) = lease.value().pool else {
            continue;
        };
        if lease.value().lineage_id != license.lineage_id {
            bail!(
                "{}: the pool lease is for lineage {}, the license for {}",
                a.license.display(),
                lease.value().lineage_id,
                license.lineage_id
            );
        }
        let key = signing::SecretKey::load(&a.state.join("agent/instance.key"))?;
        if enc::b64(&key.public_key()) != lease.value().instance_public_key {
            bail!("the pool lease names another instance key than this state directory's");
        }
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .with_context(|| format!("{}", dir.join(f).display()))
        };
        let db = match &a.db {
            Some(d) => d.clone(),
            None => a.state.join("seats.db").to_string_lossy().into_owned(),
        };
        let conn = store::Conn::open(&db)?;
        // A log edited outside the server breaks its chain: nothing is read or written over
        // it.
        store::log(conn.sql(), i64::MAX).with_context(|| {
            format!(
                "{}: the lease log's chain is broken (it was changed outside airlock-seatd)",
                sqldb::redact(&db)
            )
        })?;
        return Ok(Opened {
            doc: read(runtime::activation::LEASE_FILE)?,
            sig: read(runtime::activation::LEASE_SIG)?,
            lease: lease.value().clone(),
            terms,
            license,
            key,
            conn,
        });
    }
    bail!(
        "{}: no pool lease installed: make a request with `airlock-agent request --pool`, have the vendor fulfil it, and install it with `airlock-agent install`",
        a.state.display()
    )
}
