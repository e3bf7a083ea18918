//! `factory revocations`: the signed revocation list.

use crate::cli::*;
use anyhow::{Context, Result};
use canon::Role;
use clikit::report::s;
use runtime::revocation::RevocationList;
use runtime::Artifact;
use signing::clock;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

pub(crate) fn revocations_cmd(a: RevocationsArgs) -> Result<ExitCode> {
    let RevocationsArgs {
        key,
        out,
        force,
        signer,
        common,
    } = a;
    let now = clock::now()?;
    let key_path = key;
    let key = factory::keys::load_signing_key(&key_path, Role::License, None, now)?;
    let mut reg = common.existing_registry()?;
    signer.vet(&mut reg, &key, &key_path, now)?;
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
