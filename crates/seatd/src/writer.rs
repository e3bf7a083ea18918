//! One writer thread per seat server: it takes the operations waiting in its queue, runs them in
//! one write transaction with the time read once (group commit: one durable write answers many
//! renewals), and answers nobody before the commit. The writer holds no key: each request's
//! task signs its node lease after the answer, so signatures run in parallel.

use crate::store::{self, Batch, Claim, Conn, Node, Reservation, Seat, Tail};
use anyhow::{anyhow, Result};
use canon::Timestamp;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most operations one transaction carries.
pub const MAX_GROUP: usize = 256;

/// One operation on the records.
#[derive(Debug)]
pub enum Op {
    /// A node claims or renews its seat for `secs` (`borrowed`).
    Claim(Node, i64, bool),
    /// A node releases its seat.
    Release(String, Node),
    /// The administrator frees a seat, with a reason.
    ForceRelease(String, String),
    /// The live seats.
    Seats,
    /// The reservations.
    Reservations,
    /// Sets (`Some`) or removes a reservation.
    Reserve(String, Option<Reservation>),
    /// The log after an entry (its chain checked from the start).
    Log(i64),
    /// The number of the log's last entry.
    LogLength,
}

/// An operation's answer.
#[derive(Debug)]
pub enum Answer {
    /// A claim's decision, at the batch's time.
    Claim(Claim, Timestamp),
    /// Whether the node's seat was released.
    Released(bool),
    /// The freed seat (`Err`: borrowed, not freed), or none live by that id.
    ForceReleased(Option<Result<Seat, Seat>>),
    /// Live seats.
    Seats(Vec<Seat>),
    /// Reservations.
    Reservations(Vec<Reservation>),
    /// Whether a reservation changed; `Err(total)`: it would hold back more than the pool.
    Reserved(Result<bool, u64>),
    /// Log entries.
    Log(Vec<store::Entry>),
    /// The number of the log's last entry.
    LogLength(i64),
}

/// The clock the writer reads once per batch (the system clock; tests move it).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

type Reply = oneshot::Sender<Result<Answer>>;

/// The handle the HTTP handlers hold.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<(Op, Reply)>,
}

/// What the writer decides under, besides the time.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The pool (the lineage id).
    pub pool: String,
    /// This server's pool activation id.
    pub server: String,
    /// The pool's seats.
    pub seats: u64,
}

impl Writer {
    /// Starts the writer thread over `conn`; it stops when every handle is dropped.
    pub fn start(conn: Conn, scope: Scope, clock: Clock) -> Result<Writer> {
        let (tx, mut rx) = mpsc::channel::<(Op, Reply)>(4 * MAX_GROUP);
        std::thread::Builder::new()
            .name("seatd-writer".into())
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
                    let b = Batch {
                        pool: scope.pool.clone(),
                        server: scope.server.clone(),
                        seats: scope.seats,
                        now: clock(),
                    };
                    match run(&conn, &b, ops) {
                        Ok(answers) => {
                            for (reply, a) in replies.into_iter().zip(answers) {
                                let _ = reply.send(Ok(a));
                            }
                        }
                        Err(e) => {
                            let msg = format!("{e:#}");
                            for reply in replies {
                                let _ = reply.send(Err(anyhow!("the seat records failed: {msg}")));
                            }
                        }
                    }
                }
            })?;
        Ok(Writer { tx })
    }

    /// Runs one operation (queued behind the others; answered after its batch commits).
    pub async fn call(&self, op: Op) -> Result<Answer> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((op, reply))
            .await
            .map_err(|_| anyhow!("the writer thread stopped"))?;
        answer
            .await
            .map_err(|_| anyhow!("the writer thread stopped"))?
    }
}

/// One batch in one transaction. The clock floor is this server's: while the batch's time is
/// behind it, claims are refused and the floor stays; releases and reads still run.
fn run(conn: &Conn, b: &Batch, ops: Vec<Op>) -> Result<Vec<Answer>> {
    sqldb::write(conn.sql(), store::PG_SEATD_LOCK, |tx| {
        let floor_name = format!("floor:{}", b.server);
        let floor = store::counter(tx, &floor_name)?;
        let back = b.now.0 < floor;
        let mut tail = Tail::read(tx)?;
        if !back {
            store::expire(tx, b, &mut tail)?;
        }
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            out.push(match op {
                Op::Claim(..) if back => Answer::Claim(Claim::ClockBack(Timestamp(floor)), b.now),
                Op::Claim(node, secs, borrowed) => Answer::Claim(
                    store::claim(tx, b, &mut tail, &node, (secs, borrowed))?,
                    b.now,
                ),
                Op::Release(id, node) => {
                    Answer::Released(store::release(tx, b, &mut tail, &id, &node)?)
                }
                Op::ForceRelease(id, reason) => {
                    Answer::ForceReleased(store::force_release(tx, b, &mut tail, &id, &reason)?)
                }
                Op::Seats => Answer::Seats(store::seats(tx, &b.pool)?),
                Op::Reservations => Answer::Reservations(store::reservations(tx, &b.pool)?),
                Op::Reserve(name, r) => {
                    Answer::Reserved(store::reserve(tx, b, &mut tail, &name, r.as_ref())?)
                }
                Op::Log(after) => Answer::Log(store::log(tx, after)?),
                Op::LogLength => Answer::LogLength(tail.last()),
            });
        }
        if !back {
            store::set_counter(tx, &floor_name, b.now.0)?;
        }
        Ok(out)
    })
}
