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

/// Reads a batch file: one request per non-empty line (JSON, strict), each keyed by its own
/// `request_id` or else by its content ([`Request::content_key`]), so that the same lines run
/// again (after an interruption, or with lines added) issue only what was not issued. Two
/// lines with the same key are refused (identical lines need their own `request_id`s).
pub fn parse_batch(name: &str, bytes: &[u8]) -> Result<Vec<Request>> {
    let text = std::str::from_utf8(bytes).with_context(|| format!("{name}: not UTF-8"))?;
    let mut reqs = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{name} line {}", i + 1);
        let canonical = canon::canonicalize(line.as_bytes()).with_context(at)?;
        let mut r: Request = serde_json::from_slice(&canonical).with_context(at)?;
        match &r.request_id {
            Some(id) => check_request_id(id).with_context(at)?,
            None => r.request_id = Some(r.content_key()),
        }
        let key = r.request_id.clone().unwrap_or_default();
        if let Some(first) = seen.insert(key.clone(), i + 1) {
            bail!(
                "{}: the same request as line {first} (key {key}); give each line its own \"request_id\" (and \"additional\": true) to issue both",
                at()
            );
        }
        reqs.push(r);
    }
    Ok(reqs)
}

/// Validates a whole batch before anything is opened or recorded (a bad line fails the whole
/// batch): every request built against the catalog. The licenses are what [`issue_batch`]
/// signs for the requests not recorded yet.
pub fn build_batch(
    catalog: &Catalog,
    requests: &[Request],
    now: Timestamp,
) -> Result<Vec<License>> {
    requests
        .iter()
        .enumerate()
        .map(|(i, r)| build(catalog, r, now).with_context(|| format!("request {}", i + 1)))
        .collect()
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
    // Lines already recorded: the same request (else refused before anything is written),
    // and their files there.
    for (i, r) in requests.iter().enumerate() {
        if let Some((k, p)) = r
            .request_id
            .as_ref()
            .and_then(|k| recorded.get(k).map(|p| (k, p)))
        {
            crate::guard::check_reuse(k, p, &r.params(), reg)
                .with_context(|| format!("request {}", i + 1))?;
        }
    }
    let mut guard = crate::guard::Guard::new(reg, now);
    for (i, (r, l)) in requests.iter().zip(&licenses).enumerate() {
        if !r
            .request_id
            .as_ref()
            .is_some_and(|k| recorded.contains_key(k))
        {
            guard
                .admit(r, l)
                .with_context(|| format!("request {}", i + 1))?;
        }
    }
    for r in requests {
        if let Some(id) = r
            .request_id
            .as_ref()
            .and_then(|k| recorded.get(k))
            .map(|p| &p.license_id)
        {
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
    let fresh: Vec<(License, Option<(String, String)>)> = licenses
        .into_iter()
        .zip(requests)
        .filter(|(_, r)| {
            !r.request_id
                .as_ref()
                .is_some_and(|k| recorded.contains_key(k))
        })
        .map(|(l, r)| (l, r.request_id.clone().map(|k| (k, r.params()))))
        .collect();
    for part in fresh.chunks(BATCH_CHUNK) {
        let signed: Vec<Signed> = part
            .iter()
            .cloned()
            .map(|(l, k)| {
                sign(l, key).map(|mut s| {
                    s.request = k;
                    s
                })
            })
            .collect::<Result<_>>()?;
        let records: Vec<Record> = signed.iter().map(|s| s.record.clone()).collect();
        let pairs: Vec<_> = signed.iter().filter_map(Signed::requested).collect();
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
            Some(p) => outcome.ids.push(p.license_id.clone()),
            None => outcome.ids.extend(new_ids.next()),
        }
    }
    Ok(outcome)
}
