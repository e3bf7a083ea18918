//! Argument parsing and command dispatch for `runtime-verify`.

use anyhow::{bail, Context, Result};
use canon::{Role, Timestamp, Value};
use clap::{Args as ClapArgs, CommandFactory, Parser, Subcommand, ValueEnum};
use clikit::generate::GenerateCmd;
use clikit::input::{clock, read_capped, read_optional, sig_path};
use clikit::report::{self, n, s};
use clikit::Outcome;
use runtime::bundle::{verify_bundle, Options, Verdict};
use runtime::license::{verify_license, LegacyPolicy, Standing, State};
use runtime::session::{Clock, Session};
use runtime::signed::MinisignCheck;
use runtime::Check;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "runtime-verify",
    version,
    about = "Airlock: verify bundles, licenses and signatures offline, before install",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    bundle: BundleArgs,
}

#[derive(ClapArgs)]
struct BundleArgs {
    /// The bundle (.tar.gz) to verify
    #[arg(required = true)]
    bundle: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// This runtime's edition: the bundle must be for it
    #[arg(long)]
    edition: Option<String>,
    /// Signature (default: BUNDLE.sig)
    #[arg(long)]
    sig: Option<PathBuf>,
    /// After verification, extract into this new directory (staged, moved into place last)
    #[arg(long)]
    extract: Option<PathBuf>,
}

#[derive(ClapArgs)]
struct TrustArgs {
    /// Trust file (trust.json); repeat it to pass a chain (e.g. v2 and v3 when v2 was missed)
    #[arg(long)]
    trust: Vec<PathBuf>,
    /// The vendor's root key for a first use: a key id, a base64 public key, or a root
    /// NAME.pub / NAME.minisign.pub file (repeatable; also $AIRLOCK_ROOT or STATE/root.pub)
    #[arg(long, value_name = "KEY_ID_OR_PUB")]
    root: Vec<String>,
    /// DANGER: accept a first trust file signed by any root it lists itself (anyone who can
    /// swap the delivery can swap the trust file); use --root instead
    #[arg(long)]
    trust_on_first_use: bool,
}

#[derive(ClapArgs)]
struct Common {
    #[command(flatten)]
    trust: TrustArgs,
    /// Preview at this time instead of the system clock (RFC 3339 UTC, or YYYY-MM-DD meaning
    /// the end of that day): checked against the state, never recorded, never installs
    #[arg(long)]
    at: Option<String>,
    /// State directory: pinned roots, rollback, revocations and clock-tamper detection
    #[arg(long)]
    state: Option<PathBuf>,
    /// Accept schema-2 licenses after the cut-off (explicit operator decision)
    #[arg(long)]
    allow_legacy: bool,
    /// Print the result as JSON on stdout
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Verify a license file and print its state
    License {
        /// license.json (license.sig beside it)
        license: PathBuf,
        #[command(flatten)]
        common: Common,
        /// The warning window: the state is expiring_soon this many days before expiry
        #[arg(long, default_value_t = runtime::license::DEFAULT_WARN_DAYS, value_name = "DAYS")]
        warn_days: i64,
    },
    /// Start or show the evaluation: the vendor's signed evaluation terms (an evaluation-tier
    /// license), counted from the first start recorded in the state directory
    Evaluation {
        /// The evaluation terms' license.json (license.sig beside it)
        terms: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Cron reminder: prints only when the license needs attention; exit code per state
    #[command(after_help = REMIND_EXIT_CODES)]
    Remind {
        /// license.json (license.sig beside it)
        #[arg(long)]
        license: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// Days before expiry at which to remind
        #[arg(long, default_value = "90,60,30,14,7,1")]
        thresholds: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Preview at this time instead of the system clock (RFC 3339 UTC, or YYYY-MM-DD
        /// meaning the end of that day); never recorded
        #[arg(long)]
        at: Option<String>,
        /// The warning window: the state is expiring_soon this many days before expiry
        #[arg(long, default_value_t = runtime::license::DEFAULT_WARN_DAYS, value_name = "DAYS")]
        warn_days: i64,
        /// State directory (pinned roots, revocations, clock)
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Verify this machine's installed activations (leases) and print their verdict
    Activation {
        #[command(flatten)]
        common: Common,
        /// The license directory (license.json + license.sig): the lease must be for its
        /// lineage, and the verdict combines both (default: each lease's own lineage)
        #[arg(long)]
        license: Option<PathBuf>,
    },
    /// Verify FILE against its minisign signature FILE.sig made by a trusted release key
    Sig {
        /// The signed file
        file: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// Signature file (default: FILE.sig)
        #[arg(long)]
        sig: Option<PathBuf>,
    },
    /// Revocation lists delivered on their own
    Revocations {
        #[command(subcommand)]
        cmd: RevocationsCmd,
    },
    #[command(flatten)]
    Generate(GenerateCmd),
}

#[derive(Subcommand)]
enum RevocationsCmd {
    /// Verify a revocation list and keep its revoked licenses in the state for good
    Import {
        /// revocations.json (revocations.sig beside it)
        file: PathBuf,
        /// Signature (default: revocations.sig beside FILE)
        #[arg(long)]
        sig: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Prometheus,
}

/// `remind --help`'s exit-code table (docs/CLI.md has the same; a test compares them).
const REMIND_EXIT_CODES: &str = "Exit codes:
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
mod remind_code {
    pub const OK: u8 = 0;
    pub const REMINDER: u8 = 3;
    pub const GRACE: u8 = 4;
    pub const EXPIRED: u8 = 5;
    pub const NOT_YET_VALID: u8 = 6;
    pub const REVOKED: u8 = 7;
    pub const INVALID: u8 = 8;
    pub const TAMPER: u8 = 9;
}

/// Opens the state (if any), checks the clock and verifies the trust chain, anchored by the
/// state's pinned roots or, the first time, by the vendor's root.
fn begin_session(t: &TrustArgs, state: Option<&Path>, clock: Clock) -> Result<Session> {
    if t.trust.is_empty() {
        bail!("--trust is required");
    }
    let files = t
        .trust
        .iter()
        .map(|p| read_capped(p, runtime::trust::MAX_TRUST_BYTES as u64))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
    let anchors = clikit::input::root_anchors(&t.root, state, t.trust_on_first_use)?;
    let names = t
        .trust
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Session::begin(state, clock, &refs, anchors.as_ref()).with_context(|| format!("trust {names}"))
}

/// Text from a signed artifact, safe to print on a terminal.
fn safe(v: &str) -> std::borrow::Cow<'_, str> {
    runtime::text::escape(v)
}

/// Prints a failure (JSON on stdout when asked, a line on stderr always); returns its exit code.
/// A refusal is followed by what to do about it (`clikit::outcome::advice`, one sentence per
/// family of checks).
fn reject(json: bool, subject_key: &str, subject: &Path, e: &anyhow::Error) -> Result<ExitCode> {
    let code = report::fail("runtime-verify", json, subject_key, &subject.display(), e)?;
    if let Outcome::Rejected(check) = Outcome::of(e) {
        let what = match subject_key {
            "bundle" => "do not install this bundle",
            "license" => "do not rely on this license",
            _ => "not accepted",
        };
        eprintln!("{what}: {}", clikit::outcome::advice(check));
    }
    Ok(code)
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.cmd {
        None => bundle_cmd(args.bundle),
        Some(Cmd::License {
            license,
            common,
            warn_days,
        }) => license_cmd(&license, common, warn_days),
        Some(Cmd::Evaluation { terms, common }) => evaluation_cmd(&terms, common),
        Some(Cmd::Remind {
            license,
            trust,
            thresholds,
            format,
            at,
            state,
            warn_days,
        }) => remind_cmd(
            &license,
            &trust,
            &Remind {
                thresholds,
                format,
                warn_days,
            },
            &at,
            &state,
        ),
        Some(Cmd::Sig { file, trust, sig }) => sig_cmd(&file, &trust, sig),
        Some(Cmd::Activation { common, license }) => activation_cmd(common, license.as_deref()),
        Some(Cmd::Revocations {
            cmd: RevocationsCmd::Import { file, sig, common },
        }) => revocations_import_cmd(&file, sig, common),
        Some(Cmd::Generate(g)) => g.run(Args::command()),
    }
}

fn bundle_cmd(a: BundleArgs) -> Result<ExitCode> {
    let bundle = a.bundle.clone().context("a bundle path is required")?;
    let json = a.common.json;
    match verify_and_install(&a, &bundle) {
        Ok(v) => {
            report::print_bundle(&v, &bundle, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => reject(json, "bundle", &bundle, &e),
    }
}

/// The bundle check, in the state protocol's order: session (clock, trust), verification,
/// then the state is saved, and only then the extraction is moved into place.
fn verify_and_install(a: &BundleArgs, bundle: &Path) -> Result<Verdict> {
    let clock = clock(a.common.at.as_deref())?;
    if a.extract.is_some() && matches!(clock, Clock::Preview(_)) {
        bail!("--extract installs the bundle; a preview (--at) never installs");
    }
    if let Some(dest) = &a.extract {
        // A local path problem is found before the state is opened or the bundle read.
        runtime::bundle::check_destination(dest)?;
    }
    let mut session = begin_session(&a.common.trust, a.common.state.as_deref(), clock)?;
    let sig = sig_path(bundle, a.sig.clone());
    let f = std::fs::File::open(bundle).with_context(|| format!("{}", bundle.display()))?;
    if !sig.exists() {
        bail!(
            "{}: the bundle's signature is missing (the delivery ships it beside the bundle; copy it too, or pass --sig FILE)",
            sig.display()
        );
    }
    let sig_bytes = read_capped(&sig, canon::minisign::MAX_SIGNATURE_BYTES as u64)?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let opts = Options::new(session.trust(), session.now(), env!("CARGO_PKG_VERSION"))
        .with_edition(a.edition.as_deref())
        .with_known(session.known())
        .with_legacy(LegacyPolicy::allowing_after_cutoff(a.common.allow_legacy))
        .with_extract(a.extract.as_deref());
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let result = verify_bundle(bar.wrap_read(f), &sig_bytes, &opts);
    bar.finish_and_clear();
    let mut v = result?;
    if let Some(r) = &v.revocations {
        session.accept_revocations(r)?;
    }
    session.record_bundle(&v.product, &v.customer.0, v.sequence)?;
    session.commit()?;
    v.install()?;
    Ok(v)
}

/// Verifies a license inside a session and accepts it (`Session::accept_license`: clock
/// against its issue time, revocations the state already accepted, never an older license of
/// its lineage). Returns the verified license and its standing.
fn check_license(
    session: &mut Session,
    license: &Path,
    allow_legacy: bool,
    warn_days: i64,
) -> Result<(runtime::license::VerifiedLicense, Standing)> {
    let doc = read_capped(license, runtime::license::MAX_LICENSE_BYTES as u64)?;
    let sig = read_optional(
        &license.with_file_name("license.sig"),
        canon::sig::MAX_ENVELOPE_BYTES as u64,
    )?;
    let v = verify_license(
        session.trust(),
        &doc,
        sig.as_deref(),
        &LegacyPolicy::allowing_after_cutoff(allow_legacy),
        session.now(),
    )
    .with_context(|| format!("{}", license.display()))?;
    session.accept_license(&v)?;
    let st = Standing::of(&v, session.now(), warn_days);
    Ok((v, st))
}

fn license_cmd(license: &Path, c: Common, warn_days: i64) -> Result<ExitCode> {
    let result = (|| {
        let mut session = begin_session(&c.trust, c.state.as_deref(), clock(c.at.as_deref())?)?;
        let (v, st) = check_license(&mut session, license, c.allow_legacy, warn_days)?;
        // The license verified: the (real) time is recorded whatever its date state.
        session.commit()?;
        Ok::<_, anyhow::Error>((v, st))
    })();
    let (v, st) = match result {
        Ok(x) => x,
        Err(e) => return reject(c.json, "license", license, &e),
    };
    if c.json {
        report::print_json(&report::license(license, &v, &st)?);
    } else {
        if v.is_legacy() {
            eprintln!("warning: deprecated schema-2 license; ask the vendor for a migrated (schema 3) license");
        }
        println!("{}", report::license_line(license, &v, &st));
    }
    Ok(if st.usable() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(clikit::outcome::EXIT_REJECTED)
    })
}

fn evaluation_cmd(terms: &Path, c: Common) -> Result<ExitCode> {
    let result = (|| {
        if c.state.is_none() {
            bail!("--state is required: the evaluation counts from the first start it records");
        }
        let mut session = begin_session(&c.trust, c.state.as_deref(), clock(c.at.as_deref())?)?;
        let (v, _) = check_license(
            &mut session,
            terms,
            false,
            runtime::license::DEFAULT_WARN_DAYS,
        )?;
        if v.license().tier != runtime::license::Tier::Evaluation {
            bail!(
                "{} is a {} license, not evaluation terms; check it with `runtime-verify license`",
                terms.display(),
                v.license().tier
            );
        }
        // The first real run starts the evaluation (a preview never records it).
        let started = session.evaluation_start(&v.license().product);
        let st = Standing::evaluation(
            &v,
            started,
            session.now(),
            runtime::license::DEFAULT_WARN_DAYS,
        )
        .context("evaluation terms")?;
        session.commit()?;
        Ok::<_, anyhow::Error>((v, st))
    })();
    let (v, st) = match result {
        Ok(x) => x,
        Err(e) => return reject(c.json, "license", terms, &e),
    };
    if c.json {
        report::print_json(&report::license(terms, &v, &st)?);
    } else {
        println!("{}", report::license_line(terms, &v, &st));
    }
    Ok(if st.usable() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(clikit::outcome::EXIT_REJECTED)
    })
}

/// `remind`'s options beyond the license and its trust.
struct Remind {
    thresholds: String,
    format: Format,
    warn_days: i64,
}

/// `--thresholds`: whole days, largest first.
fn thresholds(list: &str) -> Result<Vec<i64>> {
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

fn remind_cmd(
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
            let st = match runtime::check::of(e.as_ref()) {
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
                        runtime::check::of(e.as_ref()).unwrap_or(Check::IoError),
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
            let v = Value::object(vec![
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

/// One installed lease's verdict.
struct LeaseVerdict {
    product: String,
    result: Result<runtime::activation::Lease>,
}

/// Verifies every lease installed in the state directory against this machine.
fn check_leases(
    session: &mut Session,
    state: &Path,
    lineage: Option<&str>,
) -> Result<Vec<LeaseVerdict>> {
    let root = state.join(runtime::activation::DIR);
    let mut products: Vec<String> = match std::fs::read_dir(&root) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(runtime::activation::LEASE_FILE).exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    products.sort();
    let sources = runtime::fingerprint::Sources::system(Some(state));
    let mut out = Vec::new();
    for product in products {
        let result = runtime::activation::verify_installed(
            session.trust(),
            state,
            &product,
            lineage,
            &sources,
            session.known(),
            session.now(),
        )
        .map_err(anyhow::Error::new)
        .and_then(|lease| {
            let lease = lease.context("the lease vanished while it was read")?;
            session.record_activation(&lease.value().lineage_id, lease.value().sequence)?;
            Ok(lease)
        });
        out.push(LeaseVerdict { product, result });
    }
    Ok(out)
}

fn activation_cmd(c: Common, license: Option<&Path>) -> Result<ExitCode> {
    let state = c
        .state
        .clone()
        .context("--state is required: activations are installed in the state directory")?;
    let result = (|| {
        let mut session = begin_session(&c.trust, Some(&state), clock(c.at.as_deref())?)?;
        let lic = match license {
            Some(dir) => Some(check_license(
                &mut session,
                &dir.join("license.json"),
                c.allow_legacy,
                runtime::license::DEFAULT_WARN_DAYS,
            )?),
            None => None,
        };
        let lineage = lic.as_ref().map(|(v, _)| v.license().lineage_id.clone());
        let verdicts = check_leases(&mut session, &state, lineage.as_deref())?;
        session.commit()?;
        Ok::<_, anyhow::Error>((lic, verdicts, session_now(&c)?))
    })();
    let (lic, verdicts, now) = match result {
        Ok(x) => x,
        Err(e) => return reject(c.json, "state", &state, &e),
    };
    let required = lic
        .as_ref()
        .is_some_and(|(v, _)| v.license().activation_required());
    let mut ok = verdicts.iter().all(|v| v.result.is_ok());
    let missing = verdicts.is_empty();
    if missing && (required || lic.is_none()) {
        ok = false;
    }
    if c.json {
        let items = verdicts
            .iter()
            .map(|v| match &v.result {
                Ok(l) => report::object(vec![
                    ("product", s(&v.product)),
                    ("valid", Value::Bool(true)),
                    ("check", Value::Null),
                    ("error", Value::Null),
                    ("activation_id", s(&l.value().activation_id)),
                    ("license_id", s(&l.value().license_id)),
                    ("sequence", n(l.value().sequence)),
                    ("not_after", s(&l.value().not_after)),
                    (
                        "renew_due",
                        Value::Bool(l.state_at(now) == runtime::activation::LeaseState::RenewDue),
                    ),
                    (
                        "days_remaining",
                        Value::Number(l.days_remaining(now) as f64),
                    ),
                ]),
                Err(e) => report::object(vec![
                    ("product", s(&v.product)),
                    ("valid", Value::Bool(false)),
                    ("check", Outcome::of(e).code().map_or(Value::Null, s)),
                    ("error", s(format!("{e:#}"))),
                ]),
            })
            .collect::<Result<Vec<_>>>()?;
        report::print_json(&report::object(vec![
            ("valid", Value::Bool(ok)),
            (
                "check",
                if missing && !ok {
                    s(Check::ActivationMissing)
                } else {
                    Value::Null
                },
            ),
            ("state", s(state.display())),
            ("activations", Value::Array(items)),
        ])?);
    }
    if missing {
        if !c.json {
            println!(
                "{}: no activation installed{}",
                state.display(),
                if ok {
                    " (this license does not require one)"
                } else {
                    ""
                }
            );
        }
        if !ok {
            eprintln!("runtime-verify: {}: REJECTED [{}]: no activation is installed; run `airlock-agent request`", state.display(), Check::ActivationMissing);
        }
    }
    for v in &verdicts {
        match &v.result {
            Ok(l) if !c.json => println!("{}: VALID — {}", v.product, l.describe(now)),
            Ok(_) => {}
            Err(e) => {
                let code = Outcome::of(e);
                eprintln!(
                    "runtime-verify: {}: REJECTED [{}]: {e:#}",
                    v.product,
                    code.code().unwrap_or("error")
                );
                if let Outcome::Rejected(check) = code {
                    eprintln!(
                        "activation not accepted: {}",
                        clikit::outcome::advice(check)
                    );
                }
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(clikit::outcome::EXIT_REJECTED)
    })
}

fn session_now(c: &Common) -> Result<Timestamp> {
    Ok(clock(c.at.as_deref())?.now())
}

fn sig_cmd(file: &Path, trust: &TrustArgs, sig: Option<PathBuf>) -> Result<ExitCode> {
    let clock = clock(None)?;
    let session = begin_session(trust, None, clock)?;
    let trust = session.trust();
    let sig_path = sig_path(file, sig);
    let sig_bytes = read_capped(&sig_path, canon::minisign::MAX_SIGNATURE_BYTES as u64)?;
    let mut check =
        MinisignCheck::new(&sig_bytes).with_context(|| format!("{}", sig_path.display()))?;
    let mut f = std::fs::File::open(file).with_context(|| format!("{}", file.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("{}", file.display()))?;
        if n == 0 {
            break;
        }
        check.update(&buf[..n]);
    }
    let ok = check
        .finish(trust, Role::Release)
        .with_context(|| format!("{}", file.display()))?;
    let at = ok
        .trusted_comment
        .split('\t')
        .find_map(|f| f.strip_prefix("timestamp:"))
        .and_then(|t| t.parse::<i64>().ok());
    if let Some(at) = at {
        trust
            .check_window(ok.key_id, Timestamp(at))
            .with_context(|| format!("{}", file.display()))?;
    }
    println!(
        "{}: signature OK (release key {})",
        file.display(),
        ok.key_id
    );
    println!("trusted comment: {}", safe(&ok.trusted_comment));
    Ok(ExitCode::SUCCESS)
}

fn revocations_import_cmd(file: &Path, sig: Option<PathBuf>, c: Common) -> Result<ExitCode> {
    let result = (|| {
        let state = c
            .state
            .as_deref()
            .context("--state is required: importing keeps the revoked licenses in the state")?;
        let mut session = begin_session(&c.trust, Some(state), clock(c.at.as_deref())?)?;
        let doc = read_capped(file, runtime::revocation::MAX_REVOCATIONS_BYTES as u64)?;
        let sig_file = sig.unwrap_or_else(|| file.with_file_name("revocations.sig"));
        let sig = read_capped(&sig_file, canon::sig::MAX_ENVELOPE_BYTES as u64)?;
        let r = runtime::revocation::verify_revocations(session.trust(), &doc, &sig)
            .with_context(|| format!("{}", file.display()))?;
        session.accept_revocations(&r)?;
        let known = session.known().revoked.len();
        session.commit()?;
        Ok::<_, anyhow::Error>((r, known))
    })();
    match result {
        Ok((r, known)) => {
            if c.json {
                report::print_json(&report::valid(
                    "file",
                    &file.display(),
                    vec![
                        ("sequence", n(r.sequence())),
                        ("issued_at", s(r.issued_at())),
                        ("revoked", n(r.len() as u64)),
                        ("revoked_known", n(known as u64)),
                    ],
                )?);
            } else {
                println!(
                    "{}: revocation list #{} accepted ({} licenses revoked; {known} known to this state)",
                    file.display(),
                    r.sequence(),
                    r.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => reject(c.json, "file", file, &e),
    }
}

/// Every state `remind` can report, in the order the Prometheus output lists them.
const STATES: [State; 10] = [
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
fn prometheus(license: &Path, st: State, now: Timestamp, expiry: Option<Timestamp>) -> String {
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
