//! The license registry: an embedded SQLite database (WAL, foreign keys, schema migrations by
//! `user_version`) holding every issued license with its signed bytes, renewal lineage,
//! revocations, revocation lists and an append-only, hash-chained audit log.
//!
//! Every change happens in one `BEGIN IMMEDIATE` transaction together with its audit event, so
//! concurrent factory processes serialize cleanly and a crash (kill -9) loses nothing that was
//! committed and leaves nothing half-done.
//!
//! The chain covers the license rows, not only the events: every event that changes a license
//! carries the SHA-256 of the whole row it leaves behind (columns and signed bytes), and
//! [`Registry::verify_audit`] checks every row against the latest such event. An edit made with
//! plain SQL (`UPDATE licenses SET revoked_at = NULL`) breaks that match; cutting the chain's
//! tail is caught by an operator-anchored head (`audit verify --head`).

use crate::args;
use crate::db::{Dialect, Pg, Sql, SqlRow};
use anyhow::{bail, Context, Result};
use canon::{enc, Timestamp, Value};
use runtime::revocation::{Reason, RevocationList};
use runtime::Artifact;
use rusqlite::{Connection, OpenFlags};

mod lookups;
mod schema;
mod views;

pub use views::{Filter, View};

pub(crate) use crate::audit::{audit_next, audit_with, forget_audit_tail, AUDIT_INSERT};
use std::collections::HashMap;
use std::path::Path;

/// How long a command waits for another process holding the registry.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The registry's file name in the vendor home, when neither `--db` nor `AIRLOCK_DB` (old name
/// `FACTORY_DB`) is given.
pub const HOME_DB: &str = "factory.db";

/// Where the registry lives.
enum Db {
    Sqlite(Connection),
    Postgres(Box<Pg>),
}

/// The registry handle.
pub struct Registry {
    db: Db,
}

/// Forgets the cached audit tail when a write transaction ends, committed or not.
struct ForgetTail;

impl Drop for ForgetTail {
    fn drop(&mut self) {
        forget_audit_tail();
    }
}

/// An idempotency key recorded with the license its request made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    /// The key (`--request-id`, a batch line's own or its content's).
    pub key: String,
    /// The license it made.
    pub license_id: String,
    /// The digest of what the request asked for (`issue::Request::params`).
    pub params: String,
}

/// What a recorded idempotency key made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prior {
    /// The license.
    pub license_id: String,
    /// The digest of the parameters it was recorded with (`None`: before they were).
    pub params: Option<String>,
}

/// One license row.
#[derive(Debug, Clone)]
pub struct Record {
    /// License id.
    pub license_id: String,
    /// Lineage id.
    pub lineage_id: String,
    /// Position in the lineage.
    pub sequence: u64,
    /// Predecessor.
    pub renewal_of: Option<String>,
    /// Customer id.
    pub customer_id: String,
    /// Customer name.
    pub customer_name: String,
    /// Product id.
    pub product: String,
    /// Tier name.
    pub tier: String,
    /// Issue time.
    pub issued_at: Timestamp,
    /// Validity start.
    pub not_before: Timestamp,
    /// Validity end.
    pub expires_at: Timestamp,
    /// Human key.
    pub license_key: String,
    /// Signing key id.
    pub key_id: String,
    /// Canonical license JSON.
    pub document: Vec<u8>,
    /// Detached envelope bytes.
    pub signature: Vec<u8>,
    /// Successor, when renewed.
    pub renewed_by: Option<String>,
    /// Revocation time.
    pub revoked_at: Option<Timestamp>,
    /// Revocation reason: the vendor's own words, never published.
    pub revoke_reason: Option<String>,
    /// Revocation reason code, as published (`runtime::revocation::Reason`; `unspecified`
    /// when a revocation recorded before codes has none).
    pub revoke_code: Option<String>,
    /// Since when the license is suspended (cleared again by a resume).
    pub suspended_at: Option<Timestamp>,
    /// Days it keeps working after its expiry (the signed document's `grace_days`).
    pub grace_days: u64,
    /// When its renewal begins (read with the row, never stored: the successor's
    /// `not_before`); `None` when not renewed.
    pub renewal_begins: Option<Timestamp>,
}

impl Record {
    /// The end of its grace period.
    pub fn grace_ends(&self) -> Timestamp {
        self.expires_at.plus_days(self.grace_days as i64)
    }

    /// Whether a renewal has taken over at `now` (renewed, and the renewal has begun).
    pub fn superseded(&self, now: Timestamp) -> bool {
        self.renewed_by.is_some() && self.renewal_begins.is_none_or(|b| b <= now)
    }
}

pub(crate) const COLUMNS: &str = "l.license_id, l.lineage_id, l.sequence, l.renewal_of, l.customer_id, l.customer_name, l.product, l.tier, \
    l.issued_at, l.not_before, l.expires_at, l.license_key, l.key_id, d.document, d.signature, l.renewed_by, l.revoked_at, l.revoke_reason, l.revoke_code, l.suspended_at, \
    l.grace_days, (SELECT nx.not_before FROM licenses nx WHERE nx.license_id = l.renewed_by)";
pub(crate) const FROM_JOINED: &str =
    "licenses l JOIN license_documents d ON d.license_id = l.license_id";
const INSERT_COLUMNS: &str =
    "license_id, lineage_id, sequence, renewal_of, customer_id, customer_name, product, tier, \
    issued_at, not_before, expires_at, license_key, key_id, renewed_by, revoked_at, revoke_reason, revoke_code, suspended_at, grace_days";

/// [`COLUMNS`] without the signed bytes, over `licenses l` alone (listings).
pub(crate) const LIST_COLUMNS: &str = "l.license_id, l.lineage_id, l.sequence, l.renewal_of, l.customer_id, l.customer_name, l.product, l.tier, \
    l.issued_at, l.not_before, l.expires_at, l.license_key, l.key_id, NULL, NULL, l.renewed_by, l.revoked_at, l.revoke_reason, l.revoke_code, l.suspended_at, \
    l.grace_days, (SELECT nx.not_before FROM licenses nx WHERE nx.license_id = l.renewed_by)";

/// [`COLUMNS`] with every column named by its table, for reads that join other tables.
pub(crate) const QUALIFIED_COLUMNS: &str = COLUMNS;
/// How many columns [`row_to_record`] reads.
pub(crate) const RECORD_COLUMNS: usize = 22;

pub(crate) fn row_to_record(r: &dyn SqlRow) -> Result<Record> {
    Ok(Record {
        license_id: r.text(0)?,
        lineage_id: r.text(1)?,
        sequence: r.int(2)? as u64,
        renewal_of: r.opt_text(3)?,
        customer_id: r.text(4)?,
        customer_name: r.text(5)?,
        product: r.text(6)?,
        tier: r.text(7)?,
        issued_at: Timestamp(r.int(8)?),
        not_before: Timestamp(r.int(9)?),
        expires_at: Timestamp(r.int(10)?),
        license_key: r.text(11)?,
        key_id: r.text(12)?,
        // Listings select NULL here: they do not need the signed bytes.
        document: r.opt_blob(13)?.unwrap_or_default(),
        signature: r.opt_blob(14)?.unwrap_or_default(),
        renewed_by: r.opt_text(15)?,
        revoked_at: r.opt_int(16)?.map(Timestamp),
        revoke_reason: r.opt_text(17)?,
        revoke_code: r.opt_text(18)?,
        suspended_at: r.opt_int(19)?.map(Timestamp),
        grace_days: r.opt_int(20)?.unwrap_or(0) as u64,
        renewal_begins: r.opt_int(21)?.map(Timestamp),
    })
}

/// SHA-256 over every column of a license row and its signed bytes (canonical JSON).
pub fn row_hash(r: &Record) -> String {
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    let t = |t: Timestamp| Value::Number(t.0 as f64);
    let mut members = vec![
        ("license_id".into(), Value::String(r.license_id.clone())),
        ("lineage_id".into(), Value::String(r.lineage_id.clone())),
        ("sequence".into(), Value::Number(r.sequence as f64)),
        ("renewal_of".into(), opt(&r.renewal_of)),
        ("customer_id".into(), Value::String(r.customer_id.clone())),
        (
            "customer_name".into(),
            Value::String(r.customer_name.clone()),
        ),
        ("product".into(), Value::String(r.product.clone())),
        ("tier".into(), Value::String(r.tier.clone())),
        ("issued_at".into(), t(r.issued_at)),
        ("not_before".into(), t(r.not_before)),
        ("expires_at".into(), t(r.expires_at)),
        ("license_key".into(), Value::String(r.license_key.clone())),
        ("key_id".into(), Value::String(r.key_id.clone())),
        (
            "document".into(),
            Value::String(enc::sha256_hex(&r.document)),
        ),
        (
            "signature".into(),
            Value::String(enc::sha256_hex(&r.signature)),
        ),
        ("renewed_by".into(), opt(&r.renewed_by)),
        ("revoked_at".into(), r.revoked_at.map_or(Value::Null, t)),
        ("revoke_reason".into(), opt(&r.revoke_reason)),
    ];
    // Columns added later count only when set: every row hash recorded before them stays
    // the same.
    if let Some(c) = &r.revoke_code {
        members.push(("revoke_code".into(), Value::String(c.clone())));
    }
    if let Some(at) = r.suspended_at {
        members.push(("suspended_at".into(), t(at)));
    }
    let v = Value::object(members).expect("distinct names");
    enc::sha256_hex(&v.to_canonical())
}

pub(crate) fn get_in(tx: &dyn Sql, id: &str) -> Result<Option<Record>> {
    tx.opt(
        &format!("SELECT {COLUMNS} FROM {FROM_JOINED} WHERE l.license_id = ?1"),
        args![id],
        row_to_record,
    )
}

/// Appends an event for a license row as it now stands (its row hash included).
pub(super) fn audit_row(
    tx: &dyn Sql,
    at: Timestamp,
    event: &str,
    license_id: &str,
    detail: &str,
) -> Result<()> {
    let r = get_in(tx, license_id)?
        .with_context(|| format!("license {license_id} vanished inside its transaction"))?;
    audit_with(tx, at, event, license_id, detail, Some(&row_hash(&r)))
}

/// Appends an audit event inside the caller's transaction, chained to the previous one.
pub(super) fn audit(
    tx: &dyn Sql,
    at: Timestamp,
    event: &str,
    subject: &str,
    detail: &str,
) -> Result<()> {
    audit_with(tx, at, event, subject, detail, None)
}

impl Registry {
    /// Opens (creating and migrating as needed) the registry at `path`: for the commands that
    /// record new licenses (`issue`, `migrate`).
    pub fn open(path: &Path) -> Result<Registry> {
        Registry::open_with(path, OpenFlags::SQLITE_OPEN_CREATE)
    }

    /// Opens the registry at `path`, which must exist: for every command that reads or changes
    /// recorded licenses. A mistyped path is an error, never a new empty registry (a cron audit
    /// pointed at the wrong file must fail, not pass).
    pub fn open_existing(path: &Path) -> Result<Registry> {
        if !path.is_file() {
            bail!(
                "no registry at {} (give --db or AIRLOCK_DB, or set AIRLOCK_HOME; `factory home` shows where the registry is looked for, `factory issue` creates one)",
                path.display()
            );
        }
        Registry::open_with(path, OpenFlags::empty())
    }

    /// Opens the registry in a PostgreSQL database (`postgres://...`), creating its schema in
    /// a database that has none: for vendors who run the activation service on more than one
    /// node. Every rule, event and check is the same as on SQLite.
    pub fn open_postgres(url: &str) -> Result<Registry> {
        let pg = Pg::connect(url)?;
        let mut reg = Registry {
            db: Db::Postgres(Box::new(pg)),
        };
        reg.migrate_postgres()
            .with_context(|| format!("registry {}: schema", crate::db::redact(url)))?;
        Ok(reg)
    }

    /// [`Registry::open_postgres`] for a `postgres://` location, else
    /// [`Registry::open`] (`create`) or [`Registry::open_existing`].
    pub fn open_location(location: &Path, create: bool) -> Result<Registry> {
        match location.to_str() {
            Some(url) if crate::db::is_postgres_url(url) => Registry::open_postgres(url),
            _ if create => Registry::open(location),
            _ => Registry::open_existing(location),
        }
    }

    fn open_with(path: &Path, create: OpenFlags) -> Result<Registry> {
        lookups::private_files(path, !create.is_empty())?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | create;
        let conn = Connection::open_with_flags(path, flags)
            .with_context(|| format!("registry {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Switching a fresh file to WAL takes an exclusive lock and SQLite does not call the
        // busy handler for it: several processes creating one registry at once retry here.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(
                        e.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                r => {
                    r.with_context(|| format!("registry {}: WAL mode", path.display()))?;
                    break;
                }
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Every statement the registry runs stays compiled (the default keeps 16; a renewal
        // alone runs about 15 distinct ones).
        conn.set_prepared_statement_cache_capacity(128);
        // Plans never depend on bound values (the query planner stability guarantee). Without
        // it SQLite recompiles a statement at every new binding whenever it checked a bound
        // value against a partial index's WHERE clause: the license and replay lookups, run on
        // every renewal, were parsed and planned afresh each time.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        let mut reg = Registry {
            db: Db::Sqlite(conn),
        };
        reg.migrate()
            .with_context(|| format!("registry {}: migration", path.display()))?;
        Ok(reg)
    }

    /// The connection, outside any transaction (reads).
    pub fn sql(&self) -> &dyn Sql {
        match &self.db {
            Db::Sqlite(c) => c,
            Db::Postgres(p) => &**p,
        }
    }

    /// Which engine holds the registry.
    pub fn dialect(&self) -> Dialect {
        self.sql().dialect()
    }

    /// Runs `f` in one write transaction: committed when `f` returns `Ok`, rolled back when it
    /// fails (or panics). Writers wait for each other: SQLite's `BEGIN IMMEDIATE`, or on
    /// PostgreSQL the advisory lock [`crate::db::PG_WRITE_LOCK`], which every node takes.
    pub fn write<T>(&mut self, f: impl FnOnce(&dyn Sql) -> Result<T>) -> Result<T> {
        self.write_shared(f)
    }

    fn write_shared<T>(&self, f: impl FnOnce(&dyn Sql) -> Result<T>) -> Result<T> {
        forget_audit_tail();
        let _forget = ForgetTail;
        crate::db::write(self.sql(), crate::db::PG_WRITE_LOCK, f)
    }

    /// Inserts licenses (and marks predecessors renewed) in one transaction with one audit
    /// event each. `event` is `issued`, `renewed` or `migrated`.
    pub fn insert(&mut self, records: &[Record], event: &str, at: Timestamp) -> Result<()> {
        self.insert_requested(records, &[], event, at)
    }

    /// [`Registry::insert`], recording in the same transaction the idempotency keys of the
    /// requests that asked for them: a key already recorded refuses the whole transaction, so
    /// two runs of one batch never issue a line twice.
    pub fn insert_requested(
        &mut self,
        records: &[Record],
        requests: &[Requested],
        event: &str,
        at: Timestamp,
    ) -> Result<()> {
        self.write(|tx| {
            for r in records {
                if let Some(prev) = &r.renewal_of {
                    let state = tx.opt(
                        "SELECT renewed_by, revoked_at, suspended_at FROM licenses WHERE license_id = ?1",
                        args![prev],
                        |x| Ok((x.opt_text(0)?, x.opt_int(1)?, x.opt_int(2)?)),
                    )?;
                    // Checked again in the transaction that records the successor: a
                    // suspension or revocation committed meanwhile is not escaped.
                    let state = match state {
                        Some((_, None, Some(_))) => {
                            bail!("license {prev} is suspended; resume it first, then renew it")
                        }
                        Some((by, revoked, _)) => Some((by, revoked)),
                        None => None,
                    };
                    match state {
                        Some((None, None)) => {}
                        Some((_, Some(_))) => bail!("license {prev} is revoked; a revoked license cannot be renewed"),
                        Some((Some(by), None)) => bail!("license {prev} was already renewed by {by}; renew the latest license of the lineage"),
                        None if event == "migrated" => {}
                        None => bail!("license {prev} is not in the registry"),
                    }
                }
                tx.exec(
                    &format!("INSERT INTO licenses ({INSERT_COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)"),
                    args![
                        &r.license_id,
                        &r.lineage_id,
                        r.sequence,
                        &r.renewal_of,
                        &r.customer_id,
                        &r.customer_name,
                        &r.product,
                        &r.tier,
                        r.issued_at.0,
                        r.not_before.0,
                        r.expires_at.0,
                        &r.license_key,
                        &r.key_id,
                        &r.renewed_by,
                        r.revoked_at.map(|t| t.0),
                        &r.revoke_reason,
                        &r.revoke_code,
                        r.suspended_at.map(|t| t.0),
                        r.grace_days,
                    ],
                )
                .with_context(|| format!("recording license {}", r.license_id))?;
                tx.exec(
                    "INSERT INTO license_documents (license_id, document, signature) VALUES (?1, ?2, ?3)",
                    args![&r.license_id, &r.document, &r.signature],
                )?;
                let detail = format!(
                    "customer={} product={} tier={} key={}",
                    r.customer_id, r.product, r.tier, r.key_id
                );
                audit_with(tx, at, event, &r.license_id, &detail, Some(&row_hash(r)))?;
                if let Some(prev) = &r.renewal_of {
                    let n = tx.exec(
                        "UPDATE licenses SET renewed_by = ?1 WHERE license_id = ?2",
                        args![&r.license_id, prev],
                    )?;
                    if n == 1 {
                        audit_row(
                            tx,
                            at,
                            "superseded",
                            prev,
                            &format!("renewed_by={}", r.license_id),
                        )?;
                    }
                }
            }
            for q in requests {
                let n = tx.exec(
                    "INSERT INTO issue_requests (request_key, license_id, params) VALUES (?1, ?2, ?3)
                     ON CONFLICT (request_key) DO NOTHING",
                    args![&q.key, &q.license_id, &q.params],
                )?;
                if n == 0 {
                    bail!("request {} was recorded by another process meanwhile; nothing of this transaction was recorded: run the same command again to get that license and write its files", q.key);
                }
            }
            Ok(())
        })
    }

    /// The licenses already recorded for these request keys, with what each request asked
    /// for (`None` for a key recorded before parameters were).
    pub fn recorded_requests(&self, keys: &[&str]) -> Result<HashMap<String, Prior>> {
        let mut out = HashMap::new();
        for k in keys {
            if let Some(p) = self.sql().opt(
                "SELECT license_id, params FROM issue_requests WHERE request_key = ?1",
                args![*k],
                |r| {
                    Ok(Prior {
                        license_id: r.text(0)?,
                        params: r.opt_text(1)?,
                    })
                },
            )? {
                out.insert((*k).to_string(), p);
            }
        }
        Ok(out)
    }

    /// Every license id, in order.
    pub fn license_ids(&self) -> Result<Vec<String>> {
        self.sql().all(
            "SELECT license_id FROM licenses ORDER BY license_id",
            &[],
            |r| r.text(0),
        )
    }

    /// One license.
    pub fn get(&self, id: &str) -> Result<Option<Record>> {
        get_in(self.sql(), id)
    }

    /// The whole lineage of `lineage_id`, oldest first.
    pub fn lineage(&self, lineage_id: &str) -> Result<Vec<Record>> {
        self.sql().all(
            &format!("SELECT {COLUMNS} FROM {FROM_JOINED} WHERE lineage_id = ?1 ORDER BY sequence"),
            args![lineage_id],
            row_to_record,
        )
    }

    /// Revokes a license: `code` is published, `reason` (the vendor's words) stays here.
    pub fn revoke(&mut self, id: &str, code: Reason, reason: &str, at: Timestamp) -> Result<()> {
        self.write(|tx| {
            let cur = tx.opt(
                "SELECT revoked_at FROM licenses WHERE license_id = ?1",
                args![id],
                |r| r.opt_int(0),
            )?;
            match cur {
                None => bail!("no license {id} in the registry"),
                Some(Some(_)) => bail!("license {id} is already revoked"),
                Some(None) => {}
            }
            tx.exec(
                "UPDATE licenses SET revoked_at = ?1, revoke_reason = ?2, revoke_code = ?3 WHERE license_id = ?4",
                args![at.0, reason, code.as_str(), id],
            )?;
            audit_row(tx, at, "revoked", id, &format!("{code}: {reason}"))
        })
    }

    /// The sequence of the last published revocation list (0 when none was).
    pub fn last_revocations_sequence(&self) -> Result<u64> {
        let n = self.sql().int(
            "SELECT coalesce(max(sequence), 0) FROM revocation_lists",
            &[],
        )?;
        Ok(n as u64)
    }

    /// Refuses when a license named by the last published revocation list is no longer revoked.
    /// Published lists are signed and customers keep what they revoke, so an un-revocation can
    /// only come from an edit outside factory (an unkeyed audit chain cannot rule out a forged
    /// event appended after such an edit; the signed list can).
    pub fn check_published_still_revoked(&self) -> Result<()> {
        let last = self.sql().opt(
            "SELECT sequence, document FROM revocation_lists ORDER BY sequence DESC LIMIT 1",
            &[],
            |r| Ok((r.int(0)?, r.opt_blob(1)?.unwrap_or_default())),
        )?;
        let Some((seq, doc)) = last else {
            return Ok(());
        };
        let (list, _, _) = RevocationList::parse(&doc)
            .map_err(anyhow::Error::new)
            .with_context(|| format!("published revocation list #{seq}"))?;
        for e in &list.revoked {
            let id = e.license_id.as_str();
            let revoked = self.sql().opt(
                "SELECT revoked_at FROM licenses WHERE license_id = ?1",
                args![id],
                |r| r.opt_int(0),
            )?;
            if !matches!(revoked, Some(Some(_))) {
                bail!(
                    "registry altered: license {id} was revoked in published list #{seq} but is not revoked in the registry"
                );
            }
        }
        Ok(())
    }

    /// Every revoked license: (id, published reason code, time). A revocation recorded
    /// before codes existed is published as `unspecified`.
    pub fn revoked(&self) -> Result<Vec<(String, Reason, Timestamp)>> {
        self.sql().all(
            "SELECT license_id, revoke_code, revoked_at FROM licenses WHERE revoked_at IS NOT NULL ORDER BY license_id",
            &[],
            |r| {
                let id = r.text(0)?;
                let code = match r.opt_text(1)? {
                    None => Reason::Unspecified,
                    Some(c) => Reason::parse(&c).with_context(|| {
                        format!("license {id}: revoke_code {c:?} is not a reason code (registry edited outside factory?)")
                    })?,
                };
                Ok((id, code, Timestamp(r.int(2)?)))
            },
        )
    }

    /// Records a signed revocation list; `build` gets the next sequence number and returns
    /// the document and signature. Fails if another process took that sequence meanwhile.
    pub fn publish_revocations(
        &mut self,
        at: Timestamp,
        key: &signing::SecretKey,
        build: impl FnOnce(u64) -> Result<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(u64, Vec<u8>, Vec<u8>)> {
        self.write(|tx| {
            let last = tx.int(
                "SELECT coalesce(max(sequence), 0) FROM revocation_lists",
                &[],
            )?;
            let seq = last as u64 + 1;
            let (doc, sig) = build(seq)?;
            tx.exec(
                "INSERT INTO revocation_lists (sequence, issued_at, document, signature) VALUES (?1, ?2, ?3, ?4)",
                args![seq, at.0, &doc, &sig],
            )?;
            audit(
                tx,
                at,
                "revocations_published",
                &format!("revocations#{seq}"),
                crate::audit::ANCHORED,
            )?;
            crate::audit::anchor_in(tx, seq, at, key)?;
            Ok((seq, doc, sig))
        })
    }

    /// Records a key event (trust changes, ...) in the audit log.
    pub fn audit_event(
        &mut self,
        at: Timestamp,
        event: &str,
        subject: &str,
        detail: &str,
    ) -> Result<()> {
        self.write(|tx| audit(tx, at, event, subject, detail))
    }

    /// The raw SQLite connection (tests, benchmarks); `None` on PostgreSQL.
    pub fn sqlite(&self) -> Option<&Connection> {
        match &self.db {
            Db::Sqlite(c) => Some(c),
            Db::Postgres(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-renewal lookups stay compiled: binding a new license id must not make SQLite
    /// parse and plan the statement again (it did, for every lookup whose plan consulted a
    /// partial index, until the registry turned on the query planner stability guarantee).
    #[test]
    fn lookups_are_not_recompiled_for_each_binding() {
        let d = tempfile::tempdir().unwrap();
        let reg = Registry::open(&d.path().join("r.db")).unwrap();
        let c = reg.sqlite().unwrap();
        for id in ["lic-a", "lic-b", "lic-c"] {
            assert!(get_in(c, id).unwrap().is_none());
        }
        let st = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM {FROM_JOINED} WHERE l.license_id = ?1"
            ))
            .unwrap();
        assert_eq!(st.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
