//! The license book's views: each license is in exactly one at a given time, decided once
//! ([`View::of`] for a record, [`View`]'s SQL predicate for a listing, the same rule).

use super::{row_to_record, Record, Registry, LIST_COLUMNS};
use crate::args;
use anyhow::Result;
use canon::Timestamp;

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
    /// Past its expiry and its grace days.
    Expired,
    /// Past its expiry, inside its grace days: still working, renew now.
    Grace,
    /// Superseded by a renewal that has begun (a license renewed early stays in its own view,
    /// with `renewed_by`, until its renewal begins).
    Renewed,
    /// Suspended (until resumed).
    Suspended,
    /// Revoked.
    Revoked,
}

impl View {
    /// Every view, in precedence order.
    pub const ALL: [View; 8] = [
        View::Revoked,
        View::Suspended,
        View::Renewed,
        View::Future,
        View::Expired,
        View::Grace,
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
            View::Grace => "grace",
            View::Renewed => "renewed",
            View::Suspended => "suspended",
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
        } else if r.suspended_at.is_some() {
            View::Suspended
        } else if r.superseded(now) {
            View::Renewed
        } else if r.not_before > now {
            View::Future
        } else if r.grace_ends() <= now {
            View::Expired
        } else if r.expires_at <= now {
            View::Grace
        } else if r.expires_at <= now.plus_days(within) {
            View::ExpiringSoon
        } else {
            View::Active
        }
    }

    /// The SQL predicate over `licenses l` (?1 = now, ?2 = now + window). Mirrors
    /// [`View::of`]; a test compares the two over every view.
    fn predicate(self) -> String {
        const SUPERSEDED: &str = "l.renewed_by IS NOT NULL AND coalesce((SELECT nx.not_before FROM licenses nx WHERE nx.license_id = l.renewed_by), 0) <= ?1";
        let standing =
            format!("l.revoked_at IS NULL AND l.suspended_at IS NULL AND NOT ({SUPERSEDED})");
        let grace_ends = "l.expires_at + coalesce(l.grace_days, 0) * 86400";
        match self {
            View::Revoked => "l.revoked_at IS NOT NULL".into(),
            View::Suspended => "l.revoked_at IS NULL AND l.suspended_at IS NOT NULL".into(),
            View::Renewed => {
                format!("l.revoked_at IS NULL AND l.suspended_at IS NULL AND {SUPERSEDED}")
            }
            View::Future => format!("{standing} AND l.not_before > ?1"),
            View::Expired => format!("{standing} AND l.not_before <= ?1 AND {grace_ends} <= ?1"),
            View::Grace => format!(
                "{standing} AND l.not_before <= ?1 AND l.expires_at <= ?1 AND {grace_ends} > ?1"
            ),
            View::ExpiringSoon => format!(
                "{standing} AND l.not_before <= ?1 AND l.expires_at > ?1 AND l.expires_at <= ?2"
            ),
            View::Active => format!("{standing} AND l.not_before <= ?1 AND l.expires_at > ?2"),
        }
    }
}

/// What `list` narrows a view to (each `None` matches every license).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Customer id.
    pub customer: Option<String>,
    /// Product id.
    pub product: Option<String>,
    /// Tier name.
    pub tier: Option<String>,
    /// The key id that signed the license (the leaked-key runbook lists what a key signed).
    pub key_id: Option<String>,
    /// Lineage id.
    pub lineage: Option<String>,
}

impl Filter {
    /// The filter's predicate over `licenses l`, its values bound as ?4 to ?8 ('' = any).
    const SQL: &'static str = "(?4 = '' OR l.customer_id = ?4) AND (?5 = '' OR l.product = ?5) AND (?6 = '' OR l.tier = ?6) AND (?7 = '' OR l.key_id = ?7) AND (?8 = '' OR l.lineage_id = ?8)";

    fn values(&self) -> [&str; 5] {
        [
            &self.customer,
            &self.product,
            &self.tier,
            &self.key_id,
            &self.lineage,
        ]
        .map(|v| v.as_deref().unwrap_or(""))
    }
}

impl Registry {
    /// Licenses in `view` at `now` (window `within` days), ordered by expiry, without their
    /// signed bytes (`document` and `signature` are empty; use [`Registry::get`]).
    /// `limit` caps the rows returned (0 = all).
    pub fn list(&self, view: View, now: Timestamp, within: i64, limit: u64) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        self.for_each(view, &Filter::default(), now, within, limit, |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// Streams the rows of [`Registry::list`] to `f` without collecting them.
    pub fn for_each(
        &self,
        view: View,
        filter: &Filter,
        now: Timestamp,
        within: i64,
        limit: u64,
        mut f: impl FnMut(Record) -> Result<()>,
    ) -> Result<()> {
        let lim = if limit == 0 { i64::MAX } else { limit as i64 };
        // The signed bytes are not needed for listings (and are the bulk of each row).
        let sql = format!(
            "SELECT {LIST_COLUMNS} FROM licenses l WHERE {} AND {} ORDER BY l.expires_at, l.license_id LIMIT ?3",
            view.predicate(),
            Filter::SQL
        );
        let [c, p, t, k, l] = filter.values();
        self.sql().each(
            &sql,
            args![now.0, now.plus_days(within).0, lim, c, p, t, k, l],
            &mut |row| f(row_to_record(row)?),
        )
    }

    /// Counts the licenses in `view`.
    pub fn count(&self, view: View, now: Timestamp, within: i64) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM licenses l WHERE {}", view.predicate());
        let n = self
            .sql()
            .int(&sql, args![now.0, now.plus_days(within).0])?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record is listed in exactly the view [`View::of`] gives it, at many instants:
    /// the SQL predicates and the Rust rule are one rule.
    #[test]
    fn the_sql_views_agree_with_view_of() {
        let d = tempfile::tempdir().unwrap();
        let reg = Registry::open(&d.path().join("r.db")).unwrap();
        let c = reg.sqlite().unwrap();
        let day = 86_400i64;
        let t0 = 1_800_000_000i64;
        // (not_before, expires_at, grace_days, revoked, suspended, successor's not_before)
        let mut n = 0;
        for nb in [-40, -5, 3] {
            for exp in [-20, -2, 10, 60] {
                for grace in [0, 14] {
                    for (revoked, suspended, succ) in [
                        (false, false, None),
                        (true, false, None),
                        (false, true, None),
                        (false, false, Some(-1)),
                        (false, false, Some(exp)),
                    ] {
                        if exp <= nb {
                            continue;
                        }
                        n += 1;
                        let id = format!("lic-{n:04}");
                        let renewed_by = succ.map(|_| format!("lic-s{n:04}"));
                        if let Some(s) = succ {
                            c.execute(
                                "INSERT INTO licenses (license_id, lineage_id, sequence, customer_id, customer_name, product, tier, issued_at, not_before, expires_at, license_key, key_id, grace_days)
                                 VALUES (?1, ?2, 2, 'c', 'C', 'p', 'professional', 0, ?3, ?4, ?5, 'k', 0)",
                                rusqlite::params![renewed_by.as_deref().unwrap(), format!("lin-{n}"), t0 + s * day, t0 + (s + 365) * day, format!("S{n:04}")],
                            )
                            .unwrap();
                        }
                        c.execute(
                            "INSERT INTO licenses (license_id, lineage_id, sequence, customer_id, customer_name, product, tier, issued_at, not_before, expires_at, license_key, key_id, grace_days, revoked_at, suspended_at, renewed_by)
                             VALUES (?1, ?2, 1, 'c', 'C', 'p', 'professional', 0, ?3, ?4, ?5, 'k', ?6, ?7, ?8, ?9)",
                            rusqlite::params![
                                id,
                                format!("lin-{n}"),
                                t0 + nb * day,
                                t0 + exp * day,
                                format!("K{n:04}"),
                                grace,
                                revoked.then_some(t0),
                                suspended.then_some(t0),
                                renewed_by
                            ],
                        )
                        .unwrap();
                    }
                }
            }
        }
        for offset in [-30, -3, 0, 1, 5, 12, 30] {
            let now = Timestamp(t0 + offset * day);
            let mut seen = std::collections::HashMap::new();
            for v in View::ALL {
                reg.for_each(v, &Filter::default(), now, 30, 0, |r| {
                    assert!(
                        seen.insert(r.license_id.clone(), v).is_none(),
                        "{} in two views",
                        r.license_id
                    );
                    assert_eq!(View::of(&r, now, 30), v, "{} at {now}", r.license_id);
                    Ok(())
                })
                .unwrap();
            }
            let total: i64 = c
                .query_row("SELECT count(*) FROM licenses", [], |r| r.get(0))
                .unwrap();
            assert_eq!(
                seen.len() as i64,
                total,
                "every license in one view at {now}"
            );
        }
    }
}
