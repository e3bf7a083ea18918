//! Argument parsing and command dispatch for `factory`.

use anyhow::Result;
use canon::Timestamp;
use clap::{CommandFactory, Parser, Subcommand};
use clikit::generate::GenerateCmd;
use clikit::report::{self};
use factory::registry::Registry;
use runtime::TrustStore;
use signing::SecretKey;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) use crate::amend::*;
pub(crate) use crate::audit::*;
pub(crate) use crate::canon::*;
pub(crate) use crate::export::*;
pub(crate) use crate::home::*;
pub(crate) use crate::issue::*;
pub(crate) use crate::keygen::*;
pub(crate) use crate::list::*;
pub(crate) use crate::migrate::*;
pub(crate) use crate::renew::*;
pub(crate) use crate::revocations::*;
pub(crate) use crate::revoke::*;
pub(crate) use crate::show::*;
pub(crate) use crate::suspend::*;
pub(crate) use crate::trust::*;
pub(crate) use crate::verify::*;

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

#[derive(Subcommand)]
enum Cmd {
    /// Generate a key: NAME.key (0600), NAME.pub and NAME.minisign.pub
    Keygen(KeygenArgs),
    /// Sign a trust file (trust.json) with a root key (repeat --root-key to co-sign)
    Trust(TrustArgs),
    /// Print the RFC 8785 canonical form of a JSON file (or stdin), exactly, with no newline
    Canon(CanonArgs),
    /// Issue a license from the catalog's tier template (or a batch from a JSON Lines file)
    #[command(
        override_usage = "factory issue --tier <TIER> --customer <NAME> --product <ID> --key <KEY> --out <DIR> [OPTIONS]\n       factory issue --batch <FILE> --key <KEY> --out <DIR> [OPTIONS]"
    )]
    Issue(Box<IssueArgs>),
    /// Renew a license: a successor in the same lineage (renewal_of, sequence + 1)
    Renew(RenewArgs),
    /// Amend a license mid-term (seats, features, limits, dates): a signed successor in the
    /// same lineage that takes effect now; seats and activations carry over
    Amend(Box<AmendArgs>),
    /// Suspend a license: no licensed work, activations or renewals until resumed (data kept)
    Suspend(SuspendArgs),
    /// Resume a suspended license
    Resume(SuspendArgs),
    /// Revoke a license
    Revoke(RevokeArgs),
    /// Publish a signed revocation list (revocations.json + revocations.sig) of every revoked license
    Revocations(RevocationsArgs),
    /// List the license book, optionally one view
    List(ListArgs),
    /// Show one license with its whole lineage
    Show(ShowArgs),
    /// Verify a license file against a trust file (the runtime's own verification)
    Verify(VerifyArgs),
    /// Re-issue a legacy schema-2 license as schema 3 with renewal_of pointing at it
    Migrate(MigrateArgs),
    /// Re-write a recorded license's files from the registry (after a crash or loss)
    Export(ExportArgs),
    /// Show the vendor home and where the registry, catalog and packager state are found
    Home(HomeArgs),
    /// Activations: fulfil requests, list, release and reset seats
    Activation(ActivationArgs),
    /// Install tokens: one-time permissions to activate online without the license key
    /// (create, list, revoke)
    Token(TokenArgs),
    /// Encrypted builds: register a packager's build record (its key wrapped to the
    /// key-encryption key), list them
    Build(BuildArgs),
    /// Check the audit log's hash chain
    Audit(AuditArgs),
    #[command(flatten)]
    Generate(GenerateCmd),
}

#[derive(clap::Args)]
struct ActivationArgs {
    #[command(subcommand)]
    cmd: crate::activation::ActivationCmd,
}

#[derive(clap::Args)]
struct TokenArgs {
    #[command(subcommand)]
    cmd: crate::tokens::TokenCmd,
}

#[derive(clap::Args)]
struct BuildArgs {
    #[command(subcommand)]
    cmd: crate::builds::BuildCmd,
}

/// Options every registry command takes.
#[derive(clap::Args)]
pub(crate) struct Common {
    /// Registry database (default: $AIRLOCK_DB, else factory.db in the vendor home: `factory
    /// home`)
    #[arg(long)]
    db: Option<PathBuf>,
    /// Print the result as JSON on stdout (failures too, as the report schema)
    #[arg(long)]
    pub(crate) json: bool,
}

/// The trust file of the commands that sign: a signing key it marks retired or revoked, or
/// outside its window, is refused. The registry keeps the newest one it was given, and uses it
/// when none is.
#[derive(clap::Args)]
pub(crate) struct Signer {
    /// Trust file: refuse signing keys it marks retired or revoked, or outside their window
    /// (default: $AIRLOCK_TRUST, else the last one the registry was given: kept when newer)
    #[arg(long)]
    trust: Option<PathBuf>,
}

/// The registry: `--db`, else `AIRLOCK_DB`, else `factory.db` in the vendor home.
pub(crate) fn locate_db(flag: Option<&Path>) -> Result<clikit::home::Located> {
    clikit::home::locate(flag, "--db", "AIRLOCK_DB", factory::registry::HOME_DB)
}

impl Common {
    fn db(&self) -> Result<clikit::home::Located> {
        locate_db(self.db.as_deref())
    }

    /// The registry, created when missing (and said so): only for commands that record new
    /// licenses.
    pub(crate) fn registry(&self) -> Result<Registry> {
        let l = self.db()?;
        if let Some(url) = postgres_url(&l) {
            return Registry::open_postgres(url);
        }
        let fresh = clikit::home::prepare(&l)?;
        let reg = Registry::open(&l.path)?;
        if fresh {
            clikit::home::announce(&l, "registry");
        }
        Ok(reg)
    }

    /// The registry, which must exist: every other command.
    pub(crate) fn existing_registry(&self) -> Result<Registry> {
        Registry::open_location(&self.db()?.path, false)
    }
}

/// The registry location when it is a PostgreSQL URL rather than a file.
fn postgres_url(l: &clikit::home::Located) -> Option<&str> {
    l.path.to_str().filter(|s| factory::db::is_postgres_url(s))
}

impl Signer {
    /// The trust file given by `--trust`, else `AIRLOCK_TRUST`: its path and bytes.
    fn given(&self) -> Result<Option<(PathBuf, Vec<u8>)>> {
        let path = self
            .trust
            .clone()
            .or_else(|| clikit::env::path("AIRLOCK_TRUST"));
        path.map(|p| {
            let bytes = clikit::input::read_capped(&p, runtime::trust::MAX_TRUST_BYTES as u64)?;
            Ok((p, bytes))
        })
        .transpose()
    }

    /// The trust file this registry knows (the one given is kept when newer); its note, if
    /// any, on standard error.
    pub(crate) fn known(&self, reg: &mut Registry, now: Timestamp) -> Result<Option<TrustStore>> {
        let given = self.given()?;
        let k = factory::keys::known_trust(
            reg,
            given.as_ref().map(|(p, b)| (p.as_path(), b.clone())),
            now,
        )?;
        if let Some(n) = k.note {
            eprintln!("factory: warning: {n}");
        }
        Ok(k.trust)
    }

    /// Checks `key` (loaded once, before the registry was opened, from `path`) against the
    /// trust file the registry knows; returns that trust file.
    pub(crate) fn vet(
        &self,
        reg: &mut Registry,
        key: &SecretKey,
        path: &Path,
        now: Timestamp,
    ) -> Result<Option<TrustStore>> {
        let trust = self.known(reg, now)?;
        factory::keys::vet_key(key, path, trust.as_ref(), now)?;
        Ok(trust)
    }
}

impl Cmd {
    /// The command's name and whether it was asked for JSON: under --json every outcome,
    /// failures included, prints the report schema on stdout.
    fn json(&self) -> Option<&'static str> {
        let (name, json) = match self {
            Cmd::Keygen(a) => ("keygen", a.json),
            Cmd::Trust(a) => ("trust", a.json),
            Cmd::Issue(a) => ("issue", a.common.json),
            Cmd::Renew(a) => ("renew", a.common.json),
            Cmd::Revoke(a) => ("revoke", a.common.json),
            Cmd::Amend(a) => ("amend", a.common.json),
            Cmd::Suspend(a) => ("suspend", a.common.json),
            Cmd::Resume(a) => ("resume", a.common.json),
            Cmd::Revocations(a) => ("revocations", a.common.json),
            Cmd::List(a) => ("list", a.common.json),
            Cmd::Show(a) => ("show", a.common.json),
            Cmd::Verify(a) => ("verify", a.judge.json),
            Cmd::Migrate(a) => ("migrate", a.common.json),
            Cmd::Export(a) => ("export", a.common.json),
            Cmd::Audit(AuditArgs {
                cmd: AuditCmd::Verify { common, .. },
            }) => ("audit verify", common.json),
            Cmd::Home(a) => ("home", a.json),
            Cmd::Activation(a) => a.cmd.json(),
            Cmd::Token(a) => a.cmd.json(),
            Cmd::Build(a) => a.cmd.json(),
            Cmd::Canon(_) | Cmd::Generate(_) => ("", false),
        };
        json.then_some(name)
    }
}

/// The running command's name (under `--json`): the subject of its report.
static COMMAND: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Prints a command's result under `--json`: one report object with the common members
/// (`clikit::report::success`); a listing is its member `licenses` or `activations`.
pub(crate) fn print_json(v: &canon::Value) {
    let command = COMMAND.get().copied().unwrap_or("");
    let list = match command {
        "activation list" => "activations",
        "token list" => "tokens",
        _ => "licenses",
    };
    report::print_json(&report::success("command", command, v.clone(), list));
}

pub fn run(args: Args) -> Result<ExitCode> {
    let json = args.cmd.json();
    if let Some(name) = json {
        let _ = COMMAND.set(name);
    }
    match (run_cmd(args), json) {
        (Err(e), Some(name)) => report::fail("factory", true, "command", &name, &e),
        (r, _) => r,
    }
}

fn run_cmd(args: Args) -> Result<ExitCode> {
    match args.cmd {
        Cmd::Keygen(a) => keygen_cmd(a),
        Cmd::Trust(a) => trust_cmd(a),
        Cmd::Canon(a) => canon_cmd(a),
        Cmd::Issue(a) => issue_cmd(*a).map(|()| ExitCode::SUCCESS),
        Cmd::Renew(a) => renew_cmd(a),
        Cmd::Revoke(a) => revoke_cmd(a),
        Cmd::Amend(a) => amend_cmd(*a),
        Cmd::Suspend(a) => suspend_cmd(a, true),
        Cmd::Resume(a) => suspend_cmd(a, false),
        Cmd::Revocations(a) => revocations_cmd(a),
        Cmd::List(a) => list_cmd(a),
        Cmd::Show(a) => show_cmd(a),
        Cmd::Home(a) => home_cmd(a),
        Cmd::Activation(a) => crate::activation::run(a.cmd),
        Cmd::Token(a) => crate::tokens::run(a.cmd),
        Cmd::Build(a) => crate::builds::run(a.cmd),
        Cmd::Verify(a) => verify_cmd(a),
        Cmd::Migrate(a) => migrate_cmd(a),
        Cmd::Export(a) => export_cmd(a),
        Cmd::Generate(g) => g.run(clikit::parse::with_exit_codes(
            Args::command(),
            clikit::parse::EXIT_CODES,
        )),
        Cmd::Audit(a) => audit_cmd(a),
    }
}

/// A progress bar on standard error (hidden when it is not a terminal).
pub(crate) fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {what} {{per_sec}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Finds the catalog: `--catalog`, else `AIRLOCK_CATALOG` (old name `FACTORY_CATALOG`), else
/// `HOME_CATALOG` in the vendor home.
pub(crate) fn locate_catalog(flag: Option<&Path>) -> Result<clikit::home::Located> {
    clikit::home::locate(
        flag,
        "--catalog",
        "AIRLOCK_CATALOG",
        factory::catalog::HOME_CATALOG,
    )
}

/// Loads the located catalog; a missing one says where it was looked for and how to give it.
pub(crate) fn load_located(l: &clikit::home::Located) -> Result<factory::catalog::Catalog> {
    if !l.path.exists() {
        anyhow::bail!(
            "no catalog at {} ({}): pass --catalog FILE, set AIRLOCK_CATALOG, or put your catalog there (fixtures/catalog.json is an example)",
            l.path.display(),
            l.source
        );
    }
    factory::catalog::Catalog::load(&l.path)
}
