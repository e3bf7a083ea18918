//! The agent's online commands: `activate --server`, `run` (lease renewal) and `update`.
//!
//! The service is a convenience, never a dependency: every lease is verified with the runtime
//! before it is installed, the product keeps working on the installed lease while the service
//! is unreachable, and `run` backs off (with jitter, honouring `Retry-After`) until it answers.
//!
//! Per product, `STATE/activation/<product>/online.json` records the service and the license
//! directory an online activation used, so that `run` and `update` need no arguments.

use crate::cli::{
    encryption_key, fingerprint_of, install_lease, installed, instance_key, now, session,
    signed_file,
};
use anyhow::{bail, Context, Result};
use canon::{enc, Kind, Timestamp};
use clikit::input::read_capped;
use rand_core::{OsRng, RngCore};
use runtime::activation::{self, Activation, ActivationRequest, InstallToken};
use runtime::license::License;
use runtime::refusal::Code;
use runtime::Artifact;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

pub use crate::client::{Client, Failure};

/// The per-product record of an online activation.
pub(crate) const ONLINE_FILE: &str = "online.json";
/// Largest answer read from the service (a lease and a license), in bytes.
pub(crate) const MAX_ANSWER_BYTES: u64 = 256 * 1024;
/// Largest bundle downloaded, in bytes.
pub(crate) const MAX_BUNDLE_BYTES: u64 = 8 << 30;
/// Exit code of `run --once` when a renewal is due and the service did not answer (the lease
/// still holds).
pub const EXIT_UNREACHABLE: u8 = runtime::refusal::EXIT_UNREACHABLE;
/// Exit code when a lease has ended.
pub const EXIT_LEASE_ENDED: u8 = 5;

/// The license fields a request names.
pub(crate) struct For {
    license_id: String,
    license_key: String,
    lineage_id: String,
    product: String,
    workspace: String,
    token_id: Option<String>,
    /// Builds whose keys the request asks for (renewals carry the ones given before).
    pub(crate) builds: Vec<String>,
    /// Whether it asks for a pool lease (a seat server).
    pub(crate) pool: bool,
}

impl For {
    pub(crate) fn license(l: &License) -> For {
        For {
            license_id: l.license_id.clone(),
            license_key: l.license_key.clone(),
            lineage_id: l.lineage_id.clone(),
            product: l.product.clone(),
            workspace: l.workspace.clone(),
            token_id: None,
            builds: Vec::new(),
            pool: false,
        }
    }
}

/// A fresh request signed by this machine's instance key: the proof of possession of every
/// online call, and the file a request carried by hand is. It carries the machine's identity
/// components and the environment it shows (FORMAT.md §21).
pub(crate) fn fresh_request(
    state: &Path,
    f: &For,
    label: &str,
) -> Result<(ActivationRequest, Vec<u8>)> {
    let fp = fingerprint_of(&f.product, Some(state))?;
    let key = instance_key(state, true)?;
    let enc_key = encryption_key(state)?;
    let probe = runtime::identity::Probe::system();
    let mut rid = [0u8; 16];
    OsRng.fill_bytes(&mut rid);
    let req = ActivationRequest {
        doc_type: activation::REQUEST_TYPE.into(),
        request_id: enc::hex(&rid),
        license_id: f.license_id.clone(),
        license_key: f.license_key.clone(),
        lineage_id: f.lineage_id.clone(),
        product: f.product.clone(),
        workspace: f.workspace.clone(),
        fingerprint: fp.value,
        fingerprint_source: fp.source.into(),
        instance_public_key: enc::b64(&key.public_key()),
        label: label.to_string(),
        created_at: now()?.to_string(),
        install_token_id: f.token_id.clone(),
        encryption_public_key: Some(enc::b64(&enc_key.key.public_key())),
        builds: f.builds.clone(),
        pool: f.pool,
        components: runtime::identity::components(&f.product, &probe),
        environment: Some(runtime::identity::environment(&probe).to_string()),
    };
    req.validate()
        .map_err(anyhow::Error::new)
        .context("the request")?;
    let bytes = signed_file(&key, Kind::ActivationRequest, req.to_canonical())?;
    Ok((req, bytes))
}

pub(crate) fn json_of(bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).context("a signed file is JSON")
}

fn file_member<'a>(answer: &'a Value, name: &str) -> Result<&'a str> {
    answer["files"][name]
        .as_str()
        .with_context(|| format!("the service's answer has no files.{name}"))
}

pub(crate) fn read_license(dir: &Path) -> Result<License> {
    let (doc, _, p) = clikit::input::read_license(dir, None)?;
    let (l, _, _) = License::parse(&doc)
        .map_err(anyhow::Error::new)
        .with_context(|| format!("{}", p.display()))?;
    Ok(l)
}

fn online_path(state: &Path, product: &str) -> PathBuf {
    activation::installed_dir(state, product).join(ONLINE_FILE)
}

/// What an online activation remembered for `run` and `update`: the service, the license
/// directory and the CA the service's certificate chains to (when one was given).
pub(crate) struct Remembered {
    pub(crate) server: String,
    pub(crate) license_dir: PathBuf,
    pub(crate) ca: Option<PathBuf>,
}

impl Remembered {
    /// A client for the remembered service: `--ca` given now wins, else the remembered one.
    pub(crate) fn client(&self, ca: Option<&Path>) -> Result<Client> {
        Client::new(&self.server, ca.or(self.ca.as_deref()))
    }
}

pub(crate) fn read_online(state: &Path, product: &str) -> Result<Option<Remembered>> {
    let p = online_path(state, product);
    let Some(b) = clikit::input::read_optional(&p, 64 * 1024)? else {
        return Ok(None);
    };
    let v: Value = serde_json::from_slice(&b).with_context(|| format!("{}", p.display()))?;
    let (Some(server), Some(dir)) = (v["server"].as_str(), v["license_dir"].as_str()) else {
        bail!("{}: needs server and license_dir", p.display());
    };
    let ca = match &v["ca"] {
        Value::Null => None,
        Value::String(c) => Some(PathBuf::from(c)),
        _ => bail!("{}: ca must be a path", p.display()),
    };
    Ok(Some(Remembered {
        server: server.to_string(),
        license_dir: PathBuf::from(dir),
        ca,
    }))
}

/// Where an online call failed, as the command's outcome: its line on stderr, under `--json`
/// the report on stdout (`check`: the service's code, `rate_limited` or `unreachable`), and the
/// exit code of the refusal table.
pub(crate) fn failed(what: &str, f: &Failure, json: bool) -> Result<ExitCode> {
    eprintln!("airlock-agent: {what}: {f}");
    let (check, exit) = match f {
        Failure::Refused { code, .. } => (
            code.map_or("refused", Code::as_str),
            code.map_or(clikit::outcome::EXIT_REJECTED, Code::exit_code),
        ),
        Failure::RateLimited(_) => (Code::RateLimited.as_str(), EXIT_UNREACHABLE),
        Failure::Unavailable(_) => ("unreachable", EXIT_UNREACHABLE),
    };
    if json {
        use clikit::report::s;
        clikit::report::print_json(&clikit::report::object(vec![
            ("valid", canon::Value::Bool(false)),
            ("check", s(check)),
            ("error", s(f)),
            ("command", s(what)),
        ])?);
    }
    Ok(ExitCode::from(exit))
}

/// The arguments every online command shares.
pub struct Online<'a> {
    /// State directory.
    pub state: &'a Path,
    /// Trust files.
    pub trust: &'a [PathBuf],
    /// Roots for a first use.
    pub roots: &'a [String],
    /// A CA certificate (PEM) for an https service with a private CA.
    pub ca: Option<&'a Path>,
}

/// `airlock-agent activate --server URL --license DIR [--token T]`.
pub fn activate_cmd(
    o: &Online<'_>,
    server: &str,
    license_dir: &Path,
    token: Option<&str>,
    (label, builds, pool): (&str, &[String], bool),
    json: bool,
) -> Result<ExitCode> {
    let client = Client::new(server, o.ca)?;
    let token = match token {
        Some(t) => Some(match t.strip_prefix('@') {
            Some(path) => String::from_utf8(read_capped(Path::new(path), 64 * 1024)?)
                .context("the token file is not UTF-8")?
                .trim()
                .to_string(),
            None => t.trim().to_string(),
        }),
        None => None,
    };
    let target = match &token {
        Some(t) => {
            // Verified here too: a mistyped or foreign token fails before anything is sent.
            let s = session(o.trust, o.roots, o.state)?;
            let v = activation::verify_token(s.trust(), t).context("the install token")?;
            let tk: &InstallToken = v.value();
            For {
                license_id: tk.license_id.clone(),
                license_key: String::new(),
                lineage_id: tk.lineage_id.clone(),
                product: tk.product.clone(),
                workspace: tk.workspace.clone(),
                token_id: Some(tk.token_id.clone()),
                builds: Vec::new(),
                pool: false,
            }
        }
        // The installed license, accepted into the state (never replaced by an older one).
        None => For::license(&accept_installed(o, license_dir)?),
    };
    let target = For {
        builds: builds.to_vec(),
        pool,
        ..target
    };
    let (_, req_bytes) = fresh_request(o.state, &target, label)?;
    // Pending, as with a request carried by hand: the lease that answers must be for it.
    let dir = activation::installed_dir(o.state, &target.product);
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    signing::fsutil::write_atomic(&dir.join("request.json"), &req_bytes, 0o600, true)
        .with_context(|| format!("{}", dir.display()))?;
    let mut body = json!({ "request": json_of(&req_bytes)? });
    if let Some(t) = &token {
        body["token"] = Value::String(t.clone());
    }
    let answer = match client.post("/v1/activations", &body) {
        Ok(a) => a,
        Err(f) => return failed("activate", &f, json),
    };
    // The license the lease is for: with a token the machine has none yet (the token's
    // license, or its renewal in force); with a key, a renewal that has begun comes back.
    if token.is_some() || answer["license_id"].as_str() != Some(target.license_id.as_str()) {
        write_license(o, license_dir, &answer, &target)?;
    }
    let (a, described) = install_answer(o, &answer)?;
    let record = json!({
        "server": client.base,
        "license_dir": std::path::absolute(license_dir)?.display().to_string(),
        "ca": o.ca.map(std::path::absolute).transpose()?.map(|p| p.display().to_string()),
    });
    signing::fsutil::write_atomic(
        &online_path(o.state, &a.product),
        format!("{record}\n").as_bytes(),
        0o644,
        true,
    )?;
    let new_seat = answer["new_seat"].as_bool().unwrap_or(false);
    if json {
        println!(
            "{}",
            json!({
                "valid": true,
                "activation_id": a.activation_id,
                "license_id": a.license_id,
                "new_seat": new_seat,
                "seats_in_use": answer["seats_in_use"],
                "device_limit": a.device_limit,
                "sequence": a.sequence,
                "not_after": a.not_after,
                "renew_after": a.renew_after,
            })
        );
    } else {
        println!(
            "{} online: {described}",
            if new_seat {
                "activated"
            } else {
                "re-activated (same seat)"
            }
        );
        println!(
            "  renew with `airlock-agent run --state {}` (keeps the lease fresh; renews after {})",
            o.state.display(),
            a.renew_after
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Verifies a license with the runtime and accepts it into the state the way the product
/// does (`Session::accept_license`: signing time, revocations, and never an older license of
/// its lineage than one accepted on this machine), then writes it into `dir` when it came
/// from the service. The one path a license takes onto this machine: the agent decides
/// nothing about which license may replace which.
fn accept_license(
    o: &Online<'_>,
    doc: &[u8],
    sig: &[u8],
    write_to: Option<&Path>,
) -> Result<License> {
    let mut s = session(o.trust, o.roots, o.state)?;
    let v = runtime::license::verify_license(
        s.trust(),
        doc,
        Some(sig),
        &runtime::license::LegacyPolicy::default(),
        s.now(),
    )?;
    s.accept_license(&v)?;
    if let Some(dir) = write_to {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
        let mut d = doc.to_vec();
        if d.last() != Some(&b'\n') {
            d.push(b'\n');
        }
        signing::fsutil::write_atomic(&dir.join("license.sig"), sig, 0o644, true)?;
        signing::fsutil::write_atomic(&dir.join("license.json"), &d, 0o644, true)?;
    }
    s.commit()?;
    Ok(v.license().clone())
}

/// Accepts the license installed in `dir` (recorded in the state, so that nobody can later
/// put back an older one of its lineage).
pub(crate) fn accept_installed(o: &Online<'_>, dir: &Path) -> Result<License> {
    let doc = read_capped(
        &dir.join("license.json"),
        runtime::license::MAX_LICENSE_BYTES as u64,
    )?;
    let sig = read_capped(
        &dir.join("license.sig"),
        canon::sig::MAX_ENVELOPE_BYTES as u64,
    )?;
    accept_license(o, &doc, &sig, None).with_context(|| format!("{}", dir.display()))
}

/// The license the service sent (after a token activation, or the renewal in force): only of
/// the lineage and product asked for, accepted by the runtime, then written into `dir`.
fn write_license(o: &Online<'_>, dir: &Path, answer: &Value, asked: &For) -> Result<License> {
    let doc = file_member(answer, "license.json")?.as_bytes().to_vec();
    let sig = file_member(answer, "license.sig")?.as_bytes().to_vec();
    let (sent, _, _) = License::parse(&doc)
        .map_err(runtime::VerifyError::from)
        .context("the license the service sent")?;
    // Only the lineage and product asked for (a token's, or the installed license's).
    if sent.lineage_id != asked.lineage_id || sent.product != asked.product {
        bail!(
            "the service sent license {} (lineage {}, product {}) for a request of license {} (lineage {}, product {}): refused, nothing written",
            sent.license_id,
            sent.lineage_id,
            sent.product,
            asked.license_id,
            asked.lineage_id,
            asked.product
        );
    }
    accept_license(o, &doc, &sig, Some(dir)).context("the license the service sent")
}

fn install_answer(o: &Online<'_>, answer: &Value) -> Result<(Activation, String)> {
    let doc = file_member(answer, "activation.json")?.as_bytes().to_vec();
    let sig = file_member(answer, "activation.sig")?.as_bytes().to_vec();
    let (lease, _, _) = Activation::parse(&doc)
        .map_err(runtime::VerifyError::from)
        .context("the lease the service sent")?;
    install_lease(&lease, &doc, &sig, o.trust, o.roots, o.state)
        .context("the lease the service sent")
}

/// One renewal of the installed lease of `product`.
fn renew_one(
    o: &Online<'_>,
    product: &str,
    lease: &Activation,
) -> Result<Result<Activation, Failure>> {
    let Some(rec) = read_online(o.state, product)? else {
        bail!("product {product} was not activated online here (no {ONLINE_FILE})");
    };
    let client = rec.client(o.ca)?;
    let license_dir = rec.license_dir;
    let license = accept_installed(o, &license_dir)?;
    // A seat server's pool lease renews as a pool lease.
    let mut target = For::license(&license);
    target.pool = lease.pool.is_some();
    let (_, req) = fresh_request(o.state, &target, &lease.label)?;
    let mut body = json!({ "request": json_of(&req)? });
    if let Some(h) = heartbeat(o.state, product)? {
        body["heartbeat"] = h;
    }
    let path = format!("/v1/activations/{}/renew", lease.activation_id);
    let answer = match client.post(&path, &body) {
        // The seat was freed (its lease ended while the service was out of reach, or it was
        // released): ask for a seat again with the license key, as a new machine would.
        Err(Failure::Refused {
            code: Some(Code::ActivationEnded),
            ..
        }) => {
            eprintln!(
                "airlock-agent: {product}: seat {} was freed; activating again",
                lease.activation_id
            );
            client.post(
                "/v1/activations",
                &json!({ "request": body["request"].clone() }),
            )
        }
        r => r,
    };
    match answer {
        Ok(answer) => {
            // The vendor renewed the license and the renewal is in force: the lease is for it,
            // and its files came along. The product reads the lease by lineage, so either
            // order of the two writes leaves it working.
            if answer["license_id"].as_str() != Some(license.license_id.as_str()) {
                let new = write_license(o, &license_dir, &answer, &For::license(&license))?;
                println!(
                    "{product}: installed license {} (the renewal of {}, valid until {}) in {}",
                    new.license_id,
                    license.license_id,
                    new.expires_at,
                    license_dir.display()
                );
            }
            Ok(Ok(install_answer(o, &answer)?.0))
        }
        Err(f) => Ok(Err(f)),
    }
}

/// What the product chose to report (`activation/<product>/heartbeat.json`, written by the
/// product): forwarded as it is; the service checks its bounds.
fn heartbeat(state: &Path, product: &str) -> Result<Option<Value>> {
    let p = activation::installed_dir(state, product).join("heartbeat.json");
    match clikit::input::read_optional(&p, 4096)? {
        None => Ok(None),
        Some(b) => match serde_json::from_slice::<Value>(&b) {
            Ok(v @ Value::Object(_)) => Ok(Some(v)),
            _ => {
                eprintln!(
                    "airlock-agent: {}: not a JSON object; not sent",
                    p.display()
                );
                Ok(None)
            }
        },
    }
}

/// The delay before attempt `n` (from 0) after failures: 30 s doubling to at most an hour,
/// with full jitter over its upper half, never shorter than the service's `Retry-After`.
pub fn backoff(n: u32, retry_after: Option<u64>) -> Duration {
    let cap = 30u64.saturating_mul(1 << n.min(7)).min(3600);
    let jitter = OsRng.next_u64() % (cap / 2 + 1);
    let d = cap / 2 + jitter;
    Duration::from_secs(d.max(retry_after.unwrap_or(0)))
}

/// `airlock-agent run`: renews every online lease at its `renew_after` (with `force`, at once);
/// with `once`, one pass.
pub fn run_cmd(o: &Online<'_>, once: bool, force: bool) -> Result<ExitCode> {
    let mut failures: u32 = 0;
    let mut force = force;
    loop {
        let now = now()?;
        let list: Vec<(String, Activation)> = installed(o.state)?
            .into_iter()
            .filter(|(p, _)| online_path(o.state, p).exists())
            .collect();
        if list.is_empty() {
            bail!(
                "no online activation in {} (activate with `airlock-agent activate --server URL`)",
                o.state.display()
            );
        }
        let mut next = now.0 + 3600;
        let mut worst = 0u8;
        let mut retry_after = None;
        for (product, lease) in &list {
            let renew_at = Timestamp::parse(&lease.renew_after).unwrap_or(now);
            let end = Timestamp::parse(&lease.not_after).unwrap_or(now);
            if now < renew_at && !force {
                next = next.min(renew_at.0);
                continue;
            }
            match renew_one(o, product, lease)? {
                Ok(a) => {
                    failures = 0;
                    println!(
                        "{product}: renewed {} (lease #{} until {}, next renewal after {})",
                        a.activation_id, a.sequence, a.not_after, a.renew_after
                    );
                    if let Some(t) = Timestamp::parse(&a.renew_after) {
                        next = next.min(t.0);
                    }
                }
                Err(f) => {
                    let ended = now >= end;
                    eprintln!(
                        "airlock-agent: {product}: renewal failed: {f}; {}",
                        if ended {
                            format!(
                                "the lease ended at {end}: the product is no longer activated here"
                            )
                        } else {
                            format!("the product keeps working on the installed lease until {end}")
                        }
                    );
                    if let Failure::RateLimited(s) = f {
                        retry_after = Some(s);
                    }
                    let code = match (&f, ended) {
                        (_, true) => EXIT_LEASE_ENDED,
                        (Failure::Refused { .. }, false) => clikit::outcome::EXIT_REJECTED,
                        _ => EXIT_UNREACHABLE,
                    };
                    worst = worst.max(code);
                    next = now.0;
                }
            }
        }
        if once {
            return Ok(ExitCode::from(worst));
        }
        force = false;
        let wait = if worst > 0 {
            failures = failures.saturating_add(1);
            backoff(failures - 1, retry_after)
        } else {
            Duration::from_secs((next - now.0).clamp(1, 3600) as u64)
        };
        std::thread::sleep(wait);
    }
}
