//! The product catalog: a vendor-edited JSON file declaring products, editions, features,
//! limits and per-tier templates (docs/FORMAT.md §9). Unknown products, features, limits or
//! members are errors, never silent additions.

use anyhow::{bail, Context, Result};
use runtime::license::{valid_id, Tier};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The catalog's file name in the vendor home (when neither `--catalog` nor `AIRLOCK_CATALOG`).
pub const HOME_CATALOG: &str = "catalog.json";

/// The whole catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Format version: 1.
    pub catalog_version: u64,
    /// The vendor's name, written as `issuer` into licenses.
    pub issuer: String,
    /// Products by id.
    pub products: BTreeMap<String, Product>,
}

/// One product.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Display name.
    pub name: String,
    /// Editions the product ships in.
    pub editions: Vec<String>,
    /// Every feature the product knows.
    pub features: Vec<String>,
    /// Every limit the product knows.
    pub limits: Vec<String>,
    /// Tier templates.
    pub tiers: BTreeMap<Tier, Template>,
    /// Release channels besides `stable` (which always exists), e.g. `beta`.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Container image repositories of the product, each with the channel it belongs to
    /// (`{"gateway/runtime": "stable", "gateway/runtime-beta": "beta"}`): a registry token for
    /// one is given to a live seat whose tier entitles that channel.
    #[serde(default)]
    pub repositories: BTreeMap<String, String>,
}

/// Changes to a license's terms, checked against its product: features to add and remove,
/// limits to set, and the device limit.
#[derive(Debug, Clone, Copy)]
pub struct TermChanges<'a> {
    /// Features to add.
    pub add: &'a [String],
    /// Features to remove (each must be there).
    pub remove: &'a [String],
    /// Limits to set (0 = unlimited).
    pub limits: &'a BTreeMap<String, u64>,
    /// Seats, 1 to 10,000.
    pub device_limit: Option<u64>,
}

impl Product {
    /// Whether the product has release channel `ch` (`stable` always).
    pub fn has_channel(&self, ch: &str) -> bool {
        ch == runtime::manifest::DEFAULT_CHANNEL || self.channels.iter().any(|c| c == ch)
    }

    /// Applies `c` to `features` and `limits` (a tier's template, or a license's terms): the
    /// one place a feature or limit a product does not know is refused, naming the known
    /// ones. Returns the features sorted and the limits.
    pub fn apply(
        &self,
        id: &str,
        mut features: Vec<String>,
        mut limits: BTreeMap<String, u64>,
        c: TermChanges<'_>,
    ) -> anyhow::Result<(Vec<String>, BTreeMap<String, u64>)> {
        for f in c.add {
            if !self.features.contains(f) {
                anyhow::bail!(
                    "unknown feature {f:?} for product {id:?}; known: {}",
                    self.features.join(", ")
                );
            }
            if !features.contains(f) {
                features.push(f.clone());
            }
        }
        for f in c.remove {
            if !features.contains(f) {
                anyhow::bail!("the license does not have feature {f:?}");
            }
            features.retain(|x| x != f);
        }
        features.sort();
        for (name, v) in c.limits {
            if !self.limits.contains(name) {
                anyhow::bail!(
                    "unknown limit {name:?} for product {id:?}; known: {}",
                    self.limits.join(", ")
                );
            }
            if *v > runtime::MAX_SAFE_INTEGER {
                anyhow::bail!("limit {name}={v} is larger than 2^53-1");
            }
            limits.insert(name.clone(), *v);
        }
        if let Some(n) = c.device_limit {
            if n == 0 || n > runtime::activation::MAX_DEVICE_LIMIT {
                anyhow::bail!("--device-limit {n} must be from 1 to 10000");
            }
            limits.insert(runtime::license::LIMIT_ACTIVATIONS.to_string(), n);
        }
        Ok((features, limits))
    }
}

/// A tier template. For `sovereign`, features and limits must be absent: it always means
/// every feature and every limit unlimited.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Editions allowed.
    pub editions: Vec<String>,
    /// Default features.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Default limits (0 = unlimited).
    #[serde(default)]
    pub limits: Option<BTreeMap<String, u64>>,
    /// Default validity in days when `--expires` is not given.
    pub validity_days: u64,
    /// Grace days after expiry.
    pub grace_days: u64,
    /// Whether production use is allowed.
    pub production_use: bool,
    /// Device activation terms (absent: the license runs on any number of machines).
    #[serde(default)]
    pub activation: Option<ActivationTerms>,
    /// Release channels the tier entitles (absent: `stable` only).
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Floating use (absent: the tier does not float): a seat server of the customer's may
    /// lease this many seats to nodes (docs/FORMAT.md §20).
    #[serde(default)]
    pub floating: Option<FloatingTerms>,
}

/// A tier's floating terms, written into the license as limits (`floating_seats`,
/// `floating_lease_seconds`, `floating_borrow_seconds`): signed, like the activation terms.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloatingTerms {
    /// Nodes that may hold a seat at once.
    pub seats: u64,
    /// The longest node lease, in minutes (default 15).
    #[serde(default = "fifteen")]
    pub node_lease_minutes: u64,
    /// The longest borrow, in hours (default 0: no borrowing).
    #[serde(default)]
    pub borrow_hours: u64,
}

fn fifteen() -> u64 {
    15
}

impl FloatingTerms {
    /// The limits these terms put into a license.
    pub fn limits(&self) -> [(String, u64); 3] {
        use runtime::format_floating::{
            LIMIT_FLOATING_BORROW, LIMIT_FLOATING_LEASE, LIMIT_FLOATING_SEATS,
        };
        [
            (LIMIT_FLOATING_SEATS.to_string(), self.seats),
            (
                LIMIT_FLOATING_LEASE.to_string(),
                self.node_lease_minutes.saturating_mul(60),
            ),
            (
                LIMIT_FLOATING_BORROW.to_string(),
                self.borrow_hours.saturating_mul(3600),
            ),
        ]
    }
}

/// A tier's activation terms, written into the license as limits (`activation_required`,
/// `activations`, `activation_overage_percent`): signed, so the customer cannot change them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationTerms {
    /// Whether the product must be activated on a machine before it runs licensed work.
    pub required: bool,
    /// Seats per license, 1 to 10,000 (default 1).
    #[serde(default = "one")]
    pub device_limit: u64,
    /// Seats allowed over the limit, in percent (0 to 100; default 0), recorded as overage.
    #[serde(default)]
    pub overage_percent: u64,
    /// How a machine whose fingerprint changed is still its seat's: `any`, `two`, `most` or
    /// `all` of its identity components in common (FORMAT.md §21); absent: the exact
    /// fingerprint only.
    #[serde(default, rename = "match")]
    pub match_policy: Option<String>,
    /// What the license allows in a VM and in a container: `allow` (the default), `deny`, or
    /// `floating` (no machine seat there; a seat server's floating seats only).
    #[serde(default)]
    pub virtualization: Option<Virtualization>,
}

/// A tier's rules for virtual machines and containers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Virtualization {
    /// In a VM.
    #[serde(default)]
    pub vm: Option<String>,
    /// In a container.
    #[serde(default)]
    pub container: Option<String>,
}

fn rule_value(what: &str, r: Option<&str>) -> anyhow::Result<Option<u64>> {
    use runtime::format_identity::ENVIRONMENT_RULES;
    match r {
        None | Some("allow") => Ok(None),
        Some(r) => ENVIRONMENT_RULES
            .iter()
            .position(|x| *x == r)
            .map(|i| Some(i as u64))
            .ok_or_else(|| {
                anyhow::anyhow!("virtualization.{what} {r:?} is not one of {ENVIRONMENT_RULES:?}")
            }),
    }
}

fn one() -> u64 {
    1
}

impl ActivationTerms {
    /// The identity limits these terms put into a license (FORMAT.md §21), checked.
    pub fn identity_limits(&self) -> anyhow::Result<Vec<(String, u64)>> {
        use runtime::format_identity::{
            LIMIT_ACTIVATION_CONTAINER, LIMIT_ACTIVATION_MATCH, LIMIT_ACTIVATION_VM, POLICIES,
        };
        let mut out = Vec::new();
        if let Some(p) = &self.match_policy {
            let i = POLICIES.iter().position(|x| x == p).ok_or_else(|| {
                anyhow::anyhow!("activation.match {p:?} is not one of {POLICIES:?}")
            })?;
            out.push((LIMIT_ACTIVATION_MATCH.to_string(), i as u64 + 1));
        }
        let v = self.virtualization.clone().unwrap_or_default();
        if let Some(n) = rule_value("vm", v.vm.as_deref())? {
            out.push((LIMIT_ACTIVATION_VM.to_string(), n));
        }
        if let Some(n) = rule_value("container", v.container.as_deref())? {
            out.push((LIMIT_ACTIVATION_CONTAINER.to_string(), n));
        }
        Ok(out)
    }

    /// The limits these terms put into a license.
    pub fn limits(&self) -> impl Iterator<Item = (String, u64)> {
        use runtime::license::{
            LIMIT_ACTIVATIONS, LIMIT_ACTIVATION_OVERAGE, LIMIT_ACTIVATION_REQUIRED,
        };
        [
            (
                LIMIT_ACTIVATION_REQUIRED.to_string(),
                u64::from(self.required),
            ),
            (LIMIT_ACTIVATIONS.to_string(), self.device_limit),
        ]
        .into_iter()
        .chain(
            (self.overage_percent > 0)
                .then(|| (LIMIT_ACTIVATION_OVERAGE.to_string(), self.overage_percent)),
        )
    }
}

/// The resolved defaults for one product and tier.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Editions allowed.
    pub editions: Vec<String>,
    /// Features.
    pub features: Vec<String>,
    /// Limits.
    pub limits: BTreeMap<String, u64>,
    /// Validity in days.
    pub validity_days: u64,
    /// Grace days.
    pub grace_days: u64,
    /// Production use.
    pub production_use: bool,
}

impl Catalog {
    /// Loads and validates a catalog file.
    pub fn load(path: &Path) -> Result<Catalog> {
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "catalog {}: cannot read (use --catalog FILE or AIRLOCK_CATALOG)",
                path.display()
            )
        })?;
        // The strict parser first (duplicate members, bad numbers, ...: byte offsets in the
        // file), then the typed parse of the file itself, so that its errors (an unknown
        // member, a missing one) carry the line and column of the vendor's own file.
        canon::canonicalize(&bytes).with_context(|| format!("catalog {}", path.display()))?;
        let c: Catalog = serde_json::from_slice(&bytes)
            .with_context(|| format!("catalog {}", path.display()))?;
        c.validate()
            .with_context(|| format!("catalog {}", path.display()))?;
        Ok(c)
    }

    fn validate(&self) -> Result<()> {
        if self.catalog_version != 1 {
            bail!("catalog_version must be 1");
        }
        for (id, p) in &self.products {
            let all_ids = std::iter::once(id)
                .chain(&p.editions)
                .chain(&p.features)
                .chain(&p.limits);
            for s in all_ids {
                if !valid_id(s) {
                    bail!("product {id}: {s:?} is not a valid id");
                }
            }
            if let Some(c) = p
                .channels
                .iter()
                .find(|c| !runtime::manifest::valid_channel(c))
            {
                bail!("product {id}: channel {c:?} must be an id of at most 32 characters");
            }
            for (repo, ch) in &p.repositories {
                if !runtime::manifest::valid_repository(repo) {
                    bail!("product {id}: repository {repo:?} is not a registry repository name (lowercase, / separated)");
                }
                if !p.has_channel(ch) {
                    bail!("product {id}: repository {repo} names unknown channel {ch:?}");
                }
            }
            for (tier, t) in &p.tiers {
                for e in &t.editions {
                    if !p.editions.contains(e) {
                        bail!("product {id}, tier {tier}: unknown edition {e:?}");
                    }
                }
                if *tier == Tier::Sovereign && (t.features.is_some() || t.limits.is_some()) {
                    bail!("product {id}, tier sovereign: features and limits must be absent (sovereign is every feature, unlimited)");
                }
                for f in t.features.iter().flatten() {
                    if !p.features.contains(f) {
                        bail!("product {id}, tier {tier}: unknown feature {f:?}");
                    }
                }
                for l in t.limits.iter().flat_map(|m| m.keys()) {
                    if !p.limits.contains(l) {
                        bail!("product {id}, tier {tier}: unknown limit {l:?}");
                    }
                }
                if let Some(a) = &t.activation {
                    if a.device_limit == 0 || a.device_limit > runtime::activation::MAX_DEVICE_LIMIT
                    {
                        bail!("product {id}, tier {tier}: activation.device_limit must be from 1 to 10000");
                    }
                    if a.overage_percent > 100 {
                        bail!("product {id}, tier {tier}: activation.overage_percent must be from 0 to 100");
                    }
                    a.identity_limits()
                        .map_err(|e| anyhow::anyhow!("product {id}, tier {tier}: {e}"))?;
                }
                for ch in t.channels.iter().flatten() {
                    if !p.has_channel(ch) {
                        bail!("product {id}, tier {tier}: unknown channel {ch:?} (declare it in the product's \"channels\")");
                    }
                }
                if let Some(f) = &t.floating {
                    let limits: BTreeMap<String, u64> = f.limits().into_iter().collect();
                    runtime::format_floating::check_limits("catalog", &limits).map_err(|e| {
                        anyhow::anyhow!("product {id}, tier {tier}: floating: {}", e.detail)
                    })?;
                }
                let reserved = [
                    runtime::license::LIMIT_ACTIVATIONS,
                    runtime::license::LIMIT_ACTIVATION_REQUIRED,
                    runtime::license::LIMIT_ACTIVATION_OVERAGE,
                    runtime::format_floating::LIMIT_FLOATING_SEATS,
                    runtime::format_floating::LIMIT_FLOATING_LEASE,
                    runtime::format_floating::LIMIT_FLOATING_BORROW,
                    runtime::format_identity::LIMIT_ACTIVATION_MATCH,
                    runtime::format_identity::LIMIT_ACTIVATION_VM,
                    runtime::format_identity::LIMIT_ACTIVATION_CONTAINER,
                ];
                if let Some(l) = p.limits.iter().find(|l| reserved.contains(&l.as_str())) {
                    bail!("product {id}: limit {l:?} is reserved for activation terms; use the tier's \"activation\" member");
                }
            }
        }
        Ok(())
    }

    /// The release channels `tier` of `product` entitles (`stable` unless the tier lists them).
    pub fn channels(&self, product: &str, tier: Tier) -> Result<Vec<String>> {
        let p = self.product(product)?;
        let t = p
            .tiers
            .get(&tier)
            .with_context(|| format!("product {product:?} has no {tier} tier in the catalog"))?;
        Ok(t.channels
            .clone()
            .unwrap_or_else(|| vec![runtime::manifest::DEFAULT_CHANNEL.to_string()]))
    }

    /// Whether `tier` of `product` entitles pulling `repository`: the product lists it, in a
    /// channel the tier entitles. `Err` names why not.
    pub fn entitles_repository(&self, product: &str, tier: Tier, repository: &str) -> Result<()> {
        let p = self.product(product)?;
        let Some(ch) = p.repositories.get(repository) else {
            bail!("repository {repository} is not one of product {product}'s");
        };
        if !self.channels(product, tier)?.contains(ch) {
            bail!("repository {repository} is on channel {ch}, which the {tier} tier of {product} does not include");
        }
        Ok(())
    }

    /// The product, or an error listing the known ones.
    pub fn product(&self, id: &str) -> Result<&Product> {
        self.products.get(id).with_context(|| {
            format!(
                "unknown product {id:?}; the catalog has: {}",
                self.products.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// The template for a product and tier, with sovereign expanded.
    pub fn resolve(&self, product: &str, tier: Tier) -> Result<Resolved> {
        let p = self.product(product)?;
        let t = p
            .tiers
            .get(&tier)
            .with_context(|| format!("product {product:?} has no {tier} tier in the catalog"))?;
        let (features, mut limits): (Vec<String>, BTreeMap<String, u64>) =
            if tier == Tier::Sovereign {
                (
                    p.features.clone(),
                    p.limits.iter().map(|l| (l.clone(), 0)).collect(),
                )
            } else {
                (
                    t.features.clone().unwrap_or_default(),
                    t.limits.clone().unwrap_or_default(),
                )
            };
        if let Some(a) = &t.activation {
            limits.extend(a.limits());
            limits.extend(a.identity_limits()?);
        }
        if let Some(f) = &t.floating {
            limits.extend(f.limits());
        }
        Ok(Resolved {
            editions: t.editions.clone(),
            features,
            limits,
            validity_days: t.validity_days,
            grace_days: t.grace_days,
            production_use: t.production_use,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Catalog> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("catalog.json");
        std::fs::write(&p, text).unwrap();
        Catalog::load(&p)
    }

    fn with(product_extra: &str, tier_extra: &str) -> String {
        format!(
            r#"{{"catalog_version": 1, "issuer": "V", "products": {{"gw": {{"name": "GW", "editions": ["std"], "features": ["a"], "limits": []{product_extra},
               "tiers": {{"professional": {{"editions": ["std"], "features": ["a"], "validity_days": 30, "grace_days": 0, "production_use": true{tier_extra}}},
                          "evaluation": {{"editions": ["std"], "validity_days": 30, "grace_days": 0, "production_use": false}}}}}}}}}}"#
        )
    }

    #[test]
    fn tiers_entitle_channels_and_the_repositories_on_them() {
        let c = load(&with(
            r#", "channels": ["beta"], "repositories": {"gw/runtime": "stable", "gw/runtime-beta": "beta"}"#,
            r#", "channels": ["stable", "beta"]"#,
        ))
        .unwrap();
        assert_eq!(
            c.channels("gw", Tier::Professional).unwrap(),
            ["stable", "beta"]
        );
        assert_eq!(c.channels("gw", Tier::Evaluation).unwrap(), ["stable"]);
        assert!(c
            .entitles_repository("gw", Tier::Professional, "gw/runtime-beta")
            .is_ok());
        assert!(c
            .entitles_repository("gw", Tier::Evaluation, "gw/runtime")
            .is_ok());
        let e = c
            .entitles_repository("gw", Tier::Evaluation, "gw/runtime-beta")
            .unwrap_err();
        assert!(e.to_string().contains("channel beta"), "{e}");
        assert!(c
            .entitles_repository("gw", Tier::Professional, "other")
            .is_err());
    }

    #[test]
    fn unknown_channels_and_bad_repository_names_are_refused() {
        for (p, t, needle) in [
            ("", r#", "channels": ["beta"]"#, "unknown channel"),
            (
                r#", "repositories": {"gw/runtime": "nightly"}"#,
                "",
                "unknown channel",
            ),
            (
                r#", "repositories": {"GW/Runtime": "stable"}"#,
                "",
                "repository name",
            ),
            (r#", "channels": ["bad channel"]"#, "", "channel"),
        ] {
            let e = load(&with(p, t)).unwrap_err();
            assert!(format!("{e:#}").contains(needle), "{e:#}");
        }
    }
}
