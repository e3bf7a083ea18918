//! The administrator's side (docs/HTTP.md, "Seat server administration"): a JSON API behind a
//! bearer credential (`serve --admin-credential FILE`) to see the seats in use, by whom and
//! since when, free one, reserve seats for named nodes or groups, and export the lease log;
//! and `airlock-seatd admin ...`, its command-line client.

use crate::api::{internal, ApiError};
use crate::store::Reservation;
use crate::writer::{Answer, Op};
use crate::Pool;
use anyhow::{bail, Context, Result};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use runtime::refusal::Code;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

fn authorized(p: &Pool, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(want) = p.admin else {
        return Err(ApiError(
            Code::AdminDisabled,
            "the admin API is off (start the seat server with --admin-credential FILE)".into(),
        ));
    };
    let same = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| canon::enc::same_secret(&want, &canon::enc::sha256(t.trim().as_bytes())));
    if !same {
        return Err(ApiError(
            Code::Unauthorized,
            "the admin API needs Authorization: Bearer <admin credential>".into(),
        ));
    }
    Ok(())
}

async fn call(p: &Pool, op: Op) -> Result<Answer, ApiError> {
    p.writer.call(op).await.map_err(internal)
}

fn unexpected(a: Answer) -> ApiError {
    internal(anyhow::anyhow!("unexpected answer {a:?}"))
}

/// `GET /v1/admin/seats`: the pool, its reservations and every seat in use.
pub async fn seats(State(p): State<Arc<Pool>>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorized(&p, &headers)?;
    let held = match call(&p, Op::Seats).await? {
        Answer::Seats(s) => s,
        a => return Err(unexpected(a)),
    };
    let reserved = match call(&p, Op::Reservations).await? {
        Answer::Reservations(r) => r,
        a => return Err(unexpected(a)),
    };
    let held: Vec<Value> = held
        .iter()
        .map(|s| {
            json!({"node_lease_id": s.id, "node": s.node.name, "group": s.node.group,
                   "fingerprint": s.node.fingerprint, "since": s.since.to_string(),
                   "renewed_at": s.renewed_at.to_string(), "not_after": s.not_after.to_string(),
                   "borrowed": s.borrowed, "server": s.server})
        })
        .collect();
    let reserved: Vec<Value> = reserved.iter().map(reservation_json).collect();
    Ok(Json(
        json!({"pool": p.lease.activation_id, "lineage_id": p.lease.lineage_id,
                   "product": p.lease.product, "seats": p.terms.seats, "in_use": held.len(),
                   "held": held, "reservations": reserved}),
    )
    .into_response())
}

fn reservation_json(r: &Reservation) -> Value {
    json!({"name": r.name, "seats": r.seats, "nodes": r.nodes, "groups": r.groups})
}

/// `POST /v1/admin/seats/{id}/release`: frees a seat (its node stops at its next renewal).
pub async fn release(
    State(p): State<Arc<Pool>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: Option<Json<Value>>,
) -> Result<Response, ApiError> {
    authorized(&p, &headers)?;
    let reason = body
        .as_ref()
        .and_then(|b| b.get("reason"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>();
    match call(&p, Op::ForceRelease(id.clone(), reason)).await? {
        Answer::ForceReleased(None) => Err(ApiError(
            Code::ActivationNotFound,
            format!("no seat {id} is held"),
        )),
        Answer::ForceReleased(Some(Err(s))) => Err(ApiError(
            Code::BadRequest,
            format!(
                "seat {id} is borrowed until {}: its node holds a lease valid offline, so it returns only when the node returns it or the borrow ends",
                s.not_after
            ),
        )),
        Answer::ForceReleased(Some(Ok(s))) => {
            p.metrics.force_released.fetch_add(1, Ordering::Relaxed);
            Ok(Json(json!({"node_lease_id": id, "released": true, "node": s.node.name,
                           "lease_valid_until": s.not_after.to_string()}))
            .into_response())
        }
        a => Err(unexpected(a)),
    }
}

/// `PUT /v1/admin/reservations/{name}` (`{seats, nodes, groups}`): holds seats back for the
/// nodes named (by name or fingerprint) or of the groups named.
pub async fn reserve(
    State(p): State<Arc<Pool>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    authorized(&p, &headers)?;
    let bad = |m: String| ApiError(Code::BadRequest, m);
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(bad(format!(
            "reservation name {name:?} must be 1-64 letters, digits, '.', '_' or '-'"
        )));
    }
    let list = |k: &str| -> Result<Vec<String>, ApiError> {
        match body.get(k) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v.as_str() {
                    Some(s) if !s.is_empty() && s.len() <= 128 && !s.contains(['\n', ',']) => Ok(s.to_string()),
                    _ => Err(bad(format!("{k} must be a list of names (1-128 characters, no comma or line break), not {v}"))),
                })
                .collect(),
            Some(v) => Err(bad(format!("{k} must be a list, not {v}"))),
        }
    };
    let r = Reservation {
        name: name.clone(),
        seats: body
            .get("seats")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .ok_or_else(|| bad("seats must be a whole number from 1".into()))?,
        nodes: list("nodes")?,
        groups: list("groups")?,
    };
    if r.nodes.is_empty() && r.groups.is_empty() {
        return Err(bad("a reservation names nodes or groups".into()));
    }
    match call(&p, Op::Reserve(name, Some(r.clone()))).await? {
        Answer::Reserved(Ok(_)) => Ok(Json(reservation_json(&r)).into_response()),
        Answer::Reserved(Err(total)) => Err(bad(format!(
            "the reservations would hold back {total} seats; the pool has {}",
            p.terms.seats
        ))),
        a => Err(unexpected(a)),
    }
}

/// `DELETE /v1/admin/reservations/{name}`.
pub async fn unreserve(
    State(p): State<Arc<Pool>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    authorized(&p, &headers)?;
    match call(&p, Op::Reserve(name.clone(), None)).await? {
        Answer::Reserved(Ok(true)) => {
            Ok(Json(json!({"name": name, "removed": true})).into_response())
        }
        Answer::Reserved(_) => Err(ApiError(Code::NotFound, format!("no reservation {name}"))),
        a => Err(unexpected(a)),
    }
}

/// `GET /v1/admin/log?after=N`: the lease log after entry N, its chain checked from the start.
pub async fn log(
    State(p): State<Arc<Pool>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    authorized(&p, &headers)?;
    let after = match q.get("after") {
        None => 0,
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError(
                Code::BadRequest,
                format!("after must be a whole number, not {v:?}"),
            )
        })?,
    };
    match call(&p, Op::Log(after)).await? {
        Answer::Log(entries) => Ok(Json(json!({"pool": p.lease.activation_id,
            "lineage_id": p.lease.lineage_id, "server_public_key": p.lease.instance_public_key,
            "entries": entries}))
        .into_response()),
        a => Err(unexpected(a)),
    }
}

/// `airlock-seatd admin`: the administrator's client.
#[derive(clap::Args)]
pub struct AdminArgs {
    /// The seat server, e.g. https://seats.internal:8443
    #[arg(long)]
    server: String,
    /// A file holding the admin credential (mode 0600)
    #[arg(long)]
    credential: PathBuf,
    /// A private CA (PEM) that signed the seat server's certificate
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Print the answer as JSON
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    cmd: AdminCmd,
}

#[derive(clap::Subcommand)]
enum AdminCmd {
    /// The seats in use: by which node, since when, until when
    Seats,
    /// Free a seat now (its node stops at its next renewal; a borrowed seat is refused)
    Release {
        /// The node lease id (`seats` lists them)
        id: String,
        /// Why (kept in the lease log)
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Hold seats back for named nodes (by name or fingerprint) or groups
    Reserve {
        /// The reservation's name
        name: String,
        /// How many seats
        #[arg(long)]
        seats: u64,
        /// A node's name or fingerprint; repeat for several
        #[arg(long)]
        node: Vec<String>,
        /// A group (nodes claim with --group); repeat for several
        #[arg(long)]
        group: Vec<String>,
    },
    /// Remove a reservation
    Unreserve {
        /// The reservation's name
        name: String,
    },
    /// Export the lease log (JSON) after an entry, its chain checked by the server
    Log {
        /// Only the entries after this one
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
}

/// Runs one admin command: 0 done, 1 refused (the code printed), 4 unreachable.
pub fn run(a: AdminArgs) -> Result<std::process::ExitCode> {
    let base = a.server.trim_end_matches('/').to_string();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!("--server {base:?} must start with http:// or https://");
    }
    let credential = std::fs::read_to_string(&a.credential)
        .with_context(|| format!("{}", a.credential.display()))?;
    signing::keyfile::read_credential(&a.credential)?;
    let mut cfg = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)));
    if let Some(ca) = &a.ca {
        let pem = clikit::input::read_capped(ca, 1 << 20)?;
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            bail!("{}: no PEM certificate in it", ca.display());
        }
        cfg = cfg.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                .build(),
        );
    }
    let agent: ureq::Agent = cfg.build().into();
    let auth = format!("Bearer {}", credential.trim());
    let resp = match &a.cmd {
        AdminCmd::Seats => agent
            .get(format!("{base}/v1/admin/seats"))
            .header("authorization", &auth)
            .call(),
        AdminCmd::Log { after } => agent
            .get(format!("{base}/v1/admin/log?after={after}"))
            .header("authorization", &auth)
            .call(),
        AdminCmd::Release { id, reason } => agent
            .post(format!("{base}/v1/admin/seats/{id}/release"))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(json!({ "reason": reason }).to_string()),
        AdminCmd::Reserve {
            name,
            seats,
            node,
            group,
        } => agent
            .put(format!("{base}/v1/admin/reservations/{name}"))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(json!({"seats": seats, "nodes": node, "groups": group}).to_string()),
        AdminCmd::Unreserve { name } => agent
            .delete(format!("{base}/v1/admin/reservations/{name}"))
            .header("authorization", &auth)
            .call(),
    };
    let mut resp = match resp {
        Ok(r) => r,
        Err(e) => {
            eprintln!("airlock-seatd admin: the seat server is unreachable: {e}");
            return Ok(std::process::ExitCode::from(4));
        }
    };
    let status = resp.status().as_u16();
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .context("the seat server's answer")?;
    let body: Value =
        serde_json::from_slice(&bytes).context("the seat server's answer is not JSON")?;
    if !(200..300).contains(&status) {
        let code = body["error"]["code"].as_str().unwrap_or("?");
        let msg = body["error"]["message"].as_str().unwrap_or("");
        if a.json {
            println!("{body}");
        }
        eprintln!("REJECTED [{code}] ({status}): {msg}");
        return Ok(std::process::ExitCode::from(if status >= 500 {
            4
        } else {
            1
        }));
    }
    if a.json || matches!(a.cmd, AdminCmd::Log { .. }) {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print_text(&a.cmd, &body);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn print_text(cmd: &AdminCmd, v: &Value) {
    match cmd {
        AdminCmd::Seats => {
            println!(
                "pool {} ({}): {} of {} seats in use",
                v["pool"].as_str().unwrap_or(""),
                v["product"].as_str().unwrap_or(""),
                v["in_use"],
                v["seats"]
            );
            for r in v["reservations"].as_array().into_iter().flatten() {
                println!(
                    "  reserved {}: {} seats for nodes {} groups {}",
                    r["name"].as_str().unwrap_or(""),
                    r["seats"],
                    r["nodes"],
                    r["groups"]
                );
            }
            for s in v["held"].as_array().into_iter().flatten() {
                println!(
                    "  {}  {:<20} since {}  until {}{}",
                    s["node_lease_id"].as_str().unwrap_or(""),
                    s["node"]
                        .as_str()
                        .filter(|n| !n.is_empty())
                        .unwrap_or("(unnamed)"),
                    s["since"].as_str().unwrap_or(""),
                    s["not_after"].as_str().unwrap_or(""),
                    if s["borrowed"] == true {
                        "  borrowed"
                    } else {
                        ""
                    }
                );
            }
        }
        AdminCmd::Release { id, .. } => println!(
            "released seat {id} (its lease ends by {})",
            v["lease_valid_until"].as_str().unwrap_or("")
        ),
        AdminCmd::Reserve { name, .. } => println!("reserved {name}: {} seats", v["seats"]),
        AdminCmd::Unreserve { name } => println!("removed reservation {name}"),
        AdminCmd::Log { .. } => {}
    }
}
