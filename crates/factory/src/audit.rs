//! What the audit reconciles beyond the hash chain and the rows (`Registry::verify_audit`):
//!
//! - **Token uses.** Every seat an install token made is one `install_token_uses` row and one
//!   `activated` event naming the token; both counts agree per token and stay within the
//!   allowance its `token_created` event recorded. Deleting a use (which re-arms a spent
//!   token) or inventing one is found.
//! - **Signed anchors.** Each revocation-list publication signs the audit head with the license
//!   key that signs the list (payload type `…audit-anchor…`, kept in `audit_anchors`): the
//!   chain must still hold every anchored event with its hash, so a tail cut behind the last
//!   publication is found without a head the operator kept. An anchor is accepted only under a
//!   key that signed licenses or lists of this registry, and every list published since
//!   anchors began has its anchor.
//!
//! The chain itself lives here too: each event's hash, the tail kept per write transaction,
//! and the verification of the chain and of every license row against it.
//!
//! Failures are `runtime::check::Failed` with [`Check::AuditInvalid`].

use crate::args;
use crate::db::Sql;
use crate::registry::{row_hash, row_to_record, Registry, COLUMNS, FROM_JOINED};
use anyhow::{bail, Context, Result};
use canon::{enc, Kind, Timestamp, Value};
use runtime::check::{Check, Failed};
use std::collections::{BTreeMap, BTreeSet};

/// The detail of a `revocations_published` event whose list is anchored (every list published
/// since anchors exist): the audit then requires its anchor, so deleting anchors is found too.
pub const ANCHORED: &str = "anchored";

/// The anchor document's `type`.
pub const ANCHOR_TYPE: &str = "airlock-audit-anchor";

fn altered(message: String) -> anyhow::Error {
    Failed::new(Check::AuditInvalid, format!("registry altered: {message}")).into()
}

/// The canonical anchor document.
fn anchor_document(revocations: u64, seq: i64, head: &str, at: Timestamp) -> Vec<u8> {
    Value::object(vec![
        ("type".into(), Value::String(ANCHOR_TYPE.into())),
        (
            "revocations_sequence".into(),
            Value::Number(revocations as f64),
        ),
        ("audit_seq".into(), Value::Number(seq as f64)),
        ("audit_head".into(), Value::String(head.into())),
        ("signed_at".into(), Value::String(at.to_string())),
    ])
    .expect("distinct names")
    .to_canonical()
}

/// Signs the audit head as it stands (the last event, the list's publication) and records it
/// for list `revocations`, inside the publication's transaction.
pub(crate) fn anchor_in(
    tx: &dyn Sql,
    revocations: u64,
    at: Timestamp,
    key: &signing::SecretKey,
) -> Result<()> {
    let (seq, head) = tx.one(
        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
        &[],
        |r| Ok((r.int(0)?, r.text(1)?)),
    )?;
    let doc = anchor_document(revocations, seq, &head, at);
    let envelope = key.sign_document(Kind::AuditAnchor, &doc)?;
    tx.exec(
        "INSERT INTO audit_anchors (revocations_sequence, audit_seq, audit_head, public_key, document, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![
            revocations,
            seq,
            &head,
            &enc::b64(&key.public_key()),
            &String::from_utf8(doc).expect("canonical JSON is UTF-8"),
            &String::from_utf8(envelope.to_bytes()).expect("an envelope is UTF-8")
        ],
    )?;
    Ok(())
}

pub(crate) fn audit_hash(
    prev: &str,
    seq: i64,
    at: Timestamp,
    event: &str,
    subject: &str,
    detail: &str,
    row_hash: Option<&str>,
) -> String {
    let mut m = vec![
        ("prev_hash".into(), Value::String(prev.into())),
        ("seq".into(), Value::Number(seq as f64)),
        ("at".into(), Value::String(at.to_string())),
        ("event".into(), Value::String(event.into())),
        ("subject".into(), Value::String(subject.into())),
        ("detail".into(), Value::String(detail.into())),
    ];
    // Events from before schema 2 have no row hash and hash exactly as they did then.
    if let Some(h) = row_hash {
        m.push(("row_hash".into(), Value::String(h.into())));
    }
    enc::sha256_hex(&Value::object(m).expect("distinct names").to_canonical())
}

thread_local! {
    /// The audit log's last event (seq, hash) as this thread's open write transaction left it:
    /// the next event chains on it without reading the log again. Valid only inside one write
    /// transaction (the write lock held: nobody else appends); forgotten when one begins or
    /// ends, and when a savepoint is rolled back.
    static AUDIT_TAIL: std::cell::RefCell<Option<(i64, String)>> =
        const { std::cell::RefCell::new(None) };
}

/// Forgets the cached audit tail (a transaction began or ended, or a savepoint rolled back).
pub(crate) fn forget_audit_tail() {
    AUDIT_TAIL.with(|t| *t.borrow_mut() = None);
}

/// An audit event ready to insert: chained to the tail, its hash computed.
pub(crate) struct AuditInsert {
    seq: i64,
    at: i64,
    event: String,
    subject: String,
    detail: String,
    prev: String,
    hash: String,
    row: Option<String>,
}

/// The statement that inserts an [`AuditInsert`] ([`AuditInsert::args`]).
pub(crate) const AUDIT_INSERT: &str = "INSERT INTO audit (seq, at, event, subject, detail, prev_hash, hash, row_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

impl AuditInsert {
    /// The arguments of [`AUDIT_INSERT`].
    pub(crate) fn args(&self) -> Vec<crate::db::Arg<'_>> {
        args![
            self.seq,
            self.at,
            &self.event,
            &self.subject,
            &self.detail,
            &self.prev,
            &self.hash,
            &self.row
        ]
        .to_vec()
    }
}

/// The next audit event, chained on the tail (read once per write transaction, then kept), for
/// the caller to insert in its transaction (the tail moves on as if it was).
pub(crate) fn audit_next(
    tx: &dyn Sql,
    at: Timestamp,
    event: &str,
    subject: &str,
    detail: &str,
    row: Option<&str>,
) -> Result<AuditInsert> {
    let last: Option<(i64, String)> = match AUDIT_TAIL.with(|t| t.borrow().clone()) {
        Some(tail) => Some(tail),
        None => tx.opt(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            &[],
            |r| Ok((r.int(0)?, r.text(1)?)),
        )?,
    };
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, "0".repeat(64)),
    };
    let hash = audit_hash(&prev, seq, at, event, subject, detail, row);
    AUDIT_TAIL.with(|t| *t.borrow_mut() = Some((seq, hash.clone())));
    Ok(AuditInsert {
        seq,
        at: at.0,
        event: event.into(),
        subject: subject.into(),
        detail: detail.into(),
        prev,
        hash,
        row: row.map(str::to_string),
    })
}

/// Appends an audit event inside the caller's transaction.
pub(crate) fn audit_with(
    tx: &dyn Sql,
    at: Timestamp,
    event: &str,
    subject: &str,
    detail: &str,
    row: Option<&str>,
) -> Result<()> {
    let a = audit_next(tx, at, event, subject, detail, row)?;
    tx.exec(AUDIT_INSERT, &a.args())?;
    Ok(())
}

impl Registry {
    /// Recomputes the audit chain, then checks every license row against the row hash of its
    /// latest event (and that every license the log speaks of still exists). Returns the number
    /// of events and the head hash, or names the first break.
    pub fn verify_audit(&self) -> Result<(u64, String)> {
        let mut prev = "0".repeat(64);
        let mut expect_seq = 1i64;
        self.sql().each(
            "SELECT seq, at, event, subject, detail, prev_hash, hash, row_hash FROM audit ORDER BY seq",
            &[],
            &mut |r| {
                let (seq, at) = (r.int(0)?, r.int(1)?);
                let (event, subject, detail) = (r.text(2)?, r.text(3)?, r.text(4)?);
                let (p, h) = (r.text(5)?, r.text(6)?);
                let row = r.opt_text(7)?;
                if seq != expect_seq {
                    bail!("audit chain broken: event {expect_seq} is missing (found {seq})");
                }
                if p != prev {
                    bail!(
                        "audit chain broken at event {seq}: prev_hash does not match event {}",
                        seq - 1
                    );
                }
                if audit_hash(
                    &p,
                    seq,
                    Timestamp(at),
                    &event,
                    &subject,
                    &detail,
                    row.as_deref(),
                ) != h
                {
                    bail!("audit chain broken at event {seq}: its content does not match its hash");
                }
                prev = h;
                expect_seq += 1;
                Ok(())
            },
        )?;
        self.verify_rows()?;
        self.verify_activation_rows()?;
        self.verify_token_uses()?;
        self.verify_anchors()?;
        Ok(((expect_seq - 1) as u64, prev))
    }

    /// Checks every license row against the latest row-carrying event of its subject, and
    /// that every license the log speaks of still exists.
    fn verify_rows(&self) -> Result<()> {
        let mut events: std::collections::BTreeMap<String, String> = self
            .sql()
            .all(
                "SELECT a.subject, a.row_hash FROM audit a
                 WHERE a.row_hash IS NOT NULL AND a.subject NOT LIKE 'activation:%'
                   AND a.seq = (SELECT max(b.seq) FROM audit b WHERE b.subject = a.subject AND b.row_hash IS NOT NULL)",
                &[],
                |r| Ok((r.text(0)?, r.text(1)?)),
            )?
            .into_iter()
            .collect();
        self.sql().each(
            &format!("SELECT {COLUMNS} FROM {FROM_JOINED} ORDER BY l.license_id"),
            &[],
            &mut |row| {
                let r = row_to_record(row)?;
                match events.remove(&r.license_id) {
                    None => bail!(
                        "registry altered: license {} has no audit event for its current row",
                        r.license_id
                    ),
                    Some(want) if row_hash(&r) != want => bail!(
                        "registry altered: license {}'s row differs from what its last audit event recorded (edited outside factory)",
                        r.license_id
                    ),
                    Some(_) => Ok(()),
                }
            },
        )?;
        if let Some(subject) = events.keys().next() {
            bail!(
                "registry altered: license {subject} is in the audit log but not in the registry"
            );
        }
        Ok(())
    }

    /// Whether `head` is the hash of an event in the chain (an operator's earlier record of the
    /// head): a chain cut below it, or rewritten up to it, no longer holds it.
    pub fn has_audit_hash(&self, head: &str) -> Result<bool> {
        Ok(self
            .sql()
            .opt("SELECT 1 FROM audit WHERE hash = ?1", args![head], |_| {
                Ok(())
            })?
            .is_some())
    }
}

impl Registry {
    /// Token uses against the events that made them and the allowances tokens were made with.
    pub(crate) fn verify_token_uses(&self) -> Result<()> {
        let db = self.sql();
        let mut allowance: BTreeMap<String, u64> = BTreeMap::new();
        let mut made: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        db.each(
            "SELECT event, subject, detail FROM audit WHERE event IN ('token_created', 'activated', 'activated_over_limit') ORDER BY seq",
            &[],
            &mut |r| {
                let (event, subject, detail) = (r.text(0)?, r.text(1)?, r.text(2)?);
                let field = |name: &str| {
                    detail
                        .split(' ')
                        .find_map(|w| w.strip_prefix(name))
                        .map(str::to_string)
                };
                if event == "token_created" {
                    let id = subject.trim_start_matches("token:").to_string();
                    let n = field("allowance=").and_then(|n| n.parse().ok()).unwrap_or(0);
                    allowance.insert(id, n);
                } else if let Some(token) = field("token=") {
                    let seat = subject.trim_start_matches("activation:").to_string();
                    made.entry(token).or_default().insert(seat);
                }
                Ok(())
            },
        )?;
        let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        db.each(
            "SELECT token_id, activation_id FROM install_token_uses ORDER BY token_id, activation_id",
            &[],
            &mut |r| {
                used.entry(r.text(0)?).or_default().insert(r.text(1)?);
                Ok(())
            },
        )?;
        for (token, seats) in &made {
            let rows = used.remove(token).unwrap_or_default();
            if rows != *seats {
                return Err(altered(format!(
                    "install token {token} made {} seat(s) by the audit log, {} by its use rows (a deleted use re-arms a spent token)",
                    seats.len(),
                    rows.len()
                )));
            }
            let allowed = allowance.get(token).copied().unwrap_or(0);
            if seats.len() as u64 > allowed {
                return Err(altered(format!(
                    "install token {token} made {} seat(s), more than the {allowed} it allows",
                    seats.len()
                )));
            }
        }
        if let Some((token, _)) = used.into_iter().next() {
            return Err(altered(format!(
                "install token {token} has use rows no audit event made"
            )));
        }
        Ok(())
    }

    /// Every signed anchor against the chain, and every list published since anchors began.
    pub(crate) fn verify_anchors(&self) -> Result<()> {
        let db = self.sql();
        let signers: BTreeSet<String> = db
            .all("SELECT DISTINCT key_id FROM licenses", &[], |r| r.text(0))?
            .into_iter()
            .collect();
        let anchors = db.all(
            "SELECT revocations_sequence, audit_seq, audit_head, public_key, document, signature FROM audit_anchors ORDER BY revocations_sequence",
            &[],
            |r| {
                Ok((
                    r.int(0)?,
                    r.int(1)?,
                    r.text(2)?,
                    r.text(3)?,
                    r.text(4)?,
                    r.text(5)?,
                ))
            },
        )?;
        let mut list_signers = signers.clone();
        for (rev, seq, head, public, doc, sig) in &anchors {
            let key = enc::unb64_exact::<32>(public)
                .and_then(|k| runtime::PublicKey::from_bytes(&k).ok())
                .with_context(|| format!("anchor of list {rev}: its public key"))?;
            let id = key.key_id().to_string();
            let env = canon::Envelope::parse(sig.as_bytes()).map_err(|e| {
                altered(format!(
                    "the anchor of list {rev} has no valid envelope: {e}"
                ))
            })?;
            let good_sig = env.kind == Kind::AuditAnchor
                && env.key_id.to_string() == id
                && key.verify(
                    &canon::sig::pae(Kind::AuditAnchor.payload_type(), doc.as_bytes()),
                    &env.sig,
                );
            // The signed document says what the row says (the row is what the checks read).
            let same_facts = canon::parse(doc.as_bytes()).ok().is_some_and(|v| {
                let text = |k: &str| match v.get(k) {
                    Some(Value::String(t)) => Some(t.clone()),
                    _ => None,
                };
                let num = |k: &str| match v.get(k) {
                    Some(Value::Number(n)) => Some(*n),
                    _ => None,
                };
                text("type").as_deref() == Some(ANCHOR_TYPE)
                    && num("revocations_sequence") == Some(*rev as f64)
                    && num("audit_seq") == Some(*seq as f64)
                    && text("audit_head").as_deref() == Some(head.as_str())
            });
            if !good_sig || !same_facts {
                return Err(altered(format!(
                    "the anchor of revocation list {rev} does not verify (signature or content)"
                )));
            }
            if !list_signers.contains(&id) {
                return Err(altered(format!(
                    "the anchor of revocation list {rev} is signed by key {id}, which signed nothing else in this registry"
                )));
            }
            list_signers.insert(id);
            let held = db.opt("SELECT hash FROM audit WHERE seq = ?1", args![*seq], |r| {
                r.text(0)
            })?;
            if held.as_deref() != Some(head.as_str()) {
                return Err(altered(format!(
                    "the audit log no longer holds event {seq} signed at the publication of revocation list {rev} (its tail was cut or rewritten)"
                )));
            }
        }
        let anchored: BTreeSet<i64> = anchors.iter().map(|a| a.0).collect();
        let published = db.all(
            "SELECT subject FROM audit WHERE event = 'revocations_published' AND detail = ?1 ORDER BY seq",
            args![ANCHORED],
            |r| r.text(0),
        )?;
        for subject in published {
            let n: i64 = subject
                .trim_start_matches("revocations#")
                .parse()
                .with_context(|| format!("audit subject {subject}"))?;
            if !anchored.contains(&n) {
                return Err(altered(format!(
                    "revocation list {n} was published with an anchor that is gone"
                )));
            }
        }
        Ok(())
    }
}

/// Checks a head given by the operator (`factory audit verify --head H`): 64 lowercase hex.
pub fn check_head(head: &str) -> Result<()> {
    if head.len() != 64 || !head.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        anyhow::bail!("--head {head:?} is not an audit head (64 lowercase hex characters, as `factory audit verify` prints it)");
    }
    Ok(())
}
