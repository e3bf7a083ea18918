//! Activations: verifying a lease (docs/FORMAT.md §15) against this machine and the state,
//! and verifying documents a machine signs with its own instance key (requests, receipts).
//!
//! The lease checks run cheapest first: envelope, kind and key role, signature, schema and
//! the signer's window ([`crate::signed::verify`]); then the license or lineage it names; the
//! binding to this machine's fingerprint; its window at `now`; its signing time against the
//! clock; the state's revocations, minimum epoch and highest sequence. `now` is a parameter.

use crate::check::Check;
use crate::error::VerifyError;
use crate::keys::PublicKey;
use crate::license::relative;
use crate::refusal::{Code, Refusal};
use crate::signed::{verify, verify_pae, Verified};
use crate::state::State;
use crate::trust::TrustStore;
use canon::{KeyId, Timestamp};
pub use format::activation::*;
use std::fmt;
use std::path::{Path, PathBuf};

/// The directory of a state directory holding installed activations, one per product.
pub const DIR: &str = "activation";
/// The lease file name.
pub const LEASE_FILE: &str = "activation.json";
/// The lease signature file name.
pub const LEASE_SIG: &str = "activation.sig";
/// The machine's X25519 encryption key in a state directory (docs/FORMAT.md §17, §19): made by
/// the agent beside its instance key; build keys in leases are wrapped to it.
pub const ENCRYPTION_KEY_FILE: &str = "agent/encryption.key";

/// A verified lease.
pub type Lease = Verified<Activation>;

/// Where the lease of `product` is installed in a state directory.
pub fn installed_dir(state: &Path, product: &str) -> PathBuf {
    state.join(DIR).join(product)
}

/// Why a lease, request or receipt was refused (signature failures are [`VerifyError`]s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivationError {
    /// The signature, schema or key of the document failed.
    Verify(VerifyError),
    /// The lease names another product or license lineage.
    Mismatch(String),
    /// The lease is bound to another machine (fingerprint or instance key).
    OtherMachine(String),
    /// The lease starts later.
    NotYetValid(Timestamp),
    /// The lease ended.
    Expired(Timestamp),
    /// Revoked by an accepted list, below the lineage's minimum epoch, or deactivated here.
    Revoked(String),
    /// A lower sequence than one already installed.
    Rollback {
        /// The lease's sequence.
        found: u64,
        /// The highest installed.
        seen: u64,
    },
    /// The clock is behind the lease's signing time.
    ClockBehind(Timestamp),
}

impl ActivationError {
    /// The check this error stands for.
    pub fn code(&self) -> Check {
        match self {
            ActivationError::Verify(e) => e.code(),
            ActivationError::Mismatch(_) => Check::ActivationMismatch,
            ActivationError::OtherMachine(_) => Check::ActivationOtherMachine,
            ActivationError::NotYetValid(_) => Check::ActivationNotYetValid,
            ActivationError::Expired(_) => Check::LeaseExpired,
            ActivationError::Revoked(_) => Check::ActivationRevoked,
            ActivationError::Rollback { .. } => Check::Rollback,
            ActivationError::ClockBehind(_) => Check::TamperSuspected,
        }
    }
}

impl fmt::Display for ActivationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActivationError::Verify(e) => write!(f, "{e}"),
            ActivationError::Mismatch(m) | ActivationError::OtherMachine(m) => f.write_str(m),
            ActivationError::NotYetValid(t) => write!(f, "the lease starts at {t}"),
            ActivationError::Expired(t) => write!(f, "the lease ended at {t}"),
            ActivationError::Revoked(m) => f.write_str(m),
            ActivationError::Rollback { found, seen } => write!(
                f,
                "rollback: lease sequence {found} is lower than {seen}, already installed"
            ),
            ActivationError::ClockBehind(t) => write!(
                f,
                "the clock is behind the lease's issued_at {t} (more than 5 minutes): clock set back?"
            ),
        }
    }
}

impl std::error::Error for ActivationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ActivationError::Verify(e) => Some(e),
            _ => None,
        }
    }
}

impl From<VerifyError> for ActivationError {
    fn from(e: VerifyError) -> ActivationError {
        ActivationError::Verify(e)
    }
}

/// What a lease must be bound to: this machine and the license in use.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The license's product.
    pub product: &'a str,
    /// The license's lineage (a renewal keeps its activations).
    pub lineage_id: &'a str,
    /// This machine's fingerprint for the product.
    pub fingerprint: &'a str,
    /// The instance key the agent holds, when known (the agent checks it; a product need not).
    pub instance_key: Option<&'a str>,
    /// This machine's identity components for the product (docs/FORMAT.md §21), when read: a
    /// lease with a match policy accepts another fingerprint when they match.
    pub components: Option<&'a crate::identity::Components>,
}

/// Verifies a lease's signature (an `activation` key inside its window), then its binding, its
/// window at `now`, and the state's facts. `known` is what the state accepted.
pub fn verify_lease(
    trust: &TrustStore,
    doc: &[u8],
    sig: &[u8],
    binding: &Binding<'_>,
    known: &State,
    now: Timestamp,
) -> Result<Lease, ActivationError> {
    let lease: Lease = verify(trust, doc, sig, None)?;
    check_lease(&lease, binding, known, now)?;
    Ok(lease)
}

/// The checks of [`verify_lease`] after the signature, in order.
pub fn check_lease(
    lease: &Lease,
    b: &Binding<'_>,
    known: &State,
    now: Timestamp,
) -> Result<(), ActivationError> {
    let a = lease.value();
    let t = lease.facts();
    // The machine's key is validated like every other public key (a small-order or
    // non-canonical point names no machine: whoever holds the lease could claim it).
    use format::Artifact;
    instance_key_bytes(Activation::WHAT, &a.instance_public_key)
        .map_err(VerifyError::from)
        .and_then(|k| {
            PublicKey::from_bytes(&k).map_err(|e| {
                VerifyError::schema(Activation::WHAT, format!("instance_public_key: {e}"))
            })
        })?;
    if a.product != b.product || a.lineage_id != b.lineage_id {
        return Err(ActivationError::Mismatch(format!(
            "the lease is for product {} lineage {}, not product {} lineage {}",
            a.product, a.lineage_id, b.product, b.lineage_id
        )));
    }
    // Another fingerprint is still this machine when its components match the lease's
    // under the vendor's policy (a re-imaged VM, a new disk: FORMAT.md §21).
    let matched = || match (a.match_policy.as_deref(), b.components) {
        (Some(p), Some(mine)) => format::identity::matches(p, &a.components, mine),
        _ => false,
    };
    if a.fingerprint != b.fingerprint && !matched() {
        return Err(ActivationError::OtherMachine(format!(
            "the lease is bound to another machine (fingerprint {}, this machine is {}{})",
            a.fingerprint,
            b.fingerprint,
            match (&a.match_policy, b.components) {
                (Some(p), Some(_)) =>
                    format!("; too few identity components in common for match {p}"),
                _ => String::new(),
            }
        )));
    }
    if b.instance_key.is_some_and(|k| k != a.instance_public_key) {
        return Err(ActivationError::OtherMachine(
            "the lease names another instance key than this machine's agent holds".into(),
        ));
    }
    // The one interval convention (canon::Window): at `not_after` the lease is over, the
    // same instant the vendor's registry frees its seat.
    match canon::Window::new(t.not_before, t.not_after).at(now) {
        canon::Within::Before => return Err(ActivationError::NotYetValid(t.not_before)),
        canon::Within::Ended => return Err(ActivationError::Expired(t.not_after)),
        canon::Within::Inside => {}
    }
    if !t.issued_at.signed_by(now) {
        return Err(ActivationError::ClockBehind(t.issued_at));
    }
    if let Some(why) = known.revoked_activations.get(&a.activation_id) {
        return Err(ActivationError::Revoked(format!(
            "activation {} is void: {}",
            a.activation_id,
            crate::text::escape(why)
        )));
    }
    if let Some(min) = known.activation_epochs.get(&a.lineage_id) {
        if a.epoch < *min {
            return Err(ActivationError::Revoked(format!(
                "activation {} is from before a reset of its license's seats (epoch {} < {min})",
                a.activation_id, a.epoch
            )));
        }
    }
    if let Some(seen) = known.activation_sequences.get(&sequence_key(a)) {
        if a.sequence < *seen {
            return Err(ActivationError::Rollback {
                found: a.sequence,
                seen: *seen,
            });
        }
    }
    Ok(())
}

/// Under which name a state remembers a lease's sequence (never to take a lower one): a
/// machine's lease, its lineage; a seat server's pool lease, its lineage and activation, since
/// a node may move between the pool's servers (two servers of one pool, each with its own
/// pool lease, high availability), whose pool leases are numbered apart.
pub fn sequence_key(a: &Activation) -> String {
    match a.pool {
        None => a.lineage_id.clone(),
        Some(_) => format!("{}/pool/{}", a.lineage_id, a.activation_id),
    }
}

/// Where a valid lease stands at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Valid, renewal not due.
    Active,
    /// Valid, past `renew_after`.
    RenewDue,
}

impl Verified<Activation> {
    /// The lease's state at `now` (the caller verified it at `now`).
    pub fn state_at(&self, now: Timestamp) -> LeaseState {
        if now >= self.facts().renew_after {
            LeaseState::RenewDue
        } else {
            LeaseState::Active
        }
    }

    /// Whole days until the lease ends (negative once it ended).
    pub fn days_remaining(&self, now: Timestamp) -> i64 {
        (self.facts().not_after.0 - now.0).div_euclid(86_400)
    }

    /// One sentence about the lease.
    pub fn describe(&self, now: Timestamp) -> String {
        let a = self.value();
        let keys = match a.grants.len() {
            0 => String::new(),
            1 => ", with the key of build ".to_string() + &a.grants[0].bundle_id,
            n => format!(", with the keys of {n} builds"),
        };
        format!(
            "activation {} of license {} (device limit {}{}), lease #{} valid until {} ({}){keys}",
            a.activation_id,
            a.license_id,
            a.device_limit,
            if a.overage {
                ", this seat over the limit"
            } else {
                ""
            },
            a.sequence,
            self.facts().not_after,
            relative(now, self.facts().not_after)
        )
    }
}

/// Verifies the lease installed in `state` for `product` against this machine (its
/// fingerprint from `sources`), the trust, the state's facts and `now`: the one place that
/// reads an installed lease, for the product facade and `runtime-verify activation` alike.
/// `lineage`: the license's, when known (else the lease's own). `Ok(None)`: none installed.
pub fn verify_installed(
    trust: &TrustStore,
    state: &Path,
    product: &str,
    lineage: Option<&str>,
    sources: &crate::fingerprint::Sources,
    known: &State,
    now: Timestamp,
) -> Result<Option<Lease>, crate::error::Refusal> {
    use crate::error::Refusal;
    let read_capped = |p: &Path, cap: usize| {
        crate::io::read_capped(p, cap as u64).map_err(|e| Refusal::read(p, &e))
    };
    let dir = installed_dir(state, product);
    let lease_path = dir.join(LEASE_FILE);
    let refuse = |check: Check, message: String| Refusal {
        check: Some(check),
        message: format!("{}: {message}", lease_path.display()),
    };
    let Some(doc) = read_capped(&lease_path, MAX_ACTIVATION_BYTES)? else {
        return Ok(None);
    };
    let sig =
        read_capped(&dir.join(LEASE_SIG), canon::sig::MAX_ENVELOPE_BYTES)?.ok_or_else(|| {
            refuse(
                Check::SignatureEnvelopeInvalid,
                "its signature activation.sig is missing".into(),
            )
        })?;
    let own_lineage;
    let lineage = match lineage {
        Some(l) => l,
        None => {
            let (a, _, _) = <Activation as format::Artifact>::parse(&doc)
                .map_err(|e| refuse(VerifyError::from(e).code(), "not a lease".into()))?;
            own_lineage = a.lineage_id;
            &own_lineage
        }
    };
    let fp = crate::fingerprint::of(product, sources)
        .map_err(|e| refuse(Check::FingerprintUnavailable, e.to_string()))?;
    let mut binding = Binding {
        product,
        lineage_id: lineage,
        fingerprint: &fp.value,
        instance_key: None,
        components: None,
    };
    // The components are read only when the fingerprint alone does not bind the lease.
    let first = verify_lease(trust, &doc, &sig, &binding, known, now);
    let components;
    let result = match (&first, &sources.probe) {
        (Err(ActivationError::OtherMachine(_)), Some(probe)) => {
            components = crate::identity::components(product, probe);
            binding.components = Some(&components);
            verify_lease(trust, &doc, &sig, &binding, known, now)
        }
        _ => first,
    };
    result
        .map(Some)
        .map_err(|e| refuse(e.code(), e.to_string()))
}

/// Verifies an install token's text form against the trust store: shape, kind, an
/// `activation` key, signature, schema, the signer's window at `issued_at`. Whether it has
/// expired or was spent is the service's question (it has the clock and the registry).
pub fn verify_token(
    trust: &TrustStore,
    text: &str,
) -> Result<crate::signed::Verified<InstallToken>, VerifyError> {
    let f = SignedFile::from_token(text)?;
    crate::signed::verify::<InstallToken>(trust, &f.canonical, &f.envelope.to_bytes(), None)
}

/// Verifies a document signed by a machine's own key: the envelope's kind, the key id of the
/// key the document carries, the signature over its canonical bytes, then its schema. Returns
/// the document, its facts and its canonical bytes.
pub fn verify_instance_signed<A: InstanceSigned>(
    file: &[u8],
) -> Result<(A, A::Facts, Vec<u8>), VerifyError> {
    let f = SignedFile::parse(A::WHAT, file)?;
    if f.envelope.kind != A::KIND {
        return Err(VerifyError::WrongKind {
            expected: A::KIND,
            found: f.envelope.kind,
        });
    }
    let value = A::from_canonical(&f.canonical)?;
    verify_by_instance_key::<A>(value.instance_public_key(), &f.canonical, &f.envelope)?;
    let facts = value.validate()?;
    Ok((value, facts, f.canonical))
}

/// Checks `envelope` over `canonical` as `A`'s, signed by the instance key `key_b64` (base64):
/// the envelope's kind, its key id, the signature. The one check of a machine's or a seat
/// server's own signature.
pub fn verify_by_instance_key<A: format::Artifact>(
    key_b64: &str,
    canonical: &[u8],
    envelope: &canon::Envelope,
) -> Result<(), VerifyError> {
    if envelope.kind != A::KIND {
        return Err(VerifyError::WrongKind {
            expected: A::KIND,
            found: envelope.kind,
        });
    }
    let key_bytes = instance_key_bytes(A::WHAT, key_b64)?;
    if envelope.key_id != KeyId::of(&key_bytes) {
        return Err(VerifyError::BadSignature {
            key_id: envelope.key_id,
            what: A::WHAT,
        });
    }
    let key = PublicKey::from_bytes(&key_bytes)
        .map_err(|e| VerifyError::schema(A::WHAT, format!("instance_public_key: {e}")))?;
    verify_pae(&key, A::KIND, canonical, &envelope.sig, A::WHAT)
}

/// The oldest request a file carried by hand may be, in days (it may take a while to travel).
/// The services' freshness is their own (docs/HTTP.md); all are [`Freshness`] values, checked
/// by [`check_request`] for the factory, `airlock-server` and `airlock-seatd` alike.
pub const MAX_REQUEST_AGE_DAYS: i64 = 30;
/// How old a signed request may be for its transport: one place for request freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// A file carried by hand ([`MAX_REQUEST_AGE_DAYS`]).
    Carried,
    /// An online activation or renewal: the agent signs it for the call.
    Online,
    /// A request used as the credential of one call (updates): minutes.
    Credential,
}

impl Freshness {
    /// The oldest acceptable age, in seconds.
    pub fn max_age_secs(self) -> i64 {
        match self {
            Freshness::Carried | Freshness::Online => MAX_REQUEST_AGE_DAYS * canon::time::DAY,
            Freshness::Credential => 300,
        }
    }
}

/// Verifies a request file (signature by the instance key it carries, schema) and its age for
/// its transport.
pub fn check_request(
    file: &[u8],
    now: Timestamp,
    fresh: Freshness,
) -> Result<ActivationRequest, Refusal> {
    let (req, created, _) = verify_instance_signed::<ActivationRequest>(file).map_err(|e| {
        Refusal::new(
            Code::RequestInvalid,
            format!("the activation request does not verify: {e}"),
        )
    })?;
    if !created.signed_by(now) {
        return Err(Refusal::new(
            Code::RequestFromFuture,
            format!("the request was made at {created}, after now ({now}): check the clocks"),
        ));
    }
    if created.0 < now.0.saturating_sub(fresh.max_age_secs()) {
        return Err(Refusal::new(
            Code::RequestStale,
            format!(
                "the request was made at {created}, more than {} s ago: make a new one with `airlock-agent request`",
                fresh.max_age_secs()
            ),
        ));
    }
    Ok(req)
}
