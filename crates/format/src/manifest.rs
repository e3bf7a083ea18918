//! Product and bundle manifests (docs/FORMAT.md §13–§14): schemas and their rules. Both are
//! signed by release keys.

use crate::license::Customer;
use crate::{ts, valid_id, Artifact, SchemaError, MAX_SAFE_INTEGER};
use canon::path::SafePath;
use canon::{enc, Kind, Timestamp};
use serde::{Deserialize, Serialize};

/// Largest product manifest accepted.
pub const MAX_PRODUCT_MANIFEST_BYTES: usize = 1 << 20;
/// Largest bundle manifest accepted: 16 MiB of canonical JSON, about 100,000 members with
/// short paths. It is the one member buffered before it is authenticated, so this cap is what
/// a hostile bundle can make the verifier hold.
pub const MAX_BUNDLE_MANIFEST_BYTES: usize = 16 << 20;
/// Most members a bundle may have.
pub const MAX_MEMBERS: usize = 100_000;

/// One shipped component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Component name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The vendor's product manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductManifest {
    /// Always `airlock-product-manifest`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// Product id.
    pub product: String,
    /// Display name.
    pub name: String,
    /// Release version (`MAJOR.MINOR.PATCH`).
    pub version: String,
    /// The edition this release is.
    pub edition: String,
    /// Release time.
    pub released_at: String,
    /// What the release contains.
    pub components: Vec<Component>,
    /// Oldest runtime (`MAJOR.MINOR.PATCH`) that may install it.
    pub min_runtime_version: String,
    /// Features the content needs licensed.
    pub requires_features: Vec<String>,
    /// The release channel ([`DEFAULT_CHANNEL`] when absent): catalog tiers entitle channels
    /// (updates and registry pulls offer only those).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The container images this release installs, each by digest (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
}

/// The channel of a release that names none.
pub const DEFAULT_CHANNEL: &str = "stable";
/// Most images one product manifest may name.
pub const MAX_IMAGES: usize = 256;

/// A container image a release installs: its repository and its manifest digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Repository name, e.g. `gateway/runtime` (the registry's naming rules, lowercase).
    pub name: String,
    /// `sha256:` and 64 lowercase hex digits.
    pub digest: String,
}

impl ProductManifest {
    /// The release's channel.
    pub fn channel(&self) -> &str {
        self.channel.as_deref().unwrap_or(DEFAULT_CHANNEL)
    }
}

/// Whether `s` is a channel name: an id of at most 32 characters.
pub fn valid_channel(s: &str) -> bool {
    s.len() <= 32 && valid_id(s)
}

/// Whether `s` is a repository name a registry accepts: at most 255 bytes of `/`-separated
/// components, each lowercase letters and digits separated by single `.`, `_` or `-`.
pub fn valid_repository(s: &str) -> bool {
    s.len() <= 255
        && s.split('/').all(|c| {
            !c.is_empty()
                && c.split(['.', '_', '-']).all(|w| {
                    !w.is_empty()
                        && w.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                })
        })
}

/// Whether `s` is `sha256:` and 64 lowercase hex digits.
pub fn valid_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| enc::unhex::<32>(h).is_some())
}

/// One archive member as listed in the bundle manifest. Fields are declared in canonical
/// (sorted) order: serde writes this type in its RFC 8785 form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// `420` (0644) or `493` (0755).
    pub mode: u32,
    /// Safe relative path.
    pub path: String,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// The name of the payload encryption of docs/FORMAT.md §19 (crate `seal`).
pub const ENCRYPTION_SCHEME: &str = "airlock-deflate-stream-chacha20poly1305-64k/1";

/// How a bundle's payload members are sealed. Fields in canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// HMAC-SHA256(content key, `airlock/content-key-check/v1`), hex: tells a wrong key apart
    /// from damaged bytes before anything is opened.
    pub key_check: String,
    /// Always [`ENCRYPTION_SCHEME`].
    pub scheme: String,
}

/// The generated bundle manifest. Fields are declared in canonical (sorted) order: serde
/// writes this type in its RFC 8785 form, which is how bundles store it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    /// Built for air-gapped delivery.
    pub airgap: bool,
    /// Unique bundle id.
    pub bundle_id: String,
    /// Creation time: when the packager signed the bundle and its product manifest.
    pub created_at: String,
    /// The customer.
    pub customer: Customer,
    /// Present when the payload members are sealed (docs/FORMAT.md §19): the construction and
    /// the content key's check value. Absent in a plain bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// The bundled license.
    pub license_id: String,
    /// SHA-256 of the license's canonical form.
    pub license_sha256: String,
    /// Every archive member after the manifest and its signature, in archive order.
    pub members: Vec<Member>,
    /// Product id.
    pub product: String,
    /// SHA-256 of the product manifest's canonical form.
    pub product_manifest_sha256: String,
    /// Per product and customer channel, never decreasing.
    pub sequence: u64,
    /// Always `airlock-bundle-manifest`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// Product version.
    pub version: String,
}

/// Where the product's own files live in a bundle; every other member is a named Airlock file.
pub const PAYLOAD_DIR: &str = "payload/";
/// The first member of every bundle: the bundle manifest, stored canonical.
pub const MANIFEST_PATH: &str = "manifests/bundle-manifest.json";
/// The second member: the manifest's envelope.
pub const MANIFEST_SIG_PATH: &str = "manifests/bundle-manifest.sig";
/// The bundle's `sha256sum -c` list of its payload.
pub const CHECKSUMS_PATH: &str = "CHECKSUMS.txt";
/// The license, as delivered.
pub const LICENSE_PATH: &str = "license.json";
/// The license's envelope.
pub const LICENSE_SIG_PATH: &str = "license.sig";
/// The product manifest, pretty-printed.
pub const PRODUCT_MANIFEST_PATH: &str = "manifests/product-manifest.json";
/// The product manifest's envelope.
pub const PRODUCT_MANIFEST_SIG_PATH: &str = "manifests/product-manifest.sig";
/// The revocation list, when shipped.
pub const REVOCATIONS_PATH: &str = "revocations.json";
/// The revocation list's envelope.
pub const REVOCATIONS_SIG_PATH: &str = "revocations.sig";

/// Required members after the manifest pair, in archive order, with their size caps.
pub const REQUIRED: [(&str, usize); 5] = [
    (CHECKSUMS_PATH, canon::checksums::MAX_CHECKSUMS_BYTES),
    (LICENSE_PATH, crate::license::MAX_LICENSE_BYTES),
    (LICENSE_SIG_PATH, canon::sig::MAX_ENVELOPE_BYTES),
    (PRODUCT_MANIFEST_PATH, MAX_PRODUCT_MANIFEST_BYTES),
    (PRODUCT_MANIFEST_SIG_PATH, canon::sig::MAX_ENVELOPE_BYTES),
];
/// Optional members (both or neither), after the required ones, with their caps.
pub const OPTIONAL: [(&str, usize); 2] = [
    (REVOCATIONS_PATH, crate::revocation::MAX_REVOCATIONS_BYTES),
    (REVOCATIONS_SIG_PATH, canon::sig::MAX_ENVELOPE_BYTES),
];

/// File modes allowed in bundles.
pub const MODES: [u32; 2] = [0o644, 0o755];

/// Parses `MAJOR.MINOR.PATCH` (digits only).
pub fn parse_version(s: &str) -> Option<(u64, u64, u64)> {
    let mut it = s.split('.');
    let mut n = || -> Option<u64> {
        let p = it.next()?;
        if p.is_empty()
            || p.len() > 9
            || !p.bytes().all(|b| b.is_ascii_digit())
            || (p.len() > 1 && p.starts_with('0'))
        {
            return None;
        }
        p.parse().ok()
    };
    let v = (n()?, n()?, n()?);
    if it.next().is_some() {
        return None;
    }
    Some(v)
}

impl Artifact for ProductManifest {
    const KIND: Kind = Kind::ProductManifest;
    const WHAT: &'static str = "product manifest";
    const MAX_BYTES: usize = MAX_PRODUCT_MANIFEST_BYTES;
    /// The release time.
    type Facts = Timestamp;

    /// Signed when its bundle is created: the bundle's `created_at` says when.
    fn signed_at(_: &Timestamp) -> Option<Timestamp> {
        None
    }

    /// Checks the schema rules; returns the release time.
    fn validate(&self) -> Result<Timestamp, SchemaError> {
        const W: &str = <ProductManifest as Artifact>::WHAT;
        let bad = |m: String| Err(SchemaError::new(W, m));
        if self.doc_type != "airlock-product-manifest" {
            return bad("type must be \"airlock-product-manifest\"".into());
        }
        if !valid_id(&self.product) || !valid_id(&self.edition) {
            return bad("product and edition must be ids".into());
        }
        if self.name.trim().is_empty() || self.name.len() > 256 {
            return bad("name must be 1-256 characters".into());
        }
        if parse_version(&self.version).is_none()
            || parse_version(&self.min_runtime_version).is_none()
        {
            return bad("version and min_runtime_version must be MAJOR.MINOR.PATCH".into());
        }
        if self.components.len() > 1024
            || self
                .components
                .iter()
                .any(|c| !valid_id(&c.name) || c.version.is_empty() || c.version.len() > 64)
        {
            return bad(
                "components must be at most 1024 entries with an id name and a version".into(),
            );
        }
        if self.requires_features.iter().any(|f| !valid_id(f)) {
            return bad("requires_features must be ids".into());
        }
        if let Some(c) = self.channel.as_deref().filter(|c| !valid_channel(c)) {
            return bad(format!(
                "channel {c:?} must be an id of at most 32 characters"
            ));
        }
        if self.images.len() > MAX_IMAGES {
            return bad(format!("at most {MAX_IMAGES} images"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for i in &self.images {
            if !valid_repository(&i.name) || !valid_digest(&i.digest) {
                return bad(format!(
                    "image {:?}@{:?}: a lowercase repository name and sha256:<64 hex> digest",
                    i.name, i.digest
                ));
            }
            if !seen.insert((&i.name, &i.digest)) {
                return bad(format!("image {}@{} listed twice", i.name, i.digest));
            }
        }
        ts(W, "released_at", &self.released_at)
    }
}

/// A bundle id: `bnd-` and 16 lowercase hex digits (FORMAT.md §14).
pub fn valid_bundle_id(s: &str) -> bool {
    s.strip_prefix("bnd-").is_some_and(|h| {
        h.len() == 16
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl Artifact for BundleManifest {
    const KIND: Kind = Kind::BundleManifest;
    const WHAT: &'static str = "bundle manifest";
    const MAX_BYTES: usize = MAX_BUNDLE_MANIFEST_BYTES;
    const STORED_CANONICAL: bool = true;
    /// The creation time.
    type Facts = Timestamp;

    fn signed_at(created_at: &Timestamp) -> Option<Timestamp> {
        Some(*created_at)
    }

    /// Checks the schema rules; returns the creation time.
    fn validate(&self) -> Result<Timestamp, SchemaError> {
        const W: &str = <BundleManifest as Artifact>::WHAT;
        let bad = |m: String| Err(SchemaError::new(W, m));
        if self.doc_type != "airlock-bundle-manifest" {
            return bad("type must be \"airlock-bundle-manifest\"".into());
        }
        for (n, v) in [
            ("bundle_id", &self.bundle_id),
            ("product", &self.product),
            ("license_id", &self.license_id),
            ("customer.id", &self.customer.id),
        ] {
            if !valid_id(v) {
                return bad(format!("{n} {v:?} is not a valid id"));
            }
        }
        if parse_version(&self.version).is_none() {
            return bad("version must be MAJOR.MINOR.PATCH".into());
        }
        if !valid_bundle_id(&self.bundle_id) {
            return bad(format!(
                "bundle_id {:?} must be \"bnd-\" and 16 lowercase hex digits",
                self.bundle_id
            ));
        }
        for (n, h) in [
            ("license_sha256", &self.license_sha256),
            ("product_manifest_sha256", &self.product_manifest_sha256),
        ] {
            if enc::unhex::<32>(h).is_none() {
                return bad(format!("{n} is not 64 lowercase hex characters"));
            }
        }
        if self.sequence > MAX_SAFE_INTEGER {
            return bad("sequence must be at most 2^53-1".into());
        }
        if let Some(e) = &self.encryption {
            if e.scheme != ENCRYPTION_SCHEME {
                return bad(format!(
                    "encryption.scheme {:?} is not {ENCRYPTION_SCHEME:?}",
                    e.scheme
                ));
            }
            if enc::unhex::<32>(&e.key_check).is_none() {
                return bad("encryption.key_check is not 64 lowercase hex characters".into());
            }
        }
        if self.members.len() > MAX_MEMBERS {
            return bad(format!("more than {MAX_MEMBERS} members"));
        }
        let mut seen = std::collections::HashSet::new();
        for m in &self.members {
            let p = SafePath::new(&m.path)
                .map_err(|e| SchemaError::new(W, format!("member {:?}: {e}", m.path)))?;
            if p.as_str().starts_with("manifests/bundle-manifest.") {
                return bad("the bundle manifest cannot list itself".into());
            }
            if !seen.insert(p.as_str().to_string()) {
                return bad(format!("member {} listed twice", m.path));
            }
            if m.size > MAX_SAFE_INTEGER
                || enc::unhex::<32>(&m.sha256).is_none()
                || !MODES.contains(&m.mode)
            {
                return bad(format!(
                    "member {}: size, sha256 or mode (0644/0755) invalid",
                    m.path
                ));
            }
        }
        // A file and a directory of the same name: "a" and "a/b".
        for m in &self.members {
            let p = SafePath::new(&m.path).map_err(|e| SchemaError::new(W, e.to_string()))?;
            let clash = p.parents().find(|d| seen.contains(*d)).map(str::to_string);
            if let Some(parent) = clash {
                return bad(format!("{parent} is both a file and a directory"));
            }
        }
        // One order (FORMAT.md §15): the metadata files in table order, then the payload
        // sorted by path bytes, so two writers of the same content write the same archive.
        // (A member that is neither is refused by the archive reader, `member_mismatch`.)
        let named: Vec<&str> = REQUIRED
            .iter()
            .chain(OPTIONAL.iter())
            .map(|(p, _)| *p)
            .filter(|p| seen.contains(*p))
            .collect();
        let head = self
            .members
            .iter()
            .take(named.len())
            .map(|m| m.path.as_str());
        if !head.eq(named.iter().copied()) {
            return bad(format!(
                "members must start with {} in that order",
                named.join(", ")
            ));
        }
        let payload: Vec<&str> = self
            .members
            .iter()
            .map(|m| m.path.as_str())
            .filter(|p| p.starts_with(PAYLOAD_DIR))
            .collect();
        if let Some(w) = payload
            .windows(2)
            .find(|w| w[0].as_bytes() >= w[1].as_bytes())
        {
            return bad(format!(
                "payload members must be sorted by path bytes: {} comes before {}",
                w[0], w[1]
            ));
        }
        ts(W, "created_at", &self.created_at)
    }
}
