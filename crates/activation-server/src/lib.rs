//! # activation-server — the optional online path of activation (`airlock-server`)
//!
//! One decision, two transports: the seat decision, the lease and the registry rules are the
//! factory's (`factory::activation`), the same as for request files carried by hand. This
//! crate adds HTTP (axum on tokio), install tokens spent in the transaction that makes the
//! seat, renewal with heartbeats, updates, rate limits, metrics and health.
//!
//! Layout: [`store`] (the registry behind one interface: SQLite, or PostgreSQL for several
//! nodes; one writer thread with group commit), [`limit`] (governor keyed limiters),
//! [`metrics`] (Prometheus text), [`updates`] (the bundle index), and here the routes and
//! their errors. docs/HTTP.md is the API reference.

#![forbid(unsafe_code)]

mod admin;
pub mod conn;
pub mod limit;
pub mod metrics;
pub mod registry;
pub mod store;
pub mod updates;

use admin::{
    admin_list, admin_release, admin_reset, admin_resume, admin_revoke, admin_suspend,
    admin_token_revoke, metrics_text,
};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use canon::{Timestamp, Value};
use factory::activation::{self as seats, Code, Freshness, Fulfilled, Heartbeat, Refusal};
use limit::{Limiters, Scope};
use metrics::Metrics;
use runtime::TrustStore;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{Answer, Clock, Op, Store};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything a running service shares.
pub struct App {
    /// The registry.
    pub store: Store,
    /// The vendor's trust (verifies install tokens and bundles).
    pub trust: TrustStore,
    /// Rate limits.
    pub limiters: Limiters,
    /// Metrics.
    pub metrics: Metrics,
    /// SHA-256 of the admin credential; `None`: the admin API is off.
    pub admin: Option<[u8; 32]>,
    /// The bundles offered as updates.
    pub updates: Option<updates::Index>,
    /// The vendor's catalog: the channels and image repositories each product's tiers
    /// entitle. Without it, only the `stable` channel and no registry tokens.
    pub catalog: Option<factory::catalog::Catalog>,
    /// Registry tokens (`GET /v1/registry/token`); `None`: off.
    pub registry: Option<registry::Tokens>,
    /// The clock.
    pub clock: Clock,
    /// Take the client address from `X-Forwarded-For` (behind a reverse proxy).
    pub behind_proxy: bool,
    /// The connection caps (counted by the acceptor; shown in the metrics).
    pub conns: conn::Caps,
}

/// An error answer: a code of the one refusal table (its HTTP status comes from the table),
/// a message, maybe `Retry-After`.
#[derive(Debug)]
pub struct ApiError {
    code: Code,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::BadRequest, message)
    }

    fn internal(e: anyhow::Error) -> ApiError {
        tracing::error!(error = %format!("{e:#}"), "internal error");
        ApiError::new(
            Code::Internal,
            "the service failed; nothing was changed by this request unless it answered success",
        )
    }

    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        ApiError::new(r.code, r.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code.as_str(), "message": self.message}});
        let mut resp = (self.status(), axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp.extensions_mut().insert(ErrorCode(self.code));
        resp
    }
}

/// The code of an error answer, for the request log.
#[derive(Clone, Copy)]
pub(crate) struct ErrorCode(Code);

type ApiResult = Result<Response, ApiError>;

/// The store answered an operation with another operation's kind of answer (a bug).
pub(crate) fn unexpected() -> ApiError {
    ApiError::internal(anyhow::anyhow!(
        "the store answered with the wrong kind of answer"
    ))
}

/// The routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/activations", post(activate))
        .route("/v1/activations/{id}/renew", post(renew))
        .route("/v1/activations/{id}/deactivate", post(deactivate))
        .route("/v1/updates", get(updates::list))
        .route("/v1/registry/token", get(registry::token))
        .route("/v1/updates/files/{file}", get(updates::file))
        .route("/v1/admin/activations", get(admin_list))
        .route("/v1/admin/activations/{id}/release", post(admin_release))
        .route("/v1/admin/licenses/{id}/reset", post(admin_reset))
        .route("/v1/admin/licenses/{id}/revoke", post(admin_revoke))
        .route("/v1/admin/licenses/{id}/suspend", post(admin_suspend))
        .route("/v1/admin/licenses/{id}/resume", post(admin_resume))
        .route("/v1/admin/tokens/{id}/revoke", post(admin_token_revoke))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(|| async { ApiError::new(Code::NotFound, "no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(app.clone(), observe))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::new(Code::Internal, "the service failed").into_response()
            },
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(axum::middleware::from_fn(json_errors))
        .with_state(app)
}

/// Every error is the documented JSON: the answers the layers make themselves (413 from the
/// body limit, 408 from the timeout) get their code of the table and a message.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.extensions().get::<ErrorCode>().is_some() {
        return resp;
    }
    match resp.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            Code::BodyTooLarge,
            format!("the body is over {MAX_BODY_BYTES} bytes"),
        )
        .into_response(),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(
            Code::Timeout,
            "the request took longer than the service allows (30 s)",
        )
        .into_response(),
        _ => resp,
    }
}

/// Metrics and one structured log line per request (never a body, a token or a key).
async fn observe(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let resp = next.run(req).await;
    let took = started.elapsed();
    let status = resp.status().as_u16();
    app.metrics.request(&route, status, took);
    let code = resp
        .extensions()
        .get::<ErrorCode>()
        .map_or("", |c| c.0.as_str());
    tracing::info!(
        target: "airlock_server::http",
        method = %method,
        route = %route,
        status,
        code,
        micros = took.as_micros() as u64,
        client = %client,
    );
    resp
}

impl App {
    fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// The client's address: the peer, or behind a proxy the last `X-Forwarded-For` hop.
    fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        if self.behind_proxy {
            if let Some(ip) = headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse().ok())
            {
                return ip;
            }
        }
        peer.ip()
    }

    fn limit(&self, scope: Scope, key: &[u8]) -> Result<(), ApiError> {
        self.limiters.check(scope, key).map_err(|secs| {
            self.metrics.rate_limited(scope.as_str());
            ApiError {
                code: Code::RateLimited,
                message: format!(
                    "too many requests (per {} limit): retry after {secs} s",
                    scope.as_str()
                ),
                retry_after: Some(secs),
            }
        })
    }

    /// Charges a per-address limit: IPv4 by address, IPv6 by its /64.
    fn limit_address(&self, scope: Scope, client: IpAddr) -> Result<(), ApiError> {
        self.limit(
            scope,
            format!("addr:{}", limit::address_key(client)).as_bytes(),
        )
    }

    async fn call(&self, op_name: &'static str, op: Op) -> Result<Answer, ApiError> {
        match self.store.call(op).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(r)) => {
                self.metrics.outcome(op_name, r.code.as_str());
                Err(r.into())
            }
            Err(e) => {
                self.metrics.outcome(op_name, "error");
                Err(ApiError::internal(e))
            }
        }
    }
}

/// A JSON body: one object, strict (RFC 8259, no duplicate names), only the members named.
pub(crate) fn body_object(body: &[u8], allowed: &[&str]) -> Result<Value, ApiError> {
    let v = canon::parse(body).map_err(|e| ApiError::bad(format!("the body is not JSON: {e}")))?;
    let Value::Object(m) = &v else {
        return Err(ApiError::bad("the body must be a JSON object"));
    };
    if let Some((k, _)) = m.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad(format!(
            "unknown member {k:?} (allowed: {})",
            allowed.join(", ")
        )));
    }
    Ok(v)
}

/// A signed-file member (`request`, `receipt`) as the bytes its verifier reads.
pub(crate) fn signed_member(v: &Value, name: &str) -> Result<Vec<u8>, ApiError> {
    match v.get(name) {
        Some(m @ Value::Object(_)) => Ok(m.to_canonical()),
        Some(_) => Err(ApiError::bad(format!(
            "{name} must be an object (the signed file)"
        ))),
        None => Err(ApiError::bad(format!("the body has no {name}"))),
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The answer to a granted request: the lease's facts and files, and the license's files only
/// when the machine needs them (`with_license`: a token activation, which has no license yet,
/// or a lease for another license than the request named, the renewal in force). A routine
/// renewal carries no license.
pub(crate) fn lease_body(f: &Fulfilled, with_license: bool) -> serde_json::Value {
    let a = &f.activation;
    let mut doc = f.document.clone();
    doc.push(b'\n');
    let mut files = json!({
        "activation.json": text(&doc),
        "activation.sig": text(&f.signature),
    });
    if with_license {
        files["license.json"] = json!(text(&f.license_document));
        files["license.sig"] = json!(text(&f.license_signature));
    }
    json!({
        "activation_id": a.activation_id,
        "license_id": a.license_id,
        "new_seat": f.new_seat,
        "seats_in_use": f.seats_in_use,
        "device_limit": a.device_limit,
        "overage": a.overage,
        "sequence": a.sequence,
        "not_after": a.not_after,
        "renew_after": a.renew_after,
        "files": files,
    })
}

pub(crate) fn verified_request(
    bytes: &[u8],
    now: Timestamp,
    fresh: Freshness,
) -> Result<runtime::activation::ActivationRequest, ApiError> {
    seats::check_request(bytes, now, fresh).map_err(ApiError::from)
}

async fn activate(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let client = app.client(peer, &headers);
    app.limit_address(Scope::Address, client)?;
    let v = body_object(&body, &["request", "token"])?;
    let now = app.now();
    let req = verified_request(&signed_member(&v, "request")?, now, Freshness::Online)?;
    let token = match v.get("token") {
        None => None,
        Some(Value::String(t)) => Some(runtime::activation::verify_token(&app.trust, t).map_err(
            |e| {
                ApiError::new(
                    Code::TokenInvalid,
                    format!("the install token does not verify: {e}"),
                )
            },
        )?),
        Some(_) => return Err(ApiError::bad("token must be a string")),
    };
    // The caller proves the license before anything is charged to it: a token that verified
    // and fits the request, or the license's own key (one answer for a wrong key and an unknown
    // license). Outsiders who only know a license id spend nothing of the customer's budget.
    match &token {
        Some(t) => seats::token_fits(&req, t, now)?,
        None => {
            let proven = !req.license_key.is_empty()
                && matches!(
                    app.call(
                        "prove",
                        Op::Prove {
                            license_id: req.license_id.clone(),
                            license_key: req.license_key.clone(),
                        },
                    )
                    .await?,
                    Answer::Proven(true)
                );
            if !proven {
                app.metrics
                    .outcome("activate", Code::LicenseNotFound.as_str());
                return Err(seats::not_found(&req.license_id).into());
            }
        }
    }
    app.limit(
        Scope::License,
        format!("license:{}", req.license_id).as_bytes(),
    )?;
    // A token activation has no license yet; a keyed one gets the license only when the
    // lease is for another (the lineage's license in force).
    let (asked, keyless) = (req.license_id.clone(), token.is_some());
    let op = Op::Activate {
        req: Box::new(req),
        token: token.map(Box::new),
    };
    let Answer::Lease(g) = app.call("activate", op).await? else {
        return Err(unexpected());
    };
    let f = app.store.sign(*g).map_err(ApiError::internal)?;
    app.metrics.outcome(
        "activate",
        if f.new_seat {
            "new_seat"
        } else {
            "existing_seat"
        },
    );
    let status = if f.new_seat {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let with_license = keyless || f.activation.license_id != asked;
    Ok((status, axum::Json(lease_body(&f, with_license))).into_response())
}

async fn renew(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let client = app.client(peer, &headers);
    app.limit_address(Scope::Address, client)?;
    let v = body_object(&body, &["request", "heartbeat"])?;
    let now = app.now();
    let req = verified_request(&signed_member(&v, "request")?, now, Freshness::Online)?;
    let heartbeat = match v.get("heartbeat") {
        None => None,
        Some(h) => {
            let hb: Heartbeat = serde_json::from_slice(&h.to_canonical())
                .map_err(|e| ApiError::new(Code::HeartbeatInvalid, e.to_string()))?;
            hb.check()
                .map_err(|e| ApiError::new(Code::HeartbeatInvalid, e))?;
            Some(hb)
        }
    };
    let asked = req.license_id.clone();
    let op = Op::Renew {
        id,
        req: Box::new(req),
        heartbeat,
    };
    let Answer::Lease(g) = app.call("renew", op).await? else {
        return Err(unexpected());
    };
    let f = app.store.sign(*g).map_err(ApiError::internal)?;
    app.metrics.outcome("renew", "renewed");
    let moved = f.activation.license_id != asked;
    Ok((StatusCode::OK, axum::Json(lease_body(&f, moved))).into_response())
}

async fn deactivate(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let client = app.client(peer, &headers);
    app.limit_address(Scope::Address, client)?;
    let v = body_object(&body, &["receipt"])?;
    let receipt = seats::check_receipt(&signed_member(&v, "receipt")?)?;
    if receipt.activation_id != id {
        return Err(Refusal {
            code: Code::ReceiptMismatch,
            message: format!(
                "the receipt is for activation {}, not {id}",
                receipt.activation_id
            ),
        }
        .into());
    }
    let op = Op::Deactivate {
        receipt: Box::new(receipt),
    };
    let Answer::Released(r) = app.call("deactivate", op).await? else {
        return Err(unexpected());
    };
    app.metrics.outcome("deactivate", "released");
    Ok(axum::Json(json!({
        "activation_id": r.row.activation_id,
        "released": true,
        "changed": r.changed,
    }))
    .into_response())
}

/// A machine proven by a fresh signed request: the request, its lineage's license ids, and
/// the product and tier of its license in force.
pub(crate) struct Machine {
    pub(crate) req: runtime::activation::ActivationRequest,
    pub(crate) ids: Vec<String>,
    pub(crate) product: String,
    pub(crate) tier: runtime::license::Tier,
}

/// The machine behind an update call: `Authorization: Airlock-Request <base64 request file>`,
/// a request made for this call (at most 5 minutes old) by a machine holding a live seat.
async fn update_seat(
    app: &App,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Machine, ApiError> {
    let client = app.client(peer, headers);
    app.limit_address(Scope::Download, client)?;
    let unauthorized = |m: &str| ApiError::new(Code::Unauthorized, m);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Airlock-Request "))
        .ok_or_else(|| {
            unauthorized("send Authorization: Airlock-Request <base64 of a fresh signed request>")
        })?;
    machine(app, "updates", auth).await
}

/// The machine behind a credential (base64 of a fresh signed request): a live seat of its
/// lineage, and a license in force that may be served.
pub(crate) async fn machine(
    app: &App,
    op: &'static str,
    credential: &str,
) -> Result<Machine, ApiError> {
    let unauthorized = |m: &str| ApiError::new(Code::Unauthorized, m);
    let bytes = canon::enc::unb64(credential.trim())
        .ok_or_else(|| unauthorized("the Airlock-Request credential is not base64"))?;
    let now = app.now();
    let req = verified_request(&bytes, now, Freshness::Credential)?;
    let Answer::Seat(_, ids) = app
        .call(
            op,
            Op::Seat {
                req: Box::new(req.clone()),
            },
        )
        .await?
    else {
        return Err(unexpected());
    };
    // Charged to the lineage only once the caller proved it holds one of its seats.
    app.limit(
        Scope::Download,
        format!("lineage:{}", req.lineage_id).as_bytes(),
    )?;
    let Answer::Serving(product, tier) = app
        .call(
            op,
            Op::Serving {
                req: Box::new(req.clone()),
            },
        )
        .await?
    else {
        return Err(unexpected());
    };
    let tier = runtime::license::Tier::parse(&tier)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("tier {tier:?} in the registry")))?;
    Ok(Machine {
        req,
        ids,
        product,
        tier,
    })
}

impl App {
    /// The channels `m`'s license entitles (the catalog's; `stable` without one).
    pub(crate) fn channels(&self, m: &Machine) -> Result<Vec<String>, ApiError> {
        match &self.catalog {
            Some(c) => c.channels(&m.product, m.tier).map_err(ApiError::internal),
            None => Ok(vec![runtime::manifest::DEFAULT_CHANNEL.to_string()]),
        }
    }
}

async fn healthz(State(app): State<Arc<App>>) -> ApiResult {
    match app.store.call(Op::Ping).await {
        Ok(Ok(_)) => {
            Ok(axum::Json(json!({"status": "ok", "backend": app.store.backend()})).into_response())
        }
        _ => Err(ApiError::new(
            Code::Unavailable,
            "the registry does not answer",
        )),
    }
}
