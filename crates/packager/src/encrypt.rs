//! `packager bundle --encrypt`: payload members sealed under a fresh content key
//! (docs/FORMAT.md §19, crate `seal`), the key leaving the packager only wrapped to the vendor's
//! key-encryption key, in a signed build record the factory registers.
//!
//! Every payload file is deflated once into scratch space (its stream's SHA-256 gives the
//! member nonce, so the same key and file always give the same bytes), then sealed into the
//! archive. The manifest lists the sealed bytes (size, SHA-256), so `sha256sum`, `minisign` and
//! the runtime check the delivery without any key.

use anyhow::{Context, Result};
use canon::path::SafePath;
use canon::{enc, Kind, Timestamp};
use runtime::build::{kek_info, BuildRecord, BUILD_TYPE};
use runtime::manifest::{BundleManifest, ProductManifest, ENCRYPTION_SCHEME};
use runtime::Artifact;
use seal::keyfile::KekPublic;
use seal::ContentKey;
use std::fs::File;
use std::path::Path;

/// What `--encrypt` needs.
pub struct Encrypt<'a> {
    /// The vendor's key-encryption key (its public file: X25519, or RSA for a key in a token).
    pub kek: &'a KekPublic,
    /// The build's content key: fresh ([`ContentKey::generate`]) unless a build is made again
    /// byte for byte ([`content_key_of`]).
    pub content_key: ContentKey,
    /// Where the signed build record goes (default: `<name>.build.json` in the output
    /// directory, beside the delivery; it is not part of it).
    pub record: Option<&'a Path>,
}

/// The content key of an earlier build record, opened with the key-encryption key (its secret
/// file, or its `pkcs11:` URI), to rebuild that bundle byte for byte: the record's signature is
/// not checked here; the key is checked against the record's `key_check`.
pub fn content_key_of(record: &Path, kek: &str) -> Result<ContentKey> {
    let kek = signing::kek::Kek::load(kek)?;
    let bytes = fsio::read_capped(
        record,
        (runtime::build::MAX_BUILD_BYTES + canon::sig::MAX_ENVELOPE_BYTES) as u64,
    )
    .with_context(|| format!("{}", record.display()))?
    .with_context(|| format!("{}: no such file", record.display()))?;
    let f = runtime::activation::SignedFile::parse(BuildRecord::WHAT, &bytes)?;
    let rec: BuildRecord = serde_json::from_slice(&f.canonical).context("the build record")?;
    rec.validate()?;
    let wrapped = enc::unb64(&rec.wrapped_key).context("wrapped_key")?;
    let key = kek
        .unwrap(&wrapped, &kek_info(&rec.bundle_id))
        .with_context(|| format!("{}", record.display()))?;
    if key.check_hex() != rec.key_check {
        anyhow::bail!(
            "{}: the wrapped key does not match its key_check",
            record.display()
        );
    }
    Ok(key)
}

/// Archives payload file `src` as sealed member `path` (docs/FORMAT.md §19): deflated into
/// `scratch` (one read of the file), then its tar header (with the sealed size) and the sealed
/// bytes go to `sink`, each also to `hash`. Returns the sealed size.
pub(crate) fn seal_file(
    key: &ContentKey,
    (path, mode): (&SafePath, u32),
    src: &Path,
    scratch: &Path,
    sink: &mut crate::gz::ChunkSink,
    hash: &mut impl FnMut(&[u8]),
    progress: &mut impl FnMut(u64),
) -> Result<u64> {
    let f = File::open(src).with_context(|| format!("payload {}", src.display()))?;
    let out = File::create(scratch).with_context(|| format!("{}", scratch.display()))?;
    let p = seal::file::deflate_to(
        std::io::BufReader::with_capacity(256 * 1024, f),
        std::io::BufWriter::with_capacity(256 * 1024, out),
    )
    .with_context(|| format!("payload {}", src.display()))?;
    progress(p.plain);
    let size = p.sealed_len();
    sink.write(&canon::ustar::encode(path, size, mode)?)?;
    let deflated = File::open(scratch).with_context(|| format!("{}", scratch.display()))?;
    let mut err = None;
    let sealed = seal::file::seal(
        key,
        path.as_str(),
        &p,
        std::io::BufReader::with_capacity(256 * 1024, deflated),
        |b| {
            hash(b);
            sink.write(b).map_err(|e| {
                let m = format!("{e:#}");
                err = Some(e);
                std::io::Error::other(m)
            })
        },
    );
    if let Some(e) = err {
        return Err(e);
    }
    sealed.with_context(|| format!("payload {}", src.display()))?;
    let pad =
        (canon::ustar::BLOCK - (size % canon::ustar::BLOCK as u64) as usize) % canon::ustar::BLOCK;
    sink.write(&[0u8; canon::ustar::BLOCK][..pad])?;
    Ok(size)
}

/// The manifest's `encryption` member for `key`.
pub(crate) fn manifest_member(key: &ContentKey) -> runtime::manifest::Encryption {
    runtime::manifest::Encryption {
        key_check: key.check_hex(),
        scheme: ENCRYPTION_SCHEME.into(),
    }
}

/// The signed build record of a sealed bundle (the file's bytes).
pub(crate) fn record(
    e: &Encrypt<'_>,
    m: &BundleManifest,
    pm: &ProductManifest,
    signer: &signing::SecretKey,
    created_at: Timestamp,
) -> Result<Vec<u8>> {
    let wrapped = e.kek.wrap(&e.content_key, &kek_info(&m.bundle_id))?;
    let rec = BuildRecord {
        doc_type: BUILD_TYPE.into(),
        bundle_id: m.bundle_id.clone(),
        product: m.product.clone(),
        version: m.version.clone(),
        edition: pm.edition.clone(),
        requires_features: pm.requires_features.clone(),
        customer_id: m.customer.id.clone(),
        license_id: m.license_id.clone(),
        created_at: created_at.to_string(),
        scheme: ENCRYPTION_SCHEME.into(),
        key_check: e.content_key.check_hex(),
        kek_key_id: e.kek.key_id().to_string(),
        wrapped_key: enc::b64(&wrapped),
    };
    rec.validate().context("the build record")?;
    let canonical = rec.to_canonical();
    let envelope = signer.sign_document(Kind::Build, &canonical)?;
    Ok(runtime::activation::SignedFile {
        canonical,
        envelope,
    }
    .to_bytes())
}
