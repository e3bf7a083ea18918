//! JSON and text renderings of registry records shared by `list`, `show`, `issue`, `renew`.

use crate::registry::{Record, View};
use canon::{Timestamp, Value};

fn s(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

fn opt(v: Option<impl ToString>) -> Value {
    v.map_or(Value::Null, s)
}

/// The documented JSON object for one license record (docs/CLI.md, "license record").
pub fn record_json(r: &Record, now: Timestamp, within: i64) -> Value {
    Value::object(vec![
        ("license_id".into(), s(&r.license_id)),
        ("lineage_id".into(), s(&r.lineage_id)),
        ("sequence".into(), Value::Number(r.sequence as f64)),
        ("renewal_of".into(), opt(r.renewal_of.as_ref())),
        ("renewed_by".into(), opt(r.renewed_by.as_ref())),
        (
            "customer".into(),
            Value::object(vec![
                ("id".into(), s(&r.customer_id)),
                ("name".into(), s(&r.customer_name)),
            ])
            .expect("names"),
        ),
        ("product".into(), s(&r.product)),
        ("tier".into(), s(&r.tier)),
        ("license_key".into(), s(&r.license_key)),
        ("key_id".into(), s(&r.key_id)),
        ("issued_at".into(), s(r.issued_at)),
        ("not_before".into(), s(r.not_before)),
        ("expires_at".into(), s(r.expires_at)),
        ("grace_days".into(), Value::Number(r.grace_days as f64)),
        ("revoked_at".into(), opt(r.revoked_at)),
        ("revoke_reason".into(), opt(r.revoke_reason.as_ref())),
        ("revoke_code".into(), opt(r.revoke_code.as_ref())),
        ("suspended_at".into(), opt(r.suspended_at)),
        ("view".into(), s(View::of(r, now, within).as_str())),
    ])
    .expect("distinct names")
}

/// The text table header.
pub const HEADER: &str = "LICENSE               CUSTOMER              PRODUCT    TIER          NOT_BEFORE            EXPIRES_AT            VIEW";

/// One text table row.
pub fn record_line(r: &Record, now: Timestamp, within: i64) -> String {
    format!(
        "{:<21} {:<21} {:<10} {:<13} {} {} {}",
        r.license_id,
        truncate(&r.customer_name, 21),
        truncate(&r.product, 10),
        r.tier,
        r.not_before,
        r.expires_at,
        view_text(r, now, within)
    )
}

/// What a license grants, from its signed document (`show`).
pub struct Terms {
    /// Features, sorted.
    pub features: Vec<String>,
    /// Limits (0 = unlimited), the device limit among them.
    pub limits: Vec<(String, u64)>,
    /// The device limit (seats), when the license has one.
    pub device_limit: Option<u64>,
}

/// The terms of a recorded license (any schema: read from the signed document's `features`
/// and `limits`).
pub fn terms(r: &Record) -> anyhow::Result<Terms> {
    use anyhow::Context;
    let doc: serde_json::Value = serde_json::from_slice(&r.document)
        .with_context(|| format!("license {}: stored document", r.license_id))?;
    let mut features: Vec<String> = doc["features"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    features.sort();
    let limits: Vec<(String, u64)> = doc["limits"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    let device_limit = limits
        .iter()
        .find(|(k, _)| k == runtime::license::LIMIT_ACTIVATIONS)
        .map(|(_, v)| *v)
        .filter(|n| *n > 0);
    Ok(Terms {
        features,
        limits,
        device_limit,
    })
}

impl Terms {
    /// As JSON: `{"device_limit": N|null, "features": [...], "limits": {...}}`.
    pub fn json(&self) -> Value {
        Value::object(vec![
            (
                "device_limit".into(),
                self.device_limit
                    .map_or(Value::Null, |n| Value::Number(n as f64)),
            ),
            (
                "features".into(),
                Value::Array(self.features.iter().map(s).collect()),
            ),
            (
                "limits".into(),
                Value::object(
                    self.limits
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::Number(*v as f64)))
                        .collect(),
                )
                .expect("distinct limit names"),
            ),
        ])
        .expect("distinct names")
    }

    /// `agents=50 instances=3 ...` (0 = unlimited).
    pub fn limits_text(&self) -> String {
        self.limits
            .iter()
            .map(|(k, v)| match v {
                0 => format!("{k}=unlimited"),
                n => format!("{k}={n}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The view as the table shows it: a license renewed early says so.
pub fn view_text(r: &Record, now: Timestamp, within: i64) -> String {
    let v = View::of(r, now, within).as_str();
    match (&r.renewed_by, r.superseded(now)) {
        (Some(by), false) => format!("{v} (renewed by {by})"),
        _ => v.to_string(),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}
