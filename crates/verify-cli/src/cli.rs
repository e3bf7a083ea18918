//! Argument parsing and command dispatch for `runtime-verify`.

use anyhow::{bail, Context, Result};
use canon::{Role, Timestamp, Value};
use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use runtime::bundle::{verify_bundle, BundleError, Options};
use runtime::license::{date_state, verify_license, LegacyPolicy, State};
use runtime::signed::MinisignCheck;
use runtime::state::{StateDir, StateError};
use runtime::{Anchors, TrustStore, VerifyError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

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
struct Common {
    /// Trust file (trust.json)
    #[arg(long)]
    trust: Option<PathBuf>,
    /// Judge at this time (RFC 3339 UTC or YYYY-MM-DD) instead of the system clock
    #[arg(long)]
    at: Option<String>,
    /// State directory: rollback and clock-tamper detection
    #[arg(long)]
    state: Option<PathBuf>,
    /// Accept schema-2 licenses after the cut-off (explicit operator decision)
    #[arg(long)]
    allow_legacy: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Verify a license file and print its state
    License {
        license: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Cron reminder: prints only when the license needs attention; exit code per state
    Remind {
        #[arg(long)]
        license: PathBuf,
        #[arg(long)]
        trust: PathBuf,
        /// Days before expiry at which to remind
        #[arg(long, default_value = "90,60,30,14,7,1")]
        thresholds: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Verify FILE against its minisign signature FILE.sig made by a trusted release key
    Sig {
        file: PathBuf,
        #[arg(long)]
        trust: PathBuf,
        /// Signature file (default: FILE.sig)
        #[arg(long)]
        sig: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Prometheus,
}

/// Exit codes of `remind` (docs/CLI.md).
mod remind_code {
    pub const OK: u8 = 0;
    pub const REMINDER: u8 = 3;
    pub const GRACE: u8 = 4;
    pub const EXPIRED: u8 = 5;
    pub const NOT_YET_VALID: u8 = 6;
    pub const INVALID: u8 = 8;
    pub const TAMPER: u8 = 9;
}

/// 1 for rejected input, 2 for usage and I/O errors.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain()
        .any(|c| c.is::<VerifyError>() || c.is::<canon::ParseError>() || c.is::<StateError>())
    {
        1
    } else {
        2
    }
}

fn read_file(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut buf = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("{}", path.display()))?;
    if buf.len() as u64 > cap {
        return Err(VerifyError::TooLarge {
            what: "input file",
            limit: cap,
        })
        .with_context(|| format!("{}", path.display()));
    }
    Ok(buf)
}

fn load_trust(path: &Path) -> Result<TrustStore> {
    let bytes = read_file(path, runtime::trust::MAX_TRUST_BYTES as u64)?;
    TrustStore::from_trust_file(&bytes, &Anchors::SelfSigned)
        .with_context(|| format!("{}", path.display()))
}

/// The one place this binary reads the clock.
fn now(at: &Option<String>) -> Result<Timestamp> {
    match at {
        Some(s) => Timestamp::parse_date_or_time(s)
            .with_context(|| format!("--at {s:?} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")),
        None => Ok(Timestamp(
            SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64,
        )),
    }
}

fn sig_path(file: &Path, sig: Option<PathBuf>) -> PathBuf {
    sig.unwrap_or_else(|| {
        let mut p = file.as_os_str().to_owned();
        p.push(".sig");
        PathBuf::from(p)
    })
}

fn s(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

fn print_json(v: Value) {
    let _ = std::io::stdout().write_all(&v.to_pretty());
}

fn legacy(allow: bool) -> LegacyPolicy {
    LegacyPolicy {
        allow_after_cutoff: allow,
        ..LegacyPolicy::default()
    }
}

/// Opens the state directory (checking the clock), then loads the trust file: signed by a root
/// the state pinned from the last accepted trust file (self-signed only the first time), and
/// not older than the version already accepted.
fn open_state_and_trust(
    dir: &Option<PathBuf>,
    now: Timestamp,
    trust_path: &Path,
) -> Result<(Option<StateDir>, TrustStore)> {
    let Some(dir) = dir else {
        return Ok((None, load_trust(trust_path)?));
    };
    let st = StateDir::open(dir)?;
    st.check_clock(now)?;
    let anchors = st.trust_anchors(Anchors::SelfSigned)?;
    let bytes = read_file(trust_path, runtime::trust::MAX_TRUST_BYTES as u64)?;
    let trust = TrustStore::from_trust_file(&bytes, &anchors).with_context(|| {
        format!(
            "{} (the state directory pins the roots of the last accepted trust file)",
            trust_path.display()
        )
    })?;
    if trust.version() < st.state.trust_version {
        return Err(VerifyError::Trust(format!(
            "version {} is older than version {} already accepted (rollback)",
            trust.version(),
            st.state.trust_version
        ))
        .into());
    }
    Ok((Some(st), trust))
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.cmd {
        None => bundle_cmd(args.bundle),
        Some(Cmd::License { license, common }) => license_cmd(&license, common),
        Some(Cmd::Remind {
            license,
            trust,
            thresholds,
            format,
            at,
            state,
        }) => remind_cmd(&license, &trust, &thresholds, format, &at, &state),
        Some(Cmd::Sig { file, trust, sig }) => sig_cmd(&file, &trust, sig),
    }
}

fn bundle_cmd(a: BundleArgs) -> Result<ExitCode> {
    let bundle = a.bundle.context("a bundle path is required")?;
    let trust_path = a.common.trust.clone().context("--trust is required")?;
    let now = now(&a.common.at)?;
    let (mut state, trust) = open_state_and_trust(&a.common.state, now, &trust_path)?;
    let sig = sig_path(&bundle, a.sig.clone());
    let sig_bytes = read_file(&sig, canon::minisign::MAX_SIGNATURE_BYTES as u64)?;
    let f = std::fs::File::open(&bundle).with_context(|| format!("{}", bundle.display()))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let opts = Options {
        trust: &trust,
        now,
        edition: a.edition.as_deref(),
        runtime_version: env!("CARGO_PKG_VERSION"),
        last_sequences: state.as_ref().map(|s| &s.state.bundle_sequences),
        last_revocation_sequence: state.as_ref().map(|s| s.state.revocation_sequence),
        legacy: legacy(a.common.allow_legacy),
        warn_days: runtime::license::DEFAULT_WARN_DAYS,
        extract: a.extract.as_deref(),
    };
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let reader = bar.wrap_read(f);
    let result = verify_bundle(reader, &sig_bytes, &opts);
    bar.finish_and_clear();
    match result {
        Ok(v) => {
            if let Some(st) = &mut state {
                st.observe(now);
                st.accept_trust(&trust);
                if let Some(r) = v.revocations_sequence {
                    st.state.revocation_sequence = st.state.revocation_sequence.max(r);
                }
                let key = format!("{}/{}", v.product, v.customer.0);
                let e = st.state.bundle_sequences.entry(key).or_insert(0);
                *e = (*e).max(v.sequence);
                st.save()?;
            }
            if a.common.json {
                print_json(
                    Value::object(vec![
                        ("valid".into(), Value::Bool(true)),
                        ("check".into(), Value::Null),
                        ("error".into(), Value::Null),
                        ("bundle".into(), s(bundle.display())),
                        ("bundle_id".into(), s(&v.bundle_id)),
                        ("product".into(), s(&v.product)),
                        ("version".into(), s(&v.version)),
                        ("edition".into(), s(&v.edition)),
                        ("customer".into(), s(&v.customer.0)),
                        ("license_id".into(), s(&v.license_id)),
                        ("license_state".into(), s(v.license_state)),
                        ("sequence".into(), Value::Number(v.sequence as f64)),
                        ("members".into(), Value::Number(v.members as f64)),
                        (
                            "payload_bytes".into(),
                            Value::Number(v.payload_bytes as f64),
                        ),
                        ("signed_by".into(), s(v.signed_by)),
                        (
                            "warnings".into(),
                            Value::Array(v.warnings.iter().map(s).collect()),
                        ),
                        (
                            "extracted_to".into(),
                            v.extracted_to
                                .as_ref()
                                .map_or(Value::Null, |p| s(p.display())),
                        ),
                    ])
                    .context("json")?,
                );
            } else {
                println!(
                    "{}: VALID — {} {} ({} edition) for {}, bundle {} sequence {}, {} members, license {} is {}",
                    bundle.display(), v.product, v.version, v.edition, v.customer.1, v.bundle_id, v.sequence, v.members, v.license_id, v.license_state
                );
                for w in &v.warnings {
                    println!("warning: {w}");
                }
                if let Some(p) = &v.extracted_to {
                    println!("extracted to {}", p.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let io = matches!(e, BundleError::Io(_));
            if a.common.json {
                print_json(
                    Value::object(vec![
                        ("valid".into(), Value::Bool(false)),
                        ("check".into(), s(e.code())),
                        ("error".into(), s(&e)),
                        ("bundle".into(), s(bundle.display())),
                    ])
                    .context("json")?,
                );
            }
            eprintln!(
                "runtime-verify: {}: REJECTED [{}]: {e}",
                bundle.display(),
                e.code()
            );
            if !io {
                eprintln!("do not install this bundle; ask the vendor for a correctly signed one");
            }
            Ok(ExitCode::from(if io { 2 } else { 1 }))
        }
    }
}

fn license_cmd(license: &Path, c: Common) -> Result<ExitCode> {
    let trust_path = c.trust.clone().context("--trust is required")?;
    let now = now(&c.at)?;
    let (mut state, trust) = open_state_and_trust(&c.state, now, &trust_path)?;
    let doc = read_file(license, runtime::license::MAX_LICENSE_BYTES as u64)?;
    let sig_file = license.with_file_name("license.sig");
    let sig = match std::fs::read(&sig_file) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("{}", sig_file.display())),
    };
    let v = verify_license(&trust, &doc, sig.as_deref(), &legacy(c.allow_legacy), now)
        .with_context(|| format!("{}", license.display()))?;
    let l = v.license();
    let st = date_state(
        v.times(),
        l.grace_days,
        now,
        runtime::license::DEFAULT_WARN_DAYS,
    );
    if let Some(sd) = &mut state {
        sd.observe(now);
        sd.accept_trust(&trust);
        sd.save()?;
    }
    let days = now.days_until(v.times().expires_at);
    if c.json {
        print_json(
            Value::object(vec![
                ("valid".into(), Value::Bool(true)),
                ("license_id".into(), s(&l.license_id)),
                ("customer".into(), s(&l.customer.name)),
                ("product".into(), s(&l.product)),
                ("tier".into(), s(l.tier)),
                ("state".into(), s(st)),
                ("expires_at".into(), s(&l.expires_at)),
                ("days_remaining".into(), Value::Number(days as f64)),
                ("legacy".into(), Value::Bool(v.is_legacy())),
                ("signed_by".into(), s(v.signer())),
            ])
            .context("json")?,
        );
    } else {
        if v.is_legacy() {
            eprintln!("warning: deprecated schema-2 license; ask the vendor for a migrated (schema 3) license");
        }
        println!(
            "{}: VALID — license {} ({} {} for {}), {st}, expires {} ({days} days)",
            license.display(),
            l.license_id,
            l.product,
            l.tier,
            l.customer.name,
            l.expires_at
        );
    }
    Ok(match st {
        State::NotYetValid | State::Expired => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

fn remind_cmd(
    license: &Path,
    trust: &Path,
    thresholds: &str,
    format: Format,
    at: &Option<String>,
    state: &Option<PathBuf>,
) -> Result<ExitCode> {
    let mut th: Vec<i64> = Vec::new();
    for t in thresholds.split(',') {
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
    let now = now(at)?;
    let outcome: Result<(State, runtime::license::VerifiedLicense), (State, String)> = (|| {
        let trust = load_trust(trust).map_err(|e| (State::Invalid, format!("{e:#}")))?;
        if let Some(dir) = state {
            let mut sd = StateDir::open(dir).map_err(|e| (State::Invalid, e.to_string()))?;
            if let Err(e) = sd.check_clock(now) {
                return Err((State::TamperSuspected, e.to_string()));
            }
            sd.observe(now);
            sd.save().map_err(|e| (State::Invalid, e.to_string()))?;
        }
        let doc = read_file(license, runtime::license::MAX_LICENSE_BYTES as u64)
            .map_err(|e| (State::Invalid, format!("{e:#}")))?;
        let sig = std::fs::read(license.with_file_name("license.sig")).ok();
        let v = verify_license(&trust, &doc, sig.as_deref(), &LegacyPolicy::default(), now)
            .map_err(|e| (State::Invalid, format!("{}: {e}", license.display())))?;
        let st = date_state(
            v.times(),
            v.license().grace_days,
            now,
            th.first().copied().unwrap_or(30),
        );
        Ok((st, v))
    })();
    let (st, lic, detail) = match outcome {
        Ok((st, v)) => (st, Some(v), String::new()),
        Err((st, why)) => (st, None, why),
    };
    let days = lic.as_ref().map(|v| now.days_until(v.times().expires_at));
    let hit = days.is_some_and(|d| th.contains(&d));
    let (code, attention, message) = match st {
        State::Active => (remind_code::OK, false, String::new()),
        State::ExpiringSoon if hit => (remind_code::REMINDER, true, format!("license expires in {} days: renew it", days.unwrap_or(0))),
        State::ExpiringSoon if days.is_some_and(|d| d < th.last().copied().unwrap_or(0)) => {
            (remind_code::REMINDER, true, format!("license expires in {} days: renew it now", days.unwrap_or(0)))
        }
        State::ExpiringSoon => (remind_code::OK, false, String::new()),
        State::Grace => (remind_code::GRACE, true, "license expired; running in the grace period: new activations are stopped soon, renew now".into()),
        State::Expired => (remind_code::EXPIRED, true, "license expired: new activations, updates and growth are stopped (data is kept); renew it".into()),
        State::NotYetValid => (remind_code::NOT_YET_VALID, true, "license is not valid yet".into()),
        State::TamperSuspected => (remind_code::TAMPER, true, detail.clone()),
        _ => (remind_code::INVALID, true, format!("license cannot be verified: {detail}")),
    };
    let mut out = std::io::stdout().lock();
    match format {
        Format::Prometheus => {
            // Always written: node_exporter's textfile collector expects a complete file.
            let labels = match &lic {
                Some(v) => format!(
                    "license_id=\"{}\",product=\"{}\",customer=\"{}\"",
                    v.license().license_id,
                    v.license().product,
                    v.license().customer.id
                ),
                None => format!(
                    "license_file=\"{}\"",
                    license.display().to_string().replace('"', "'")
                ),
            };
            let mut t = String::new();
            t.push_str("# HELP airlock_license_days_remaining Whole days until the license expires.\n# TYPE airlock_license_days_remaining gauge\n");
            if let Some(d) = days {
                t.push_str(&format!("airlock_license_days_remaining{{{labels}}} {d}\n"));
            }
            t.push_str("# HELP airlock_license_expiry_timestamp_seconds License expiry as a Unix time.\n# TYPE airlock_license_expiry_timestamp_seconds gauge\n");
            if let Some(v) = &lic {
                t.push_str(&format!(
                    "airlock_license_expiry_timestamp_seconds{{{labels}}} {}\n",
                    v.times().expires_at.0
                ));
            }
            t.push_str("# HELP airlock_license_state Current license state (1 for the current one).\n# TYPE airlock_license_state gauge\n");
            for x in [
                State::NotYetValid,
                State::Active,
                State::ExpiringSoon,
                State::Grace,
                State::Expired,
                State::Invalid,
                State::TamperSuspected,
            ] {
                t.push_str(&format!(
                    "airlock_license_state{{{labels},state=\"{x}\"}} {}\n",
                    u8::from(x == st)
                ));
            }
            let _ = out.write_all(t.as_bytes());
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
            let _ = writeln!(out, "airlock: {}: {message}", license.display());
        }
        _ => {}
    }
    Ok(ExitCode::from(code))
}

fn sig_cmd(file: &Path, trust: &Path, sig: Option<PathBuf>) -> Result<ExitCode> {
    let trust = load_trust(trust)?;
    let sig_path = sig_path(file, sig);
    let sig_bytes = read_file(&sig_path, canon::minisign::MAX_SIGNATURE_BYTES as u64)?;
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
        .finish(&trust, Role::Release)
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
    println!("trusted comment: {}", ok.trusted_comment);
    Ok(ExitCode::SUCCESS)
}
