//! Batches: many licenses from one file, built in chunks, each line recorded with its request
//! key in the license's own transaction, so an interrupted batch run again issues only what
//! was not recorded.

use crate::catalog::Catalog;
use crate::issue::*;
use crate::registry::{Record, Registry};
use anyhow::{bail, Context, Result};
use canon::Timestamp;
use runtime::license::License;
use signing::SecretKey;
use std::path::{Path, PathBuf};

/// Licenses committed to the registry per transaction in a batch.
pub const BATCH_CHUNK: usize = 500;

/// Validates a whole batch before anything is opened or recorded (a bad line fails the whole
/// batch): request ids, and every request built against the catalog. The licenses are what
/// [`issue_batch`] signs for the requests not recorded yet.
pub fn build_batch(
    catalog: &Catalog,
    requests: &[Request],
    now: Timestamp,
) -> Result<Vec<License>> {
    let mut licenses = Vec::with_capacity(requests.len());
    let mut seen = std::collections::HashSet::new();
    for (i, r) in requests.iter().enumerate() {
        if let Some(id) = &r.request_id {
            check_request_id(id).with_context(|| format!("request {}", i + 1))?;
            if !seen.insert(id.as_str()) {
                bail!(
                    "request {}: request_id {id} appears twice in the batch",
                    i + 1
                );
            }
        }
        licenses.push(build(catalog, r, now).with_context(|| format!("request {}", i + 1))?);
    }
    Ok(licenses)
}

/// What a batch did: every license of the batch in its order, and what was new.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Every line's license id, in batch order.
    pub ids: Vec<String>,
    /// The licenses issued by this run.
    pub issued: Vec<Signed>,
    /// Lines whose request was already recorded (by an earlier, interrupted run).
    pub already: usize,
    /// Of those, how many had their files written again because they were missing.
    pub restored: usize,
}

/// Issues, records and writes a batch: one directory per license under `out`
/// (`out/<license_id>/`). Commits to the registry in chunks of [`BATCH_CHUNK`] licenses before
/// writing that chunk's files. A request whose `request_id` is already recorded is not issued
/// again: its files are written when missing, so an interrupted batch run again finishes the
/// rest and issues nothing twice.
pub fn issue_batch(
    reg: &mut Registry,
    key: &SecretKey,
    requests: &[Request],
    licenses: Vec<License>,
    out: &Path,
    now: Timestamp,
    mut progress: impl FnMut(usize),
) -> Result<BatchOutcome> {
    if licenses.len() != requests.len() {
        bail!(
            "a batch needs one built license per request ({} for {})",
            licenses.len(),
            requests.len()
        );
    }
    let keys: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.request_id.as_deref())
        .collect();
    let recorded = reg.recorded_requests(&keys)?;
    let mut outcome = BatchOutcome::default();
    // Lines already recorded: make sure their files are there.
    for r in requests {
        if let Some(id) = r.request_id.as_ref().and_then(|k| recorded.get(k)) {
            let rec = reg.get(id)?.with_context(|| {
                format!(
                    "request {}: license {id} is missing from the registry",
                    r.request_id.as_deref().unwrap_or("")
                )
            })?;
            if restore_files(&rec, &out.join(id), false)? {
                outcome.restored += 1;
            }
            outcome.already += 1;
            progress(1);
        }
    }
    let fresh: Vec<(License, Option<String>)> = licenses
        .into_iter()
        .zip(requests)
        .filter(|(_, r)| {
            !r.request_id
                .as_ref()
                .is_some_and(|k| recorded.contains_key(k))
        })
        .map(|(l, r)| (l, r.request_id.clone()))
        .collect();
    for part in fresh.chunks(BATCH_CHUNK) {
        let signed: Vec<Signed> = part
            .iter()
            .cloned()
            .map(|(l, k)| {
                sign(l, key).map(|mut s| {
                    s.request_id = k;
                    s
                })
            })
            .collect::<Result<_>>()?;
        let records: Vec<Record> = signed.iter().map(|s| s.record.clone()).collect();
        let pairs: Vec<(String, String)> = signed
            .iter()
            .filter_map(|s| {
                s.request_id
                    .clone()
                    .map(|k| (k, s.license.license_id.clone()))
            })
            .collect();
        let files: Vec<(PathBuf, &Signed)> = signed
            .iter()
            .map(|s| (out.join(&s.license.license_id), s))
            .collect();
        record_then_write(reg, &records, &pairs, "issued", now, &files, false)?;
        progress(signed.len());
        outcome.issued.extend(signed);
    }
    // Every line's id, in batch order.
    let mut new_ids = outcome.issued.iter().map(|s| s.license.license_id.clone());
    for r in requests {
        match r.request_id.as_ref().and_then(|k| recorded.get(k)) {
            Some(id) => outcome.ids.push(id.clone()),
            None => outcome.ids.extend(new_ids.next()),
        }
    }
    Ok(outcome)
}
