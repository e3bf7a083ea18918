//! The seat server's records on the SQL seam (`sqldb`): the embedded SQLite file, or a
//! PostgreSQL database that several seat servers of one pool share. The seats held (keyed by
//! the pool, the license's lineage, so that every server of the pool counts the same seats),
//! each server's counters (its sequence, its clock floor), the reservations, and one
//! hash-chained log of every lease.
//!
//! Every decision is made inside one write transaction (`sqldb::write`: SQLite's `BEGIN
//! IMMEDIATE`, or PostgreSQL's advisory lock [`PG_SEATD_LOCK`]), so two claims, two processes
//! or two servers never count and insert interleaved: the pool is never exceeded. A batch of
//! operations shares one transaction (group commit, [`crate::writer`]).

use anyhow::{Context, Result};
use canon::Timestamp;
use runtime::seatlog::{link, GENESIS};
use sqldb::{args, Dialect, Sql, SqlRow};
use std::path::Path;

/// The advisory lock every seat server's write transaction takes first ("Seatd" in ASCII);
/// not the factory's, so a shared PostgreSQL server never serializes the two.
pub const PG_SEATD_LOCK: i64 = 0x0053_6561_7464;

/// A node as its request and claim name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// Its fingerprint for the product.
    pub fingerprint: String,
    /// Its instance key, base64.
    pub key: String,
    /// The name it gives (its request's label), shown to the administrator.
    pub name: String,
    /// The group it says it belongs to (reservations), or empty.
    pub group: String,
}

/// One seat as recorded.
#[derive(Debug, Clone)]
pub struct Seat {
    /// The node lease id (kept across renewals).
    pub id: String,
    /// The pool activation id of the server that leased it last.
    pub server: String,
    /// The node.
    pub node: Node,
    /// When it was taken.
    pub since: Timestamp,
    /// When it was last renewed (or taken).
    pub renewed_at: Timestamp,
    /// The end of its current lease.
    pub not_after: Timestamp,
    /// Whether it is borrowed.
    pub borrowed: bool,
}

/// What a claim decided.
#[derive(Debug)]
pub enum Claim {
    /// A seat (new or the node's own) with its new end and the server sequence to sign.
    Granted {
        /// The seat.
        seat: Seat,
        /// The server sequence of this lease.
        sequence: u64,
        /// Whether the seat is new.
        new: bool,
    },
    /// Every seat is held, or reserved for other nodes.
    Full {
        /// The pool's seats.
        seats: u64,
        /// Of them, reserved for other nodes and not held.
        reserved: u64,
    },
    /// The fingerprint's live seat belongs to another instance key.
    Taken,
    /// The clock is behind this server's floor.
    ClockBack(Timestamp),
}

/// Seats held back for named nodes or groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Its name.
    pub name: String,
    /// How many seats.
    pub seats: u64,
    /// Node names or fingerprints it is for.
    pub nodes: Vec<String>,
    /// Groups it is for.
    pub groups: Vec<String>,
}

impl Reservation {
    /// Whether `n` is one of the nodes it is for.
    pub fn matches(&self, n: &Node) -> bool {
        self.nodes
            .iter()
            .any(|x| *x == n.name || *x == n.fingerprint)
            || (!n.group.is_empty() && self.groups.contains(&n.group))
    }
}

/// Whether `me` may take a new seat of a pool of `seats` while `live` hold one, under
/// `reserved`: each live seat counts toward the first reservation it matches that still has
/// room; a node of a reservation with room takes one while any seat is free, any other node
/// only while the free seats outnumber the reserved ones not held. Returns the reserved seats
/// not held (for the refusal) when it may not.
pub fn admits(live: &[Node], reserved: &[Reservation], me: &Node, seats: u64) -> Result<(), u64> {
    let mut held = vec![0u64; reserved.len()];
    for n in live {
        if let Some(i) =
            (0..reserved.len()).find(|&i| reserved[i].matches(n) && held[i] < reserved[i].seats)
        {
            held[i] += 1;
        }
    }
    let unfilled: u64 = reserved.iter().zip(&held).map(|(r, h)| r.seats - h).sum();
    let live = live.len() as u64;
    if live >= seats {
        return Err(unfilled);
    }
    let mine = reserved
        .iter()
        .zip(&held)
        .any(|(r, h)| r.matches(me) && *h < r.seats);
    if mine || live + unfilled < seats {
        Ok(())
    } else {
        Err(unfilled)
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS seats (
        id          TEXT PRIMARY KEY,
        pool        TEXT NOT NULL,
        server      TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        node_key    TEXT NOT NULL,
        name        TEXT NOT NULL,
        grp         TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        renewed_at  BIGINT NOT NULL,
        not_after   BIGINT NOT NULL,
        borrowed    BIGINT NOT NULL,
        released_at BIGINT,
        released_by TEXT
    );
    CREATE INDEX IF NOT EXISTS seats_live ON seats(pool, fingerprint) WHERE released_at IS NULL;
    CREATE INDEX IF NOT EXISTS seats_ending ON seats(pool, not_after) WHERE released_at IS NULL;
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
    CREATE TABLE IF NOT EXISTS reservations (
        pool   TEXT NOT NULL,
        name   TEXT NOT NULL,
        seats  BIGINT NOT NULL,
        nodes  TEXT NOT NULL,
        groups_ TEXT NOT NULL,
        PRIMARY KEY (pool, name)
    );
    CREATE TABLE IF NOT EXISTS log (
        seq    BIGINT PRIMARY KEY,
        at     BIGINT NOT NULL,
        server TEXT NOT NULL,
        event  TEXT NOT NULL,
        seat   TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev   TEXT NOT NULL,
        hash   TEXT NOT NULL
    );";

/// The records' connection: a SQLite file or a PostgreSQL server.
pub enum Conn {
    /// The embedded file.
    Sqlite(rusqlite::Connection),
    /// A shared server.
    Postgres(Box<sqldb::Pg>),
}

impl Conn {
    /// Opens `location` (a file, created when missing, or a `postgres://` URL) and creates the
    /// tables it lacks (under the write lock: two servers starting at once do not race).
    pub fn open(location: &str) -> Result<Conn> {
        let conn = if sqldb::is_postgres_url(location) {
            Conn::Postgres(Box::new(sqldb::Pg::connect(location)?))
        } else {
            let path = Path::new(location);
            let c =
                rusqlite::Connection::open(path).with_context(|| format!("{}", path.display()))?;
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            // Durable at every commit: a signed node lease is never lost to a crash of the
            // machine (group commit pays for it once per batch).
            c.pragma_update(None, "synchronous", "FULL")?;
            c.set_prepared_statement_cache_capacity(64);
            Conn::Sqlite(c)
        };
        sqldb::write(conn.sql(), PG_SEATD_LOCK, |tx| tx.batch(SCHEMA))
            .with_context(|| format!("{}: the seat records' tables", sqldb::redact(location)))?;
        Ok(conn)
    }

    /// The connection.
    pub fn sql(&self) -> &dyn Sql {
        match self {
            Conn::Sqlite(c) => c,
            Conn::Postgres(p) => &**p,
        }
    }

    /// `sqlite` or `postgres`.
    pub fn dialect(&self) -> Dialect {
        self.sql().dialect()
    }
}

/// What one batch decides under: the pool (lineage), this server (its pool activation id), the
/// pool's seats, and the time read once for the batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The pool: the license's lineage id.
    pub pool: String,
    /// This server's pool activation id.
    pub server: String,
    /// The pool's seats.
    pub seats: u64,
    /// The batch's time.
    pub now: Timestamp,
}

/// The log's last entry, read once per batch and carried from entry to entry.
pub struct Tail {
    seq: i64,
    hash: String,
}

impl Tail {
    /// The last entry of the log.
    pub fn read(tx: &dyn Sql) -> Result<Tail> {
        Ok(tx
            .opt(
                "SELECT seq, hash FROM log ORDER BY seq DESC LIMIT 1",
                &[],
                |r| Ok((r.int(0)?, r.text(1)?)),
            )?
            .map_or(
                Tail {
                    seq: 0,
                    hash: GENESIS.into(),
                },
                |(seq, hash)| Tail { seq, hash },
            ))
    }

    /// The number of the last entry (0: none).
    pub fn last(&self) -> i64 {
        self.seq
    }

    /// Appends one entry.
    pub fn append(
        &mut self,
        tx: &dyn Sql,
        b: &Batch,
        event: &str,
        seat: &str,
        detail: &str,
    ) -> Result<()> {
        let seq = self.seq + 1;
        let hash = link(&self.hash, seq, b.now.0, &b.server, event, seat, detail);
        tx.exec(
            "INSERT INTO log (seq, at, server, event, seat, detail, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            args![seq, b.now.0, &b.server, event, seat, detail, &self.hash, &hash],
        )?;
        self.seq = seq;
        self.hash = hash;
        Ok(())
    }
}

/// A counter of this server (0 when unset).
pub fn counter(tx: &dyn Sql, name: &str) -> Result<i64> {
    Ok(tx
        .opt(
            "SELECT value FROM counters WHERE name = ?1",
            args![name],
            |r| r.int(0),
        )?
        .unwrap_or(0))
}

/// Sets a counter.
pub fn set_counter(tx: &dyn Sql, name: &str, value: i64) -> Result<()> {
    tx.exec(
        "INSERT INTO counters (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        args![name, value],
    )?;
    Ok(())
}

const SEAT_COLUMNS: &str =
    "id, server, fingerprint, node_key, name, grp, created_at, renewed_at, not_after, borrowed";

fn read_seat(r: &dyn SqlRow) -> Result<Seat> {
    Ok(Seat {
        id: r.text(0)?,
        server: r.text(1)?,
        node: Node {
            fingerprint: r.text(2)?,
            key: r.text(3)?,
            name: r.text(4)?,
            group: r.text(5)?,
        },
        since: Timestamp(r.int(6)?),
        renewed_at: Timestamp(r.int(7)?),
        not_after: Timestamp(r.int(8)?),
        borrowed: r.int(9)? != 0,
    })
}

/// Seats whose lease ended are free again, each logged (a crashed node's seat outlives it by
/// one lease at most).
pub fn expire(tx: &dyn Sql, b: &Batch, tail: &mut Tail) -> Result<()> {
    let ended = tx.all(
        "SELECT id FROM seats WHERE pool = ?1 AND released_at IS NULL AND not_after <= ?2",
        args![&b.pool, b.now.0],
        |r| r.text(0),
    )?;
    for id in ended {
        tx.exec(
            "UPDATE seats SET released_at = not_after, released_by = 'expired' WHERE id = ?1",
            args![&id],
        )?;
        tail.append(tx, b, "expired", &id, "")?;
    }
    Ok(())
}

/// Claims (or renews) the seat of `node` for `secs` (`borrowed`), under `b`.
pub fn claim(
    tx: &dyn Sql,
    b: &Batch,
    tail: &mut Tail,
    node: &Node,
    (secs, borrowed): (i64, bool),
) -> Result<Claim> {
    let mine = tx.opt(
        &format!("SELECT {SEAT_COLUMNS} FROM seats WHERE pool = ?1 AND fingerprint = ?2 AND released_at IS NULL"),
        args![&b.pool, &node.fingerprint],
        read_seat,
    )?;
    let not_after = Timestamp(b.now.0 + secs);
    let (seat, new) = match mine {
        Some(s) if s.node.key != node.key => return Ok(Claim::Taken),
        Some(mut s) => {
            tx.exec(
                "UPDATE seats SET not_after = ?1, borrowed = ?2, renewed_at = ?3, server = ?4, name = ?5, grp = ?6 WHERE id = ?7",
                args![not_after.0, i64::from(borrowed), b.now.0, &b.server, &node.name, &node.group, &s.id],
            )?;
            (s.renewed_at, s.not_after, s.borrowed, s.server) =
                (b.now, not_after, borrowed, b.server.clone());
            (s.node.name, s.node.group) = (node.name.clone(), node.group.clone());
            (s, false)
        }
        None => {
            let live = live_nodes(tx, &b.pool)?;
            let reserved = reservations(tx, &b.pool)?;
            if let Err(reserved) = admits(&live, &reserved, node, b.seats) {
                return Ok(Claim::Full {
                    seats: b.seats,
                    reserved,
                });
            }
            let s = Seat {
                id: random_id(),
                server: b.server.clone(),
                node: node.clone(),
                since: b.now,
                renewed_at: b.now,
                not_after,
                borrowed,
            };
            tx.exec(
                "INSERT INTO seats (id, pool, server, fingerprint, node_key, name, grp, created_at, renewed_at, not_after, borrowed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
                args![&s.id, &b.pool, &b.server, &node.fingerprint, &node.key, &node.name, &node.group, b.now.0, not_after.0, i64::from(borrowed)],
            )?;
            (s, true)
        }
    };
    let name = format!("sequence:{}", b.server);
    let sequence = counter(tx, &name)? + 1;
    set_counter(tx, &name, sequence)?;
    tail.append(
        tx,
        b,
        if new { "leased" } else { "renewed" },
        &seat.id,
        &format!(
            "fingerprint={} sequence={sequence} not_after={not_after} borrowed={borrowed}",
            node.fingerprint
        ),
    )?;
    Ok(Claim::Granted {
        seat,
        sequence: sequence as u64,
        new,
    })
}

/// The nodes holding a live seat of `pool` (the batch expired the ended ones first).
fn live_nodes(tx: &dyn Sql, pool: &str) -> Result<Vec<Node>> {
    tx.all(
        "SELECT fingerprint, node_key, name, grp FROM seats WHERE pool = ?1 AND released_at IS NULL ORDER BY created_at, id",
        args![pool],
        |r| {
            Ok(Node {
                fingerprint: r.text(0)?,
                key: r.text(1)?,
                name: r.text(2)?,
                group: r.text(3)?,
            })
        },
    )
}

/// Releases seat `id` held by `node` (its own release); false when it holds no such live seat.
pub fn release(tx: &dyn Sql, b: &Batch, tail: &mut Tail, id: &str, node: &Node) -> Result<bool> {
    let n = tx.exec(
        "UPDATE seats SET released_at = ?1, released_by = 'node' WHERE id = ?2 AND pool = ?3 AND fingerprint = ?4 AND node_key = ?5 AND released_at IS NULL",
        args![b.now.0, id, &b.pool, &node.fingerprint, &node.key],
    )?;
    if n == 1 {
        tail.append(
            tx,
            b,
            "released",
            id,
            &format!("fingerprint={}", node.fingerprint),
        )?;
    }
    Ok(n == 1)
}

/// The administrator frees seat `id` (`reason` logged). `Ok(Err(seat))` when it is borrowed:
/// a borrowed seat returns only with its node or at its end (its node lease stays valid
/// offline, so freeing it would put one more node over the pool for days).
pub fn force_release(
    tx: &dyn Sql,
    b: &Batch,
    tail: &mut Tail,
    id: &str,
    reason: &str,
) -> Result<Option<Result<Seat, Seat>>> {
    let Some(seat) = tx.opt(
        &format!(
            "SELECT {SEAT_COLUMNS} FROM seats WHERE id = ?1 AND pool = ?2 AND released_at IS NULL"
        ),
        args![id, &b.pool],
        read_seat,
    )?
    else {
        return Ok(None);
    };
    if seat.borrowed {
        return Ok(Some(Err(seat)));
    }
    tx.exec(
        "UPDATE seats SET released_at = ?1, released_by = 'admin' WHERE id = ?2",
        args![b.now.0, id],
    )?;
    tail.append(
        tx,
        b,
        "force-released",
        id,
        &format!("fingerprint={} reason={reason}", seat.node.fingerprint),
    )?;
    Ok(Some(Ok(seat)))
}

/// The live seats of `pool`, oldest first.
pub fn seats(tx: &dyn Sql, pool: &str) -> Result<Vec<Seat>> {
    tx.all(
        &format!("SELECT {SEAT_COLUMNS} FROM seats WHERE pool = ?1 AND released_at IS NULL ORDER BY created_at, id"),
        args![pool],
        read_seat,
    )
}

/// The reservations of `pool`, by name.
pub fn reservations(tx: &dyn Sql, pool: &str) -> Result<Vec<Reservation>> {
    let split = |s: String| -> Vec<String> {
        s.split('\n')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    tx.all(
        "SELECT name, seats, nodes, groups_ FROM reservations WHERE pool = ?1 ORDER BY name",
        args![pool],
        |r| {
            Ok(Reservation {
                name: r.text(0)?,
                seats: r.int(1)? as u64,
                nodes: split(r.text(2)?),
                groups: split(r.text(3)?),
            })
        },
    )
}

/// Sets (or with `None` removes) a reservation; `Ok(Err(total))` when the reservations would
/// hold back more than the pool's seats, `Ok(Ok(false))` when there was none to remove.
pub fn reserve(
    tx: &dyn Sql,
    b: &Batch,
    tail: &mut Tail,
    name: &str,
    r: Option<&Reservation>,
) -> Result<Result<bool, u64>> {
    let others: u64 = reservations(tx, &b.pool)?
        .iter()
        .filter(|x| x.name != name)
        .map(|x| x.seats)
        .sum();
    let Some(r) = r else {
        let n = tx.exec(
            "DELETE FROM reservations WHERE pool = ?1 AND name = ?2",
            args![&b.pool, name],
        )?;
        if n == 1 {
            tail.append(tx, b, "unreserved", name, "")?;
        }
        return Ok(Ok(n == 1));
    };
    if others + r.seats > b.seats {
        return Ok(Err(others + r.seats));
    }
    let (nodes, groups) = (r.nodes.join("\n"), r.groups.join("\n"));
    tx.exec(
        "INSERT INTO reservations (pool, name, seats, nodes, groups_) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (pool, name) DO UPDATE SET seats = excluded.seats, nodes = excluded.nodes, groups_ = excluded.groups_",
        args![&b.pool, name, r.seats, &nodes, &groups],
    )?;
    tail.append(
        tx,
        b,
        "reserved",
        name,
        &format!(
            "seats={} nodes={} groups={}",
            r.seats,
            r.nodes.join(","),
            r.groups.join(",")
        ),
    )?;
    Ok(Ok(true))
}

/// One entry of the log (its format is the export's).
pub use runtime::seatlog::LogEntry as Entry;

/// The log's entries after `after`, checking the chain from the start; an error names the
/// first entry that breaks it.
pub fn log(tx: &dyn Sql, after: i64) -> Result<Vec<Entry>> {
    let mut prev = GENESIS.to_string();
    let mut out = Vec::new();
    let mut expect = 1i64;
    tx.each(
        "SELECT seq, at, server, event, seat, detail, prev, hash FROM log ORDER BY seq",
        &[],
        &mut |r| {
            let e = Entry {
                seq: r.int(0)?,
                at: r.int(1)?,
                server: r.text(2)?,
                event: r.text(3)?,
                seat: r.text(4)?,
                detail: r.text(5)?,
                prev: r.text(6)?,
                hash: r.text(7)?,
            };
            anyhow::ensure!(
                e.seq == expect,
                "log entry {}: entry {expect} is missing",
                e.seq
            );
            anyhow::ensure!(
                e.prev == prev,
                "log entry {}: its previous hash is not the entry before's",
                e.seq
            );
            anyhow::ensure!(
                e.hash == link(&prev, e.seq, e.at, &e.server, &e.event, &e.seat, &e.detail),
                "log entry {}: its hash does not match its content",
                e.seq
            );
            prev = e.hash.clone();
            expect += 1;
            if e.seq > after {
                out.push(e);
            }
            Ok(())
        },
    )?;
    Ok(out)
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    canon::enc::hex(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn node(i: u8, group: &str) -> Node {
        Node {
            fingerprint: format!("fp{i}"),
            key: format!("k{i}"),
            name: format!("n{i}"),
            group: group.into(),
        }
    }

    #[test]
    fn reserved_seats_go_to_their_nodes_and_no_one_else() {
        let r = vec![Reservation {
            name: "gpu".into(),
            seats: 2,
            nodes: vec!["n9".into()],
            groups: vec!["build".into()],
        }];
        // A pool of 3, nobody in: an outsider takes the one unreserved seat.
        assert_eq!(admits(&[], &r, &node(1, ""), 3), Ok(()));
        // With it held, outsiders wait; the reservation's nodes still get theirs.
        let held = [node(1, "")];
        assert_eq!(admits(&held, &r, &node(2, ""), 3), Err(2));
        assert_eq!(admits(&held, &r, &node(9, ""), 3), Ok(()));
        assert_eq!(admits(&held, &r, &node(3, "build"), 3), Ok(()));
        // Both reserved seats held: the group's third node waits too.
        let held = [node(1, ""), node(9, ""), node(3, "build")];
        assert_eq!(admits(&held, &r, &node(4, "build"), 3), Err(0));
    }

    proptest! {
        #[test]
        fn a_pool_is_never_exceeded_and_a_reserved_node_with_room_always_gets_a_seat(
            seats in 1u64..8,
            res in proptest::collection::vec((0u64..4, 0u8..3), 0..3),
            arrivals in proptest::collection::vec(0u8..4, 0..20),
        ) {
            // Reservation i is for group g{i}; arrivals are nodes of group a (3: none).
            let mut total = 0;
            let reserved: Vec<Reservation> = res.iter().enumerate().filter_map(|(i, (n, _))| {
                if total + n > seats { return None; }
                total += n;
                Some(Reservation { name: format!("r{i}"), seats: *n, nodes: vec![], groups: vec![format!("g{i}")] })
            }).collect();
            let mut live: Vec<Node> = Vec::new();
            for (k, g) in arrivals.iter().enumerate() {
                let me = node(k as u8, &if *g < 3 { format!("g{g}") } else { String::new() });
                let room = reserved.iter().any(|r| r.matches(&me) && live.iter().filter(|n| r.matches(n)).count() < r.seats as usize);
                match admits(&live, &reserved, &me, seats) {
                    Ok(()) => live.push(me),
                    Err(_) => prop_assert!(!room || live.len() as u64 >= seats),
                }
                prop_assert!(live.len() as u64 <= seats);
                // The reserved seats not held always fit beside the held ones.
                let unfilled: u64 = reserved.iter().map(|r| r.seats.saturating_sub(live.iter().filter(|n| r.matches(n)).count() as u64)).sum();
                prop_assert!(live.len() as u64 + unfilled <= seats);
            }
        }
    }
}
