//! Freeing seats: a machine's signed receipt, a vendor's forced release, a reset of every seat
//! of a lineage. Each frees through [`super::rows::free_seat`] and leaves its audit event.

use super::rows::{audit_seat, free_seat, get_row, license_terms, Row};
use super::{refuse, Code, Outcome, Refusal, RELEASE_WINDOW_DAYS, RESET_INTERVAL_DAYS};
use crate::args;
use crate::db::Sql;
use crate::registry::{audit_with, get_in, Registry};
use anyhow::Context;
use canon::Timestamp;
use runtime::activation::{verify_instance_signed, Deactivation};

/// What a release did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The activation.
    pub row: Row,
    /// `false` when the same receipt had released it already (nothing done twice).
    pub changed: bool,
}

/// Verifies a deactivation receipt (signature by the instance key it carries).
pub fn check_receipt(file: &[u8]) -> Result<Deactivation, Refusal> {
    verify_instance_signed::<Deactivation>(file)
        .map(|(d, _, _)| d)
        .map_err(|e| {
            Refusal::new(
                Code::ReceiptInvalid,
                format!("the deactivation receipt does not verify: {e}"),
            )
        })
}

/// Frees a seat on the machine's signed receipt: the receipt must come from the key and
/// fingerprint the seat was given to.
pub fn release_with_receipt(
    reg: &mut Registry,
    receipt: &Deactivation,
    now: Timestamp,
) -> Outcome<Released> {
    reg.immediate(|tx| release_with_receipt_in(tx, receipt, now))
}

/// [`release_with_receipt`] inside the caller's transaction.
pub fn release_with_receipt_in(
    tx: &dyn Sql,
    receipt: &Deactivation,
    now: Timestamp,
) -> Outcome<Released> {
    let Some(row) = get_row(tx, &receipt.activation_id)? else {
        return refuse(
            Code::ActivationNotFound,
            format!("no activation {} in the registry", receipt.activation_id),
        );
    };
    if row.instance_key != receipt.instance_public_key
        || row.fingerprint != receipt.fingerprint
        || row.lineage_id != receipt.lineage_id
    {
        return refuse(
            Code::ReceiptMismatch,
            format!(
                "the receipt is not from the machine holding activation {} (its key, fingerprint or license differ)",
                row.activation_id
            ),
        );
    }
    if row.released_at.is_some() {
        if row.release_kind.as_deref() == Some("receipt") {
            return Ok(Ok(Released {
                row,
                changed: false,
            }));
        }
        return refuse(
            Code::AlreadyReleased,
            format!(
                "activation {} was released already ({}, {})",
                row.activation_id,
                row.release_kind.as_deref().unwrap_or("?"),
                row.released_at.map(|t| t.to_string()).unwrap_or_default()
            ),
        );
    }
    let why = format!(
        "deactivated on the machine at {} (last lease #{})",
        receipt.deactivated_at, receipt.last_sequence
    );
    free_seat(tx, &row.activation_id, "receipt", &why, now)?;
    audit_seat(tx, now, "released", &row.activation_id, &why)?;
    let row = get_row(tx, &row.activation_id)?.context("released row")?;
    Ok(Ok(Released { row, changed: true }))
}

/// Frees the seat of a dead or lost machine without its receipt. The lease is revoked in the
/// next revocation list. At most the license's device limit per 90 days.
pub fn release_force(
    reg: &mut Registry,
    id: &str,
    reason: &str,
    now: Timestamp,
) -> Outcome<Released> {
    reg.immediate(|tx| release_force_in(tx, id, reason, now))
}

/// [`release_force`] inside the caller's transaction.
pub fn release_force_in(tx: &dyn Sql, id: &str, reason: &str, now: Timestamp) -> Outcome<Released> {
    let Some(row) = get_row(tx, id)? else {
        return refuse(
            Code::ActivationNotFound,
            format!("no activation {id} in the registry"),
        );
    };
    if row.released_at.is_some() {
        return refuse(
            Code::AlreadyReleased,
            format!(
                "activation {id} was released already ({})",
                row.release_kind.as_deref().unwrap_or("?")
            ),
        );
    }
    let rec = get_in(tx, &row.license_id)?.context("the activation's license")?;
    let (license, _) = license_terms(&rec.license_id, &rec.document, now)?;
    let used = tx.int(
        "SELECT count(*) FROM activations WHERE lineage_id = ?1 AND release_kind = 'force' AND released_at > ?2",
        args![&row.lineage_id, now.plus_days(-RELEASE_WINDOW_DAYS).0],
    )?;
    if used as u64 >= license.device_limit() {
        return refuse(
            Code::ReleaseBudgetExhausted,
            format!(
                "{used} seats of license {} were released without a receipt in the last {RELEASE_WINDOW_DAYS} days (the budget is its device limit, {}): ask the customer for deactivation receipts, or reset the license's seats",
                row.license_id,
                license.device_limit()
            ),
        );
    }
    free_seat(tx, id, "force", reason, now)?;
    audit_seat(tx, now, "released_force", id, reason)?;
    let row = get_row(tx, id)?.context("released row")?;
    Ok(Ok(Released { row, changed: true }))
}

/// What a reset did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reset {
    /// The lineage reset.
    pub lineage_id: String,
    /// Its new epoch: leases of earlier epochs stop verifying once the customer has the next
    /// revocation list.
    pub epoch: u64,
    /// Seats freed.
    pub released: u64,
}

/// Frees every seat of a license's lineage and raises its epoch. Once per 30 days.
pub fn reset(reg: &mut Registry, license_id: &str, reason: &str, now: Timestamp) -> Outcome<Reset> {
    reg.immediate(|tx| reset_in(tx, license_id, reason, now))
}

/// [`reset`] inside the caller's transaction.
pub fn reset_in(tx: &dyn Sql, license_id: &str, reason: &str, now: Timestamp) -> Outcome<Reset> {
    let Some(rec) = get_in(tx, license_id)? else {
        return refuse(
            Code::LicenseNotFound,
            format!("no license {license_id} in the registry"),
        );
    };
    let lineage = rec.lineage_id.clone();
    tx.exec(
        "INSERT INTO activation_lineages (lineage_id, epoch, lease_sequence) VALUES (?1, 1, 0) ON CONFLICT (lineage_id) DO NOTHING",
        args![&lineage],
    )?;
    let (epoch, last) = tx.one(
        "SELECT epoch, last_reset_at FROM activation_lineages WHERE lineage_id = ?1",
        args![&lineage],
        |r| Ok((r.int(0)?, r.opt_int(1)?)),
    )?;
    if let Some(last) = last {
        let next = Timestamp(last).plus_days(RESET_INTERVAL_DAYS);
        if now < next {
            return refuse(
                Code::ResetTooSoon,
                format!(
                    "the seats of license {license_id} were reset at {}; the next reset is allowed from {next}. Release single seats with `factory activation release` meanwhile",
                    Timestamp(last)
                ),
            );
        }
    }
    let ids = tx.all(
        "SELECT activation_id FROM activations WHERE lineage_id = ?1 AND released_at IS NULL ORDER BY activation_id",
        args![&lineage],
        |r| r.text(0),
    )?;
    for id in &ids {
        free_seat(tx, id, "reset", reason, now)?;
        audit_seat(tx, now, "released_reset", id, reason)?;
    }
    let epoch = epoch as u64 + 1;
    tx.exec(
        "UPDATE activation_lineages SET epoch = ?1, last_reset_at = ?2 WHERE lineage_id = ?3",
        args![epoch, now.0, &lineage],
    )?;
    audit_with(
        tx,
        now,
        "seats_reset",
        &format!("lineage:{lineage}"),
        &format!(
            "license={license_id} epoch={epoch} released={} reason={reason}",
            ids.len()
        ),
        None,
    )?;
    Ok(Ok(Reset {
        lineage_id: lineage,
        epoch,
        released: ids.len() as u64,
    }))
}
