//! The status as JSON: what a binding turns into its language's objects.

use runtime::product::{Activation, Status};
use serde_json::json;

/// `{"state", "standing", "warnings", "suspended", "license": {...}, "activation": {...}}`.
pub fn status(s: &Status) -> String {
    let l = s.license.license();
    let activation = match &s.activation {
        Activation::NotRequired => json!({"kind": "none"}),
        Activation::Missing => json!({"kind": "missing"}),
        Activation::Leased(lease, state) => {
            let a = lease.value();
            json!({"kind": "lease", "activation_id": a.activation_id, "not_after": a.not_after,
                   "renew_due": matches!(state, runtime::activation::LeaseState::RenewDue)})
        }
        Activation::Floating(seat) => json!({"kind": "floating",
            "node_lease_id": seat.node.node_lease_id, "pool": seat.node.pool_activation_id,
            "not_after": seat.node.not_after, "borrowed": seat.node.borrowed}),
        Activation::Refused(c, m) => json!({"kind": "refused", "check": c.as_str(), "message": m}),
    };
    json!({
        "state": s.state(),
        "standing": s.standing.state.as_str(),
        "warnings": s.warnings,
        "suspended": s.suspended.map(|t| t.to_string()),
        "license": {
            "license_id": l.license_id, "lineage_id": l.lineage_id, "product": l.product,
            "tier": serde_json::to_value(l.tier).unwrap_or_default(), "editions": l.editions,
            "customer": {"id": l.customer.id, "name": l.customer.name},
            "not_before": l.not_before, "expires_at": l.expires_at, "grace_days": l.grace_days,
            "features": l.features, "limits": l.limits,
        },
        "activation": activation,
    })
    .to_string()
}
