//! One JSON report schema for every verdict (docs/CLI.md, "JSON reports").
//!
//! Every report is an object with `valid` (bool), `check` (the failing check's code, or
//! null), `error` (the message, or null) and the subject (`bundle`, `license`, `file`: the
//! path as given), followed by the command's facts when valid. Under `--json` it is printed on
//! stdout for every outcome, success, rejection or error; the human line always goes to
//! stderr for failures.

use crate::outcome::Outcome;
use anyhow::{Context, Result};
use canon::Value;
use runtime::bundle::Verdict;
use runtime::license::{Standing, State, VerifiedLicense};
use runtime::Check;
use std::fmt::Display;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// The report on a license whose signature verified (`runtime-verify license`, `factory
/// verify`): refused by its date check when it is not usable at the instant judged, with the
/// same facts either way.
pub fn license(path: &Path, v: &VerifiedLicense, st: &Standing) -> Result<Value> {
    let l = v.license();
    let check = match st.state {
        State::NotYetValid => s(Check::LicenseNotYetValid),
        State::Expired | State::EvaluationExpired => s(Check::LicenseExpired),
        _ => Value::Null,
    };
    let error = if st.usable() {
        Value::Null
    } else {
        s(st.describe())
    };
    object(vec![
        ("valid", Value::Bool(st.usable())),
        ("check", check),
        ("error", error),
        ("license", s(path.display())),
        ("license_id", s(&l.license_id)),
        ("customer", s(&l.customer.name)),
        ("product", s(&l.product)),
        ("tier", s(l.tier)),
        ("state", s(st.state)),
        ("not_before", s(&l.not_before)),
        ("expires_at", s(&l.expires_at)),
        ("grace_ends_at", s(st.grace_end)),
        ("days_remaining", Value::Number(st.days_remaining() as f64)),
        ("legacy", Value::Bool(v.is_legacy())),
        ("signed_by", s(v.signer())),
        ("sha256", s(v.sha256())),
    ])
}

/// The human line for the same: `PATH: VALID — license ID (product tier for customer), active,
/// expires ... (in N days)`, or `NOT VALID YET`, `EXPIRED`, ... with the dates that say why.
pub fn license_line(path: &Path, v: &VerifiedLicense, st: &Standing) -> String {
    let l = v.license();
    format!(
        "{}: {} — license {} ({} {} for {}, signed by {}), {}",
        path.display(),
        st.verdict(),
        l.license_id,
        l.product,
        l.tier,
        runtime::text::escape(&l.customer.name),
        v.signer(),
        st.describe()
    )
}

/// A JSON string.
pub fn s(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

/// A JSON number from a count (exact up to 2^53, which every count here stays below).
pub fn n(v: u64) -> Value {
    Value::Number(v as f64)
}

/// Prints a JSON document on stdout, pretty, with a final newline.
pub fn print_json(v: &Value) {
    let mut out = v.to_pretty();
    if out.last() != Some(&b'\n') {
        out.push(b'\n');
    }
    let _ = std::io::stdout().write_all(&out);
}

/// Builds an object from members (sorted canonically).
pub fn object(members: Vec<(&str, Value)>) -> Result<Value> {
    Value::object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
    .context("json report")
}

/// The report of a valid subject (a path as given, a command name): the common members,
/// then `facts`.
pub fn valid(subject_key: &str, subject: &dyn Display, facts: Vec<(&str, Value)>) -> Result<Value> {
    let mut m = vec![
        ("valid", Value::Bool(true)),
        ("check", Value::Null),
        ("error", Value::Null),
        (subject_key, s(subject)),
    ];
    m.extend(facts);
    object(m)
}

/// The report of a refused subject or an error.
pub fn failed(subject_key: &str, subject: &dyn Display, e: &anyhow::Error) -> Result<Value> {
    object(vec![
        ("valid", Value::Bool(false)),
        ("check", Outcome::of(e).code().map_or(Value::Null, s)),
        ("error", s(format!("{e:#}"))),
        (subject_key, s(subject)),
    ])
}

/// A command's result as the report every `--json` output is: an object gets the common
/// members (`valid` true, `check` and `error` null, `subject_key`: `subject`) unless it is a
/// report already (it has `valid`); an array becomes the report's member `list_key`.
pub fn success(subject_key: &str, subject: &str, body: Value, list_key: &str) -> Value {
    let common = |mut m: Vec<(String, Value)>| {
        for (k, v) in [
            ("valid", Value::Bool(true)),
            ("check", Value::Null),
            ("error", Value::Null),
            (subject_key, s(subject)),
        ] {
            if !m.iter().any(|(n, _)| n == k) {
                m.push((k.to_string(), v));
            }
        }
        Value::object(m).unwrap_or(Value::Null)
    };
    match body {
        Value::Object(m) if m.iter().any(|(k, _)| k == "valid") => Value::Object(m),
        Value::Object(m) => common(m.to_vec()),
        other => common(vec![(list_key.to_string(), other)]),
    }
}

/// Reports a failure: the JSON report on stdout when asked, and always one line on stderr
/// (`TOOL: SUBJECT: REJECTED [check]: …` for a rejection, `TOOL: error: …` otherwise).
/// Returns the exit code (1 rejected, 2 error).
pub fn fail(
    tool: &str,
    json: bool,
    subject_key: &str,
    subject: &dyn Display,
    e: &anyhow::Error,
) -> Result<ExitCode> {
    let outcome = Outcome::of(e);
    if json {
        print_json(&failed(subject_key, subject, e)?);
    }
    match outcome {
        Outcome::Rejected(c) => {
            eprintln!("{tool}: {subject}: REJECTED [{c}]: {e:#}")
        }
        // A local problem (a path, a permission, an option), not a verdict on the input.
        _ => eprintln!("{tool}: error: {e:#}"),
    }
    Ok(ExitCode::from(outcome.exit_code()))
}

/// The facts of a verified bundle, the same for `runtime-verify` and `packager verify`.
pub fn bundle_facts(v: &Verdict) -> Vec<(&'static str, Value)> {
    vec![
        ("bundle_id", s(&v.bundle_id)),
        ("product", s(&v.product)),
        ("version", s(&v.version)),
        ("edition", s(&v.edition)),
        ("channel", s(&v.channel)),
        (
            "images",
            Value::Array(
                v.images
                    .iter()
                    .map(|i| s(format!("{}@{}", i.name, i.digest)))
                    .collect(),
            ),
        ),
        ("customer", s(&v.customer.0)),
        ("license_id", s(&v.license_id)),
        ("license_state", s(v.license_state)),
        ("sequence", n(v.sequence)),
        ("members", n(v.members as u64)),
        ("payload_bytes", n(v.payload_bytes)),
        ("sealed", Value::Bool(v.sealed)),
        ("opened", Value::Bool(v.opened)),
        ("signed_by", s(v.signed_by)),
        ("warnings", Value::Array(v.warnings.iter().map(s).collect())),
        (
            "extracted_to",
            v.extracted_to
                .as_ref()
                .map_or(Value::Null, |p| s(p.display())),
        ),
    ]
}

/// Prints a verified bundle: the JSON report, or the human lines (with text from the signed
/// artifacts escaped for the terminal).
pub fn print_bundle(v: &Verdict, bundle: &Path, json: bool) -> Result<()> {
    if json {
        print_json(&valid("bundle", &bundle.display(), bundle_facts(v))?);
        return Ok(());
    }
    let safe = runtime::text::escape;
    println!(
        "{}: VALID — {} {} ({} edition) for {}, bundle {} sequence {}, {} members, license {} is {}",
        bundle.display(),
        v.product,
        v.version,
        v.edition,
        safe(&v.customer.1),
        v.bundle_id,
        v.sequence,
        v.members,
        v.license_id,
        v.license_state
    );
    for w in &v.warnings {
        println!("warning: {}", safe(w));
    }
    if let Some(p) = &v.extracted_to {
        println!(
            "extracted to {}{}",
            p.display(),
            match (v.sealed, v.opened) {
                (true, true) => " (payload opened with this machine's build key)",
                (true, false) => " (payload still sealed)",
                _ => "",
            }
        );
    } else if v.sealed {
        println!(
            "the payload is sealed: only a machine whose lease carries build {}'s key opens it",
            v.bundle_id
        );
    }
    Ok(())
}
