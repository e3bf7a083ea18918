//! The pure rules of the seat transaction: no SQL, no clock, no wording beyond the refusal.
//! Each takes the facts read (module `grant`) and answers with a value or a [`Refusal`]; the
//! seat decision [`decide`] is property-tested over activations, re-bindings and releases.

use super::rows::Row;
use super::{Code, How, Refusal};
use crate::registry::Record;
use canon::Timestamp;
use runtime::activation::ActivationRequest;
use runtime::license::{License, Standing, State};

/// A live seat, as [`decide`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// The activation id.
    pub activation_id: String,
    /// The machine's fingerprint.
    pub fingerprint: String,
    /// The instance key the seat is bound to.
    pub instance_key: String,
    /// Whether it is over the device limit.
    pub overage: bool,
}

/// What the license allows at the time of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// The device limit.
    pub device_limit: u64,
    /// The limit plus its overage.
    pub max_seats: u64,
    /// Whether new seats may be made (not in grace).
    pub new_seats: bool,
}

/// The seat decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The machine (fingerprint and instance key) holds this seat already: a fresh lease for
    /// it, never a second seat.
    Existing(String),
    /// A new seat (over the limit when `overage`).
    New {
        /// Beyond the device limit, inside the tier's overage.
        overage: bool,
    },
    /// Refused, with its code.
    Refused(Code),
}

/// Who holds the live seat of the requesting fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder<'a> {
    /// Nobody: the fingerprint has no live seat.
    Nobody,
    /// This machine (the same instance key): the seat's id.
    This(&'a str),
    /// Another instance key: a second machine reporting the same id, or this machine after
    /// it lost its key. Never handed the seat.
    Another(&'a str),
}

/// The one seat decision: a live seat belongs to one instance key, so the same machine keeps
/// its seat and another key for it is [`Code::SeatTaken`]; a new fingerprint gets a seat while
/// fewer than the limit are live, an overage seat while fewer than the limit plus overage are,
/// and [`Code::DeviceLimitExceeded`] after that.
pub fn decide(terms: &Terms, live: &[Seat], fingerprint: &str, instance_key: &str) -> Decision {
    let holder = match live.iter().find(|s| s.fingerprint == fingerprint) {
        None => Holder::Nobody,
        Some(s) if s.instance_key == instance_key => Holder::This(&s.activation_id),
        Some(s) => Holder::Another(&s.activation_id),
    };
    decide_counted(terms, holder, live.len() as u64)
}

/// [`decide`] from what the registry answers with two indexed lookups: the fingerprint's live
/// seat and its holder, and how many seats are live (the same decision, without loading every
/// seat).
pub fn decide_counted(terms: &Terms, holder: Holder<'_>, live: u64) -> Decision {
    match holder {
        Holder::This(id) => return Decision::Existing(id.to_string()),
        Holder::Another(_) => return Decision::Refused(Code::SeatTaken),
        Holder::Nobody => {}
    }
    if !terms.new_seats {
        return Decision::Refused(Code::LicenseInGrace);
    }
    if live < terms.device_limit {
        Decision::New { overage: false }
    } else if live < terms.max_seats {
        Decision::New { overage: true }
    } else {
        Decision::Refused(Code::DeviceLimitExceeded)
    }
}

/// One license of a lineage with its terms and standing at the decision's time.
#[derive(Debug, Clone)]
pub(super) struct Link {
    pub rec: Record,
    pub license: License,
    pub standing: Standing,
}

/// The token (or its absence) fits the request: same license, lineage, product, workspace,
/// named by the request, not expired (`now` inside its half-open life).
pub(super) fn token_fits(
    req: &ActivationRequest,
    how: How<'_>,
    now: Timestamp,
) -> Result<(), Refusal> {
    match how {
        How::Token(t) => {
            let t = t.value();
            if req.install_token_id.as_deref() != Some(t.token_id.as_str())
                || t.license_id != req.license_id
                || t.lineage_id != req.lineage_id
                || t.product != req.product
                || t.workspace != req.workspace
            {
                return Err(Refusal::new(
                    Code::TokenMismatch,
                    format!(
                        "install token {} is for license {}; the request names license {} and token {}",
                        t.token_id,
                        t.license_id,
                        req.license_id,
                        req.install_token_id.as_deref().unwrap_or("(none)")
                    ),
                ));
            }
            let issued = Timestamp::parse(&t.issued_at);
            let expires = Timestamp::parse(&t.expires_at);
            let (Some(issued), Some(expires)) = (issued, expires) else {
                return Err(Refusal::new(
                    Code::TokenInvalid,
                    "the install token's times do not parse",
                ));
            };
            if canon::Window::new(issued, expires).ended(now) {
                return Err(Refusal::new(
                    Code::TokenExpired,
                    format!(
                        "install token {} expired at {expires}: ask the vendor for a new one",
                        t.token_id
                    ),
                ));
            }
            Ok(())
        }
        How::Key | How::Renew { .. } if req.install_token_id.is_some() => Err(Refusal::new(
            Code::TokenMismatch,
            "the request names an install token: send it with that token",
        )),
        How::Key | How::Renew { .. } => Ok(()),
    }
}

/// The message of an unknown license, also given for a license key that is not the license's:
/// an outsider cannot tell an existing license id from an unknown one.
pub fn not_found(license_id: &str) -> Refusal {
    Refusal::new(
        Code::LicenseNotFound,
        format!("no license {license_id} with the request's license key in the registry"),
    )
}

/// The named license is the request's: its key (unless a verified token stands in for it),
/// product and lineage; and it is not revoked.
pub(super) fn license_fits(
    req: &ActivationRequest,
    how: How<'_>,
    named: &Record,
) -> Result<(), Refusal> {
    let keyless = matches!(how, How::Token(_)) && req.license_key.is_empty();
    if !keyless && named.license_key != req.license_key {
        return Err(not_found(&req.license_id));
    }
    if named.product != req.product || named.lineage_id != req.lineage_id {
        return Err(Refusal::new(
            Code::LicenseMismatch,
            format!(
                "the request's product or lineage is not license {}'s",
                named.license_id
            ),
        ));
    }
    if let Some(at) = named.revoked_at {
        return Err(Refusal::new(
            Code::LicenseRevoked,
            format!("license {} was revoked at {at}", named.license_id),
        ));
    }
    Ok(())
}

/// The lineage's license in force, from the licenses read around the named one (`links`,
/// oldest first; `named` its index): forward along the renewals that have begun (a revoked
/// renewal on the way stops it), and back to the newest predecessor that has begun when the
/// named license has not. A machine is never given a license that is not valid yet while an
/// earlier one of its lineage is: an early renewal strands nobody.
pub(super) fn in_force(links: &[Link], named: usize) -> Result<usize, Refusal> {
    let mut i = named;
    while let Some(next) = links.get(i + 1) {
        if let Some(at) = next.rec.revoked_at {
            return Err(Refusal::new(
                Code::LicenseRevoked,
                format!(
                    "license {}, the renewal of {}, was revoked at {at}",
                    next.rec.license_id, links[i].rec.license_id
                ),
            ));
        }
        if next.standing.state == State::NotYetValid {
            break;
        }
        i += 1;
    }
    while i > 0
        && links[i].standing.state == State::NotYetValid
        && links[i - 1].rec.revoked_at.is_none()
    {
        i -= 1;
    }
    Ok(i)
}

/// A suspended license takes no activation and no renewal until it is resumed.
pub(super) fn not_suspended(r: &Record) -> Result<(), Refusal> {
    match r.suspended_at {
        Some(at) => Err(Refusal::new(
            Code::LicenseSuspended,
            format!(
                "license {} is suspended since {at}: no activations or renewals until the vendor resumes it",
                r.license_id
            ),
        )),
        None => Ok(()),
    }
}

/// The license in force may take this request: same workspace, not past its grace.
pub(super) fn standing_allows(req: &ActivationRequest, l: &Link) -> Result<(), Refusal> {
    not_suspended(&l.rec)?;
    if l.license.workspace != req.workspace {
        return Err(Refusal::new(
            Code::LicenseMismatch,
            format!(
                "the request names workspace {:?}; license {} is for workspace {:?}",
                req.workspace, l.rec.license_id, l.license.workspace
            ),
        ));
    }
    if l.standing.state == State::Expired {
        return Err(Refusal::new(
            Code::LicenseExpired,
            format!(
                "license {} expired at {} and its grace period ended at {}",
                l.rec.license_id, l.standing.times.expires_at, l.standing.grace_end
            ),
        ));
    }
    Ok(())
}

/// A request whose seat was released since is a replay: a released seat never comes back
/// through its old request. `replayed`: the seat the request made and when it was released.
pub(super) fn not_replayed(
    req: &ActivationRequest,
    replayed: &Option<(String, Option<Timestamp>)>,
) -> Result<(), Refusal> {
    match replayed {
        Some((id, Some(at))) => Err(Refusal::new(
            Code::RequestReplayed,
            format!(
                "request {} made activation {id}, released at {at}: a released seat is never brought back by its old request; make a new request",
                req.request_id
            ),
        )),
        _ => Ok(()),
    }
}

/// Whether a live row's lease has ended at `now` (the registry frees it: one convention).
pub(super) fn lease_ended(row: &Row, now: Timestamp) -> bool {
    canon::Window::new(row.lease_issued_at, row.lease_not_after).ended(now)
}

/// A renewal names its seat: it must be this machine's (key, fingerprint, lineage) and live.
pub(super) fn renewal_fits(
    req: &ActivationRequest,
    id: &str,
    (row, policy): (Option<&Row>, Option<&str>),
    now: Timestamp,
) -> Result<(), Refusal> {
    let Some(row) = row else {
        return Err(Refusal::new(
            Code::ActivationNotFound,
            format!("no activation {id} in the registry"),
        ));
    };
    // A machine whose fingerprint changed renews its seat when its components match.
    let same_machine = row.fingerprint == req.fingerprint
        || matched_seat(req, policy, std::slice::from_ref(row)).is_some();
    if !same_machine
        || row.instance_key != req.instance_public_key
        || row.lineage_id != req.lineage_id
    {
        return Err(Refusal::new(
            Code::InstanceMismatch,
            format!(
                "the renewal is not signed by the machine holding activation {id} (its key, fingerprint or license differ)"
            ),
        ));
    }
    if row.released_at.is_some() || lease_ended(row, now) {
        let (kind, at) = match row.released_at {
            Some(at) => (row.release_kind.as_deref().unwrap_or("?"), at),
            None => ("lease ended", row.lease_not_after),
        };
        return Err(Refusal::new(
            Code::ActivationEnded,
            format!("activation {id} was released ({kind}) at {at}: activate again"),
        ));
    }
    Ok(())
}

/// The environment the request reports (FORMAT.md §21) under the license's rules: a seat
/// server's pool is infrastructure and is not asked; a machine seat is refused where the
/// license denies seats or lets them only float. A request that reports nothing (an older
/// agent) is not refused.
pub(super) fn environment_allows(req: &ActivationRequest, link: &Link) -> Result<(), Refusal> {
    let Some(env) = req.environment.as_deref().filter(|_| !req.pool) else {
        return Ok(());
    };
    let place = if env == "vm" { "a VM" } else { "a container" };
    match runtime::format_identity::rule_of(&link.license.limits, env) {
        "deny" => Err(Refusal::new(
            Code::EnvironmentNotAllowed,
            format!("license {} allows no seat in {place}", link.rec.license_id),
        )),
        "floating" => Err(Refusal::new(
            Code::EnvironmentNotAllowed,
            format!(
                "in {place}, license {}'s seats float: claim one from the customer's seat server (airlock-agent claim --seat-server URL)",
                link.rec.license_id
            ),
        )),
        _ => Ok(()),
    }
}

/// A live seat of this instance key that is the requesting machine's under the license's
/// match `policy` (its fingerprint changed: a re-imaged VM, a new disk), if any.
pub(super) fn matched_seat<'a>(
    req: &ActivationRequest,
    policy: Option<&str>,
    seats: &'a [Row],
) -> Option<&'a Row> {
    let p = policy?;
    seats.iter().find(|r| {
        r.instance_key == req.instance_public_key
            && runtime::format_identity::matches(
                p,
                &super::rows::components_of(&r.components),
                &req.components,
            )
    })
}

/// The holder of the fingerprint's live seat: a seat whose lease ended holds nothing (the
/// plan frees it).
pub(super) fn holder<'a>(
    req: &ActivationRequest,
    seat: Option<&'a Row>,
    now: Timestamp,
) -> Holder<'a> {
    match seat {
        None => Holder::Nobody,
        Some(r) if lease_ended(r, now) => Holder::Nobody,
        Some(r) if r.instance_key == req.instance_public_key => Holder::This(&r.activation_id),
        Some(r) => Holder::Another(&r.activation_id),
    }
}

/// A spent or revoked token makes no new seat: `spent` seats made with it already.
pub(super) fn token_unspent(
    how: How<'_>,
    new_seat: bool,
    spent: u64,
    revoked: bool,
) -> Result<(), Refusal> {
    match how {
        How::Token(t) if new_seat && revoked => Err(Refusal::new(
            Code::TokenRevoked,
            format!(
                "install token {} was revoked by the vendor",
                t.value().token_id
            ),
        )),
        How::Token(t) if new_seat && spent >= t.value().allowance => Err(Refusal::new(
            Code::TokenUsed,
            format!(
                "install token {} was spent already ({spent} of {} activation(s)): ask the vendor for a new one",
                t.value().token_id,
                t.value().allowance
            ),
        )),
        _ => Ok(()),
    }
}
