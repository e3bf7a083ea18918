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

impl Registry {
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
}
