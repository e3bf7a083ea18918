//! The agent as a node of a seat server (docs/FORMAT.md §20): [`Seats`] claims a floating seat
//! from the customer's `airlock-seatd` (or renews the one this node holds, or borrows it),
//! verifies the answer through the vendor's chain before installing it, releases it, and
//! [`Seats::hold`] keeps it alive until told to stop (renewing at half the lease, honouring
//! `Retry-After`, backing off with jitter while the server is unreachable, releasing at the
//! end). The commands `claim`, `borrow`, `release`, `return` and `run --seat-server` are thin
//! layers over it; a product links this library to hold its seat without a separate process.

use crate::cli::{fingerprint_of, instance_key, now, session};
use crate::client::{Client, Failure};
use crate::online::{accept_installed, failed, fresh_request, json_of, For, Online};
use anyhow::{bail, Context, Result};
use canon::{enc, Timestamp};
use runtime::activation::{installed_dir, Binding};
use runtime::floating::{NODE_LEASE_FILE, POOL_FILE, POOL_SIG};
use runtime::license::License;
use runtime::refusal::Code;
use serde_json::{json, Value};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A seat this node holds, as verified and installed.
#[derive(Debug, Clone)]
pub struct Held {
    /// The node lease id.
    pub id: String,
    /// The pool (the seat server's activation id).
    pub pool: String,
    /// The lease's end.
    pub not_after: Timestamp,
    /// Whether it is borrowed.
    pub borrowed: bool,
    /// Whether the seat is new (not a renewal).
    pub new_seat: bool,
    /// The server's sequence.
    pub sequence: u64,
}

/// How a node names itself to the seat server.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// Shown to the administrator (the request's label), and matched by reservations.
    pub name: String,
    /// The group reservations may hold seats for.
    pub group: String,
}

/// One node's client of one seat server, for one license.
pub struct Seats<'a> {
    o: &'a Online<'a>,
    client: Client,
    license: License,
    who: Identity,
}

impl<'a> Seats<'a> {
    /// A client of `server` for the license in `license_dir` (accepted as the product
    /// accepts it).
    pub fn new(o: &'a Online<'a>, server: &str, license_dir: &Path, who: Identity) -> Result<Self> {
        Ok(Seats {
            o,
            client: Client::new(server, o.ca)?,
            license: accept_installed(o, license_dir)?,
            who,
        })
    }

    /// Claims (or renews, or with `borrow_seconds` borrows) this node's seat; the node lease is
    /// verified through the vendor's chain, then installed. `Ok(Err(f))`: the server refused
    /// or did not answer; `Err`: a local failure or an answer that does not verify.
    pub fn claim(&self, borrow_seconds: Option<u64>) -> Result<Result<Held, Failure>> {
        let (_, req) = fresh_request(self.o.state, &For::license(&self.license), &self.who.name)?;
        let mut body = json!({ "request": json_of(&req)? });
        if let Some(s) = borrow_seconds {
            body["borrow_seconds"] = json!(s);
        }
        if !self.who.group.is_empty() {
            body["group"] = json!(self.who.group);
        }
        let answer = match self.client.post("/v1/nodes/claim", &body) {
            Ok(a) => a,
            Err(f) => return Ok(Err(f)),
        };
        let file = |name: &str| -> Result<Vec<u8>> {
            Ok(answer["files"][name]
                .as_str()
                .with_context(|| format!("the seat server's answer has no files.{name}"))?
                .as_bytes()
                .to_vec())
        };
        let (pool, sig, node) = (file(POOL_FILE)?, file(POOL_SIG)?, file(NODE_LEASE_FILE)?);
        // Verified here, as the product will verify it, before anything is installed.
        let o = self.o;
        let mut s = session(o.trust, o.roots, o.state)?;
        let l = &self.license;
        let fp = fingerprint_of(&l.product, Some(o.state))?;
        let key = enc::b64(&instance_key(o.state, false)?.public_key());
        let b = Binding {
            product: &l.product,
            lineage_id: &l.lineage_id,
            fingerprint: &fp.value,
            instance_key: Some(&key),
            components: None,
        };
        let seat = runtime::floating::verify_node_seat(
            s.trust(),
            (&pool, &sig),
            &node,
            &b,
            s.known(),
            now()?,
        )
        .map_err(|e| anyhow::anyhow!("REJECTED [{}]: {e}", e.code()))
        .context("the seat server's answer")?;
        s.record_activation(seat.pool.value())?;
        s.commit()?;
        let dir = installed_dir(o.state, &l.product);
        std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
        for (name, bytes) in [
            (POOL_SIG, &sig),
            (POOL_FILE, &pool),
            (NODE_LEASE_FILE, &node),
        ] {
            signing::fsutil::write_atomic(&dir.join(name), bytes, 0o644, true)
                .with_context(|| format!("{}", dir.display()))?;
        }
        Ok(Ok(Held {
            id: seat.node.node_lease_id.clone(),
            pool: seat.node.pool_activation_id.clone(),
            not_after: Timestamp::parse(&seat.node.not_after)
                .context("the node lease's not_after")?,
            borrowed: seat.node.borrowed,
            new_seat: answer["new_seat"] == Value::Bool(true),
            sequence: seat.node.server_sequence,
        }))
    }

    /// Gives the seat installed here back; the node lease is removed (the product stops
    /// licensed work on this node). Returns its id.
    pub fn release(&self) -> Result<Result<String, Failure>> {
        let dir = installed_dir(self.o.state, &self.license.product);
        let node = std::fs::read(dir.join(NODE_LEASE_FILE))
            .with_context(|| format!("{}: no floating seat held here", dir.display()))?;
        let f = runtime::activation::SignedFile::parse("node lease", &node)?;
        let id = canon::parse(&f.canonical)?
            .get("node_lease_id")
            .and_then(canon::Value::as_str)
            .map(str::to_string)
            .context("the node lease has no node_lease_id")?;
        if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("the node lease's id is not hex");
        }
        let (_, req) = fresh_request(self.o.state, &For::license(&self.license), &self.who.name)?;
        if let Err(f) = self.client.post(
            &format!("/v1/nodes/{id}/release"),
            &json!({ "request": json_of(&req)? }),
        ) {
            return Ok(Err(f));
        }
        std::fs::remove_file(dir.join(NODE_LEASE_FILE))
            .with_context(|| format!("{}", dir.display()))?;
        Ok(Ok(id))
    }

    /// Holds this node's seat until `stop` is set: claims, renews at half of what is left of
    /// each lease, waits as `Retry-After` says while the pool is full (or rate-limited), backs
    /// off with jitter (5 s doubling to 5 min) while the server is unreachable, and releases
    /// the seat when stopped. `event` hears each outcome. Returns the refusal that ended it
    /// (`None`: stopped).
    pub fn hold(
        &self,
        stop: &AtomicBool,
        mut event: impl FnMut(&Result<Held, Failure>),
    ) -> Result<Option<Failure>> {
        let mut failures = 0u32;
        let mut held = false;
        while !stop.load(Ordering::SeqCst) {
            let outcome = self.claim(None)?;
            event(&outcome);
            let wait = match outcome {
                Ok(h) => {
                    (failures, held) = (0, true);
                    let left = (h.not_after.0 - now()?.0).max(2) as u64;
                    Duration::from_secs(left / 2)
                }
                Err(Failure::RateLimited(s)) => Duration::from_secs(s),
                Err(Failure::Refused {
                    code: Some(Code::PoolFull),
                    retry_after,
                    ..
                }) => Duration::from_secs(retry_after.unwrap_or(30).max(1)),
                Err(Failure::Unavailable(_)) => {
                    failures = failures.saturating_add(1);
                    backoff(failures)
                }
                Err(f @ Failure::Refused { .. }) => return Ok(Some(f)),
            };
            sleep_unless(stop, wait);
        }
        if held {
            if let Err(f) = self.release()? {
                eprintln!("airlock-agent: release on stop: {f}");
            }
        }
        Ok(None)
    }
}

/// 5 s doubling to 5 min, with up to a quarter of jitter so that nodes spread out.
fn backoff(failures: u32) -> Duration {
    let base = 5u64
        .saturating_mul(1 << failures.min(6).saturating_sub(1))
        .min(300);
    let mut b = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    let jitter = u64::from_le_bytes(b) % (base * 250 + 1);
    Duration::from_millis(base * 1000 - jitter)
}

fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let end = std::time::Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

fn print_held(h: &Held, json: bool, command: &str) {
    if json {
        println!(
            "{}",
            json!({"valid": true, "check": null, "error": null, "command": command,
                   "node_lease_id": h.id, "new_seat": h.new_seat,
                   "not_after": h.not_after.to_string(), "borrowed": h.borrowed,
                   "server_sequence": h.sequence})
        );
    } else {
        println!(
            "{} floating seat {} of pool {} until {}{}",
            if h.new_seat { "claimed" } else { "renewed" },
            h.id,
            h.pool,
            h.not_after,
            if h.borrowed { " (borrowed)" } else { "" }
        );
    }
}

/// `airlock-agent claim|borrow --seat-server URL --license DIR [--hours N]`.
pub fn claim_cmd(
    o: &Online<'_>,
    (server, license_dir): (&str, &Path),
    who: Identity,
    borrow_hours: Option<u64>,
    json: bool,
) -> Result<ExitCode> {
    let command = if borrow_hours.is_some() {
        "borrow"
    } else {
        "claim"
    };
    let seats = Seats::new(o, server, license_dir, who)?;
    match seats.claim(borrow_hours.map(|h| h.saturating_mul(3600)))? {
        Ok(h) => {
            print_held(&h, json, command);
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => failed(command, &f, json),
    }
}

/// `airlock-agent release|return --seat-server URL --license DIR`.
pub fn release_cmd(
    o: &Online<'_>,
    (server, license_dir): (&str, &Path),
    command: &str,
    json: bool,
) -> Result<ExitCode> {
    let seats = Seats::new(o, server, license_dir, Identity::default())?;
    match seats.release()? {
        Ok(id) if json => println!(
            "{}",
            json!({"valid": true, "check": null, "error": null, "command": command, "node_lease_id": id, "released": true})
        ),
        Ok(id) => println!("released floating seat {id}"),
        Err(f) => return failed(command, &f, json),
    }
    Ok(ExitCode::SUCCESS)
}

/// `airlock-agent run --seat-server URL --license DIR`: holds the seat until SIGTERM or
/// SIGINT, then releases it. Each outcome is one line on stdout.
pub fn run_cmd(
    o: &Online<'_>,
    (server, license_dir): (&str, &Path),
    who: Identity,
) -> Result<ExitCode> {
    let seats = Seats::new(o, server, license_dir, who)?;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("installing a signal handler")?;
    }
    let end = seats.hold(&stop, |outcome| {
        match outcome {
            Ok(h) => print_held(h, false, "run"),
            Err(f) => println!("waiting: {f}"),
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })?;
    match end {
        None => {
            println!("stopped; seat released");
            Ok(ExitCode::SUCCESS)
        }
        Some(f) => failed("run", &f, false),
    }
}
