//! Enforcement: feature gates and limit checks as pure in-memory lookups (no I/O, no
//! allocation on the check path), with stable denial codes and an HTTP status hint.
//!
//! ```
//! use runtime::enforce::{Entitlements, Gate};
//! let e = Entitlements::new(Gate::Open, ["gate", "pim"], [("agents", 3)]);
//! assert!(e.check_feature("pim").is_ok());
//! assert_eq!(e.check_feature("ha").unwrap_err().code, "feature_not_licensed");
//! assert_eq!(e.check_limit("agents", 3).unwrap_err().code, "agent_limit_reached");
//! assert_eq!(e.check_limit("agents", 3).unwrap_err().http_status, 402);
//! ```

use crate::license::{State, VerifiedLicense};

/// Whether new activations and growth are allowed at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Licensed (active, expiring soon or in grace).
    Open,
    /// The license expired: existing data and configuration stay usable, nothing new starts.
    LicenseExpired,
    /// The license has not begun yet.
    LicenseNotYetValid,
    /// The license was revoked.
    LicenseRevoked,
    /// The vendor suspended the license (until it resumes it).
    LicenseSuspended,
    /// The evaluation period is over.
    EvaluationExpired,
    /// The license requires activation and this machine holds no valid lease.
    NotActivated,
    /// This machine's lease ended: existing data stays usable, nothing new starts.
    LeaseExpired,
}

impl Gate {
    /// The gate of a license state: open while the license is usable (active, expiring soon,
    /// in grace, evaluating), else closed with the state's own denial.
    pub fn of(state: State) -> Gate {
        match state {
            State::Active | State::ExpiringSoon | State::Grace | State::Evaluation => Gate::Open,
            State::EvaluationExpired => Gate::EvaluationExpired,
            State::NotYetValid => Gate::LicenseNotYetValid,
            State::Revoked => Gate::LicenseRevoked,
            State::Expired | State::Invalid | State::TamperSuspected => Gate::LicenseExpired,
        }
    }
}

/// A denial: a stable code and an HTTP status hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial<'a> {
    /// `feature_not_licensed`, `<limit>_limit_reached`, `license_expired`,
    /// `license_not_yet_valid`, `license_revoked`, `license_suspended`, `evaluation_expired`,
    /// `activation_required`,
    /// `lease_expired`.
    pub code: &'a str,
    /// 402 Payment Required for every denial.
    pub http_status: u16,
}

/// What is licensed, prepared for fast checks.
#[derive(Debug, Clone)]
pub struct Entitlements {
    gate: Gate,
    features: Vec<String>,
    // (name, limit, denial code); limit 0 = unlimited. Sorted by name.
    limits: Vec<(String, u64, String)>,
}

const DENY: u16 = 402;

impl Entitlements {
    /// Builds entitlements from features and limits (0 = unlimited).
    pub fn new<'a>(
        gate: Gate,
        features: impl IntoIterator<Item = &'a str>,
        limits: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> Self {
        let mut features: Vec<String> = features.into_iter().map(str::to_string).collect();
        features.sort();
        features.dedup();
        let mut limits: Vec<(String, u64, String)> = limits
            .into_iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    v,
                    format!("{}_limit_reached", n.strip_suffix('s').unwrap_or(n)),
                )
            })
            .collect();
        limits.sort_by(|a, b| a.0.cmp(&b.0));
        Entitlements {
            gate,
            features,
            limits,
        }
    }

    /// Entitlements of a verified license in `state` (see [`crate::license::date_state`]).
    pub fn from_license(lic: &VerifiedLicense, state: State) -> Self {
        let gate = Gate::of(state);
        let l = lic.license();
        Self::new(
            gate,
            l.features.iter().map(String::as_str),
            l.limits.iter().map(|(k, v)| (k.as_str(), *v)),
        )
    }

    /// The evaluation entitlements: the features and limits of the vendor's signed evaluation
    /// terms (the catalog's evaluation tier), open while `standing` (see
    /// [`crate::license::Standing::evaluation`]) is `evaluation`.
    pub fn evaluation(
        standing: &crate::license::Standing,
        features: &[&str],
        limits: &[(&str, u64)],
    ) -> Self {
        let gate = if standing.state == State::Evaluation {
            Gate::Open
        } else {
            Gate::EvaluationExpired
        };
        Self::new(gate, features.iter().copied(), limits.iter().copied())
    }

    fn gate(&self) -> Result<(), Denial<'static>> {
        match self.gate {
            Gate::Open => Ok(()),
            Gate::LicenseExpired => Err(Denial {
                code: "license_expired",
                http_status: DENY,
            }),
            Gate::EvaluationExpired => Err(Denial {
                code: "evaluation_expired",
                http_status: DENY,
            }),
            Gate::LicenseNotYetValid => Err(Denial {
                code: "license_not_yet_valid",
                http_status: DENY,
            }),
            Gate::LicenseRevoked => Err(Denial {
                code: "license_revoked",
                http_status: DENY,
            }),
            Gate::LicenseSuspended => Err(Denial {
                code: "license_suspended",
                http_status: DENY,
            }),
            Gate::NotActivated => Err(Denial {
                code: "activation_required",
                http_status: DENY,
            }),
            Gate::LeaseExpired => Err(Denial {
                code: "lease_expired",
                http_status: DENY,
            }),
        }
    }

    /// May `feature` be used for new work? (Binary search; no allocation.)
    pub fn check_feature(&self, feature: &str) -> Result<(), Denial<'_>> {
        self.gate()?;
        match self.features.binary_search_by(|f| f.as_str().cmp(feature)) {
            Ok(_) => Ok(()),
            Err(_) => Err(Denial {
                code: "feature_not_licensed",
                http_status: DENY,
            }),
        }
    }

    /// May one more unit of `limit` be added when `current` are in use? An unknown limit is
    /// not granted (fail closed); 0 means unlimited.
    pub fn check_limit(&self, limit: &str, current: u64) -> Result<(), Denial<'_>> {
        self.gate()?;
        match self.limits.binary_search_by(|l| l.0.as_str().cmp(limit)) {
            Ok(i) => {
                let (_, max, code) = &self.limits[i];
                if *max == 0 || current < *max {
                    Ok(())
                } else {
                    Err(Denial {
                        code,
                        http_status: DENY,
                    })
                }
            }
            Err(_) => Err(Denial {
                code: "limit_not_licensed",
                http_status: DENY,
            }),
        }
    }

    /// The same entitlements behind another gate (the facade closes it for activation).
    pub fn with_gate(mut self, gate: Gate) -> Self {
        self.gate = gate;
        self
    }

    /// The gate.
    pub fn gate_state(&self) -> Gate {
        self.gate
    }
}
