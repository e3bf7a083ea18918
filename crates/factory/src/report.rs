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
        ("revoked_at".into(), opt(r.revoked_at)),
        ("revoke_reason".into(), opt(r.revoke_reason.as_ref())),
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
        View::of(r, now, within).as_str()
    )
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}
