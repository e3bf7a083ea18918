//! `runtime-verify remind`: what cron and monitoring act on (text, JSON, Prometheus), with
//! one exit code per state.

use crate::cli::*;
use anyhow::{bail, Context, Result};
use canon::{Timestamp, Value};
use clikit::input::clock;
use clikit::report::s;
use runtime::license::{Standing, State};
use runtime::Check;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `remind --help`'s exit-code table (docs/CLI.md has the same; a test compares them).
pub(crate) const REMIND_EXIT_CODES: &str = "Exit codes:
  0  nothing to do (no reminder today)
  2  usage or local error
  3  reminder: a threshold day was reached (or fewer days remain than the smallest)
  4  grace: expired, still running; renew now
  5  expired: new activations, updates and growth stopped (data kept)
  6  not yet valid
  7  revoked (by a list the state accepted)
  8  invalid (signature, trust, unreadable license, state rollback)
  9  tamper suspected (clock earlier than the state directory has seen, or than a signed time)";

/// Exit codes of `remind` (docs/CLI.md).
pub(crate) mod remind_code {
    pub const OK: u8 = 0;
    pub const REMINDER: u8 = 3;
    pub const GRACE: u8 = 4;
    pub const EXPIRED: u8 = 5;
    pub const NOT_YET_VALID: u8 = 6;
    pub const REVOKED: u8 = 7;
    pub const INVALID: u8 = 8;
    pub const TAMPER: u8 = 9;
}

/// `remind`'s options beyond the license and its trust.
pub(crate) struct Remind {
    pub(crate) thresholds: String,
    pub(crate) format: Format,
    pub(crate) warn_days: i64,
}

/// `--thresholds`: whole days, largest first.
pub(crate) fn thresholds(list: &str) -> Result<Vec<i64>> {
    let mut th: Vec<i64> = Vec::new();
    for t in list.split(',') {
        let n: i64 = t
            .trim()
            .parse()
            .with_context(|| format!("--thresholds: {t:?} is not a whole number of days"))?;
        if n < 0 {
            bail!("--thresholds must be positive days");
        }
        th.push(n);
    }
    th.sort_unstable_by(|a, b| b.cmp(a));
    Ok(th)
}

pub(crate) fn remind_cmd(
    license: &Path,
    trust: &TrustArgs,
    o: &Remind,
    at: &Option<String>,
    state: &Option<PathBuf>,
) -> Result<ExitCode> {
    let th = thresholds(&o.thresholds)?;
    let clock = clock(at.as_deref())?;
    let now = clock.now();
    // The same session as every other command: pinned roots, trust version, revocations, and
    // the clock; the time is recorded only for a real run that verified the license.
    // The lease of this machine's activation, when the state directory holds one: its end
    // (when before the license's), or its refusal.
    let mut lease: Option<std::result::Result<(Timestamp, String), (Check, String)>> = None;
    let mut activation_required = false;
    let outcome: Result<Standing, (State, String)> = (|| {
        let classify = |e: anyhow::Error| {
            let st = match runtime::check_of(e.as_ref()) {
                Some(Check::TamperSuspected) => State::TamperSuspected,
                Some(Check::LicenseRevoked) => State::Revoked,
                _ => State::Invalid,
            };
            (st, format!("{e:#}"))
        };
        let mut session = begin_session(trust, state.as_deref(), clock).map_err(classify)?;
        let (v, mut st) =
            check_license(&mut session, license, false, o.warn_days).map_err(classify)?;
        activation_required = v.license().activation_required();
        if let Some(dir) = state.as_deref() {
            let lineage = v.license().lineage_id.clone();
            let verdicts = check_leases(&mut session, dir, Some(&lineage)).map_err(classify)?;
            lease = verdicts
                .into_iter()
                .find(|l| l.product == v.license().product)
                .map(|l| match l.result {
                    Ok(x) => Ok((x.facts().not_after, x.describe(session.now()))),
                    Err(e) => Err((
                        runtime::check_of(e.as_ref()).unwrap_or(Check::IoError),
                        format!("{e:#}"),
                    )),
                });
        }
        // Evaluation terms whose evaluation started here: remind about the evaluation's end.
        if let Some(started) = session.evaluation_started(&v.license().product) {
            if let Some(e) = Standing::evaluation(&v, started, session.now(), o.warn_days) {
                st = e;
            }
        }
        session.commit().map_err(|e| classify(e.into()))?;
        Ok(st)
    })();
    let (st, standing, detail) = match outcome {
        Ok(x) => (x.state, Some(x), String::new()),
        Err((st, why)) => (st, None, why),
    };
    let days = standing.map(|x| x.days_remaining());
    // The state is the license's (one definition, the same as `license`); the reminder days
    // are this command's own question: a threshold day, or fewer days left than the smallest.
    let reminder_day = days.is_some_and(|d| th.contains(&d) || d < th.last().copied().unwrap_or(0));
    let described = standing.map(|x| x.describe()).unwrap_or_default();
    let (code, attention, message) = match st {
        State::Active if reminder_day => (remind_code::REMINDER, true, format!("{described}; renew it in time")),
        State::ExpiringSoon if reminder_day => (remind_code::REMINDER, true, described),
        State::Evaluation if reminder_day => (remind_code::REMINDER, true, format!("{described}; ask the vendor for a license")),
        State::Active | State::ExpiringSoon | State::Evaluation => (remind_code::OK, false, described),
        State::EvaluationExpired => (remind_code::EXPIRED, true, described),
        State::Grace => (remind_code::GRACE, true, format!("{described}; new activations stop when it ends")),
        State::Expired => (remind_code::EXPIRED, true, format!("{described}: new activations, updates and growth are stopped (data is kept); renew it")),
        State::NotYetValid => (remind_code::NOT_YET_VALID, true, described),
        State::Revoked => (remind_code::REVOKED, true, format!("license revoked: {detail}")),
        State::TamperSuspected => (remind_code::TAMPER, true, detail.clone()),
        _ => (remind_code::INVALID, true, format!("license cannot be verified: {detail}")),
    };
    // The lease: it ends before the license does (remind on the same days), or it ended.
    let (code, attention, message) = match (&lease, code) {
        (Some(Ok((end, text))), remind_code::OK | remind_code::REMINDER)
            if standing.is_some_and(|x| *end < x.times.expires_at) =>
        {
            let d = now.days_until(*end);
            if th.contains(&d) || d < th.last().copied().unwrap_or(0) {
                (remind_code::REMINDER, true, format!("{text}; before it ends, make a new request with `airlock-agent request` and send it to the vendor"))
            } else {
                (code, attention, message)
            }
        }
        (Some(Err((Check::LeaseExpired, why))), remind_code::OK | remind_code::REMINDER | remind_code::GRACE)
            if activation_required =>
        {
            (remind_code::EXPIRED, true, format!("activation lease ended: {why}: licensed growth is stopped (data is kept); make a new request with `airlock-agent request`"))
        }
        _ => (code, attention, message),
    };
    let mut out = std::io::stdout().lock();
    match o.format {
        Format::Prometheus => {
            // Always written: node_exporter's textfile collector expects a complete file.
            let expiry = standing.map(|x| x.times.expires_at);
            let _ = out.write_all(prometheus(license, st, now, expiry).as_bytes());
        }
        Format::Json if attention => {
            // The report every --json output is: `valid` says whether the license still works
            // (a reminder or grace is valid), `error` says why not.
            let works = matches!(
                st,
                State::Active | State::ExpiringSoon | State::Grace | State::Evaluation
            );
            let v = Value::object(vec![
                ("valid".into(), Value::Bool(works)),
                ("check".into(), Value::Null),
                (
                    "error".into(),
                    if works { Value::Null } else { s(&message) },
                ),
                ("command".into(), s("remind")),
                ("state".into(), s(st)),
                (
                    "days_remaining".into(),
                    days.map_or(Value::Null, |d| Value::Number(d as f64)),
                ),
                ("message".into(), s(&message)),
                ("license".into(), s(license.display())),
                ("exit_code".into(), Value::Number(f64::from(code))),
            ])
            .context("json")?;
            let _ = out.write_all(&v.to_pretty());
        }
        Format::Text if attention => {
            let _ = writeln!(out, "airlock: {}: {}", license.display(), safe(&message));
        }
        _ => {}
    }
    Ok(ExitCode::from(code))
}

/// Every state `remind` can report, in the order the Prometheus output lists them.
pub(crate) const STATES: [State; 10] = [
    State::NotYetValid,
    State::Active,
    State::ExpiringSoon,
    State::Grace,
    State::Expired,
    State::Revoked,
    State::Invalid,
    State::TamperSuspected,
    State::Evaluation,
    State::EvaluationExpired,
];

/// The textfile-collector metrics: the same series with the same labels in every state (alert
/// rules keep matching when a license turns invalid), base units only (`promtool check
/// metrics` is clean). The license is named by its file; what cannot be known (the expiry of a
/// license that does not verify) is `NaN`, not a missing series.
pub(crate) fn prometheus(
    license: &Path,
    st: State,
    now: Timestamp,
    expiry: Option<Timestamp>,
) -> String {
    let file = license
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    let labels = format!("license_file=\"{file}\"");
    let or_nan = |v: Option<i64>| v.map_or("NaN".to_string(), |x| x.to_string());
    let mut t = String::new();
    t.push_str("# HELP airlock_license_remaining_seconds Seconds until the license expires (negative once expired, NaN when it does not verify).\n# TYPE airlock_license_remaining_seconds gauge\n");
    t.push_str(&format!(
        "airlock_license_remaining_seconds{{{labels}}} {}\n",
        or_nan(expiry.map(|e| e.0 - now.0))
    ));
    t.push_str("# HELP airlock_license_expiry_timestamp_seconds License expiry as a Unix time (NaN when it does not verify).\n# TYPE airlock_license_expiry_timestamp_seconds gauge\n");
    t.push_str(&format!(
        "airlock_license_expiry_timestamp_seconds{{{labels}}} {}\n",
        or_nan(expiry.map(|e| e.0))
    ));
    t.push_str("# HELP airlock_license_state Current license state (1 for the current one, 0 for every other).\n# TYPE airlock_license_state gauge\n");
    for x in STATES {
        t.push_str(&format!(
            "airlock_license_state{{{labels},state=\"{x}\"}} {}\n",
            u8::from(x == st)
        ));
    }
    t
}
