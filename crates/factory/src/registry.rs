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
use runtime::revocation::RevocationList;
use runtime::Artifact;
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::Path;

/// How long a command waits for another process holding the registry.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The registry's file name in the vendor home, when neither `--db` nor `AIRLOCK_DB` (old name
/// `FACTORY_DB`) is given.
pub const HOME_DB: &str = "factory.db";

const MIGRATIONS: &[&str] = &[
    // 1: licenses, audit, revocation lists.
    "CREATE TABLE licenses (
        license_id    TEXT PRIMARY KEY,
        lineage_id    TEXT NOT NULL,
        sequence      INTEGER NOT NULL,
        renewal_of    TEXT REFERENCES licenses(license_id),
        customer_id   TEXT NOT NULL,
        customer_name TEXT NOT NULL,
        product       TEXT NOT NULL,
        tier          TEXT NOT NULL,
        issued_at     INTEGER NOT NULL,
        not_before    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        license_key   TEXT NOT NULL UNIQUE,
        key_id        TEXT NOT NULL,
        renewed_by    TEXT REFERENCES licenses(license_id),
        revoked_at    INTEGER,
        revoke_reason TEXT,
        UNIQUE (lineage_id, sequence)
    );
    -- One partial index per view family, ordered like the views (expiry, id).
    CREATE INDEX licenses_live ON licenses(expires_at, license_id, not_before)
        WHERE revoked_at IS NULL AND renewed_by IS NULL;
    CREATE INDEX licenses_live_future ON licenses(not_before)
        WHERE revoked_at IS NULL AND renewed_by IS NULL;
    CREATE INDEX licenses_revoked ON licenses(expires_at, license_id) WHERE revoked_at IS NOT NULL;
    CREATE INDEX licenses_renewed ON licenses(expires_at, license_id)
        WHERE renewed_by IS NOT NULL AND revoked_at IS NULL;
    CREATE INDEX licenses_customer ON licenses(customer_id);
    -- The signed bytes live apart, so that listings read small rows only.
    CREATE TABLE license_documents (
        license_id TEXT PRIMARY KEY REFERENCES licenses(license_id),
        document   BLOB NOT NULL,
        signature  BLOB NOT NULL
    );
    CREATE TABLE audit (
        seq       INTEGER PRIMARY KEY,
        at        INTEGER NOT NULL,
        event     TEXT NOT NULL,
        subject   TEXT NOT NULL,
        detail    TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
    CREATE TABLE revocation_lists (
        sequence  INTEGER PRIMARY KEY,
        issued_at INTEGER NOT NULL,
        document  BLOB NOT NULL,
        signature BLOB NOT NULL
    );",
    // 2: events carry the hash of the license row they leave behind; existing rows are
    // anchored by one `anchored` event each (appended by `migrate`).
    "ALTER TABLE audit ADD COLUMN row_hash TEXT;
    CREATE INDEX audit_subject ON audit(subject, seq) WHERE row_hash IS NOT NULL;",
    // 3: idempotency keys of issue requests (batch lines, `issue --request-id`): a re-run
    // issues only what was not recorded.
    "CREATE TABLE issue_requests (
        request_key TEXT PRIMARY KEY,
        license_id  TEXT NOT NULL UNIQUE REFERENCES licenses(license_id)
    );",
    // 4: activations (seats), the requests that made them, and per lineage the reset epoch
    // and the lease counter. At most one live seat per lineage and fingerprint.
    "CREATE TABLE activations (
        activation_id   TEXT PRIMARY KEY,
        lineage_id      TEXT NOT NULL,
        license_id      TEXT NOT NULL REFERENCES licenses(license_id),
        fingerprint     TEXT NOT NULL,
        instance_key    TEXT NOT NULL,
        label           TEXT NOT NULL,
        epoch           INTEGER NOT NULL,
        overage         INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        lease_sequence  INTEGER NOT NULL,
        lease_issued_at INTEGER NOT NULL,
        lease_not_after INTEGER NOT NULL,
        released_at     INTEGER,
        release_kind    TEXT,
        release_reason  TEXT
    );
    CREATE UNIQUE INDEX activations_seat ON activations(lineage_id, fingerprint)
        WHERE released_at IS NULL;
    CREATE INDEX activations_lease_end ON activations(lineage_id, lease_not_after)
        WHERE released_at IS NULL;
    CREATE INDEX activations_license ON activations(license_id);
    CREATE TABLE activation_requests (
        request_id    TEXT PRIMARY KEY,
        activation_id TEXT NOT NULL REFERENCES activations(activation_id),
        at            INTEGER NOT NULL
    );
    CREATE TABLE activation_lineages (
        lineage_id     TEXT PRIMARY KEY,
        epoch          INTEGER NOT NULL,
        lease_sequence INTEGER NOT NULL,
        last_reset_at  INTEGER
    );",
    // 5: the online service: install tokens spent (one row per seat a token made), and the
    // last heartbeat each seat reported when it renewed.
    "CREATE TABLE install_token_uses (
        token_id      TEXT NOT NULL,
        activation_id TEXT NOT NULL REFERENCES activations(activation_id),
        at            INTEGER NOT NULL,
        PRIMARY KEY (token_id, activation_id)
    );
    CREATE TABLE activation_heartbeats (
        activation_id   TEXT PRIMARY KEY REFERENCES activations(activation_id),
        at              INTEGER NOT NULL,
        product_version TEXT,
        uptime_seconds  INTEGER,
        counts          TEXT NOT NULL
    );",
    // 6: each lineage counts its live seats (a renewal no longer counts them; `audit verify`
    // checks the count against the seats).
    LIVE_SEATS_MIGRATION,
    // 7: the audit head signed at each revocation-list publication (`factory::audit`).
    ANCHORS_MIGRATION,
];

/// Migration 7, the same SQL on both engines.
const ANCHORS_MIGRATION: &str = "CREATE TABLE audit_anchors (
        revocations_sequence BIGINT PRIMARY KEY,
        audit_seq            BIGINT NOT NULL,
        audit_head           TEXT NOT NULL,
        public_key           TEXT NOT NULL,
        document             TEXT NOT NULL,
        signature            TEXT NOT NULL
    );";

/// Migration 6, the same SQL on both engines.
const LIVE_SEATS_MIGRATION: &str =
    "ALTER TABLE activation_lineages ADD COLUMN live_seats BIGINT NOT NULL DEFAULT 0;
    UPDATE activation_lineages SET live_seats = (SELECT count(*) FROM activations a
        WHERE a.lineage_id = activation_lineages.lineage_id AND a.released_at IS NULL);";

/// The same schema as [`MIGRATIONS`] leaves behind, for PostgreSQL: created whole on a fresh
/// database (its version is kept in `airlock_schema`). Integers are BIGINT, bytes BYTEA.
const PG_SCHEMA: &str = include_str!("registry_pg.sql");

/// The SQLite migration [`PG_SCHEMA`] matches. A new migration must be written for
/// PostgreSQL too (into [`PG_SCHEMA`] and [`PG_UPGRADES`], and this raised): a unit test fails
/// until it is.
const PG_SCHEMA_VERSION: usize = 7;

/// What brings a PostgreSQL registry from version `n` (the index plus 5, the first version
/// PostgreSQL registries were made at) to `n + 1`.
const PG_UPGRADES: &[&str] = &[LIVE_SEATS_MIGRATION, ANCHORS_MIGRATION];

/// The version the oldest PostgreSQL registry has.
const PG_FIRST_VERSION: usize = 5;

/// Where the registry lives.
enum Db {
    Sqlite(Connection),
    Postgres(Box<Pg>),
}

/// The registry handle.
pub struct Registry {
    db: Db,
}

/// Rolls an unfinished write transaction back (an error or a panic inside it).
struct Rollback<'a> {
    sql: &'a dyn Sql,
    armed: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        forget_audit_tail();
        if self.armed {
            let _ = self.sql.exec("ROLLBACK", &[]);
        }
    }
}

thread_local! {
    /// The audit log's last event (seq, hash) as this thread's open write transaction left it:
    /// the next event chains on it without reading the log again. Valid only inside one write
    /// transaction (the write lock held: nobody else appends); forgotten when one begins or
    /// ends, and when a savepoint is rolled back.
    static AUDIT_TAIL: std::cell::RefCell<Option<(i64, String)>> =
        const { std::cell::RefCell::new(None) };
}

/// Forgets the cached audit tail (a transaction began or ended, or a savepoint rolled back).
pub(crate) fn forget_audit_tail() {
    AUDIT_TAIL.with(|t| *t.borrow_mut() = None);
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
    /// Revocation reason.
    pub revoke_reason: Option<String>,
}

/// The license-book views; each license is in exactly one at a given time. The command-line
/// names (`expiring-soon`, ...) are [`View::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Valid now and not expiring within the window.
    Active,
    /// Valid now and expiring within the window.
    ExpiringSoon,
    /// Not valid yet.
    Future,
    /// Past its expiry.
    Expired,
    /// Superseded by a renewal.
    Renewed,
    /// Revoked.
    Revoked,
}

impl View {
    /// Every view, in precedence order.
    pub const ALL: [View; 6] = [
        View::Revoked,
        View::Renewed,
        View::Future,
        View::Expired,
        View::ExpiringSoon,
        View::Active,
    ];

    /// The view's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            View::Active => "active",
            View::ExpiringSoon => "expiring-soon",
            View::Future => "future",
            View::Expired => "expired",
            View::Renewed => "renewed",
            View::Revoked => "revoked",
        }
    }

    /// The view of a command-line name.
    pub fn parse(name: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// The view a record is in at `now` with a warning window of `within` days.
    pub fn of(r: &Record, now: Timestamp, within: i64) -> View {
        if r.revoked_at.is_some() {
            View::Revoked
        } else if r.renewed_by.is_some() {
            View::Renewed
        } else if r.not_before > now {
            View::Future
        } else if r.expires_at <= now {
            View::Expired
        } else if r.expires_at <= now.plus_days(within) {
            View::ExpiringSoon
        } else {
            View::Active
        }
    }

    fn predicate(self) -> &'static str {
        // ?1 = now, ?2 = now + window. Mirrors `View::of`.
        match self {
            View::Revoked => "revoked_at IS NOT NULL",
            View::Renewed => "renewed_by IS NOT NULL AND revoked_at IS NULL",
            View::Future => "revoked_at IS NULL AND renewed_by IS NULL AND not_before > ?1",
            View::Expired => "revoked_at IS NULL AND renewed_by IS NULL AND not_before <= ?1 AND expires_at <= ?1",
            View::ExpiringSoon => {
                "revoked_at IS NULL AND renewed_by IS NULL AND not_before <= ?1 AND expires_at > ?1 AND expires_at <= ?2"
            }
            View::Active => "revoked_at IS NULL AND renewed_by IS NULL AND not_before <= ?1 AND expires_at > ?2",
        }
    }
}

const COLUMNS: &str = "l.license_id, lineage_id, sequence, renewal_of, customer_id, customer_name, product, tier, \
    issued_at, not_before, expires_at, license_key, key_id, d.document, d.signature, renewed_by, revoked_at, revoke_reason";
const FROM_JOINED: &str = "licenses l JOIN license_documents d ON d.license_id = l.license_id";
const INSERT_COLUMNS: &str =
    "license_id, lineage_id, sequence, renewal_of, customer_id, customer_name, product, tier, \
    issued_at, not_before, expires_at, license_key, key_id, renewed_by, revoked_at, revoke_reason";

const LIST_COLUMNS: &str = "license_id, lineage_id, sequence, renewal_of, customer_id, customer_name, product, tier, \
    issued_at, not_before, expires_at, license_key, key_id, NULL, NULL, renewed_by, revoked_at, revoke_reason";

/// [`COLUMNS`] with every column named by its table, for reads that join other tables.
pub(crate) const QUALIFIED_COLUMNS: &str = "l.license_id, l.lineage_id, l.sequence, l.renewal_of, l.customer_id, l.customer_name, l.product, l.tier, \
    l.issued_at, l.not_before, l.expires_at, l.license_key, l.key_id, d.document, d.signature, l.renewed_by, l.revoked_at, l.revoke_reason";
/// How many columns [`row_to_record`] reads.
pub(crate) const RECORD_COLUMNS: usize = 18;

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
    })
}

fn audit_hash(
    prev: &str,
    seq: i64,
    at: Timestamp,
    event: &str,
    subject: &str,
    detail: &str,
    row_hash: Option<&str>,
) -> String {
    let mut m = vec![
        ("prev_hash".into(), Value::String(prev.into())),
        ("seq".into(), Value::Number(seq as f64)),
        ("at".into(), Value::String(at.to_string())),
        ("event".into(), Value::String(event.into())),
        ("subject".into(), Value::String(subject.into())),
        ("detail".into(), Value::String(detail.into())),
    ];
    // Events from before schema 2 have no row hash and hash exactly as they did then.
    if let Some(h) = row_hash {
        m.push(("row_hash".into(), Value::String(h.into())));
    }
    enc::sha256_hex(&Value::object(m).expect("distinct names").to_canonical())
}

/// SHA-256 over every column of a license row and its signed bytes (canonical JSON).
pub fn row_hash(r: &Record) -> String {
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    let t = |t: Timestamp| Value::Number(t.0 as f64);
    let v = Value::object(vec![
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
    ])
    .expect("distinct names");
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
fn audit_row(
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
fn audit(tx: &dyn Sql, at: Timestamp, event: &str, subject: &str, detail: &str) -> Result<()> {
    audit_with(tx, at, event, subject, detail, None)
}

/// An audit event ready to insert: chained to the tail, its hash computed.
pub(crate) struct AuditInsert {
    seq: i64,
    at: i64,
    event: String,
    subject: String,
    detail: String,
    prev: String,
    hash: String,
    row: Option<String>,
}

/// The statement that inserts an [`AuditInsert`] ([`AuditInsert::args`]).
pub(crate) const AUDIT_INSERT: &str = "INSERT INTO audit (seq, at, event, subject, detail, prev_hash, hash, row_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

impl AuditInsert {
    /// The arguments of [`AUDIT_INSERT`].
    pub(crate) fn args(&self) -> Vec<crate::db::Arg<'_>> {
        args![
            self.seq,
            self.at,
            &self.event,
            &self.subject,
            &self.detail,
            &self.prev,
            &self.hash,
            &self.row
        ]
        .to_vec()
    }
}

/// The next audit event, chained on the tail (read once per write transaction, then kept), for
/// the caller to insert in its transaction (the tail moves on as if it was).
pub(crate) fn audit_next(
    tx: &dyn Sql,
    at: Timestamp,
    event: &str,
    subject: &str,
    detail: &str,
    row: Option<&str>,
) -> Result<AuditInsert> {
    let last: Option<(i64, String)> = match AUDIT_TAIL.with(|t| t.borrow().clone()) {
        Some(tail) => Some(tail),
        None => tx.opt(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            &[],
            |r| Ok((r.int(0)?, r.text(1)?)),
        )?,
    };
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, "0".repeat(64)),
    };
    let hash = audit_hash(&prev, seq, at, event, subject, detail, row);
    AUDIT_TAIL.with(|t| *t.borrow_mut() = Some((seq, hash.clone())));
    Ok(AuditInsert {
        seq,
        at: at.0,
        event: event.into(),
        subject: subject.into(),
        detail: detail.into(),
        prev,
        hash,
        row: row.map(str::to_string),
    })
}

/// Appends an audit event inside the caller's transaction.
pub(crate) fn audit_with(
    tx: &dyn Sql,
    at: Timestamp,
    event: &str,
    subject: &str,
    detail: &str,
    row: Option<&str>,
) -> Result<()> {
    let a = audit_next(tx, at, event, subject, detail, row)?;
    tx.exec(AUDIT_INSERT, &a.args())?;
    Ok(())
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

    fn migrate(&mut self) -> Result<()> {
        let Db::Sqlite(conn) = &self.db else {
            bail!("not a SQLite registry");
        };
        self.write_shared(|tx| {
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if version as usize > MIGRATIONS.len() {
                bail!("database schema version {version} is newer than this factory ({}); upgrade factory", MIGRATIONS.len());
            }
            for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                conn.execute_batch(m)?;
                if i + 1 == 2 {
                    // Anchor every existing row in the chain as it stands at the upgrade.
                    let ids = tx.all(
                        "SELECT license_id FROM licenses ORDER BY license_id",
                        &[],
                        |r| r.text(0),
                    )?;
                    let now = signing::clock::now()?;
                    for id in ids {
                        audit_row(tx, now, "anchored", &id, "registry schema 2")?;
                    }
                }
                conn.pragma_update(None, "user_version", (i + 1) as i64)?;
            }
            Ok(())
        })
    }

    /// Creates the whole schema in a fresh PostgreSQL database, under the write lock (two
    /// nodes starting at once create it once).
    fn migrate_postgres(&mut self) -> Result<()> {
        let Db::Postgres(pg) = &self.db else {
            bail!("not a PostgreSQL registry");
        };
        self.write_shared(|tx| {
            // Under the lock: two nodes starting on an empty database create it once.
            pg.batch("CREATE TABLE IF NOT EXISTS airlock_schema (version BIGINT NOT NULL)")?;
            match tx.opt("SELECT max(version) FROM airlock_schema", &[], |r| {
                r.opt_int(0)
            })? {
                Some(Some(v)) if v as usize == PG_SCHEMA_VERSION => {}
                Some(Some(v)) if v as usize > PG_SCHEMA_VERSION => bail!(
                    "database schema version {v} is newer than this build ({PG_SCHEMA_VERSION}); upgrade"
                ),
                Some(Some(v)) if (v as usize) < PG_FIRST_VERSION => bail!(
                    "database schema version {v} is older than any this build upgrades (from {PG_FIRST_VERSION})"
                ),
                Some(Some(v)) => {
                    for (i, m) in PG_UPGRADES
                        .iter()
                        .enumerate()
                        .skip(v as usize - PG_FIRST_VERSION)
                    {
                        pg.batch(m)?;
                        tx.exec(
                            "INSERT INTO airlock_schema (version) VALUES (?1)",
                            args![(PG_FIRST_VERSION + i + 1) as i64],
                        )?;
                    }
                }
                _ => {
                    pg.batch(PG_SCHEMA)?;
                    tx.exec(
                        "INSERT INTO airlock_schema (version) VALUES (?1)",
                        args![PG_SCHEMA_VERSION as i64],
                    )?;
                }
            }
            Ok(())
        })
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
        let tx = self.sql();
        match tx.dialect() {
            Dialect::Sqlite => tx.exec("BEGIN IMMEDIATE", &[])?,
            Dialect::Postgres => tx.exec("BEGIN", &[])?,
        };
        forget_audit_tail();
        let mut guard = Rollback {
            sql: tx,
            armed: true,
        };
        if tx.dialect() == Dialect::Postgres {
            tx.exec(
                "SELECT pg_advisory_xact_lock(?1)",
                args![crate::db::PG_WRITE_LOCK],
            )?;
        }
        let out = f(tx)?;
        tx.exec("COMMIT", &[])?;
        guard.armed = false;
        Ok(out)
    }

    /// Inserts licenses (and marks predecessors renewed) in one transaction with one audit
    /// event each. `event` is `issued`, `renewed` or `migrated`.
    pub fn insert(&mut self, records: &[Record], event: &str, at: Timestamp) -> Result<()> {
        self.insert_requested(records, &[], event, at)
    }

    /// [`Registry::insert`], recording in the same transaction the idempotency keys of the
    /// requests that asked for them (`(request key, license id)`): a key already recorded
    /// refuses the whole transaction, so two runs of one batch never issue a line twice.
    pub fn insert_requested(
        &mut self,
        records: &[Record],
        requests: &[(String, String)],
        event: &str,
        at: Timestamp,
    ) -> Result<()> {
        self.write(|tx| {
            for r in records {
                if let Some(prev) = &r.renewal_of {
                    let state = tx.opt(
                        "SELECT renewed_by, revoked_at FROM licenses WHERE license_id = ?1",
                        args![prev],
                        |x| Ok((x.opt_text(0)?, x.opt_int(1)?)),
                    )?;
                    match state {
                        Some((None, None)) => {}
                        Some((_, Some(_))) => bail!("license {prev} is revoked; a revoked license cannot be renewed"),
                        Some((Some(by), None)) => bail!("license {prev} was already renewed by {by}; renew the latest license of the lineage"),
                        None if event == "migrated" => {}
                        None => bail!("license {prev} is not in the registry"),
                    }
                }
                tx.exec(
                    &format!("INSERT INTO licenses ({INSERT_COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)"),
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
            for (key, id) in requests {
                let n = tx.exec(
                    "INSERT INTO issue_requests (request_key, license_id) VALUES (?1, ?2)
                     ON CONFLICT (request_key) DO NOTHING",
                    args![key, id],
                )?;
                if n == 0 {
                    bail!("request {key} was recorded by another process meanwhile; nothing of this transaction was recorded: run the same command again to get that license and write its files");
                }
            }
            Ok(())
        })
    }

    /// The licenses already recorded for these request keys (`key -> license id`).
    pub fn recorded_requests(&self, keys: &[&str]) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for k in keys {
            if let Some(id) = self.sql().opt(
                "SELECT license_id FROM issue_requests WHERE request_key = ?1",
                args![*k],
                |r| r.text(0),
            )? {
                out.insert((*k).to_string(), id);
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

    /// Revokes a license.
    pub fn revoke(&mut self, id: &str, reason: &str, at: Timestamp) -> Result<()> {
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
                "UPDATE licenses SET revoked_at = ?1, revoke_reason = ?2 WHERE license_id = ?3",
                args![at.0, reason, id],
            )?;
            audit_row(tx, at, "revoked", id, reason)
        })
    }

    /// Licenses in `view` at `now` (window `within` days), ordered by expiry, without their
    /// signed bytes (`document` and `signature` are empty; use [`Registry::get`]).
    /// `limit` caps the rows returned (0 = all).
    pub fn list(&self, view: View, now: Timestamp, within: i64, limit: u64) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        self.for_each(view, now, within, limit, |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// Streams the rows of [`Registry::list`] to `f` without collecting them.
    pub fn for_each(
        &self,
        view: View,
        now: Timestamp,
        within: i64,
        limit: u64,
        mut f: impl FnMut(Record) -> Result<()>,
    ) -> Result<()> {
        let lim = if limit == 0 { i64::MAX } else { limit as i64 };
        // The signed bytes are not needed for listings (and are the bulk of each row).
        let sql = format!(
            "SELECT {LIST_COLUMNS} FROM licenses WHERE {} ORDER BY expires_at, license_id LIMIT ?3",
            view.predicate()
        );
        self.sql().each(
            &sql,
            args![now.0, now.plus_days(within).0, lim],
            &mut |row| f(row_to_record(row)?),
        )
    }

    /// Counts the licenses in `view`.
    pub fn count(&self, view: View, now: Timestamp, within: i64) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM licenses WHERE {}", view.predicate());
        let n = self
            .sql()
            .int(&sql, args![now.0, now.plus_days(within).0])?;
        Ok(n as u64)
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

    /// Every revoked license: (id, reason, time).
    pub fn revoked(&self) -> Result<Vec<(String, String, Timestamp)>> {
        self.sql().all(
            "SELECT license_id, revoke_reason, revoked_at FROM licenses WHERE revoked_at IS NOT NULL ORDER BY license_id",
            &[],
            |r| {
                Ok((
                    r.text(0)?,
                    r.opt_text(1)?.unwrap_or_default(),
                    Timestamp(r.int(2)?),
                ))
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

    /// Recomputes the audit chain, then checks every license row against the row hash of its
    /// latest event (and that every license the log speaks of still exists). Returns the number
    /// of events and the head hash, or names the first break.
    pub fn verify_audit(&self) -> Result<(u64, String)> {
        let mut prev = "0".repeat(64);
        let mut expect_seq = 1i64;
        self.sql().each(
            "SELECT seq, at, event, subject, detail, prev_hash, hash, row_hash FROM audit ORDER BY seq",
            &[],
            &mut |r| {
                let (seq, at) = (r.int(0)?, r.int(1)?);
                let (event, subject, detail) = (r.text(2)?, r.text(3)?, r.text(4)?);
                let (p, h) = (r.text(5)?, r.text(6)?);
                let row = r.opt_text(7)?;
                if seq != expect_seq {
                    bail!("audit chain broken: event {expect_seq} is missing (found {seq})");
                }
                if p != prev {
                    bail!(
                        "audit chain broken at event {seq}: prev_hash does not match event {}",
                        seq - 1
                    );
                }
                if audit_hash(
                    &p,
                    seq,
                    Timestamp(at),
                    &event,
                    &subject,
                    &detail,
                    row.as_deref(),
                ) != h
                {
                    bail!("audit chain broken at event {seq}: its content does not match its hash");
                }
                prev = h;
                expect_seq += 1;
                Ok(())
            },
        )?;
        self.verify_rows()?;
        self.verify_activation_rows()?;
        self.verify_token_uses()?;
        self.verify_anchors()?;
        Ok(((expect_seq - 1) as u64, prev))
    }

    /// Checks every license row against the latest row-carrying event of its subject, and
    /// that every license the log speaks of still exists.
    fn verify_rows(&self) -> Result<()> {
        let mut events: std::collections::BTreeMap<String, String> = self
            .sql()
            .all(
                "SELECT a.subject, a.row_hash FROM audit a
                 WHERE a.row_hash IS NOT NULL AND a.subject NOT LIKE 'activation:%'
                   AND a.seq = (SELECT max(b.seq) FROM audit b WHERE b.subject = a.subject AND b.row_hash IS NOT NULL)",
                &[],
                |r| Ok((r.text(0)?, r.text(1)?)),
            )?
            .into_iter()
            .collect();
        self.sql().each(
            &format!("SELECT {COLUMNS} FROM {FROM_JOINED} ORDER BY l.license_id"),
            &[],
            &mut |row| {
                let r = row_to_record(row)?;
                match events.remove(&r.license_id) {
                    None => bail!(
                        "registry altered: license {} has no audit event for its current row",
                        r.license_id
                    ),
                    Some(want) if row_hash(&r) != want => bail!(
                        "registry altered: license {}'s row differs from what its last audit event recorded (edited outside factory)",
                        r.license_id
                    ),
                    Some(_) => Ok(()),
                }
            },
        )?;
        if let Some(subject) = events.keys().next() {
            bail!(
                "registry altered: license {subject} is in the audit log but not in the registry"
            );
        }
        Ok(())
    }

    /// Whether `head` is the hash of an event in the chain (an operator's earlier record of the
    /// head): a chain cut below it, or rewritten up to it, no longer holds it.
    pub fn has_audit_hash(&self, head: &str) -> Result<bool> {
        Ok(self
            .sql()
            .opt("SELECT 1 FROM audit WHERE hash = ?1", args![head], |_| {
                Ok(())
            })?
            .is_some())
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

    #[test]
    fn the_postgres_schema_is_at_the_latest_migration() {
        assert_eq!(
            PG_SCHEMA_VERSION,
            MIGRATIONS.len(),
            "a SQLite migration was added: write it into registry_pg.sql and PG_UPGRADES, and raise PG_SCHEMA_VERSION"
        );
        assert_eq!(
            PG_FIRST_VERSION + PG_UPGRADES.len(),
            PG_SCHEMA_VERSION,
            "every PostgreSQL version has its upgrade to the next"
        );
        // Every column a migration adds is in the PostgreSQL schema.
        for m in MIGRATIONS {
            for w in m.split("ADD COLUMN ").skip(1) {
                let column = w.split_whitespace().next().unwrap();
                assert!(
                    PG_SCHEMA.contains(&format!("    {column} ")),
                    "column {column} is missing from registry_pg.sql"
                );
            }
        }
        // Every table the migrations make is in the PostgreSQL schema.
        for m in MIGRATIONS {
            for w in m.split("CREATE TABLE ").skip(1) {
                let table = w.split_whitespace().next().unwrap();
                assert!(
                    PG_SCHEMA.contains(&format!("CREATE TABLE {table} ")),
                    "{table} is missing from registry_pg.sql"
                );
            }
        }
    }

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
