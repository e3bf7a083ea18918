//! Identities that survive containers and VMs (docs/FORMAT.md §21): the vocabulary and the
//! checks. A request may carry the machine's identity `components` (each a per-product one-way
//! value, never the raw id) and the `environment` it shows; a lease may carry the seat's
//! components and the vendor's `match` policy, under which a machine whose fingerprint changed
//! (a re-imaged VM, a new NIC, a migrated host) is still the seat's. A license carries the
//! policy and the virtualization rules as limits, signed like every activation term.

use crate::SchemaError;
use std::collections::BTreeMap;

/// The component names a request may carry.
pub const COMPONENTS: [&str; 5] = ["machine-id", "dmi-uuid", "mac", "hostname", "custom"];
/// The environments a request may report.
pub const ENVIRONMENTS: [&str; 3] = ["physical", "vm", "container"];
/// The match policies, in the order of [`LIMIT_ACTIVATION_MATCH`]'s values 1 to 4.
pub const POLICIES: [&str; 4] = ["any", "two", "most", "all"];
/// What a license may say of an environment, in the order of its limit's values 0 to 2:
/// `allow` it, `deny` every seat there (machine and floating), or let it hold `floating`
/// seats only (no machine seat).
pub const ENVIRONMENT_RULES: [&str; 3] = ["allow", "deny", "floating"];

/// The limit naming a license's match policy: 1 `any`, 2 `two`, 3 `most`, 4 `all` (absent or
/// 0: the exact fingerprint only).
pub const LIMIT_ACTIVATION_MATCH: &str = "activation_match";
/// The limit naming what a license allows in a VM ([`ENVIRONMENT_RULES`]' index).
pub const LIMIT_ACTIVATION_VM: &str = "activation_vm";
/// The limit naming what a license allows in a container ([`ENVIRONMENT_RULES`]' index).
pub const LIMIT_ACTIVATION_CONTAINER: &str = "activation_container";
/// The identity limits (reserved: a product cannot define them).
pub const IDENTITY_LIMITS: [&str; 3] = [
    LIMIT_ACTIVATION_MATCH,
    LIMIT_ACTIVATION_VM,
    LIMIT_ACTIVATION_CONTAINER,
];

/// The match policy a license's limits name, if any.
pub fn policy_of(limits: &BTreeMap<String, u64>) -> Option<&'static str> {
    match limits.get(LIMIT_ACTIVATION_MATCH) {
        Some(n @ 1..=4) => Some(POLICIES[*n as usize - 1]),
        _ => None,
    }
}

/// What a license's limits say of `environment` (`allow` when they say nothing).
pub fn rule_of(limits: &BTreeMap<String, u64>, environment: &str) -> &'static str {
    let limit = match environment {
        "vm" => LIMIT_ACTIVATION_VM,
        "container" => LIMIT_ACTIVATION_CONTAINER,
        _ => return "allow",
    };
    match limits.get(limit) {
        Some(n @ 1..=2) => ENVIRONMENT_RULES[*n as usize],
        _ => "allow",
    }
}

/// Checks a license's identity limits.
pub fn check_limits(what: &'static str, limits: &BTreeMap<String, u64>) -> Result<(), SchemaError> {
    if limits.get(LIMIT_ACTIVATION_MATCH).is_some_and(|v| *v > 4) {
        return Err(SchemaError::new(
            what,
            "limit activation_match must be from 0 to 4 (exact, any, two, most, all)",
        ));
    }
    for l in [LIMIT_ACTIVATION_VM, LIMIT_ACTIVATION_CONTAINER] {
        if limits.get(l).is_some_and(|v| *v > 2) {
            return Err(SchemaError::new(
                what,
                format!("limit {l} must be from 0 to 2 (allow, deny, floating)"),
            ));
        }
    }
    Ok(())
}

/// Checks a `components` member: known names, each value a fingerprint.
pub fn check_components(
    what: &'static str,
    components: &BTreeMap<String, String>,
) -> Result<(), SchemaError> {
    for (k, v) in components {
        if !COMPONENTS.contains(&k.as_str()) {
            return Err(SchemaError::new(
                what,
                format!("components: {k:?} is not one of {COMPONENTS:?}"),
            ));
        }
        if !crate::activation::valid_fingerprint(v) {
            return Err(SchemaError::new(
                what,
                format!("components.{k} must be fp1: and 64 lowercase hex digits"),
            ));
        }
    }
    Ok(())
}

/// Checks a request's `environment`.
pub fn check_environment(what: &'static str, e: Option<&str>) -> Result<(), SchemaError> {
    match e {
        Some(e) if !ENVIRONMENTS.contains(&e) => Err(SchemaError::new(
            what,
            format!("environment {e:?} is not one of {ENVIRONMENTS:?}"),
        )),
        _ => Ok(()),
    }
}

/// Checks a lease's `match` (with the components it matches against).
pub fn check_match(
    what: &'static str,
    policy: Option<&str>,
    components: &BTreeMap<String, String>,
) -> Result<(), SchemaError> {
    check_components(what, components)?;
    match policy {
        Some(p) if !POLICIES.contains(&p) => Err(SchemaError::new(
            what,
            format!("match {p:?} is not one of {POLICIES:?}"),
        )),
        Some(_) if components.is_empty() => {
            Err(SchemaError::new(what, "match needs the seat's components"))
        }
        _ => Ok(()),
    }
}

/// Whether `mine` is the machine whose seat recorded `seat`, under `policy`: `any` one
/// component in common, `two` two (or all of the seat's when it has fewer), `most` more than
/// half of the seat's, `all` every one of the seat's. A seat without components matches
/// nothing (the exact fingerprint is the only way then). The vendor's seat decision and the
/// runtime's lease check both ask this.
pub fn matches(
    policy: &str,
    seat: &BTreeMap<String, String>,
    mine: &BTreeMap<String, String>,
) -> bool {
    let n = seat.len();
    let common = seat
        .iter()
        .filter(|(k, v)| mine.get(*k).is_some_and(|m| m == *v))
        .count();
    n > 0
        && match policy {
            "any" => common >= 1,
            "two" => common >= 2.min(n),
            "most" => common * 2 > n,
            "all" => common == n,
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn policies_count_the_components_in_common() {
        let seat = map(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let one = map(&[("a", "1"), ("b", "x")]);
        let two = map(&[("a", "1"), ("b", "2"), ("c", "y"), ("d", "4")]);
        let all = map(&[("a", "1"), ("b", "2"), ("c", "3")]);
        assert!(matches("any", &seat, &one) && !matches("two", &seat, &one));
        assert!(matches("two", &seat, &two) && matches("most", &seat, &two));
        assert!(!matches("all", &seat, &two) && matches("all", &seat, &all));
        assert!(!matches("most", &seat, &one));
        assert!(
            !matches("exact", &seat, &all),
            "no such policy: nothing matches"
        );
        assert!(
            !matches("any", &BTreeMap::new(), &all),
            "a seat without components"
        );
        assert!(
            matches("two", &map(&[("a", "1")]), &one),
            "fewer than two: all of them"
        );
    }

    #[test]
    fn limits_name_the_policy_and_the_environment_rules() {
        let l: BTreeMap<String, u64> = [
            (LIMIT_ACTIVATION_MATCH.to_string(), 2),
            (LIMIT_ACTIVATION_CONTAINER.to_string(), 2),
            (LIMIT_ACTIVATION_VM.to_string(), 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(policy_of(&l), Some("two"));
        assert_eq!(rule_of(&l, "container"), "floating");
        assert_eq!(rule_of(&l, "vm"), "deny");
        assert_eq!(rule_of(&l, "physical"), "allow");
        assert!(check_limits("x", &l).is_ok());
        let mut bad = l.clone();
        bad.insert(LIMIT_ACTIVATION_VM.into(), 3);
        assert!(check_limits("x", &bad).is_err());
        assert_eq!(policy_of(&BTreeMap::new()), None);
    }
}
