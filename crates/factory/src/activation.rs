//! Activations on the vendor side: the seat decision ([`decide`], one function for files and,
//! later, the service), and the registry operations around it (fulfil, list, release, reset),
//! each one `BEGIN IMMEDIATE` transaction with its hash-chained audit events.
//!
//! Order of effects in [`fulfill`]: verify the request → in one transaction: the license's
//! standing, the seats, the decision, the lease counter, the signed lease, the rows and the
//! audit event → commit → the caller writes the files. Concurrent fulfils serialize on the
//! write lock, so the count and the insert can never interleave.

use crate::args;
use crate::db::{Sql, SqlRow};
use crate::registry::{audit_with, get_in, Record, Registry};
use anyhow::{Context, Result};
use canon::{enc, Kind, Timestamp, Value};
use rand_core::{OsRng, RngCore};
use runtime::activation::{
    verify_instance_signed, Activation, ActivationRequest, Deactivation, InstallToken,
};
use runtime::license::{License, Standing, State, Times};
use runtime::signed::Verified;
use runtime::Artifact;

/// What one activation operation answers: done, refused with a code, or failed.
pub type Outcome<T> = Result<Result<T, Refusal>>;

/// One operation of a [`Registry::group`].
pub type GroupOp<'a, T> = Box<dyn FnOnce(&dyn Sql) -> Outcome<T> + 'a>;
use signing::SecretKey;
use std::collections::HashMap;

/// Stable refusal codes (docs/CLI.md): scripts and the service match on them.
pub mod code {
    /// The request's signature or schema failed (forged or damaged).
    pub const REQUEST_INVALID: &str = "REQUEST_INVALID";
    /// The request was made more than 5 minutes in the future.
    pub const REQUEST_FROM_FUTURE: &str = "REQUEST_FROM_FUTURE";
    /// The request is older than [`super::MAX_REQUEST_AGE_DAYS`].
    pub const REQUEST_STALE: &str = "REQUEST_STALE";
    /// The request's activation was released since: a replayed request.
    pub const REQUEST_REPLAYED: &str = "REQUEST_REPLAYED";
    /// No such license in the registry.
    pub const LICENSE_NOT_FOUND: &str = "LICENSE_NOT_FOUND";
    /// The request's license key, product or lineage is not the license's.
    pub const LICENSE_MISMATCH: &str = "LICENSE_MISMATCH";
    /// The license is revoked.
    pub const LICENSE_REVOKED: &str = "LICENSE_REVOKED";
    /// The license was renewed: activate with its successor.
    pub const LICENSE_RENEWED: &str = "LICENSE_RENEWED";
    /// The license is past its expiry and grace.
    pub const LICENSE_EXPIRED: &str = "LICENSE_EXPIRED";
    /// The license is in its grace period: existing seats get fresh leases, new ones are refused.
    pub const LICENSE_IN_GRACE: &str = "LICENSE_IN_GRACE";
    /// Every seat (and the overage) is taken.
    pub const DEVICE_LIMIT_EXCEEDED: &str = "DEVICE_LIMIT_EXCEEDED";
    /// No such activation.
    pub const ACTIVATION_NOT_FOUND: &str = "ACTIVATION_NOT_FOUND";
    /// The activation was released already (by other means).
    pub const ALREADY_RELEASED: &str = "ALREADY_RELEASED";
    /// The receipt's signature or schema failed.
    pub const RECEIPT_INVALID: &str = "RECEIPT_INVALID";
    /// The receipt is not from the machine holding the seat (key, fingerprint or lineage).
    pub const RECEIPT_MISMATCH: &str = "RECEIPT_MISMATCH";
    /// Forced releases of this license used up their budget for 90 days.
    pub const RELEASE_BUDGET_EXHAUSTED: &str = "RELEASE_BUDGET_EXHAUSTED";
    /// The license's seats were reset less than 30 days ago.
    pub const RESET_TOO_SOON: &str = "RESET_TOO_SOON";
    /// The install token does not verify (signature, signer, schema).
    pub const TOKEN_INVALID: &str = "TOKEN_INVALID";
    /// The install token's time is over.
    pub const TOKEN_EXPIRED: &str = "TOKEN_EXPIRED";
    /// The install token is for another license, or the request names another token.
    pub const TOKEN_MISMATCH: &str = "TOKEN_MISMATCH";
    /// The install token was spent already (every seat it allows was made).
    pub const TOKEN_USED: &str = "TOKEN_USED";
    /// A renewal signed by another instance key or fingerprint than the seat's.
    pub const INSTANCE_MISMATCH: &str = "INSTANCE_MISMATCH";
    /// A renewal of a seat that was released or whose lease ended: activate again.
    pub const ACTIVATION_ENDED: &str = "ACTIVATION_ENDED";
}

/// The oldest request `fulfill` accepts, in days (a file carried by hand may take a while).
pub const MAX_REQUEST_AGE_DAYS: i64 = 30;
/// Clock skew tolerated on a request's `created_at`, in seconds.
pub const REQUEST_SKEW_SECS: i64 = 300;
/// Forced releases allowed per license lineage in [`RELEASE_WINDOW_DAYS`]: its device limit.
pub const RELEASE_WINDOW_DAYS: i64 = 90;
/// Days between two resets of one license lineage.
pub const RESET_INTERVAL_DAYS: i64 = 30;

/// A refusal: a stable code and what to tell the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The code ([`code`]).
    pub code: &'static str,
    /// The message, naming the license, seat or request.
    pub message: String,
}

fn refuse<T>(code: &'static str, message: impl Into<String>) -> Result<Result<T, Refusal>> {
    Ok(Err(Refusal {
        code,
        message: message.into(),
    }))
}

/// A live seat, as [`decide`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// The activation id.
    pub activation_id: String,
    /// The machine's fingerprint.
    pub fingerprint: String,
    /// Whether it is over the device limit.
    pub overage: bool,
}

/// What the license allows at the time of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// The device limit.
    pub device_limit: u64,
    /// The limit plus its overage.
    pub max_seats: u64,
    /// Whether new seats may be made (not in grace).
    pub new_seats: bool,
}

/// The seat decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The fingerprint holds this seat already: a fresh lease for it, never a second seat.
    Existing(String),
    /// A new seat (over the limit when `overage`).
    New {
        /// Beyond the device limit, inside the tier's overage.
        overage: bool,
    },
    /// Refused, with its code.
    Refused(&'static str),
}

/// The one seat decision: the same fingerprint keeps its seat; a new one gets a seat while
/// fewer than the limit are live, an overage seat while fewer than the limit plus overage are,
/// and [`code::DEVICE_LIMIT_EXCEEDED`] after that.
pub fn decide(terms: &Terms, live: &[Seat], fingerprint: &str) -> Decision {
    let mine = live.iter().find(|s| s.fingerprint == fingerprint);
    decide_counted(
        terms,
        mine.map(|s| s.activation_id.as_str()),
        live.len() as u64,
    )
}

/// [`decide`] from what the registry answers with two indexed lookups: the fingerprint's live
/// seat, if any, and how many seats are live (the same decision, without loading every seat).
pub fn decide_counted(terms: &Terms, mine: Option<&str>, live: u64) -> Decision {
    if let Some(id) = mine {
        return Decision::Existing(id.to_string());
    }
    if !terms.new_seats {
        return Decision::Refused(code::LICENSE_IN_GRACE);
    }
    if live < terms.device_limit {
        Decision::New { overage: false }
    } else if live < terms.max_seats {
        Decision::New { overage: true }
    } else {
        Decision::Refused(code::DEVICE_LIMIT_EXCEEDED)
    }
}

/// A granted request, recorded but not yet signed: the lease as the registry now holds it.
/// [`Granted::sign`] makes it a [`Fulfilled`] request; the service signs outside its write
/// transaction, so the one writer never waits on a signature.
#[derive(Debug, Clone)]
pub struct Granted {
    /// The lease.
    pub activation: Activation,
    /// Whether a new seat was taken (else a fresh lease for the machine's seat).
    pub new_seat: bool,
    /// Live seats of the lineage after this one.
    pub seats_in_use: u64,
    /// The license's signed document (as stored).
    pub license_document: Vec<u8>,
    /// Its envelope bytes.
    pub license_signature: Vec<u8>,
}

impl Granted {
    /// Writes the lease's canonical bytes (`activation.json`) and signs them with the
    /// activation key.
    pub fn sign(self, key: &SecretKey) -> Result<Fulfilled> {
        let document = self.activation.to_canonical();
        let signature = key.sign_document(Kind::Activation, &document)?.to_bytes();
        Ok(Fulfilled {
            activation: self.activation,
            document,
            signature,
            new_seat: self.new_seat,
            seats_in_use: self.seats_in_use,
            license_document: self.license_document,
            license_signature: self.license_signature,
        })
    }
}

/// A fulfilled request.
#[derive(Debug, Clone)]
pub struct Fulfilled {
    /// The signed lease.
    pub activation: Activation,
    /// Its canonical bytes (`activation.json`).
    pub document: Vec<u8>,
    /// Its envelope (`activation.sig`).
    pub signature: Vec<u8>,
    /// Whether a new seat was taken (else a fresh lease for the machine's seat).
    pub new_seat: bool,
    /// Live seats of the lineage after this one.
    pub seats_in_use: u64,
    /// The license the lease is for: its signed document (as stored) and envelope bytes, for
    /// a machine that activated with a token and has no license files yet.
    pub license_document: Vec<u8>,
    /// Its envelope bytes (`license.sig`).
    pub license_signature: Vec<u8>,
}

/// One activation row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Activation id.
    pub activation_id: String,
    /// Lineage.
    pub lineage_id: String,
    /// The license of its last lease.
    pub license_id: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Instance public key (base64).
    pub instance_key: String,
    /// Operator's label.
    pub label: String,
    /// Reset epoch.
    pub epoch: u64,
    /// Over the device limit.
    pub overage: bool,
    /// When the seat was taken.
    pub created_at: Timestamp,
    /// Its last lease's sequence.
    pub lease_sequence: u64,
    /// When its last lease was signed.
    pub lease_issued_at: Timestamp,
    /// When its last lease ends.
    pub lease_not_after: Timestamp,
    /// When it was released.
    pub released_at: Option<Timestamp>,
    /// How: `receipt`, `force`, `reset` or `expired`.
    pub release_kind: Option<String>,
    /// Why.
    pub release_reason: Option<String>,
}

impl Row {
    /// `active`, `lease_expired` or `released`.
    pub fn status(&self, now: Timestamp) -> &'static str {
        if self.released_at.is_some() {
            "released"
        } else if self.lease_not_after <= now {
            "lease_expired"
        } else {
            "active"
        }
    }
}

const ROW_COLUMNS: &str = "activation_id, lineage_id, license_id, fingerprint, instance_key, label, epoch, overage, created_at, lease_sequence, lease_issued_at, lease_not_after, released_at, release_kind, release_reason";

fn read_row(r: &dyn SqlRow) -> Result<Row> {
    Ok(Row {
        activation_id: r.text(0)?,
        lineage_id: r.text(1)?,
        license_id: r.text(2)?,
        fingerprint: r.text(3)?,
        instance_key: r.text(4)?,
        label: r.text(5)?,
        epoch: r.int(6)? as u64,
        overage: r.int(7)? != 0,
        created_at: Timestamp(r.int(8)?),
        lease_sequence: r.int(9)? as u64,
        lease_issued_at: Timestamp(r.int(10)?),
        lease_not_after: Timestamp(r.int(11)?),
        released_at: r.opt_int(12)?.map(Timestamp),
        release_kind: r.opt_text(13)?,
        release_reason: r.opt_text(14)?,
    })
}

/// SHA-256 of a row's canonical JSON: what its latest audit event records.
pub fn row_hash(r: &Row) -> String {
    let s = |v: &str| Value::String(v.to_string());
    let n = |v: u64| Value::Number(v as f64);
    let t = |v: Timestamp| Value::Number(v.0 as f64);
    let opt = |v: &Option<String>| v.as_deref().map_or(Value::Null, s);
    let v = Value::object(vec![
        ("activation_id".into(), s(&r.activation_id)),
        ("lineage_id".into(), s(&r.lineage_id)),
        ("license_id".into(), s(&r.license_id)),
        ("fingerprint".into(), s(&r.fingerprint)),
        ("instance_key".into(), s(&r.instance_key)),
        ("label".into(), s(&r.label)),
        ("epoch".into(), n(r.epoch)),
        ("overage".into(), Value::Bool(r.overage)),
        ("created_at".into(), t(r.created_at)),
        ("lease_sequence".into(), n(r.lease_sequence)),
        ("lease_issued_at".into(), t(r.lease_issued_at)),
        ("lease_not_after".into(), t(r.lease_not_after)),
        ("released_at".into(), r.released_at.map_or(Value::Null, t)),
        ("release_kind".into(), opt(&r.release_kind)),
        ("release_reason".into(), opt(&r.release_reason)),
    ])
    .expect("distinct names");
    enc::sha256_hex(&v.to_canonical())
}

fn get_row(tx: &dyn Sql, id: &str) -> Result<Option<Row>> {
    tx.opt(
        &format!("SELECT {ROW_COLUMNS} FROM activations WHERE activation_id = ?1"),
        args![id],
        read_row,
    )
}

/// Appends an event for an activation row as it now stands.
fn audit_seat(tx: &dyn Sql, at: Timestamp, event: &str, id: &str, detail: &str) -> Result<()> {
    let r = get_row(tx, id)?.with_context(|| format!("activation {id} vanished"))?;
    audit_with(
        tx,
        at,
        event,
        &format!("activation:{id}"),
        detail,
        Some(&row_hash(&r)),
    )
}

/// Licenses parsed from their stored documents, per thread (the service's writer is one),
/// by license id: a renewal re-reads its license's terms, and parsing the document was a
/// quarter of its work. A stored document never changes, and a hit must match it byte for
/// byte all the same, so the cache can save a parse and never change an answer.
struct ParsedLicenses {
    by_id: HashMap<String, (Vec<u8>, License, Times)>,
}

/// The most licenses [`ParsedLicenses`] holds (it starts over when full).
const PARSED_LICENSES: usize = 4096;

thread_local! {
    static PARSED: std::cell::RefCell<ParsedLicenses> = std::cell::RefCell::new(ParsedLicenses {
        by_id: HashMap::new(),
    });
}

/// The license's terms and standing at `now`, from its signed document.
fn license_terms(license_id: &str, doc: &[u8], now: Timestamp) -> Result<(License, Standing)> {
    let hit = PARSED.with(|p| {
        p.borrow()
            .by_id
            .get(license_id)
            .filter(|(d, _, _)| d.as_slice() == doc)
            .map(|(_, l, t)| (l.clone(), *t))
    });
    let (l, times) = match hit {
        Some(x) => x,
        None => {
            let (l, times, _) = License::parse(doc)
                .map_err(anyhow::Error::new)
                .context("stored license")?;
            PARSED.with(|p| {
                let by_id = &mut p.borrow_mut().by_id;
                if by_id.len() >= PARSED_LICENSES {
                    by_id.clear();
                }
                by_id.insert(license_id.to_string(), (doc.to_vec(), l.clone(), times));
            });
            (l, times)
        }
    };
    let st = Standing::at(times, l.grace_days, now, 0);
    Ok((l, st))
}

/// The newest license in force at `now` along the renewals of `rec` (`rec` itself while its
/// renewal has not begun: a renewal made early starts at the old expiry). A revoked renewal
/// stops the walk with [`code::LICENSE_REVOKED`].
fn in_force(tx: &dyn Sql, rec: Record, now: Timestamp) -> Outcome<Record> {
    let mut chosen = rec;
    while let Some(next) = chosen.renewed_by.clone() {
        let n = get_in(tx, &next)?
            .with_context(|| format!("license {next}, a renewal of {}", chosen.license_id))?;
        if let Some(at) = n.revoked_at {
            return refuse(
                code::LICENSE_REVOKED,
                format!(
                    "license {next}, the renewal of {}, was revoked at {at}",
                    chosen.license_id
                ),
            );
        }
        let (_, st) = license_terms(&n.license_id, &n.document, now)?;
        if st.state == State::NotYetValid {
            break;
        }
        chosen = n;
    }
    Ok(Ok(chosen))
}

/// Frees the seats of `lineage` whose lease ended (they come back on their own).
fn expire_leases(tx: &dyn Sql, lineage: &str, now: Timestamp) -> Result<()> {
    let ids = tx.all(
        "SELECT activation_id FROM activations WHERE lineage_id = ?1 AND released_at IS NULL AND lease_not_after <= ?2",
        args![lineage, now.0],
        |r| r.text(0),
    )?;
    for id in ids {
        free_seat(tx, &id, "expired", "lease ended", now)?;
        audit_seat(tx, now, "lease_expired", &id, "seat freed: its lease ended")?;
    }
    Ok(())
}

/// Frees a live seat: marks it released and counts it out of its lineage's live seats. A seat
/// released already is left as it is (false).
fn free_seat(tx: &dyn Sql, id: &str, kind: &str, why: &str, now: Timestamp) -> Result<bool> {
    let n = tx.exec(
        "UPDATE activations SET released_at = ?1, release_kind = ?2, release_reason = ?3 WHERE activation_id = ?4 AND released_at IS NULL",
        args![now.0, kind, why, id],
    )?;
    if n == 1 {
        tx.exec(
            "UPDATE activation_lineages SET live_seats = live_seats - 1 WHERE lineage_id = (SELECT lineage_id FROM activations WHERE activation_id = ?1)",
            args![id],
        )?;
    }
    Ok(n == 1)
}

/// The fingerprint's live seat of `lineage` (one lookup on the partial index of live seats).
fn live_seat(tx: &dyn Sql, lineage: &str, fingerprint: &str) -> Result<Option<Row>> {
    tx.opt(
        &format!("SELECT {ROW_COLUMNS} FROM activations WHERE lineage_id = ?1 AND fingerprint = ?2 AND released_at IS NULL"),
        args![lineage, fingerprint],
        read_row,
    )
}

/// A lineage's counters: its reset epoch, its last lease sequence and how many of its seats
/// are live (kept with every seat taken or freed, so a renewal never counts the seats; `audit
/// verify` checks the count). The row is made on the lineage's first use.
fn lineage_counters(tx: &dyn Sql, lineage: &str) -> Result<(u64, u64, u64)> {
    let read = |r: &dyn SqlRow| Ok((r.int(0)? as u64, r.int(1)? as u64, r.int(2)? as u64));
    if let Some(c) = tx.opt(
        "SELECT epoch, lease_sequence, live_seats FROM activation_lineages WHERE lineage_id = ?1",
        args![lineage],
        read,
    )? {
        return Ok(c);
    }
    tx.exec(
        "INSERT INTO activation_lineages (lineage_id, epoch, lease_sequence, live_seats) VALUES (?1, 1, 0, 0)",
        args![lineage],
    )?;
    Ok((1, 0, 0))
}

/// The ids of the live seats of `lineage` (for messages).
fn live_ids(tx: &dyn Sql, lineage: &str, max: usize) -> Result<Vec<String>> {
    tx.all(
        "SELECT activation_id FROM activations WHERE lineage_id = ?1 AND released_at IS NULL ORDER BY created_at, activation_id LIMIT ?2",
        args![lineage, max as i64],
        |r| r.text(0),
    )
}

fn random_id() -> String {
    let mut b = [0u8; 8];
    OsRng.fill_bytes(&mut b);
    format!("act-{}", enc::hex(&b))
}

/// Verifies a request file (signature by the instance key it carries, schema) and its age.
pub fn check_request(file: &[u8], now: Timestamp) -> Result<ActivationRequest, Refusal> {
    let (req, created, _) =
        verify_instance_signed::<ActivationRequest>(file).map_err(|e| Refusal {
            code: code::REQUEST_INVALID,
            message: format!("the activation request does not verify: {e}"),
        })?;
    if created.0 > now.0 + REQUEST_SKEW_SECS {
        return Err(Refusal {
            code: code::REQUEST_FROM_FUTURE,
            message: format!(
                "the request was made at {created}, after now ({now}): check the clocks"
            ),
        });
    }
    if created < now.plus_days(-MAX_REQUEST_AGE_DAYS) {
        return Err(Refusal {
            code: code::REQUEST_STALE,
            message: format!(
                "the request was made at {created}, more than {MAX_REQUEST_AGE_DAYS} days ago: make a new one with `airlock-agent request`"
            ),
        });
    }
    Ok(req)
}

/// How a request reaches the seat decision.
#[derive(Debug, Clone, Copy)]
pub enum How<'a> {
    /// With the license key it carries (a file carried by hand, or online with the key).
    Key,
    /// Online with an install token the caller verified against its trust store: the token
    /// stands in for the key and is spent, in the same transaction, by a new seat.
    Token(&'a Verified<InstallToken>),
    /// A renewal of the seat `activation_id` by its machine: the request is the proof of
    /// possession (signed by the seat's instance key, for its fingerprint).
    Renew {
        /// The seat.
        activation_id: &'a str,
        /// What the machine reported, recorded with the renewal.
        heartbeat: Option<&'a Heartbeat>,
    },
}

/// How long a lease runs and when its machine should renew it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTerms {
    /// The longest lease, in days (`None`: to the license's expiry plus grace).
    pub days: Option<u64>,
    /// Seconds instead of days, for short online leases (wins over `days`).
    pub seconds: Option<u64>,
    /// When to renew, in percent of the lease's life.
    pub renew_percent: i64,
}

impl LeaseTerms {
    /// Files carried by hand: long leases, renewed late (85 %).
    pub fn offline(days: Option<u64>) -> LeaseTerms {
        LeaseTerms {
            days,
            seconds: None,
            renew_percent: 85,
        }
    }

    /// The service's leases: `days` long, renewed at half their life, so a machine rides out
    /// an outage of half a lease.
    pub fn online(days: u64) -> LeaseTerms {
        LeaseTerms {
            days: Some(days),
            seconds: None,
            renew_percent: 50,
        }
    }

    fn end(&self, now: Timestamp, cap: Timestamp) -> Timestamp {
        match (self.seconds, self.days) {
            (Some(s), _) => cap.min(Timestamp(now.0.saturating_add(s as i64))),
            (None, Some(d)) => cap.min(now.plus_days(d as i64)),
            (None, None) => cap,
        }
    }
}

/// Most counts one heartbeat may carry.
pub const MAX_HEARTBEAT_COUNTS: usize = 32;

/// What a renewing machine may report: its product version, its uptime and counts the product
/// chooses to report (e.g. `calls_today`). Nothing else: no content, no addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The product's version.
    #[serde(default)]
    pub product_version: Option<String>,
    /// Seconds since the product started.
    #[serde(default)]
    pub uptime_seconds: Option<u64>,
    /// Named counts.
    #[serde(default)]
    pub counts: std::collections::BTreeMap<String, u64>,
}

impl Heartbeat {
    /// Checks the bounds: a version of at most 64 printable characters, at most 32 counts
    /// named like identifiers (at most 64 characters), every number at most 2^53-1.
    pub fn check(&self) -> Result<(), String> {
        if let Some(v) = &self.product_version {
            if v.is_empty()
                || v.chars().count() > 64
                || runtime::text::first_unprintable(v).is_some()
            {
                return Err("product_version must be 1-64 printable characters".into());
            }
        }
        if self
            .uptime_seconds
            .is_some_and(|u| u > runtime::MAX_SAFE_INTEGER)
        {
            return Err("uptime_seconds must be at most 2^53-1".into());
        }
        if self.counts.len() > MAX_HEARTBEAT_COUNTS {
            return Err(format!("at most {MAX_HEARTBEAT_COUNTS} counts"));
        }
        for (k, v) in &self.counts {
            if k.len() > 64 || !runtime::license::valid_id(k) {
                return Err(format!(
                    "count name {k:?} must be 1-64 characters of A-Z a-z 0-9 . _ : -"
                ));
            }
            if *v > runtime::MAX_SAFE_INTEGER {
                return Err(format!("count {k} must be at most 2^53-1"));
            }
        }
        Ok(())
    }

    fn counts_json(&self) -> String {
        let v = Value::object(
            self.counts
                .iter()
                .map(|(k, v)| (k.clone(), Value::Number(*v as f64)))
                .collect(),
        )
        .expect("distinct names");
        String::from_utf8(v.to_canonical()).expect("canonical JSON is UTF-8")
    }
}

/// Fulfils a verified request carried by hand: [`fulfill_in`] with the license key, in one
/// `BEGIN IMMEDIATE` transaction. `lease_days` caps the lease (default: to the license's
/// expiry plus grace).
pub fn fulfill(
    reg: &mut Registry,
    req: &ActivationRequest,
    key: &SecretKey,
    now: Timestamp,
    lease_days: Option<u64>,
) -> Result<Result<Fulfilled, Refusal>> {
    reg.immediate(|tx| {
        fulfill_in(
            tx,
            req,
            How::Key,
            key,
            now,
            &LeaseTerms::offline(lease_days),
        )
    })
}

/// The seat decision and a signed lease for a verified request, recorded inside the caller's
/// transaction (the registry's write lock held): [`grant_in`], then the signature.
pub fn fulfill_in(
    tx: &dyn Sql,
    req: &ActivationRequest,
    how: How<'_>,
    key: &SecretKey,
    now: Timestamp,
    lease: &LeaseTerms,
) -> Result<Result<Fulfilled, Refusal>> {
    match grant_in(tx, req, how, now, lease)? {
        Ok(g) => Ok(Ok(g.sign(key)?)),
        Err(r) => Ok(Err(r)),
    }
}

/// The seat decision and the lease for a verified request, recorded inside the caller's
/// transaction (the registry's write lock held): the license's standing, the token or the
/// seat being renewed, the seats, the decision, the lease counter, the lease, the rows and the
/// audit event. The lease is returned unsigned ([`Granted::sign`]).
pub fn grant_in(
    tx: &dyn Sql,
    req: &ActivationRequest,
    how: How<'_>,
    now: Timestamp,
    lease: &LeaseTerms,
) -> Result<Result<Granted, Refusal>> {
    let Some(rec) = get_in(tx, &req.license_id)? else {
        return refuse(
            code::LICENSE_NOT_FOUND,
            format!("no license {} in the registry", req.license_id),
        );
    };
    match how {
        How::Token(t) => {
            let t = t.value();
            if req.install_token_id.as_deref() != Some(t.token_id.as_str())
                || t.license_id != req.license_id
                || t.lineage_id != req.lineage_id
                || t.product != req.product
                || t.workspace != req.workspace
            {
                return refuse(
                    code::TOKEN_MISMATCH,
                    format!(
                        "install token {} is for license {}; the request names license {} and token {}",
                        t.token_id,
                        t.license_id,
                        req.license_id,
                        req.install_token_id.as_deref().unwrap_or("(none)")
                    ),
                );
            }
            let expires = Timestamp::parse(&t.expires_at).context("verified token")?;
            if now >= expires {
                return refuse(
                    code::TOKEN_EXPIRED,
                    format!(
                        "install token {} expired at {expires}: ask the vendor for a new one",
                        t.token_id
                    ),
                );
            }
        }
        How::Key | How::Renew { .. } => {
            if req.install_token_id.is_some() {
                return refuse(
                    code::TOKEN_MISMATCH,
                    "the request names an install token: send it with that token",
                );
            }
        }
    }
    let key_ok = matches!(how, How::Token(_)) && req.license_key.is_empty()
        || rec.license_key == req.license_key;
    if !key_ok || rec.product != req.product || rec.lineage_id != req.lineage_id {
        return refuse(
            code::LICENSE_MISMATCH,
            format!(
                "the request's license key, product or lineage is not license {}'s",
                rec.license_id
            ),
        );
    }
    if let Some(at) = rec.revoked_at {
        return refuse(
            code::LICENSE_REVOKED,
            format!("license {} was revoked at {at}", rec.license_id),
        );
    }
    // A renewed license: an online renewal moves to the newest renewal in force (its files go
    // back with the lease, and the seat carries over); anything else is told to install it.
    let rec = match (&rec.renewed_by, how) {
        (None, _) => rec,
        (Some(_), How::Renew { .. }) => match in_force(tx, rec, now)? {
            Ok(r) => r,
            Err(r) => return Ok(Err(r)),
        },
        (Some(next), _) => {
            return refuse(
                code::LICENSE_RENEWED,
                format!(
                    "license {} was renewed by {next}: install the renewal and request again (its seats carry over)",
                    rec.license_id
                ),
            )
        }
    };
    let (license, standing) = license_terms(&rec.license_id, &rec.document, now)?;
    if license.workspace != req.workspace {
        return refuse(
            code::LICENSE_MISMATCH,
            format!(
                "the request names workspace {:?}; license {} is for workspace {:?}",
                req.workspace, rec.license_id, license.workspace
            ),
        );
    }
    if standing.state == State::Expired {
        return refuse(
            code::LICENSE_EXPIRED,
            format!(
                "license {} expired at {} and its grace period ended at {}",
                rec.license_id, standing.times.expires_at, standing.grace_end
            ),
        );
    }
    let replayed = tx.opt(
        "SELECT r.activation_id, a.released_at FROM activation_requests r JOIN activations a USING (activation_id) WHERE r.request_id = ?1",
        args![&req.request_id],
        |r| Ok((r.text(0)?, r.opt_int(1)?)),
    )?;
    if let Some((id, Some(at))) = &replayed {
        return refuse(
            code::REQUEST_REPLAYED,
            format!(
                "request {} made activation {id}, released at {}: a released seat is never brought back by its old request; make a new request",
                req.request_id,
                Timestamp(*at)
            ),
        );
    }
    expire_leases(tx, &rec.lineage_id, now)?;
    // The machine's live seat: the one it renews, or its fingerprint's.
    let mine = if let How::Renew { activation_id, .. } = how {
        let Some(row) = get_row(tx, activation_id)? else {
            return refuse(
                code::ACTIVATION_NOT_FOUND,
                format!("no activation {activation_id} in the registry"),
            );
        };
        if row.fingerprint != req.fingerprint
            || row.instance_key != req.instance_public_key
            || row.lineage_id != req.lineage_id
        {
            return refuse(
                code::INSTANCE_MISMATCH,
                format!(
                    "the renewal is not signed by the machine holding activation {activation_id} (its key, fingerprint or license differ)"
                ),
            );
        }
        if row.released_at.is_some() {
            return refuse(
                code::ACTIVATION_ENDED,
                format!(
                    "activation {activation_id} was released ({}) at {}: activate again",
                    row.release_kind.as_deref().unwrap_or("?"),
                    row.released_at.map(|t| t.to_string()).unwrap_or_default()
                ),
            );
        }
        // Live, and of this lineage and fingerprint: the fingerprint's one live seat.
        Some(row)
    } else {
        live_seat(tx, &rec.lineage_id, &req.fingerprint)?
    };
    let (epoch, last_seq, live) = lineage_counters(tx, &rec.lineage_id)?;
    let terms = Terms {
        device_limit: license.device_limit(),
        max_seats: license.max_seats(),
        new_seats: standing.state != State::Grace,
    };
    let decision = decide_counted(
        &terms,
        mine.as_ref().map(|r| r.activation_id.as_str()),
        live,
    );
    let (activation_id, overage, new_seat) = match decision {
        Decision::Existing(id) => (id, mine.as_ref().is_some_and(|r| r.overage), false),
        Decision::New { overage } => (random_id(), overage, true),
        Decision::Refused(c) if c == code::LICENSE_IN_GRACE => {
            return refuse(
                c,
                format!(
                    "license {} is in its grace period (expired {}): existing seats get fresh leases, new machines cannot activate until it is renewed",
                    rec.license_id, standing.times.expires_at
                ),
            )
        }
        Decision::Refused(c) => {
            let ids = live_ids(tx, &rec.lineage_id, 10)?;
            return refuse(
                c,
                format!(
                    "license {} allows {} device(s){}; {live} in use: {}{}. Release one (`factory activation release`) or raise the limit",
                    rec.license_id,
                    terms.device_limit,
                    if terms.max_seats > terms.device_limit {
                        format!(" plus {} over the limit", terms.max_seats - terms.device_limit)
                    } else {
                        String::new()
                    },
                    ids.join(", "),
                    if live > ids.len() as u64 { ", ..." } else { "" }
                ),
            );
        }
    };
    if let (How::Token(t), true) = (how, new_seat) {
        let t = t.value();
        let spent = tx.int(
            "SELECT count(*) FROM install_token_uses WHERE token_id = ?1",
            args![&t.token_id],
        )?;
        if spent as u64 >= t.allowance {
            audit_with(
                tx,
                now,
                "token_reuse_refused",
                &format!("token:{}", t.token_id),
                &format!(
                    "license={} fingerprint={} request={} spent={spent} allowance={}",
                    rec.license_id, req.fingerprint, req.request_id, t.allowance
                ),
                None,
            )?;
            return refuse(
                code::TOKEN_USED,
                format!(
                    "install token {} was spent already ({spent} of {} activation(s)): ask the vendor for a new one",
                    t.token_id, t.allowance
                ),
            );
        }
    }
    let sequence = last_seq + 1;
    let seats_in_use = live + u64::from(new_seat);
    tx.exec(
        "UPDATE activation_lineages SET lease_sequence = ?1, live_seats = ?2 WHERE lineage_id = ?3",
        args![sequence, seats_in_use, &rec.lineage_id],
    )?;
    let not_after = lease.end(now, standing.grace_end);
    let renew_after = Timestamp(now.0 + (not_after.0 - now.0) * lease.renew_percent / 100);
    let activation = Activation {
        doc_type: runtime::activation::ACTIVATION_TYPE.into(),
        activation_id: activation_id.clone(),
        request_id: req.request_id.clone(),
        license_id: rec.license_id.clone(),
        lineage_id: rec.lineage_id.clone(),
        product: rec.product.clone(),
        customer_id: rec.customer_id.clone(),
        workspace: license.workspace.clone(),
        fingerprint: req.fingerprint.clone(),
        instance_public_key: req.instance_public_key.clone(),
        label: req.label.clone(),
        device_limit: terms.device_limit,
        overage,
        epoch,
        sequence,
        issued_at: now.to_string(),
        not_before: now.to_string(),
        not_after: not_after.to_string(),
        renew_after: renew_after.to_string(),
    };
    activation
        .validate()
        .map_err(anyhow::Error::new)
        .context("the lease built")?;
    // The row as it now stands (its hash goes into the audit event).
    let row = match mine {
        Some(mut row) if !new_seat => {
            if row.license_id != rec.license_id
                || row.instance_key != req.instance_public_key
                || row.label != req.label
            {
                tx.exec(
                    "UPDATE activations SET license_id = ?1, instance_key = ?2, label = ?3 WHERE activation_id = ?4",
                    args![&rec.license_id, &req.instance_public_key, &req.label, &activation_id],
                )?;
                row.license_id.clone_from(&rec.license_id);
                row.instance_key.clone_from(&req.instance_public_key);
                row.label.clone_from(&req.label);
            }
            // Only the lease columns: a renewal rewrites no index but the lease end's.
            tx.exec(
                "UPDATE activations SET lease_sequence = ?1, lease_issued_at = ?2, lease_not_after = ?3 WHERE activation_id = ?4",
                args![sequence, now.0, not_after.0, &activation_id],
            )?;
            row.lease_sequence = sequence;
            row.lease_issued_at = now;
            row.lease_not_after = not_after;
            row
        }
        _ => {
            tx.exec(
                "INSERT INTO activations (activation_id, lineage_id, license_id, fingerprint, instance_key, label, epoch, overage, created_at, lease_sequence, lease_issued_at, lease_not_after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?9, ?11)",
                args![&activation_id, &rec.lineage_id, &rec.license_id, &req.fingerprint, &req.instance_public_key, &req.label, epoch, i64::from(overage), now.0, sequence, not_after.0],
            )?;
            Row {
                activation_id: activation_id.clone(),
                lineage_id: rec.lineage_id.clone(),
                license_id: rec.license_id.clone(),
                fingerprint: req.fingerprint.clone(),
                instance_key: req.instance_public_key.clone(),
                label: req.label.clone(),
                epoch,
                overage,
                created_at: now,
                lease_sequence: sequence,
                lease_issued_at: now,
                lease_not_after: not_after,
                released_at: None,
                release_kind: None,
                release_reason: None,
            }
        }
    };
    tx.exec(
        "INSERT INTO activation_requests (request_id, activation_id, at) VALUES (?1, ?2, ?3) ON CONFLICT (request_id) DO NOTHING",
        args![&req.request_id, &activation_id, now.0],
    )?;
    let via = match how {
        How::Token(t) => {
            if new_seat {
                tx.exec(
                    "INSERT INTO install_token_uses (token_id, activation_id, at) VALUES (?1, ?2, ?3)",
                    args![&t.value().token_id, &activation_id, now.0],
                )?;
            }
            format!(" token={}", t.value().token_id)
        }
        How::Renew { heartbeat, .. } => {
            if let Some(h) = heartbeat {
                tx.exec(
                    "INSERT INTO activation_heartbeats (activation_id, at, product_version, uptime_seconds, counts) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (activation_id) DO UPDATE SET at = excluded.at, product_version = excluded.product_version, uptime_seconds = excluded.uptime_seconds, counts = excluded.counts",
                    args![
                        &activation_id,
                        now.0,
                        &h.product_version,
                        h.uptime_seconds.map(|u| u as i64),
                        &h.counts_json()
                    ],
                )?;
            }
            String::new()
        }
        How::Key => String::new(),
    };
    let event = match (new_seat, overage) {
        (true, false) => "activated",
        (true, true) => "activated_over_limit",
        (false, _) => "lease_renewed",
    };
    audit_with(
        tx,
        now,
        event,
        &format!("activation:{activation_id}"),
        &format!(
            "license={} fingerprint={} request={} sequence={sequence} not_after={not_after}{via}",
            rec.license_id, req.fingerprint, req.request_id
        ),
        Some(&row_hash(&row)),
    )?;
    Ok(Ok(Granted {
        activation,
        new_seat,
        seats_in_use,
        license_document: rec.document,
        license_signature: rec.signature,
    }))
}

/// A signed install token (`factory token create`).
#[derive(Debug, Clone)]
pub struct Token {
    /// The token.
    pub token: InstallToken,
    /// Its text form ([`runtime::activation::TOKEN_PREFIX`] + base64): what the customer's
    /// installer is given. A bearer secret until it is spent or expires.
    pub text: String,
}

/// Signs an install token for `license_id` allowing `allowance` activations for `ttl_secs`
/// (at most 72 hours), and records its creation in the audit log. The license must be live or
/// not yet valid (not revoked, renewed, in grace or expired).
pub fn token_create(
    reg: &mut Registry,
    license_id: &str,
    allowance: u64,
    ttl_secs: i64,
    key: &SecretKey,
    now: Timestamp,
) -> Outcome<Token> {
    reg.immediate(|tx| {
        let Some(rec) = get_in(tx, license_id)? else {
            return refuse(
                code::LICENSE_NOT_FOUND,
                format!("no license {license_id} in the registry"),
            );
        };
        if rec.revoked_at.is_some() {
            return refuse(
                code::LICENSE_REVOKED,
                format!("license {license_id} is revoked"),
            );
        }
        if let Some(next) = &rec.renewed_by {
            return refuse(
                code::LICENSE_RENEWED,
                format!("license {license_id} was renewed by {next}: make the token for {next}"),
            );
        }
        let (license, standing) = license_terms(&rec.license_id, &rec.document, now)?;
        match standing.state {
            State::Expired => {
                return refuse(
                    code::LICENSE_EXPIRED,
                    format!("license {license_id} has expired"),
                )
            }
            State::Grace => {
                return refuse(
                    code::LICENSE_IN_GRACE,
                    format!(
                        "license {license_id} is in its grace period: new machines cannot activate"
                    ),
                )
            }
            _ => {}
        }
        let mut b = [0u8; 16];
        OsRng.fill_bytes(&mut b);
        let token = InstallToken {
            doc_type: runtime::activation::INSTALL_TOKEN_TYPE.into(),
            token_id: enc::hex(&b),
            license_id: rec.license_id.clone(),
            lineage_id: rec.lineage_id.clone(),
            product: rec.product.clone(),
            workspace: license.workspace.clone(),
            allowance,
            issued_at: now.to_string(),
            expires_at: Timestamp(now.0 + ttl_secs).to_string(),
        };
        token
            .validate()
            .map_err(anyhow::Error::new)
            .context("the token built")?;
        let canonical = token.to_canonical();
        let envelope = key.sign_document(Kind::InstallToken, &canonical)?;
        let text = runtime::activation::SignedFile {
            canonical,
            envelope,
        }
        .to_token();
        audit_with(
            tx,
            now,
            "token_created",
            &format!("token:{}", token.token_id),
            &format!(
                "license={} allowance={allowance} expires_at={} key={}",
                rec.license_id,
                token.expires_at,
                key.key_id()
            ),
            None,
        )?;
        Ok(Ok(Token { token, text }))
    })
}

/// What a release did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The activation.
    pub row: Row,
    /// `false` when the same receipt had released it already (nothing done twice).
    pub changed: bool,
}

/// Verifies a deactivation receipt (signature by the instance key it carries).
pub fn check_receipt(file: &[u8]) -> Result<Deactivation, Refusal> {
    verify_instance_signed::<Deactivation>(file)
        .map(|(d, _, _)| d)
        .map_err(|e| Refusal {
            code: code::RECEIPT_INVALID,
            message: format!("the deactivation receipt does not verify: {e}"),
        })
}

/// Frees a seat on the machine's signed receipt: the receipt must come from the key and
/// fingerprint the seat was given to.
pub fn release_with_receipt(
    reg: &mut Registry,
    receipt: &Deactivation,
    now: Timestamp,
) -> Result<Result<Released, Refusal>> {
    reg.immediate(|tx| release_with_receipt_in(tx, receipt, now))
}

/// [`release_with_receipt`] inside the caller's transaction.
pub fn release_with_receipt_in(
    tx: &dyn Sql,
    receipt: &Deactivation,
    now: Timestamp,
) -> Result<Result<Released, Refusal>> {
    let Some(row) = get_row(tx, &receipt.activation_id)? else {
        return refuse(
            code::ACTIVATION_NOT_FOUND,
            format!("no activation {} in the registry", receipt.activation_id),
        );
    };
    if row.instance_key != receipt.instance_public_key
        || row.fingerprint != receipt.fingerprint
        || row.lineage_id != receipt.lineage_id
    {
        return refuse(
            code::RECEIPT_MISMATCH,
            format!(
                "the receipt is not from the machine holding activation {} (its key, fingerprint or license differ)",
                row.activation_id
            ),
        );
    }
    if row.released_at.is_some() {
        if row.release_kind.as_deref() == Some("receipt") {
            return Ok(Ok(Released {
                row,
                changed: false,
            }));
        }
        return refuse(
            code::ALREADY_RELEASED,
            format!(
                "activation {} was released already ({}, {})",
                row.activation_id,
                row.release_kind.as_deref().unwrap_or("?"),
                row.released_at.map(|t| t.to_string()).unwrap_or_default()
            ),
        );
    }
    let why = format!(
        "deactivated on the machine at {} (last lease #{})",
        receipt.deactivated_at, receipt.last_sequence
    );
    free_seat(tx, &row.activation_id, "receipt", &why, now)?;
    audit_seat(tx, now, "released", &row.activation_id, &why)?;
    let row = get_row(tx, &row.activation_id)?.context("released row")?;
    Ok(Ok(Released { row, changed: true }))
}

/// Frees the seat of a dead or lost machine without its receipt. The lease is revoked in the
/// next revocation list. At most the license's device limit per 90 days.
pub fn release_force(
    reg: &mut Registry,
    id: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Result<Released, Refusal>> {
    reg.immediate(|tx| release_force_in(tx, id, reason, now))
}

/// [`release_force`] inside the caller's transaction.
pub fn release_force_in(
    tx: &dyn Sql,
    id: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Result<Released, Refusal>> {
    let Some(row) = get_row(tx, id)? else {
        return refuse(
            code::ACTIVATION_NOT_FOUND,
            format!("no activation {id} in the registry"),
        );
    };
    if row.released_at.is_some() {
        return refuse(
            code::ALREADY_RELEASED,
            format!(
                "activation {id} was released already ({})",
                row.release_kind.as_deref().unwrap_or("?")
            ),
        );
    }
    let rec = get_in(tx, &row.license_id)?.context("the activation's license")?;
    let (license, _) = license_terms(&rec.license_id, &rec.document, now)?;
    let used = tx.int(
        "SELECT count(*) FROM activations WHERE lineage_id = ?1 AND release_kind = 'force' AND released_at > ?2",
        args![&row.lineage_id, now.plus_days(-RELEASE_WINDOW_DAYS).0],
    )?;
    if used as u64 >= license.device_limit() {
        return refuse(
            code::RELEASE_BUDGET_EXHAUSTED,
            format!(
                "{used} seats of license {} were released without a receipt in the last {RELEASE_WINDOW_DAYS} days (the budget is its device limit, {}): ask the customer for deactivation receipts, or reset the license's seats",
                row.license_id,
                license.device_limit()
            ),
        );
    }
    free_seat(tx, id, "force", reason, now)?;
    audit_seat(tx, now, "released_force", id, reason)?;
    let row = get_row(tx, id)?.context("released row")?;
    Ok(Ok(Released { row, changed: true }))
}

/// What a reset did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reset {
    /// The lineage reset.
    pub lineage_id: String,
    /// Its new epoch: leases of earlier epochs stop verifying once the customer has the next
    /// revocation list.
    pub epoch: u64,
    /// Seats freed.
    pub released: u64,
}

/// Frees every seat of a license's lineage and raises its epoch. Once per 30 days.
pub fn reset(
    reg: &mut Registry,
    license_id: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Result<Reset, Refusal>> {
    reg.immediate(|tx| reset_in(tx, license_id, reason, now))
}

/// [`reset`] inside the caller's transaction.
pub fn reset_in(
    tx: &dyn Sql,
    license_id: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Result<Reset, Refusal>> {
    let Some(rec) = get_in(tx, license_id)? else {
        return refuse(
            code::LICENSE_NOT_FOUND,
            format!("no license {license_id} in the registry"),
        );
    };
    let lineage = rec.lineage_id.clone();
    tx.exec(
        "INSERT INTO activation_lineages (lineage_id, epoch, lease_sequence) VALUES (?1, 1, 0) ON CONFLICT (lineage_id) DO NOTHING",
        args![&lineage],
    )?;
    let (epoch, last) = tx.one(
        "SELECT epoch, last_reset_at FROM activation_lineages WHERE lineage_id = ?1",
        args![&lineage],
        |r| Ok((r.int(0)?, r.opt_int(1)?)),
    )?;
    if let Some(last) = last {
        let next = Timestamp(last).plus_days(RESET_INTERVAL_DAYS);
        if now < next {
            return refuse(
                code::RESET_TOO_SOON,
                format!(
                    "the seats of license {license_id} were reset at {}; the next reset is allowed from {next}. Release single seats with `factory activation release` meanwhile",
                    Timestamp(last)
                ),
            );
        }
    }
    let ids = tx.all(
        "SELECT activation_id FROM activations WHERE lineage_id = ?1 AND released_at IS NULL ORDER BY activation_id",
        args![&lineage],
        |r| r.text(0),
    )?;
    for id in &ids {
        free_seat(tx, id, "reset", reason, now)?;
        audit_seat(tx, now, "released_reset", id, reason)?;
    }
    let epoch = epoch as u64 + 1;
    tx.exec(
        "UPDATE activation_lineages SET epoch = ?1, last_reset_at = ?2 WHERE lineage_id = ?3",
        args![epoch, now.0, &lineage],
    )?;
    audit_with(
        tx,
        now,
        "seats_reset",
        &format!("lineage:{lineage}"),
        &format!(
            "license={license_id} epoch={epoch} released={} reason={reason}",
            ids.len()
        ),
        None,
    )?;
    Ok(Ok(Reset {
        lineage_id: lineage,
        epoch,
        released: ids.len() as u64,
    }))
}

/// Activation rows, of one license's lineage or all, ordered by lineage and creation.
pub fn list(reg: &Registry, license_id: Option<&str>) -> Result<Vec<Row>> {
    let db = reg.sql();
    match license_id {
        Some(id) => {
            if get_in(db, id)?.is_none() {
                anyhow::bail!("no license {id} in the registry");
            }
            db.all(
                &format!("SELECT {ROW_COLUMNS} FROM activations WHERE lineage_id = (SELECT lineage_id FROM licenses WHERE license_id = ?1) ORDER BY created_at, activation_id"),
                args![id],
                read_row,
            )
        }
        None => db.all(
            &format!("SELECT {ROW_COLUMNS} FROM activations ORDER BY lineage_id, created_at, activation_id"),
            &[],
            read_row,
        ),
    }
}

/// What the next revocation list must carry for activations: leases released without a
/// receipt that have not ended (activation id, lineage, reason, time), and each reset
/// lineage's minimum epoch.
pub type ListEntries = (Vec<(String, String, String, Timestamp)>, Vec<(String, u64)>);

/// The activation entries of the next revocation list at `now`.
pub fn revocation_entries(reg: &Registry, now: Timestamp) -> Result<ListEntries> {
    let db = reg.sql();
    let revoked = db.all(
        "SELECT activation_id, lineage_id, coalesce(release_reason, ''), released_at FROM activations WHERE release_kind = 'force' AND lease_not_after > ?1 ORDER BY activation_id",
        args![now.0],
        |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, Timestamp(r.int(3)?))),
    )?;
    let epochs = db.all(
        "SELECT lineage_id, epoch FROM activation_lineages WHERE epoch > 1 ORDER BY lineage_id",
        &[],
        |r| Ok((r.text(0)?, r.int(1)? as u64)),
    )?;
    Ok((revoked, epochs))
}

impl Registry {
    /// Runs one activation operation in a write transaction: committed when it answers (done
    /// or refused: a refusal may leave an audit event, e.g. a spent token), rolled back when
    /// it fails.
    pub fn immediate<T>(&mut self, op: impl FnOnce(&dyn Sql) -> Outcome<T>) -> Outcome<T> {
        self.write(op)
    }

    /// Runs several operations in one write transaction, each in a savepoint of its own
    /// (group commit: one durable write for many answers). An operation that fails is rolled
    /// back to its savepoint and fails alone; the others commit together. Nothing is answered
    /// before the commit: if it fails, every operation fails.
    pub fn group<T>(&mut self, ops: Vec<GroupOp<'_, T>>) -> Result<Vec<Outcome<T>>> {
        self.write(|tx| {
            let mut out = Vec::with_capacity(ops.len());
            for op in ops {
                tx.exec("SAVEPOINT op", &[])?;
                let r = op(tx);
                if r.is_err() {
                    tx.exec("ROLLBACK TO SAVEPOINT op", &[])?;
                }
                tx.exec("RELEASE SAVEPOINT op", &[])?;
                out.push(r);
            }
            Ok(out)
        })
    }

    /// Checks every activation row against the row hash of its latest audit event.
    pub(crate) fn verify_activation_rows(&self) -> Result<()> {
        let mut want: HashMap<String, String> = HashMap::new();
        self.sql().each(
            "SELECT subject, row_hash FROM audit WHERE row_hash IS NOT NULL AND subject LIKE 'activation:%' ORDER BY seq",
            &[],
            &mut |r| {
                let subject = r.text(0)?;
                let id = subject.trim_start_matches("activation:").to_string();
                want.insert(id, r.text(1)?);
                Ok(())
            },
        )?;
        let mut seen = 0usize;
        self.sql().each(
            &format!("SELECT {ROW_COLUMNS} FROM activations"),
            &[],
            &mut |r| {
                let row = read_row(r)?;
                seen += 1;
                match want.get(&row.activation_id) {
                    None => anyhow::bail!(
                        "registry altered: activation {} has no audit event for its current row",
                        row.activation_id
                    ),
                    Some(h) if *h != row_hash(&row) => anyhow::bail!(
                        "registry altered: activation {}'s row differs from what its last audit event recorded (edited outside factory)",
                        row.activation_id
                    ),
                    Some(_) => Ok(()),
                }
            },
        )?;
        if seen != want.len() {
            anyhow::bail!(
                "registry altered: an activation in the audit log is missing from the registry"
            );
        }
        // Each lineage's count of live seats (what the seat decision reads) is its seats'.
        let mut wrong = None;
        self.sql().each(
            "SELECT l.lineage_id, l.live_seats, (SELECT count(*) FROM activations a WHERE a.lineage_id = l.lineage_id AND a.released_at IS NULL) FROM activation_lineages l ORDER BY l.lineage_id",
            &[],
            &mut |r| {
                let (lineage, kept, live) = (r.text(0)?, r.int(1)?, r.int(2)?);
                if kept != live && wrong.is_none() {
                    wrong = Some(format!(
                        "registry altered: lineage {lineage} counts {kept} live seat(s), {live} are live"
                    ));
                }
                Ok(())
            },
        )?;
        if let Some(w) = wrong {
            anyhow::bail!(w);
        }
        let orphans = self.sql().int(
            "SELECT count(*) FROM activations a WHERE a.released_at IS NULL AND NOT EXISTS (SELECT 1 FROM activation_lineages l WHERE l.lineage_id = a.lineage_id)",
            &[],
        )?;
        if orphans != 0 {
            anyhow::bail!("registry altered: {orphans} live seat(s) belong to no lineage record");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::issue::{build_batch, Request};

    fn document(limit: u64) -> Vec<u8> {
        let cat = Catalog::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json"),
        )
        .unwrap();
        let req = Request {
            tier: "professional".into(),
            customer: "Acme".into(),
            product: "gateway".into(),
            expires: Some("2027-11-22".into()),
            device_limit: Some(limit),
            ..Request::default()
        };
        let now = Timestamp::parse("2026-11-22T00:00:00Z").unwrap();
        build_batch(&cat, &[req], now).unwrap()[0].to_canonical()
    }

    /// The parsed-license cache answers only for the very bytes it parsed: another document
    /// under the same id (which the registry never stores, but a test can) is parsed afresh.
    #[test]
    fn the_license_cache_never_answers_for_other_bytes() {
        let now = Timestamp::parse("2026-12-01T00:00:00Z").unwrap();
        let (a, b) = (document(3), document(7));
        let id = "lic-cache-test";
        assert_eq!(license_terms(id, &a, now).unwrap().0.device_limit(), 3);
        assert_eq!(license_terms(id, &a, now).unwrap().0.device_limit(), 3);
        assert_eq!(license_terms(id, &b, now).unwrap().0.device_limit(), 7);
        assert_eq!(license_terms(id, &a, now).unwrap().0.device_limit(), 3);
        assert!(license_terms(id, b"{}", now).is_err());
    }
}
