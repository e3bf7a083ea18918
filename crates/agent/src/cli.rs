//! Commands of `airlock-agent`.
//!
//! State directory layout (beside the runtime's `state.json`):
//! - `agent/instance.key`: the instance key (Airlock key file, role `instance`, mode 0600);
//! - `instance-id`: the random machine id of the last resort (only when no other source has
//!   one; see `runtime::fingerprint`);
//! - `activation/<product>/request.json`: the last request made for the product;
//! - `activation/<product>/activation.json` + `activation.sig`: the installed lease.

use anyhow::{bail, Context, Result};
use canon::{enc, Kind, Role, Timestamp};
use clap::{CommandFactory, Parser, Subcommand};
use clikit::generate::GenerateCmd;
use clikit::input::read_capped;
use rand_core::{OsRng, RngCore};
use runtime::activation::{self, Activation, SignedFile, LEASE_FILE};
use runtime::fingerprint::{self, Fingerprint, Sources};
use runtime::session::{Clock, Session};
use signing::SecretKey;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) use crate::offline::*;

/// The instance key's path in a state directory.
pub(crate) const KEY_FILE: &str = "agent/instance.key";
/// The last request's file name in `activation/<product>/`.
pub(crate) const REQUEST_FILE: &str = "request.json";

#[derive(Parser)]
#[command(
    name = "airlock-agent",
    version,
    about = "Airlock: activate this machine offline (request, install, deactivate) or online (activate, run, update)"
)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Print this machine's fingerprint for a product and where its stable id comes from
    Id {
        /// The product id (each product gets its own fingerprint)
        #[arg(long)]
        product: String,
        /// State directory: where a random id is created once when the machine has none
        #[arg(long)]
        state: Option<PathBuf>,
        /// Print it as JSON
        #[arg(long)]
        json: bool,
    },
    /// Make a signed activation request for the license, to carry to the vendor
    Request {
        /// The license directory (license.json)
        #[arg(long)]
        license: PathBuf,
        /// State directory (the instance key is made there at first use)
        #[arg(long)]
        state: PathBuf,
        /// The request file to write
        #[arg(long)]
        out: PathBuf,
        /// A name for this machine, shown in the vendor's seat list
        #[arg(long, default_value = "")]
        label: String,
        /// An encrypted build (bundle id, bnd-...) whose content key the lease should carry;
        /// repeat for several (`runtime-verify BUNDLE --json` shows a bundle's id)
        #[arg(long, value_name = "BUNDLE_ID")]
        build: Vec<String>,
        /// Ask for a pool lease: this machine is a seat server (`airlock-seatd`) leasing
        /// floating seats to nodes (the license's tier must float)
        #[arg(long)]
        pool: bool,
        /// Replace an existing --out file
        #[arg(long)]
        force: bool,
        /// Print it as JSON
        #[arg(long)]
        json: bool,
    },
    /// Verify the vendor's answer (DIR/activation.json + .sig) and install it
    Install {
        /// The directory holding activation.json and activation.sig
        dir: PathBuf,
        /// Trust file (trust.json); repeat it to pass a chain
        #[arg(long, required = true)]
        trust: Vec<PathBuf>,
        /// The vendor's root key for a first use of the state directory (a key id, a base64
        /// public key, or a root NAME.pub file; also $AIRLOCK_ROOT or STATE/root.pub)
        #[arg(long, value_name = "KEY_ID_OR_PUB")]
        root: Vec<String>,
        /// State directory
        #[arg(long)]
        state: PathBuf,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show the installed activations (as installed; `runtime-verify activation` verifies)
    Status {
        /// State directory
        #[arg(long)]
        state: PathBuf,
        /// Print it as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove this machine's activation and write a receipt the vendor uses to free the seat
    Deactivate {
        /// State directory
        #[arg(long)]
        state: PathBuf,
        /// The receipt file to write
        #[arg(long)]
        out: PathBuf,
        /// The product (needed when several are activated here)
        #[arg(long)]
        product: Option<String>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Activate this machine online: a signed request to the service, the lease verified and
    /// installed (with --token, the license too)
    Activate {
        /// The service, e.g. https://activation.example.com
        #[arg(long, value_name = "URL")]
        server: String,
        /// The license directory: read (license.json); with --token, where the license the
        /// service sends is written
        #[arg(long)]
        license: PathBuf,
        /// An install token (airlock-token:...), or @FILE holding one
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
        /// A name for this machine, shown in the vendor's seat list
        #[arg(long, default_value = "")]
        label: String,
        /// An encrypted build (bundle id) whose content key the lease should carry; repeat for
        /// several. Renewals carry the keys given before
        #[arg(long, value_name = "BUNDLE_ID")]
        build: Vec<String>,
        /// Ask for a pool lease: this machine is a seat server (`airlock-seatd`); renewals
        /// (`run`) keep it one
        #[arg(long)]
        pool: bool,
        #[command(flatten)]
        online: OnlineArgs,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Keep online leases fresh: renew each at its renew_after; back off with jitter (and
    /// Retry-After) while the service is unreachable. Exit (--once): 0 fine, 4 due but the
    /// service did not answer, 5 a lease ended, 1 refused
    Run {
        /// One pass, then exit (for cron or a systemd timer)
        #[arg(long)]
        once: bool,
        /// Renew every online lease now, due or not (after the vendor changed the license)
        #[arg(long)]
        force: bool,
        /// Hold a floating seat of this seat server instead: claim it, renew it at half its
        /// lease, wait as the server says while the pool is full, release it on SIGTERM or
        /// SIGINT
        #[arg(long, value_name = "URL", requires = "license", conflicts_with_all = ["once", "force"])]
        seat_server: Option<String>,
        /// The license directory (with --seat-server)
        #[arg(long, requires = "seat_server")]
        license: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        online: OnlineArgs,
    },
    /// Fetch the newest bundle the license allows from the service, verify it with the
    /// runtime and (with --extract) install it
    Update {
        /// The product (needed when several are activated here)
        #[arg(long)]
        product: Option<String>,
        /// Extract the verified bundle into this new directory (a sealed one is opened with
        /// the build key this machine's lease carries)
        #[arg(long, value_name = "DIR")]
        extract: Option<PathBuf>,
        /// The release channel (one the license's tier includes)
        #[arg(long, default_value = "stable")]
        channel: String,
        #[command(flatten)]
        online: OnlineArgs,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Claim a floating seat from the customer's seat server (airlock-seatd), or renew the one
    /// this node holds; with --borrow-hours, check it out to leave the network
    Claim {
        /// The seat server, e.g. http://seatd.internal:8700
        #[arg(long, value_name = "URL")]
        seat_server: String,
        /// The license directory (license.json)
        #[arg(long)]
        license: PathBuf,
        /// Borrow the seat for this many hours (up to the pool's limit); `borrow` says it
        #[arg(long, value_name = "N")]
        borrow_hours: Option<u64>,
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        online: OnlineArgs,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Borrow a floating seat for hours or days to leave the network (up to the pool's
    /// limit); `return` gives it back early
    Borrow {
        /// The seat server
        #[arg(long, value_name = "URL")]
        seat_server: String,
        /// The license directory (license.json)
        #[arg(long)]
        license: PathBuf,
        /// How many hours
        #[arg(long, value_name = "N")]
        hours: u64,
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        online: OnlineArgs,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Give this node's floating seat back to the seat server
    Release {
        /// The seat server
        #[arg(long, value_name = "URL")]
        seat_server: String,
        /// The license directory (license.json)
        #[arg(long)]
        license: PathBuf,
        #[command(flatten)]
        online: OnlineArgs,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Return a borrowed seat early (the same as `release`)
    Return {
        /// The seat server
        #[arg(long, value_name = "URL")]
        seat_server: String,
        /// The license directory (license.json)
        #[arg(long)]
        license: PathBuf,
        #[command(flatten)]
        online: OnlineArgs,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Fetch a short-lived registry pull token from the activation service (the registry
    /// token protocol): printed on stdout, e.g. for `skopeo copy --src-registry-token`
    RegistryToken {
        /// The scope, repository:NAME:pull (repeat for several)
        #[arg(long, required = true)]
        scope: Vec<String>,
        /// The product (needed when several are activated here)
        #[arg(long)]
        product: Option<String>,
        #[command(flatten)]
        online: OnlineArgs,
        /// Print the token and what it grants as JSON
        #[arg(long)]
        json: bool,
    },
    #[command(flatten)]
    Generate(GenerateCmd),
}

/// How a node names itself to a seat server.
#[derive(clap::Args)]
pub(crate) struct NodeArgs {
    /// A name for this node, shown to the seat server's administrator and matched by its
    /// reservations
    #[arg(long, default_value = "")]
    name: String,
    /// The group this node belongs to (the seat server may reserve seats for it)
    #[arg(long, default_value = "")]
    group: String,
}

impl NodeArgs {
    fn identity(&self) -> crate::node::Identity {
        crate::node::Identity {
            name: self.name.clone(),
            group: self.group.clone(),
        }
    }
}

/// What every online command needs.
#[derive(clap::Args)]
pub(crate) struct OnlineArgs {
    /// State directory
    #[arg(long)]
    state: PathBuf,
    /// Trust file (trust.json); repeat it to pass a chain
    #[arg(long, required = true)]
    trust: Vec<PathBuf>,
    /// The vendor's root key for a first use of the state directory
    #[arg(long, value_name = "KEY_ID_OR_PUB")]
    root: Vec<String>,
    /// A CA certificate (PEM) to trust for an https service (instead of none)
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

impl OnlineArgs {
    fn online(&self) -> crate::online::Online<'_> {
        crate::online::Online {
            state: &self.state,
            trust: &self.trust,
            roots: &self.root,
            ca: self.ca.as_deref(),
        }
    }
}

impl Cmd {
    /// The command's name and whether it reports in JSON.
    fn report(&self) -> (&'static str, bool) {
        match self {
            Cmd::Id { json, .. } => ("id", *json),
            Cmd::Request { json, .. } => ("request", *json),
            Cmd::Install { json, .. } => ("install", *json),
            Cmd::Status { json, .. } => ("status", *json),
            Cmd::Deactivate { json, .. } => ("deactivate", *json),
            Cmd::Activate { json, .. } => ("activate", *json),
            Cmd::Update { json, .. } => ("update", *json),
            Cmd::RegistryToken { json, .. } => ("registry-token", *json),
            Cmd::Claim { json, .. } => ("claim", *json),
            Cmd::Borrow { json, .. } => ("borrow", *json),
            Cmd::Release { json, .. } => ("release", *json),
            Cmd::Return { json, .. } => ("return", *json),
            Cmd::Run { .. } => ("run", false),
            Cmd::Generate(_) => ("generate", false),
        }
    }
}

/// Runs a command; under `--json` every failure is the JSON report on stdout too (`valid`
/// false, `check`, `error`), with its line on stderr and its exit code.
pub fn run(args: Args) -> Result<ExitCode> {
    let (command, json) = args.cmd.report();
    match dispatch(args) {
        Err(e) if json => clikit::report::fail("airlock-agent", true, "command", &command, &e),
        other => other,
    }
}

pub(crate) fn dispatch(args: Args) -> Result<ExitCode> {
    match args.cmd {
        Cmd::Id {
            product,
            state,
            json,
        } => id_cmd(&product, state.as_deref(), json),
        Cmd::Request {
            license,
            state,
            out,
            label,
            build,
            pool,
            force,
            json,
        } => request_cmd(&license, &state, &out, (&label, &build, pool), force, json),
        Cmd::Install {
            dir,
            trust,
            root,
            state,
            json,
        } => install_cmd(&dir, &trust, &root, &state, json),
        Cmd::Status { state, json } => status_cmd(&state, json),
        Cmd::Deactivate {
            state,
            out,
            product,
            json,
        } => deactivate_cmd(&state, &out, product.as_deref(), json),
        Cmd::Activate {
            server,
            license,
            token,
            label,
            build,
            pool,
            online,
            json,
        } => {
            crate::cli::ensure_state(&online.state)?;
            crate::online::activate_cmd(
                &online.online(),
                &server,
                &license,
                token.as_deref(),
                (&label, &build, pool),
                json,
            )
        }
        Cmd::Run {
            seat_server: Some(server),
            license: Some(license),
            node,
            online,
            ..
        } => {
            crate::cli::ensure_state(&online.state)?;
            crate::node::run_cmd(&online.online(), (&server, &license), node.identity())
        }
        Cmd::Run {
            once,
            force,
            online,
            ..
        } => crate::online::run_cmd(&online.online(), once, force),
        Cmd::Update {
            product,
            extract,
            channel,
            online,
            json,
        } => crate::update::update_cmd(
            &online.online(),
            (product.as_deref(), &channel),
            extract.as_deref(),
            json,
        ),
        Cmd::Claim {
            seat_server,
            license,
            borrow_hours,
            node,
            online,
            json,
        } => {
            crate::cli::ensure_state(&online.state)?;
            let o = online.online();
            crate::node::claim_cmd(
                &o,
                (&seat_server, &license),
                node.identity(),
                borrow_hours,
                json,
            )
        }
        Cmd::Borrow {
            seat_server,
            license,
            hours,
            node,
            online,
            json,
        } => {
            crate::cli::ensure_state(&online.state)?;
            let o = online.online();
            crate::node::claim_cmd(
                &o,
                (&seat_server, &license),
                node.identity(),
                Some(hours),
                json,
            )
        }
        Cmd::Release {
            seat_server,
            license,
            online,
            json,
        } => crate::node::release_cmd(&online.online(), (&seat_server, &license), "release", json),
        Cmd::Return {
            seat_server,
            license,
            online,
            json,
        } => crate::node::release_cmd(&online.online(), (&seat_server, &license), "return", json),
        Cmd::RegistryToken {
            scope,
            product,
            online,
            json,
        } => crate::update::registry_token_cmd(&online.online(), product.as_deref(), &scope, json),
        Cmd::Generate(g) => g.run(clikit::parse::with_exit_codes(
            Args::command(),
            crate::EXIT_CODES,
        )),
    }
}

pub(crate) fn now() -> Result<Timestamp> {
    Ok(clikit::input::clock(None)?.now())
}

pub(crate) fn check_product(product: &str) -> Result<()> {
    if !runtime::license::valid_id(product) {
        bail!("--product {product:?} must be 1-128 characters of A-Z a-z 0-9 . _ : -");
    }
    Ok(())
}

/// Creates the state directory as the runtime expects it (0700), if missing.
pub(crate) fn ensure_state(state: &Path) -> Result<()> {
    if !state.exists() {
        std::fs::create_dir_all(state).with_context(|| format!("{}", state.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(state, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("{}", state.display()))?;
        }
    }
    Ok(())
}

/// This machine's fingerprint; with a state directory and no other source, a random id is
/// created there once (and kept: the same fingerprint ever after).
pub(crate) fn fingerprint_of(product: &str, state: Option<&Path>) -> Result<Fingerprint> {
    let sources = Sources::system(state);
    match fingerprint::of(product, &sources) {
        Err(runtime::fingerprint::FingerprintError::NoSource) if state.is_some() => {
            let dir = state.expect("checked");
            ensure_state(dir)?;
            let path = dir.join(fingerprint::STATE_ID_FILE);
            let mut b = [0u8; 16];
            OsRng.fill_bytes(&mut b);
            let mut id = enc::hex(&b);
            id.push('\n');
            // Never replaces one (two agents racing: the first one's id wins for both).
            match signing::fsutil::write_atomic(&path, id.as_bytes(), 0o600, false) {
                Ok(()) => eprintln!(
                    "note: no machine id here; created a random one in {} (keep the state directory: it is this machine's identity)",
                    path.display()
                ),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
            }
            Ok(fingerprint::of(product, &sources)?)
        }
        r => Ok(r?),
    }
}

/// The instance key, made at first use (0600; never replaced).
pub(crate) fn instance_key(state: &Path, create: bool) -> Result<SecretKey> {
    let path = state.join(KEY_FILE);
    if path.exists() {
        return SecretKey::load(&path).with_context(|| "the instance key".to_string());
    }
    if !create {
        bail!(
            "{}: no instance key: this machine never made an activation request",
            path.display()
        );
    }
    ensure_state(state)?;
    let dir = state.join("agent");
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    let key = SecretKey::generate("instance", Role::Instance, now()?)?;
    let bytes = key
        .to_file_bytes()
        .context("a generated instance key is a key file")?;
    match signing::fsutil::write_atomic(&path, &bytes, 0o600, false) {
        Ok(()) => Ok(key),
        // Another agent made it meanwhile: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(SecretKey::load(&path)?),
        Err(e) => Err(e).with_context(|| format!("{}", path.display())),
    }
}

/// The machine's encryption key (X25519, role `machine`), made at first use like the instance
/// key: build keys are wrapped to it.
pub(crate) fn encryption_key(state: &Path) -> Result<seal::keyfile::EncryptionKey> {
    use seal::keyfile::{EncRole, EncryptionKey};
    let path = state.join(runtime::activation::ENCRYPTION_KEY_FILE);
    if path.exists() {
        return EncryptionKey::load(&path, EncRole::Machine)
            .with_context(|| "the machine's encryption key".to_string());
    }
    ensure_state(state)?;
    let dir = state.join("agent");
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    let key = EncryptionKey::generate("machine", EncRole::Machine, now()?)?;
    match signing::fsutil::write_atomic(&path, &key.to_file_bytes(), 0o600, false) {
        Ok(()) => Ok(key),
        // Another agent made it meanwhile: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(EncryptionKey::load(&path, EncRole::Machine)?)
        }
        Err(e) => Err(e).with_context(|| format!("{}", path.display())),
    }
}

pub(crate) fn signed_file(key: &SecretKey, kind: Kind, canonical: Vec<u8>) -> Result<Vec<u8>> {
    let envelope = key.sign_document(kind, &canonical)?;
    Ok(SignedFile {
        canonical,
        envelope,
    }
    .to_bytes())
}

/// Opens a session on the state directory with the trust files (and roots for a first use).
pub(crate) fn session(trust: &[PathBuf], roots: &[String], state: &Path) -> Result<Session> {
    let files = trust
        .iter()
        .map(|p| read_capped(p, runtime::trust::MAX_TRUST_BYTES as u64))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
    let anchors = clikit::input::root_anchors(roots, Some(state), false)?;
    let clock = Clock::System(now()?);
    Session::begin(Some(state), clock, &refs, anchors.as_ref()).with_context(|| "trust".to_string())
}

/// The one installed activation of `product`, or the only one when none is named.
pub(crate) fn one_installed(
    state: &Path,
    product: Option<&str>,
) -> Result<(String, runtime::activation::Activation)> {
    let list = installed(state)?;
    match product {
        Some(p) => list
            .into_iter()
            .find(|(q, _)| q == p)
            .with_context(|| format!("no activation of product {p} is installed")),
        None => {
            let mut it = list.into_iter();
            match (it.next(), it.next()) {
                (Some(one), None) => Ok(one),
                (None, _) => bail!("no activation is installed in {}", state.display()),
                (Some(_), Some(_)) => bail!("several products are activated here; pass --product"),
            }
        }
    }
}

/// The installed activations: product and lease (parsed, not verified).
pub(crate) fn installed(state: &Path) -> Result<Vec<(String, Activation)>> {
    let root = state.join(activation::DIR);
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(out);
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    for product in names {
        let dir = root.join(&product);
        if dir.join(LEASE_FILE).exists() {
            let (a, _, _) = read_lease(&dir)?;
            out.push((product, a));
        }
    }
    Ok(out)
}
