//! The book's lookups beside the core reads of [`Registry`]: a license by its human key, what a
//! customer already holds, pages of signed rows for export, seats in use, the trust file the
//! registry keeps, and the registry files' privacy.

use super::{audit, row_to_record, Record, Registry, COLUMNS, FROM_JOINED};
use crate::args;
use anyhow::{Context, Result};
use canon::{enc, Timestamp};
use std::path::Path;

impl Registry {
    /// Suspends a license (`suspend`) or resumes it, with every other license of its lineage
    /// that is not revoked: a renewal made before the suspension (or the predecessor a
    /// machine still holds) is suspended with it, so no license of the lineage escapes it. The
    /// next revocation list names them (or stops naming them); the service refuses the
    /// lineage's activations and renewals meanwhile. Audit events `suspended` / `resumed`
    /// with the reason, one per license.
    pub fn set_suspended(
        &mut self,
        id: &str,
        suspend: bool,
        reason: &str,
        at: Timestamp,
    ) -> Result<()> {
        self.write(|tx| {
            let cur = tx.opt(
                "SELECT revoked_at, suspended_at, lineage_id FROM licenses WHERE license_id = ?1",
                args![id],
                |r| Ok((r.opt_int(0)?, r.opt_int(1)?, r.text(2)?)),
            )?;
            let lineage = match (cur, suspend) {
                (None, _) => anyhow::bail!("no license {id} in the registry"),
                (Some((Some(_), _, _)), _) => {
                    anyhow::bail!(
                        "license {id} is revoked; a revoked license is not suspended or resumed"
                    )
                }
                (Some((None, Some(_), _)), true) => {
                    anyhow::bail!("license {id} is suspended already")
                }
                (Some((None, None, _)), false) => anyhow::bail!("license {id} is not suspended"),
                (Some((_, _, lineage)), _) => lineage,
            };
            let ids = tx.all(
                "SELECT license_id FROM licenses WHERE lineage_id = ?1 AND revoked_at IS NULL
                 AND (CASE WHEN suspended_at IS NULL THEN 1 ELSE 0 END) = ?2 ORDER BY sequence",
                args![&lineage, i64::from(suspend)],
                |r| r.text(0),
            )?;
            let event = if suspend { "suspended" } else { "resumed" };
            for l in &ids {
                tx.exec(
                    "UPDATE licenses SET suspended_at = ?1 WHERE license_id = ?2",
                    args![suspend.then_some(at.0), l],
                )?;
                super::audit_row(tx, at, event, l, reason)?;
            }
            Ok(())
        })
    }

    /// Every suspended license and since when, by id.
    pub fn suspended(&self) -> Result<Vec<(String, Timestamp)>> {
        self.sql().all(
            "SELECT license_id, suspended_at FROM licenses WHERE suspended_at IS NOT NULL AND revoked_at IS NULL ORDER BY license_id",
            &[],
            |r| Ok((r.text(0)?, Timestamp(r.int(1)?))),
        )
    }

    /// The newest trust file kept (its version and bytes).
    pub fn kept_trust(&self) -> Result<Option<(u64, Vec<u8>)>> {
        self.sql().opt(
            "SELECT version, document FROM trust_files ORDER BY version DESC LIMIT 1",
            &[],
            |r| Ok((r.int(0)? as u64, r.text(1)?.into_bytes())),
        )
    }

    /// Keeps a trust file (once per version; an audit event says so). The caller checked
    /// that it is newer than the one kept.
    pub fn keep_trust(&mut self, version: u64, bytes: &[u8], at: Timestamp) -> Result<()> {
        let text = std::str::from_utf8(bytes).context("trust file is not UTF-8")?;
        self.write(|tx| {
            let n = tx.exec(
                "INSERT INTO trust_files (version, document, kept_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (version) DO NOTHING",
                args![version, text, at.0],
            )?;
            if n == 1 {
                audit(
                    tx,
                    at,
                    "trust_kept",
                    &format!("trust#{version}"),
                    &enc::sha256_hex(bytes),
                )?;
            }
            Ok(())
        })
    }

    /// The name recorded for customer `id` (the first license's), if any.
    pub fn customer_name(&self, id: &str) -> Result<Option<String>> {
        self.sql().opt(
            "SELECT customer_name FROM licenses WHERE customer_id = ?1 ORDER BY issued_at, license_id LIMIT 1",
            args![id],
            |r| r.text(0),
        )
    }

    /// A live license of this customer, product and tier (the latest of its lineage, neither
    /// revoked nor expired at `now`), if there is one.
    pub fn live_license_of(
        &self,
        customer_id: &str,
        product: &str,
        tier: &str,
        now: Timestamp,
    ) -> Result<Option<String>> {
        self.sql().opt(
            "SELECT license_id FROM licenses WHERE customer_id = ?1 AND product = ?2 AND tier = ?3
             AND revoked_at IS NULL AND renewed_by IS NULL AND expires_at > ?4
             ORDER BY license_id LIMIT 1",
            args![customer_id, product, tier, now.0],
            |r| r.text(0),
        )
    }

    /// Up to `limit` licenses with their signed bytes, in license-id order, after `after`
    /// (from the start when `None`): `export --all` pages through the book with it.
    pub fn records_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<Record>> {
        self.sql().all(
            &format!(
                "SELECT {COLUMNS} FROM {FROM_JOINED} WHERE l.license_id > ?1 ORDER BY l.license_id LIMIT ?2"
            ),
            args![after.unwrap_or(""), limit as i64],
            row_to_record,
        )
    }

    /// How many licenses the registry holds.
    pub fn license_count(&self) -> Result<u64> {
        Ok(self.sql().int("SELECT count(*) FROM licenses", &[])? as u64)
    }

    /// The license with this human key (`XXXX-XXXX-XXXX-XXXX`, as read out over the phone:
    /// case, spaces and missing dashes do not matter).
    pub fn get_by_key(&self, key: &str) -> Result<Option<Record>> {
        let clean: String = key
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if clean.len() != 16 {
            return Ok(None);
        }
        let key = format!(
            "{}-{}-{}-{}",
            &clean[..4],
            &clean[4..8],
            &clean[8..12],
            &clean[12..]
        );
        self.sql().opt(
            &format!("SELECT {COLUMNS} FROM {FROM_JOINED} WHERE l.license_key = ?1"),
            args![&key],
            row_to_record,
        )
    }

    /// The live seats of a lineage.
    pub fn live_seats(&self, lineage_id: &str) -> Result<u64> {
        let n = self.sql().opt(
            "SELECT live_seats FROM activation_lineages WHERE lineage_id = ?1",
            args![lineage_id],
            |r| r.int(0),
        )?;
        Ok(n.unwrap_or(0) as u64)
    }
}

/// The registry holds every license key: its files are the owner's alone (0600), whatever the
/// umask and however the file came to be. A new file is created 0600 before SQLite opens it
/// (SQLite gives its `-wal` and `-shm` files the database's mode); an existing one readable by
/// others is tightened, with its `-wal` and `-shm`.
pub(super) fn private_files(path: &Path, create: bool) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if create {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("registry {}", path.display())),
            }
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let p = std::path::PathBuf::from(p);
            match std::fs::metadata(&p) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                        .with_context(|| format!("making {} private (0600)", p.display()))?;
                }
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, create);
    Ok(())
}
