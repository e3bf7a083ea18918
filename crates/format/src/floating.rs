//! Floating seats (docs/FORMAT.md §20): a seat server the customer runs (`airlock-seatd`) is
//! activated like a machine, and its lease carries **pool** terms (how many nodes may hold a
//! seat at once, the longest node lease and borrow); it signs **node leases** with its own
//! instance key. A runtime verifies the chain: trust → activation key → pool lease → node lease.
//!
//! A license floats when its tier says so in the catalog; the terms are signed into it as
//! limits ([`LIMIT_FLOATING_SEATS`], [`LIMIT_FLOATING_LEASE`], [`LIMIT_FLOATING_BORROW`]), like
//! the activation terms.

use crate::activation::{valid_fingerprint, valid_nonce};
use crate::{ts, valid_id, Artifact, SchemaError, MAX_SAFE_INTEGER};
use canon::{enc, Kind, Timestamp};
use serde::{Deserialize, Serialize};

/// The limit naming how many nodes may hold a seat at once (0 or absent: the license does not
/// float).
pub const LIMIT_FLOATING_SEATS: &str = "floating_seats";
/// The limit naming the longest node lease, in seconds.
pub const LIMIT_FLOATING_LEASE: &str = "floating_lease_seconds";
/// The limit naming the longest borrow, in seconds (0: no borrowing).
pub const LIMIT_FLOATING_BORROW: &str = "floating_borrow_seconds";
/// The reserved floating limits.
pub const FLOATING_LIMITS: [&str; 3] = [
    LIMIT_FLOATING_SEATS,
    LIMIT_FLOATING_LEASE,
    LIMIT_FLOATING_BORROW,
];
/// The shortest allowed longest node lease: one minute.
pub const MIN_NODE_LEASE_SECONDS: u64 = 60;
/// The longest allowed node lease: one day (a node renews by heartbeat).
pub const MAX_NODE_LEASE_SECONDS: u64 = 86_400;
/// The longest allowed borrow: 90 days.
pub const MAX_BORROW_SECONDS: u64 = 90 * 86_400;
/// The node lease's `type` member.
pub const NODE_LEASE_TYPE: &str = "airlock-node-lease";

/// A pool lease's terms (the lease's `pool` member), taken from the license's floating limits.
/// Members in canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolTerms {
    /// The longest borrow, in seconds (0: none).
    pub max_borrow_seconds: u64,
    /// The longest node lease, in seconds.
    pub max_node_lease_seconds: u64,
    /// How many nodes may hold a seat at once.
    pub seats: u64,
}

impl PoolTerms {
    /// Checks the bounds (the same for a license's limits and a lease's member).
    pub fn validate(&self, what: &'static str) -> Result<(), SchemaError> {
        if self.seats == 0 || self.seats > crate::activation::MAX_DEVICE_LIMIT {
            return Err(SchemaError::new(
                what,
                "floating seats must be from 1 to 10000",
            ));
        }
        if !(MIN_NODE_LEASE_SECONDS..=MAX_NODE_LEASE_SECONDS).contains(&self.max_node_lease_seconds)
        {
            return Err(SchemaError::new(
                what,
                format!(
                    "the longest node lease must be from {MIN_NODE_LEASE_SECONDS} to {MAX_NODE_LEASE_SECONDS} seconds"
                ),
            ));
        }
        if self.max_borrow_seconds > MAX_BORROW_SECONDS {
            return Err(SchemaError::new(
                what,
                format!("the longest borrow must be at most {MAX_BORROW_SECONDS} seconds"),
            ));
        }
        Ok(())
    }
}

/// The floating terms a license's limits carry; `None` when it does not float.
pub fn terms_of(limits: &std::collections::BTreeMap<String, u64>) -> Option<PoolTerms> {
    let seats = limits.get(LIMIT_FLOATING_SEATS).copied().unwrap_or(0);
    (seats > 0).then(|| PoolTerms {
        seats,
        max_node_lease_seconds: limits.get(LIMIT_FLOATING_LEASE).copied().unwrap_or(900),
        max_borrow_seconds: limits.get(LIMIT_FLOATING_BORROW).copied().unwrap_or(0),
    })
}

/// Checks a license's floating limits: either none, or all consistent.
pub fn check_limits(
    what: &'static str,
    limits: &std::collections::BTreeMap<String, u64>,
) -> Result<(), SchemaError> {
    match terms_of(limits) {
        Some(t) => t.validate(what),
        None if limits
            .keys()
            .any(|k| k == LIMIT_FLOATING_LEASE || k == LIMIT_FLOATING_BORROW) =>
        {
            Err(SchemaError::new(
                what,
                "floating_lease_seconds and floating_borrow_seconds need floating_seats",
            ))
        }
        None => Ok(()),
    }
}

/// A node's seat from a seat server (`node-lease.json`, signed by the server's instance key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeLease {
    /// Always `airlock-node-lease`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// 32 hex digits: the seat the node holds (kept across its renewals).
    pub node_lease_id: String,
    /// The pool lease's activation id (the seat server's seat).
    pub pool_activation_id: String,
    /// The license lineage.
    pub lineage_id: String,
    /// The product.
    pub product: String,
    /// The node's fingerprint for the product.
    pub node_fingerprint: String,
    /// The node's instance key, base64.
    pub node_public_key: String,
    /// The server's instance key, base64 (the pool lease's `instance_public_key`).
    pub server_public_key: String,
    /// The server's lease counter: grows with every node lease it signs (a clone shows as two
    /// servers with one counter).
    pub server_sequence: u64,
    /// The server's clock when it signed.
    pub server_time: String,
    /// Start of the node lease.
    pub issued_at: String,
    /// End of the node lease.
    pub not_after: String,
    /// Whether the seat is borrowed (checked out to leave the network).
    pub borrowed: bool,
}

/// The times of a node lease, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeTimes {
    /// Start.
    pub issued_at: Timestamp,
    /// End.
    pub not_after: Timestamp,
    /// The server's clock.
    pub server_time: Timestamp,
}

impl Artifact for NodeLease {
    const KIND: Kind = Kind::NodeLease;
    const WHAT: &'static str = "node lease";
    const MAX_BYTES: usize = crate::activation::MAX_ACTIVATION_BYTES;
    type Facts = NodeTimes;

    fn signed_at(t: &NodeTimes) -> Option<Timestamp> {
        Some(t.server_time)
    }

    fn validate(&self) -> Result<NodeTimes, SchemaError> {
        let w = Self::WHAT;
        let bad = |m: &str| Err(SchemaError::new(w, m.to_string()));
        if self.doc_type != NODE_LEASE_TYPE {
            return bad("type must be \"airlock-node-lease\"");
        }
        if !valid_nonce(&self.node_lease_id) {
            return bad("node_lease_id must be 32 lowercase hex digits");
        }
        for (n, v) in [
            ("pool_activation_id", &self.pool_activation_id),
            ("lineage_id", &self.lineage_id),
            ("product", &self.product),
        ] {
            if !valid_id(v) {
                return Err(SchemaError::new(w, format!("{n} {v:?} is not a valid id")));
            }
        }
        if !valid_fingerprint(&self.node_fingerprint) {
            return bad("node_fingerprint is not fp1: and 64 lowercase hex digits");
        }
        for (n, k) in [
            ("node_public_key", &self.node_public_key),
            ("server_public_key", &self.server_public_key),
        ] {
            if enc::unb64_exact::<32>(k).is_none() {
                return Err(SchemaError::new(
                    w,
                    format!("{n} is not base64 of 32 bytes"),
                ));
            }
        }
        if self.server_sequence == 0 || self.server_sequence > MAX_SAFE_INTEGER {
            return bad("server_sequence must be from 1 to 2^53-1");
        }
        let t = NodeTimes {
            issued_at: ts(w, "issued_at", &self.issued_at)?,
            not_after: ts(w, "not_after", &self.not_after)?,
            server_time: ts(w, "server_time", &self.server_time)?,
        };
        if t.not_after <= t.issued_at {
            return bad("not_after must be after issued_at");
        }
        Ok(t)
    }
}

impl crate::activation::InstanceSigned for NodeLease {
    fn instance_public_key(&self) -> &str {
        &self.server_public_key
    }
}
