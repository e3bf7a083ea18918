//! `airlock-agent update`: the newest bundle the service offers this machine, trusted only once
//! verified. The listing is checked first (paths only under the service's own file prefix,
//! plain file names, a size within the cap, a SHA-256), the bundle streams to a 0600 file in the
//! state directory (never held in memory) capped at the listed size and hashed while it
//! streams, and the runtime verifies it from that file; the file is removed whatever happens.

use crate::cli::session;
use crate::online::{
    failed, fresh_request, read_license, read_online, Client, Failure, For, Online,
    MAX_ANSWER_BYTES, MAX_BUNDLE_BYTES, ONLINE_FILE,
};
use anyhow::{bail, Context, Result};
use canon::enc;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The only paths of the service the agent fetches files from (docs/HTTP.md).
pub const FILES_PREFIX: &str = "/v1/updates/files/";

/// One bundle the listing offers, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    /// Its path on the service (under [`FILES_PREFIX`]).
    pub file: String,
    /// Its signature's path (under [`FILES_PREFIX`]).
    pub signature: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256 (lowercase hex).
    pub sha256: String,
    /// Its bundle sequence.
    pub sequence: u64,
}

/// A path the listing names, accepted only as [`FILES_PREFIX`] + a plain file name: a listing
/// cannot send the machine's credential to another host or another endpoint.
fn file_path(v: &Value, what: &str) -> Result<String> {
    let p = v
        .as_str()
        .with_context(|| format!("the update listing's {what} is not a string"))?;
    let name = p.strip_prefix(FILES_PREFIX).unwrap_or("");
    let plain = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !plain {
        bail!(
            "the update listing's {what} {:?} is not a file of the service ({FILES_PREFIX}NAME): refused, nothing fetched",
            runtime::text::escape(p)
        );
    }
    Ok(p.to_string())
}

/// The first bundle of a listing, checked; `None` when it offers none.
pub fn offered(listing: &Value) -> Result<Option<Offered>> {
    let Some(b) = listing["bundles"].as_array().and_then(|a| a.first()) else {
        return Ok(None);
    };
    let size = b["size"]
        .as_u64()
        .filter(|s| *s <= MAX_BUNDLE_BYTES)
        .with_context(|| format!("the update listing's size must be at most {MAX_BUNDLE_BYTES}"))?;
    let sha256 = b["sha256"]
        .as_str()
        .filter(|h| h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
        .context("the update listing's sha256 is not 64 lowercase hex")?
        .to_string();
    let sequence = b["sequence"]
        .as_u64()
        .context("the update listing has no sequence")?;
    Ok(Some(Offered {
        file: file_path(&b["file"], "file")?,
        signature: file_path(&b["signature"], "signature")?,
        size,
        sha256,
        sequence,
    }))
}

/// A download's file, removed when dropped (verified or not: the bundle is extracted from
/// it, never kept).
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Client {
    /// Streams `path` into `dest` (created 0600; a leftover of an interrupted run is replaced),
    /// at most `size` bytes, hashing as it goes: `Ok(Err(_))` when the service failed, `Err`
    /// when the answer is not what the listing said (longer, shorter, another hash).
    fn download(
        &self,
        path: &str,
        credential: &str,
        o: &Offered,
        dest: &Path,
    ) -> Result<Result<(), Failure>> {
        let resp = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("Airlock-Request {credential}"))
            .config()
            .timeout_global(None)
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .build()
            .call();
        let mut resp = match Client::checked(resp) {
            Ok(r) => r,
            Err(f) => return Ok(Err(f)),
        };
        let _ = std::fs::remove_file(dest);
        let mut out = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(dest)
                .with_context(|| format!("{}", dest.display()))?
        };
        let mut body = resp.body_mut().with_config().limit(o.size + 1).reader();
        let (mut hash, mut got, mut buf) = (Sha256::new(), 0u64, vec![0u8; 1 << 16]);
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if got >= o.size => {
                    bail!(
                        "the download is larger than the listed {} bytes ({e}): refused",
                        o.size
                    )
                }
                Err(e) => {
                    return Ok(Err(Failure::Unavailable(format!(
                        "reading the download: {e}"
                    ))))
                }
            };
            got += n as u64;
            if got > o.size {
                bail!(
                    "the download is larger than the listed {} bytes: refused",
                    o.size
                );
            }
            hash.update(&buf[..n]);
            out.write_all(&buf[..n])
                .with_context(|| format!("{}", dest.display()))?;
        }
        if got != o.size {
            bail!(
                "the download has {got} bytes, the listing {}: refused",
                o.size
            );
        }
        let h = enc::hex(&hash.finalize());
        if h != o.sha256 {
            bail!(
                "the download's SHA-256 {h} is not the listed {}: refused",
                o.sha256
            );
        }
        out.sync_all()
            .with_context(|| format!("{}", dest.display()))?;
        Ok(Ok(()))
    }
}

/// `airlock-agent update`: asks the service for the newest bundle this machine's license
/// allows, downloads it, verifies it with the runtime and (with `extract`) installs it.
pub fn update_cmd(
    o: &Online<'_>,
    (product, channel): (Option<&str>, &str),
    extract: Option<&Path>,
    json: bool,
) -> Result<ExitCode> {
    if !runtime::manifest::valid_channel(channel) {
        bail!("--channel {channel:?} is not a channel name");
    }
    let (product, lease) = crate::cli::one_installed(o.state, product)?;
    let Some(rec) = read_online(o.state, &product)? else {
        bail!("product {product} was not activated online here (no {ONLINE_FILE})");
    };
    if let Some(dest) = extract {
        runtime::bundle::check_destination(dest)?;
    }
    let client = rec.client(o.ca)?;
    let license = read_license(&rec.license_dir)?;
    let (_, req) = fresh_request(o.state, &For::license(&license), &lease.label)?;
    let cred = enc::b64(&req);
    // The default channel needs no parameter (what every service answers).
    let path = match channel {
        runtime::manifest::DEFAULT_CHANNEL => "/v1/updates".to_string(),
        c => format!("/v1/updates?channel={c}"),
    };
    let listing = match client.get(&path, &cred, MAX_ANSWER_BYTES) {
        Ok(b) => serde_json::from_slice::<Value>(&b).context("the update listing")?,
        Err(f) => return failed("update", &f, json),
    };
    let Some(offer) = offered(&listing)? else {
        println!("no update offered for {product}");
        return Ok(ExitCode::SUCCESS);
    };
    let mut s = session(o.trust, o.roots, o.state)?;
    if s.known().bundle_sequence(&product, &lease.customer_id) >= Some(offer.sequence) {
        println!(
            "{product} is up to date (bundle #{} installed)",
            offer.sequence
        );
        return Ok(ExitCode::SUCCESS);
    }
    let partial =
        Partial(runtime::activation::installed_dir(o.state, &product).join("download.part"));
    match client.download(&offer.file, &cred, &offer, &partial.0)? {
        Ok(()) => {}
        Err(f) => return failed("update download", &f, json),
    }
    let signature = match client.get(&offer.signature, &cred, 64 * 1024) {
        Ok(b) => b,
        Err(f) => return failed("update download", &f, json),
    };
    // A sealed update opens with the key this machine's lease carries for it.
    let sources = runtime::fingerprint::Sources::system(Some(o.state));
    let holder = runtime::payload::Holder {
        trust: s.trust(),
        state: o.state,
        sources: &sources,
        known: s.known(),
        now: s.now(),
    };
    let find = |m: &runtime::manifest::BundleManifest| runtime::payload::key_for(&holder, m);
    let opts = runtime::bundle::Options::new(s.trust(), s.now(), env!("CARGO_PKG_VERSION"))
        .with_known(s.known())
        .with_extract(extract)
        .with_sealed(runtime::bundle::Sealed::Open(&find));
    let file =
        std::fs::File::open(&partial.0).with_context(|| format!("{}", partial.0.display()))?;
    let mut v = runtime::bundle::verify_bundle(std::io::BufReader::new(file), &signature, &opts)
        .map_err(|e| anyhow::anyhow!("REJECTED [{}]: {e}", e.code().as_str()))
        .context("the update bundle")?;
    if let Some(r) = &v.revocations {
        s.accept_revocations(r)?;
    }
    s.record_bundle(&v.product, &v.customer.0, v.sequence)?;
    s.commit()?;
    let at = v.install()?.map(Path::to_path_buf);
    if json {
        println!(
            "{}",
            json!({"valid": true, "bundle_id": v.bundle_id, "version": v.version, "sequence": v.sequence,
                   "installed": at.map(|p| p.display().to_string())})
        );
    } else {
        println!(
            "verified update {} ({} {}, bundle #{}){}",
            v.bundle_id,
            v.product,
            v.version,
            v.sequence,
            at.map(|p| format!(", installed in {}", p.display()))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `airlock-agent registry-token`: a short-lived pull token for `scopes` from the service this
/// product was activated with (docs/HTTP.md, `GET /v1/registry/token`), proven by a fresh
/// request of this machine.
pub fn registry_token_cmd(
    o: &Online<'_>,
    product: Option<&str>,
    scopes: &[String],
    json: bool,
) -> Result<ExitCode> {
    for sc in scopes {
        let ok = sc.starts_with("repository:")
            && sc
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/:,".contains(&b));
        if !ok {
            bail!("--scope {sc:?} is not repository:NAME:pull");
        }
    }
    let (product, lease) = crate::cli::one_installed(o.state, product)?;
    let Some(rec) = read_online(o.state, &product)? else {
        bail!("product {product} was not activated online here (no {ONLINE_FILE})");
    };
    let client = rec.client(o.ca)?;
    let license = read_license(&rec.license_dir)?;
    let (_, req) = fresh_request(o.state, &For::license(&license), &lease.label)?;
    let query: Vec<String> = scopes.iter().map(|sc| format!("scope={sc}")).collect();
    let path = format!("/v1/registry/token?{}", query.join("&"));
    let answer = match client.get(&path, &enc::b64(&req), MAX_ANSWER_BYTES) {
        Ok(b) => serde_json::from_slice::<Value>(&b).context("the registry token answer")?,
        Err(f) => return failed("registry-token", &f, json),
    };
    let token = answer["token"]
        .as_str()
        .context("the service's answer has no token")?;
    if json {
        println!(
            "{}",
            json!({"valid": true, "check": null, "error": null, "command": "registry-token",
                   "token": token, "expires_in": answer["expires_in"], "granted": answer["granted"]})
        );
    } else {
        println!("{token}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(file: &str, sig: &str) -> Value {
        json!({"bundles": [{"file": file, "signature": sig, "size": 10, "sequence": 2,
                            "sha256": "ab".repeat(32)}]})
    }

    #[test]
    fn listing_paths_stay_under_the_services_file_prefix() {
        let ok = offered(&listing(
            "/v1/updates/files/a-1.tar.gz",
            "/v1/updates/files/a-1.tar.gz.sig",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(ok.size, 10);
        for bad in [
            "//evil.example/x",
            "https://evil.example/v1/updates/files/a",
            "@evil.example/v1/updates/files/a",
            "/v1/updates/files/../../admin/activations",
            "/v1/updates/files/a/b",
            "/v1/updates/files/",
            "/v1/updates/files/.hidden",
            "/v1/updates/files/a?x=1",
            "/v1/updates/files/a%2f",
            "/v1/admin/activations",
        ] {
            let e = offered(&listing(bad, "/v1/updates/files/a.sig")).unwrap_err();
            assert!(
                e.to_string().contains("not a file of the service"),
                "{bad}: {e}"
            );
            assert!(
                offered(&listing("/v1/updates/files/a", bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn listing_sizes_and_hashes_are_checked() {
        let mut l = listing("/v1/updates/files/a", "/v1/updates/files/a.sig");
        l["bundles"][0]["size"] = json!(MAX_BUNDLE_BYTES + 1);
        assert!(offered(&l).is_err());
        let mut l = listing("/v1/updates/files/a", "/v1/updates/files/a.sig");
        l["bundles"][0]["sha256"] = json!("AB".repeat(32));
        assert!(offered(&l).is_err());
        assert_eq!(offered(&json!({"bundles": []})).unwrap(), None);
    }
}
