//! The license lifecycle: `factory issue`, `renew`, `revoke`, `revocations`, `verify`,
//! `migrate` and `audit verify`.

use crate::cli::*;
use anyhow::{Context, Result};
use canon::Role;
use clap::Subcommand;
use clikit::args::Judge;
use clikit::input::vendor_trust;
use clikit::report::{self, s};
use factory::issue::{self, RenewFrom, Request};
use factory::report as book;
use runtime::license::{verify_license, LegacyPolicy};
use runtime::revocation::RevocationList;
use runtime::Artifact;
use signing::clock;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct RenewArgs {
    /// The license to renew (the latest of its lineage)
    pub(crate) license_id: String,
    /// The renewal's expiry: YYYY-MM-DD (midnight UTC) or YYYY-MM-DDTHH:MM:SSZ
    #[arg(long)]
    pub(crate) expires: String,
    /// A license key (NAME.key) to sign the renewal
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// New directory for the renewal's license.json and license.sig
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Start the renewal now (for a license that already expired) instead of at the old expiry
    #[arg(long)]
    pub(crate) from_now: bool,
    #[command(flatten)]
    pub(crate) signer: Signer,
    #[command(flatten)]
    pub(crate) common: Common,
}

#[derive(clap::Args)]
pub(crate) struct RevokeArgs {
    /// The license to revoke
    pub(crate) license_id: String,
    /// Why, in your words (recorded in the registry and the audit log; never published)
    #[arg(long)]
    pub(crate) reason: String,
    /// The reason code published in the revocation list: unspecified, key_compromise,
    /// affiliation_changed, superseded, cessation_of_operation or privilege_withdrawn
    #[arg(long, default_value = "unspecified", value_parser = parse_reason)]
    pub(crate) code: runtime::revocation::Reason,
    #[command(flatten)]
    pub(crate) common: Common,
}

fn parse_reason(s: &str) -> Result<runtime::revocation::Reason, String> {
    runtime::revocation::Reason::parse(s).ok_or_else(|| {
        format!(
            "not a reason code; use one of {}",
            runtime::revocation::Reason::names()
        )
    })
}

#[derive(clap::Args)]
pub(crate) struct RevocationsArgs {
    /// A license key (NAME.key): revocation lists are signed with the license role
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// Directory for revocations.json and revocations.sig (an older list there is replaced)
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Replace whatever revocations.json is in --out (by default only an older list is)
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) signer: Signer,
    #[command(flatten)]
    pub(crate) common: Common,
}

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// license.json
    pub(crate) license: PathBuf,
    #[command(flatten)]
    pub(crate) judge: Judge,
}

#[derive(clap::Args)]
pub(crate) struct MigrateArgs {
    /// The schema-2 license.json to migrate
    pub(crate) license: PathBuf,
    /// A license key (NAME.key) to sign the schema-3 successor
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// New directory for the migrated license.json and license.sig
    #[arg(long)]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) signer: Signer,
    #[command(flatten)]
    pub(crate) common: Common,
}

#[derive(clap::Args)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    pub(crate) cmd: AuditCmd,
}

#[derive(Subcommand)]
pub(crate) enum AuditCmd {
    /// Recompute the hash chain of every audit event and check every license row against it
    Verify {
        /// A head hash printed by an earlier run: it must still be in the chain (catches a
        /// chain cut back or rewritten below it)
        #[arg(long)]
        head: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Args)]
pub(crate) struct IssueArgs {
    /// The catalog tier: evaluation, professional or sovereign (required without --batch)
    #[arg(long)]
    pub(crate) tier: Option<String>,
    /// Customer name, 1 to 256 characters (required without --batch)
    #[arg(long)]
    pub(crate) customer: Option<String>,
    /// Customer id (default: derived from the name)
    #[arg(long)]
    pub(crate) customer_id: Option<String>,
    /// Product id from the catalog (required without --batch)
    #[arg(long)]
    pub(crate) product: Option<String>,
    /// Expiry date or time (default: the tier's validity)
    #[arg(long)]
    pub(crate) expires: Option<String>,
    /// A license key (NAME.key) to sign with
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// New directory for license.json and license.sig (with --batch: one directory per
    /// license under it)
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Product catalog (default: $AIRLOCK_CATALOG, else catalog.json in the vendor home)
    #[arg(long)]
    pub(crate) catalog: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) terms: TermsArgs,
    /// Start of validity: date or time (default: now)
    #[arg(long)]
    pub(crate) not_before: Option<String>,
    /// The customer's workspace the license binds to (default: "default")
    #[arg(long)]
    pub(crate) workspace: Option<String>,
    /// Where the customer's data must stay, e.g. "eu" (recorded in the license)
    #[arg(long)]
    pub(crate) data_residency: Option<String>,
    /// JSON Lines file of requests; writes one directory per license under --out. Run again
    /// after an interruption, it issues only the lines not recorded yet
    #[arg(long, conflicts_with_all = ["tier", "customer", "product", "request_id"])]
    pub(crate) batch: Option<PathBuf>,
    /// Idempotency key: run again with the same key, the recorded license is returned (its
    /// files written again when missing), never a second one; the same key with other
    /// parameters is refused
    #[arg(long)]
    pub(crate) request_id: Option<String>,
    /// Issue even though the customer already holds a live license of this product and tier
    /// (with --batch: for every line)
    #[arg(long)]
    pub(crate) additional: bool,
    #[command(flatten)]
    pub(crate) signer: Signer,
    #[command(flatten)]
    pub(crate) common: Common,
}

pub(crate) fn renew_cmd(a: RenewArgs) -> Result<ExitCode> {
    let RenewArgs {
        license_id,
        expires,
        key,
        out,
        from_now,
        signer,
        common,
    } = a;
    let now = clock::now()?;
    let key_path = key;
    factory::keys::load_signing_key(&key_path, Role::License, None, now)?;
    let mut reg = common.existing_registry()?;
    let (key, trust) = signer.key(&mut reg, &key_path, Role::License, now)?;
    let old = reg
        .get(&license_id)?
        .with_context(|| format!("no license {license_id} in the registry"))?;
    let expires = clock::parse_time("--expires", &expires)?;
    let from = if from_now {
        RenewFrom::Now
    } else {
        RenewFrom::OldExpiry
    };
    issue::check_stored(&old, &key, trust.as_ref())?;
    let signed = issue::sign(issue::renewal(&old, expires, from, now)?, &key)?;
    let paths = issue::record_one(&mut reg, None, &signed, "renewed", &out, now)?;
    print_issued(&signed, &paths, common.json, now);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn revoke_cmd(a: RevokeArgs) -> Result<ExitCode> {
    let RevokeArgs {
        license_id,
        reason,
        code,
        common,
    } = a;
    let now = clock::now()?;
    if reason.trim().is_empty() {
        anyhow::bail!("--reason must not be empty");
    }
    let mut reg = common.existing_registry()?;
    reg.revoke(&license_id, code, &reason, now)?;
    if common.json {
        let r = reg.get(&license_id)?.context("revoked license vanished")?;
        print_json(&book::record_json(&r, now, 30));
    } else {
        println!("revoked {license_id} ({code}; published as the code only): {reason}");
        println!("publish it: factory revocations --key <license key> --out <dir>");
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn revocations_cmd(a: RevocationsArgs) -> Result<ExitCode> {
    let RevocationsArgs {
        key,
        out,
        force,
        signer,
        common,
    } = a;
    let now = clock::now()?;
    factory::keys::load_signing_key(&key, Role::License, None, now)?;
    let mut reg = common.existing_registry()?;
    let (key, _) = signer.key(&mut reg, &key, Role::License, now)?;
    let replaces = previous_list(&out, force, reg.last_revocations_sequence()?)?;
    // Publish only from a registry whose rows match the audit chain: a revocation
    // undone with plain SQL must not silently drop out of the list.
    reg.verify_audit()
        .and_then(|_| reg.check_published_still_revoked())
        .map_err(audit_failed)
        .context("registry check before publishing revocations (run `factory audit verify`)")?;
    let revoked = reg.revoked()?;
    let suspended = reg.suspended()?;
    let count = revoked.len();
    let (void_leases, epochs) = factory::activation::revocation_entries(&reg, now)?;
    let (seq, doc, sig) = reg.publish_revocations(now, &key, |seq| {
        let mut v = RevocationList::new(seq, now, revoked.iter().cloned());
        v.revoked_activations = void_leases
            .iter()
            .map(
                |(id, lineage, reason, at)| runtime::revocation::RevokedActivation {
                    activation_id: id.clone(),
                    lineage_id: lineage.clone(),
                    reason: reason.clone(),
                    revoked_at: at.to_string(),
                },
            )
            .collect();
        v.activation_epochs = epochs
            .iter()
            .map(|(lineage, min)| runtime::revocation::ActivationEpoch {
                lineage_id: lineage.clone(),
                min_epoch: *min,
            })
            .collect();
        v.suspended = suspended
            .iter()
            .map(|(id, at)| runtime::revocation::Suspension {
                license_id: id.clone(),
                suspended_at: at.to_string(),
            })
            .collect();
        let canonical = v.to_canonical();
        let env = key.sign_document(canon::Kind::Revocations, &canonical)?;
        Ok((v.to_pretty(), env.to_bytes()))
    })?;
    std::fs::create_dir_all(&out).with_context(|| format!("{}", out.display()))?;
    for (name, bytes) in [("revocations.json", &doc), ("revocations.sig", &sig)] {
        let p = out.join(name);
        signing::fsutil::write_atomic(&p, bytes, 0o644, true)
            .with_context(|| format!("{}", p.display()))?;
    }
    if common.json {
        print_json(
            &canon::Value::object(vec![
                ("sequence".into(), canon::Value::Number(seq as f64)),
                ("revoked".into(), canon::Value::Number(count as f64)),
                (
                    "revoked_activations".into(),
                    canon::Value::Number(void_leases.len() as f64),
                ),
                (
                    "activation_epochs".into(),
                    canon::Value::Number(epochs.len() as f64),
                ),
                ("path".into(), s(out.join("revocations.json").display())),
            ])
            .context("json")?,
        );
    } else {
        let replaced = replaces.map_or(String::new(), |p| format!("; replaces sequence {p}"));
        println!(
            "wrote {}/revocations.json (sequence {seq}, {count} revoked{}{replaced})",
            out.display(),
            if void_leases.is_empty() && epochs.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} activation leases void, {} license seat resets",
                    void_leases.len(),
                    epochs.len()
                )
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn verify_cmd(a: VerifyArgs) -> Result<ExitCode> {
    let VerifyArgs { license, judge } = a;
    let Judge {
        trust,
        sig,
        at,
        json,
    } = judge;
    let now = clock::at_or_now(at.as_deref())?;
    let trust = vendor_trust(&trust)?;
    let (doc, sig_bytes, license) = clikit::input::read_license(&license, sig.as_deref())?;
    let v = verify_license(
        &trust,
        &doc,
        sig_bytes.as_deref(),
        &LegacyPolicy::default(),
        now,
    )
    .with_context(|| format!("{}", license.display()))?;
    let st = runtime::license::Standing::of(&v, now, runtime::license::DEFAULT_WARN_DAYS);
    if json {
        print_json(&clikit::report::license(&license, &v, &st)?);
    } else {
        if v.is_legacy() {
            eprintln!(
                "warning: {} is a deprecated schema-2 license; migrate it with `factory migrate`",
                license.display()
            );
        }
        println!("{}", clikit::report::license_line(&license, &v, &st));
    }
    if !st.usable() {
        return Ok(ExitCode::from(clikit::outcome::EXIT_REJECTED));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn migrate_cmd(a: MigrateArgs) -> Result<ExitCode> {
    let MigrateArgs {
        license,
        key,
        out,
        signer,
        common,
    } = a;
    let now = clock::now()?;
    factory::keys::load_signing_key(&key, Role::License, None, now)?;
    let doc = std::fs::read(&license).with_context(|| format!("{}", license.display()))?;
    let mut reg = common.registry()?;
    let (key, trust) = signer.key(&mut reg, &key, Role::License, now)?;
    let trust = trust.context("migrate needs --trust (or AIRLOCK_TRUST) to verify the legacy license before re-signing it")?;
    let policy = LegacyPolicy::allowing_after_cutoff(true);
    let old = verify_license(&trust, &doc, None, &policy, now)
        .with_context(|| format!("{}", license.display()))?;
    if !old.is_legacy() {
        anyhow::bail!(
            "{} is already a schema-3 license; nothing to migrate",
            license.display()
        );
    }
    // Migrated once already: name its successor instead of a raw constraint error.
    if let Some(done) = reg.get(&old.license().license_id)? {
        match &done.renewed_by {
            Some(by) => anyhow::bail!(
                "legacy license {} was already migrated: its schema-3 successor is {by} (write its files again with `factory export {by} --out DIR`)",
                done.license_id
            ),
            None => anyhow::bail!(
                "license {} is already in the registry; nothing to migrate",
                done.license_id
            ),
        }
    }
    let (legacy_row, new) = issue::migration(&old, &doc, now)?;
    let signed = issue::sign(new, &key)?;
    let paths = issue::record_one(&mut reg, Some(legacy_row), &signed, "migrated", &out, now)?;
    print_issued(&signed, &paths, common.json, now);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn audit_cmd(a: AuditArgs) -> Result<ExitCode> {
    let AuditArgs {
        cmd: AuditCmd::Verify { head, common },
    } = a;
    for h in &head {
        factory::audit::check_head(h)?;
    }
    let reg = common.existing_registry()?;
    let (n, current) = reg
        .verify_audit()
        .map_err(audit_failed)
        .context("audit log")?;
    for h in &head {
        if !reg.has_audit_hash(h)? {
            return Err(anyhow::Error::new(runtime::check::Failed::new(
                runtime::Check::AuditInvalid,
                format!(
                    "the recorded head {h} is not in the audit chain: the log was cut back or rewritten"
                ),
            )))
            .context("audit log");
        }
    }
    if common.json {
        print_json(&report::valid(
            "command",
            &"audit verify",
            vec![("events", report::n(n)), ("head", s(&current))],
        )?);
    } else {
        println!("audit log OK: {n} events, hash chain intact, every license row matches");
        println!("head {current} (record it; later: factory audit verify --head {current})");
    }
    Ok(ExitCode::SUCCESS)
}

/// Finds the catalog: `--catalog`, else `AIRLOCK_CATALOG` (old name `FACTORY_CATALOG`), else
/// `HOME_CATALOG` in the vendor home.
pub(crate) fn locate_catalog(flag: Option<&Path>) -> Result<clikit::home::Located> {
    clikit::home::locate(
        flag,
        "--catalog",
        "AIRLOCK_CATALOG",
        factory::catalog::HOME_CATALOG,
    )
}

/// Loads the located catalog; a missing one says where it was looked for and how to give it.
pub(crate) fn load_located(l: &clikit::home::Located) -> Result<factory::catalog::Catalog> {
    if !l.path.exists() {
        anyhow::bail!(
            "no catalog at {} ({}): pass --catalog FILE, set AIRLOCK_CATALOG, or put your catalog there (fixtures/catalog.json is an example)",
            l.path.display(),
            l.source
        );
    }
    factory::catalog::Catalog::load(&l.path)
}

/// An audit failure as the `audit_invalid` check: an edit found, or an audit that could not
/// finish (then nothing vouches for the registry either). A failure that names its own check
/// keeps it.
pub(crate) fn audit_failed(e: anyhow::Error) -> anyhow::Error {
    if runtime::check_of(e.as_ref()).is_some() {
        return e;
    }
    anyhow::Error::new(runtime::check::Failed::new(
        runtime::Check::AuditInvalid,
        format!("{e:#}"),
    ))
}

pub(crate) fn print_issued(
    signed: &issue::Signed,
    paths: &[PathBuf; 2],
    json: bool,
    now: canon::Timestamp,
) {
    if json {
        print_json(&book::record_json(&signed.record, now, 30));
    } else {
        println!("{}", signed.license.license_id);
        eprintln!(
            "issued {} ({} {} for {}, until {}): {} + {}",
            signed.license.license_key,
            signed.license.product,
            signed.license.tier,
            signed.license.customer.name,
            signed.license.expires_at,
            paths[0].display(),
            paths[1].display()
        );
    }
}

pub(crate) fn issue_cmd(a: IssueArgs) -> Result<()> {
    let now = clock::now()?;
    factory::keys::load_signing_key(&a.key, Role::License, None, now)?;
    let catalog = load_located(&locate_catalog(a.catalog.as_deref())?)?;
    // Every request is validated before the registry is opened: a mistyped first request
    // never leaves a new, empty registry behind.
    if let Some(batch) = &a.batch {
        let bytes = std::fs::read(batch).with_context(|| format!("{}", batch.display()))?;
        let mut reqs = issue::parse_batch(&batch.display().to_string(), &bytes)?;
        if a.additional {
            for r in &mut reqs {
                r.additional = true;
            }
        }
        let bar = progress(reqs.len() as u64, "licenses");
        let licenses = issue::build_batch(&catalog, &reqs, now)?;
        let mut reg = a.common.registry()?;
        let (key, _) = a.signer.key(&mut reg, &a.key, Role::License, now)?;
        let done = issue::issue_batch(&mut reg, &key, &reqs, licenses, &a.out, now, |n| {
            bar.inc(n as u64)
        })?;
        bar.finish_and_clear();
        if a.common.json {
            let mut rows = Vec::with_capacity(done.ids.len());
            for id in &done.ids {
                let r = reg
                    .get(id)?
                    .with_context(|| format!("license {id} is missing from the registry"))?;
                rows.push(book::record_json(&r, now, 30));
            }
            print_json(&canon::Value::Array(rows));
        } else {
            let out = std::io::stdout();
            let mut w = std::io::BufWriter::new(out.lock());
            for id in &done.ids {
                let _ = writeln!(w, "{id}");
            }
        }
        eprintln!(
            "issued {} licenses into {}{}",
            done.issued.len(),
            a.out.display(),
            if done.already > 0 {
                format!(
                    "; {} lines were already recorded by an earlier run (not issued again; {} had their files written again)",
                    done.already, done.restored
                )
            } else {
                String::new()
            }
        );
        return Ok(());
    }
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .with_context(|| format!("{flag} is required (or use --batch)"))
    };
    let limits = parse_limits(&a.terms.limits)?;
    let req = Request {
        tier: need(&a.tier, "--tier")?,
        customer: need(&a.customer, "--customer")?,
        customer_id: a.customer_id.clone(),
        product: need(&a.product, "--product")?,
        expires: a.expires.clone(),
        not_before: a.not_before.clone(),
        features: a.terms.features.clone(),
        limits,
        grace_days: a.terms.grace_days,
        device_limit: a.terms.device_limit,
        workspace: a.workspace.clone(),
        data_residency: a.data_residency.clone(),
        request_id: a.request_id.clone(),
        additional: a.additional,
    };
    let license = issue::build(&catalog, &req, now)?;
    if let Some(k) = &req.request_id {
        issue::check_request_id(k)?;
    }
    let mut reg = a.common.registry()?;
    let (key, _) = a.signer.key(&mut reg, &a.key, Role::License, now)?;
    if let Some(k) = &req.request_id {
        // Already recorded (an earlier run was interrupted, or this is a retry): the same
        // license, its files written again when missing; never a second license.
        if let Some(prior) = reg.recorded_requests(&[k.as_str()])?.remove(k) {
            factory::guard::check_reuse(k, &prior, &req.params(), &reg)?;
            let id = prior.license_id;
            let r = reg
                .get(&id)?
                .with_context(|| format!("license {id} is missing from the registry"))?;
            let restored = issue::restore_files(&r, &a.out, true)?;
            eprintln!(
                "request {k} was already recorded as license {id}; not issued again{}",
                if restored {
                    " (its files were written again)"
                } else {
                    ""
                }
            );
            if a.common.json {
                print_json(&book::record_json(&r, now, 30));
            } else {
                println!("{id}");
            }
            return Ok(());
        }
    }
    factory::guard::Guard::new(&reg, now).admit(&req, &license)?;
    let mut signed = issue::sign(license, &key)?;
    signed.request = req.request_id.clone().map(|k| (k, req.params()));
    let paths = issue::record_one(&mut reg, None, &signed, "issued", &a.out, now)?;
    print_issued(&signed, &paths, a.common.json, now);
    Ok(())
}

/// The sequence of the revocation list already in `out`, which a new list will replace. Only
/// an older list is replaced: a file that is not a revocation list, or a list as new as the
/// registry's next one (from another registry, or copied there by hand), is refused unless
/// `force`, so that publishing never silently destroys a list.
pub(crate) fn previous_list(out: &Path, force: bool, last: u64) -> Result<Option<u64>> {
    let p = out.join("revocations.json");
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("{}", p.display())),
    };
    if force {
        return Ok(None);
    }
    let seq = RevocationList::parse(&bytes).ok().map(|l| l.0.sequence);
    match seq {
        Some(n) if n <= last => Ok(Some(n)),
        Some(n) => anyhow::bail!(
            "{} is revocation list #{n}, newer than this registry's last (#{last}): it was not published from this registry; refusing to replace it (choose another --out, or pass --force)",
            p.display()
        ),
        None => anyhow::bail!(
            "{} exists and is not a revocation list; refusing to replace it (choose another --out, or pass --force)",
            p.display()
        ),
    }
}
