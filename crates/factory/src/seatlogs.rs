//! The vendor's view of the seat logs its customers' seat servers export (FORMAT.md §20):
//! each export verified through the chain (`runtime::floating::verify_seat_log`), then all of
//! one license lineage compared. One pool's servers share one chain (one database); an entry
//! number with two hashes means two chains for one pool: a seat server copied whole onto a
//! second machine (one identity, two logs), or two servers of the pool on two databases, each
//! leasing the whole pool.

use runtime::seatlog::SeatLog;
use std::collections::BTreeMap;

/// Where two exports of one lineage diverge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fork {
    /// The lineage.
    pub lineage_id: String,
    /// The first entry number with two hashes.
    pub seq: i64,
    /// The two exports (their names) and their pools.
    pub between: [(String, String); 2],
}

/// What a set of exports shows, per lineage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Entries seen (distinct numbers).
    pub entries: u64,
    /// The highest entry number.
    pub head: i64,
    /// The pool activations that wrote entries, with how many leases (new or renewed) each.
    pub leases_by_server: BTreeMap<String, u64>,
}

/// Compares verified exports (name, log): what each lineage shows, and every fork.
pub fn compare(logs: &[(String, SeatLog)]) -> (BTreeMap<String, Seen>, Vec<Fork>) {
    // lineage → seq → (hash, export name, pool)
    let mut by: BTreeMap<&str, BTreeMap<i64, (&str, &str, &str)>> = BTreeMap::new();
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut forks: BTreeMap<(String, String, String), Fork> = BTreeMap::new();
    for (name, log) in logs {
        let chain = by.entry(&log.lineage_id).or_default();
        let s = seen.entry(log.lineage_id.clone()).or_default();
        for e in &log.entries {
            match chain.get(&e.seq) {
                None => {
                    chain.insert(e.seq, (&e.hash, name, &log.pool_activation_id));
                    s.entries += 1;
                    s.head = s.head.max(e.seq);
                    if e.event == "leased" || e.event == "renewed" {
                        *s.leases_by_server.entry(e.server.clone()).or_default() += 1;
                    }
                }
                Some((h, other, pool)) if *h != e.hash => {
                    let key = (log.lineage_id.clone(), other.to_string(), name.clone());
                    forks.entry(key).or_insert_with(|| Fork {
                        lineage_id: log.lineage_id.clone(),
                        seq: e.seq,
                        between: [
                            (other.to_string(), pool.to_string()),
                            (name.clone(), log.pool_activation_id.clone()),
                        ],
                    });
                }
                Some(_) => {}
            }
        }
    }
    (seen, forks.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::seatlog::{link, LogEntry, GENESIS, SEAT_LOG_TYPE};

    fn log(pool: &str, events: &[&str]) -> SeatLog {
        let mut prev = GENESIS.to_string();
        let entries = events
            .iter()
            .enumerate()
            .map(|(i, ev)| {
                let seq = i as i64 + 1;
                let hash = link(&prev, seq, 100, pool, ev, "s", "");
                let e = LogEntry {
                    at: 100,
                    detail: String::new(),
                    event: ev.to_string(),
                    hash: hash.clone(),
                    prev: prev.clone(),
                    seat: "s".into(),
                    seq,
                    server: pool.into(),
                };
                prev = hash;
                e
            })
            .collect();
        SeatLog {
            doc_type: SEAT_LOG_TYPE.into(),
            entries,
            exported_at: "2026-11-23T10:00:00Z".into(),
            lineage_id: "lin-1".into(),
            pool_activation_id: pool.into(),
            product: "gateway".into(),
            server_public_key: canon::enc::b64(&[1u8; 32]),
        }
    }

    #[test]
    fn one_chain_seen_twice_is_one_and_two_chains_fork_where_they_part() {
        let a = log("act-a", &["leased", "renewed", "leased"]);
        let again = log("act-a", &["leased", "renewed"]);
        let (seen, forks) = compare(&[("a".into(), a.clone()), ("a2".into(), again)]);
        assert!(forks.is_empty());
        assert_eq!(seen["lin-1"].entries, 3);
        assert_eq!(seen["lin-1"].leases_by_server["act-a"], 3);
        // A clone: the same prefix, then its own entries.
        let clone = log("act-a", &["leased", "renewed", "released"]);
        let (_, forks) = compare(&[("a".into(), a), ("clone".into(), clone)]);
        assert_eq!(forks.len(), 1);
        assert_eq!(forks[0].seq, 3);
    }
}
