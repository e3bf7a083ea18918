//! Floating seats (docs/FORMAT.md §20): the chain trust → activation key → pool lease → node
//! lease, verified offline on the node. The pool lease is a seat server's activation lease with
//! pool terms (checked as any lease, except that it is bound to the server's machine, not this
//! one); the node lease is signed by the server's instance key that the pool lease names.
//!
//! Refusals, in order: the pool lease's signature and schema; its product and lineage
//! (`activation_mismatch`); not a pool (`node_lease_mismatch`); ended (`pool_expired`); revoked,
//! released or reset (`pool_revoked`); its other lease checks keep their codes. Then the node
//! lease: its signature by the key it names (the signature codes); that key not the pool's
//! (`node_lease_forged`); another pool, product or lineage (`node_lease_mismatch`); another
//! node (`node_other_machine`); longer than the pool allows (`node_lease_too_long`); ending
//! after the pool (`node_lease_past_pool`); signed in this clock's future
//! (`tamper_suspected`); ended (`node_lease_expired`).

use crate::activation::verify_instance_signed;
use crate::activation::{check_lease, ActivationError, Binding, Lease};
use crate::check::Check;
use crate::error::VerifyError;
use crate::state::State;
use crate::trust::TrustStore;
use canon::Timestamp;
use format::activation::Activation;
use format::floating::{NodeLease, NodeTimes, PoolTerms};
use format::seatlog::SeatLog;
use format::Artifact;
use std::fmt;

/// A verified node seat: the pool lease and the node lease.
#[derive(Debug, Clone)]
pub struct NodeSeat {
    /// The pool lease (the seat server's activation).
    pub pool: Lease,
    /// Its terms.
    pub terms: PoolTerms,
    /// The node lease.
    pub node: NodeLease,
    /// Its times.
    pub times: NodeTimes,
}

/// Why a node seat was refused. `code()` is the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FloatingError {
    /// The pool lease failed a lease check (its code kept).
    Pool(ActivationError),
    /// The node lease's signature or schema failed.
    Verify(VerifyError),
    /// A floating check failed.
    Refused(Check, String),
}

impl FloatingError {
    /// The check this error stands for.
    pub fn code(&self) -> Check {
        match self {
            FloatingError::Pool(e) => e.code(),
            FloatingError::Verify(e) => e.code(),
            FloatingError::Refused(c, _) => *c,
        }
    }
}

impl fmt::Display for FloatingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FloatingError::Pool(e) => write!(f, "pool lease: {e}"),
            FloatingError::Verify(e) => write!(f, "node lease: {e}"),
            FloatingError::Refused(_, m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FloatingError {}

fn refuse<T>(check: Check, m: impl Into<String>) -> Result<T, FloatingError> {
    Err(FloatingError::Refused(check, m.into()))
}

/// Verifies the pool lease (`pool_doc` + `pool_sig`, an `activation` key's) for the binding's
/// product and lineage, then the node lease file (`node_file`, signed by the server) for this
/// node (the binding's fingerprint and, when given, instance key), at `now` against what the
/// state accepted.
pub fn verify_node_seat(
    trust: &TrustStore,
    (pool_doc, pool_sig): (&[u8], &[u8]),
    node_file: &[u8],
    b: &Binding<'_>,
    known: &State,
    now: Timestamp,
) -> Result<NodeSeat, FloatingError> {
    let pool: Lease = crate::signed::verify::<Activation>(trust, pool_doc, pool_sig, None)
        .map_err(|e| FloatingError::Pool(ActivationError::Verify(e)))?;
    let p = pool.value();
    let Some(terms) = p.pool else {
        if p.product != b.product || p.lineage_id != b.lineage_id {
            return Err(FloatingError::Pool(ActivationError::Mismatch(format!(
                "the lease is for product {} lineage {}, not product {} lineage {}",
                p.product, p.lineage_id, b.product, b.lineage_id
            ))));
        }
        return refuse(
            Check::NodeLeaseMismatch,
            format!(
                "activation {} is a machine's lease, not a seat server's pool",
                p.activation_id
            ),
        );
    };
    // The pool is bound to the server's machine: every other lease check applies.
    let server = Binding {
        product: b.product,
        lineage_id: b.lineage_id,
        fingerprint: &p.fingerprint,
        instance_key: None,
        components: None,
    };
    check_lease(&pool, &server, known, now).map_err(|e| match e {
        ActivationError::Expired(t) => FloatingError::Refused(
            Check::PoolExpired,
            format!("the seat server's pool lease ended at {t}: it renews it with the vendor"),
        ),
        ActivationError::Revoked(m) => FloatingError::Refused(Check::PoolRevoked, m),
        other => FloatingError::Pool(other),
    })?;
    let (node, times, _) =
        verify_instance_signed::<NodeLease>(node_file).map_err(FloatingError::Verify)?;
    check_node(&pool, terms, &node, times, b, now)?;
    Ok(NodeSeat {
        pool,
        terms,
        node,
        times,
    })
}

/// The node lease's checks against its pool, this node and `now`, in order.
fn check_node(
    pool: &Lease,
    terms: PoolTerms,
    n: &NodeLease,
    t: NodeTimes,
    b: &Binding<'_>,
    now: Timestamp,
) -> Result<(), FloatingError> {
    let p = pool.value();
    if n.server_public_key != p.instance_public_key {
        return refuse(
            Check::NodeLeaseForged,
            "the node lease is signed by another key than the seat server its pool lease names",
        );
    }
    if n.pool_activation_id != p.activation_id
        || n.product != p.product
        || n.lineage_id != p.lineage_id
    {
        return refuse(
            Check::NodeLeaseMismatch,
            format!(
                "the node lease is for pool {} ({} lineage {}), not for pool {} ({} lineage {})",
                n.pool_activation_id,
                n.product,
                n.lineage_id,
                p.activation_id,
                p.product,
                p.lineage_id
            ),
        );
    }
    if n.node_fingerprint != b.fingerprint || b.instance_key.is_some_and(|k| k != n.node_public_key)
    {
        return refuse(
            Check::NodeOtherMachine,
            format!(
                "the node lease is for another node (fingerprint {}, this node is {})",
                n.node_fingerprint, b.fingerprint
            ),
        );
    }
    let longest = if n.borrowed {
        terms.max_borrow_seconds
    } else {
        terms.max_node_lease_seconds
    };
    if t.not_after.0 - t.issued_at.0 > longest as i64 {
        return refuse(
            Check::NodeLeaseTooLong,
            format!(
                "the node {} runs {} s; the pool allows {longest} s",
                if n.borrowed { "borrow" } else { "lease" },
                t.not_after.0 - t.issued_at.0
            ),
        );
    }
    if t.not_after > pool.facts().not_after {
        return refuse(
            Check::NodeLeasePastPool,
            format!(
                "the node lease ends at {}, after its pool lease ({})",
                t.not_after,
                pool.facts().not_after
            ),
        );
    }
    for signed in [t.issued_at, t.server_time] {
        if !signed.signed_by(now) {
            return refuse(
                Check::TamperSuspected,
                format!("the node lease was signed at {signed}, after this clock's {now}: clock set back?"),
            );
        }
    }
    if now >= t.not_after {
        return refuse(
            Check::NodeLeaseExpired,
            format!(
                "the node lease ended at {}: renew it with the seat server",
                t.not_after
            ),
        );
    }
    Ok(())
}

/// The node lease's file in a product's activation directory (`STATE/activation/<product>/`).
pub const NODE_LEASE_FILE: &str = "node-lease.json";
/// The pool lease a node keeps beside its node lease.
pub const POOL_FILE: &str = "pool.json";
/// The pool lease's envelope.
pub const POOL_SIG: &str = "pool.sig";

/// Verifies the node seat installed in `state` for `product` (its pool lease and node lease,
/// as a seat server handed them) against this node (fingerprint from `sources`), the trust,
/// the state's facts and `now`. `lineage`: the license's, when known (else the pool lease's).
/// `Ok(None)`: no node lease installed.
pub fn verify_installed_node(
    trust: &TrustStore,
    state: &std::path::Path,
    product: &str,
    lineage: Option<&str>,
    sources: &crate::fingerprint::Sources,
    known: &State,
    now: Timestamp,
) -> Result<Option<NodeSeat>, crate::error::Refusal> {
    use crate::error::Refusal;
    let dir = crate::activation::installed_dir(state, product);
    let read = |name: &str, cap: usize| {
        let p = dir.join(name);
        crate::io::read_capped(&p, cap as u64).map_err(|e| Refusal::read(&p, &e))
    };
    let cap = format::activation::MAX_ACTIVATION_BYTES + canon::sig::MAX_ENVELOPE_BYTES;
    let Some(node) = read(NODE_LEASE_FILE, cap)? else {
        return Ok(None);
    };
    let missing = |name: &str| Refusal {
        check: Some(Check::NodeLeaseMismatch),
        message: format!(
            "{}: the pool lease the node lease rests on is missing ({name})",
            dir.display()
        ),
    };
    let pool = read(POOL_FILE, format::activation::MAX_ACTIVATION_BYTES)?
        .ok_or_else(|| missing(POOL_FILE))?;
    let sig = read(POOL_SIG, canon::sig::MAX_ENVELOPE_BYTES)?.ok_or_else(|| missing(POOL_SIG))?;
    let own;
    let lineage = match lineage {
        Some(l) => l,
        None => {
            own = <Activation as format::Artifact>::parse(&pool)
                .map(|(a, _, _)| a.lineage_id)
                .map_err(|e| Refusal {
                    check: Some(VerifyError::from(e).code()),
                    message: format!("{}: not a lease", dir.join(POOL_FILE).display()),
                })?;
            &own
        }
    };
    let fp = crate::fingerprint::of(product, sources).map_err(|e| Refusal {
        check: Some(Check::FingerprintUnavailable),
        message: e.to_string(),
    })?;
    let b = Binding {
        product,
        lineage_id: lineage,
        fingerprint: &fp.value,
        instance_key: None,
        components: None,
    };
    verify_node_seat(trust, (&pool, &sig), &node, &b, known, now)
        .map(Some)
        .map_err(|e| Refusal {
            check: Some(e.code()),
            message: format!("{}: {e}", dir.join(NODE_LEASE_FILE).display()),
        })
}

/// A seat server's exported lease log (FORMAT.md §20), verified for the vendor: the pool lease
/// by an `activation` key of the trust (its signature and schema: a log is read after the
/// pool's lease ended too), then the log by the instance key that pool lease names, for that
/// pool, lineage and product, its entries consecutive and chained. Two verified exports of one
/// pool with one entry number and two hashes are two chains (a cloned server).
pub fn verify_seat_log(
    trust: &TrustStore,
    (pool_doc, pool_sig): (&[u8], &[u8]),
    (log_doc, log_sig): (&[u8], &[u8]),
) -> Result<(Lease, SeatLog), FloatingError> {
    let pool: Lease = crate::signed::verify::<Activation>(trust, pool_doc, pool_sig, None)
        .map_err(|e| FloatingError::Pool(ActivationError::Verify(e)))?;
    let p = pool.value();
    if p.pool.is_none() {
        return refuse(
            Check::NodeLeaseMismatch,
            format!(
                "activation {} is a machine's lease, not a seat server's pool",
                p.activation_id
            ),
        );
    }
    let (log, _, canonical) = <SeatLog as format::Artifact>::parse(log_doc)
        .map_err(|e| FloatingError::Verify(e.into()))?;
    let envelope = canon::Envelope::parse(log_sig).map_err(|e| {
        FloatingError::Verify(VerifyError::schema(
            SeatLog::WHAT,
            format!("seat-log.sig: {e}"),
        ))
    })?;
    // Signed by another key than the one the pool lease names: not that server's log.
    let named = format::activation::instance_key_bytes(SeatLog::WHAT, &p.instance_public_key)
        .map_err(|e| FloatingError::Verify(e.into()))?;
    if envelope.key_id != canon::KeyId::of(&named) {
        return refuse(
            Check::NodeLeaseForged,
            format!(
                "the seat log is not signed by the key pool {} names",
                p.activation_id
            ),
        );
    }
    crate::activation::verify_by_instance_key::<SeatLog>(
        &p.instance_public_key,
        &canonical,
        &envelope,
    )
    .map_err(FloatingError::Verify)?;
    if log.pool_activation_id != p.activation_id
        || log.server_public_key != p.instance_public_key
        || log.lineage_id != p.lineage_id
        || log.product != p.product
    {
        return refuse(
            Check::NodeLeaseMismatch,
            format!(
                "the seat log is of pool {} (lineage {}), not of pool {}",
                log.pool_activation_id, log.lineage_id, p.activation_id
            ),
        );
    }
    Ok((pool, log))
}
