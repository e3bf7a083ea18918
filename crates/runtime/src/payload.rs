//! Sealed payloads (docs/FORMAT.md §19): a build's content key from the lease this machine
//! holds, and on-demand opening of one sealed member, in memory, never written to disk here.
//!
//! What this protects: copies of the payload on machines without a seat (another machine, a
//! copied state directory elsewhere, a seat released, revoked or ended). What it cannot: the
//! administrator of a licensed machine reading the key or the plaintext from its memory.
//!
//! Order of refusals for [`build_key`]: the installed lease (none: `build_not_granted`; its own
//! failures keep their codes: `activation_other_machine`, `lease_expired`, `activation_revoked`
//! …), its license revoked or suspended by an accepted list (`license_revoked`,
//! `license_suspended`), the lease's grant for the build (`build_not_granted`), then the
//! machine's encryption key and the unwrapping (`build_key_invalid`). [`SealedPayload::member`] checks each member's
//! SHA-256 against the signed manifest before a single byte is opened (`member_mismatch`).

use crate::check::Check;
use crate::error::Refusal;
use crate::manifest::{verify_bundle_manifest, BundleManifest};
use crate::state::State;
use crate::trust::TrustStore;
use canon::{enc, Timestamp};
use seal::file::PlainReader;
use seal::keyfile::{EncRole, EncryptionKey};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

pub use seal::ContentKey;

fn refuse(check: Check, message: impl Into<String>) -> Refusal {
    Refusal {
        check: Some(check),
        message: message.into(),
    }
}

/// Where a lease is looked up for a build key.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    /// The trust store.
    pub trust: &'a TrustStore,
    /// The state directory (the lease, the machine's encryption key).
    pub state: &'a Path,
    /// This machine's identity sources.
    pub sources: &'a crate::fingerprint::Sources,
    /// What the state accepted (revocations, sequences).
    pub known: &'a State,
    /// The time to judge the lease at.
    pub now: Timestamp,
}

/// The content key of build `bundle_id` of `product`, from the lease installed for it on this
/// machine, checked against `key_check` (the bundle manifest's). See the module for the order
/// of refusals.
pub fn build_key(
    h: &Holder<'_>,
    product: &str,
    bundle_id: &str,
    key_check: &str,
) -> Result<ContentKey, Refusal> {
    let lease = crate::activation::verify_installed(
        h.trust, h.state, product, None, h.sources, h.known, h.now,
    )?
    .ok_or_else(|| {
        refuse(
            Check::BuildNotGranted,
            format!(
                "the payload of build {bundle_id} is sealed and no activation of {product} is installed on this machine: activate it, asking for the build (`airlock-agent request --build {bundle_id}`)"
            ),
        )
    })?;
    let a = lease.value();
    // The license the lease was signed for, revoked or suspended by a list this machine
    // accepted, releases no key either.
    if let Some(why) = h.known.revoked.get(&a.license_id) {
        return Err(refuse(
            Check::LicenseRevoked,
            format!("license {} was revoked: {why}", a.license_id),
        ));
    }
    if let Some(at) = h.known.suspended.get(&a.license_id) {
        return Err(refuse(
            Check::LicenseSuspended,
            format!("license {} is suspended since {at}", a.license_id),
        ));
    }
    let grant = a
        .grants
        .iter()
        .find(|g| g.bundle_id == bundle_id)
        .ok_or_else(|| {
            refuse(
                Check::BuildNotGranted,
                format!(
                    "activation {} (lease #{}) carries no key for build {bundle_id}: ask for it with the next request (`--build {bundle_id}`)",
                    a.activation_id, a.sequence
                ),
            )
        })?;
    let path = h.state.join(crate::activation::ENCRYPTION_KEY_FILE);
    let mine = EncryptionKey::load(&path, EncRole::Machine).map_err(|e| {
        refuse(
            Check::BuildKeyInvalid,
            format!("this machine's encryption key: {e}"),
        )
    })?;
    let theirs = a.encryption_public_key.as_deref().unwrap_or_default();
    if theirs != enc::b64(&mine.key.public_key()) {
        return Err(refuse(
            Check::BuildKeyInvalid,
            format!(
                "the lease's build keys are wrapped to another encryption key than {}",
                path.display()
            ),
        ));
    }
    let wrapped = enc::unb64(&grant.wrapped_key).unwrap_or_default();
    let key = mine
        .key
        .unwrap(&wrapped, &format::build::grant_info(a, bundle_id))
        .map_err(|e| refuse(Check::BuildKeyInvalid, format!("build {bundle_id}: {e}")))?;
    check_key(&key, bundle_id, key_check)?;
    Ok(key)
}

/// The content key of the sealed bundle `m` ([`build_key`] for its product, build and check
/// value): what [`crate::bundle::Sealed::Open`] asks for during an extraction.
pub fn key_for(h: &Holder<'_>, m: &BundleManifest) -> Result<ContentKey, Refusal> {
    let check = m.encryption.as_ref().map_or("", |e| e.key_check.as_str());
    build_key(h, &m.product, &m.bundle_id, check)
}

/// Refuses a key whose check value is not the manifest's.
pub fn check_key(key: &ContentKey, bundle_id: &str, key_check: &str) -> Result<(), Refusal> {
    if !canon::enc::same_secret(key.check_hex().as_bytes(), key_check.as_bytes()) {
        return Err(refuse(
            Check::BuildKeyInvalid,
            format!("the key given for build {bundle_id} is not the one its manifest names"),
        ));
    }
    Ok(())
}

/// An extracted, still sealed payload (`runtime-verify BUNDLE --extract DIR --keep-sealed`):
/// its signed manifest verified once, members opened on demand.
#[derive(Debug)]
pub struct SealedPayload {
    dir: PathBuf,
    manifest: BundleManifest,
    key: ContentKey,
}

impl SealedPayload {
    /// Verifies `dir/manifests/bundle-manifest.json` (+ `.sig`) against `trust` and that `key`
    /// is its build's key.
    pub fn open(dir: &Path, trust: &TrustStore, key: ContentKey) -> Result<SealedPayload, Refusal> {
        let read = |p: PathBuf, cap: usize| -> Result<Vec<u8>, Refusal> {
            crate::io::read_capped(&p, cap as u64)
                .map_err(|e| Refusal::read(&p, &e))?
                .ok_or_else(|| refuse(Check::IoError, format!("{}: missing", p.display())))
        };
        let doc = read(
            dir.join(crate::manifest::MANIFEST_PATH),
            crate::manifest::MAX_BUNDLE_MANIFEST_BYTES,
        )?;
        let sig = read(
            dir.join(crate::manifest::MANIFEST_SIG_PATH),
            canon::sig::MAX_ENVELOPE_BYTES,
        )?;
        let m = verify_bundle_manifest(trust, &doc, &sig).map_err(|e| Refusal {
            check: Some(e.code()),
            message: format!("{}: {e}", dir.display()),
        })?;
        let manifest = m.manifest().clone();
        let Some(e) = &manifest.encryption else {
            return Err(refuse(
                Check::BuildKeyInvalid,
                format!(
                    "build {} is not sealed: read its files directly",
                    manifest.bundle_id
                ),
            ));
        };
        check_key(&key, &manifest.bundle_id, &e.key_check)?;
        Ok(SealedPayload {
            dir: dir.to_path_buf(),
            manifest,
            key,
        })
    }

    /// The build's id.
    pub fn bundle_id(&self) -> &str {
        &self.manifest.bundle_id
    }

    /// The sealed member `path` (`payload/...`), opened: its size and SHA-256 are checked
    /// against the signed manifest first (`member_mismatch`, nothing opened), then the reader
    /// yields the plaintext, one verified chunk at a time.
    pub fn member(&self, path: &str) -> Result<PlainReader<File>, Refusal> {
        let m = self
            .manifest
            .members
            .iter()
            .find(|m| m.path == path && m.path.starts_with("payload/"))
            .ok_or_else(|| {
                refuse(
                    Check::MemberMismatch,
                    format!(
                        "{path}: not a payload member of build {}",
                        self.manifest.bundle_id
                    ),
                )
            })?;
        let file_path = self.dir.join(&m.path);
        let io =
            |e: std::io::Error| refuse(Check::IoError, format!("{}: {e}", file_path.display()));
        let mut f = File::open(&file_path).map_err(io)?;
        let mut sha = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut seen = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            seen += n as u64;
            sha.update(&buf[..n]);
        }
        let digest: [u8; 32] = sha.finalize().into();
        if seen != m.size || enc::hex(&digest) != m.sha256 {
            return Err(refuse(
                Check::MemberMismatch,
                format!(
                    "{}: its size or SHA-256 differs from the signed manifest (changed after extraction); nothing was opened",
                    file_path.display()
                ),
            ));
        }
        f.rewind().map_err(io)?;
        PlainReader::new(&self.key, path, m.size, f)
            .map_err(|e| refuse(Check::MemberMismatch, format!("{path}: {e}")))
    }
}
