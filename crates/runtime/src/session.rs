//! One verification session: the state protocol every command and every product follows
//! (docs/TRUST.md). Nothing here reads the clock: the caller says what time it is and whether
//! that is the real clock or a preview.
//!
//! 1. [`Session::begin`] opens the state directory (exclusive lock for a real run, shared and
//!    read-only for a preview), refuses a clock earlier than the highest time already seen or
//!    than a signed time already accepted, and verifies the trust file(s): anchored by the roots
//!    the state pinned, or on first use by the vendor's root the caller supplies; never older
//!    than the trust version already accepted.
//! 2. The caller verifies its artifacts with [`Session::trust`] and consults what the state
//!    knows ([`Session::known`]: revoked licenses, installed sequences); it reports what it
//!    accepted ([`Session::accept_revocations`], [`Session::record_bundle`]).
//! 3. [`Session::commit`] writes the new state, only for a real run and only when the caller
//!    reached it (a failed check returns early and writes nothing).

use crate::error::VerifyError;
use crate::keys::PublicKey;
use crate::revocation::Revocations;
use crate::state::{channel, PinnedRoot, RevocationPin, State, StateDir, StateError, TrustPin};
use crate::trust::{Anchors, KeyStatus, TrustStore, TrustedKey};
use canon::{Role, Timestamp};
use std::fmt;
use std::path::Path;

/// How far a signed time may be ahead of the clock (the vendor's clock may run a little fast):
/// the one skew constant, `canon::CLOCK_SKEW_SECS`.
pub const SIGNED_TIME_SKEW_SECS: i64 = canon::CLOCK_SKEW_SECS;

/// What time it is, and whether that is the real clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The system clock, read by the caller: checked, and recorded on success.
    System(Timestamp),
    /// A what-if time (`--at`): checked against the state, never recorded.
    Preview(Timestamp),
}

impl Clock {
    /// The time.
    pub fn now(self) -> Timestamp {
        match self {
            Clock::System(t) | Clock::Preview(t) => t,
        }
    }
}

/// Why a session could not start or a fact was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// The state directory refused (tamper, rollback, corrupt, unsafe, I/O).
    State(StateError),
    /// The trust file does not verify.
    Trust(VerifyError),
    /// No pinned root and no vendor root given: the first trust file cannot be anchored.
    NoAnchor,
    /// The license is in a revocation list this runtime accepted (the message names it).
    Revoked(String),
}

impl SessionError {
    /// A stable machine-readable code.
    pub fn code(&self) -> crate::check::Check {
        match self {
            SessionError::State(e) => e.code(),
            SessionError::Trust(e) => e.code(),
            SessionError::NoAnchor => crate::check::Check::TrustAnchorMissing,
            SessionError::Revoked(_) => crate::check::Check::LicenseRevoked,
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::State(e) => write!(f, "{e}"),
            SessionError::Trust(e) => write!(f, "{e}"),
            SessionError::NoAnchor => write!(
                f,
                "no trust anchor: the first trust file must be checked against the vendor's root key \
                 (--root KEY, AIRLOCK_ROOT, or root.pub in the state directory)"
            ),
            SessionError::Revoked(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<StateError> for SessionError {
    fn from(e: StateError) -> Self {
        SessionError::State(e)
    }
}

impl From<VerifyError> for SessionError {
    fn from(e: VerifyError) -> Self {
        SessionError::Trust(e)
    }
}

/// An open session. Dropping it without [`Session::commit`] writes nothing.
#[derive(Debug)]
pub struct Session {
    dir: Option<StateDir>,
    clock: Clock,
    trust: TrustStore,
    next: State,
    /// What the operator should hear about, though nothing failed.
    notes: Vec<String>,
    /// A newer trust file to keep in the state directory on commit.
    keep_trust: Option<Vec<u8>>,
}

fn pinned_anchors(pin: &TrustPin) -> Result<Anchors, StateError> {
    let keys = pin
        .roots
        .iter()
        .map(|r| {
            Ok(TrustedKey {
                key: PublicKey::from_bytes(&r.key)
                    .map_err(|e| StateError::Corrupt(format!("pinned root: {e}")))?,
                name: String::new(),
                roles: vec![Role::Root],
                not_before: r.not_before,
                not_after: r.not_after,
                status: KeyStatus::Active,
            })
        })
        .collect::<Result<Vec<_>, StateError>>()?;
    Ok(Anchors::Pinned(keys))
}

fn pin_of(t: &TrustStore) -> TrustPin {
    TrustPin {
        version: t.version(),
        sha256: t.sha256(),
        issued_at: t.issued_at(),
        roots: t
            .active_roots()
            .iter()
            .map(|k| PinnedRoot {
                key: k.key.to_bytes(),
                not_before: k.not_before,
                not_after: k.not_after,
            })
            .collect(),
    }
}

fn open_dir(state: Option<&Path>, clock: Clock) -> Result<Option<StateDir>, StateError> {
    state
        .map(|p| match clock {
            Clock::System(_) => StateDir::open(p),
            Clock::Preview(_) => StateDir::open_read_only(p),
        })
        .transpose()
}

/// Refuses `now` earlier than `t` by more than the allowed skew.
pub fn check_signed_time(
    now: Timestamp,
    t: Timestamp,
    what: &'static str,
) -> Result<(), StateError> {
    if !t.signed_by(now) {
        return Err(StateError::TamperSuspected { now, seen: t, what });
    }
    Ok(())
}

fn check_clock(known: &State, now: Timestamp) -> Result<(), StateError> {
    if let Some(seen) = known.highest_time_seen {
        if now < seen {
            return Err(StateError::TamperSuspected {
                now,
                seen,
                what: "the highest time already seen",
            });
        }
    }
    if let Some(r) = &known.revocations {
        check_signed_time(now, r.issued_at, "the accepted revocation list's issued_at")?;
    }
    Ok(())
}

impl Session {
    /// Starts a session: opens the state (if any), checks the clock and verifies the trust
    /// chain `trust_files` (one file, or several versions in any order). The first trust file a
    /// state accepts must be anchored by `first_use` (the vendor's root); later ones by the
    /// roots pinned in the state, and `first_use` is then not needed.
    pub fn begin(
        state: Option<&Path>,
        clock: Clock,
        trust_files: &[&[u8]],
        first_use: Option<&Anchors>,
    ) -> Result<Session, SessionError> {
        let dir = open_dir(state, clock)?;
        let known = dir.as_ref().map(|d| d.state().clone()).unwrap_or_default();
        let now = clock.now();
        check_clock(&known, now)?;
        let anchors = match &known.trust {
            Some(pin) => pinned_anchors(pin)?,
            None => first_use.cloned().ok_or(SessionError::NoAnchor)?,
        };
        if trust_files.is_empty() {
            return Err(VerifyError::Trust("no trust file given".into()).into());
        }
        let seen = known.trust.as_ref().map_or(0, |p| p.version);
        // Files older than the accepted version were walked already; the rest form the chain.
        let mut newest_presented = 0;
        let mut chain: Vec<&[u8]> = Vec::new();
        for f in trust_files {
            let v = crate::trust::peek_version(f)?;
            newest_presented = newest_presented.max(v);
            if v >= seen {
                chain.push(f);
            }
        }
        // Every file given is older (a cron job or a product still pointing at the previous
        // file's path after a rotation): the copy of the accepted version the state keeps
        // stands in, and the operator is told to replace the file. Not a failure.
        let mut notes = Vec::new();
        let kept = dir.as_ref().and_then(StateDir::kept_trust);
        if chain.is_empty() {
            match kept.as_deref() {
                Some(k) if crate::trust::peek_version(k).ok() == Some(seen) => {
                    chain.push(k);
                    notes.push(format!(
                        "the trust file given is version {newest_presented}, older than version {seen} this machine accepted: using the accepted version kept in the state directory; replace the file with the vendor's current trust file"
                    ));
                }
                _ => {
                    return Err(StateError::TrustOutdated {
                        found: newest_presented,
                        seen,
                    }
                    .into())
                }
            }
        }
        let verified = TrustStore::verify_chain(&chain, &anchors)?;
        if let (Some(pin), Some(first)) = (&known.trust, verified.first()) {
            if first.version() == pin.version
                && pin.sha256 != [0; 32]
                && first.sha256() != pin.sha256
            {
                return Err(StateError::Conflict(format!(
                    "trust file version {} differs from the version {} already accepted",
                    first.version(),
                    pin.version
                ))
                .into());
            }
            if first.issued_at() < pin.issued_at {
                return Err(StateError::Conflict(format!(
                    "trust file version {} was issued at {}, before the accepted version {} ({})",
                    first.version(),
                    first.issued_at(),
                    pin.version,
                    pin.issued_at
                ))
                .into());
            }
        }
        let trust = verified
            .into_iter()
            .next_back()
            .ok_or_else(|| VerifyError::Trust("no trust file given".into()))?;
        check_signed_time(now, trust.issued_at(), "the trust file's issued_at")?;
        // Keep the accepted version's file when it is newer than the kept copy (or none is).
        let kept_version = kept
            .as_deref()
            .and_then(|k| crate::trust::peek_version(k).ok());
        let keep_trust = if kept_version == Some(trust.version()) {
            None
        } else {
            chain
                .iter()
                .find(|f| crate::trust::peek_version(f).ok() == Some(trust.version()))
                .map(|f| f.to_vec())
        };
        let mut next = known;
        next.trust = Some(pin_of(&trust));
        Ok(Session {
            dir,
            clock,
            trust,
            next,
            notes,
            keep_trust,
        })
    }

    /// Starts a session with keys embedded in the product (no trust file to pin).
    pub fn with_store(
        state: Option<&Path>,
        clock: Clock,
        store: TrustStore,
    ) -> Result<Session, SessionError> {
        let dir = open_dir(state, clock)?;
        let known = dir.as_ref().map(|d| d.state().clone()).unwrap_or_default();
        check_clock(&known, clock.now())?;
        Ok(Session {
            dir,
            clock,
            trust: store,
            next: known,
            notes: Vec::new(),
            keep_trust: None,
        })
    }

    /// The verified trust store.
    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// What the operator should hear about although nothing failed (an outdated trust file
    /// given, the kept copy used instead).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The time this session judges at.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The clock kind.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// What the state knows, including what this session accepted so far.
    pub fn known(&self) -> &State {
        &self.next
    }

    /// Refuses a clock earlier than a signed time (`issued_at`, `created_at`) of an artifact
    /// about to be accepted.
    pub fn check_signed_time(&self, t: Timestamp, what: &'static str) -> Result<(), StateError> {
        check_signed_time(self.now(), t, what)
    }

    /// Since when `license_id` is suspended by the newest accepted list.
    pub fn suspended(&self, license_id: &str) -> Option<Timestamp> {
        self.next.suspended.get(license_id).copied()
    }

    /// The reason `license_id` was revoked by any accepted list.
    pub fn revoked(&self, license_id: &str) -> Option<&str> {
        self.next.revoked.get(license_id).map(String::as_str)
    }

    /// Refuses a license that any accepted revocation list names, with or without a list at
    /// hand: revocations stick.
    pub fn check_not_revoked(&self, license_id: &str) -> Result<(), SessionError> {
        match self.revoked(license_id) {
            None => Ok(()),
            Some(why) => Err(SessionError::Revoked(format!(
                "license {license_id} was revoked by a revocation list this runtime accepted: {}",
                crate::text::escape(why)
            ))),
        }
    }

    /// Accepts a verified revocation list: never an older one, never another list with the same
    /// sequence; its revoked ids are kept for good.
    pub fn accept_revocations(&mut self, r: &Revocations) -> Result<(), StateError> {
        self.check_signed_time(r.issued_at(), "the revocation list's issued_at")?;
        check_revocation_order(self.next.revocations.as_ref(), r)?;
        for (id, reason) in r.entries() {
            self.next
                .revoked
                .entry(id.to_string())
                .or_insert_with(|| reason.to_string());
        }
        for (id, reason) in r.activation_entries() {
            self.next
                .revoked_activations
                .entry(id.to_string())
                .or_insert_with(|| format!("released by the vendor: {reason}"));
        }
        for (lineage, min) in r.epochs() {
            let e = self
                .next
                .activation_epochs
                .entry(lineage.to_string())
                .or_insert(min);
            *e = (*e).max(min);
        }
        if self
            .next
            .revocations
            .as_ref()
            .is_none_or(|p| r.sequence() > p.sequence)
        {
            // Suspensions are the newest list's: a later list without the license resumes it.
            self.next.suspended = r.suspensions().collect();
            self.next.revocations = Some(RevocationPin {
                sequence: r.sequence(),
                sha256: r.sha256(),
                issued_at: r.issued_at(),
            });
        }
        Ok(())
    }

    /// Records an installed bundle's sequence (never lower than the last one of its channel).
    pub fn record_bundle(
        &mut self,
        product: &str,
        customer_id: &str,
        sequence: u64,
    ) -> Result<(), StateError> {
        let e = self
            .next
            .bundle_sequences
            .entry(channel(product, customer_id))
            .or_insert(0);
        if sequence < *e {
            return Err(StateError::Rollback {
                what: "bundle sequence",
                found: sequence,
                seen: *e,
            });
        }
        *e = sequence;
        Ok(())
    }

    /// Accepts a verified license for use on this machine, the one path every product, the
    /// agent and `runtime-verify` take: its signing time against the clock, never a license an
    /// accepted list revoked, and never an older license of its lineage than one accepted here
    /// before (a renewal is not replaced by its predecessor, whoever sends it). Recorded on
    /// commit.
    pub fn accept_license(
        &mut self,
        v: &crate::license::VerifiedLicense,
    ) -> Result<(), SessionError> {
        let l = v.license();
        self.check_signed_time(v.times().issued_at, "the license's issued_at")?;
        self.check_not_revoked(&l.license_id)?;
        let e = self
            .next
            .license_sequences
            .entry(l.lineage_id.clone())
            .or_insert(0);
        if l.sequence < *e {
            return Err(StateError::Rollback {
                what: "license sequence in its lineage",
                found: l.sequence,
                seen: *e,
            }
            .into());
        }
        *e = l.sequence;
        Ok(())
    }

    /// Records an installed lease: its sequence never goes down, per lineage for a machine's
    /// lease, per pool for a seat server's ([`crate::activation::sequence_key`]).
    pub fn record_activation(
        &mut self,
        lease: &crate::activation::Activation,
    ) -> Result<(), StateError> {
        let sequence = lease.sequence;
        let e = self
            .next
            .activation_sequences
            .entry(crate::activation::sequence_key(lease))
            .or_insert(0);
        if sequence < *e {
            return Err(StateError::Rollback {
                what: "activation lease sequence",
                found: sequence,
                seen: *e,
            });
        }
        *e = sequence;
        Ok(())
    }

    /// Remembers that an activation was deactivated on this machine: it is never taken again.
    pub fn record_deactivation(&mut self, activation_id: &str, why: &str) {
        self.next
            .revoked_activations
            .entry(activation_id.to_string())
            .or_insert_with(|| why.to_string());
    }

    /// The evaluation start for `product` if it started (nothing is recorded).
    pub fn evaluation_started(&self, product: &str) -> Option<Timestamp> {
        self.next.evaluation_started.get(product).copied()
    }

    /// The evaluation start for `product`, starting it now on first use.
    pub fn evaluation_start(&mut self, product: &str) -> Timestamp {
        let now = self.now();
        *self
            .next
            .evaluation_started
            .entry(product.to_string())
            .or_insert(now)
    }

    /// Writes what this session accepted, with the real time as seen. A preview, or a session
    /// without a state directory, writes nothing.
    pub fn commit(self) -> Result<(), StateError> {
        let Clock::System(now) = self.clock else {
            return Ok(());
        };
        let Some(mut dir) = self.dir else {
            return Ok(());
        };
        let mut next = self.next;
        if next.highest_time_seen.is_none_or(|s| now > s) {
            next.highest_time_seen = Some(now);
        }
        if let Some(t) = &self.keep_trust {
            dir.keep_trust(t)?;
        }
        dir.save(next)
    }
}

/// A revocation list must not be older than the one accepted, nor differ from it at the same
/// sequence.
pub fn check_revocation_order(
    accepted: Option<&RevocationPin>,
    r: &Revocations,
) -> Result<(), StateError> {
    let Some(pin) = accepted else {
        return Ok(());
    };
    if r.sequence() < pin.sequence {
        return Err(StateError::Rollback {
            what: "revocation list sequence",
            found: r.sequence(),
            seen: pin.sequence,
        });
    }
    if r.sequence() == pin.sequence && pin.sha256 != [0; 32] && r.sha256() != pin.sha256 {
        return Err(StateError::Conflict(format!(
            "revocation list #{} differs from list #{} already accepted",
            r.sequence(),
            pin.sequence
        )));
    }
    Ok(())
}
