//! The nodes' routes (docs/HTTP.md, "Seat server"): a claim (a new seat, a renewal, a borrow)
//! and a release, each authenticated by a fresh request the node signs with its instance key,
//! each answered with a node lease signed by the server's instance key; `/healthz` and
//! `/metrics`. Every decision is the store's, made by the writer thread.

use crate::store::{Claim, Node};
use crate::writer::{Answer, Op};
use crate::Pool;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use canon::{enc, Kind, Timestamp};
use runtime::activation::{check_request, ActivationRequest, Freshness, SignedFile};
use runtime::format_floating::{NodeLease, NODE_LEASE_TYPE};
use runtime::refusal::Code;
use runtime::Artifact;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A refusal: its code (status from the table) and message.
pub struct ApiError(pub Code, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (
            status,
            Json(json!({"error": {"code": self.0.as_str(), "message": self.1}})),
        )
            .into_response();
        // Nodes retry a full pool or a server whose clock is behind after a while.
        if matches!(
            self.0,
            Code::PoolFull | Code::ServerClockBack | Code::Unavailable
        ) {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
        }
        r
    }
}

/// An internal failure.
pub fn internal(e: anyhow::Error) -> ApiError {
    ApiError(Code::Internal, format!("{e:#}"))
}

/// What the server counts for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    /// New seats leased.
    pub leased: AtomicU64,
    /// Seats renewed.
    pub renewed: AtomicU64,
    /// Seats released by their nodes.
    pub released: AtomicU64,
    /// Seats freed by the administrator.
    pub force_released: AtomicU64,
    /// Claims refused, by code.
    pub refused: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl Metrics {
    fn refuse(&self, code: Code) {
        if let Ok(mut m) = self.refused.lock() {
            *m.entry(code.as_str()).or_default() += 1;
        }
    }
}

/// One JSON line on stderr per decision (the structured log an operator ships).
fn log_line(event: &str, fields: Value) {
    let mut v = json!({"at": crate::now().to_string(), "event": event});
    if let (Some(o), Value::Object(f)) = (v.as_object_mut(), fields) {
        o.extend(f);
    }
    eprintln!("{v}");
}

/// The node's request in a body: verified (its instance key), fresh (5 minutes), for this
/// pool, carrying the served license's key.
fn node_request(p: &Pool, body: &Value, now: Timestamp) -> Result<ActivationRequest, ApiError> {
    let file = serde_json::to_vec(
        body.get("request")
            .ok_or_else(|| ApiError(Code::BadRequest, "the body needs request".into()))?,
    )
    .map_err(|e| ApiError(Code::BadRequest, e.to_string()))?;
    // A node signs a request for each call: it is the call's credential.
    let req = check_request(&file, now, Freshness::Credential)
        .map_err(|r| ApiError(r.code, r.message))?;
    if req.product != p.lease.product || req.lineage_id != p.lease.lineage_id {
        return Err(ApiError(
            Code::LicenseMismatch,
            format!(
                "this seat server leases {} of lineage {}",
                p.lease.product, p.lease.lineage_id
            ),
        ));
    }
    // Only a node holding the license claims or frees its seats.
    if !enc::same_secret(&enc::sha256(req.license_key.as_bytes()), &p.license_key) {
        return Err(ApiError(
            Code::LicenseNotFound,
            "the request does not carry the key of the license this seat server serves".into(),
        ));
    }
    Ok(req)
}

/// A node's group from a claim body: empty, or a name of at most 64 of `[A-Za-z0-9._-]`.
fn group_of(body: &Value) -> Result<String, ApiError> {
    match body.get("group") {
        None => Ok(String::new()),
        Some(Value::String(g))
            if g.len() <= 64
                && g.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
        {
            Ok(g.clone())
        }
        Some(v) => Err(ApiError(
            Code::BadRequest,
            format!("group must be at most 64 letters, digits, '.', '_' or '-', not {v}"),
        )),
    }
}

/// How long a claim leases: the server's node lease, or a borrow up to the pool's limit, never
/// past the pool lease's end.
fn lease_seconds(p: &Pool, body: &Value, now: Timestamp) -> Result<(i64, bool), ApiError> {
    let borrow = match body.get("borrow_seconds") {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ApiError(
                Code::BadRequest,
                format!("borrow_seconds must be a whole number of seconds, not {v}"),
            )
        })?),
    };
    let secs = match borrow {
        Some(0) | None => p.lease_secs,
        Some(s) if s <= p.terms.max_borrow_seconds => s as i64,
        Some(s) => {
            return Err(ApiError(
                Code::BadRequest,
                format!(
                    "a borrow of {s} s is longer than the pool allows ({} s)",
                    p.terms.max_borrow_seconds
                ),
            ))
        }
    };
    let pool_end = Timestamp::parse(&p.lease.not_after).unwrap_or(now);
    let secs = secs.min(pool_end.0 - now.0);
    if secs <= 0 {
        return Err(ApiError(
            Code::Unavailable,
            "the pool lease has ended: the seat server renews it with the vendor".into(),
        ));
    }
    Ok((secs, borrow.is_some_and(|s| s > 0)))
}

/// `POST /v1/nodes/claim`: a new seat, the node's own renewed, or a borrow.
pub async fn claim(
    State(p): State<Arc<Pool>>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    match claim_inner(&p, &body).await {
        Ok(r) => Ok(r),
        Err(e) => {
            p.metrics.refuse(e.0);
            log_line("refused", json!({"code": e.0.as_str(), "message": e.1}));
            let full = e.0 == Code::PoolFull;
            let mut r = e.into_response();
            if full {
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from(p.retry_seconds),
                );
            }
            Ok(r)
        }
    }
}

async fn claim_inner(p: &Pool, body: &Value) -> Result<Response, ApiError> {
    let req = node_request(p, body, crate::now())?;
    let node = Node {
        fingerprint: req.fingerprint.clone(),
        key: req.instance_public_key.clone(),
        name: req.label.clone(),
        group: group_of(body)?,
    };
    // A license that denies seats in the node's environment denies floating ones too
    // (`floating` lets them float: that is this server's seats).
    if let Some(env) = req.environment.as_deref() {
        if runtime::format_identity::rule_of(&p.limits, env) == "deny" {
            return Err(ApiError(
                Code::EnvironmentNotAllowed,
                format!("the license allows no seat in a {env}, floating or not"),
            ));
        }
    }
    let (secs, borrowed) = lease_seconds(p, body, crate::now())?;
    let (decided, now) = match p.writer.call(Op::Claim(node, secs, borrowed)).await {
        Ok(Answer::Claim(c, now)) => (c, now),
        Ok(other) => return Err(internal(anyhow::anyhow!("unexpected answer {other:?}"))),
        Err(e) => return Err(internal(e)),
    };
    let (seat, sequence, new) = match decided {
        Claim::Granted { seat, sequence, new } => (seat, sequence, new),
        Claim::Full { seats, reserved: 0 } => {
            return Err(ApiError(Code::PoolFull, format!("all {seats} floating seats are held")))
        }
        Claim::Full { seats, reserved } => {
            return Err(ApiError(
                Code::PoolFull,
                format!("the {seats} floating seats are held or reserved for other nodes ({reserved} reserved, not held)"),
            ))
        }
        Claim::Taken => {
            return Err(ApiError(Code::SeatTaken, "this node's fingerprint holds a seat under another instance key".into()))
        }
        Claim::ClockBack(floor) => {
            return Err(ApiError(
                Code::ServerClockBack,
                format!("the seat server's clock ({now}) is behind what it signed ({floor}): it leases nothing until the clock is right"),
            ))
        }
    };
    // Bounded again here, whatever the store holds: a lease past the pool's end never leaves.
    let node = NodeLease {
        doc_type: NODE_LEASE_TYPE.into(),
        node_lease_id: seat.id.clone(),
        pool_activation_id: p.lease.activation_id.clone(),
        lineage_id: p.lease.lineage_id.clone(),
        product: p.lease.product.clone(),
        node_fingerprint: seat.node.fingerprint.clone(),
        node_public_key: seat.node.key.clone(),
        server_public_key: p.lease.instance_public_key.clone(),
        server_sequence: sequence,
        server_time: now.to_string(),
        issued_at: now.to_string(),
        not_after: seat.not_after.to_string(),
        borrowed: seat.borrowed,
    };
    node.validate().map_err(|e| internal(e.into()))?;
    let canonical = node.to_canonical();
    let envelope = p
        .key
        .sign_document(Kind::NodeLease, &canonical)
        .map_err(|e| internal(e.into()))?;
    let file = SignedFile {
        canonical,
        envelope,
    }
    .to_bytes();
    let counter = if new {
        &p.metrics.leased
    } else {
        &p.metrics.renewed
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if new {
        log_line(
            "leased",
            json!({"seat": seat.id, "node": seat.node.name, "fingerprint": seat.node.fingerprint, "not_after": seat.not_after.to_string(), "borrowed": seat.borrowed, "sequence": sequence}),
        );
    }
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "node_lease_id": seat.id, "new_seat": new, "not_after": seat.not_after.to_string(),
            "server_sequence": sequence, "borrowed": seat.borrowed,
            "files": {"pool.json": p.doc, "pool.sig": p.sig, "node-lease.json": String::from_utf8_lossy(&file)},
        })),
    )
        .into_response())
}

/// `POST /v1/nodes/{id}/release`: the node gives its seat back (a borrow returned early).
pub async fn release(
    State(p): State<Arc<Pool>>,
    UrlPath(id): UrlPath<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let req = node_request(&p, &body, crate::now())?;
    let node = Node {
        fingerprint: req.fingerprint.clone(),
        key: req.instance_public_key.clone(),
        ..Node::default()
    };
    let done = match p.writer.call(Op::Release(id.clone(), node)).await {
        Ok(Answer::Released(d)) => d,
        Ok(other) => return Err(internal(anyhow::anyhow!("unexpected answer {other:?}"))),
        Err(e) => return Err(internal(e)),
    };
    if !done {
        return Err(ApiError(
            Code::ActivationNotFound,
            format!("this node holds no live seat {id}"),
        ));
    }
    p.metrics.released.fetch_add(1, Ordering::Relaxed);
    log_line(
        "released",
        json!({"seat": id, "fingerprint": req.fingerprint}),
    );
    Ok(Json(json!({"node_lease_id": id, "released": true})).into_response())
}

/// `GET /healthz`: the pool, the seats in use, the log's length (its chain is checked at
/// start and at every export).
pub async fn health(State(p): State<Arc<Pool>>) -> Result<Response, ApiError> {
    let live = match p.writer.call(Op::Seats).await.map_err(internal)? {
        Answer::Seats(s) => s.len(),
        other => return Err(internal(anyhow::anyhow!("unexpected answer {other:?}"))),
    };
    let log = match p.writer.call(Op::LogLength).await.map_err(internal)? {
        Answer::LogLength(n) => n,
        other => return Err(internal(anyhow::anyhow!("unexpected answer {other:?}"))),
    };
    Ok(Json(json!({"status": "ok", "pool": p.lease.activation_id, "backend": p.backend, "seats": p.terms.seats, "in_use": live, "log_entries": log})).into_response())
}

/// `GET /metrics`: Prometheus text (counts only, nothing secret).
pub async fn metrics(State(p): State<Arc<Pool>>) -> Result<Response, ApiError> {
    let seats = match p.writer.call(Op::Seats).await.map_err(internal)? {
        Answer::Seats(s) => s,
        other => return Err(internal(anyhow::anyhow!("unexpected answer {other:?}"))),
    };
    let borrowed = seats.iter().filter(|s| s.borrowed).count();
    let m = &p.metrics;
    let mut t = String::new();
    let mut gauge = |name: &str, help: &str, v: u64| {
        t.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
        ));
    };
    gauge(
        "airlock_seatd_seats",
        "Floating seats the pool lease allows.",
        p.terms.seats,
    );
    gauge(
        "airlock_seatd_seats_in_use",
        "Seats held now (borrowed included).",
        seats.len() as u64,
    );
    gauge(
        "airlock_seatd_seats_borrowed",
        "Seats borrowed now.",
        borrowed as u64,
    );
    t.push_str("# HELP airlock_seatd_leases_total Node leases signed, by kind.\n# TYPE airlock_seatd_leases_total counter\n");
    for (kind, c) in [("new", &m.leased), ("renewal", &m.renewed)] {
        t.push_str(&format!(
            "airlock_seatd_leases_total{{kind=\"{kind}\"}} {}\n",
            c.load(Ordering::Relaxed)
        ));
    }
    t.push_str("# HELP airlock_seatd_releases_total Seats given back, by whom.\n# TYPE airlock_seatd_releases_total counter\n");
    for (by, c) in [("node", &m.released), ("admin", &m.force_released)] {
        t.push_str(&format!(
            "airlock_seatd_releases_total{{by=\"{by}\"}} {}\n",
            c.load(Ordering::Relaxed)
        ));
    }
    t.push_str("# HELP airlock_seatd_claims_refused_total Claims refused, by code.\n# TYPE airlock_seatd_claims_refused_total counter\n");
    if let Ok(r) = m.refused.lock() {
        for (code, n) in r.iter() {
            t.push_str(&format!(
                "airlock_seatd_claims_refused_total{{code=\"{code}\"}} {n}\n"
            ));
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], t).into_response())
}
