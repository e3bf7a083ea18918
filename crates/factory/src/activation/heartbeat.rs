//! What a renewing machine may report with its renewal (bounded, no content, no addresses).

use canon::Value;

/// Most counts one heartbeat may carry.
pub const MAX_HEARTBEAT_COUNTS: usize = 32;

/// What a renewing machine may report: its product version, its uptime and counts the product
/// chooses to report (e.g. `calls_today`). Nothing else: no content, no addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The product's version.
    #[serde(default)]
    pub product_version: Option<String>,
    /// Seconds since the product started.
    #[serde(default)]
    pub uptime_seconds: Option<u64>,
    /// Named counts.
    #[serde(default)]
    pub counts: std::collections::BTreeMap<String, u64>,
}

impl Heartbeat {
    /// Checks the bounds: a version of at most 64 printable characters, at most 32 counts
    /// named like identifiers (at most 64 characters), every number at most 2^53-1.
    pub fn check(&self) -> Result<(), String> {
        if let Some(v) = &self.product_version {
            if v.is_empty()
                || v.chars().count() > 64
                || runtime::text::first_unprintable(v).is_some()
            {
                return Err("product_version must be 1-64 printable characters".into());
            }
        }
        if self
            .uptime_seconds
            .is_some_and(|u| u > runtime::MAX_SAFE_INTEGER)
        {
            return Err("uptime_seconds must be at most 2^53-1".into());
        }
        if self.counts.len() > MAX_HEARTBEAT_COUNTS {
            return Err(format!("at most {MAX_HEARTBEAT_COUNTS} counts"));
        }
        for (k, v) in &self.counts {
            if k.len() > 64 || !runtime::license::valid_id(k) {
                return Err(format!(
                    "count name {k:?} must be 1-64 characters of A-Z a-z 0-9 . _ : -"
                ));
            }
            if *v > runtime::MAX_SAFE_INTEGER {
                return Err(format!("count {k} must be at most 2^53-1"));
            }
        }
        Ok(())
    }

    pub(super) fn counts_json(&self) -> String {
        let v = Value::object(
            self.counts
                .iter()
                .map(|(k, v)| (k.clone(), Value::Number(*v as f64)))
                .collect(),
        )
        .expect("distinct names");
        String::from_utf8(v.to_canonical()).expect("canonical JSON is UTF-8")
    }
}
