//! Activations on the vendor side: one seat transaction for files carried by hand and for the
//! service, and the registry operations around it (release, reset, tokens, list), each one
//! write transaction with its hash-chained audit events.
//!
//! The seat transaction ([`grant_in`], module `grant`) reads its facts, asks the pure rules
//! (module `rules`: the token, the license in force, the seat's owner, the seat decision
//! [`decide`]), builds a plan and applies it in one writer. Order of effects in [`fulfill`]:
//! verify the request → in one transaction: facts, rules, plan, the rows and the audit event →
//! the signature → commit → the caller writes the files. Concurrent fulfils serialize on the
//! write lock, so the count and the insert can never interleave.
//!
//! Refusals are [`Code`]s of the one table (`format::refusal`): the factory's exit code, the
//! service's HTTP status and the agent's reaction all come from it.

mod grant;
mod heartbeat;
mod release;
mod rows;
mod rules;
mod token;

pub use grant::grant_in;
pub use heartbeat::{Heartbeat, MAX_HEARTBEAT_COUNTS};
pub use release::{
    check_receipt, release_force, release_force_in, release_with_receipt, release_with_receipt_in,
    reset, reset_in, Released, Reset,
};
pub use rows::{list, revocation_entries, row_hash, ListEntries, Listed, Row};
pub use rules::{decide, decide_counted, not_found, Decision, Holder, Seat, Terms};
pub use runtime::activation::{check_request, Freshness, MAX_REQUEST_AGE_DAYS};
pub use runtime::refusal::{Code, Refusal};
pub use token::{token_create, token_list, token_revoke, Token, TokenRow};

use crate::builds::Kek;
use crate::db::Sql;
use crate::registry::Registry;
use anyhow::{Context, Result};
use canon::{Kind, Timestamp};
use runtime::activation::{Activation, ActivationRequest, InstallToken};
use runtime::signed::Verified;
use runtime::Artifact;
use signing::SecretKey;

/// What one activation operation answers: done, refused with a code, or failed.
pub type Outcome<T> = Result<Result<T, Refusal>>;

/// One operation of a [`Registry::group`].
pub type GroupOp<'a, T> = Box<dyn FnOnce(&dyn Sql) -> Outcome<T> + 'a>;

/// Forced releases allowed per license lineage in [`RELEASE_WINDOW_DAYS`]: its device limit.
pub const RELEASE_WINDOW_DAYS: i64 = 90;
/// Days between two resets of one license lineage.
pub const RESET_INTERVAL_DAYS: i64 = 30;

fn refuse<T>(code: Code, message: impl Into<String>) -> Outcome<T> {
    Ok(Err(Refusal::new(code, message)))
}

/// Whether `license_key` is the key of license `license_id` (false for an unknown license): the
/// proof a keyed request gives before anything is charged to the license (the service's
/// per-license limiter). Both digests are compared in full.
pub fn key_opens(reg: &Registry, license_id: &str, license_key: &str) -> Result<bool> {
    let Some(rec) = crate::registry::get_in(reg.sql(), license_id)? else {
        return Ok(false);
    };
    let (a, b) = (
        canon::enc::sha256(rec.license_key.as_bytes()),
        canon::enc::sha256(license_key.as_bytes()),
    );
    Ok(canon::enc::same_secret(&a, &b))
}

/// The install token fits the request (the same license, lineage, product and workspace, named
/// by the request, not expired at `now`): the service checks it before anything is charged to
/// the license, and the seat transaction again with the registry.
pub fn token_fits(
    req: &ActivationRequest,
    token: &Verified<InstallToken>,
    now: Timestamp,
) -> Result<(), Refusal> {
    rules::token_fits(req, How::Token(token), now)
}

/// Whether a machine's live seat may still be served what its license entitles (registry
/// pulls, updates of an entitled channel): the license in force of the lineage `req` names is
/// not revoked, not suspended and not past its grace. Returns that license's product and tier
/// (the catalog's entitlements are per product and tier). The seat itself is the caller's
/// check (the store's seat lookup).
pub fn serving(tx: &dyn Sql, req: &ActivationRequest, now: Timestamp) -> Outcome<(String, String)> {
    let Some(named) = crate::registry::get_in(tx, &req.license_id)? else {
        return Ok(Err(not_found(&req.license_id)));
    };
    let link = match grant::in_force_of(tx, named, now)? {
        Ok(l) => l,
        Err(r) => return Ok(Err(r)),
    };
    if let Some(at) = link.rec.revoked_at {
        return refuse(
            Code::LicenseRevoked,
            format!("license {} was revoked at {at}", link.rec.license_id),
        );
    }
    if let Err(r) = rules::standing_allows(req, &link) {
        return Ok(Err(r));
    }
    Ok(Ok((link.rec.product, link.rec.tier)))
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
    /// The license the lease is for (the lineage's license in force): its signed document
    /// (as stored).
    pub license_document: Vec<u8>,
    /// Its envelope bytes.
    pub license_signature: Vec<u8>,
    /// The builds whose keys the lease carries: bundle id, the key wrapped to the KEK, the
    /// KEK's id ([`crate::builds::grants`] wraps them to the machine when the lease is signed).
    pub builds: Vec<(String, String, String)>,
    /// The machine's encryption key (base64) the build keys are wrapped to.
    pub machine_key: Option<String>,
}

impl Granted {
    /// Wraps the lease's build keys to the machine (with `kek`), writes the lease's canonical
    /// bytes (`activation.json`) and signs them with the activation key.
    pub fn sign(mut self, key: &SecretKey, kek: Option<&Kek>) -> Result<Fulfilled> {
        if !self.builds.is_empty() {
            let machine = self
                .machine_key
                .as_deref()
                .and_then(canon::enc::unb64_exact::<32>)
                .ok_or_else(|| {
                    anyhow::anyhow!("a lease with build keys needs the machine's encryption key")
                })?;
            self.activation.encryption_public_key = self.machine_key.clone();
            self.activation.grants =
                crate::builds::grants(&self.activation, &machine, &self.builds, kek)?
                    .map_err(|r| anyhow::anyhow!("{}: {}", r.code, r.message))?;
            self.activation
                .validate()
                .map_err(anyhow::Error::new)
                .context("the lease with its grants")?;
        }
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
    /// The license the lease is for (the lineage's license in force, which may be a renewal
    /// of the license the request named): its signed document (as stored).
    pub license_document: Vec<u8>,
    /// Its envelope bytes (`license.sig`).
    pub license_signature: Vec<u8>,
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
    /// Whether this side holds the key-encryption key, so a lease may carry build keys
    /// ([`crate::builds`]); without it a request that needs them is refused before anything
    /// is recorded (`BUILD_KEYS_DISABLED`).
    pub build_keys: bool,
}

impl LeaseTerms {
    /// Files carried by hand: long leases, renewed late (85 %).
    pub fn offline(days: Option<u64>) -> LeaseTerms {
        LeaseTerms {
            days,
            seconds: None,
            renew_percent: 85,
            build_keys: false,
        }
    }

    /// The service's leases: `days` long, renewed at half their life, so a machine rides out
    /// an outage of half a lease.
    pub fn online(days: u64) -> LeaseTerms {
        LeaseTerms {
            days: Some(days),
            seconds: None,
            renew_percent: 50,
            build_keys: false,
        }
    }

    /// The same terms, with build keys released (the caller holds the key-encryption key).
    pub fn with_build_keys(mut self, yes: bool) -> LeaseTerms {
        self.build_keys = yes;
        self
    }

    fn end(&self, now: Timestamp, cap: Timestamp) -> Timestamp {
        match (self.seconds, self.days) {
            (Some(s), _) => cap.min(Timestamp(now.0.saturating_add(s as i64))),
            (None, Some(d)) => cap.min(now.plus_days(d as i64)),
            (None, None) => cap,
        }
    }
}

/// Fulfils a verified request carried by hand: [`fulfill_in`] with the license key, in one
/// `BEGIN IMMEDIATE` transaction. `lease_days` caps the lease (default: to the license's
/// expiry plus grace).
pub fn fulfill(
    reg: &mut Registry,
    req: &ActivationRequest,
    keys: (&SecretKey, Option<&Kek>),
    now: Timestamp,
    lease_days: Option<u64>,
) -> Outcome<Fulfilled> {
    reg.immediate(|tx| {
        fulfill_in(
            tx,
            req,
            How::Key,
            keys,
            now,
            &LeaseTerms::offline(lease_days).with_build_keys(keys.1.is_some()),
        )
    })
}

/// The seat decision and a signed lease for a verified request, recorded inside the caller's
/// transaction (the registry's write lock held): [`grant_in`], then the signature.
pub fn fulfill_in(
    tx: &dyn Sql,
    req: &ActivationRequest,
    how: How<'_>,
    (key, kek): (&SecretKey, Option<&Kek>),
    now: Timestamp,
    lease: &LeaseTerms,
) -> Outcome<Fulfilled> {
    match grant_in(tx, req, how, now, lease)? {
        Ok(g) => Ok(Ok(g.sign(key, kek)?)),
        Err(r) => Ok(Err(r)),
    }
}
