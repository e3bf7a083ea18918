//! Bundle verification before install: one streaming pass over `<bundle>.tar.gz`, memory
//! bounded independently of the bundle size, on two threads.
//!
//! - Thread A reads the file in 1 MiB blocks, feeds every byte to the minisign BLAKE2b
//!   prehash (outer signature), checks the gzip framing strictly and inflates.
//! - Thread B (the caller's) parses the strict ustar stream ([`canon::ustar`]), hashes each
//!   member with SHA-256, checks it against the signed bundle manifest (the first two members)
//!   and, when asked, writes it into a fresh staging directory.
//!
//! Then, in this order, the verdict: the outer signature; the archive and every member; the
//! coherence of license, manifests, runtime edition, key roles and windows, revocations and
//! sequence. The first framing or archive failure stops the reading at once (a hostile file
//! costs no more than the bytes before its first fault); the bundle manifest, the only member
//! read before it is authenticated, is checked by signature over its raw canonical bytes before
//! it is parsed.
//!
//! Extraction goes into a fresh staging directory (mode 0700); [`Verdict::install`] moves it
//! into place, which the caller does only after recording the install in its state
//! ([`crate::session`]). A staging directory that is not installed is removed.

use crate::check::Check;
use crate::error::VerifyError;
use crate::license::{date_state, verify_license, LegacyPolicy, State, VerifiedLicense};
use crate::manifest::{
    verify_bundle_manifest_buffered, verify_product_manifest, VerifiedBundleManifest,
    MAX_BUNDLE_MANIFEST_BYTES, MAX_PRODUCT_MANIFEST_BYTES,
};
use crate::policy::{self, Release};
use crate::revocation::{verify_revocations, Revocations, MAX_REVOCATIONS_BYTES};
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

/// The first two members of every bundle.
pub const MANIFEST_PATH: &str = "manifests/bundle-manifest.json";
/// The manifest's envelope.
pub const MANIFEST_SIG_PATH: &str = "manifests/bundle-manifest.sig";
/// Required members and their size caps (besides the manifest pair).
pub const REQUIRED: [(&str, usize); 5] = [
    ("CHECKSUMS.txt", canon::checksums::MAX_CHECKSUMS_BYTES),
    ("license.json", crate::license::MAX_LICENSE_BYTES),
    ("license.sig", MAX_ENVELOPE_BYTES),
    (
        "manifests/product-manifest.json",
        MAX_PRODUCT_MANIFEST_BYTES,
    ),
    ("manifests/product-manifest.sig", MAX_ENVELOPE_BYTES),
];
/// Optional members (both or neither) and their caps.
pub const OPTIONAL: [(&str, usize); 2] = [
    ("revocations.json", MAX_REVOCATIONS_BYTES),
    ("revocations.sig", MAX_ENVELOPE_BYTES),
];
/// Zero bytes allowed after the end-of-archive marker (GNU tar pads to 10 KiB records).
pub const MAX_TRAILING_ZEROS: u64 = 20 * BLOCK as u64;

const CHUNK: usize = 1 << 20;

/// What the verifier knows besides the bundle.
#[derive(Debug, Clone)]
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
        }
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
    /// Payload bytes.
    pub payload_bytes: u64,
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
            BundleError::Coherence { check, .. } => *check,
            BundleError::LicenseState(State::NotYetValid, _) => Check::LicenseNotYetValid,
            BundleError::LicenseState(..) => Check::LicenseExpired,
            BundleError::Revoked(_) => Check::LicenseRevoked,
            BundleError::State(e) => e.code(),
            BundleError::Io(_) => Check::IoError,
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
            BundleError::LicenseState(s, m) => write!(f, "license is {s}: {m}"),
            BundleError::Revoked(m) => write!(f, "license revoked: {m}"),
            BundleError::State(e) => write!(f, "{e}"),
            BundleError::Io(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for BundleError {}

/// Verifies `bundle` (the `.tar.gz` bytes as a reader) against its minisign `signature`.
pub fn verify_bundle(
    bundle: impl Read + Send,
    signature: &[u8],
    opts: &Options<'_>,
) -> Result<Verdict, BundleError> {
    let mut check = MinisignCheck::new(signature).map_err(BundleError::Signature)?;
    if let Some(dest) = opts.extract {
        if dest.exists() {
            return Err(BundleError::Io(format!(
                "{}: already exists; extraction needs a new directory",
                dest.display()
            )));
        }
    }
    let staging = match opts.extract {
        Some(dest) => Some(Staging::create(dest)?),
        None => None,
    };
    let (tx, rx) = sync_channel::<Vec<u8>>(2);
    let mut reader = TarReader::new(opts, staging);
    let (gz, tar_result) = std::thread::scope(|s| {
        let a = s.spawn(move || {
            let r = inflate(bundle, &mut check, tx);
            (check, r)
        });
        let mut tar_result = Ok(());
        for chunk in rx.iter() {
            if let Err(e) = reader.feed(&chunk) {
                tar_result = Err(e);
                break;
            }
        }
        drop(rx);
        let gz = a
            .join()
            .map_err(|_| BundleError::Io("reader thread panicked".into()));
        (gz, tar_result)
    });
    let result = (|| {
        let (check, gz_result) = gz?;
        if let Err(GzFail::Io(m)) = gz_result {
            return Err(BundleError::Io(m));
        }
        // 1. Stream faults stopped the reading, so they come first (the outer signature needs
        //    every byte). A member error found before the framing broke is the more precise.
        tar_result?;
        if let Err(GzFail::Format(m)) = gz_result {
            return Err(BundleError::Gzip(m));
        }
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

/// The one gzip header a bundle has (FORMAT.md §15): magic, deflate, no flags, MTIME 0,
/// XFL 0, OS 255 (unknown).
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

enum GzFail {
    Io(String),
    Format(String),
}

/// Thread A: read, prehash, check gzip framing, inflate. Reading stops at the first framing
/// error or as soon as the archive reader gave up: a hostile file is never read to its end.
fn inflate(
    mut r: impl Read,
    check: &mut MinisignCheck,
    tx: SyncSender<Vec<u8>>,
) -> Result<(), GzFail> {
    let mut input = vec![0u8; CHUNK];
    let mut header = Vec::with_capacity(10);
    let mut trailer = Vec::with_capacity(8);
    let mut d = Decompress::new(false);
    let mut crc = crc32fast::Hasher::new();
    let mut out = Vec::with_capacity(CHUNK);
    let mut total_out: u64 = 0;
    let mut ended = false;
    let mut failure: Option<String> = None;
    let mut receiver_gone = false;
    loop {
        let n = match r.read(&mut input) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(GzFail::Io(format!("reading bundle: {e}"))),
        };
        check.update(&input[..n]);
        if failure.is_some() || receiver_gone {
            break;
        }
        let mut data = &input[..n];
        if header.len() < 10 {
            let take = (10 - header.len()).min(data.len());
            header.extend_from_slice(&data[..take]);
            data = &data[take..];
            if header.len() == 10 && header[..] != GZIP_HEADER {
                failure = Some(format!(
                    "the gzip header must be exactly {} (deflate, no optional header fields, mtime 0, xfl 0, os 255), is {}",
                    enc::hex(&GZIP_HEADER),
                    enc::hex(&header)
                ));
                break;
            }
        }
        while !data.is_empty() && failure.is_none() && !receiver_gone {
            if ended {
                let take = (8 - trailer.len()).min(data.len());
                trailer.extend_from_slice(&data[..take]);
                data = &data[take..];
                if !data.is_empty() {
                    failure = Some(
                        "data after the gzip stream (a second member or trailing garbage)".into(),
                    );
                }
                break;
            }
            let before = d.total_in();
            let status = d.decompress_vec(data, &mut out, FlushDecompress::None);
            let used = (d.total_in() - before) as usize;
            data = &data[used..];
            match status {
                Ok(Status::StreamEnd) => ended = true,
                Ok(_) => {}
                Err(e) => failure = Some(format!("corrupt deflate data: {e}")),
            }
            if out.len() == out.capacity() || (ended && !out.is_empty()) {
                crc.update(&out);
                total_out += out.len() as u64;
                let full = std::mem::replace(&mut out, Vec::with_capacity(CHUNK));
                if tx.send(full).is_err() {
                    receiver_gone = true;
                }
            }
        }
    }
    drop(tx);
    let verdict = if let Some(f) = failure {
        Some(f)
    } else if receiver_gone {
        None
    } else if header.len() < 10 || !ended {
        Some("truncated gzip stream".into())
    } else if trailer.len() < 8 {
        Some("truncated gzip trailer".into())
    } else {
        let want_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let want_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if crc.clone().finalize() != want_crc {
            Some("CRC32 mismatch".into())
        } else if total_out as u32 != want_len {
            Some("ISIZE mismatch".into())
        } else {
            None
        }
    };
    match verdict {
        None => Ok(()),
        Some(m) => Err(GzFail::Format(m)),
    }
}

enum Phase {
    Header,
    Data { remaining: u64 },
    Padding { remaining: usize },
    End { zero_blocks: u32, trailing: u64 },
}

struct Current {
    path: String,
    size: u64,
    sha: Sha256,
    keep: Option<Vec<u8>>,
    /// The bundle manifest (first member), buffered behind its PAE header.
    pae: Option<PaeBuffer>,
    file: Option<File>,
    expected: Option<[u8; 32]>,
}

struct TarReader<'a> {
    opts: &'a Options<'a>,
    block: Vec<u8>,
    phase: Phase,
    index: usize,
    manifest: Option<VerifiedBundleManifest>,
    cur: Option<Current>,
    kept: HashMap<String, Vec<u8>>,
    manifest_doc: Option<PaeBuffer>,
    payload_bytes: u64,
    staging: Option<Staging>,
}

fn member_err(path: &str, what: impl Into<String>) -> BundleError {
    BundleError::Member {
        path: path.into(),
        what: what.into(),
    }
}

impl<'a> TarReader<'a> {
    fn new(opts: &'a Options<'a>, staging: Option<Staging>) -> Self {
        TarReader {
            opts,
            block: Vec::with_capacity(BLOCK),
            phase: Phase::Header,
            index: 0,
            manifest: None,
            cur: None,
            kept: HashMap::new(),
            manifest_doc: None,
            payload_bytes: 0,
            staging,
        }
    }

    fn feed(&mut self, mut data: &[u8]) -> Result<(), BundleError> {
        while !data.is_empty() {
            match &mut self.phase {
                Phase::Data { remaining } => {
                    let take = (*remaining).min(data.len() as u64) as usize;
                    let cur = self
                        .cur
                        .as_mut()
                        .ok_or_else(|| BundleError::Archive("internal: no member".into()))?;
                    cur.sha.update(&data[..take]);
                    if let Some(k) = &mut cur.keep {
                        k.extend_from_slice(&data[..take]);
                    }
                    if let Some(p) = &mut cur.pae {
                        p.extend(&data[..take]);
                    }
                    if let Some(f) = &mut cur.file {
                        f.write_all(&data[..take])
                            .map_err(|e| BundleError::Io(format!("staging {}: {e}", cur.path)))?;
                    }
                    *remaining -= take as u64;
                    data = &data[take..];
                    if *remaining == 0 {
                        self.end_member()?;
                    }
                }
                Phase::Padding { remaining } => {
                    let take = (*remaining).min(data.len());
                    if data[..take].iter().any(|&b| b != 0) {
                        return Err(BundleError::Archive(
                            "non-zero padding after a member".into(),
                        ));
                    }
                    *remaining -= take;
                    data = &data[take..];
                    if *remaining == 0 {
                        self.phase = Phase::Header;
                    }
                }
                Phase::Header => {
                    let take = (BLOCK - self.block.len()).min(data.len());
                    self.block.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.block.len() == BLOCK {
                        let mut b = [0u8; BLOCK];
                        b.copy_from_slice(&self.block);
                        self.block.clear();
                        self.header(&b)?;
                    }
                }
                Phase::End {
                    zero_blocks,
                    trailing,
                } => {
                    if *zero_blocks < 2 {
                        // Finish the second zero block of the end-of-archive marker.
                        let take = ((BLOCK as u64 - *trailing) as usize).min(data.len());
                        if data[..take].iter().any(|&b| b != 0) {
                            return Err(BundleError::Archive(
                                "end-of-archive marker is a single zero block followed by data"
                                    .into(),
                            ));
                        }
                        *trailing += take as u64;
                        data = &data[take..];
                        if *trailing == BLOCK as u64 {
                            *zero_blocks = 2;
                            *trailing = 0;
                        }
                        continue;
                    }
                    if data.iter().any(|&b| b != 0) {
                        return Err(BundleError::Archive(
                            "trailing non-zero data after the end-of-archive marker".into(),
                        ));
                    }
                    *trailing += data.len() as u64;
                    if *trailing > MAX_TRAILING_ZEROS {
                        return Err(BundleError::Archive(
                            "too much padding after the end-of-archive marker".into(),
                        ));
                    }
                    data = &[];
                }
            }
        }
        Ok(())
    }

    fn expected(&self) -> Option<(String, u64, u32, Option<[u8; 32]>)> {
        match (&self.manifest, self.index) {
            (None, 0) => Some((
                MANIFEST_PATH.into(),
                MAX_BUNDLE_MANIFEST_BYTES as u64,
                0,
                None,
            )),
            (None, 1) => Some((MANIFEST_SIG_PATH.into(), MAX_ENVELOPE_BYTES as u64, 0, None)),
            (Some(m), i) => m
                .manifest()
                .members
                .get(i - 2)
                .map(|x| (x.path.clone(), x.size, x.mode, enc::unhex::<32>(&x.sha256))),
            _ => None,
        }
    }

    /// Whether `path` is a member already read (for the error message only: members come in
    /// the signed manifest's order, so the members before this one are the ones read).
    fn already_read(&self, path: &str) -> bool {
        let head = [MANIFEST_PATH, MANIFEST_SIG_PATH];
        head[..self.index.min(2)].contains(&path)
            || self.manifest.as_ref().is_some_and(|m| {
                m.manifest()
                    .members
                    .iter()
                    .take(self.index.saturating_sub(2))
                    .any(|x| x.path == path)
            })
    }

    fn header(&mut self, b: &[u8; BLOCK]) -> Result<(), BundleError> {
        if b.iter().all(|&x| x == 0) {
            if let Some((next, ..)) = self.expected() {
                return Err(member_err(
                    &next,
                    "listed in the signed manifest but missing from the archive",
                ));
            }
            self.phase = Phase::End {
                zero_blocks: 1,
                trailing: 0,
            };
            return Ok(());
        }
        let h = ustar::decode(b)
            .map_err(|e| BundleError::Archive(format!("member {}: {e}", self.index + 1)))?;
        let path = h.path.as_str().to_string();
        let Some((want, size, mode, sha)) = self.expected() else {
            let what = if self.already_read(&path) {
                "duplicate member"
            } else {
                "not listed in the signed manifest (extra member)"
            };
            return Err(member_err(&path, what));
        };
        if path != want {
            let listed = self
                .manifest
                .as_ref()
                .is_some_and(|m| m.manifest().members.iter().any(|x| x.path == path));
            let what = if self.already_read(&path) {
                "duplicate member".to_string()
            } else if listed {
                format!("out of order: the signed manifest lists {want} here")
            } else if self.index < 2 {
                format!("a bundle starts with {MANIFEST_PATH} and {MANIFEST_SIG_PATH}")
            } else {
                "not listed in the signed manifest (extra member)".to_string()
            };
            return Err(member_err(&path, what));
        }
        if self.manifest.is_some() {
            if h.size != size {
                return Err(member_err(
                    &path,
                    format!("size {} differs from the signed manifest's {size}", h.size),
                ));
            }
            if h.mode != mode {
                return Err(member_err(
                    &path,
                    format!(
                        "mode {:o} differs from the signed manifest's {mode:o}",
                        h.mode
                    ),
                ));
            }
        } else if h.size > size {
            return Err(member_err(&path, format!("larger than {size} bytes")));
        }
        // Sizes here are within the member's cap (checked above): buffers are sized once.
        let pae =
            (self.index == 0).then(|| PaeBuffer::new(canon::Kind::BundleManifest, h.size as usize));
        let keep = self.index == 1
            || REQUIRED
                .iter()
                .chain(OPTIONAL.iter())
                .any(|(p, _)| *p == path);
        let file = match &self.staging {
            Some(st) => Some(st.file(&h.path, h.mode)?),
            _ => None,
        };
        if path.starts_with("payload/") {
            self.payload_bytes += h.size;
        }
        self.cur = Some(Current {
            path,
            size: h.size,
            sha: Sha256::new(),
            keep: keep.then(|| Vec::with_capacity(h.size as usize)),
            pae,
            file,
            expected: sha,
        });
        self.phase = Phase::Data { remaining: h.size };
        if h.size == 0 {
            self.end_member()?;
        }
        Ok(())
    }

    fn end_member(&mut self) -> Result<(), BundleError> {
        let cur = self
            .cur
            .take()
            .ok_or_else(|| BundleError::Archive("internal: no member".into()))?;
        let digest: [u8; 32] = cur.sha.finalize().into();
        if let Some(want) = cur.expected {
            if digest != want {
                return Err(member_err(
                    &cur.path,
                    "SHA-256 differs from the signed manifest",
                ));
            }
        }
        if let Some(f) = cur.file {
            f.sync_all()
                .map_err(|e| BundleError::Io(format!("staging {}: {e}", cur.path)))?;
        }
        if let Some(k) = cur.keep {
            self.kept.insert(cur.path.clone(), k);
        }
        if let Some(p) = cur.pae {
            self.manifest_doc = Some(p);
        }
        self.index += 1;
        if self.index == 2 {
            self.verify_manifest()?;
        }
        // Member data is padded to a whole block.
        let pad = (BLOCK - (cur.size % BLOCK as u64) as usize) % BLOCK;
        self.phase = if pad == 0 {
            Phase::Header
        } else {
            Phase::Padding { remaining: pad }
        };
        Ok(())
    }

    fn verify_manifest(&mut self) -> Result<(), BundleError> {
        let doc = self
            .manifest_doc
            .take()
            .unwrap_or_else(|| PaeBuffer::new(canon::Kind::BundleManifest, 0));
        let sig = self.kept.remove(MANIFEST_SIG_PATH).unwrap_or_default();
        let m = verify_bundle_manifest_buffered(self.opts.trust, doc, &sig)
            .map_err(BundleError::Manifest)?;
        // Required and optional members, with their size caps; everything else under payload/.
        let members = &m.manifest().members;
        for (p, cap) in REQUIRED {
            match members.iter().find(|x| x.path == p) {
                None => {
                    return Err(member_err(
                        p,
                        "required, but the signed manifest does not list it",
                    ))
                }
                Some(x) if x.size > cap as u64 => {
                    return Err(member_err(p, format!("larger than {cap} bytes")))
                }
                _ => {}
            }
        }
        let opt: Vec<bool> = OPTIONAL
            .iter()
            .map(|(p, _)| members.iter().any(|x| x.path == *p))
            .collect();
        if opt[0] != opt[1] {
            return Err(member_err(
                "revocations.json",
                "revocations.json and revocations.sig come together",
            ));
        }
        for (p, cap) in OPTIONAL {
            if let Some(x) = members.iter().find(|x| x.path == p) {
                if x.size > cap as u64 {
                    return Err(member_err(p, format!("larger than {cap} bytes")));
                }
            }
        }
        for x in members {
            let known = REQUIRED
                .iter()
                .chain(OPTIONAL.iter())
                .any(|(p, _)| *p == x.path);
            if !known && !x.path.starts_with("payload/") {
                return Err(member_err(
                    &x.path,
                    "outside payload/ and not a bundle metadata file",
                ));
            }
        }
        self.manifest = Some(m);
        Ok(())
    }

    fn finish_stream(&self) -> Result<(), BundleError> {
        match self.phase {
            Phase::End {
                zero_blocks: 2..,
                trailing,
            } if trailing % BLOCK as u64 == 0 => Ok(()),
            Phase::End {
                zero_blocks: 2.., ..
            } => Err(BundleError::Archive(
                "padding after the end-of-archive marker is not whole 512-byte blocks".into(),
            )),
            Phase::End { .. } => Err(BundleError::Archive(
                "end-of-archive marker incomplete (one zero block)".into(),
            )),
            _ => Err(BundleError::Archive(match &self.cur {
                Some(c) => format!("truncated inside member {}", c.path),
                None => "truncated: no end-of-archive marker".into(),
            })),
        }
    }

    fn coherence(&self, opts: &Options<'_>) -> Result<Verdict, BundleError> {
        let bm = self
            .manifest
            .as_ref()
            .ok_or_else(|| BundleError::Archive("no bundle manifest".into()))?;
        let m = bm.manifest();
        let get = |p: &str| self.kept.get(p).map(Vec::as_slice).unwrap_or_default();
        let co = |check: Check, detail: String| BundleError::Coherence { check, detail };
        let mut warnings = Vec::new();

        let lic: VerifiedLicense = verify_license(
            opts.trust,
            get("license.json"),
            Some(get("license.sig")),
            &opts.legacy,
            opts.now,
        )
        .map_err(BundleError::License)?;
        if lic.is_legacy() {
            warnings.push("the bundled license is a deprecated schema-2 license".into());
        }
        let l = lic.license();
        if l.license_id != m.license_id || lic.sha256() != m.license_sha256 {
            return Err(co(
                Check::LicenseMismatch,
                format!(
                    "the manifest names license {} ({}), the bundle holds {} ({})",
                    m.license_id,
                    m.license_sha256,
                    l.license_id,
                    lic.sha256()
                ),
            ));
        }
        if l.customer.id != m.customer.id {
            return Err(co(
                Check::CustomerMismatch,
                format!(
                    "the manifest is for customer {}, the license for {}",
                    m.customer.id, l.customer.id
                ),
            ));
        }
        let pm = verify_product_manifest(
            opts.trust,
            get("manifests/product-manifest.json"),
            get("manifests/product-manifest.sig"),
            bm.created_at(),
        )
        .map_err(BundleError::Manifest)?;
        let p = pm.manifest();
        if pm.sha256() != m.product_manifest_sha256
            || p.product != m.product
            || p.version != m.version
        {
            return Err(co(
                Check::ProductManifestMismatch,
                format!(
                    "the bundle manifest names {} {} ({}), the product manifest is {} {} ({})",
                    m.product,
                    m.version,
                    m.product_manifest_sha256,
                    p.product,
                    p.version,
                    pm.sha256()
                ),
            ));
        }
        let t = lic.times();
        let release = Release::new(p, m.airgap, bm.created_at())
            .for_runtime(opts.edition, opts.runtime_version);
        policy::coherence(l, t, &release)?;
        let state = date_state(t, l.grace_days, opts.now, opts.warn_days);
        match state {
            State::NotYetValid => {
                return Err(BundleError::LicenseState(
                    state,
                    format!("valid from {}", t.not_before),
                ))
            }
            State::Expired => {
                return Err(BundleError::LicenseState(
                    state,
                    format!("expired at {} (grace {} days)", t.expires_at, l.grace_days),
                ))
            }
            State::Grace => warnings.push(format!(
                "license expired at {}; in grace for {} days: renew now",
                t.expires_at, l.grace_days
            )),
            State::ExpiringSoon => warnings.push(format!("license expires at {}", t.expires_at)),
            _ => {}
        }
        // Signed times bound the clock from below (a clock set back before the vendor signed).
        let state_err = BundleError::State;
        check_signed_time(opts.now, bm.created_at(), "the bundle's created_at")
            .map_err(state_err)?;
        check_signed_time(opts.now, t.issued_at, "the license's issued_at").map_err(state_err)?;
        let known = opts.known;
        if let Some(why) = known.and_then(|k| k.revoked.get(&l.license_id)) {
            return Err(BundleError::Revoked(format!(
                "{} was revoked by a revocation list this runtime already accepted: {why}",
                l.license_id
            )));
        }
        let mut revocations = None;
        if self.kept.contains_key("revocations.json") {
            let r = verify_revocations(opts.trust, get("revocations.json"), get("revocations.sig"))
                .map_err(BundleError::Manifest)?;
            check_revocation_order(known.and_then(|k| k.revocations.as_ref()), &r)
                .map_err(state_err)?;
            check_signed_time(opts.now, r.issued_at(), "the revocation list's issued_at")
                .map_err(state_err)?;
            if let Some(why) = r.reason(&l.license_id) {
                return Err(BundleError::Revoked(format!(
                    "{} is listed in revocation list #{}: {why}",
                    l.license_id,
                    r.sequence()
                )));
            }
            revocations = Some(r);
        }
        if let Some(seen) = known.and_then(|k| k.bundle_sequence(&m.product, &m.customer.id)) {
            if m.sequence < seen {
                return Err(BundleError::State(StateError::Rollback {
                    what: "bundle sequence",
                    found: m.sequence,
                    seen,
                }));
            }
        }
        let sums = canon::checksums::parse(get("CHECKSUMS.txt"))
            .map_err(|e| co(Check::ChecksumsMismatch, e.to_string()))?;
        let payload: HashMap<&str, &str> = m
            .members
            .iter()
            .filter(|x| x.path.starts_with("payload/"))
            .map(|x| (x.path.as_str(), x.sha256.as_str()))
            .collect();
        if sums.len() != payload.len() {
            return Err(co(
                Check::ChecksumsMismatch,
                format!(
                    "CHECKSUMS.txt lists {} files, the payload has {}",
                    sums.len(),
                    payload.len()
                ),
            ));
        }
        // Names in CHECKSUMS.txt are unique (its parser refuses duplicates), so equal counts
        // and every entry found means the same set.
        for e in &sums {
            if payload.get(e.name.as_str()) != Some(&enc::hex(&e.sha256).as_str()) {
                return Err(co(
                    Check::ChecksumsMismatch,
                    format!(
                        "CHECKSUMS.txt entry {} does not match the signed manifest",
                        e.name
                    ),
                ));
            }
        }
        Ok(Verdict {
            bundle_id: m.bundle_id.clone(),
            product: p.product.clone(),
            version: p.version.clone(),
            edition: p.edition.clone(),
            customer: (l.customer.id.clone(), l.customer.name.clone()),
            license_id: l.license_id.clone(),
            license_state: state,
            sequence: m.sequence,
            created_at: bm.created_at(),
            members: self.index,
            payload_bytes: self.payload_bytes,
            revocations_sequence: revocations.as_ref().map(Revocations::sequence),
            revocations,
            signed_by: bm.signer(),
            warnings,
            extracted_to: None,
            staged: None,
        })
    }
}

/// A fresh staging directory (mode 0700) next to the destination, moved into place only by
/// [`Verdict::install`]; removed when dropped before that.
#[derive(Debug)]
struct Staging {
    dir: PathBuf,
    dest: PathBuf,
    done: bool,
}

/// Refuses a destination whose parent others can write to without the sticky bit: someone
/// else could swap the staging directory between verification and install.
#[cfg(unix)]
fn check_parent(parent: &Path) -> Result<(), BundleError> {
    use std::os::unix::fs::MetadataExt;
    let md =
        fs::metadata(parent).map_err(|e| BundleError::Io(format!("{}: {e}", parent.display())))?;
    if md.mode() & 0o022 != 0 && md.mode() & 0o1000 == 0 {
        return Err(BundleError::Io(format!(
            "{}: writable by group or others without the sticky bit; extract under a directory only you can write to",
            parent.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_parent(_parent: &Path) -> Result<(), BundleError> {
    Ok(())
}

impl Staging {
    fn create(dest: &Path) -> Result<Staging, BundleError> {
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .ok_or_else(|| BundleError::Io(format!("{}: not a directory name", dest.display())))?;
        check_parent(&parent)?;
        let dir = parent.join(format!(
            ".{}.staging-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let mut b = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&dir)
            .map_err(|e| BundleError::Io(format!("{}: {e}", dir.display())))?;
        Ok(Staging {
            dir,
            dest: dest.to_path_buf(),
            done: false,
        })
    }

    fn file(&self, path: &canon::path::SafePath, mode: u32) -> Result<File, BundleError> {
        // SafePath cannot escape; the staging tree holds only what this process created.
        let target = self.dir.join(path.as_str());
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| BundleError::Io(format!("staging {path}: {e}")))?;
        }
        let mut o = fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(mode);
        }
        let _ = mode;
        o.open(&target)
            .map_err(|e| BundleError::Io(format!("staging {path}: {e}")))
    }

    /// Renames the staging directory to the destination; on any failure it is removed.
    fn commit(mut self) -> Result<PathBuf, BundleError> {
        if self.dest.exists() {
            return Err(BundleError::Io(format!(
                "{}: appeared during verification; nothing was installed",
                self.dest.display()
            )));
        }
        fs::rename(&self.dir, &self.dest)
            .map_err(|e| BundleError::Io(format!("{}: {e}", self.dest.display())))?;
        self.done = true;
        Ok(self.dest.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
