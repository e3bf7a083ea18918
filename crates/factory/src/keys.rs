//! Key generation and trust-file maintenance for the `factory keygen` and `factory trust`
//! commands.

use anyhow::{bail, Context, Result};
use canon::{KeyId, Role, Timestamp};
use runtime::{Anchors, KeyStatus, TrustStore};
use signing::trust::{sign_trust_file_by, TrustEntry};
use signing::{PublicKeyFile, SecretKey};
use std::path::{Path, PathBuf};

/// Default validity of a key added to a trust file: five years from its creation.
pub const DEFAULT_KEY_YEARS: i64 = 5;

/// Generates a key and writes `NAME.key` (0600), `NAME.pub` and `NAME.minisign.pub` into
/// `out`; with `token` (a `pkcs11:` URI naming a token), the key is made inside the token
/// (never extractable) and only the two public files are written. Returns the paths written.
pub fn keygen(
    role: Role,
    name: &str,
    out: &Path,
    token: Option<&str>,
    now: Timestamp,
) -> Result<(SecretKey, Vec<PathBuf>)> {
    let key = match token {
        None => SecretKey::generate(name, role, now)?,
        Some(uri) => {
            signing::keyfile::check_name(name)?;
            let uri = signing::pkcs11::Uri::parse(uri)?;
            SecretKey::from_token(signing::pkcs11::HsmKey::generate(&uri, name, role, now)?)
        }
    };
    let paths = signing::keyfile::write_key_files(&key, out)?;
    Ok((key, paths))
}

/// Makes a key-encryption key (docs/FORMAT.md §19): `NAME.key` (0600, X25519) and `NAME.pub`
/// in `out` (created; an existing file is never replaced). The packager needs only the public
/// file; the factory and the activation service hold the secret one to release build keys.
pub fn keygen_kek(
    name: &str,
    out: &Path,
    now: Timestamp,
) -> Result<(seal::keyfile::EncryptionKey, Vec<PathBuf>)> {
    let key = seal::keyfile::EncryptionKey::generate(name, seal::keyfile::EncRole::Kek, now)?;
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let secret = out.join(format!("{name}.key"));
    let public = out.join(format!("{name}.pub"));
    for p in [&secret, &public] {
        if p.exists() {
            anyhow::bail!(
                "{} already exists; refusing to overwrite a key",
                p.display()
            );
        }
    }
    fsio::write_atomic(&secret, &key.to_file_bytes(), 0o600, false)
        .with_context(|| format!("{}", secret.display()))?;
    fsio::write_atomic(&public, &key.public().to_file_bytes(), 0o644, false)
        .with_context(|| format!("{}", public.display()))?;
    Ok((key, vec![secret, public]))
}

/// Makes a key-encryption key inside a PKCS#11 token (RSA 3072, never extractable; docs/
/// FORMAT.md §19) labelled `name`, and writes its public file `NAME.pub` in `out` (what the
/// packager wraps to). Returns its key id and the path.
pub fn keygen_kek_token(
    uri: &str,
    name: &str,
    out: &Path,
    now: Timestamp,
) -> Result<(KeyId, PathBuf)> {
    signing::keyfile::check_name(name)?;
    let public = out.join(format!("{name}.pub"));
    if public.exists() {
        anyhow::bail!(
            "{} already exists; refusing to overwrite a key",
            public.display()
        );
    }
    let uri = signing::pkcs11::Uri::parse(uri)?;
    let k = signing::pkcs11::HsmKek::generate(&uri, name, now)?;
    let spki = seal::rsa_kek::spki(&k.modulus, &k.exponent)?;
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    fsio::write_atomic(
        &public,
        &seal::keyfile::rsa_public_file(&spki, name, now),
        0o644,
        false,
    )
    .with_context(|| format!("{}", public.display()))?;
    Ok((seal::keyfile::rsa_key_id(&spki), public))
}

/// What `factory trust` should produce.
pub struct TrustRequest<'a> {
    /// The root keys that sign (one, or several to co-sign a root rotation).
    pub roots: &'a [SecretKey],
    /// Public key files to add (or update).
    pub add: Vec<PublicKeyFile>,
    /// An earlier trust file whose keys carry over; the new version is one higher.
    pub from: Option<TrustStore>,
    /// Explicit version (must exceed `from`'s).
    pub version: Option<u64>,
    /// Keys to mark retired (their window closes now).
    pub retire: Vec<KeyId>,
    /// Keys to mark revoked.
    pub revoke: Vec<KeyId>,
    /// Window end for added keys (default: created_at + 5 years).
    pub not_after: Option<Timestamp>,
    /// Signing time.
    pub now: Timestamp,
}

fn entry_from_store(k: &runtime::TrustedKey) -> TrustEntry {
    TrustEntry {
        public_key: k.key.to_bytes(),
        name: k.name.clone(),
        roles: k.roles.clone(),
        not_before: k.not_before,
        not_after: k.not_after,
        status: k.status,
    }
}

/// Builds, signs and self-checks a trust file. Returns its bytes and version.
pub fn build_trust(req: TrustRequest<'_>) -> Result<(Vec<u8>, u64)> {
    let mut entries: Vec<TrustEntry> = match &req.from {
        Some(store) => store.keys().iter().map(entry_from_store).collect(),
        None => Vec::new(),
    };
    let prev = req.from.as_ref().map_or(0, TrustStore::version);
    let version = req.version.unwrap_or(prev + 1);
    if version <= prev {
        bail!("--version {version} must be higher than the previous trust file's version {prev}");
    }
    let first = req
        .roots
        .first()
        .context("at least one root key signs a trust file")?;
    let mut add = req.add;
    for root in req.roots.iter().rev() {
        let root_pub = root.public_file();
        if !entries.iter().any(|e| e.public_key == root_pub.public_key)
            && !add.iter().any(|a| a.public_key == root_pub.public_key)
        {
            add.insert(0, root_pub);
        }
    }
    for p in add {
        runtime::PublicKey::from_bytes(&p.public_key)
            .with_context(|| format!("public key {:?} ({})", p.name, p.key_id))?;
        let not_after = req
            .not_after
            .unwrap_or(p.created_at.plus_days(365 * DEFAULT_KEY_YEARS + 1));
        if let Some(e) = entries.iter_mut().find(|e| e.public_key == p.public_key) {
            if e.status == KeyStatus::Revoked {
                bail!("key {} ({}) is revoked in the previous trust file; a revoked key cannot come back", p.key_id, p.name);
            }
            if e.status == KeyStatus::Retired {
                // Its window closed when it was retired; reopening it would let it sign again.
                bail!("key {} ({}) is retired in the previous trust file; a retired key is not re-added (generate a new key)", p.key_id, p.name);
            }
            if !e.roles.contains(&p.role) {
                e.roles.push(p.role);
            }
            e.not_after = not_after;
        } else {
            if entries.iter().any(|e| e.name == p.name) {
                bail!(
                    "a different key named {:?} is already in the trust file",
                    p.name
                );
            }
            entries.push(TrustEntry {
                public_key: p.public_key,
                name: p.name,
                roles: vec![p.role],
                not_before: p.created_at,
                not_after,
                status: KeyStatus::Active,
            });
        }
    }
    for (ids, status) in [
        (&req.retire, KeyStatus::Retired),
        (&req.revoke, KeyStatus::Revoked),
    ] {
        for id in ids {
            let e = entries
                .iter_mut()
                .find(|e| e.key_id() == *id)
                .with_context(|| format!("key {id} is not in the trust file"))?;
            if status == KeyStatus::Retired {
                if e.status == KeyStatus::Revoked {
                    bail!("key {id} is already revoked");
                }
                e.not_after = e.not_after.min(req.now);
            }
            e.status = status;
        }
    }
    for root in req.roots {
        let root_id = root.key_id();
        let root_entry = entries
            .iter()
            .find(|e| e.key_id() == root_id)
            .context("root key missing")?;
        if root_entry.status != KeyStatus::Active || !root_entry.roles.contains(&Role::Root) {
            bail!("the signing root key {root_id} must be active with the root role in the new trust file (retire a root in a later version, signed by its successor)");
        }
        if req.now < root_entry.not_before || req.now > root_entry.not_after {
            bail!(
                "the signing root key {root_id} is outside its validity window ({} to {})",
                root_entry.not_before,
                root_entry.not_after
            );
        }
    }
    let signers: Vec<&SecretKey> = req.roots.iter().collect();
    let bytes = sign_trust_file_by(&signers, version, req.now, &entries)?;
    // Self-check with the verifier, anchored as a customer's runtime anchors it: by the active
    // roots of the previous version (with their windows), or, for a first file, by its signers.
    let anchors = match &req.from {
        Some(prev) => prev.pins(),
        None => Anchors::Roots(
            req.roots
                .iter()
                .map(|r| runtime::PublicKey::from_bytes(&r.public_key()))
                .collect::<Result<_, _>>()?,
        ),
    };
    TrustStore::from_trust_file(&bytes, &anchors).with_context(|| {
        format!(
            "the new trust file would not verify on a runtime that accepted the previous one: \
             it must be signed by an active root of version {} ({})",
            req.from.as_ref().map_or(0, TrustStore::version),
            first.key_id()
        )
    })?;
    Ok((bytes, version))
}

/// Loads a signing key for `role`, refusing a key the trust file marks retired or revoked
/// or whose window does not contain `now`, and, trust file or not, a signing time before the
/// key existed (nothing it signed then could ever verify).
pub fn load_signing_key(
    path: &Path,
    role: Role,
    trust: Option<&TrustStore>,
    now: Timestamp,
) -> Result<SecretKey> {
    let key = SecretKey::load(path)?;
    if key.role != role {
        bail!(
            "{}: this is a {} key; this command signs with a {role} key",
            path.display(),
            key.role
        );
    }
    vet_key(&key, path, trust, now)?;
    Ok(key)
}

/// The checks of [`load_signing_key`] on a key already loaded.
pub fn vet_key(
    key: &SecretKey,
    path: &Path,
    trust: Option<&TrustStore>,
    now: Timestamp,
) -> Result<()> {
    if now.0 + canon::time::CLOCK_SKEW_SECS < key.created_at.0 {
        bail!(
            "{}: key {} was created at {}; it cannot sign at {now}, before it existed (check the clock or --at)",
            path.display(),
            key.key_id(),
            key.created_at
        );
    }
    if let Some(t) = trust {
        t.may_sign(key.key_id(), key.role, now)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The trust file a signing command checks its key against, and what to tell the vendor.
pub struct Known {
    /// The trust file (none known: the key's status cannot be checked).
    pub trust: Option<TrustStore>,
    /// A warning for standard error.
    pub note: Option<String>,
}

/// The trust file a factory signing command knows: the one given (`--trust`, `AIRLOCK_TRUST`),
/// kept in the registry when it is newer than the one kept there; else the registry's. A
/// kept file newer than the one given, and vouched for by it (a later version of the same
/// chain), wins: an old trust file passed by habit cannot let a key the newer one revoked
/// sign.
pub fn known_trust(
    reg: &mut crate::registry::Registry,
    given: Option<(&Path, Vec<u8>)>,
    now: Timestamp,
) -> Result<Known> {
    let tofu = runtime::danger::trust_on_first_use();
    let kept = reg.kept_trust()?;
    let Some((path, bytes)) = given else {
        return match kept {
            Some((v, bytes)) => Ok(Known {
                trust: Some(
                    TrustStore::from_trust_file(&bytes, &tofu)
                        .with_context(|| format!("the registry's kept trust file (version {v})"))?,
                ),
                note: None,
            }),
            None => Ok(Known {
                trust: None,
                note: Some("no trust file known (no --trust, no $AIRLOCK_TRUST, none kept in the registry): whether the key may still sign is not checked; pass --trust once and it is kept".into()),
            }),
        };
    };
    let store = TrustStore::from_trust_file(&bytes, &tofu)
        .with_context(|| format!("{}", path.display()))?;
    match kept {
        Some((v, kept_bytes)) if v > store.version() => {
            match TrustStore::from_trust_file(&kept_bytes, &store.pins()) {
                Ok(newer) => Ok(Known {
                    trust: Some(newer),
                    note: Some(format!(
                        "{} is trust version {}; the registry keeps version {v}, which supersedes it: checked against version {v}",
                        path.display(),
                        store.version()
                    )),
                }),
                Err(_) => Ok(Known {
                    note: Some(format!(
                        "the registry keeps trust version {v}, which {} (version {}) does not vouch for: checked against {} only",
                        path.display(),
                        store.version(),
                        path.display()
                    )),
                    trust: Some(store),
                }),
            }
        }
        Some((v, _)) if v == store.version() => Ok(Known {
            trust: Some(store),
            note: None,
        }),
        _ => {
            reg.keep_trust(store.version(), &bytes, now)?;
            Ok(Known {
                trust: Some(store),
                note: None,
            })
        }
    }
}
