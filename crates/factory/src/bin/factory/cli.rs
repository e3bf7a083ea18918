//! Argument parsing and command dispatch for `factory`.

use anyhow::{Context, Result};
use canon::{KeyId, Role};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use clikit::args::Judge;
use clikit::generate::GenerateCmd;
use clikit::input::vendor_trust;
use clikit::report::{self, print_json, s};
use factory::issue::{self, RenewFrom, Request};
use factory::registry::{Registry, View};
use factory::report as book;
use runtime::license::{verify_license, LegacyPolicy};
use runtime::revocation::RevocationList;
use runtime::Artifact;
use runtime::TrustStore;
use signing::clock;
use signing::{PublicKeyFile, SecretKey};
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

#[derive(Subcommand)]
enum Cmd {
    /// Generate a key: NAME.key (0600), NAME.pub and NAME.minisign.pub
    Keygen {
        /// What the key signs: root (trust files), license (licenses, revocation lists),
        /// release (bundles, files) or activation (activation leases)
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The key's name: its files are NAME.key, NAME.pub and NAME.minisign.pub
        #[arg(long)]
        name: String,
        /// Directory for the key files (created; an existing file is never replaced)
        #[arg(long)]
        out: PathBuf,
        /// Print the key id and paths as JSON
        #[arg(long)]
        json: bool,
    },
    /// Sign a trust file (trust.json) with a root key (repeat --root-key to co-sign)
    Trust {
        /// Root key file(s) that sign; during a root rotation the old and the new root co-sign
        #[arg(long, required = true)]
        root_key: Vec<PathBuf>,
        /// Public key files (NAME.pub) to trust
        #[arg(long, num_args = 1..)]
        add: Vec<PathBuf>,
        /// The trust file to write
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
        /// Print the version and key ids as JSON
        #[arg(long)]
        json: bool,
    },
    /// Print the RFC 8785 canonical form of a JSON file (or stdin), exactly, with no newline
    Canon {
        /// File to read; `-` or nothing for standard input
        file: Option<PathBuf>,
    },
    /// Issue a license from the catalog's tier template (or a batch from a JSON Lines file)
    #[command(
        override_usage = "factory issue --tier <TIER> --customer <NAME> --product <ID> --key <KEY> --out <DIR> [OPTIONS]\n       factory issue --batch <FILE> --key <KEY> --out <DIR> [OPTIONS]"
    )]
    Issue(Box<IssueArgs>),
    /// Renew a license: a successor in the same lineage (renewal_of, sequence + 1)
    Renew {
        /// The license to renew (the latest of its lineage)
        license_id: String,
        /// The renewal's expiry: YYYY-MM-DD (midnight UTC) or YYYY-MM-DDTHH:MM:SSZ
        #[arg(long)]
        expires: String,
        /// A license key (NAME.key) to sign the renewal
        #[arg(long)]
        key: PathBuf,
        /// New directory for the renewal's license.json and license.sig
        #[arg(long)]
        out: PathBuf,
        /// Start the renewal now (for a license that already expired) instead of at the old expiry
        #[arg(long)]
        from_now: bool,
        #[command(flatten)]
        signer: Signer,
        #[command(flatten)]
        common: Common,
    },
    /// Revoke a license
    Revoke {
        /// The license to revoke
        license_id: String,
        /// Why (recorded in the registry and the audit log; not published)
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: Common,
    },
    /// Publish a signed revocation list (revocations.json + revocations.sig) of every revoked license
    Revocations {
        /// A license key (NAME.key): revocation lists are signed with the license role
        #[arg(long)]
        key: PathBuf,
        /// Directory for revocations.json and revocations.sig (an older list there is replaced)
        #[arg(long)]
        out: PathBuf,
        /// Replace whatever revocations.json is in --out (by default only an older list is)
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        signer: Signer,
        #[command(flatten)]
        common: Common,
    },
    /// List the license book, optionally one view
    List {
        #[arg(long, value_parser = view_parser())]
        view: Option<View>,
        /// Warning window in days for expiring-soon
        #[arg(long, default_value_t = 30)]
        within: i64,
        /// At most this many rows in all, across views (0 = all)
        #[arg(long, default_value_t = 0)]
        limit: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Show one license with its whole lineage
    Show {
        /// The license to show
        license_id: String,
        /// Warning window in days for expiring-soon
        #[arg(long, default_value_t = 30)]
        within: i64,
        #[command(flatten)]
        common: Common,
    },
    /// Verify a license file against a trust file (the runtime's own verification)
    Verify {
        /// license.json
        license: PathBuf,
        #[command(flatten)]
        judge: Judge,
    },
    /// Re-issue a legacy schema-2 license as schema 3 with renewal_of pointing at it
    Migrate {
        /// The schema-2 license.json to migrate
        license: PathBuf,
        /// A license key (NAME.key) to sign the schema-3 successor
        #[arg(long)]
        key: PathBuf,
        /// New directory for the migrated license.json and license.sig
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        signer: Signer,
        #[command(flatten)]
        common: Common,
    },
    /// Re-write a recorded license's files from the registry (after a crash or loss)
    Export {
        /// The license to write (or --all)
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        license_id: Option<String>,
        /// Every recorded license whose files are missing from OUT/<license_id>/ (the layout
        /// of `issue --batch`); files already there must be the recorded bytes
        #[arg(long)]
        all: bool,
        /// Directory for license.json and license.sig (with --all: one directory per license)
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Show the vendor home and where the registry, catalog and packager state are found
    Home {
        /// Print it as JSON
        #[arg(long)]
        json: bool,
    },
    /// Activations: fulfil requests, list, release and reset seats
    Activation {
        #[command(subcommand)]
        cmd: crate::activation::ActivationCmd,
    },
    /// Install tokens: one-time permissions to activate online without the license key
    Token {
        #[command(subcommand)]
        cmd: crate::activation::TokenCmd,
    },
    /// Check the audit log's hash chain
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    #[command(flatten)]
    Generate(GenerateCmd),
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Recompute the hash chain of every audit event and check every license row against it
    Verify {
        /// A head hash printed by an earlier run: it must still be in the chain (catches a
        /// chain cut back or rewritten below it)
        #[arg(long)]
        head: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
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
/// outside its window, is refused.
#[derive(clap::Args)]
pub(crate) struct Signer {
    /// Trust file: refuse signing keys it marks retired or revoked (default: $AIRLOCK_TRUST)
    #[arg(long)]
    trust: Option<PathBuf>,
}

#[derive(clap::Args)]
struct IssueArgs {
    /// The catalog tier: evaluation, professional or sovereign (required without --batch)
    #[arg(long)]
    tier: Option<String>,
    /// Customer name, 1 to 256 characters (required without --batch)
    #[arg(long)]
    customer: Option<String>,
    /// Customer id (default: derived from the name)
    #[arg(long)]
    customer_id: Option<String>,
    /// Product id from the catalog (required without --batch)
    #[arg(long)]
    product: Option<String>,
    /// Expiry date or time (default: the tier's validity)
    #[arg(long)]
    expires: Option<String>,
    /// A license key (NAME.key) to sign with
    #[arg(long)]
    key: PathBuf,
    /// New directory for license.json and license.sig (with --batch: one directory per
    /// license under it)
    #[arg(long)]
    out: PathBuf,
    /// Product catalog (default: $AIRLOCK_CATALOG, else catalog.json in the vendor home)
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Add a feature of the product (repeatable)
    #[arg(long = "feature")]
    features: Vec<String>,
    /// Override a limit: NAME=N, 0 = unlimited (repeatable)
    #[arg(long = "limit")]
    limits: Vec<String>,
    /// Days the license keeps working after its expiry (default: the tier's)
    #[arg(long)]
    grace_days: Option<u64>,
    /// Seats: how many machines may activate the license, 1 to 10000 (default: the tier's)
    #[arg(long, value_name = "N")]
    device_limit: Option<u64>,
    /// Start of validity: date or time (default: now)
    #[arg(long)]
    not_before: Option<String>,
    /// The customer's workspace the license binds to (default: "default")
    #[arg(long)]
    workspace: Option<String>,
    /// Where the customer's data must stay, e.g. "eu" (recorded in the license)
    #[arg(long)]
    data_residency: Option<String>,
    /// JSON Lines file of requests; writes one directory per license under --out. Run again
    /// after an interruption, it issues only the lines not recorded yet
    #[arg(long, conflicts_with_all = ["tier", "customer", "product", "request_id"])]
    batch: Option<PathBuf>,
    /// Idempotency key: run again with the same key, the recorded license is returned (its
    /// files written again when missing), never a second one
    #[arg(long)]
    request_id: Option<String>,
    #[command(flatten)]
    signer: Signer,
    #[command(flatten)]
    common: Common,
}

/// The registry: `--db`, else `AIRLOCK_DB`, else `factory.db` in the vendor home.
fn locate_db(flag: Option<&Path>) -> Result<clikit::home::Located> {
    clikit::home::locate(flag, "--db", "AIRLOCK_DB", factory::registry::HOME_DB)
}

impl Common {
    fn db(&self) -> Result<clikit::home::Located> {
        locate_db(self.db.as_deref())
    }

    /// The registry, created when missing (and said so): only for commands that record new
    /// licenses.
    fn registry(&self) -> Result<Registry> {
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
    pub(crate) fn trust(&self) -> Result<Option<TrustStore>> {
        let path = self
            .trust
            .clone()
            .or_else(|| clikit::env::path("AIRLOCK_TRUST"));
        path.map(|p| vendor_trust(&p)).transpose()
    }

    fn license_key(&self, path: &Path, now: canon::Timestamp) -> Result<SecretKey> {
        factory::keys::load_signing_key(path, Role::License, self.trust()?.as_ref(), now)
    }
}

impl Cmd {
    /// The command's name and whether it was asked for JSON: under --json every outcome,
    /// failures included, prints the report schema on stdout.
    fn json(&self) -> Option<&'static str> {
        let (name, json) = match self {
            Cmd::Keygen { json, .. } => ("keygen", *json),
            Cmd::Trust { json, .. } => ("trust", *json),
            Cmd::Issue(a) => ("issue", a.common.json),
            Cmd::Renew { common, .. } => ("renew", common.json),
            Cmd::Revoke { common, .. } => ("revoke", common.json),
            Cmd::Revocations { common, .. } => ("revocations", common.json),
            Cmd::List { common, .. } => ("list", common.json),
            Cmd::Show { common, .. } => ("show", common.json),
            Cmd::Verify { judge, .. } => ("verify", judge.json),
            Cmd::Migrate { common, .. } => ("migrate", common.json),
            Cmd::Export { common, .. } => ("export", common.json),
            Cmd::Audit {
                cmd: AuditCmd::Verify { common, .. },
            } => ("audit verify", common.json),
            Cmd::Home { json } => ("home", *json),
            Cmd::Activation { cmd } => cmd.json(),
            Cmd::Token { cmd } => cmd.json(),
            Cmd::Canon { .. } | Cmd::Generate(_) => ("", false),
        };
        json.then_some(name)
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let json = args.cmd.json();
    match (run_cmd(args), json) {
        (Err(e), Some(name)) => report::fail("factory", true, "command", &name, &e),
        (r, _) => r,
    }
}

fn run_cmd(args: Args) -> Result<ExitCode> {
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
                        KeyId::parse(s)
                            .with_context(|| format!("{s:?} is not a key id (16 lowercase hex)"))
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
            if json {
                let v = canon::Value::object(vec![
                    ("path".into(), s(out.display())),
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
        Cmd::Issue(a) => issue_cmd(*a)?,
        Cmd::Renew {
            license_id,
            expires,
            key,
            out,
            from_now,
            signer,
            common,
        } => {
            let now = clock::now()?;
            let key = signer.license_key(&key, now)?;
            let mut reg = common.existing_registry()?;
            let old = reg
                .get(&license_id)?
                .with_context(|| format!("no license {license_id} in the registry"))?;
            let expires = clock::parse_time("--expires", &expires)?;
            let from = if from_now {
                RenewFrom::Now
            } else {
                RenewFrom::OldExpiry
            };
            issue::check_stored(&old, &key, signer.trust()?.as_ref())?;
            let signed = issue::sign(issue::renewal(&old, expires, from, now)?, &key)?;
            let paths = issue::record_one(&mut reg, None, &signed, "renewed", &out, now)?;
            print_issued(&signed, &paths, common.json, now);
        }
        Cmd::Revoke {
            license_id,
            reason,
            common,
        } => {
            let now = clock::now()?;
            if reason.trim().is_empty() {
                anyhow::bail!("--reason must not be empty");
            }
            let mut reg = common.existing_registry()?;
            reg.revoke(&license_id, &reason, now)?;
            if common.json {
                let r = reg.get(&license_id)?.context("revoked license vanished")?;
                print_json(&book::record_json(&r, now, 30));
            } else {
                println!("revoked {license_id}: {reason}");
                println!("publish it: factory revocations --key <license key> --out <dir>");
            }
        }
        Cmd::Revocations {
            key,
            out,
            force,
            signer,
            common,
        } => {
            let now = clock::now()?;
            let key = signer.license_key(&key, now)?;
            let mut reg = common.existing_registry()?;
            let replaces = previous_list(&out, force, reg.last_revocations_sequence()?)?;
            // Publish only from a registry whose rows match the audit chain: a revocation
            // undone with plain SQL must not silently drop out of the list.
            reg.verify_audit()
                .and_then(|_| reg.check_published_still_revoked())
                .map_err(audit_failed)
                .context(
                    "registry check before publishing revocations (run `factory audit verify`)",
                )?;
            let revoked = reg.revoked()?;
            let count = revoked.len();
            let (void_leases, epochs) = factory::activation::revocation_entries(&reg, now)?;
            let (seq, doc, sig) = reg.publish_revocations(now, &key, |seq| {
                let mut v = RevocationList::new(seq, now, revoked.iter().cloned());
                v.revoked_activations = void_leases
                    .iter()
                    .map(
                        |(id, lineage, reason, at)| runtime::revocation::RevokedActivation {
                            activation_id: id.clone(),
                            lineage_id: lineage.clone(),
                            reason: reason.clone(),
                            revoked_at: at.to_string(),
                        },
                    )
                    .collect();
                v.activation_epochs = epochs
                    .iter()
                    .map(|(lineage, min)| runtime::revocation::ActivationEpoch {
                        lineage_id: lineage.clone(),
                        min_epoch: *min,
                    })
                    .collect();
                let canonical = v.to_canonical();
                let env = key.sign_document(canon::Kind::Revocations, &canonical)?;
                Ok((v.to_pretty(), env.to_bytes()))
            })?;
            std::fs::create_dir_all(&out).with_context(|| format!("{}", out.display()))?;
            for (name, bytes) in [("revocations.json", &doc), ("revocations.sig", &sig)] {
                let p = out.join(name);
                signing::fsutil::write_atomic(&p, bytes, 0o644, true)
                    .with_context(|| format!("{}", p.display()))?;
            }
            if common.json {
                print_json(
                    &canon::Value::object(vec![
                        ("sequence".into(), canon::Value::Number(seq as f64)),
                        ("revoked".into(), canon::Value::Number(count as f64)),
                        (
                            "revoked_activations".into(),
                            canon::Value::Number(void_leases.len() as f64),
                        ),
                        (
                            "activation_epochs".into(),
                            canon::Value::Number(epochs.len() as f64),
                        ),
                        ("path".into(), s(out.join("revocations.json").display())),
                    ])
                    .context("json")?,
                );
            } else {
                let replaced =
                    replaces.map_or(String::new(), |p| format!("; replaces sequence {p}"));
                println!(
                    "wrote {}/revocations.json (sequence {seq}, {count} revoked{}{replaced})",
                    out.display(),
                    if void_leases.is_empty() && epochs.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; {} activation leases void, {} license seat resets",
                            void_leases.len(),
                            epochs.len()
                        )
                    }
                );
            }
        }
        Cmd::List {
            view,
            within,
            limit,
            common,
        } => {
            let now = clock::now()?;
            let reg = common.existing_registry()?;
            let views: Vec<View> = match view {
                Some(v) => vec![v],
                None => View::ALL.to_vec(),
            };
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            // Rows are streamed: memory stays flat however large the view.
            let result = (|| -> Result<()> {
                if common.json {
                    w.write_all(b"[")?;
                } else {
                    writeln!(w, "{}", book::HEADER)?;
                }
                let mut first = true;
                // --limit counts rows of the whole listing, across views.
                let mut printed: u64 = 0;
                for v in views {
                    let room = match limit {
                        0 => 0,
                        n if printed >= n => break,
                        n => n - printed,
                    };
                    reg.for_each(v, now, within, room, |r| {
                        printed += 1;
                        if common.json {
                            w.write_all(if first { b"\n" } else { b",\n" })?;
                            w.write_all(&book::record_json(&r, now, within).to_canonical())?;
                        } else {
                            writeln!(w, "{}", book::record_line(&r, now, within))?;
                        }
                        first = false;
                        Ok(())
                    })?;
                }
                if common.json {
                    w.write_all(if first { b"]\n" } else { b"\n]\n" })?;
                }
                w.flush()?;
                Ok(())
            })();
            if let Err(e) = result {
                let broken = e.chain().any(|c| {
                    c.downcast_ref::<std::io::Error>()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                });
                if !broken {
                    return Err(e).context("factory list");
                }
            }
        }
        Cmd::Show {
            license_id,
            within,
            common,
        } => {
            let now = clock::now()?;
            let reg = common.existing_registry()?;
            let r = reg
                .get(&license_id)?
                .with_context(|| format!("no license {license_id} in the registry"))?;
            let lineage = reg.lineage(&r.lineage_id)?;
            if common.json {
                print_json(
                    &canon::Value::object(vec![
                        ("license".into(), book::record_json(&r, now, within)),
                        (
                            "lineage".into(),
                            canon::Value::Array(
                                lineage
                                    .iter()
                                    .map(|x| book::record_json(x, now, within))
                                    .collect(),
                            ),
                        ),
                    ])
                    .context("json")?,
                );
            } else {
                println!("license     {}", r.license_id);
                println!("key         {}", r.license_key);
                println!("customer    {} ({})", r.customer_name, r.customer_id);
                println!("product     {} / tier {}", r.product, r.tier);
                println!("valid       {} .. {}", r.not_before, r.expires_at);
                println!("view        {}", View::of(&r, now, within).as_str());
                if let (Some(at), Some(why)) = (r.revoked_at, &r.revoke_reason) {
                    println!("revoked     {at}: {why}");
                }
                println!("lineage     {}", r.lineage_id);
                for x in &lineage {
                    let mark = if x.license_id == r.license_id {
                        "*"
                    } else {
                        " "
                    };
                    println!(
                        "  {mark} #{} {} {} .. {} [{}]",
                        x.sequence,
                        x.license_id,
                        x.not_before,
                        x.expires_at,
                        View::of(x, now, within).as_str()
                    );
                }
            }
        }
        Cmd::Home { json } => home(json)?,
        Cmd::Activation { cmd } => return crate::activation::run(cmd),
        Cmd::Token { cmd } => return crate::activation::token(cmd),
        Cmd::Verify { license, judge } => {
            let Judge {
                trust,
                sig,
                at,
                json,
            } = judge;
            let now = clock::at_or_now(at.as_deref())?;
            let trust = vendor_trust(&trust)?;
            let doc = std::fs::read(&license).with_context(|| format!("{}", license.display()))?;
            let sig_path = sig.unwrap_or_else(|| license.with_file_name("license.sig"));
            let sig_bytes = match std::fs::read(&sig_path) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).with_context(|| format!("{}", sig_path.display())),
            };
            let v = verify_license(
                &trust,
                &doc,
                sig_bytes.as_deref(),
                &LegacyPolicy::default(),
                now,
            )
            .with_context(|| format!("{}", license.display()))?;
            let st = runtime::license::Standing::of(&v, now, runtime::license::DEFAULT_WARN_DAYS);
            if json {
                print_json(&clikit::report::license(&license, &v, &st)?);
            } else {
                if v.is_legacy() {
                    eprintln!("warning: {} is a deprecated schema-2 license; migrate it with `factory migrate`", license.display());
                }
                println!("{}", clikit::report::license_line(&license, &v, &st));
            }
            if !st.usable() {
                return Ok(ExitCode::from(clikit::outcome::EXIT_REJECTED));
            }
        }
        Cmd::Migrate {
            license,
            key,
            out,
            signer,
            common,
        } => {
            let now = clock::now()?;
            let trust = signer.trust()?.context("migrate needs --trust (or AIRLOCK_TRUST) to verify the legacy license before re-signing it")?;
            let key = factory::keys::load_signing_key(&key, Role::License, Some(&trust), now)?;
            let doc = std::fs::read(&license).with_context(|| format!("{}", license.display()))?;
            let policy = LegacyPolicy::allowing_after_cutoff(true);
            let old = verify_license(&trust, &doc, None, &policy, now)
                .with_context(|| format!("{}", license.display()))?;
            if !old.is_legacy() {
                anyhow::bail!(
                    "{} is already a schema-3 license; nothing to migrate",
                    license.display()
                );
            }
            let mut reg = common.registry()?;
            // Migrated once already: name its successor instead of a raw constraint error.
            if let Some(done) = reg.get(&old.license().license_id)? {
                match &done.renewed_by {
                    Some(by) => anyhow::bail!(
                        "legacy license {} was already migrated: its schema-3 successor is {by} (write its files again with `factory export {by} --out DIR`)",
                        done.license_id
                    ),
                    None => anyhow::bail!(
                        "license {} is already in the registry; nothing to migrate",
                        done.license_id
                    ),
                }
            }
            let (legacy_row, new) = issue::migration(&old, &doc, now)?;
            let signed = issue::sign(new, &key)?;
            let paths =
                issue::record_one(&mut reg, Some(legacy_row), &signed, "migrated", &out, now)?;
            print_issued(&signed, &paths, common.json, now);
        }
        Cmd::Export {
            license_id,
            all,
            out,
            common,
        } => {
            let reg = common.existing_registry()?;
            if all {
                let ids = reg.license_ids()?;
                let mut restored = 0u64;
                for id in &ids {
                    let r = reg
                        .get(id)?
                        .with_context(|| format!("license {id} vanished from the registry"))?;
                    if issue::restore_files(&r, &out.join(id), true)? {
                        restored += 1;
                    }
                }
                if common.json {
                    print_json(&report::valid(
                        "command",
                        &"export",
                        vec![
                            ("licenses", report::n(ids.len() as u64)),
                            ("restored", report::n(restored)),
                            ("out", s(out.display())),
                        ],
                    )?);
                } else {
                    println!(
                        "{} licenses in the registry; wrote the files of {restored} that were missing under {}",
                        ids.len(),
                        out.display()
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let license_id = license_id.context("a license id or --all is required")?;
            let r = reg
                .get(&license_id)?
                .with_context(|| format!("no license {license_id} in the registry"))?;
            let (json, sig) = issue::files_of(&r)?;
            let paths = issue::write_files(&out, &json, &sig)?;
            if common.json {
                print_json(&report::valid(
                    "command",
                    &"export",
                    vec![
                        ("license_id", s(&license_id)),
                        ("license", s(paths[0].display())),
                        ("signature", s(paths[1].display())),
                    ],
                )?);
            } else {
                println!("wrote {} and {}", paths[0].display(), paths[1].display());
            }
        }
        Cmd::Generate(g) => return g.run(Args::command()),
        Cmd::Audit {
            cmd: AuditCmd::Verify { head, common },
        } => {
            for h in &head {
                factory::audit::check_head(h)?;
            }
            let reg = common.existing_registry()?;
            let (n, current) = reg
                .verify_audit()
                .map_err(audit_failed)
                .context("audit log")?;
            for h in &head {
                if !reg.has_audit_hash(h)? {
                    return Err(anyhow::Error::new(runtime::check::Failed::new(
                        runtime::Check::AuditInvalid,
                        format!(
                            "the recorded head {h} is not in the audit chain: the log was cut back or rewritten"
                        ),
                    )))
                    .context("audit log");
                }
            }
            if common.json {
                print_json(&report::valid(
                    "command",
                    &"audit verify",
                    vec![("events", report::n(n)), ("head", s(&current))],
                )?);
            } else {
                println!("audit log OK: {n} events, hash chain intact, every license row matches");
                println!(
                    "head {current} (record it; later: factory audit verify --head {current})"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--view`: the names of [`View::as_str`].
fn view_parser() -> impl clap::builder::TypedValueParser<Value = View> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(View::ALL.map(View::as_str))
        .map(|s: String| View::parse(&s).expect("a listed view"))
}

/// Finds the catalog: `--catalog`, else `AIRLOCK_CATALOG` (old name `FACTORY_CATALOG`), else
/// `HOME_CATALOG` in the vendor home.
fn locate_catalog(flag: Option<&Path>) -> Result<clikit::home::Located> {
    clikit::home::locate(
        flag,
        "--catalog",
        "AIRLOCK_CATALOG",
        factory::catalog::HOME_CATALOG,
    )
}

/// Loads the located catalog; a missing one says where it was looked for and how to give it.
fn load_located(l: &clikit::home::Located) -> Result<factory::catalog::Catalog> {
    if !l.path.exists() {
        anyhow::bail!(
            "no catalog at {} ({}): pass --catalog FILE, set AIRLOCK_CATALOG, or put your catalog there (fixtures/catalog.json is an example)",
            l.path.display(),
            l.source
        );
    }
    factory::catalog::Catalog::load(&l.path)
}

/// An audit failure as the `audit_invalid` check: an edit found, or an audit that could not
/// finish (then nothing vouches for the registry either). A failure that names its own check
/// keeps it.
fn audit_failed(e: anyhow::Error) -> anyhow::Error {
    if runtime::check::of(e.as_ref()).is_some() {
        return e;
    }
    anyhow::Error::new(runtime::check::Failed::new(
        runtime::Check::AuditInvalid,
        format!("{e:#}"),
    ))
}

fn print_issued(signed: &issue::Signed, paths: &[PathBuf; 2], json: bool, now: canon::Timestamp) {
    if json {
        print_json(&book::record_json(&signed.record, now, 30));
    } else {
        println!("{}", signed.license.license_id);
        eprintln!(
            "issued {} ({} {} for {}, until {}): {} + {}",
            signed.license.license_key,
            signed.license.product,
            signed.license.tier,
            signed.license.customer.name,
            signed.license.expires_at,
            paths[0].display(),
            paths[1].display()
        );
    }
}

fn issue_cmd(a: IssueArgs) -> Result<()> {
    let now = clock::now()?;
    let key = a.signer.license_key(&a.key, now)?;
    let catalog = load_located(&locate_catalog(a.catalog.as_deref())?)?;
    // Every request is validated before the registry is opened: a mistyped first request
    // never leaves a new, empty registry behind.
    if let Some(batch) = &a.batch {
        let bytes = std::fs::read(batch).with_context(|| format!("{}", batch.display()))?;
        let text = std::str::from_utf8(&bytes)
            .with_context(|| format!("{}: not UTF-8", batch.display()))?;
        // A line without its own request_id is keyed by the file's digest and its line
        // number: the same file run again resumes it (docs/CLI.md).
        let digest = &canon::enc::sha256_hex(&bytes)[..16];
        let mut reqs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let canonical = canon::canonicalize(line.as_bytes())
                .with_context(|| format!("{} line {}", batch.display(), i + 1))?;
            let mut r: Request = serde_json::from_slice(&canonical)
                .with_context(|| format!("{} line {}", batch.display(), i + 1))?;
            if r.request_id.is_none() {
                r.request_id = Some(format!("batch-{digest}-line-{}", i + 1));
            }
            reqs.push(r);
        }
        let bar = indicatif::ProgressBar::new(reqs.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} licenses {per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let licenses = issue::build_batch(&catalog, &reqs, now)?;
        let mut reg = a.common.registry()?;
        let done = issue::issue_batch(&mut reg, &key, &reqs, licenses, &a.out, now, |n| {
            bar.inc(n as u64)
        })?;
        bar.finish_and_clear();
        if a.common.json {
            let mut rows = Vec::with_capacity(done.ids.len());
            for id in &done.ids {
                let r = reg
                    .get(id)?
                    .with_context(|| format!("license {id} is missing from the registry"))?;
                rows.push(book::record_json(&r, now, 30));
            }
            print_json(&canon::Value::Array(rows));
        } else {
            let out = std::io::stdout();
            let mut w = std::io::BufWriter::new(out.lock());
            for id in &done.ids {
                let _ = writeln!(w, "{id}");
            }
        }
        eprintln!(
            "issued {} licenses into {}{}",
            done.issued.len(),
            a.out.display(),
            if done.already > 0 {
                format!(
                    "; {} lines were already recorded by an earlier run (not issued again; {} had their files written again)",
                    done.already, done.restored
                )
            } else {
                String::new()
            }
        );
        return Ok(());
    }
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .with_context(|| format!("{flag} is required (or use --batch)"))
    };
    let mut limits = std::collections::BTreeMap::new();
    for l in &a.limits {
        let (k, v) = l
            .split_once('=')
            .with_context(|| format!("--limit {l:?} must be NAME=N"))?;
        let n: u64 = v
            .parse()
            .with_context(|| format!("--limit {l:?}: {v:?} is not a whole number"))?;
        limits.insert(k.to_string(), n);
    }
    let req = Request {
        tier: need(&a.tier, "--tier")?,
        customer: need(&a.customer, "--customer")?,
        customer_id: a.customer_id.clone(),
        product: need(&a.product, "--product")?,
        expires: a.expires.clone(),
        not_before: a.not_before.clone(),
        features: a.features.clone(),
        limits,
        grace_days: a.grace_days,
        device_limit: a.device_limit,
        workspace: a.workspace.clone(),
        data_residency: a.data_residency.clone(),
        request_id: a.request_id.clone(),
    };
    let license = issue::build(&catalog, &req, now)?;
    if let Some(k) = &req.request_id {
        issue::check_request_id(k)?;
    }
    let mut reg = a.common.registry()?;
    if let Some(k) = &req.request_id {
        // Already recorded (an earlier run was interrupted, or this is a retry): the same
        // license, its files written again when missing; never a second license.
        if let Some(id) = reg.recorded_requests(&[k.as_str()])?.remove(k) {
            let r = reg
                .get(&id)?
                .with_context(|| format!("license {id} is missing from the registry"))?;
            let restored = issue::restore_files(&r, &a.out, true)?;
            eprintln!(
                "request {k} was already recorded as license {id}; not issued again{}",
                if restored {
                    " (its files were written again)"
                } else {
                    ""
                }
            );
            if a.common.json {
                print_json(&book::record_json(&r, now, 30));
            } else {
                println!("{id}");
            }
            return Ok(());
        }
    }
    let mut signed = issue::sign(license, &key)?;
    signed.request_id = req.request_id.clone();
    let paths = issue::record_one(&mut reg, None, &signed, "issued", &a.out, now)?;
    print_issued(&signed, &paths, a.common.json, now);
    Ok(())
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

/// `factory home`: the vendor home and the three files the vendor commands find through it.
fn home(json: bool) -> Result<()> {
    let (dir, how) = clikit::home::vendor_home()?;
    let files = [
        ("registry", locate_db(None)?),
        ("catalog", locate_catalog(None)?),
        (
            "packager_state",
            clikit::home::locate(
                None,
                "--state",
                "AIRLOCK_PACKAGER_STATE",
                clikit::home::PACKAGER_STATE,
            )?,
        ),
    ];
    if json {
        let mut m = vec![(
            "home".to_string(),
            canon::Value::object(vec![
                ("path".into(), s(dir.display())),
                ("source".into(), s(&how)),
            ])
            .context("json")?,
        )];
        for (name, l) in &files {
            m.push((
                name.to_string(),
                canon::Value::object(vec![
                    ("path".into(), s(l.path.display())),
                    ("source".into(), s(&l.source)),
                    ("exists".into(), canon::Value::Bool(l.path.exists())),
                ])
                .context("json")?,
            ));
        }
        print_json(&canon::Value::object(m).context("json")?);
    } else {
        println!("vendor home     {} ({how})", dir.display());
        for (name, l) in &files {
            let missing = if l.path.exists() {
                ""
            } else {
                ", not there yet"
            };
            println!(
                "{:<15} {} ({}{missing})",
                name.replace('_', " "),
                l.path.display(),
                l.source
            );
        }
    }
    Ok(())
}

/// The sequence of the revocation list already in `out`, which a new list will replace. Only
/// an older list is replaced: a file that is not a revocation list, or a list as new as the
/// registry's next one (from another registry, or copied there by hand), is refused unless
/// `force`, so that publishing never silently destroys a list.
fn previous_list(out: &Path, force: bool, last: u64) -> Result<Option<u64>> {
    let p = out.join("revocations.json");
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("{}", p.display())),
    };
    if force {
        return Ok(None);
    }
    let seq = RevocationList::parse(&bytes).ok().map(|l| l.0.sequence);
    match seq {
        Some(n) if n <= last => Ok(Some(n)),
        Some(n) => anyhow::bail!(
            "{} is revocation list #{n}, newer than this registry's last (#{last}): it was not published from this registry; refusing to replace it (choose another --out, or pass --force)",
            p.display()
        ),
        None => anyhow::bail!(
            "{} exists and is not a revocation list; refusing to replace it (choose another --out, or pass --force)",
            p.display()
        ),
    }
}
