//! The one call a product makes: trust, license, state directory and `now` in; entitlements,
//! the combined state (license, evaluation, activation lease) and the warnings to show out.
//!
//! ```no_run
//! use runtime::product::{check, Inputs};
//! use runtime::session::Clock;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let state = std::path::Path::new("/var/lib/gateway/airlock");
//! let trust = std::fs::read("/etc/gateway/trust.json")?;
//! let now = canon::Timestamp(1_790_000_000); // the product's glue reads the clock
//! let status = check(&Inputs::new(&[&trust], "/etc/gateway/license".as_ref(), state, Clock::System(now)))?;
//! for w in &status.warnings {
//!     eprintln!("license: {w}");
//! }
//! if status.entitlements.check_feature("recording").is_ok() { /* start it */ }
//! # Ok(()) }
//! ```

use crate::activation::{self, Lease, LeaseState};
use crate::check::Check;
use crate::enforce::{Entitlements, Gate};
use crate::fingerprint::Sources;
use crate::license::{verify_license, LegacyPolicy, Standing, State, VerifiedLicense};
use crate::session::{Clock, Session};
use crate::trust::Anchors;
use std::path::Path;

/// Days before a lease ends at which the operator is warned.
pub const LEASE_WARN_DAYS: i64 = 14;

/// Whether a lease is longer than the warning window (an offline lease): a short online lease
/// is always "ending soon" and is warned about only once its renewal is due.
fn lease_is_long(lease: &crate::signed::Verified<crate::activation::Activation>) -> bool {
    let f = lease.facts();
    f.not_after.0 - f.not_before.0 > LEASE_WARN_DAYS * 86_400
}

/// What [`check`] needs.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The trust file (or a chain of versions).
    pub trust: &'a [&'a [u8]],
    /// The vendor's root for the first use of a state directory (later uses pin it).
    pub anchors: Option<&'a Anchors>,
    /// The directory holding `license.json` and `license.sig`.
    pub license_dir: &'a Path,
    /// The state directory (pinned roots, clock, revocations, evaluation, activation).
    pub state: &'a Path,
    /// Where this machine's stable id comes from.
    pub sources: Sources,
    /// `now`: the system time (recorded) or a preview (never recorded).
    pub clock: Clock,
    /// Days before expiry at which the license is `expiring_soon`.
    pub warn_days: i64,
}

impl<'a> Inputs<'a> {
    /// Inputs with the system's id sources and the default warning window.
    pub fn new(
        trust: &'a [&'a [u8]],
        license_dir: &'a Path,
        state: &'a Path,
        clock: Clock,
    ) -> Self {
        Inputs {
            trust,
            anchors: None,
            license_dir,
            state,
            sources: Sources::system(Some(state)),
            clock,
            warn_days: crate::license::DEFAULT_WARN_DAYS,
        }
    }
}

/// Where this machine's activation stands.
#[derive(Debug, Clone)]
pub enum Activation {
    /// The license does not require activation and none is installed.
    NotRequired,
    /// A lease verified.
    Leased(Box<Lease>, LeaseState),
    /// A floating seat from the customer's seat server verified (docs/FORMAT.md §20).
    Floating(Box<crate::floating::NodeSeat>),
    /// The license requires activation and none is installed.
    Missing,
    /// An installed lease was refused (expired, other machine, revoked, ...).
    Refused(Check, String),
}

/// The answer of [`check`].
#[derive(Debug, Clone)]
pub struct Status {
    /// The verified license (or evaluation terms).
    pub license: VerifiedLicense,
    /// Its standing: the license's dates, or the evaluation's on this machine.
    pub standing: Standing,
    /// The activation.
    pub activation: Activation,
    /// What may be used, behind the combined gate.
    pub entitlements: Entitlements,
    /// Since when the vendor suspended the license (by the newest revocation list this machine
    /// accepted): licensed work stops, data stays.
    pub suspended: Option<canon::Timestamp>,
    /// Sentences to show the operator (empty when all is well).
    pub warnings: Vec<String>,
}

impl Status {
    /// The combined state word: the license's (or evaluation's) unless it is usable and the
    /// activation is not, then `activation_required`, `lease_expired` or the lease's refusal.
    pub fn state(&self) -> &'static str {
        if self.suspended.is_some() && self.standing.usable() {
            return "suspended";
        }
        if !self.standing.usable() {
            return self.standing.state.as_str();
        }
        match (
            &self.activation,
            self.license.license().activation_required(),
        ) {
            (Activation::Missing, _) => "activation_required",
            (
                Activation::Refused(
                    Check::LeaseExpired | Check::NodeLeaseExpired | Check::PoolExpired,
                    _,
                ),
                true,
            ) => "lease_expired",
            (Activation::Refused(_, _), true) => "activation_invalid",
            _ => self.standing.state.as_str(),
        }
    }
}

pub use crate::error::Refusal;

fn refusal(context: &str, e: &(dyn std::error::Error + 'static)) -> Refusal {
    Refusal {
        check: crate::failure::check_of(e),
        message: format!("{context}: {e}"),
    }
}

/// Reads at most `cap` bytes of `p` (the one capped read, [`crate::io::read_capped`]), as a
/// refusal naming the path; `None` when it does not exist.
pub(crate) fn read_capped(p: &Path, cap: usize) -> Result<Option<Vec<u8>>, Refusal> {
    crate::io::read_capped(p, cap as u64).map_err(|e| Refusal::read(p, &e))
}

/// Verifies the trust, the license and this machine's activation, records what a real run
/// saw, and returns what the product may do. A lease problem never fails the call: it closes
/// the gate (when the license requires activation) and is reported in `warnings`.
pub fn check(i: &Inputs<'_>) -> Result<Status, Refusal> {
    let mut session = Session::begin(Some(i.state), i.clock, i.trust, i.anchors)
        .map_err(|e| refusal("trust", &e))?;
    let (lic_path, sig_path) = crate::license::files_at(i.license_dir);
    let doc =
        read_capped(&lic_path, crate::license::MAX_LICENSE_BYTES)?.ok_or_else(|| Refusal {
            check: Some(Check::IoError),
            message: crate::license::missing(i.license_dir),
        })?;
    let sig = read_capped(&sig_path, canon::sig::MAX_ENVELOPE_BYTES)?;
    let now = session.now();
    let license = verify_license(
        session.trust(),
        &doc,
        sig.as_deref(),
        &LegacyPolicy::default(),
        now,
    )
    .map_err(|e| refusal(&lic_path.display().to_string(), &e))?;
    session
        .accept_license(&license)
        .map_err(|e| refusal("license", &e))?;
    let l = license.license().clone();
    let mut standing = Standing::of(&license, now, i.warn_days);
    if l.tier == crate::license::Tier::Evaluation {
        let started = session.evaluation_start(&l.product);
        if let Some(e) = Standing::evaluation(&license, started, now, i.warn_days) {
            standing = e;
        }
    }
    let activation = lease_of(&mut session, i, &l, now);
    let suspended = session.suspended(&l.license_id);
    let notes = session.notes().to_vec();
    session.commit().map_err(|e| refusal("state", &e))?;

    let mut warnings = notes;
    if standing.state != State::Active {
        warnings.push(format!("license {}: {}", l.license_id, standing.describe()));
    }
    let required = l.activation_required();
    let mut gate = Gate::of(standing.state);
    match &activation {
        Activation::Leased(lease, st) => {
            // Past renew_after (85 % of an offline lease, half of an online one): the agent
            // should have renewed it by now. A short online lease that is not due is no news.
            let days = lease.days_remaining(now);
            if *st == LeaseState::RenewDue || (days <= LEASE_WARN_DAYS && lease_is_long(lease)) {
                warnings.push(format!(
                    "{}; renew it: `airlock-agent run --state STATE_DIR` (online) or a new request (offline: `airlock-agent request --license LICENSE_DIR --state STATE_DIR --out request.json`)",
                    lease.describe(now)
                ));
            }
        }
        Activation::Missing => {
            warnings.push("this license requires activation on this machine: run `airlock-agent request --license LICENSE_DIR --state STATE_DIR --out request.json`, send request.json to the vendor, then `airlock-agent install ACTIVATION_DIR --trust trust.json --state STATE_DIR` with the directory the vendor sends back".into());
        }
        Activation::Refused(code, why) => {
            warnings.push(format!("activation refused ({code}): {why}"))
        }
        Activation::NotRequired | Activation::Floating(_) => {}
    }
    if gate == Gate::Open && required {
        gate = match &activation {
            Activation::Leased(..) | Activation::Floating(_) => Gate::Open,
            Activation::Refused(
                Check::LeaseExpired | Check::NodeLeaseExpired | Check::PoolExpired,
                _,
            ) => Gate::LeaseExpired,
            _ => Gate::NotActivated,
        };
    }
    if let (Some(since), true) = (suspended, standing.usable()) {
        gate = Gate::LicenseSuspended;
        warnings.push(format!(
            "license {} is suspended by the vendor since {since}: licensed work stops until it is resumed (your data is untouched); contact the vendor",
            l.license_id
        ));
    }
    let entitlements = Entitlements::new(
        gate,
        l.features.iter().map(String::as_str),
        l.limits.iter().map(|(k, v)| (k.as_str(), *v)),
    );
    Ok(Status {
        license,
        standing,
        activation,
        entitlements,
        suspended,
        warnings,
    })
}

/// The installed lease for the license's product, verified and recorded.
fn lease_of(
    session: &mut Session,
    i: &Inputs<'_>,
    l: &crate::license::License,
    now: canon::Timestamp,
) -> Activation {
    let verified = activation::verify_installed(
        session.trust(),
        i.state,
        &l.product,
        Some(&l.lineage_id),
        &i.sources,
        session.known(),
        now,
    );
    match verified {
        // No machine lease: a floating seat from the customer's seat server, if one is held.
        Ok(None) => node_of(session, i, l, now),
        Ok(Some(lease)) => {
            if let Err(e) = session.record_activation(lease.value()) {
                return Activation::Refused(e.code(), e.to_string());
            }
            let st = lease.state_at(now);
            Activation::Leased(Box::new(lease), st)
        }
        Err(r) => Activation::Refused(r.check.unwrap_or(Check::IoError), r.message),
    }
}

/// The installed node seat for the license's product (no machine lease is installed),
/// verified and its pool lease recorded.
fn node_of(
    session: &mut Session,
    i: &Inputs<'_>,
    l: &crate::license::License,
    now: canon::Timestamp,
) -> Activation {
    let verified = crate::floating::verify_installed_node(
        session.trust(),
        i.state,
        &l.product,
        Some(&l.lineage_id),
        &i.sources,
        session.known(),
        now,
    );
    match verified {
        Ok(None) if l.activation_required() => Activation::Missing,
        Ok(None) => Activation::NotRequired,
        Ok(Some(seat)) => {
            let pool = seat.pool.value();
            if let Err(e) = session.record_activation(pool) {
                return Activation::Refused(e.code(), e.to_string());
            }
            Activation::Floating(Box::new(seat))
        }
        Err(r) => Activation::Refused(r.check.unwrap_or(Check::IoError), r.message),
    }
}
