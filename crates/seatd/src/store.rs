//! The seat server's records (SQLite, one file): the seats it leased, its counters (the
//! server sequence, the clock floor) and a hash-chained log of every lease it signed, each
//! decision made in one `BEGIN IMMEDIATE` transaction so that the pool is never exceeded.

use anyhow::{Context, Result};
use canon::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;

/// One node's seat as recorded.
#[derive(Debug, Clone)]
pub struct Seat {
    /// The node lease id (kept across renewals).
    pub id: String,
    /// The node's fingerprint.
    pub fingerprint: String,
    /// The node's instance key, base64.
    pub node_key: String,
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
    /// Every seat is held.
    Full(u64),
    /// The fingerprint's live seat belongs to another instance key.
    Taken,
    /// The clock is behind the floor.
    ClockBack(Timestamp),
}

/// The store.
pub struct Store {
    conn: Connection,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS seats (
        id          TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        node_key    TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        not_after   INTEGER NOT NULL,
        borrowed    INTEGER NOT NULL,
        released_at INTEGER
    );
    CREATE INDEX IF NOT EXISTS seats_live ON seats(fingerprint) WHERE released_at IS NULL;
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS log (
        seq    INTEGER PRIMARY KEY,
        at     INTEGER NOT NULL,
        event  TEXT NOT NULL,
        seat   TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev   TEXT NOT NULL,
        hash   TEXT NOT NULL
    );";

impl Store {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).with_context(|| format!("{}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn })
    }

    /// Claims (or renews) the seat of the node `fingerprint`/`node_key` at `now` for `secs`,
    /// under a pool of `seats`.
    pub fn claim(
        &mut self,
        (fingerprint, node_key): (&str, &str),
        now: Timestamp,
        (secs, borrowed): (i64, bool),
        seats: u64,
    ) -> Result<Claim> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let floor = counter(&tx, "clock_floor")?;
        if now.0 < floor {
            return Ok(Claim::ClockBack(Timestamp(floor)));
        }
        // Seats whose lease ended are free again (a crashed node's seat outlives it by one
        // lease at most).
        tx.execute(
            "UPDATE seats SET released_at = not_after WHERE released_at IS NULL AND not_after <= ?1",
            params![now.0],
        )?;
        let mine: Option<(String, String)> = tx
            .query_row(
                "SELECT id, node_key FROM seats WHERE fingerprint = ?1 AND released_at IS NULL",
                params![fingerprint],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (id, new) = match mine {
            Some((_, key)) if key != node_key => return Ok(Claim::Taken),
            Some((id, _)) => (id, false),
            None => {
                let live: i64 = tx.query_row(
                    "SELECT count(*) FROM seats WHERE released_at IS NULL",
                    [],
                    |r| r.get(0),
                )?;
                if live as u64 >= seats {
                    return Ok(Claim::Full(seats));
                }
                (random_id(), true)
            }
        };
        let not_after = Timestamp(now.0 + secs);
        if new {
            tx.execute(
                "INSERT INTO seats (id, fingerprint, node_key, created_at, not_after, borrowed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, fingerprint, node_key, now.0, not_after.0, i64::from(borrowed)],
            )?;
        } else {
            tx.execute(
                "UPDATE seats SET not_after = ?1, borrowed = ?2 WHERE id = ?3",
                params![not_after.0, i64::from(borrowed), id],
            )?;
        }
        let sequence = counter(&tx, "server_sequence")? as u64 + 1;
        set(&tx, "server_sequence", sequence as i64)?;
        set(&tx, "clock_floor", now.0)?;
        append(
            &tx,
            now,
            if new { "leased" } else { "renewed" },
            &id,
            &format!("fingerprint={fingerprint} sequence={sequence} not_after={not_after} borrowed={borrowed}"),
        )?;
        tx.commit()?;
        Ok(Claim::Granted {
            seat: Seat {
                id,
                fingerprint: fingerprint.into(),
                node_key: node_key.into(),
                not_after,
                borrowed,
            },
            sequence,
            new,
        })
    }

    /// Releases seat `id` of node `fingerprint`/`node_key` (its own release); false when it
    /// holds no such live seat.
    pub fn release(
        &mut self,
        id: &str,
        (fingerprint, node_key): (&str, &str),
        now: Timestamp,
    ) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE seats SET released_at = ?1 WHERE id = ?2 AND fingerprint = ?3 AND node_key = ?4 AND released_at IS NULL",
            params![now.0, id, fingerprint, node_key],
        )?;
        if n == 1 {
            append(
                &tx,
                now,
                "released",
                id,
                &format!("fingerprint={fingerprint}"),
            )?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    /// Live seats at `now`.
    pub fn live(&self, now: Timestamp) -> Result<Vec<Seat>> {
        let mut st = self.conn.prepare(
            "SELECT id, fingerprint, node_key, not_after, borrowed FROM seats WHERE released_at IS NULL AND not_after > ?1 ORDER BY created_at, id",
        )?;
        let rows = st.query_map(params![now.0], |r| {
            Ok(Seat {
                id: r.get(0)?,
                fingerprint: r.get(1)?,
                node_key: r.get(2)?,
                not_after: Timestamp(r.get(3)?),
                borrowed: r.get::<_, i64>(4)? != 0,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Checks the log's hash chain; returns its length.
    pub fn verify_log(&self) -> Result<u64> {
        let mut st = self
            .conn
            .prepare("SELECT seq, at, event, seat, detail, prev, hash FROM log ORDER BY seq")?;
        let mut rows = st.query([])?;
        let mut prev = GENESIS.to_string();
        let mut n = 0u64;
        while let Some(r) = rows.next()? {
            let (seq, at, event, seat, detail): (i64, i64, String, String, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
            let (p, h): (String, String) = (r.get(5)?, r.get(6)?);
            anyhow::ensure!(
                p == prev,
                "log entry {seq}: its previous hash is not the entry before's"
            );
            anyhow::ensure!(
                h == link(&prev, seq, at, &event, &seat, &detail),
                "log entry {seq}: its hash does not match its content"
            );
            prev = h;
            n += 1;
        }
        Ok(n)
    }
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn link(prev: &str, seq: i64, at: i64, event: &str, seat: &str, detail: &str) -> String {
    canon::enc::sha256_hex(format!("{prev}\n{seq}\n{at}\n{event}\n{seat}\n{detail}").as_bytes())
}

fn append(
    tx: &rusqlite::Transaction<'_>,
    now: Timestamp,
    event: &str,
    seat: &str,
    detail: &str,
) -> Result<()> {
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev) = last.map_or((1, GENESIS.to_string()), |(s, h)| (s + 1, h));
    let hash = link(&prev, seq, now.0, event, seat, detail);
    tx.execute(
        "INSERT INTO log (seq, at, event, seat, detail, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![seq, now.0, event, seat, detail, prev, hash],
    )?;
    Ok(())
}

fn counter(tx: &rusqlite::Transaction<'_>, name: &str) -> Result<i64> {
    Ok(tx
        .query_row(
            "SELECT value FROM counters WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

fn set(tx: &rusqlite::Transaction<'_>, name: &str, value: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO counters (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    canon::enc::hex(&b)
}
