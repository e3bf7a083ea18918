//! Commands of `airlock-agent`.
//!
//! State directory layout (beside the runtime's `state.json`):
//! - `agent/instance.key`: the instance key (Airlock key file, role `instance`, mode 0600);
//! - `instance-id`: the random machine id of the last resort (only when no other source has
//!   one; see `runtime::fingerprint`);
//! - `activation/<product>/request.json`: the last request made for the product;
//! - `activation/<product>/activation.json` + `activation.sig`: the installed lease.

use anyhow::{bail, Context, Result};
use canon::{enc, Kind, Role, Timestamp, Value};
use clap::{CommandFactory, Parser, Subcommand};
use clikit::generate::GenerateCmd;
use clikit::input::{read_capped, read_optional};
use clikit::report::{n, print_json, s};
use rand_core::{OsRng, RngCore};
use runtime::activation::{
    self, Activation, ActivationRequest, Binding, Deactivation, SignedFile, LEASE_FILE, LEASE_SIG,
};
use runtime::fingerprint::{self, Fingerprint, Sources};
use runtime::license::License;
use runtime::session::{Clock, Session};
use runtime::{Artifact, TrustStore};
use signing::SecretKey;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The instance key's path in a state directory.
const KEY_FILE: &str = "agent/instance.key";
/// The last request's file name in `activation/<product>/`.
const REQUEST_FILE: &str = "request.json";

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
enum Cmd {
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
        #[command(flatten)]
        online: OnlineArgs,
    },
    /// Fetch the newest bundle the license allows from the service, verify it with the
    /// runtime and (with --extract) install it
    Update {
        /// The product (needed when several are activated here)
        #[arg(long)]
        product: Option<String>,
        /// Extract the verified bundle into this new directory
        #[arg(long, value_name = "DIR")]
        extract: Option<PathBuf>,
        #[command(flatten)]
        online: OnlineArgs,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    #[command(flatten)]
    Generate(GenerateCmd),
}

/// What every online command needs.
#[derive(clap::Args)]
struct OnlineArgs {
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

fn dispatch(args: Args) -> Result<ExitCode> {
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
            force,
            json,
        } => request_cmd(&license, &state, &out, &label, force, json),
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
            online,
            json,
        } => {
            crate::cli::ensure_state(&online.state)?;
            crate::online::activate_cmd(
                &online.online(),
                &server,
                &license,
                token.as_deref(),
                &label,
                json,
            )
        }
        Cmd::Run {
            once,
            force,
            online,
        } => crate::online::run_cmd(&online.online(), once, force),
        Cmd::Update {
            product,
            extract,
            online,
            json,
        } => crate::update::update_cmd(
            &online.online(),
            product.as_deref(),
            extract.as_deref(),
            json,
        ),
        Cmd::Generate(g) => g.run(Args::command()),
    }
}

pub(crate) fn now() -> Result<Timestamp> {
    Ok(clikit::input::clock(None)?.now())
}

fn check_product(product: &str) -> Result<()> {
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
    match signing::fsutil::write_atomic(&path, &key.to_file_bytes(), 0o600, false) {
        Ok(()) => Ok(key),
        // Another agent made it meanwhile: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(SecretKey::load(&path)?),
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

fn id_cmd(product: &str, state: Option<&Path>, json: bool) -> Result<ExitCode> {
    check_product(product)?;
    let fp = fingerprint_of(product, state)?;
    if json {
        print_json(&clikit::report::object(vec![
            ("product", s(product)),
            ("fingerprint", s(&fp.value)),
            ("source", s(fp.source)),
        ])?);
    } else {
        println!("{} (product {product}, from {})", fp.value, fp.source);
    }
    Ok(ExitCode::SUCCESS)
}

fn request_cmd(
    license_dir: &Path,
    state: &Path,
    out: &Path,
    label: &str,
    force: bool,
    json: bool,
) -> Result<ExitCode> {
    let lic_path = license_dir.join("license.json");
    let doc = read_capped(&lic_path, runtime::license::MAX_LICENSE_BYTES as u64)?;
    let (license, _, _) = License::parse(&doc)
        .map_err(anyhow::Error::new)
        .with_context(|| format!("{}", lic_path.display()))?;
    if out.exists() && !force {
        bail!(
            "{} exists; refusing to overwrite (pass --force, or choose another --out)",
            out.display()
        );
    }
    let now = now()?;
    let fp = fingerprint_of(&license.product, Some(state))?;
    let key = instance_key(state, true)?;
    let mut rid = [0u8; 16];
    OsRng.fill_bytes(&mut rid);
    let req = ActivationRequest {
        doc_type: activation::REQUEST_TYPE.into(),
        request_id: enc::hex(&rid),
        license_id: license.license_id.clone(),
        license_key: license.license_key.clone(),
        lineage_id: license.lineage_id.clone(),
        product: license.product.clone(),
        workspace: license.workspace.clone(),
        fingerprint: fp.value.clone(),
        fingerprint_source: fp.source.into(),
        instance_public_key: enc::b64(&key.public_key()),
        label: label.to_string(),
        created_at: now.to_string(),
        install_token_id: None,
    };
    req.validate()
        .map_err(anyhow::Error::new)
        .context("the request")?;
    let bytes = signed_file(&key, Kind::ActivationRequest, req.to_canonical())?;
    let dir = activation::installed_dir(state, &license.product);
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    signing::fsutil::write_atomic(&dir.join(REQUEST_FILE), &bytes, 0o600, true)
        .with_context(|| format!("{}", dir.display()))?;
    signing::fsutil::write_atomic(out, &bytes, 0o644, true)
        .with_context(|| format!("{}", out.display()))?;
    if json {
        print_json(&clikit::report::valid(
            "out",
            &out.display(),
            vec![
                ("request_id", s(&req.request_id)),
                ("license_id", s(&req.license_id)),
                ("product", s(&req.product)),
                ("fingerprint", s(&req.fingerprint)),
                ("fingerprint_source", s(&req.fingerprint_source)),
            ],
        )?);
    } else {
        println!(
            "wrote activation request {} for license {} (product {}, fingerprint {} from {})",
            req.request_id, req.license_id, req.product, req.fingerprint, req.fingerprint_source
        );
        println!(
            "  {}\ncarry it to the vendor (factory activation fulfill); then: airlock-agent install <dir> --trust trust.json --state {}",
            out.display(),
            state.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The lease in `dir` (json and signature bytes), parsed without verification.
pub(crate) fn read_lease(dir: &Path) -> Result<(Activation, Vec<u8>, Vec<u8>)> {
    let json = dir.join(LEASE_FILE);
    let doc = read_capped(&json, activation::MAX_ACTIVATION_BYTES as u64)?;
    let sig = read_optional(&dir.join(LEASE_SIG), canon::sig::MAX_ENVELOPE_BYTES as u64)?
        .with_context(|| {
            format!(
                "{}: its signature activation.sig is missing",
                json.display()
            )
        })?;
    let (a, _, _) = Activation::parse(&doc)
        .map_err(runtime::VerifyError::from)
        .with_context(|| format!("{}", json.display()))?;
    Ok((a, doc, sig))
}

fn install_cmd(
    dir: &Path,
    trust: &[PathBuf],
    roots: &[String],
    state: &Path,
    json: bool,
) -> Result<ExitCode> {
    let (lease, doc, sig) = read_lease(dir)?;
    let (a, described) = install_lease(&lease, &doc, &sig, trust, roots, state)
        .with_context(|| format!("{}", dir.join(LEASE_FILE).display()))?;
    let target = activation::installed_dir(state, &a.product);
    if json {
        print_json(&clikit::report::valid(
            "dir",
            &dir.display(),
            vec![
                ("activation_id", s(&a.activation_id)),
                ("license_id", s(&a.license_id)),
                ("product", s(&a.product)),
                ("sequence", n(a.sequence)),
                ("not_after", s(&a.not_after)),
                ("installed", s(target.display())),
            ],
        )?);
    } else {
        println!("installed {described}");
        println!("  {}", target.display());
    }
    Ok(ExitCode::SUCCESS)
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

/// Verifies a lease for this machine with the runtime and installs it (never an older one,
/// never another machine's or lineage's). Returns it and its description.
pub(crate) fn install_lease(
    lease: &Activation,
    doc: &[u8],
    sig: &[u8],
    trust: &[PathBuf],
    roots: &[String],
    state: &Path,
) -> Result<(Activation, String)> {
    let mut session = session(trust, roots, state)?;
    let key = instance_key(state, false)?;
    let mine = enc::b64(&key.public_key());
    let fp = fingerprint_of(&lease.product, Some(state))?;
    let target = activation::installed_dir(state, &lease.product);
    // The lineage it must be for: the installed lease's, else the pending request's.
    let installed = read_lease(&target).ok().map(|(a, _, _)| a);
    let pending = read_optional(&target.join(REQUEST_FILE), 64 * 1024)?
        .and_then(|b| runtime::activation::verify_instance_signed::<ActivationRequest>(&b).ok())
        .map(|(r, _, _)| r);
    let lineage = match (&installed, &pending) {
        (Some(a), _) => a.lineage_id.clone(),
        (None, Some(r)) => r.lineage_id.clone(),
        (None, None) => bail!(
            "no activation request was made on this machine for product {} (run `airlock-agent request` first)",
            lease.product
        ),
    };
    let binding = Binding {
        product: &lease.product,
        lineage_id: &lineage,
        fingerprint: &fp.value,
        instance_key: Some(&mine),
    };
    let verified = activation::verify_lease(
        session.trust(),
        doc,
        sig,
        &binding,
        session.known(),
        session.now(),
    )?;
    if let Some(a) = &installed {
        if verified.value().sequence < a.sequence {
            return Err(runtime::activation::ActivationError::Rollback {
                found: verified.value().sequence,
                seen: a.sequence,
            }
            .into());
        }
    }
    std::fs::create_dir_all(&target).with_context(|| format!("{}", target.display()))?;
    let same =
        |name: &str, bytes: &[u8]| std::fs::read(target.join(name)).is_ok_and(|b| b == bytes);
    if !(same(LEASE_FILE, doc) && same(LEASE_SIG, sig)) {
        signing::fsutil::write_atomic(&target.join(LEASE_SIG), sig, 0o644, true)
            .with_context(|| format!("{}", target.display()))?;
        signing::fsutil::write_atomic(&target.join(LEASE_FILE), doc, 0o644, true)
            .with_context(|| format!("{}", target.display()))?;
    }
    let a = verified.value().clone();
    session.record_activation(&a.lineage_id, a.sequence)?;
    let when = session.now();
    session.commit()?;
    Ok((a, verified.describe(when)))
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

fn status_cmd(state: &Path, json: bool) -> Result<ExitCode> {
    let now = now()?;
    let list = installed(state)?;
    let key = instance_key(state, false)
        .ok()
        .map(|k| enc::b64(&k.public_key()));
    let mut rows = Vec::new();
    for (product, a) in &list {
        let fp = fingerprint::of(product, &Sources::system(Some(state))).ok();
        let this_machine = fp.as_ref().is_some_and(|f| f.value == a.fingerprint)
            && key.as_deref() == Some(a.instance_public_key.as_str());
        let end = Timestamp::parse(&a.not_after).unwrap_or(Timestamp(0));
        let state_word = if !this_machine {
            "other_machine"
        } else if now > end {
            "lease_expired"
        } else {
            "active"
        };
        rows.push((product, a, state_word, end));
    }
    if json {
        let v = Value::Array(
            rows.iter()
                .map(|(p, a, st, _)| {
                    clikit::report::object(vec![
                        ("product", s(p)),
                        ("activation_id", s(&a.activation_id)),
                        ("license_id", s(&a.license_id)),
                        ("lineage_id", s(&a.lineage_id)),
                        ("state", s(st)),
                        ("sequence", n(a.sequence)),
                        ("not_after", s(&a.not_after)),
                        ("renew_after", s(&a.renew_after)),
                        ("fingerprint", s(&a.fingerprint)),
                    ])
                    .unwrap_or(Value::Null)
                })
                .collect(),
        );
        print_json(&v);
    } else if rows.is_empty() {
        println!("no activation installed in {}", state.display());
    } else {
        for (p, a, st, end) in &rows {
            println!(
                "{p}: {st}: activation {} of license {} (lease #{}, until {end}, {})",
                a.activation_id,
                a.license_id,
                a.sequence,
                runtime::license::relative(now, *end)
            );
        }
        println!(
            "(as installed; `runtime-verify activation --state DIR --trust trust.json` verifies)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn deactivate_cmd(state: &Path, out: &Path, product: Option<&str>, json: bool) -> Result<ExitCode> {
    let list = installed(state)?;
    let (product, lease) = match product {
        Some(p) => list.into_iter().find(|(q, _)| q == p).with_context(|| {
            format!(
                "no activation of product {p} is installed in {}",
                state.display()
            )
        })?,
        None => {
            let mut it = list.into_iter();
            match (it.next(), it.next()) {
                (Some(one), None) => one,
                (None, _) => bail!("no activation is installed in {}", state.display()),
                (Some(_), Some(_)) => bail!("several products are activated here; pass --product"),
            }
        }
    };
    let key = instance_key(state, false)?;
    let mine = enc::b64(&key.public_key());
    if lease.instance_public_key != mine {
        bail!(
            "the installed activation {} names another instance key than this machine's; it cannot be deactivated from here (the vendor can release it with --force)",
            lease.activation_id
        );
    }
    let now = now()?;
    // A receipt already written for this activation (an interrupted run) is kept as it is.
    match read_optional(out, 64 * 1024)? {
        Some(b) => {
            let (d, _, _) = runtime::activation::verify_instance_signed::<Deactivation>(&b)
                .with_context(|| {
                    format!(
                        "{} exists and is not a receipt of this machine (choose another --out)",
                        out.display()
                    )
                })?;
            if d.activation_id != lease.activation_id || d.instance_public_key != mine {
                bail!(
                    "{} holds a receipt for activation {}; choose another --out",
                    out.display(),
                    d.activation_id
                );
            }
        }
        None => {
            let d = Deactivation {
                doc_type: activation::DEACTIVATION_TYPE.into(),
                activation_id: lease.activation_id.clone(),
                license_id: lease.license_id.clone(),
                lineage_id: lease.lineage_id.clone(),
                product: product.clone(),
                fingerprint: lease.fingerprint.clone(),
                instance_public_key: mine.clone(),
                last_sequence: lease.sequence,
                deactivated_at: now.to_string(),
            };
            d.validate()
                .map_err(anyhow::Error::new)
                .context("the receipt")?;
            let b = signed_file(&key, Kind::Deactivation, d.to_canonical())?;
            signing::fsutil::write_atomic(out, &b, 0o644, true)
                .with_context(|| format!("{}", out.display()))?;
        }
    }
    // Remembered before the files go: this activation is never taken again here.
    let mut session = Session::with_store(
        Some(state),
        Clock::System(now),
        TrustStore::embedded(Vec::new()),
    )?;
    session.record_deactivation(
        &lease.activation_id,
        &format!("deactivated on this machine at {now}"),
    );
    session.commit()?;
    let dir = activation::installed_dir(state, &product);
    for name in [LEASE_FILE, LEASE_SIG, REQUEST_FILE] {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("{}", dir.join(name).display())),
        }
    }
    if json {
        print_json(&clikit::report::valid(
            "out",
            &out.display(),
            vec![
                ("activation_id", s(&lease.activation_id)),
                ("license_id", s(&lease.license_id)),
                ("product", s(&product)),
            ],
        )?);
    } else {
        println!(
            "deactivated {} (license {}, product {product}); the product no longer runs licensed work here",
            lease.activation_id, lease.license_id
        );
        println!(
            "  {}\ncarry the receipt to the vendor: factory activation release --receipt {}",
            out.display(),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
