//! The service's storage behind one interface ([`Backend`]): SQLite (the factory's registry,
//! embedded, nothing to set up) or PostgreSQL (several service nodes sharing one database).
//!
//! Every write goes through one writer thread per process. It takes the operations waiting in
//! its queue, runs them in one transaction with a savepoint each (group commit: one durable
//! write answers many requests) and answers nobody before the commit. The seat decision and
//! the lease are the factory's (`factory::activation`), the same as for files carried by hand.
//! The writer holds no key: it records leases, and [`Store::sign`] signs them on the request's
//! own task after the commit (a signature is the costliest step of a renewal, and it needs no
//! lock).

use anyhow::{anyhow, Result};
use canon::Timestamp;
use factory::activation::{
    self as seats, Code, Fulfilled, Granted, Heartbeat, How, LeaseTerms, Listed, Outcome, Refusal,
    Released, Reset, Row,
};
use factory::builds::Kek;
use factory::db::Sql;
use factory::registry::Registry;
use runtime::activation::{ActivationRequest, Deactivation, InstallToken};
use runtime::signed::Verified;
use signing::SecretKey;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The most operations one transaction carries.
pub const MAX_GROUP: usize = 256;

/// One operation on the registry.
#[derive(Debug, Clone)]
pub enum Op {
    /// A new or known machine asks for a seat (with the license key in its request, or a
    /// verified token).
    Activate {
        /// The verified request.
        req: Box<ActivationRequest>,
        /// The verified install token, if the request came with one.
        token: Option<Box<Verified<InstallToken>>>,
    },
    /// A machine renews its seat.
    Renew {
        /// The seat.
        id: String,
        /// The verified request (proof of possession).
        req: Box<ActivationRequest>,
        /// What it reported.
        heartbeat: Option<Heartbeat>,
    },
    /// A machine gives its seat back.
    Deactivate {
        /// The verified receipt.
        receipt: Box<Deactivation>,
    },
    /// The live seat of a verified request's machine (for updates).
    Seat {
        /// The verified request.
        req: Box<ActivationRequest>,
    },
    /// Whether the license in force of a verified request's lineage may be served (not
    /// revoked, suspended or past its grace): its product and tier.
    Serving {
        /// The verified request.
        req: Box<ActivationRequest>,
    },
    /// Admin: free a seat without a receipt.
    Release {
        /// The seat.
        id: String,
        /// Why.
        reason: String,
    },
    /// Admin: free every seat of a license and raise its epoch.
    Reset {
        /// The license.
        license_id: String,
        /// Why.
        reason: String,
    },
    /// Admin: revoke a license.
    Revoke {
        /// The license.
        license_id: String,
        /// The published reason code.
        code: runtime::revocation::Reason,
        /// Why, in the vendor's words.
        reason: String,
    },
    /// Admin: suspend a license (`suspend`), or resume it.
    Suspend {
        /// The license.
        license_id: String,
        /// Suspend (true) or resume (false).
        suspend: bool,
        /// Why.
        reason: String,
    },
    /// Admin: revoke an install token.
    RevokeToken {
        /// The token.
        token_id: String,
        /// Why.
        reason: String,
    },
    /// Admin: the seats of a license's lineage, or all.
    List {
        /// The license.
        license_id: Option<String>,
    },
    /// Is this the license key of that license? (The proof a keyed activation must give before
    /// the per-license limiter is charged.)
    Prove {
        /// The license the request names.
        license_id: String,
        /// The key it carries.
        license_key: String,
    },
    /// Is the database there?
    Ping,
}

/// What an operation answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A recorded lease, to be signed ([`Store::sign`]).
    Lease(Box<Granted>),
    /// A released seat.
    Released(Box<Released>),
    /// A reset lineage.
    Reset(Reset),
    /// A revoked license.
    Revoked,
    /// The product and tier of a license in force that may be served.
    Serving(String, String),
    /// A license suspended (true) or resumed (false).
    Suspended(bool),
    /// A revoked install token.
    TokenRevoked(Box<seats::TokenRow>),
    /// Seats.
    Rows(Vec<Listed>),
    /// A machine's live seat and the license ids of its lineage.
    Seat(Box<Row>, Vec<String>),
    /// Whether the key is the license's.
    Proven(bool),
    /// The database answered.
    Pong,
}

/// What every operation needs besides itself.
pub struct Context {
    /// The lease terms of the service.
    pub lease: LeaseTerms,
    /// The time of this group.
    pub now: Timestamp,
}

/// A storage backend: runs a group of operations in one transaction.
pub trait Backend: Send + 'static {
    /// Runs `ops` in one transaction, each on its own; answers in order. `Err` only when the
    /// transaction as a whole failed (then nothing of it was committed).
    fn run(&mut self, ops: Vec<Op>, cx: &Context) -> Result<Vec<Outcome<Answer>>>;
    /// Which backend this is (`sqlite`, `postgres`), for health and metrics.
    fn name(&self) -> &'static str;
}

fn refusal<T>(code: Code, message: String) -> Outcome<T> {
    Ok(Err(Refusal::new(code, message)))
}

/// The factory's registry as the service's backend: the embedded SQLite file, or a
/// PostgreSQL database shared by several nodes (`postgres://...`). One code path for both: the
/// registry's SQL seam (`factory::db`) runs the same statements on either.
pub struct RegistryBackend {
    reg: Registry,
}

impl RegistryBackend {
    /// Opens the registry at `location`: a SQLite file (it must exist: the factory made it) or
    /// a `postgres://` URL (its schema is created when the database has none).
    pub fn open(location: &str) -> Result<RegistryBackend> {
        Ok(RegistryBackend {
            reg: Registry::open_location(std::path::Path::new(location), false)?,
        })
    }
}

/// A machine's live seat for a verified request at `now` (not released, lease not ended),
/// and the license ids of its lineage.
fn seat_of(reg: &Registry, req: &ActivationRequest, now: Timestamp) -> Outcome<Answer> {
    // An unknown license and a license without this machine's seat get one answer: the
    // caller is not proven until it holds a seat.
    let no_seat = || {
        refusal(
            Code::ActivationNotFound,
            "this machine holds no live seat of the license: activate first".into(),
        )
    };
    if reg.get(&req.license_id)?.is_none() {
        return no_seat();
    }
    let Some(row) = seats::list(reg, Some(&req.license_id))?
        .into_iter()
        .map(|l| l.row)
        .find(|r| {
            r.status(now) == "active"
                && r.fingerprint == req.fingerprint
                && r.instance_key == req.instance_public_key
        })
    else {
        return no_seat();
    };
    let ids = reg
        .lineage(&row.lineage_id)?
        .into_iter()
        .map(|r| r.license_id)
        .collect();
    Ok(Ok(Answer::Seat(Box::new(row), ids)))
}

impl Backend for RegistryBackend {
    fn name(&self) -> &'static str {
        self.reg.dialect().as_str()
    }

    fn run(&mut self, ops: Vec<Op>, cx: &Context) -> Result<Vec<Outcome<Answer>>> {
        let (now, lease) = (cx.now, cx.lease);
        // Reads and admin operations run alone; seat operations share one transaction.
        let mut out: Vec<Option<Outcome<Answer>>> = Vec::with_capacity(ops.len());
        let mut grouped = Vec::new();
        let mut slots = Vec::new();
        for op in ops {
            let single = match &op {
                Op::Seat { req } => Some(seat_of(&self.reg, req, now)),
                Op::Serving { req } => Some(
                    seats::serving(self.reg.sql(), req, now)
                        .map(|r| r.map(|(p, t)| Answer::Serving(p, t))),
                ),
                Op::List { license_id } => {
                    Some(seats::list(&self.reg, license_id.as_deref()).map(|r| Ok(Answer::Rows(r))))
                }
                Op::Prove {
                    license_id,
                    license_key,
                } => Some(
                    seats::key_opens(&self.reg, license_id, license_key)
                        .map(|b| Ok(Answer::Proven(b))),
                ),
                Op::Ping => Some(
                    self.reg
                        .sql()
                        .int("SELECT 1", &[])
                        .map(|_| Ok(Answer::Pong)),
                ),
                Op::Release { id, reason } => Some(
                    seats::release_force(&mut self.reg, id, reason, now)
                        .map(|r| r.map(|x| Answer::Released(Box::new(x)))),
                ),
                Op::Reset { license_id, reason } => Some(
                    seats::reset(&mut self.reg, license_id, reason, now)
                        .map(|r| r.map(Answer::Reset)),
                ),
                Op::Revoke {
                    license_id,
                    code,
                    reason,
                } => Some(match self.reg.get(license_id)? {
                    None => refusal(
                        Code::LicenseNotFound,
                        format!("no license {license_id} in the registry"),
                    ),
                    Some(r) if r.revoked_at.is_some() => refusal(
                        Code::LicenseRevoked,
                        format!("license {license_id} is revoked already"),
                    ),
                    Some(_) => self
                        .reg
                        .revoke(license_id, *code, reason, now)
                        .map(|()| Ok(Answer::Revoked)),
                }),
                Op::Suspend {
                    license_id,
                    suspend,
                    reason,
                } => Some(suspend_op(&mut self.reg, license_id, *suspend, reason, now)),
                Op::RevokeToken { token_id, reason } => Some(
                    seats::token_revoke(&mut self.reg, token_id, reason, now)
                        .map(|r| r.map(|t| Answer::TokenRevoked(Box::new(t)))),
                ),
                Op::Activate { .. } | Op::Renew { .. } | Op::Deactivate { .. } => None,
            };
            match single {
                Some(r) => out.push(Some(r)),
                None => {
                    slots.push(out.len());
                    out.push(None);
                    grouped.push(op);
                }
            }
        }
        if !grouped.is_empty() {
            let group: Vec<seats::GroupOp<'_, Answer>> = grouped
                .into_iter()
                .map(|op| -> seats::GroupOp<'_, Answer> {
                    Box::new(move |tx: &dyn Sql| seat_op(tx, op, now, &lease))
                })
                .collect();
            let answers = self.reg.group(group)?;
            for (slot, a) in slots.into_iter().zip(answers) {
                out[slot] = Some(a);
            }
        }
        Ok(out
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(anyhow!("operation not run"))))
            .collect())
    }
}

/// One seat operation inside the group's transaction.
fn seat_op(tx: &dyn Sql, op: Op, now: Timestamp, lease: &LeaseTerms) -> Outcome<Answer> {
    match op {
        Op::Activate { req, token } => {
            let how = match &token {
                Some(t) => How::Token(t),
                None => How::Key,
            };
            Ok(seats::grant_in(tx, &req, how, now, lease)?.map(|g| Answer::Lease(Box::new(g))))
        }
        Op::Renew { id, req, heartbeat } => {
            let how = How::Renew {
                activation_id: &id,
                heartbeat: heartbeat.as_ref(),
            };
            Ok(seats::grant_in(tx, &req, how, now, lease)?.map(|g| Answer::Lease(Box::new(g))))
        }
        Op::Deactivate { receipt } => Ok(seats::release_with_receipt_in(tx, &receipt, now)?
            .map(|x| Answer::Released(Box::new(x)))),
        _ => Err(anyhow!("not a seat operation")),
    }
}

type Reply = tokio::sync::oneshot::Sender<Outcome<Answer>>;

/// The handle the HTTP handlers hold: sends operations to the writer thread.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<(Op, Reply)>,
    name: &'static str,
    key: Arc<SecretKey>,
    kek: Option<Arc<Kek>>,
}

/// The clock of the service (the system clock; tests move it).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

impl Store {
    /// Starts the writer thread over `backend`; leases are signed with `key` (by
    /// [`Store::sign`], never in the writer). It stops when every handle is dropped.
    pub fn start(
        mut backend: Box<dyn Backend>,
        key: SecretKey,
        lease: LeaseTerms,
        clock: Clock,
    ) -> Store {
        let name = backend.name();
        let (tx, mut rx) = mpsc::channel::<(Op, Reply)>(4 * MAX_GROUP);
        std::thread::Builder::new()
            .name("airlock-writer".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    let (ops, replies): (Vec<Op>, Vec<Reply>) = batch.into_iter().unzip();
                    let cx = Context {
                        lease,
                        now: clock(),
                    };
                    match backend.run(ops, &cx) {
                        Ok(answers) => {
                            for (reply, a) in replies.into_iter().zip(answers) {
                                let _ = reply.send(a);
                            }
                        }
                        Err(e) => {
                            let msg = format!("{e:#}");
                            for reply in replies {
                                let _ = reply.send(Err(anyhow!("the registry failed: {msg}")));
                            }
                        }
                    }
                }
            })
            .expect("spawn the writer thread");
        Store {
            tx,
            name,
            key: Arc::new(key),
            kek: None,
        }
    }

    /// The same store, releasing build keys with `kek` (the lease terms it was started with
    /// say `with_build_keys` too).
    pub fn with_kek(mut self, kek: Option<Kek>) -> Store {
        self.kek = kek.map(Arc::new);
        self
    }

    /// Signs a lease the registry recorded (after its group committed, on the caller's task).
    pub fn sign(&self, granted: Granted) -> Result<Fulfilled> {
        granted.sign(&self.key, self.kek.as_deref())
    }

    /// Runs one operation (queued behind the others; answered after its group commits).
    pub async fn call(&self, op: Op) -> Outcome<Answer> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        // The queue is bounded: when it is full, this request waits (asynchronously) for room.
        self.tx
            .send((op, reply))
            .await
            .map_err(|_| anyhow!("the writer thread stopped"))?;
        answer
            .await
            .map_err(|_| anyhow!("the writer thread stopped"))?
    }

    /// The backend's name.
    pub fn backend(&self) -> &'static str {
        self.name
    }
}

/// Suspends or resumes a license, refusing with a code what the registry would refuse.
fn suspend_op(
    reg: &mut factory::registry::Registry,
    license_id: &str,
    suspend: bool,
    reason: &str,
    now: Timestamp,
) -> Outcome<Answer> {
    let r = match reg.get(license_id)? {
        None => {
            return refusal(
                Code::LicenseNotFound,
                format!("no license {license_id} in the registry"),
            )
        }
        Some(r) => r,
    };
    if r.revoked_at.is_some() {
        return refusal(
            Code::LicenseRevoked,
            format!("license {license_id} is revoked; it is not suspended or resumed"),
        );
    }
    match (suspend, r.suspended_at.is_some()) {
        (true, true) => {
            return refusal(
                Code::LicenseSuspended,
                format!("license {license_id} is suspended already"),
            )
        }
        (false, false) => {
            return refusal(
                Code::BadRequest,
                format!("license {license_id} is not suspended"),
            )
        }
        _ => {}
    }
    reg.set_suspended(license_id, suspend, reason, now)?;
    Ok(Ok(Answer::Suspended(suspend)))
}
