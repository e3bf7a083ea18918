//! The seat transaction, in four steps: [`Facts::read`] (what the registry holds, no
//! decision), the rules (module `rules`, pure), a [`Plan`] (every row to write, the lease),
//! and [`apply`], the one writer. Nothing is written before every rule passed, except the
//! audit event of a refused spent token.

use super::rows::{audit_seat, follow, free_seat, license_terms, live_ids, new_row, row_hash, Row};
use super::rules::{self, decide_counted, Decision, Holder, Link, Terms};
use super::{Code, Granted, How, LeaseTerms, Outcome, Refusal};
use crate::args;
use crate::db::Arg;
use crate::db::Sql;
use crate::registry::{audit_next, audit_with, get_in, Record, AUDIT_INSERT};
use anyhow::{Context, Result};
use canon::Timestamp;
use runtime::activation::{Activation, ActivationRequest};
use runtime::license::State;
use runtime::Artifact;

/// What the registry holds for one request, read before any rule is asked.
struct Facts {
    /// The licenses read around the one the request names, oldest first.
    links: Vec<Link>,
    /// The named license's index in `links`.
    named: usize,
    /// The seat the request made before and when it was released (a replay).
    replayed: Option<(String, Option<Timestamp>)>,
    /// The seat a renewal names.
    renewing: Option<Row>,
    /// The fingerprint's live seat of the lineage.
    fingerprint_seat: Option<Row>,
    /// Without one, the lineage's live seats of the request's instance key that recorded
    /// components (one may be this machine's under the license's match policy).
    key_seats: Vec<Row>,
    /// The fingerprint's last released seat of the lineage (id, instance key), for a new seat
    /// that re-binds it to another key.
    previous: Option<(String, String)>,
    /// How many live seats of the lineage have a lease that ended (the plan frees them).
    ended: u64,
    /// The lineage's counters: reset epoch, last lease sequence, live seats (`None`: first use).
    counters: Option<(u64, u64, u64)>,
    /// Seats made with the request's token so far.
    token_spent: u64,
    /// Whether the vendor revoked the request's install token.
    token_revoked: bool,
}

/// The one statement that reads a request's facts (one round trip, what matters most on a
/// database server): the named license with its signed bytes, the request's earlier seat, the
/// lineage's counters, its live seats whose lease ended, the token's uses, and the seat (`?5`
/// is the renewed seat's id, or the fingerprint).
fn facts_sql(renewal: bool) -> String {
    let seat = super::rows::ROW_COLUMNS
        .split(", ")
        .map(|c| format!("s.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let on = if renewal {
        "s.activation_id = ?5"
    } else {
        "s.lineage_id = l.lineage_id AND s.fingerprint = ?5 AND s.released_at IS NULL"
    };
    format!(
        "SELECT {}, rq.activation_id, ra.released_at, lc.epoch, lc.lease_sequence, lc.live_seats,
           (SELECT count(*) FROM activations e WHERE e.lineage_id = l.lineage_id AND e.released_at IS NULL AND e.lease_not_after <= ?2),
           (SELECT count(*) FROM install_token_uses u WHERE u.token_id = ?3),
           (SELECT count(*) FROM install_tokens t WHERE t.token_id = ?3 AND t.revoked_at IS NOT NULL), {seat}
         FROM licenses l JOIN license_documents d ON d.license_id = l.license_id
         LEFT JOIN activation_requests rq ON rq.request_id = ?4
         LEFT JOIN activations ra ON ra.activation_id = rq.activation_id
         LEFT JOIN activation_lineages lc ON lc.lineage_id = l.lineage_id
         LEFT JOIN activations s ON {on}
         WHERE l.license_id = ?1",
        crate::registry::QUALIFIED_COLUMNS
    )
}

thread_local! {
    static FACTS_SQL: [String; 2] = [facts_sql(false), facts_sql(true)];
}

impl Facts {
    /// Reads the facts. `Ok(Err(_))` only for an unknown license (nothing else to read).
    fn read(tx: &dyn Sql, req: &ActivationRequest, how: How<'_>, now: Timestamp) -> Outcome<Facts> {
        let (renewal, seat_key) = match how {
            How::Renew { activation_id, .. } => (true, activation_id),
            _ => (false, req.fingerprint.as_str()),
        };
        let token = match how {
            How::Token(t) => t.value().token_id.as_str(),
            _ => "",
        };
        let n = crate::registry::RECORD_COLUMNS;
        let read = FACTS_SQL.with(|q| {
            tx.opt(
                &q[usize::from(renewal)],
                args![&req.license_id, now.0, token, &req.request_id, seat_key],
                |r| {
                    let rec = crate::registry::row_to_record(r)?;
                    let replayed = r
                        .opt_text(n)?
                        .map(|id| Ok::<_, anyhow::Error>((id, r.opt_int(n + 1)?.map(Timestamp))))
                        .transpose()?;
                    let counters = match r.opt_int(n + 2)? {
                        Some(e) => Some((e as u64, r.int(n + 3)? as u64, r.int(n + 4)? as u64)),
                        None => None,
                    };
                    let (ended, spent) = (r.int(n + 5)? as u64, r.int(n + 6)? as u64);
                    let revoked = r.int(n + 7)? > 0;
                    let seat = super::rows::read_opt_row_at(r, n + 8)?;
                    Ok((rec, replayed, counters, ended, (spent, revoked), seat))
                },
            )
        })?;
        let Some((named, replayed, counters, ended, (token_spent, token_revoked), seat)) = read
        else {
            return Ok(Err(rules::not_found(&req.license_id)));
        };
        let previous = if renewal {
            None
        } else {
            tx.opt(
                "SELECT activation_id, instance_key FROM activations WHERE lineage_id = ?1 AND fingerprint = ?2 AND released_at IS NOT NULL ORDER BY created_at DESC, activation_id DESC LIMIT 1",
                args![&named.lineage_id, &req.fingerprint],
                |r| Ok((r.text(0)?, r.text(1)?)),
            )?
        };
        let key_seats = if renewal || seat.is_some() || req.components.is_empty() {
            Vec::new()
        } else {
            tx.all(
                &format!("SELECT {} FROM activations WHERE lineage_id = ?1 AND instance_key = ?2 AND released_at IS NULL AND components <> ''", super::rows::ROW_COLUMNS),
                args![&named.lineage_id, &req.instance_public_key],
                super::rows::read_row,
            )?
        };
        let (links, named) = lineage_around(tx, named, now)?;
        let (renewing, fingerprint_seat) = if renewal { (seat, None) } else { (None, seat) };
        Ok(Ok(Facts {
            links,
            named,
            replayed,
            renewing,
            fingerprint_seat,
            key_seats,
            previous,
            ended,
            counters,
            token_spent,
            token_revoked,
        }))
    }
}

/// The named license with its renewals (forward, while they have begun, and the first that
/// has not) and, when it has not begun itself, its predecessors back to one that has.
fn lineage_around(tx: &dyn Sql, named: Record, now: Timestamp) -> Result<(Vec<Link>, usize)> {
    let link = |rec: Record| -> Result<Link> {
        let (license, standing) = license_terms(&rec.license_id, &rec.document, now)?;
        Ok(Link {
            rec,
            license,
            standing,
        })
    };
    let mut links = vec![link(named)?];
    while links[0].standing.state == State::NotYetValid {
        let Some(prev) = links[0].rec.renewal_of.clone() else {
            break;
        };
        let Some(p) = get_in(tx, &prev)? else { break };
        links.insert(0, link(p)?);
    }
    let named = links.len() - 1;
    loop {
        let last = links.len() - 1;
        let l = &links[last];
        let go_on =
            l.standing.state != State::NotYetValid && (last == named || l.rec.revoked_at.is_none());
        let Some(next) = l.rec.renewed_by.clone().filter(|_| go_on) else {
            break;
        };
        let n = get_in(tx, &next)?
            .with_context(|| format!("license {next}, a renewal of {}", l.rec.license_id))?;
        links.push(link(n)?);
    }
    Ok((links, named))
}

/// The license in force of `named`'s lineage at `now` ([`rules::in_force`]).
pub(super) fn in_force_of(tx: &dyn Sql, named: Record, now: Timestamp) -> Outcome<Link> {
    let (mut links, named) = lineage_around(tx, named, now)?;
    Ok(rules::in_force(&links, named).map(|i| links.swap_remove(i)))
}

/// Everything the writer does for a granted request.
struct Plan {
    /// How many seats of the lineage have a lease that ended: freed first.
    ended: u64,
    /// Whether the seat's license or label changes (else the renewal writes the lease only).
    relabel: bool,
    /// The license in force the lease is for.
    license: Record,
    /// The seat: an existing row (renewed) or a new one.
    row: Row,
    new_seat: bool,
    /// Whether the lineage's counter row exists already.
    counters_exist: bool,
    seats_in_use: u64,
    activation: Activation,
    /// The previous key of this fingerprint's seat, when a new seat re-binds it.
    rebinds: Option<(String, String)>,
    /// The builds whose keys the lease carries (bundle id, KEK-wrapped key, KEK id).
    builds: Vec<(String, String, String)>,
}

/// The rules, in order, over the facts: the plan, or the refusal.
fn plan(
    f: Facts,
    tx: &dyn Sql,
    req: &ActivationRequest,
    how: How<'_>,
    now: Timestamp,
    lease: &LeaseTerms,
) -> Result<Result<Plan, Refusal>> {
    if let Err(r) = rules::token_fits(req, how, now)
        .and_then(|()| rules::license_fits(req, how, &f.links[f.named].rec))
    {
        return Ok(Err(r));
    }
    let chosen = match rules::in_force(&f.links, f.named) {
        Ok(i) => i,
        Err(r) => return Ok(Err(r)),
    };
    // The license in force decides the terms: the named one, a renewal of it that has begun
    // (the lease and the license sent are then the renewal's), or its predecessor while the
    // named one has not begun.
    let link = &f.links[chosen];
    if let Err(r) =
        rules::standing_allows(req, link).and_then(|()| rules::not_replayed(req, &f.replayed))
    {
        return Ok(Err(r));
    }
    let policy = runtime::format_identity::policy_of(&link.license.limits);
    let mine = match seat_for(&f, req, (how, link, policy), now) {
        Ok(m) => m,
        Err(r) => return Ok(Err(r)),
    };
    let holder = match how {
        How::Renew { activation_id, .. } => Holder::This(activation_id),
        _ => rules::holder(req, mine.as_ref(), now),
    };
    let (epoch, last_seq, live) = f.counters.unwrap_or((1, 0, 0));
    let live_now = live.saturating_sub(f.ended);
    let terms = Terms {
        device_limit: link.license.device_limit(),
        max_seats: link.license.max_seats(),
        new_seats: link.standing.state != State::Grace,
    };
    let (row, new_seat) = match decide_counted(&terms, holder, live_now) {
        Decision::Existing(_) => (mine.clone().context("the held seat")?, false),
        Decision::New { overage } => (new_row(req, &link.rec, (epoch, overage), now), true),
        Decision::Refused(c) => {
            return Ok(Err(refusal(tx, c, link, &terms, live_now, mine.as_ref())?))
        }
    };
    if let Err(r) = rules::token_unspent(how, new_seat, f.token_spent, f.token_revoked) {
        return Ok(Err(r));
    }
    let pool = match pool_terms(req, link) {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    let sequence = last_seq + 1;
    let not_after = lease.end(now, link.standing.grace_end);
    let renew_after = Timestamp(now.0 + (not_after.0 - now.0) * lease.renew_percent / 100);
    // A re-activation with no label keeps the seat's label.
    let label = if req.label.is_empty() {
        row.label.clone()
    } else {
        req.label.clone()
    };
    let activation = Activation {
        doc_type: runtime::activation::ACTIVATION_TYPE.into(),
        activation_id: row.activation_id.clone(),
        request_id: req.request_id.clone(),
        license_id: link.rec.license_id.clone(),
        lineage_id: link.rec.lineage_id.clone(),
        product: link.rec.product.clone(),
        customer_id: link.rec.customer_id.clone(),
        workspace: link.license.workspace.clone(),
        fingerprint: req.fingerprint.clone(),
        instance_public_key: req.instance_public_key.clone(),
        label: label.clone(),
        device_limit: terms.device_limit,
        overage: row.overage,
        epoch,
        sequence,
        issued_at: now.to_string(),
        not_before: now.to_string(),
        not_after: not_after.to_string(),
        renew_after: renew_after.to_string(),
        encryption_public_key: None,
        grants: Vec::new(),
        pool,
        // The seat's components and the policy they are matched under, when both exist.
        components: policy.map(|_| req.components.clone()).unwrap_or_default(),
        match_policy: policy
            .filter(|_| !req.components.is_empty())
            .map(str::to_string),
    };
    let builds = match lease_builds(tx, req, &row, new_seat, &link.license, lease)? {
        Ok(b) => b,
        Err(r) => return Ok(Err(r)),
    };
    activation
        .validate()
        .map_err(anyhow::Error::new)
        .context("the lease built")?;
    // A new seat for a fingerprint whose last seat (live with its lease ended, or released)
    // had another key re-binds it: its own audit event.
    let last = mine
        .as_ref()
        .map(|r| (r.activation_id.clone(), r.instance_key.clone()))
        .or(f.previous);
    let rebinds = last.filter(|(_, key)| new_seat && *key != req.instance_public_key);
    let (row, relabel) = follow(row, new_seat, req, (&link.rec.license_id, label));
    let row = Row {
        lease_sequence: sequence,
        lease_issued_at: now,
        lease_not_after: not_after,
        ..row
    };
    Ok(Ok(Plan {
        ended: f.ended,
        relabel,
        license: link.rec.clone(),
        row,
        new_seat,
        counters_exist: f.counters.is_some(),
        seats_in_use: live_now + u64::from(new_seat),
        activation,
        rebinds,
        builds,
    }))
}

/// The seat the request is for, after the environment rule: the seat a renewal names (checked
/// against the request), else the fingerprint's live seat, else a live seat of the request's
/// instance key whose components match under the license's `policy` (FORMAT.md §21).
fn seat_for(
    f: &Facts,
    req: &ActivationRequest,
    (how, link, policy): (How<'_>, &Link, Option<&str>),
    now: Timestamp,
) -> Result<Option<Row>, Refusal> {
    rules::environment_allows(req, link)?;
    Ok(match how {
        How::Renew { activation_id, .. } => {
            rules::renewal_fits(req, activation_id, (f.renewing.as_ref(), policy), now)?;
            f.renewing.clone()
        }
        _ => f
            .fingerprint_seat
            .clone()
            .or_else(|| rules::matched_seat(req, policy, &f.key_seats).cloned()),
    })
}

/// A seat server's activation (a pool lease) needs a license that floats: its terms.
fn pool_terms(
    req: &ActivationRequest,
    link: &Link,
) -> Result<Option<runtime::format_floating::PoolTerms>, Refusal> {
    match (
        req.pool,
        runtime::format_floating::terms_of(&link.license.limits),
    ) {
        (false, _) => Ok(None),
        (true, Some(t)) => Ok(Some(t)),
        (true, None) => Err(Refusal::new(
            Code::FloatingNotLicensed,
            format!(
                "license {} does not allow floating use: a seat server cannot be activated for it",
                link.rec.license_id
            ),
        )),
    }
}

/// The builds a lease carries ([`crate::builds::for_lease`]): none without the machine's
/// encryption key; refused when this side cannot release keys or the key is no X25519 key.
fn lease_builds(
    tx: &dyn Sql,
    req: &ActivationRequest,
    row: &Row,
    new_seat: bool,
    license: &runtime::license::License,
    lease: &LeaseTerms,
) -> Outcome<Vec<(String, String, String)>> {
    let Some(key) = req.encryption_public_key.as_deref() else {
        return Ok(Ok(Vec::new()));
    };
    let seat = (!new_seat).then_some(row.activation_id.as_str());
    let found = match crate::builds::for_lease(tx, seat, &req.builds, license)? {
        Ok(b) => b,
        Err(r) => return Ok(Err(r)),
    };
    if found.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    if !lease.build_keys {
        return Ok(Err(Refusal::new(
            Code::BuildKeysDisabled,
            "this side holds no key-encryption key (--kek), so it releases no build keys",
        )));
    }
    let valid =
        canon::enc::unb64_exact::<32>(key).is_some_and(|k| seal::wrap::valid_public_key(&k));
    if !valid {
        return Ok(Err(Refusal::new(
            Code::RequestInvalid,
            "encryption_public_key is not an X25519 public key",
        )));
    }
    Ok(Ok(found
        .into_iter()
        .map(|(b, wrapped)| (b.bundle_id, wrapped, b.kek_key_id))
        .collect()))
}

/// The refusal of a seat decision, worded with the seats in use.
fn refusal(
    tx: &dyn Sql,
    c: Code,
    link: &Link,
    terms: &Terms,
    live: u64,
    seat: Option<&Row>,
) -> Result<Refusal> {
    let id = &link.rec.license_id;
    Ok(match c {
        Code::LicenseInGrace => Refusal::new(
            c,
            format!(
                "license {id} is in its grace period (expired {}): existing seats get fresh leases, new machines cannot activate until it is renewed",
                link.standing.times.expires_at
            ),
        ),
        Code::SeatTaken => Refusal::new(
            c,
            format!(
                "this machine's fingerprint holds seat {} of license {id} under another instance key: a second machine reports the same id, or this one lost its key. Deactivate the other machine, or ask the vendor to release the seat",
                seat.map_or("?", |s| s.activation_id.as_str())
            ),
        ),
        _ => {
            let ids = live_ids(tx, &link.rec.lineage_id, 10)?;
            Refusal::new(
                c,
                format!(
                    "license {id} allows {} device(s){}; {live} in use: {}{}. Deactivate one, or ask the vendor for more seats",
                    terms.device_limit,
                    if terms.max_seats > terms.device_limit {
                        format!(" plus {} over the limit", terms.max_seats - terms.device_limit)
                    } else {
                        String::new()
                    },
                    ids.join(", "),
                    if live > ids.len() as u64 { ", ..." } else { "" }
                ),
            )
        }
    })
}

/// The one writer: applies a plan (seats whose lease ended, the counters, the seat row, the
/// request, the token use, the heartbeat, the audit events). Everything after the freed seats
/// goes to the database as one batch of writes (one round trip on PostgreSQL).
fn apply(
    tx: &dyn Sql,
    p: &Plan,
    req: &ActivationRequest,
    how: How<'_>,
    now: Timestamp,
) -> Result<()> {
    let r = &p.row;
    let lineage = &r.lineage_id;
    if p.ended > 0 {
        let ids = tx.all(
            "SELECT activation_id FROM activations WHERE lineage_id = ?1 AND released_at IS NULL AND lease_not_after <= ?2",
            args![lineage, now.0],
            |r| r.text(0),
        )?;
        for id in &ids {
            if free_seat(tx, id, "expired", "lease ended", now)? {
                audit_seat(tx, now, "lease_expired", id, "seat freed: its lease ended")?;
            }
        }
    }
    let mut w: Vec<(&str, Vec<Arg<'_>>)> = Vec::with_capacity(8);
    w.push(if p.counters_exist {
        (
            "UPDATE activation_lineages SET lease_sequence = ?1, live_seats = ?2 WHERE lineage_id = ?3",
            args![r.lease_sequence, p.seats_in_use, lineage].to_vec(),
        )
    } else {
        (
            "INSERT INTO activation_lineages (lineage_id, epoch, lease_sequence, live_seats) VALUES (?1, 1, ?2, ?3)",
            args![lineage, r.lease_sequence, p.seats_in_use].to_vec(),
        )
    });
    w.push(match (p.new_seat, p.relabel) {
        (true, _) => (
            "INSERT INTO activations (activation_id, lineage_id, license_id, fingerprint, instance_key, label, epoch, overage, created_at, lease_sequence, lease_issued_at, lease_not_after, components) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?9, ?11, ?12)",
            args![&r.activation_id, lineage, &r.license_id, &r.fingerprint, &r.instance_key, &r.label, r.epoch, i64::from(r.overage), now.0, r.lease_sequence, r.lease_not_after.0, &r.components].to_vec(),
        ),
        // The license and label only when they change: a renewal rewrites no index but the
        // lease end's. The instance key never changes here (a live seat has one key).
        (false, true) => (
            "UPDATE activations SET license_id = ?1, label = ?2, lease_sequence = ?3, lease_issued_at = ?4, lease_not_after = ?5, fingerprint = ?6, components = ?7 WHERE activation_id = ?8",
            args![&r.license_id, &r.label, r.lease_sequence, now.0, r.lease_not_after.0, &r.fingerprint, &r.components, &r.activation_id].to_vec(),
        ),
        (false, false) => (
            "UPDATE activations SET lease_sequence = ?1, lease_issued_at = ?2, lease_not_after = ?3 WHERE activation_id = ?4",
            args![r.lease_sequence, now.0, r.lease_not_after.0, &r.activation_id].to_vec(),
        ),
    });
    w.push((
        "INSERT INTO activation_requests (request_id, activation_id, at) VALUES (?1, ?2, ?3) ON CONFLICT (request_id) DO NOTHING",
        args![&req.request_id, &r.activation_id, now.0].to_vec(),
    ));
    let counts = match how {
        How::Renew {
            heartbeat: Some(h), ..
        } => h.counts_json(),
        _ => String::new(),
    };
    let via = match how {
        How::Token(t) => {
            if p.new_seat {
                w.push((
                    "INSERT INTO install_token_uses (token_id, activation_id, at) VALUES (?1, ?2, ?3)",
                    args![&t.value().token_id, &r.activation_id, now.0].to_vec(),
                ));
            }
            format!(" token={}", t.value().token_id)
        }
        How::Renew {
            heartbeat: Some(h), ..
        } => {
            w.push((
                "INSERT INTO activation_heartbeats (activation_id, at, product_version, uptime_seconds, counts) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (activation_id) DO UPDATE SET at = excluded.at, product_version = excluded.product_version, uptime_seconds = excluded.uptime_seconds, counts = excluded.counts",
                args![&r.activation_id, now.0, &h.product_version, h.uptime_seconds.map(|u| u as i64), &counts].to_vec(),
            ));
            String::new()
        }
        How::Renew { .. } | How::Key => String::new(),
    };
    let subject = format!("activation:{}", r.activation_id);
    let mut events = Vec::with_capacity(2);
    if let Some((old, old_key)) = &p.rebinds {
        events.push(audit_next(
            tx,
            now,
            "seat_rebound",
            &subject,
            &format!(
                "fingerprint={} was bound to key {old_key} (activation {old}, freed), now to key {}",
                r.fingerprint, r.instance_key
            ),
            None,
        )?);
    }
    let event = match (p.new_seat, r.overage) {
        (true, false) => "activated",
        (true, true) => "activated_over_limit",
        (false, _) => "lease_renewed",
    };
    events.push(audit_next(
        tx,
        now,
        event,
        &subject,
        &format!(
            "license={} fingerprint={} request={} sequence={} not_after={}{via}{}",
            p.license.license_id,
            r.fingerprint,
            req.request_id,
            r.lease_sequence,
            r.lease_not_after,
            if p.builds.is_empty() {
                String::new()
            } else {
                let ids: Vec<&str> = p.builds.iter().map(|b| b.0.as_str()).collect();
                format!(" build_keys={}", ids.join(","))
            }
        ),
        Some(&row_hash(r)),
    )?);
    for e in &events {
        w.push((AUDIT_INSERT, e.args()));
    }
    tx.exec_all(&w)?;
    let ids: Vec<String> = p.builds.iter().map(|b| b.0.clone()).collect();
    crate::builds::record(tx, &r.activation_id, &ids, now)
}

/// The seat decision and the lease for a verified request, recorded inside the caller's
/// transaction (the registry's write lock held): facts, rules, plan, writer. The lease is
/// returned unsigned ([`Granted::sign`]).
pub fn grant_in(
    tx: &dyn Sql,
    req: &ActivationRequest,
    how: How<'_>,
    now: Timestamp,
    lease: &LeaseTerms,
) -> Outcome<Granted> {
    let facts = match Facts::read(tx, req, how, now)? {
        Ok(f) => f,
        Err(r) => return Ok(Err(r)),
    };
    let spent = facts.token_spent;
    let p = match plan(facts, tx, req, how, now, lease)? {
        Ok(p) => p,
        Err(r) => {
            if let (Code::TokenUsed, How::Token(t)) = (r.code, how) {
                let t = t.value();
                audit_with(
                    tx,
                    now,
                    "token_reuse_refused",
                    &format!("token:{}", t.token_id),
                    &format!(
                        "license={} fingerprint={} request={} spent={spent} allowance={}",
                        req.license_id, req.fingerprint, req.request_id, t.allowance
                    ),
                    None,
                )?;
            }
            return Ok(Err(r));
        }
    };
    apply(tx, &p, req, how, now)?;
    Ok(Ok(Granted {
        activation: p.activation,
        new_seat: p.new_seat,
        seats_in_use: p.seats_in_use,
        license_document: p.license.document,
        license_signature: p.license.signature,
        machine_key: (!p.builds.is_empty())
            .then(|| req.encryption_public_key.clone())
            .flatten(),
        builds: p.builds,
    }))
}
