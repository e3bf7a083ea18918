//! Building, signing and recording licenses: issuance (also in batches), renewal, migration
//! of legacy licenses, and writing license files.
//!
//! Order of effects, for crash safety: sign in memory → commit the registry rows (with the
//! signed bytes) → write the files atomically. A crash can leave a committed license whose
//! files are missing (re-create them with `factory export`), never a license file without its
//! record, never a half-written file.

use crate::catalog::Catalog;
use crate::registry::{Record, Registry};
use anyhow::{bail, Context, Result};
use canon::{Kind, Timestamp};
use rand_core::{OsRng, RngCore};
use runtime::license::{valid_id, Customer, License, Tier, KEY_ALPHABET};
use runtime::Artifact;
use signing::SecretKey;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::batch::{build_batch, issue_batch, parse_batch, BatchOutcome, BATCH_CHUNK};
pub use crate::export::restore_files;

/// One issuance request (a command line, or one line of a batch file).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Tier name.
    pub tier: String,
    /// Customer display name.
    pub customer: String,
    /// Customer id (default: derived from the name).
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Product id.
    pub product: String,
    /// Expiry date or time (default: the tier's validity from `not_before`).
    #[serde(default)]
    pub expires: Option<String>,
    /// Start of validity (default: now).
    #[serde(default)]
    pub not_before: Option<String>,
    /// Extra features on top of the tier template.
    #[serde(default)]
    pub features: Vec<String>,
    /// Limit overrides.
    #[serde(default)]
    pub limits: BTreeMap<String, u64>,
    /// Grace days override.
    #[serde(default)]
    pub grace_days: Option<u64>,
    /// Device limit override (seats, 1 to 10,000): the license's `activations` limit.
    #[serde(default)]
    pub device_limit: Option<u64>,
    /// Workspace name.
    #[serde(default)]
    pub workspace: Option<String>,
    /// Data residency.
    #[serde(default)]
    pub data_residency: Option<String>,
    /// Idempotency key: a request whose key is already recorded is not issued again (a batch
    /// line without one is keyed by its content: [`Request::content_key`]). A key recorded for
    /// other parameters is refused.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Issue even though the customer already holds a live license of this product and tier.
    #[serde(default)]
    pub additional: bool,
}

impl Request {
    /// The digest of what the request asks for: its canonical JSON without `request_id` and
    /// `additional`, features sorted. Recorded with the request's key; the same key with
    /// other parameters is refused.
    pub fn params(&self) -> String {
        let mut r = self.clone();
        r.request_id = None;
        r.additional = false;
        r.features.sort();
        r.features.dedup();
        let json = serde_json::to_vec(&r).expect("a request serializes");
        let canonical = canon::canonicalize(&json).expect("serde_json writes valid JSON");
        canon::enc::sha256_hex(&canonical)
    }

    /// The key of a batch line without its own `request_id`: its content, so that a batch
    /// edited and run again issues only the lines it did not issue before.
    pub fn content_key(&self) -> String {
        format!("line-{}", &self.params()[..32])
    }
}

/// Checks a request id: 1 to 128 printable ASCII characters.
pub fn check_request_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        bail!("request_id {id:?} must be 1 to 128 printable ASCII characters without spaces");
    }
    Ok(())
}

/// A signed license ready to record and write.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The document.
    pub license: License,
    /// Pretty-printed `license.json`.
    pub json: Vec<u8>,
    /// `license.sig`.
    pub sig: Vec<u8>,
    /// The registry row.
    pub record: Record,
    /// The request's idempotency key and parameters' digest, recorded with it.
    pub request: Option<(String, String)>,
}

impl Signed {
    /// The request key to record with this license, if its request had one.
    pub fn requested(&self) -> Option<crate::registry::Requested> {
        self.request
            .as_ref()
            .map(|(key, params)| crate::registry::Requested {
                key: key.clone(),
                license_id: self.license.license_id.clone(),
                params: params.clone(),
            })
    }
}

pub(crate) fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    canon::enc::hex(&b)
}

/// A new human license key `XXXX-XXXX-XXXX-XXXX` (uniform over the 31-symbol alphabet).
pub fn new_license_key() -> String {
    let mut out = String::with_capacity(19);
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 16 {
        OsRng.fill_bytes(&mut buf);
        for &b in &buf {
            // Rejection sampling: 248 = 8 × 31 keeps the distribution uniform.
            if b < 248 && n < 16 {
                if n > 0 && n % 4 == 0 {
                    out.push('-');
                }
                out.push(char::from(KEY_ALPHABET[usize::from(b % 31)]));
                n += 1;
            }
        }
    }
    out
}

/// A customer id derived from a display name: lowercase ASCII letters and digits joined by `-`.
pub fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() {
        format!("cust-{}", random_hex(4))
    } else {
        s.chars().take(100).collect()
    }
}

/// Builds the license for a request from the catalog, validating every override.
pub fn build(catalog: &Catalog, req: &Request, now: Timestamp) -> Result<License> {
    let tier = Tier::parse(&req.tier).with_context(|| {
        format!(
            "unknown tier {:?}; use evaluation, professional or sovereign",
            req.tier
        )
    })?;
    let product = catalog.product(&req.product)?;
    let t = catalog.resolve(&req.product, tier)?;
    let (features, limits) = product.apply(
        &req.product,
        t.features.clone(),
        t.limits.clone(),
        crate::catalog::TermChanges {
            add: &req.features,
            remove: &[],
            limits: &req.limits,
            device_limit: req.device_limit,
        },
    )?;
    let not_before = match &req.not_before {
        Some(s) => signing::clock::parse_time("--not-before", s)?,
        None => now,
    };
    let expires_at = match &req.expires {
        Some(s) => signing::clock::parse_time("--expires", s)?,
        None => not_before.plus_days(t.validity_days as i64),
    };
    if expires_at <= not_before {
        bail!("--expires {expires_at} must be after the start of validity {not_before}");
    }
    if expires_at <= now {
        bail!("--expires {expires_at} is in the past");
    }
    let customer_id = req
        .customer_id
        .clone()
        .unwrap_or_else(|| slug(&req.customer));
    if !valid_id(&customer_id) {
        bail!("customer id {customer_id:?} must be 1-128 characters of A-Z a-z 0-9 . _ : -");
    }
    let license = License {
        schema_version: 3,
        license_id: format!("lic-{}", random_hex(8)),
        license_key: new_license_key(),
        issuer: catalog.issuer.clone(),
        customer: Customer {
            id: customer_id,
            name: req.customer.clone(),
        },
        workspace: req.workspace.clone().unwrap_or_else(|| "default".into()),
        product: req.product.clone(),
        tier,
        editions: t.editions.clone(),
        issued_at: now.to_string(),
        not_before: not_before.to_string(),
        expires_at: expires_at.to_string(),
        grace_days: req.grace_days.unwrap_or(t.grace_days),
        features,
        limits,
        production_use: t.production_use,
        data_residency: req
            .data_residency
            .clone()
            .unwrap_or_else(|| "unrestricted".into()),
        renewal_of: None,
        lineage_id: format!("lin-{}", random_hex(8)),
        sequence: 1,
    };
    // What the request asked for must make a valid license (names of 1 to 256 characters,
    // counted as characters, not bytes, ...). The error names the license field; it is a
    // usage error (exit 2), nothing was recorded.
    if let Err(e) = license.validate() {
        bail!("this request cannot make a valid license: {e}");
    }
    Ok(license)
}

/// Signs a license and prepares its files and registry row.
pub fn sign(license: License, key: &SecretKey) -> Result<Signed> {
    let times = license.validate()?;
    let canonical = license.to_canonical();
    let env = key.sign_document(Kind::License, &canonical)?;
    let json = canon::parse(&canonical)
        .context("canonical license")?
        .to_pretty();
    let sig = env.to_bytes();
    let record = Record {
        license_id: license.license_id.clone(),
        lineage_id: license.lineage_id.clone(),
        sequence: license.sequence,
        renewal_of: license.renewal_of.clone(),
        customer_id: license.customer.id.clone(),
        customer_name: license.customer.name.clone(),
        product: license.product.clone(),
        tier: license.tier.as_str().into(),
        issued_at: times.issued_at,
        not_before: times.not_before,
        expires_at: times.expires_at,
        license_key: license.license_key.clone(),
        key_id: key.key_id().to_string(),
        document: canonical,
        signature: sig.clone(),
        renewed_by: None,
        revoked_at: None,
        revoke_reason: None,
        revoke_code: None,
        suspended_at: None,
        grace_days: license.grace_days,
        renewal_begins: None,
    };
    Ok(Signed {
        license,
        json,
        sig,
        record,
        request: None,
    })
}

/// Records `rows` in the registry (one transaction, one audit event each), and only then
/// writes each signed license's files: the registry is the durable copy, so a crash between
/// the two loses no license (`factory export` re-creates the files), and nothing is written
/// that was not recorded. Refuses before recording when a target already holds a license.
/// This is the one place that order lives; `issue`, `renew`, `migrate` and batches use it.
pub fn record_then_write(
    reg: &mut Registry,
    rows: &[Record],
    requests: &[crate::registry::Requested],
    event: &str,
    now: Timestamp,
    files: &[(PathBuf, &Signed)],
    durable: bool,
) -> Result<Vec<[PathBuf; 2]>> {
    for (dir, _) in files {
        let target = dir.join("license.json");
        if target.exists() {
            bail!(
                "{} already exists; refusing to overwrite (choose another --out)",
                target.display()
            );
        }
    }
    reg.insert_requested(rows, requests, event, now)?;
    files
        .iter()
        .map(|(dir, s)| {
            write_files_with(dir, &s.json, &s.sig, durable).with_context(|| {
                format!(
                    "license {id} is recorded, but its files could not be written to {}; re-create them with `factory export {id} --out DIR` (or `factory export --all --out DIR`)",
                    dir.display(),
                    id = s.license.license_id
                )
            })
        })
        .collect()
}

/// An exclusive claim on a license directory while one process checks it is free, records
/// the license and writes its files: two processes given the same `--out` at once cannot both
/// record a license (the second is refused before recording anything). The claim is an
/// advisory lock on `DIR/.license.lock`, released (and the file removed) when dropped, and
/// released by the system if the process dies.
pub struct Claim {
    path: PathBuf,
    /// The directory, when this claim created it (removed again if nothing was written).
    created: Option<PathBuf>,
    _file: std::fs::File,
}

impl Claim {
    /// Claims `dir` (created when missing).
    pub fn take(dir: &Path) -> Result<Claim> {
        let created = (!dir.exists()).then(|| dir.to_path_buf());
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
        let path = dir.join(".license.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("{}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Claim {
                path,
                created,
                _file: file,
            }),
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "{}: another factory process is writing a license there right now; nothing was recorded (choose another --out)",
                dir.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        // A refused request leaves no empty directory behind (fails harmlessly when the
        // license files are in it).
        if let Some(dir) = &self.created {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Records one signed license (after `before`, e.g. the legacy row of a migration) and writes
/// its files into `out`: [`record_then_write`] for a single license, durably.
pub fn record_one(
    reg: &mut Registry,
    before: Option<Record>,
    signed: &Signed,
    event: &str,
    out: &Path,
    now: Timestamp,
) -> Result<[PathBuf; 2]> {
    let rows: Vec<Record> = before
        .into_iter()
        .chain(std::iter::once(signed.record.clone()))
        .collect();
    let requests: Vec<_> = signed.requested().into_iter().collect();
    let _claim = Claim::take(out)?;
    let mut paths = record_then_write(
        reg,
        &rows,
        &requests,
        event,
        now,
        &[(out.to_path_buf(), signed)],
        true,
    )?;
    Ok(paths.remove(0))
}

/// The `license.json` (pretty) and `license.sig` bytes of a recorded license, exactly as
/// `issue` wrote them.
pub fn files_of(r: &Record) -> Result<(Vec<u8>, Vec<u8>)> {
    let json = canon::parse(&r.document)
        .with_context(|| format!("stored document of {}", r.license_id))?
        .to_pretty();
    Ok((json, r.signature.clone()))
}

/// Writes `license.json` and `license.sig` into `dir` atomically and durably (never replacing
/// a file).
pub fn write_files(dir: &Path, json: &[u8], sig: &[u8]) -> Result<[PathBuf; 2]> {
    write_files_with(dir, json, sig, true)
}

/// [`write_files`], optionally without fsync (batches: the registry, committed first with
/// `synchronous=FULL`, is the durable copy; `factory export` re-creates lost files).
pub fn write_files_with(
    dir: &Path,
    json: &[u8],
    sig: &[u8],
    durable: bool,
) -> Result<[PathBuf; 2]> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let paths = [dir.join("license.json"), dir.join("license.sig")];
    if paths[0].exists() {
        bail!(
            "{} already exists; refusing to overwrite (choose another --out)",
            paths[0].display()
        );
    }
    for (p, bytes) in paths.iter().zip([json, sig]) {
        signing::fsutil::write_atomic_with(p, bytes, 0o644, false, durable)
            .with_context(|| format!("{}", p.display()))?;
    }
    Ok(paths)
}

/// Checks a stored license before anything is built from it: its signed bytes must verify
/// (under the renewing key when that signed it, otherwise under `trust`), and its registry
/// columns must say what the signed document says. An edited row or document is refused
/// instead of being re-signed as genuine.
pub fn check_stored(
    old: &Record,
    key: &SecretKey,
    trust: Option<&runtime::TrustStore>,
) -> Result<()> {
    let env = canon::Envelope::parse(&old.signature)
        .with_context(|| format!("license {}: stored signature", old.license_id))?;
    // Integrity of what we stored, not trust today: a key retired or revoked since (a
    // compromise being recovered from) still tells whether these are the bytes it signed.
    let pk = match trust.and_then(|t| t.get(env.key_id)) {
        Some(k) => k.key.clone(),
        None if env.key_id == key.key_id() => runtime::PublicKey::from_bytes(&key.public_key())?,
        None => bail!(
            "license {} was signed by key {}, not by {}: pass --trust so its stored signature can be checked before it is re-signed",
            old.license_id,
            env.key_id,
            key.key_id()
        ),
    };
    let ok = if env.kind == Kind::License
        && pk.verify(
            &canon::pae(Kind::License.payload_type(), &old.document),
            &env.sig,
        ) {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "signature does not verify under key {}",
            env.key_id
        ))
    };
    ok.with_context(|| {
        format!(
            "license {}: the stored document does not verify (registry edited outside factory?); refusing to re-sign it",
            old.license_id
        )
    })?;
    let doc: License = serde_json::from_slice(&old.document).context("stored license document")?;
    let times = doc.validate()?;
    if doc.license_id != old.license_id
        || doc.lineage_id != old.lineage_id
        || doc.sequence != old.sequence
        || doc.customer.id != old.customer_id
        || doc.product != old.product
        || doc.tier.as_str() != old.tier
        || times.expires_at != old.expires_at
        || times.not_before != old.not_before
        || doc.grace_days != old.grace_days
    {
        bail!(
            "license {}: the registry row differs from its signed document (edited outside factory?); refusing to renew it",
            old.license_id
        );
    }
    Ok(())
}

/// How a renewal's validity starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewFrom {
    /// From the old license's expiry (refused when it already expired).
    OldExpiry,
    /// From now (for a license that already expired).
    Now,
}

/// Builds the successor of `old` in its lineage.
pub fn renewal(
    old: &Record,
    expires: Timestamp,
    from: RenewFrom,
    now: Timestamp,
) -> Result<License> {
    if old.revoked_at.is_some() {
        bail!(
            "license {} is revoked; a revoked license cannot be renewed",
            old.license_id
        );
    }
    if let Some(by) = &old.renewed_by {
        bail!(
            "license {} was already renewed by {by}; renew the latest license of the lineage",
            old.license_id
        );
    }
    if old.suspended_at.is_some() {
        // A renewal would be a license the suspension does not name.
        bail!(
            "license {} is suspended; resume it first (`factory resume`), then renew it",
            old.license_id
        );
    }
    let prev: License = serde_json::from_slice(&old.document).context("stored license document")?;
    let not_before = match from {
        RenewFrom::OldExpiry if old.expires_at <= now => bail!(
            "license {} expired at {}; renew it from now with --from-now",
            old.license_id,
            old.expires_at
        ),
        RenewFrom::OldExpiry => old.expires_at,
        RenewFrom::Now => now,
    };
    if expires <= not_before {
        bail!("--expires {expires} must be after the renewal's start {not_before}");
    }
    let l = License {
        license_id: format!("lic-{}", random_hex(8)),
        license_key: new_license_key(),
        issued_at: now.to_string(),
        not_before: not_before.to_string(),
        expires_at: expires.to_string(),
        renewal_of: Some(old.license_id.clone()),
        sequence: old.sequence + 1,
        ..prev
    };
    l.validate()?;
    Ok(l)
}

/// For a verified legacy (schema 2) license: the registry row recording it and the schema-3
/// successor (same customer, product, tier, features, limits and expiry; `renewal_of` the
/// legacy id, sequence 2 of a lineage named after it).
pub fn migration(
    old: &runtime::license::VerifiedLicense,
    raw: &[u8],
    now: Timestamp,
) -> Result<(Record, License)> {
    let l = old.license();
    let t = old.times();
    if t.expires_at <= now {
        bail!(
            "legacy license {} expired at {}; issue a new license instead",
            l.license_id,
            t.expires_at
        );
    }
    let env = canon::Envelope {
        key_id: old.signer(),
        kind: Kind::License,
        sig: {
            let v = canon::parse(raw).context("legacy license")?;
            let sig = v
                .get("signature")
                .and_then(canon::Value::as_str)
                .and_then(canon::enc::unb64_exact::<64>);
            sig.context("legacy signature")?
        },
    };
    let legacy = Record {
        license_id: l.license_id.clone(),
        lineage_id: l.lineage_id.clone(),
        sequence: 1,
        renewal_of: None,
        customer_id: l.customer.id.clone(),
        customer_name: l.customer.name.clone(),
        product: l.product.clone(),
        tier: l.tier.as_str().into(),
        issued_at: t.issued_at,
        not_before: t.not_before,
        expires_at: t.expires_at,
        license_key: l.license_key.clone(),
        key_id: old.signer().to_string(),
        document: canon::canonicalize(raw).context("legacy license")?,
        signature: env.to_bytes(),
        renewed_by: None,
        revoked_at: None,
        revoke_reason: None,
        revoke_code: None,
        suspended_at: None,
        grace_days: l.grace_days,
        renewal_begins: None,
    };
    let new = License {
        license_id: format!("lic-{}", random_hex(8)),
        license_key: new_license_key(),
        issued_at: now.to_string(),
        not_before: now.to_string(),
        renewal_of: Some(l.license_id.clone()),
        sequence: 2,
        ..l.clone()
    };
    new.validate()?;
    Ok((legacy, new))
}
