//! Bundle verification before install: one streaming pass over `<bundle>.tar.gz`, memory
//! bounded independently of the bundle size, on three threads (each about a third of the work
//! on a large bundle, which two cores then share).
//!
//! - Thread R reads the file in 256 KiB blocks and feeds every byte to the minisign BLAKE2b
//!   prehash (outer signature).
//! - Thread A checks the gzip framing strictly and inflates.
//! - Thread B (the caller's) parses the strict ustar stream ([`canon::ustar`]), hashes each
//!   member with SHA-256, checks it against the signed bundle manifest (the first two members)
//!   and, when asked, writes it into a fresh staging directory.
//!
//! Then, in this order, the verdict: the outer signature; the archive and every member; the
//! coherence of license, manifests, runtime edition, key roles and windows, revocations and
//! sequence. The first framing or archive failure stops the reading at once (a hostile file
//! costs no more than the bytes before its first fault and the few blocks read ahead); the
//! bundle manifest, the only member read before it is authenticated, is checked by signature
//! over its raw canonical bytes before it is parsed.
//!
//! Extraction goes into a fresh staging directory (mode 0700); [`Verdict::install`] moves it
//! into place, which the caller does only after recording the install in its state
//! ([`crate::session`]). A staging directory that is not installed is removed.

use crate::check::Check;
use crate::error::VerifyError;
use crate::license::{verify_license, LegacyPolicy, Standing, State, VerifiedLicense};
use crate::manifest::{
    verify_bundle_manifest_buffered, verify_product_manifest, BundleManifest,
    VerifiedBundleManifest, MAX_BUNDLE_MANIFEST_BYTES,
};
use crate::policy::{self, Release};
use crate::revocation::{verify_revocations, Revocations};
use crate::session::{check_revocation_order, check_signed_time};
use crate::signed::MinisignCheck;
use crate::signed::PaeBuffer;
use crate::state::{State as Known, StateError};
use crate::trust::TrustStore;
use canon::sig::MAX_ENVELOPE_BYTES;
use canon::ustar::{self, BLOCK};
use canon::{enc, Role, Timestamp};
use flate2::{Decompress, FlushDecompress, Status};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};

mod checks;
mod gzip;
mod staging;
mod tar;

pub use gzip::GZIP_HEADER;
use gzip::{inflate, read_blocks, Block, BLOCKS};
use staging::Staging;
use tar::TarReader;

pub use format::manifest::{MANIFEST_PATH, MANIFEST_SIG_PATH, OPTIONAL, REQUIRED};
/// Zero bytes allowed after the end-of-archive marker (GNU tar pads to 10 KiB records).
pub const MAX_TRAILING_ZEROS: u64 = 20 * BLOCK as u64;

const CHUNK: usize = 1 << 18;

/// Finds the content key of a sealed bundle for its manifest (the lease this machine holds,
/// [`crate::payload::build_key`]); its refusal keeps its check.
pub type KeyFinder<'a> =
    &'a (dyn Fn(&BundleManifest) -> Result<seal::ContentKey, crate::error::Refusal> + Sync);

/// How an extraction treats a sealed payload (docs/FORMAT.md §19). Verification without
/// extraction needs no key: the manifest covers the sealed bytes.
#[derive(Clone, Copy, Default)]
pub enum Sealed<'a> {
    /// Refuse to extract it (`payload_sealed`): the default.
    #[default]
    Refuse,
    /// Extract the members as shipped, still sealed, for on-demand opening
    /// ([`crate::payload::SealedPayload`]).
    Keep,
    /// Open the members as they are extracted, with the key this finds (before any member is
    /// read past the manifest).
    Open(KeyFinder<'a>),
}

impl fmt::Debug for Sealed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sealed::Refuse => "Sealed::Refuse",
            Sealed::Keep => "Sealed::Keep",
            Sealed::Open(_) => "Sealed::Open(..)",
        })
    }
}

/// What the verifier knows besides the bundle. Built with [`Options::new`] and the `with_`
/// methods (new fields may come; their defaults will be the safe ones).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options<'a> {
    /// Trusted keys.
    pub trust: &'a TrustStore,
    /// The time to judge at (never read from the clock here).
    pub now: Timestamp,
    /// The runtime's own edition claim; the bundle must be for it.
    pub edition: Option<&'a str>,
    /// The runtime's version (`MAJOR.MINOR.PATCH`) for `min_runtime_version`.
    pub runtime_version: &'a str,
    /// What the state directory knows: installed sequences, the accepted revocation list and
    /// every license it revoked ([`crate::session::Session::known`]).
    pub known: Option<&'a Known>,
    /// Legacy license policy.
    pub legacy: LegacyPolicy,
    /// Expiry warning window in days.
    pub warn_days: i64,
    /// Extract the verified bundle into this new directory.
    pub extract: Option<&'a Path>,
    /// How an extraction treats a sealed payload.
    pub sealed: Sealed<'a>,
}

impl<'a> Options<'a> {
    /// Options judging at `now` with the safe defaults: no edition claim, no state, no legacy
    /// licenses after the cut-off, the default warning window, no extraction.
    pub fn new(trust: &'a TrustStore, now: Timestamp, runtime_version: &'a str) -> Options<'a> {
        Options {
            trust,
            now,
            edition: None,
            runtime_version,
            known: None,
            legacy: LegacyPolicy::default(),
            warn_days: crate::license::DEFAULT_WARN_DAYS,
            extract: None,
            sealed: Sealed::Refuse,
        }
    }

    /// Judges at `now` instead.
    pub fn at(mut self, now: Timestamp) -> Options<'a> {
        self.now = now;
        self
    }

    /// The runtime's edition: the bundle must be for it.
    pub fn with_edition(mut self, edition: Option<&'a str>) -> Options<'a> {
        self.edition = edition;
        self
    }

    /// What the state directory knows (sequences, revocations) is enforced too.
    pub fn with_known(mut self, known: &'a Known) -> Options<'a> {
        self.known = Some(known);
        self
    }

    /// Another legacy-license policy.
    pub fn with_legacy(mut self, legacy: LegacyPolicy) -> Options<'a> {
        self.legacy = legacy;
        self
    }

    /// Another expiry warning window, in days.
    pub fn with_warn_days(mut self, days: i64) -> Options<'a> {
        self.warn_days = days;
        self
    }

    /// Extracts the verified bundle into `dest`, a directory that must not exist yet.
    pub fn with_extract(mut self, dest: Option<&'a Path>) -> Options<'a> {
        self.extract = dest;
        self
    }

    /// How an extraction treats a sealed payload.
    pub fn with_sealed(mut self, sealed: Sealed<'a>) -> Options<'a> {
        self.sealed = sealed;
        self
    }
}

/// A verified bundle.
#[derive(Debug)]
pub struct Verdict {
    /// Bundle id.
    pub bundle_id: String,
    /// Product id.
    pub product: String,
    /// Product version.
    pub version: String,
    /// Edition of the release.
    pub edition: String,
    /// Release channel (`stable` unless the product manifest names another).
    pub channel: String,
    /// Container images the release installs, by digest.
    pub images: Vec<crate::manifest::Image>,
    /// Customer id and name.
    pub customer: (String, String),
    /// License id.
    pub license_id: String,
    /// License state at `now`.
    pub license_state: State,
    /// Bundle sequence.
    pub sequence: u64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Members checked (manifest pair included).
    pub members: usize,
    /// Payload bytes (as shipped: sealed members count their sealed size).
    pub payload_bytes: u64,
    /// Whether the payload members are sealed (docs/FORMAT.md §19).
    pub sealed: bool,
    /// Whether the extraction opened them (else a sealed payload was kept sealed or not
    /// extracted).
    pub opened: bool,
    /// Revocation-list sequence carried, if any.
    pub revocations_sequence: Option<u64>,
    /// The verified revocation list carried, if any (for the state to keep).
    pub revocations: Option<Revocations>,
    /// The release key of the outer signature.
    pub signed_by: canon::KeyId,
    /// Things the operator should know (grace, expiring soon, legacy license).
    pub warnings: Vec<String>,
    /// Where the bundle was extracted, once [`Verdict::install`] moved it into place.
    pub extracted_to: Option<PathBuf>,
    staged: Option<Staging>,
}

impl Verdict {
    /// Moves the verified extraction into place (after the caller recorded the install in its
    /// state). Returns the destination; without extraction, `Ok(None)`.
    pub fn install(&mut self) -> Result<Option<&Path>, BundleError> {
        if let Some(st) = self.staged.take() {
            self.extracted_to = Some(st.commit()?);
        }
        Ok(self.extracted_to.as_deref())
    }
}

/// Why a bundle was rejected. `code()` is stable; `Display` names the exact check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    /// The outer minisign signature is missing, malformed, untrusted or does not verify.
    Signature(VerifyError),
    /// The gzip framing is wrong (header, truncation, CRC, size, a second member, trailing data).
    Gzip(String),
    /// The tar stream is wrong (a refused header, non-zero padding, trailing data, truncation).
    Archive(String),
    /// A member does not match the signed manifest (extra, missing, out of order, size, mode, hash).
    Member {
        /// The member path.
        path: String,
        /// What is wrong.
        what: String,
    },
    /// The bundle manifest or product manifest does not verify.
    Manifest(VerifyError),
    /// The license does not verify.
    License(VerifyError),
    /// A sealed payload could not be opened for extraction (no key for it on this machine, a
    /// key that does not open, or no way chosen).
    Sealed {
        /// The failing check (`build_not_granted`, `build_key_invalid`, `payload_sealed`, or
        /// the lease's own: `activation_other_machine`, `lease_expired`, …).
        check: Check,
        /// Details.
        detail: String,
    },
    /// License, manifests and runtime do not fit together.
    Coherence {
        /// The failing check.
        check: Check,
        /// Details.
        detail: String,
    },
    /// The license is not usable at `now` (not yet valid, expired).
    LicenseState(State, String),
    /// The license is listed in the bundle's verified revocation list.
    Revoked(String),
    /// Refused against the state: a rollback (lower sequence, older revocation list), a
    /// conflicting list, or a clock behind a signed time (`tamper_suspected`).
    State(StateError),
    /// Reading the bundle or writing the staging directory failed.
    Io(String),
}

impl BundleError {
    /// A stable machine-readable code.
    pub fn code(&self) -> Check {
        match self {
            BundleError::Signature(_) => Check::BundleSignatureInvalid,
            BundleError::Gzip(_) => Check::GzipInvalid,
            BundleError::Archive(_) => Check::ArchiveInvalid,
            BundleError::Member { .. } => Check::MemberMismatch,
            BundleError::Manifest(_) => Check::ManifestInvalid,
            BundleError::License(_) => Check::LicenseInvalid,
            BundleError::Coherence { check, .. } | BundleError::Sealed { check, .. } => *check,
            BundleError::LicenseState(State::NotYetValid, _) => Check::LicenseNotYetValid,
            BundleError::LicenseState(..) => Check::LicenseExpired,
            BundleError::Revoked(_) => Check::LicenseRevoked,
            BundleError::State(e) => e.code(),
            BundleError::Io(_) => Check::IoError,
        }
    }
}

impl From<crate::check::Failed> for BundleError {
    fn from(f: crate::check::Failed) -> BundleError {
        BundleError::Coherence {
            check: f.check,
            detail: f.message,
        }
    }
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::Signature(e) => write!(f, "outer signature: {e}"),
            BundleError::Gzip(m) => write!(f, "gzip: {m}"),
            BundleError::Archive(m) => write!(f, "archive: {m}"),
            BundleError::Member { path, what } => write!(f, "member {path}: {what}"),
            BundleError::Manifest(e) => write!(f, "manifest: {e}"),
            BundleError::License(e) => write!(f, "license: {e}"),
            BundleError::Coherence { check, detail } => write!(f, "coherence ({check}): {detail}"),
            BundleError::Sealed { check, detail } => {
                write!(f, "sealed payload ({check}): {detail}")
            }
            BundleError::LicenseState(s, m) => write!(f, "license is {s}: {m}"),
            BundleError::Revoked(m) => write!(f, "license revoked: {m}"),
            BundleError::State(e) => write!(f, "{e}"),
            BundleError::Io(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for BundleError {}

/// Whether `dest` can receive an extraction: it must not exist and its parent must be a
/// directory. Local path problems (`io_error`), never a verdict on the bundle; callers may run
/// it before reading anything, [`verify_bundle`] runs it again.
pub fn check_destination(dest: &Path) -> Result<(), BundleError> {
    if dest.exists() {
        return Err(BundleError::Io(format!(
            "{}: already exists; extraction needs a new directory",
            dest.display()
        )));
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(BundleError::Io(format!(
            "{}: the destination's parent directory {} does not exist; create it first (nothing was read or installed)",
            dest.display(),
            parent.display()
        )));
    }
    Ok(())
}

/// Verifies `bundle` (the `.tar.gz` bytes as a reader) against its minisign `signature`.
pub fn verify_bundle(
    bundle: impl Read + Send,
    signature: &[u8],
    opts: &Options<'_>,
) -> Result<Verdict, BundleError> {
    let mut check = MinisignCheck::new(signature).map_err(BundleError::Signature)?;
    if let Some(dest) = opts.extract {
        check_destination(dest)?;
    }
    let staging = match opts.extract {
        Some(dest) => Some(Staging::create(dest)?),
        None => None,
    };
    let (tx, rx) = sync_channel::<Vec<u8>>(BLOCKS);
    let (full_tx, full_rx) = sync_channel::<Block>(BLOCKS);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(BLOCKS);
    for _ in 0..BLOCKS {
        let _ = empty_tx.send(vec![0u8; CHUNK]);
    }
    let mut reader = TarReader::new(opts, staging);
    let (gz, tar_result) = std::thread::scope(|s| {
        let r = s.spawn(move || {
            let r = read_blocks(bundle, &mut check, full_tx, empty_rx);
            (check, r)
        });
        let a = s.spawn(move || inflate(full_rx, empty_tx, tx));
        let mut tar_result = Ok(());
        for chunk in rx.iter() {
            if let Err(e) = reader.feed(&chunk) {
                tar_result = Err(e);
                break;
            }
        }
        drop(rx);
        let panicked = |_| BundleError::Io("reader thread panicked".into());
        let inflated = a.join().map_err(panicked);
        let read = r.join().map_err(panicked);
        (
            read.and_then(|(c, r)| inflated.map(|g| (c, r, g))),
            tar_result,
        )
    });
    let result: Result<Verdict, BundleError> = (|| {
        let (check, read_result, gz_result) = gz?;
        // A reading error ends the blocks early: it, not the truncation A saw, is the fault.
        read_result.map_err(BundleError::Io)?;
        // 1. Stream faults stopped the reading, so they come first (the outer signature needs
        //    every byte). A member error found before the framing broke is the more precise.
        tar_result?;
        gz_result.map_err(BundleError::Gzip)?;
        // 2. The outer signature over the whole file, then the end of the archive.
        let outer = check
            .finish(opts.trust, Role::Release)
            .map_err(BundleError::Signature)?;
        reader.finish_stream()?;
        // 3. Coherence.
        let mut verdict = reader.coherence(opts)?;
        opts.trust
            .check_window(outer.key_id, verdict.created_at)
            .map_err(BundleError::Signature)?;
        check_trusted_comment(&outer.trusted_comment, &verdict, outer.key_id)
            .map_err(BundleError::Signature)?;
        verdict.signed_by = outer.key_id;
        Ok(verdict)
    })();
    // On failure the staging directory (if any) is dropped, which removes it.
    let mut v = result?;
    v.staged = reader.staging.take();
    if let Some(n) = v.staged.as_ref().map(|s| s.cleaned).filter(|n| *n > 0) {
        v.warnings.push(format!(
            "removed {n} partial extraction(s) left beside the destination by earlier runs that were killed"
        ));
    }
    Ok(v)
}

/// The outer signature's trusted comment (authenticated by minisign's global signature) must
/// be exactly the packager's form (FORMAT.md §16) and name this bundle: the same `bundle_id`,
/// `product`, `version`, signing key and `timestamp` = the manifest's `created_at`. Only the
/// `file` name (the customer may rename the file) is not compared. A signature made for
/// another bundle by the same key can then never be paired with this archive's manifest.
fn check_trusted_comment(
    comment: &str,
    v: &Verdict,
    key_id: canon::KeyId,
) -> Result<(), VerifyError> {
    let expected = format!(
        "bundle_id:{}\tproduct:{}\tversion:{}\tkey_id:{key_id}\ttimestamp:{}\tfile:",
        v.bundle_id, v.product, v.version, v.created_at.0
    );
    match comment.strip_prefix(&expected) {
        Some(file) if !file.is_empty() && !file.contains(['\t', '/']) => Ok(()),
        _ => Err(VerifyError::schema(
            "bundle signature trusted comment",
            format!(
                "must be {expected}<name> for this bundle, is {:?}",
                crate::text::escape(comment)
            ),
        )),
    }
}
