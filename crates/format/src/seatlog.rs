//! A seat server's lease log, exported for the vendor (docs/FORMAT.md §20, "The lease log"):
//! the hash-chained entries of what it leased, signed by the server's instance key (the key
//! its pool lease names), travelling as `seat-log.json` + `seat-log.sig` beside the pool lease.
//! Two servers with one identity (a cloned machine) write two chains: two exports with one
//! entry number and two hashes show it.

use crate::{ts, valid_id, Artifact, SchemaError, MAX_SAFE_INTEGER};
use canon::{enc, Kind, Timestamp};
use serde::{Deserialize, Serialize};

/// The log's `type` member.
pub const SEAT_LOG_TYPE: &str = "airlock-seat-log";
/// Largest export accepted, in bytes (about 200,000 entries; export the rest with `--after`).
pub const MAX_SEAT_LOG_BYTES: usize = 64 << 20;
/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of one entry, chained to the one before: lowercase hex SHA-256 of
/// `prev \n seq \n at \n server \n event \n seat \n detail`. The seat server writes it and
/// the vendor checks it with this one function.
pub fn link(
    prev: &str,
    seq: i64,
    at: i64,
    server: &str,
    event: &str,
    seat: &str,
    detail: &str,
) -> String {
    enc::sha256_hex(format!("{prev}\n{seq}\n{at}\n{server}\n{event}\n{seat}\n{detail}").as_bytes())
}

/// One entry. Members in canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    /// When (Unix seconds).
    pub at: i64,
    /// What else it records.
    pub detail: String,
    /// `leased`, `renewed`, `released`, `expired`, `force-released`, `reserved`,
    /// `unreserved`.
    pub event: String,
    /// This entry's hash.
    pub hash: String,
    /// The previous entry's hash ([`GENESIS`] for the first).
    pub prev: String,
    /// The seat (or reservation) it is about.
    pub seat: String,
    /// Its number, from 1.
    pub seq: i64,
    /// The pool activation id of the server that wrote it.
    pub server: String,
}

/// The export. Members in canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatLog {
    /// Always `airlock-seat-log`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The entries exported: consecutive, each chained to the one before.
    pub entries: Vec<LogEntry>,
    /// When the export was made (the server's clock).
    pub exported_at: String,
    /// The pool's lineage.
    pub lineage_id: String,
    /// The exporting server's pool activation id.
    pub pool_activation_id: String,
    /// The product.
    pub product: String,
    /// The exporting server's instance key, base64 (its pool lease's): it signs the export.
    pub server_public_key: String,
}

impl Artifact for SeatLog {
    const KIND: Kind = Kind::SeatLog;
    const WHAT: &'static str = "seat log";
    const MAX_BYTES: usize = MAX_SEAT_LOG_BYTES;
    type Facts = Timestamp;

    fn signed_at(t: &Timestamp) -> Option<Timestamp> {
        Some(*t)
    }

    fn validate(&self) -> Result<Timestamp, SchemaError> {
        let w = Self::WHAT;
        if self.doc_type != SEAT_LOG_TYPE {
            return Err(SchemaError::new(
                w,
                format!("type must be {SEAT_LOG_TYPE:?}"),
            ));
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
        if enc::unb64_exact::<32>(&self.server_public_key).is_none() {
            return Err(SchemaError::new(
                w,
                "server_public_key is not base64 of 32 bytes",
            ));
        }
        let mut before: Option<&LogEntry> = None;
        for e in &self.entries {
            let at = |m: String| SchemaError::new(w, format!("entry {}: {m}", e.seq));
            if e.seq < 1 || e.seq as u64 > MAX_SAFE_INTEGER || e.at < 0 {
                return Err(at("seq must be from 1 and at not negative".into()));
            }
            match before {
                Some(b) if e.seq != b.seq + 1 => {
                    return Err(at(format!(
                        "follows entry {}: entries must be consecutive",
                        b.seq
                    )))
                }
                Some(b) if e.prev != b.hash => {
                    return Err(at("its prev is not the hash of the entry before".into()))
                }
                None if e.seq == 1 && e.prev != GENESIS => {
                    return Err(at("the first entry's prev must be the genesis zeros".into()))
                }
                _ => {}
            }
            if e.hash
                != link(
                    &e.prev, e.seq, e.at, &e.server, &e.event, &e.seat, &e.detail,
                )
            {
                return Err(at("its hash does not match its content".into()));
            }
            before = Some(e);
        }
        ts(w, "exported_at", &self.exported_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<LogEntry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let hash = link(&prev, seq, 100 + seq, "act-1", "leased", "s", "d");
                let e = LogEntry {
                    at: 100 + seq,
                    detail: "d".into(),
                    event: "leased".into(),
                    hash: hash.clone(),
                    prev: prev.clone(),
                    seat: "s".into(),
                    seq,
                    server: "act-1".into(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn log(entries: Vec<LogEntry>) -> SeatLog {
        SeatLog {
            doc_type: SEAT_LOG_TYPE.into(),
            entries,
            exported_at: "2026-11-23T10:00:00Z".into(),
            lineage_id: "lin-1".into(),
            pool_activation_id: "act-1".into(),
            product: "gateway".into(),
            server_public_key: enc::b64(&[7u8; 32]),
        }
    }

    #[test]
    fn a_chain_verifies_and_any_edit_names_its_entry() {
        assert!(log(chain(5)).validate().is_ok());
        assert!(
            log(chain(5).split_off(2)).validate().is_ok(),
            "a tail after --after"
        );
        let mut l = log(chain(5));
        l.entries[2].detail = "forged".into();
        assert!(l.validate().unwrap_err().detail.contains("entry 3"));
        let mut l = log(chain(5));
        l.entries.remove(2);
        assert!(l.validate().unwrap_err().detail.contains("consecutive"));
        let mut l = log(chain(2));
        l.entries[0].prev = "1".repeat(64);
        l.entries[0].hash = link(&l.entries[0].prev, 1, 101, "act-1", "leased", "s", "d");
        assert!(
            l.validate().is_err(),
            "a first entry that is not the genesis"
        );
    }
}
