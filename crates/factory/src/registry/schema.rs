//! The registry's schema: the SQLite migrations (each a version of `PRAGMA user_version`), the
//! same schema whole for PostgreSQL (`registry_pg.sql`, its version in `airlock_schema`) and
//! the upgrades that bring an older PostgreSQL registry to it. A unit test keeps the two in
//! step.

use super::{audit_row, Db, Registry};
use crate::args;
use anyhow::{bail, Result};

pub(super) const MIGRATIONS: &[&str] = &[
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
    // 8: every seat of a fingerprint, released ones included (a new seat finds the one it
    // re-binds; `activation list` derives `rebound_from`).
    FINGERPRINT_MIGRATION,
    // 9: the book a desk runs: published reason codes, suspensions, and what each request
    // key asked for (a key reused for other parameters is refused).
    DESK_MIGRATION,
    // 10: the last trust file the factory signed or was given: signing commands refuse a key
    // it marks retired or revoked even when no --trust is passed.
    TRUST_MIGRATION,
    // 11: each license's grace days (the `grace` view; filled from the signed documents), and
    // install tokens as recorded (listed, revoked).
    "ALTER TABLE licenses ADD COLUMN grace_days BIGINT;
    UPDATE licenses SET grace_days = coalesce((SELECT json_extract(CAST(d.document AS TEXT), '$.grace_days')
        FROM license_documents d WHERE d.license_id = licenses.license_id), 0);
    CREATE TABLE install_tokens (
        token_id      TEXT PRIMARY KEY,
        license_id    TEXT NOT NULL,
        lineage_id    TEXT NOT NULL,
        allowance     BIGINT NOT NULL,
        issued_at     BIGINT NOT NULL,
        expires_at    BIGINT NOT NULL,
        revoked_at    BIGINT,
        revoke_reason TEXT
    );
    CREATE INDEX install_tokens_license ON install_tokens(license_id);",
    // 12: encrypted builds (their content key wrapped to the vendor's key-encryption key) and
    // the builds whose keys each seat was given (carried into every fresh lease).
    BUILDS_MIGRATION,
    // 13: each seat's identity components (FORMAT.md §21): a machine whose fingerprint changed
    // is still the seat's when enough of them match the license's policy.
    COMPONENTS_MIGRATION,
];

/// Migration 13, the same SQL on both engines.
const COMPONENTS_MIGRATION: &str =
    "ALTER TABLE activations ADD COLUMN components TEXT NOT NULL DEFAULT '';";

/// Migration 12, the same SQL on both engines.
const BUILDS_MIGRATION: &str = "CREATE TABLE builds (
        bundle_id         TEXT PRIMARY KEY,
        product           TEXT NOT NULL,
        version           TEXT NOT NULL,
        edition           TEXT NOT NULL,
        requires_features TEXT NOT NULL,
        customer_id       TEXT NOT NULL,
        license_id        TEXT NOT NULL,
        created_at        BIGINT NOT NULL,
        key_check         TEXT NOT NULL,
        kek_key_id        TEXT NOT NULL,
        wrapped_key       TEXT NOT NULL,
        record            TEXT NOT NULL,
        registered_at     BIGINT NOT NULL
    );
    CREATE INDEX builds_product ON builds(product, created_at);
    CREATE TABLE activation_grants (
        activation_id TEXT NOT NULL REFERENCES activations(activation_id),
        bundle_id     TEXT NOT NULL REFERENCES builds(bundle_id),
        granted_at    BIGINT NOT NULL,
        PRIMARY KEY (activation_id, bundle_id)
    );";

/// Migration 11 on PostgreSQL (the same schema; the documents read as JSON there).
const BOOK_UPGRADE_PG: &str = "ALTER TABLE licenses ADD COLUMN grace_days BIGINT;
    UPDATE licenses l SET grace_days = coalesce((convert_from(d.document, 'UTF8')::jsonb->>'grace_days')::bigint, 0)
        FROM license_documents d WHERE d.license_id = l.license_id;
    UPDATE licenses SET grace_days = 0 WHERE grace_days IS NULL;
    CREATE TABLE install_tokens (
        token_id      TEXT PRIMARY KEY,
        license_id    TEXT NOT NULL,
        lineage_id    TEXT NOT NULL,
        allowance     BIGINT NOT NULL,
        issued_at     BIGINT NOT NULL,
        expires_at    BIGINT NOT NULL,
        revoked_at    BIGINT,
        revoke_reason TEXT
    );
    CREATE INDEX install_tokens_license ON install_tokens(license_id);";

/// Migration 10, the same SQL on both engines.
const TRUST_MIGRATION: &str = "CREATE TABLE trust_files (
        version  BIGINT PRIMARY KEY,
        document TEXT NOT NULL,
        kept_at  BIGINT NOT NULL
    );";

/// Migration 9, the same SQL on both engines.
const DESK_MIGRATION: &str = "ALTER TABLE licenses ADD COLUMN revoke_code TEXT;
    ALTER TABLE licenses ADD COLUMN suspended_at BIGINT;
    ALTER TABLE issue_requests ADD COLUMN params TEXT;
    CREATE INDEX licenses_suspended ON licenses(license_id) WHERE suspended_at IS NOT NULL;";

/// Migration 8, the same SQL on both engines.
const FINGERPRINT_MIGRATION: &str =
    "CREATE INDEX activations_fingerprint ON activations(lineage_id, fingerprint, created_at);";

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
const PG_SCHEMA_VERSION: usize = 13;

/// What brings a PostgreSQL registry from version `n` (the index plus 5, the first version
/// PostgreSQL registries were made at) to `n + 1`.
const PG_UPGRADES: &[&str] = &[
    LIVE_SEATS_MIGRATION,
    ANCHORS_MIGRATION,
    FINGERPRINT_MIGRATION,
    DESK_MIGRATION,
    TRUST_MIGRATION,
    BOOK_UPGRADE_PG,
    BUILDS_MIGRATION,
    COMPONENTS_MIGRATION,
];

/// The version the oldest PostgreSQL registry has.
const PG_FIRST_VERSION: usize = 5;

impl Registry {
    pub(super) fn migrate(&mut self) -> Result<()> {
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
    pub(super) fn migrate_postgres(&mut self) -> Result<()> {
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
}
