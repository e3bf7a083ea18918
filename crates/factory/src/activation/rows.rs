//! The activation rows of the registry: their columns, their audit hashes, the seat counters
//! and the reads and writes every seat operation shares (free a seat, list, the revocation
//! entries, the audit's reconciliation of rows and counts).

use super::{GroupOp, Outcome};
use crate::args;
use crate::db::{Sql, SqlRow};
use crate::registry::{audit_with, get_in, Record, Registry};
use anyhow::{Context, Result};
use canon::{enc, Timestamp, Value};
use rand_core::{OsRng, RngCore};
use runtime::activation::ActivationRequest;
use runtime::license::{License, Standing, Times};
use runtime::Artifact;
use std::collections::HashMap;

/// One activation row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Activation id.
    pub activation_id: String,
    /// Lineage.
    pub lineage_id: String,
    /// The license of its last lease.
    pub license_id: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Instance public key (base64).
    pub instance_key: String,
    /// Operator's label.
    pub label: String,
    /// Reset epoch.
    pub epoch: u64,
    /// Over the device limit.
    pub overage: bool,
    /// When the seat was taken.
    pub created_at: Timestamp,
    /// Its last lease's sequence.
    pub lease_sequence: u64,
    /// When its last lease was signed.
    pub lease_issued_at: Timestamp,
    /// When its last lease ends.
    pub lease_not_after: Timestamp,
    /// When it was released.
    pub released_at: Option<Timestamp>,
    /// How: `receipt`, `force`, `reset` or `expired`.
    pub release_kind: Option<String>,
    /// Why.
    pub release_reason: Option<String>,
    /// Its machine's identity components (FORMAT.md §21), `name=value` lines sorted by name;
    /// empty when the request carried none.
    pub components: String,
}

impl Row {
    /// `active`, `lease_expired` or `released`.
    pub fn status(&self, now: Timestamp) -> &'static str {
        if self.released_at.is_some() {
            "released"
        } else if canon::Window::new(self.created_at, self.lease_not_after).ended(now) {
            "lease_expired"
        } else {
            "active"
        }
    }
}

pub(super) const ROW_COLUMNS: &str = "activation_id, lineage_id, license_id, fingerprint, instance_key, label, epoch, overage, created_at, lease_sequence, lease_issued_at, lease_not_after, released_at, release_kind, release_reason, components";

pub(super) fn read_row(r: &dyn SqlRow) -> Result<Row> {
    read_row_at(r, 0)
}

/// A row whose [`ROW_COLUMNS`] start at column `b` (`None` when a LEFT JOIN found none).
pub(super) fn read_opt_row_at(r: &dyn SqlRow, b: usize) -> Result<Option<Row>> {
    if r.opt_text(b)?.is_none() {
        return Ok(None);
    }
    read_row_at(r, b).map(Some)
}

fn read_row_at(r: &dyn SqlRow, b: usize) -> Result<Row> {
    Ok(Row {
        activation_id: r.text(b)?,
        lineage_id: r.text(b + 1)?,
        license_id: r.text(b + 2)?,
        fingerprint: r.text(b + 3)?,
        instance_key: r.text(b + 4)?,
        label: r.text(b + 5)?,
        epoch: r.int(b + 6)? as u64,
        overage: r.int(b + 7)? != 0,
        created_at: Timestamp(r.int(b + 8)?),
        lease_sequence: r.int(b + 9)? as u64,
        lease_issued_at: Timestamp(r.int(b + 10)?),
        lease_not_after: Timestamp(r.int(b + 11)?),
        released_at: r.opt_int(b + 12)?.map(Timestamp),
        release_kind: r.opt_text(b + 13)?,
        release_reason: r.opt_text(b + 14)?,
        components: r.text(b + 15)?,
    })
}

/// A new seat for the request (its lease still to be written).
pub(super) fn new_row(
    req: &ActivationRequest,
    rec: &Record,
    (epoch, overage): (u64, bool),
    now: Timestamp,
) -> Row {
    Row {
        activation_id: random_id(),
        lineage_id: rec.lineage_id.clone(),
        license_id: rec.license_id.clone(),
        fingerprint: req.fingerprint.clone(),
        instance_key: req.instance_public_key.clone(),
        label: req.label.clone(),
        epoch,
        overage,
        created_at: now,
        lease_sequence: 0,
        lease_issued_at: now,
        lease_not_after: now,
        released_at: None,
        release_kind: None,
        release_reason: None,
        components: components_text(&req.components),
    }
}

/// The seat after this grant: the license in force, the label, and the machine's fingerprint
/// and components (a seat matched by its components follows the machine); whether its row
/// changes beyond the lease (else a renewal writes the lease only).
pub(super) fn follow(
    mut row: Row,
    new_seat: bool,
    req: &ActivationRequest,
    (license_id, label): (&str, String),
) -> (Row, bool) {
    let components = components_text(&req.components);
    let rebound = row.fingerprint != req.fingerprint || row.components != components;
    let relabel = !new_seat && (row.license_id != license_id || row.label != label || rebound);
    row.license_id = license_id.to_string();
    row.label = label;
    row.fingerprint.clone_from(&req.fingerprint);
    row.components = components;
    (row, relabel)
}

/// A request's components as a row keeps them: `name=value` lines, sorted by name.
pub fn components_text(c: &std::collections::BTreeMap<String, String>) -> String {
    c.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A row's components as a map (lines that are not `name=value` are skipped).
pub fn components_of(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// SHA-256 of a row's canonical JSON: what its latest audit event records.
pub fn row_hash(r: &Row) -> String {
    let s = |v: &str| Value::String(v.to_string());
    let n = |v: u64| Value::Number(v as f64);
    let t = |v: Timestamp| Value::Number(v.0 as f64);
    let opt = |v: &Option<String>| v.as_deref().map_or(Value::Null, s);
    let v = Value::object(
        vec![
            ("activation_id".into(), s(&r.activation_id)),
            ("lineage_id".into(), s(&r.lineage_id)),
            ("license_id".into(), s(&r.license_id)),
            ("fingerprint".into(), s(&r.fingerprint)),
            ("instance_key".into(), s(&r.instance_key)),
            ("label".into(), s(&r.label)),
            ("epoch".into(), n(r.epoch)),
            ("overage".into(), Value::Bool(r.overage)),
            ("created_at".into(), t(r.created_at)),
            ("lease_sequence".into(), n(r.lease_sequence)),
            ("lease_issued_at".into(), t(r.lease_issued_at)),
            ("lease_not_after".into(), t(r.lease_not_after)),
            ("released_at".into(), r.released_at.map_or(Value::Null, t)),
            ("release_kind".into(), opt(&r.release_kind)),
            ("release_reason".into(), opt(&r.release_reason)),
        ]
        .into_iter()
        // Components joined the row at migration 13: a row without them hashes as before.
        .chain((!r.components.is_empty()).then(|| ("components".into(), s(&r.components))))
        .collect(),
    )
    .expect("distinct names");
    enc::sha256_hex(&v.to_canonical())
}

pub(super) fn get_row(tx: &dyn Sql, id: &str) -> Result<Option<Row>> {
    tx.opt(
        &format!("SELECT {ROW_COLUMNS} FROM activations WHERE activation_id = ?1"),
        args![id],
        read_row,
    )
}

/// Appends an event for an activation row as it now stands.
pub(super) fn audit_seat(
    tx: &dyn Sql,
    at: Timestamp,
    event: &str,
    id: &str,
    detail: &str,
) -> Result<()> {
    let r = get_row(tx, id)?.with_context(|| format!("activation {id} vanished"))?;
    audit_with(
        tx,
        at,
        event,
        &format!("activation:{id}"),
        detail,
        Some(&row_hash(&r)),
    )
}

/// Licenses parsed from their stored documents, per thread (the service's writer is one),
/// by license id: a renewal re-reads its license's terms, and parsing the document was a
/// quarter of its work. A stored document never changes, and a hit must match it byte for
/// byte all the same, so the cache can save a parse and never change an answer.
struct ParsedLicenses {
    by_id: HashMap<String, (Vec<u8>, License, Times)>,
}

/// The most licenses [`ParsedLicenses`] holds (it starts over when full).
const PARSED_LICENSES: usize = 4096;

thread_local! {
    static PARSED: std::cell::RefCell<ParsedLicenses> = std::cell::RefCell::new(ParsedLicenses {
        by_id: HashMap::new(),
    });
}

/// The license's terms and standing at `now`, from its signed document.
pub(super) fn license_terms(
    license_id: &str,
    doc: &[u8],
    now: Timestamp,
) -> Result<(License, Standing)> {
    let hit = PARSED.with(|p| {
        p.borrow()
            .by_id
            .get(license_id)
            .filter(|(d, _, _)| d.as_slice() == doc)
            .map(|(_, l, t)| (l.clone(), *t))
    });
    let (l, times) = match hit {
        Some(x) => x,
        None => {
            let (l, times, _) = License::parse(doc)
                .map_err(anyhow::Error::new)
                .context("stored license")?;
            PARSED.with(|p| {
                let by_id = &mut p.borrow_mut().by_id;
                if by_id.len() >= PARSED_LICENSES {
                    by_id.clear();
                }
                by_id.insert(license_id.to_string(), (doc.to_vec(), l.clone(), times));
            });
            (l, times)
        }
    };
    let st = Standing::at(times, l.grace_days, now, 0);
    Ok((l, st))
}

/// The newest license in force at `now` along the renewals of `rec` (`rec` itself while its
/// renewal has not begun: a renewal made early starts at the old expiry). A revoked renewal
/// Frees a live seat: marks it released and counts it out of its lineage's live seats. A seat
/// released already is left as it is (false).
pub(super) fn free_seat(
    tx: &dyn Sql,
    id: &str,
    kind: &str,
    why: &str,
    now: Timestamp,
) -> Result<bool> {
    let n = tx.exec(
        "UPDATE activations SET released_at = ?1, release_kind = ?2, release_reason = ?3 WHERE activation_id = ?4 AND released_at IS NULL",
        args![now.0, kind, why, id],
    )?;
    if n == 1 {
        tx.exec(
            "UPDATE activation_lineages SET live_seats = live_seats - 1 WHERE lineage_id = (SELECT lineage_id FROM activations WHERE activation_id = ?1)",
            args![id],
        )?;
    }
    Ok(n == 1)
}

/// The ids of the live seats of `lineage` (for messages).
pub(super) fn live_ids(tx: &dyn Sql, lineage: &str, max: usize) -> Result<Vec<String>> {
    tx.all(
        "SELECT activation_id FROM activations WHERE lineage_id = ?1 AND released_at IS NULL ORDER BY created_at, activation_id LIMIT ?2",
        args![lineage, max as i64],
        |r| r.text(0),
    )
}

pub(super) fn random_id() -> String {
    let mut b = [0u8; 8];
    OsRng.fill_bytes(&mut b);
    format!("act-{}", enc::hex(&b))
}

/// An activation row as `activation list` and the admin API show it: the row, and the seat it
/// re-bound when it took a fingerprint whose earlier seat had another instance key (derived
/// from the rows, never stored: the registry cannot disagree with itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The row.
    pub row: Row,
    /// The earlier seat of the same lineage and fingerprint under another key, if any.
    pub rebound_from: Option<String>,
}

const REBOUND_FROM: &str = "(SELECT p.activation_id FROM activations p WHERE p.lineage_id = a.lineage_id AND p.fingerprint = a.fingerprint AND p.instance_key <> a.instance_key AND p.released_at IS NOT NULL AND p.created_at <= a.created_at ORDER BY p.created_at DESC, p.activation_id DESC LIMIT 1)";

fn read_listed(r: &dyn SqlRow) -> Result<Listed> {
    Ok(Listed {
        row: read_row(r)?,
        rebound_from: r.opt_text(ROW_COLUMNS.split(", ").count())?,
    })
}

/// Activation rows, of one license's lineage or all, ordered by lineage and creation.
pub fn list(reg: &Registry, license_id: Option<&str>) -> Result<Vec<Listed>> {
    let db = reg.sql();
    let cols = ROW_COLUMNS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    match license_id {
        Some(id) => {
            if get_in(db, id)?.is_none() {
                anyhow::bail!("no license {id} in the registry");
            }
            db.all(
                &format!("SELECT {cols}, {REBOUND_FROM} FROM activations a WHERE a.lineage_id = (SELECT lineage_id FROM licenses WHERE license_id = ?1) ORDER BY a.created_at, a.activation_id"),
                args![id],
                read_listed,
            )
        }
        None => db.all(
            &format!("SELECT {cols}, {REBOUND_FROM} FROM activations a ORDER BY a.lineage_id, a.created_at, a.activation_id"),
            &[],
            read_listed,
        ),
    }
}

/// What the next revocation list must carry for activations: every lease whose seat was freed
/// before the lease ended (a receipt, a vendor release, a reset: activation id, lineage,
/// reason, time), and each reset lineage's minimum epoch. A seat freed because its lease ended
/// needs no entry: the lease verifies nowhere after its end.
pub type ListEntries = (Vec<(String, String, String, Timestamp)>, Vec<(String, u64)>);

/// The activation entries of the next revocation list at `now`.
pub fn revocation_entries(reg: &Registry, now: Timestamp) -> Result<ListEntries> {
    let db = reg.sql();
    let revoked = db.all(
        "SELECT activation_id, lineage_id, release_kind, released_at FROM activations WHERE released_at IS NOT NULL AND released_at < lease_not_after AND lease_not_after > ?1 ORDER BY activation_id",
        args![now.0],
        |r| {
            let kind = r.text(2)?;
            let why = match kind.as_str() {
                "receipt" => "deactivated by its machine",
                "force" => "released by the vendor",
                "reset" => "the license's seats were reset",
                _ => "seat freed",
            };
            Ok((r.text(0)?, r.text(1)?, why.to_string(), Timestamp(r.int(3)?)))
        },
    )?;
    let epochs = db.all(
        "SELECT lineage_id, epoch FROM activation_lineages WHERE epoch > 1 ORDER BY lineage_id",
        &[],
        |r| Ok((r.text(0)?, r.int(1)? as u64)),
    )?;
    Ok((revoked, epochs))
}

impl Registry {
    /// Runs one activation operation in a write transaction: committed when it answers (done
    /// or refused: a refusal may leave an audit event, e.g. a spent token), rolled back when
    /// it fails.
    pub fn immediate<T>(&mut self, op: impl FnOnce(&dyn Sql) -> Outcome<T>) -> Outcome<T> {
        self.write(op)
    }

    /// Runs several operations in one write transaction, each in a savepoint of its own
    /// (group commit: one durable write for many answers). An operation that fails is rolled
    /// back to its savepoint and fails alone; the others commit together. Nothing is answered
    /// before the commit: if it fails, every operation fails.
    pub fn group<T>(&mut self, ops: Vec<GroupOp<'_, T>>) -> Result<Vec<Outcome<T>>> {
        self.write(|tx| {
            let mut out = Vec::with_capacity(ops.len());
            let n = ops.len();
            if n > 0 {
                tx.batch("SAVEPOINT op")?;
            }
            for (i, op) in ops.into_iter().enumerate() {
                let r = op(tx);
                if r.is_err() {
                    tx.batch("ROLLBACK TO SAVEPOINT op")?;
                    crate::registry::forget_audit_tail();
                }
                // One round trip between two operations: this one's release, the next's
                // savepoint.
                tx.batch(if i + 1 < n {
                    "RELEASE SAVEPOINT op; SAVEPOINT op"
                } else {
                    "RELEASE SAVEPOINT op"
                })?;
                out.push(r);
            }
            Ok(out)
        })
    }

    /// Checks every activation row against the row hash of its latest audit event.
    pub(crate) fn verify_activation_rows(&self) -> Result<()> {
        let mut want: HashMap<String, String> = HashMap::new();
        self.sql().each(
            "SELECT subject, row_hash FROM audit WHERE row_hash IS NOT NULL AND subject LIKE 'activation:%' ORDER BY seq",
            &[],
            &mut |r| {
                let subject = r.text(0)?;
                let id = subject.trim_start_matches("activation:").to_string();
                want.insert(id, r.text(1)?);
                Ok(())
            },
        )?;
        let mut seen = 0usize;
        self.sql().each(
            &format!("SELECT {ROW_COLUMNS} FROM activations"),
            &[],
            &mut |r| {
                let row = read_row(r)?;
                seen += 1;
                match want.get(&row.activation_id) {
                    None => anyhow::bail!(
                        "registry altered: activation {} has no audit event for its current row",
                        row.activation_id
                    ),
                    Some(h) if *h != row_hash(&row) => anyhow::bail!(
                        "registry altered: activation {}'s row differs from what its last audit event recorded (edited outside factory)",
                        row.activation_id
                    ),
                    Some(_) => Ok(()),
                }
            },
        )?;
        if seen != want.len() {
            anyhow::bail!(
                "registry altered: an activation in the audit log is missing from the registry"
            );
        }
        // Each lineage's count of live seats (what the seat decision reads) is its seats'.
        let mut wrong = None;
        self.sql().each(
            "SELECT l.lineage_id, l.live_seats, (SELECT count(*) FROM activations a WHERE a.lineage_id = l.lineage_id AND a.released_at IS NULL) FROM activation_lineages l ORDER BY l.lineage_id",
            &[],
            &mut |r| {
                let (lineage, kept, live) = (r.text(0)?, r.int(1)?, r.int(2)?);
                if kept != live && wrong.is_none() {
                    wrong = Some(format!(
                        "registry altered: lineage {lineage} counts {kept} live seat(s), {live} are live"
                    ));
                }
                Ok(())
            },
        )?;
        if let Some(w) = wrong {
            anyhow::bail!(w);
        }
        let orphans = self.sql().int(
            "SELECT count(*) FROM activations a WHERE a.released_at IS NULL AND NOT EXISTS (SELECT 1 FROM activation_lineages l WHERE l.lineage_id = a.lineage_id)",
            &[],
        )?;
        if orphans != 0 {
            anyhow::bail!("registry altered: {orphans} live seat(s) belong to no lineage record");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::issue::{build_batch, Request};

    fn document(limit: u64) -> Vec<u8> {
        let cat = Catalog::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json"),
        )
        .unwrap();
        let req = Request {
            tier: "professional".into(),
            customer: "Acme".into(),
            product: "gateway".into(),
            expires: Some("2027-11-22".into()),
            device_limit: Some(limit),
            ..Request::default()
        };
        let now = Timestamp::parse("2026-11-22T00:00:00Z").unwrap();
        build_batch(&cat, &[req], now).unwrap()[0].to_canonical()
    }

    /// The parsed-license cache answers only for the very bytes it parsed: another document
    /// under the same id (which the registry never stores, but a test can) is parsed afresh.
    #[test]
    fn the_license_cache_never_answers_for_other_bytes() {
        let now = Timestamp::parse("2026-12-01T00:00:00Z").unwrap();
        let (a, b) = (document(3), document(7));
        let id = "lic-cache-test";
        assert_eq!(license_terms(id, &a, now).unwrap().0.device_limit(), 3);
        assert_eq!(license_terms(id, &a, now).unwrap().0.device_limit(), 3);
        assert_eq!(license_terms(id, &b, now).unwrap().0.device_limit(), 7);
        assert_eq!(license_terms(id, &a, now).unwrap().0.device_limit(), 3);
        assert!(license_terms(id, b"{}", now).is_err());
    }
}
