//! `GET /v1/updates`: the packager's signed bundles, offered to activated machines.
//!
//! The service serves a directory of bundles (`NAME.tar.gz` + `NAME.tar.gz.sig`). Each is
//! verified with the runtime against the service's trust file when the directory is indexed
//! (again whenever the directory changes); one that does not verify is left out and logged.
//! A machine is offered the newest bundle (highest sequence) built for a license of its seat's
//! lineage and its product. It verifies the bundle again itself before installing it: the
//! service is a courier, not a trust anchor.

use crate::{update_seat, ApiError, ApiResult, App};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use canon::Timestamp;
use factory::activation::Code;
use runtime::TrustStore;
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::SystemTime;

/// Bundles in a directory at most (a larger directory is indexed up to this many).
pub const MAX_BUNDLES: usize = 4096;

/// One verified bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The archive's file name.
    pub file: String,
    /// Its signature's file name.
    pub signature: String,
    /// The bundle id.
    pub bundle_id: String,
    /// The license it carries.
    pub license_id: String,
    /// The product.
    pub product: String,
    /// The product version.
    pub version: String,
    /// The release channel.
    pub channel: String,
    /// The bundle sequence (per product and customer channel).
    pub sequence: u64,
    /// When it was made.
    pub created_at: Timestamp,
    /// Archive size in bytes.
    pub size: u64,
    /// SHA-256 of the archive, hex.
    pub sha256: String,
}

/// The index of a bundle directory.
pub struct Index {
    dir: PathBuf,
    trust: TrustStore,
    cache: Mutex<(Option<SystemTime>, Vec<Bundle>)>,
}

impl Index {
    /// An index of `dir`, verified against `trust`.
    pub fn new(dir: PathBuf, trust: TrustStore) -> Index {
        Index {
            dir,
            trust,
            cache: Mutex::new((None, Vec::new())),
        }
    }

    /// The verified bundles, re-indexed when the directory changed.
    pub fn bundles(&self, now: Timestamp) -> Vec<Bundle> {
        let mtime = std::fs::metadata(&self.dir).and_then(|m| m.modified()).ok();
        let mut g = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if g.0.is_none() || g.0 != mtime {
            g.1 = scan(&self.dir, &self.trust, now);
            g.0 = mtime;
        }
        g.1.clone()
    }

    /// The newest bundle of `product` on `channel` carrying one of `license_ids`.
    pub fn newest(
        &self,
        license_ids: &[String],
        product: &str,
        channel: &str,
        now: Timestamp,
    ) -> Option<Bundle> {
        self.bundles(now)
            .into_iter()
            .filter(|b| {
                b.product == product && b.channel == channel && license_ids.contains(&b.license_id)
            })
            .max_by(|a, b| (a.sequence, a.created_at).cmp(&(b.sequence, b.created_at)))
    }

    /// The path of an indexed file (an archive or its signature), never anything else.
    pub fn path_of(&self, bundles: &[Bundle], file: &str) -> Option<PathBuf> {
        bundles
            .iter()
            .any(|b| b.file == file || b.signature == file)
            .then(|| self.dir.join(file))
    }
}

// The routes (docs/HTTP.md): the machine behind the credential, its entitled channels.

pub(crate) fn updates_index(app: &App) -> Result<&Index, ApiError> {
    app.updates.as_ref().ok_or_else(|| {
        ApiError::new(
            Code::UpdatesDisabled,
            "this service offers no updates (started without --bundles)",
        )
    })
}

/// `?channel=NAME` of an update listing (default `stable`).
#[derive(serde::Deserialize)]
pub(crate) struct ChannelQuery {
    channel: Option<String>,
}

pub(crate) async fn list(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::extract::Query(q): axum::extract::Query<ChannelQuery>,
    headers: HeaderMap,
) -> ApiResult {
    let index = updates_index(&app)?;
    let m = update_seat(&app, peer, &headers).await?;
    let channel = q
        .channel
        .unwrap_or_else(|| runtime::manifest::DEFAULT_CHANNEL.to_string());
    if !app.channels(&m)?.contains(&channel) {
        return Err(ApiError::new(
            Code::ChannelNotLicensed,
            format!(
                "the {} tier of {} does not include channel {channel:?}",
                m.tier, m.product
            ),
        ));
    }
    let now = app.now();
    let newest = index.newest(&m.ids, &m.req.product, &channel, now);
    let bundles: Vec<serde_json::Value> = newest
        .iter()
        .map(|b| {
            json!({
                "bundle_id": b.bundle_id,
                "license_id": b.license_id,
                "product": b.product,
                "version": b.version,
                "channel": b.channel,
                "sequence": b.sequence,
                "created_at": b.created_at.to_string(),
                "size": b.size,
                "sha256": b.sha256,
                "file": format!("/v1/updates/files/{}", b.file),
                "signature": format!("/v1/updates/files/{}", b.signature),
            })
        })
        .collect();
    app.metrics.outcome("updates", "listed");
    Ok(axum::Json(json!({ "bundles": bundles })).into_response())
}

pub(crate) async fn file(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> ApiResult {
    let index = updates_index(&app)?;
    let m = update_seat(&app, peer, &headers).await?;
    let channels = app.channels(&m)?;
    let now = app.now();
    let bundles: Vec<Bundle> = index
        .bundles(now)
        .into_iter()
        .filter(|b| {
            b.product == m.req.product
                && m.ids.contains(&b.license_id)
                && channels.contains(&b.channel)
        })
        .collect();
    let Some(path) = index.path_of(&bundles, &file) else {
        return Err(ApiError::new(
            Code::NotFound,
            "no such update for this machine",
        ));
    };
    let f = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{}: {e}", path.display())))?;
    let len = f
        .metadata()
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{}: {e}", path.display())))?
        .len();
    app.metrics.outcome("updates", "downloaded");
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(f));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(len)),
        ],
        body,
    )
        .into_response())
}

fn scan(dir: &Path, trust: &TrustStore, now: Timestamp) -> Vec<Bundle> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        tracing::warn!(dir = %dir.display(), "bundle directory unreadable");
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tar.gz") && !n.starts_with('.'))
        .collect();
    names.sort();
    names.truncate(MAX_BUNDLES);
    let mut out = Vec::new();
    for file in names {
        match index_one(dir, &file, trust, now) {
            Ok(b) => out.push(b),
            Err(e) => tracing::warn!(bundle = %file, error = %e, "bundle left out of updates"),
        }
    }
    out
}

fn index_one(dir: &Path, file: &str, trust: &TrustStore, now: Timestamp) -> Result<Bundle, String> {
    let signature = format!("{file}.sig");
    let sig = std::fs::read(dir.join(&signature)).map_err(|e| format!("{signature}: {e}"))?;
    let path = dir.join(file);
    let bytes = std::fs::read(&path).map_err(|e| format!("{file}: {e}"))?;
    // The service is not the runtime that will run it: the machine checks its own edition and
    // version when it verifies the bundle again before installing.
    let opts = runtime::bundle::Options::new(trust, now, "65535.0.0");
    let v = runtime::bundle::verify_bundle(bytes.as_slice(), &sig, &opts)
        .map_err(|e| format!("[{}] {e}", e.code().as_str()))?;
    Ok(Bundle {
        file: file.to_string(),
        signature,
        bundle_id: v.bundle_id,
        license_id: v.license_id,
        product: v.product,
        version: v.version,
        channel: v.channel,
        sequence: v.sequence,
        created_at: v.created_at,
        size: bytes.len() as u64,
        sha256: canon::enc::sha256_hex(&bytes),
    })
}
