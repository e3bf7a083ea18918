//! The admin API and the metrics, behind the admin credential (compared by its SHA-256, in
//! full): seats, forced release, reset, revocation.

use crate::*;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use canon::{Timestamp, Value};
use factory::activation::{Code, Listed};
use runtime::revocation::Reason;
use serde_json::json;
use std::sync::Arc;
use store::{Answer, Op};

/// Whether `given` is the admin credential whose SHA-256 is `want` (digests compared in full,
/// whatever differs first).
pub(crate) fn same_credential(want: &[u8; 32], given: &str) -> bool {
    canon::enc::same_secret(want, &canon::enc::sha256(given.trim().as_bytes()))
}

pub(crate) fn admin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(want) = app.admin else {
        return Err(ApiError::new(
            Code::AdminDisabled,
            "the admin API is off (start the service with --admin-token-file)",
        ));
    };
    let same = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same_credential(&want, t));
    if !same {
        return Err(ApiError::new(
            Code::Unauthorized,
            "the admin API needs Authorization: Bearer <admin credential>",
        ));
    }
    Ok(())
}

pub(crate) fn row_json(l: &Listed, now: Timestamp) -> serde_json::Value {
    let r = &l.row;
    json!({
        "rebound_from": l.rebound_from,
        "activation_id": r.activation_id,
        "license_id": r.license_id,
        "lineage_id": r.lineage_id,
        "fingerprint": r.fingerprint,
        "label": r.label,
        "status": r.status(now),
        "overage": r.overage,
        "epoch": r.epoch,
        "created_at": r.created_at.to_string(),
        "lease_sequence": r.lease_sequence,
        "lease_not_after": r.lease_not_after.to_string(),
        "released_at": r.released_at.map(|t| t.to_string()),
        "release_kind": r.release_kind,
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    pub(crate) license: Option<String>,
}

pub(crate) async fn admin_list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult {
    admin(&app, &headers)?;
    let Answer::Rows(rows) = app
        .call(
            "list",
            Op::List {
                license_id: q.license,
            },
        )
        .await?
    else {
        return Err(unexpected());
    };
    let now = app.now();
    let rows: Vec<_> = rows.iter().map(|r| row_json(r, now)).collect();
    Ok(axum::Json(json!({ "activations": rows })).into_response())
}

pub(crate) fn reason(body: &[u8]) -> Result<String, ApiError> {
    reason_of(&body_object(body, &["reason"])?)
}

fn reason_of(v: &Value) -> Result<String, ApiError> {
    match v.get("reason") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 512 => Ok(s.clone()),
        _ => Err(ApiError::bad(
            "reason must be a non-empty string of at most 512 characters",
        )),
    }
}

pub(crate) async fn admin_release(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    admin(&app, &headers)?;
    let reason = reason(&body)?;
    let Answer::Released(r) = app.call("release", Op::Release { id, reason }).await? else {
        return Err(unexpected());
    };
    app.metrics.outcome("release", "released");
    Ok(axum::Json(json!({"activation": row_json(
        &Listed {
            row: r.row.clone(),
            rebound_from: None,
        },
        app.now(),
    )}))
    .into_response())
}

pub(crate) async fn admin_reset(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(license_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    admin(&app, &headers)?;
    let reason = reason(&body)?;
    let Answer::Reset(r) = app.call("reset", Op::Reset { license_id, reason }).await? else {
        return Err(unexpected());
    };
    app.metrics.outcome("reset", "reset");
    Ok(
        axum::Json(json!({"lineage_id": r.lineage_id, "epoch": r.epoch, "released": r.released}))
            .into_response(),
    )
}

pub(crate) async fn admin_revoke(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(license_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    admin(&app, &headers)?;
    let v = body_object(&body, &["reason", "code"])?;
    let reason = reason_of(&v)?;
    let code = match v.get("code") {
        None => Reason::Unspecified,
        Some(Value::String(c)) => Reason::parse(c).ok_or_else(|| {
            ApiError::bad(format!(
                "code {c:?} is not a reason code ({})",
                Reason::names()
            ))
        })?,
        Some(_) => return Err(ApiError::bad("code must be a string")),
    };
    app.call(
        "revoke",
        Op::Revoke {
            license_id: license_id.clone(),
            code,
            reason,
        },
    )
    .await?;
    app.metrics.outcome("revoke", "revoked");
    Ok(
        axum::Json(json!({"license_id": license_id, "revoked": true, "code": code.as_str()}))
            .into_response(),
    )
}

/// `POST /v1/admin/licenses/{id}/suspend` and `/resume`.
async fn suspension(
    app: Arc<App>,
    headers: HeaderMap,
    license_id: String,
    body: Bytes,
    suspend: bool,
) -> ApiResult {
    admin(&app, &headers)?;
    let reason = reason(&body)?;
    let name = if suspend { "suspend" } else { "resume" };
    app.call(
        name,
        Op::Suspend {
            license_id: license_id.clone(),
            suspend,
            reason,
        },
    )
    .await?;
    app.metrics
        .outcome(name, if suspend { "suspended" } else { "resumed" });
    Ok(axum::Json(json!({"license_id": license_id, "suspended": suspend})).into_response())
}

pub(crate) async fn admin_suspend(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(license_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    suspension(app, headers, license_id, body, true).await
}

pub(crate) async fn admin_resume(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(license_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    suspension(app, headers, license_id, body, false).await
}

/// `POST /v1/admin/tokens/{id}/revoke`: the install token is refused from now on.
pub(crate) async fn admin_token_revoke(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(token_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    admin(&app, &headers)?;
    let reason = reason(&body)?;
    let Answer::TokenRevoked(t) = app
        .call("token revoke", Op::RevokeToken { token_id, reason })
        .await?
    else {
        return Err(unexpected());
    };
    app.metrics.outcome("token_revoke", "revoked");
    Ok(axum::Json(json!({"token": {
        "token_id": t.token_id,
        "license_id": t.license_id,
        "allowance": t.allowance,
        "used": t.used,
        "revoked": true,
    }}))
    .into_response())
}

/// Prometheus text, behind the admin credential (a scrape config sends it as a bearer
/// token): the counts tell an outsider which licenses and codes are busy.
pub(crate) async fn metrics_text(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    admin(&app, &headers)?;
    let mut text = app.metrics.render(app.store.backend());
    text.push_str(&format!(
        "# HELP airlock_connections_open Connections open now.\n# TYPE airlock_connections_open gauge\nairlock_connections_open {}\n# HELP airlock_connections_refused_total Connections closed at accept: a connection cap was reached.\n# TYPE airlock_connections_refused_total counter\nairlock_connections_refused_total {}\n",
        app.conns.open(),
        app.conns.refused()
    ));
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}
