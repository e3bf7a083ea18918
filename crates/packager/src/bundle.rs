//! `packager bundle`: builds a customer's delivery set — `<name>.tar.gz`, `<name>.tar.gz.sig`
//! (minisign prehashed) and `CHECKSUMS.txt` — refusing anything the runtime would reject.
//!
//! Archive layout (docs/FORMAT.md §15): the head section holds `manifests/bundle-manifest.json`,
//! `manifests/bundle-manifest.sig` and `CHECKSUMS.txt`; the rest section the license, the
//! product manifest, the revocation list when given and `payload/…` sorted by path. The rest
//! section is built first, in one read of each payload file (hashing and archiving in the same
//! pass, compressed in parallel into a temporary file); the head section, which needs those
//! hashes, is compressed on its own and put in front, and the gzip CRCs are combined.

use crate::gz::{self, ChunkSink};
pub use crate::inputs::coherence;
use crate::inputs::{inputs, next_sequence, Inputs, Sequence};
use anyhow::{bail, Context, Result};
use canon::path::SafePath;
use canon::{checksums, enc, ustar, Kind, Timestamp, Value};
use runtime::manifest::{BundleManifest, Member};
use runtime::Artifact;
use runtime::TrustStore;
use sha2::{Digest, Sha256};
use signing::SecretKey;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Default compression level (gzip's default). Level 2 or higher keeps incompressible data
/// stored, which keeps verification fast.
pub const DEFAULT_LEVEL: u32 = 6;

/// What to build.
pub struct Request<'a> {
    /// Directory with `license.json` and `license.sig`.
    pub license_dir: &'a Path,
    /// Payload directory (regular files and directories only).
    pub payload: &'a Path,
    /// The vendor's product manifest (unsigned input).
    pub product_manifest: &'a Path,
    /// A release key.
    pub key: &'a SecretKey,
    /// Output directory.
    pub out: &'a Path,
    /// Build an air-gap bundle (needs the `airgap_bundle` feature).
    pub airgap: bool,
    /// Base name of the delivery files.
    pub name: Option<String>,
    /// Explicit bundle sequence.
    pub sequence: Option<u64>,
    /// Directory with `revocations.json` and `revocations.sig`.
    pub revocations: Option<&'a Path>,
    /// Creation time (fixed for reproducible builds).
    pub created_at: Timestamp,
    /// Trust file: when given, license and revocations are fully verified.
    pub trust: Option<&'a TrustStore>,
    /// Compression level 2–9.
    pub level: u32,
    /// Compression threads.
    pub threads: usize,
    /// Sequence state file (last sequence per product and customer).
    pub state: &'a Path,
    /// Seal the payload members (`--encrypt`), writing the build record.
    pub encrypt: Option<crate::encrypt::Encrypt<'a>>,
}

/// The delivery set.
#[derive(Debug, Clone)]
pub struct Built {
    /// `<name>.tar.gz`.
    pub archive: PathBuf,
    /// `<name>.tar.gz.sig`.
    pub signature: PathBuf,
    /// `CHECKSUMS.txt`.
    pub checksums: PathBuf,
    /// Bundle id.
    pub bundle_id: String,
    /// Bundle sequence.
    pub sequence: u64,
    /// Archive size.
    pub archive_bytes: u64,
    /// Members including the manifest pair.
    pub members: usize,
    /// Payload bytes (before sealing).
    pub payload_bytes: u64,
    /// The build record written (`--encrypt`).
    pub record: Option<PathBuf>,
}

struct Source {
    path: SafePath,
    mode: u32,
    size: u64,
    content: Content,
}

enum Content {
    Bytes(Vec<u8>),
    File(PathBuf),
    /// A payload file deflated into scratch space and sealed as it is archived.
    Sealed(PathBuf),
}

/// Walks the payload: regular files and directories only; anything else (symlink, device,
/// FIFO, socket), an unreadable entry or an unsafe or non-UTF-8 name is an error naming it.
pub fn scan_payload(root: &Path) -> Result<Vec<(SafePath, PathBuf, u64, u32)>> {
    let meta = fs::symlink_metadata(root).with_context(|| format!("payload {}", root.display()))?;
    if !meta.is_dir() {
        bail!("payload {} is not a directory", root.display());
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false).min_depth(1) {
        let entry = entry.with_context(|| format!("payload {}: cannot read", root.display()))?;
        let path = entry.path();
        let ft = entry.file_type();
        if ft.is_dir() {
            // Bundles hold files only: an empty directory would silently not reach the
            // customer, so it is refused rather than dropped.
            let empty = fs::read_dir(path)
                .with_context(|| format!("payload {}: cannot read", path.display()))?
                .next()
                .is_none();
            if empty {
                bail!(
                    "payload {} is an empty directory; bundles hold files only, so it would not reach the customer: put a file in it (e.g. .keep) or remove it",
                    path.display()
                );
            }
            continue;
        }
        if !ft.is_file() {
            let kind = if ft.is_symlink() {
                "a symbolic link"
            } else {
                "not a regular file (device, FIFO or socket)"
            };
            bail!(
                "payload {} is {kind}; only regular files and directories are allowed",
                path.display()
            );
        }
        let rel = path.strip_prefix(root).context("payload walk")?;
        let rel = rel
            .to_str()
            .with_context(|| format!("payload {}: name is not UTF-8", path.display()))?;
        let name = format!("payload/{}", rel.replace(std::path::MAIN_SEPARATOR, "/"));
        let safe = SafePath::new(&name)
            .with_context(|| format!("payload {}: unsafe name", path.display()))?;
        let md = entry
            .metadata()
            .with_context(|| format!("payload {}", path.display()))?;
        #[cfg(unix)]
        let exec = {
            use std::os::unix::fs::PermissionsExt;
            md.permissions().mode() & 0o111 != 0
        };
        #[cfg(not(unix))]
        let exec = false;
        let mode = if exec { 0o755 } else { 0o644 };
        // Fail early on names ustar cannot hold, and on unreadable files.
        ustar::encode(&safe, md.len(), mode)
            .map_err(|e| anyhow::anyhow!("payload {}: {e}", path.display()))?;
        File::open(path).with_context(|| format!("payload {}: cannot be read", path.display()))?;
        out.push((safe, path.to_path_buf(), md.len(), mode));
    }
    out.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    if out.len() > runtime::manifest::MAX_MEMBERS - 16 {
        bail!(
            "payload has {} files; a bundle holds at most {}",
            out.len(),
            runtime::manifest::MAX_MEMBERS - 16
        );
    }
    Ok(out)
}

/// The rest section's sources in archive order (license, product manifest, revocations, then
/// the payload), and the payload's size.
fn sources(req: &Request<'_>, inp: &Inputs) -> Result<(Vec<Source>, u64)> {
    // Sources of the rest section, in archive order.
    let payload = scan_payload(req.payload)?;
    // The runtime keeps CHECKSUMS.txt in memory under a cap: refuse a payload whose list
    // would not fit, before anything is built (the line is `<64 hex>  <name>\n`).
    let sums_len: usize = payload
        .iter()
        .map(|p| 64 + 2 + p.0.as_str().len() + 1)
        .sum();
    if sums_len > canon::checksums::MAX_CHECKSUMS_BYTES {
        bail!(
            "the payload's CHECKSUMS.txt would be {sums_len} bytes, over the {} a runtime accepts; split the payload into several bundles or use fewer, larger files",
            canon::checksums::MAX_CHECKSUMS_BYTES
        );
    }
    let mut rest: Vec<Source> = Vec::new();
    let mut bytes = |p: &str, b: Vec<u8>| -> Result<()> {
        rest.push(Source {
            path: SafePath::new(p)?,
            mode: 0o644,
            size: b.len() as u64,
            content: Content::Bytes(b),
        });
        Ok(())
    };
    use runtime::manifest::{
        LICENSE_PATH, LICENSE_SIG_PATH, PRODUCT_MANIFEST_PATH, PRODUCT_MANIFEST_SIG_PATH,
        REVOCATIONS_PATH, REVOCATIONS_SIG_PATH,
    };
    bytes(LICENSE_PATH, inp.lic_json.clone())?;
    bytes(LICENSE_SIG_PATH, inp.lic_sig.clone())?;
    bytes(PRODUCT_MANIFEST_PATH, inp.pm_pretty.clone())?;
    bytes(PRODUCT_MANIFEST_SIG_PATH, inp.pm_sig.clone())?;
    if let Some((doc, sig)) = inp.revocations.clone() {
        bytes(REVOCATIONS_PATH, doc)?;
        bytes(REVOCATIONS_SIG_PATH, sig)?;
    }
    let payload_bytes: u64 = payload.iter().map(|p| p.2).sum();
    for (safe, path, size, mode) in payload {
        // A sealed member's size is known once it is deflated (`write_member`).
        let content = match req.encrypt {
            Some(_) => Content::Sealed(path),
            None => Content::File(path),
        };
        rest.push(Source {
            path: safe,
            mode,
            size,
            content,
        });
    }

    Ok((rest, payload_bytes))
}

/// Writes the rest section (one read of each source, hashed and archived in the same pass)
/// into `rest_tmp`: its gzip section and the members it holds.
fn write_rest(
    req: &Request<'_>,
    rest: &[Source],
    rest_tmp: &Path,
    progress: &mut (impl FnMut(u64) + Send),
) -> Result<(gz::Section, Vec<Member>)> {
    let mut members: Vec<Member> = Vec::with_capacity(rest.len());
    let rest_section = {
        let mut f = BufWriter::with_capacity(
            1 << 20,
            File::create(rest_tmp).with_context(|| format!("{}", rest_tmp.display()))?,
        );
        let members_ref = &mut members;
        let progress_ref = progress;
        let section = gz::compress_parallel(
            move |sink| {
                for s in rest {
                    let key = req.encrypt.as_ref().map(|e| (&e.content_key, rest_tmp));
                    let (sha, size) = write_member(sink, s, key, progress_ref)?;
                    members_ref.push(Member {
                        path: s.path.to_string(),
                        size,
                        sha256: enc::hex(&sha),
                        mode: s.mode,
                    });
                }
                sink.write(&[0u8; 2 * ustar::BLOCK])
            },
            &mut f,
            req.level,
            req.threads,
        )?;
        f.flush()?;
        f.get_ref().sync_all()?;
        section
    };
    Ok((rest_section, members))
}

/// A signed bundle manifest: the manifest, its canonical bytes, its envelope, and the payload's
/// CHECKSUMS.txt it lists first.
struct Signed {
    manifest: BundleManifest,
    canonical: Vec<u8>,
    signature: Vec<u8>,
    checksums: Vec<u8>,
}

/// The signed bundle manifest over every member (CHECKSUMS.txt of the payload first).
fn manifest(
    req: &Request<'_>,
    inp: &Inputs,
    name: &str,
    sequence: u64,
    members: Vec<Member>,
) -> Result<Signed> {
    let sums: Vec<checksums::Entry> = members
        .iter()
        .filter(|m| m.path.starts_with("payload/"))
        .map(|m| {
            Ok(checksums::Entry {
                name: SafePath::new(&m.path)?,
                sha256: enc::unhex::<32>(&m.sha256).context("hash")?,
            })
        })
        .collect::<Result<_>>()?;
    let inner_sums = checksums::write(&sums).into_bytes();
    let mut all_members = vec![Member {
        path: runtime::manifest::CHECKSUMS_PATH.into(),
        size: inner_sums.len() as u64,
        sha256: enc::sha256_hex(&inner_sums),
        mode: 0o644,
    }];
    all_members.extend(members);
    let bundle_id = format!(
        "bnd-{}",
        &enc::sha256_hex(
            format!(
                "{}|{}|{}|{}|{sequence}",
                enc::sha256_hex(&inp.lic_canonical),
                enc::sha256_hex(&inp.pm_canonical),
                req.created_at,
                name
            )
            .as_bytes()
        )[..16]
    );
    let manifest = BundleManifest {
        doc_type: "airlock-bundle-manifest".into(),
        bundle_id: bundle_id.clone(),
        created_at: req.created_at.to_string(),
        airgap: req.airgap,
        product: inp.pm.product.clone(),
        version: inp.pm.version.clone(),
        customer: inp.license.customer.clone(),
        encryption: None,
        license_id: inp.license.license_id.clone(),
        license_sha256: enc::sha256_hex(&inp.lic_canonical),
        product_manifest_sha256: enc::sha256_hex(&inp.pm_canonical),
        sequence,
        members: all_members,
    };
    let manifest = BundleManifest {
        encryption: req
            .encrypt
            .as_ref()
            .map(|e| crate::encrypt::manifest_member(&e.content_key)),
        ..manifest
    };
    manifest.validate().context("bundle manifest")?;
    let manifest_canonical = canon::canonicalize(&serde_json::to_vec(&manifest)?)?;
    if manifest_canonical.len() > runtime::manifest::MAX_BUNDLE_MANIFEST_BYTES {
        bail!(
            "the bundle manifest would be {} bytes, over the {} a runtime accepts; split the payload into several bundles",
            manifest_canonical.len(),
            runtime::manifest::MAX_BUNDLE_MANIFEST_BYTES
        );
    }
    let manifest_env = req
        .key
        .sign_document(Kind::BundleManifest, &manifest_canonical)?;
    Ok(Signed {
        manifest,
        canonical: manifest_canonical,
        signature: manifest_env.to_bytes(),
        checksums: inner_sums,
    })
}

/// Builds the delivery set.
pub fn build(req: &Request<'_>, mut progress: impl FnMut(u64) + Send) -> Result<Built> {
    let inp = inputs(req)?;
    let Sequence {
        mut state,
        key: state_key,
        stored,
        sequence,
    } = next_sequence(req, &inp.license)?;
    let (pm, license) = (inp.pm.clone(), inp.license.clone());
    let (rest, payload_bytes) = sources(req, &inp)?;
    fs::create_dir_all(req.out).with_context(|| format!("{}", req.out.display()))?;
    let name = req.name.clone().unwrap_or_else(|| {
        format!(
            "{}-{}-{}-{sequence}",
            pm.product, pm.version, license.customer.id
        )
    });
    signing::keyfile::check_name(&name)
        .map_err(|_| anyhow::anyhow!("--name {name:?} must be a simple file name"))?;
    let archive = req.out.join(format!("{name}.tar.gz"));
    let signature = req.out.join(format!("{name}.tar.gz.sig"));
    let checksums_path = req.out.join("CHECKSUMS.txt");
    for p in [&archive, &signature] {
        if p.exists() {
            bail!("{} already exists; refusing to overwrite", p.display());
        }
    }
    // Several deliveries may share a directory: their CHECKSUMS.txt lists them all. One that
    // is there already must parse, and must not name the files this delivery writes.
    let earlier = earlier_checksums(&checksums_path, &[&archive, &signature])?;
    let tmp = |suffix: &str| {
        req.out
            .join(format!(".{name}.{suffix}-{}", std::process::id()))
    };
    let rest_tmp = tmp("rest");
    let result = (|| -> Result<Built> {
        let (rest_section, members) = write_rest(req, &rest, &rest_tmp, &mut progress)?;
        let Signed {
            manifest,
            canonical: manifest_canonical,
            signature: manifest_sig,
            checksums: inner_sums,
        } = manifest(req, &inp, &name, sequence, members)?;
        let bundle_id = manifest.bundle_id.clone();
        let mut head = Vec::new();
        for (p, b) in [
            // Stored canonical: the runtime checks its signature over these raw bytes first.
            (runtime::bundle::MANIFEST_PATH, &manifest_canonical),
            (runtime::bundle::MANIFEST_SIG_PATH, &manifest_sig),
            (runtime::manifest::CHECKSUMS_PATH, &inner_sums),
        ] {
            head.extend_from_slice(&ustar::encode(&SafePath::new(p)?, b.len() as u64, 0o644)?);
            head.extend_from_slice(b);
            head.resize(head.len().div_ceil(ustar::BLOCK) * ustar::BLOCK, 0);
        }
        let head_deflate = gz::deflate_piece(&head, req.level, false)?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head);
        crc.combine(&rest_section.crc);
        let total_len = head.len() as u64 + rest_section.len;
        // Final archive: header, head, rest, trailer; hashed as written.
        let archive_tmp = tmp("tar.gz");
        let trailer = (crc.finalize(), total_len as u32);
        let (sha, blake, archive_bytes) =
            assemble(&archive_tmp, &head_deflate, &rest_tmp, trailer)?;
        fs::remove_file(&rest_tmp).ok();
        let comment = format!(
            "bundle_id:{bundle_id}\tproduct:{}\tversion:{}\tkey_id:{}\ttimestamp:{}\tfile:{name}.tar.gz",
            pm.product,
            pm.version,
            req.key.key_id(),
            req.created_at.0
        );
        let sig_text = req.key.sign_minisign_digest(&blake, &comment)?;
        let mut entries = earlier.clone();
        entries.extend([
            checksums::Entry {
                name: SafePath::new(&format!("{name}.tar.gz"))?,
                sha256: sha,
            },
            checksums::Entry {
                name: SafePath::new(&format!("{name}.tar.gz.sig"))?,
                sha256: enc::sha256(sig_text.as_bytes()),
            },
        ]);
        let outer = checksums::write(&entries);
        // Refuse up front whatever the runtime would refuse: verify the finished archive with
        // the runtime's own verifier, at the bundle's creation time, before anything is moved
        // into place or the sequence is consumed.
        if let Some(trust) = req.trust {
            let opts =
                runtime::bundle::Options::new(trust, req.created_at, env!("CARGO_PKG_VERSION"));
            let f =
                File::open(&archive_tmp).with_context(|| format!("{}", archive_tmp.display()))?;
            if let Err(e) = runtime::bundle::verify_bundle(
                std::io::BufReader::with_capacity(1 << 20, f),
                sig_text.as_bytes(),
                &opts,
            ) {
                bail!(
                    "the runtime would reject this bundle [{}]: {e}; nothing was written",
                    e.code()
                );
            }
        }
        // The build record before the bundle: a bundle whose key was lost cannot be opened.
        let record = match &req.encrypt {
            Some(e) => {
                let bytes = crate::encrypt::record(e, &manifest, &inp.pm, req.key, req.created_at)?;
                let at = e.record.map_or_else(
                    || req.out.join(format!("{name}.build.json")),
                    Path::to_path_buf,
                );
                signing::fsutil::write_atomic(&at, &bytes, 0o644, true)
                    .with_context(|| format!("{}", at.display()))?;
                Some(at)
            }
            None => None,
        };
        signing::fsutil::write_atomic(&signature, sig_text.as_bytes(), 0o644, false)?;
        fs::rename(&archive_tmp, &archive).with_context(|| format!("{}", archive.display()))?;
        signing::fsutil::write_atomic(&checksums_path, outer.as_bytes(), 0o644, true)?;
        Ok(Built {
            archive: archive.clone(),
            signature: signature.clone(),
            checksums: checksums_path.clone(),
            bundle_id,
            sequence,
            archive_bytes,
            members: manifest.members.len() + 2,
            payload_bytes,
            record,
        })
    })();
    let _ = fs::remove_file(&rest_tmp);
    let _ = fs::remove_file(tmp("tar.gz"));
    let built = result?;
    // Remember the sequence (never lowering it).
    let newest = stored.map_or(sequence, |s| s.max(sequence));
    state.retain(|(k, _)| *k != state_key);
    state.push((state_key, Value::Number(newest as f64)));
    let doc = Value::object(state).context("state")?;
    signing::fsutil::write_atomic(req.state, &doc.to_pretty(), 0o644, true)
        .with_context(|| format!("{}", req.state.display()))?;
    Ok(built)
}

/// Writes the final archive: the gzip header, the head section, the rest section (copied from
/// `rest_tmp`) and the trailer (CRC-32, ISIZE); returns its SHA-256, BLAKE2b-512 and size.
fn assemble(
    archive_tmp: &Path,
    head_deflate: &[u8],
    rest_tmp: &Path,
    (crc, isize): (u32, u32),
) -> Result<([u8; 32], [u8; 64], u64)> {
    let mut w = HashingWriter::new(
        File::create(archive_tmp).with_context(|| format!("{}", archive_tmp.display()))?,
    );
    w.write_all(&gz::HEADER)?;
    w.write_all(head_deflate)?;
    let mut r = File::open(rest_tmp)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n])?;
    }
    w.write_all(&crc.to_le_bytes())?;
    w.write_all(&isize.to_le_bytes())?;
    w.finish()
}

/// Archives one member (a sealed one deflated first into scratch space beside `rest_tmp`):
/// its SHA-256 and size as shipped.
fn write_member(
    sink: &mut ChunkSink,
    s: &Source,
    key: Option<(&seal::ContentKey, &Path)>,
    progress: &mut impl FnMut(u64),
) -> Result<([u8; 32], u64)> {
    if let Content::Sealed(p) = &s.content {
        let (key, rest_tmp) = key.context("a sealed member needs the content key")?;
        let scratch = rest_tmp.with_extension("deflated");
        let mut sha = Sha256::new();
        let size = crate::encrypt::seal_file(
            key,
            (&s.path, s.mode),
            p,
            &scratch,
            sink,
            &mut |b: &[u8]| sha.update(b),
            progress,
        );
        let _ = fs::remove_file(&scratch);
        return Ok((sha.finalize().into(), size?));
    }
    sink.write(&ustar::encode(&s.path, s.size, s.mode)?)?;
    let mut sha = Sha256::new();
    match &s.content {
        Content::Sealed(_) => unreachable!("sealed members are archived above"),
        Content::Bytes(b) => {
            sha.update(b);
            sink.write(b)?;
        }
        Content::File(p) => {
            let mut f = File::open(p).with_context(|| format!("payload {}", p.display()))?;
            let mut buf = vec![0u8; 256 * 1024];
            let mut seen = 0u64;
            loop {
                let n = f
                    .read(&mut buf)
                    .with_context(|| format!("payload {}", p.display()))?;
                if n == 0 {
                    break;
                }
                seen += n as u64;
                if seen > s.size {
                    bail!("payload {} grew while being packaged", p.display());
                }
                sha.update(&buf[..n]);
                sink.write(&buf[..n])?;
                progress(n as u64);
            }
            if seen != s.size {
                bail!("payload {} changed size while being packaged", p.display());
            }
        }
    }
    let pad = (ustar::BLOCK - (s.size % ustar::BLOCK as u64) as usize) % ustar::BLOCK;
    sink.write(&[0u8; ustar::BLOCK][..pad])?;
    Ok((sha.finalize().into(), s.size))
}

/// A writer that computes SHA-256 and BLAKE2b-512 of everything written.
struct HashingWriter {
    inner: BufWriter<File>,
    sha: Sha256,
    blake: canon::minisign::Prehash,
    len: u64,
}

impl HashingWriter {
    fn new(f: File) -> Self {
        HashingWriter {
            inner: BufWriter::with_capacity(1 << 20, f),
            sha: Sha256::new(),
            blake: canon::minisign::Prehash::new(),
            len: 0,
        }
    }

    fn finish(mut self) -> Result<([u8; 32], [u8; 64], u64)> {
        self.inner.flush()?;
        self.inner.get_ref().sync_all()?;
        Ok((self.sha.finalize().into(), self.blake.finalize(), self.len))
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.blake.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The entries of a `CHECKSUMS.txt` already in the output directory (none when there is
/// none): kept, so that the new delivery's file lists every delivery there. A file that does
/// not parse, or that names a file this delivery writes, is refused before anything is built.
fn earlier_checksums(path: &Path, ours: &[&Path]) -> Result<Vec<checksums::Entry>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
    };
    let entries = checksums::parse(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} exists and is not a checksums file ({e}); refusing to replace it",
            path.display()
        )
    })?;
    for e in &entries {
        if ours
            .iter()
            .any(|p| p.file_name().and_then(|n| n.to_str()) == Some(e.name.as_str()))
        {
            bail!(
                "{} already lists {}; refusing to overwrite it (choose another --name)",
                path.display(),
                e.name.as_str()
            );
        }
    }
    Ok(entries)
}
