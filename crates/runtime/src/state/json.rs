//! The `state.json` file format (docs/FORMAT.md §17): the strict parser of every format this
//! runtime has written (4, and 3, 2, 1 converted on read) and the canonical writer (format 4).

use super::{PinnedRoot, RevocationPin, State, StateError, TrustPin};
use canon::{enc, Timestamp, Value};

pub(super) fn corrupt(m: impl Into<String>) -> StateError {
    StateError::Corrupt(m.into())
}

fn int(v: Option<&Value>, what: &str) -> Result<u64, StateError> {
    match v {
        Some(Value::Number(n))
            if *n >= 0.0 && n.fract() == 0.0 && *n <= crate::MAX_SAFE_INTEGER as f64 =>
        {
            Ok(*n as u64)
        }
        _ => Err(corrupt(format!("{what} is not a whole number"))),
    }
}

fn time(v: Option<&Value>, what: &str) -> Result<Timestamp, StateError> {
    v.and_then(Value::as_str)
        .and_then(Timestamp::parse)
        .ok_or_else(|| corrupt(format!("{what} is not a timestamp")))
}

fn hash(v: Option<&Value>, what: &str) -> Result<[u8; 32], StateError> {
    v.and_then(Value::as_str)
        .and_then(enc::unhex::<32>)
        .ok_or_else(|| corrupt(format!("{what} is not a SHA-256")))
}

fn members<'a>(v: &'a Value, want: &[&str], what: &str) -> Result<(), StateError> {
    let Value::Object(m) = v else {
        return Err(corrupt(format!("{what} is not an object")));
    };
    let names: Vec<&'a str> = m.iter().map(|(k, _)| k.as_str()).collect();
    if names != want {
        return Err(corrupt(format!("{what}: members must be exactly {want:?}")));
    }
    Ok(())
}

fn object(v: Option<&Value>, what: &str) -> Result<Vec<(String, Value)>, StateError> {
    match v {
        Some(Value::Object(m)) => Ok(m.to_vec()),
        _ => Err(corrupt(format!("{what} is not an object"))),
    }
}

/// Parses `state.json` (format 3, or formats 2 and 1 written by earlier runtimes, converted).
pub fn parse(b: &[u8]) -> Result<State, StateError> {
    parse_format(b).map(|(s, _)| s)
}

pub(super) fn parse_format(b: &[u8]) -> Result<(State, u64), StateError> {
    let v = canon::parse(b).map_err(|e| corrupt(e.to_string()))?;
    match int(v.get("airlock_state"), "airlock_state")? {
        5 => Ok((parse_v5(&v)?, 5)),
        4 => Ok((parse_v4(&v)?, 4)),
        3 => Ok((parse_v3(&v)?, 3)),
        2 => Ok((parse_v2(&v)?, 2)),
        1 => Ok((parse_v1(&v)?, 1)),
        n => Err(corrupt(format!("unknown airlock_state version {n}"))),
    }
}

/// The members of format 3 (format 4 adds `license_sequences`), in canonical order.
const V3_MEMBERS: [&str; 11] = [
    "activation_epochs",
    "activation_sequences",
    "airlock_state",
    "bundle_sequences",
    "evaluation_started",
    "generation",
    "highest_time_seen",
    "revocations",
    "revoked",
    "revoked_activations",
    "trust",
];

/// Format 5: format 4 and the suspensions of the newest accepted list.
fn parse_v5(v: &Value) -> Result<State, StateError> {
    let mut s = parse_sequences(v, &["license_sequences", "suspended"])?;
    for (k, t) in object(v.get("suspended"), "suspended")? {
        s.suspended.insert(k, time(Some(&t), "suspended")?);
    }
    Ok(s)
}

/// Format 4: format 3 and the license sequences.
fn parse_v4(v: &Value) -> Result<State, StateError> {
    parse_sequences(v, &["license_sequences"])
}

/// Format 3's members, `extra` members, and the license sequences.
fn parse_sequences(v: &Value, extra: &[&str]) -> Result<State, StateError> {
    let mut want = V3_MEMBERS.to_vec();
    want.extend_from_slice(extra);
    want.sort_unstable();
    members(v, &want, "state")?;
    let mut s = parse_activations(v)?;
    for (k, n) in object(v.get("license_sequences"), "license_sequences")? {
        s.license_sequences
            .insert(k, int(Some(&n), "license sequence")?);
    }
    Ok(s)
}

/// Format 3: format 2 and the activation members.
fn parse_v3(v: &Value) -> Result<State, StateError> {
    members(v, &V3_MEMBERS, "state")?;
    parse_activations(v)
}

/// Format 2's members and the activation members of format 3.
fn parse_activations(v: &Value) -> Result<State, StateError> {
    let mut s = parse_common(v)?;
    for (k, r) in object(v.get("revoked_activations"), "revoked_activations")? {
        let reason = r
            .as_str()
            .ok_or_else(|| corrupt("revoked_activations reasons must be strings"))?;
        s.revoked_activations.insert(k, reason.to_string());
    }
    for (k, n) in object(v.get("activation_epochs"), "activation_epochs")? {
        s.activation_epochs
            .insert(k, int(Some(&n), "activation epoch")?);
    }
    for (k, n) in object(v.get("activation_sequences"), "activation_sequences")? {
        s.activation_sequences
            .insert(k, int(Some(&n), "activation sequence")?);
    }
    Ok(s)
}

fn parse_v2(v: &Value) -> Result<State, StateError> {
    members(
        v,
        &[
            "airlock_state",
            "bundle_sequences",
            "evaluation_started",
            "generation",
            "highest_time_seen",
            "revocations",
            "revoked",
            "trust",
        ],
        "state",
    )?;
    parse_common(v)
}

/// The members formats 2 and 3 share.
fn parse_common(v: &Value) -> Result<State, StateError> {
    let mut s = State {
        generation: int(v.get("generation"), "generation")?,
        highest_time_seen: match v.get("highest_time_seen") {
            Some(Value::Null) => None,
            t => Some(time(t, "highest_time_seen")?),
        },
        ..State::default()
    };
    s.trust = match v.get("trust") {
        Some(Value::Null) => None,
        Some(t) => {
            members(t, &["issued_at", "roots", "sha256", "version"], "trust")?;
            let Some(Value::Array(roots)) = t.get("roots") else {
                return Err(corrupt("trust.roots is not an array"));
            };
            let mut pins = Vec::new();
            for r in roots {
                members(r, &["not_after", "not_before", "public_key"], "trust.roots")?;
                pins.push(PinnedRoot {
                    key: r
                        .get("public_key")
                        .and_then(Value::as_str)
                        .and_then(enc::unb64_exact::<32>)
                        .ok_or_else(|| {
                            corrupt("trust.roots public_key is not base64 of 32 bytes")
                        })?,
                    not_before: time(r.get("not_before"), "trust.roots not_before")?,
                    not_after: time(r.get("not_after"), "trust.roots not_after")?,
                });
            }
            if pins.is_empty() {
                return Err(corrupt("trust.roots is empty"));
            }
            Some(TrustPin {
                version: int(t.get("version"), "trust.version")?,
                sha256: hash(t.get("sha256"), "trust.sha256")?,
                issued_at: time(t.get("issued_at"), "trust.issued_at")?,
                roots: pins,
            })
        }
        None => return Err(corrupt("missing trust")),
    };
    s.revocations = match v.get("revocations") {
        Some(Value::Null) => None,
        Some(r) => {
            members(r, &["issued_at", "sequence", "sha256"], "revocations")?;
            Some(RevocationPin {
                sequence: int(r.get("sequence"), "revocations.sequence")?,
                sha256: hash(r.get("sha256"), "revocations.sha256")?,
                issued_at: time(r.get("issued_at"), "revocations.issued_at")?,
            })
        }
        None => return Err(corrupt("missing revocations")),
    };
    for (k, r) in object(v.get("revoked"), "revoked")? {
        let reason = r
            .as_str()
            .ok_or_else(|| corrupt("revoked reasons must be strings"))?;
        s.revoked.insert(k, reason.to_string());
    }
    read_maps(v, &mut s)?;
    Ok(s)
}

fn read_maps(v: &Value, s: &mut State) -> Result<(), StateError> {
    for (k, n) in object(v.get("bundle_sequences"), "bundle_sequences")? {
        s.bundle_sequences
            .insert(k, int(Some(&n), "bundle sequence")?);
    }
    for (k, t) in object(v.get("evaluation_started"), "evaluation_started")? {
        s.evaluation_started
            .insert(k, time(Some(&t), "evaluation start")?);
    }
    Ok(())
}

/// Format 1 (runtime 0.1): pins without windows and only a revocation sequence. The pins keep
/// an open window; the revocation sequence has no hash, so any list of that sequence matches.
fn parse_v1(v: &Value) -> Result<State, StateError> {
    members(
        v,
        &[
            "airlock_state",
            "bundle_sequences",
            "evaluation_started",
            "highest_time_seen",
            "revocation_sequence",
            "trust_roots",
            "trust_version",
        ],
        "state (format 1)",
    )?;
    let mut s = State {
        highest_time_seen: match v.get("highest_time_seen") {
            Some(Value::Null) => None,
            t => Some(time(t, "highest_time_seen")?),
        },
        ..State::default()
    };
    let Some(Value::Array(roots)) = v.get("trust_roots") else {
        return Err(corrupt("trust_roots must be an array"));
    };
    let mut pins = Vec::new();
    for r in roots {
        pins.push(PinnedRoot {
            key: r
                .as_str()
                .and_then(enc::unb64_exact::<32>)
                .ok_or_else(|| corrupt("trust_roots entries must be base64 of 32 bytes"))?,
            not_before: EARLIEST,
            not_after: LATEST,
        });
    }
    let version = int(v.get("trust_version"), "trust_version")?;
    if !pins.is_empty() {
        s.trust = Some(TrustPin {
            version,
            sha256: [0; 32],
            issued_at: EARLIEST,
            roots: pins,
        });
    }
    let seq = int(v.get("revocation_sequence"), "revocation_sequence")?;
    if seq > 0 {
        s.revocations = Some(RevocationPin {
            sequence: seq,
            sha256: [0; 32],
            issued_at: EARLIEST,
        });
    }
    read_maps(v, &mut s)?;
    Ok(s)
}

fn s(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

fn obj(m: Vec<(String, Value)>) -> Value {
    // Member names are distinct by construction (map keys or fixed literals).
    Value::object(m).unwrap_or(Value::Null)
}

/// Canonical bytes of a state (what `state.json` holds).
pub fn to_bytes(st: &State) -> Vec<u8> {
    let num = |n: u64| Value::Number(n as f64);
    obj(vec![
        ("airlock_state".into(), num(5)),
        ("generation".into(), num(st.generation)),
        (
            "highest_time_seen".into(),
            st.highest_time_seen.map_or(Value::Null, s),
        ),
        (
            "trust".into(),
            st.trust.as_ref().map_or(Value::Null, |t| {
                obj(vec![
                    ("version".into(), num(t.version)),
                    ("sha256".into(), s(enc::hex(&t.sha256))),
                    ("issued_at".into(), s(t.issued_at)),
                    (
                        "roots".into(),
                        Value::Array(
                            t.roots
                                .iter()
                                .map(|r| {
                                    obj(vec![
                                        ("public_key".into(), s(enc::b64(&r.key))),
                                        ("not_before".into(), s(r.not_before)),
                                        ("not_after".into(), s(r.not_after)),
                                    ])
                                })
                                .collect(),
                        ),
                    ),
                ])
            }),
        ),
        (
            "revocations".into(),
            st.revocations.as_ref().map_or(Value::Null, |r| {
                obj(vec![
                    ("sequence".into(), num(r.sequence)),
                    ("sha256".into(), s(enc::hex(&r.sha256))),
                    ("issued_at".into(), s(r.issued_at)),
                ])
            }),
        ),
        (
            "revoked".into(),
            obj(st.revoked.iter().map(|(k, r)| (k.clone(), s(r))).collect()),
        ),
        (
            "bundle_sequences".into(),
            obj(st
                .bundle_sequences
                .iter()
                .map(|(k, n)| (k.clone(), num(*n)))
                .collect()),
        ),
        (
            "evaluation_started".into(),
            obj(st
                .evaluation_started
                .iter()
                .map(|(k, t)| (k.clone(), s(t)))
                .collect()),
        ),
        (
            "revoked_activations".into(),
            obj(st
                .revoked_activations
                .iter()
                .map(|(k, r)| (k.clone(), s(r)))
                .collect()),
        ),
        (
            "activation_epochs".into(),
            obj(st
                .activation_epochs
                .iter()
                .map(|(k, n)| (k.clone(), num(*n)))
                .collect()),
        ),
        (
            "activation_sequences".into(),
            obj(st
                .activation_sequences
                .iter()
                .map(|(k, n)| (k.clone(), num(*n)))
                .collect()),
        ),
        (
            "license_sequences".into(),
            obj(st
                .license_sequences
                .iter()
                .map(|(k, n)| (k.clone(), num(*n)))
                .collect()),
        ),
        (
            "suspended".into(),
            obj(st
                .suspended
                .iter()
                .map(|(k, t)| (k.clone(), s(t)))
                .collect()),
        ),
    ])
    .to_canonical()
}

/// Open bounds for format-1 pins, which carried no window (RFC 3339 can write them).
const EARLIEST: Timestamp = Timestamp(0);
const LATEST: Timestamp = Timestamp(253_402_300_799); // 9999-12-31T23:59:59Z
