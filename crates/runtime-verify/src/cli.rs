//! Argument parsing and command dispatch for `runtime-verify`.

use anyhow::{bail, Context, Result};
use canon::{Role, Timestamp};
use clap::{Args as ClapArgs, CommandFactory, Parser, Subcommand, ValueEnum};
use clikit::generate::GenerateCmd;
use clikit::input::{clock, read_capped, sig_path};
use clikit::report::{self, n, s};
use clikit::Outcome;
use runtime::bundle::{verify_bundle, Options, Verdict};
use runtime::license::{verify_license, LegacyPolicy, Standing};
use runtime::session::{Clock, Session};
use runtime::signed::MinisignCheck;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) use crate::activation::*;
pub(crate) use crate::remind::*;

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
    pub(crate) cmd: Option<Cmd>,
    #[command(flatten)]
    pub(crate) bundle: BundleArgs,
}

#[derive(ClapArgs)]
pub(crate) struct BundleArgs {
    /// The bundle (.tar.gz) to verify
    #[arg(required = true)]
    pub(crate) bundle: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) common: Common,
    /// This runtime's edition: the bundle must be for it
    #[arg(long)]
    pub(crate) edition: Option<String>,
    /// Signature (default: BUNDLE.sig)
    #[arg(long)]
    pub(crate) sig: Option<PathBuf>,
    /// After verification, extract into this new directory (staged, moved into place last).
    /// A sealed payload is opened with the build key the lease in --state carries for it
    #[arg(long)]
    pub(crate) extract: Option<PathBuf>,
    /// With --extract of a sealed payload: write its members as shipped, still sealed, for the
    /// product to open on demand (no key needed)
    #[arg(long, requires = "extract")]
    pub(crate) keep_sealed: bool,
}

#[derive(ClapArgs)]
pub(crate) struct TrustArgs {
    /// Trust file (trust.json); repeat it to pass a chain (e.g. v2 and v3 when v2 was missed)
    #[arg(long)]
    pub(crate) trust: Vec<PathBuf>,
    /// The vendor's root key for a first use: a key id, a base64 public key, or a root
    /// NAME.pub / NAME.minisign.pub file (repeatable; also $AIRLOCK_ROOT or STATE/root.pub)
    #[arg(long, value_name = "KEY_ID_OR_PUB")]
    pub(crate) root: Vec<String>,
    /// DANGER: accept a first trust file signed by any root it lists itself (anyone who can
    /// swap the delivery can swap the trust file); use --root instead
    #[arg(long)]
    pub(crate) trust_on_first_use: bool,
}

#[derive(ClapArgs)]
pub(crate) struct Common {
    #[command(flatten)]
    pub(crate) trust: TrustArgs,
    /// Preview at this time instead of the system clock (RFC 3339 UTC, or YYYY-MM-DD meaning
    /// the end of that day): checked against the state, never recorded, never installs
    #[arg(long)]
    pub(crate) at: Option<String>,
    /// State directory: pinned roots, rollback, revocations and clock-tamper detection
    #[arg(long)]
    pub(crate) state: Option<PathBuf>,
    /// Accept schema-2 licenses after the cut-off (explicit operator decision)
    #[arg(long)]
    pub(crate) allow_legacy: bool,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
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
pub(crate) enum RevocationsCmd {
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
pub(crate) enum Format {
    Text,
    Json,
    Prometheus,
}

/// Opens the state (if any), checks the clock and verifies the trust chain, anchored by the
/// state's pinned roots or, the first time, by the vendor's root.
pub(crate) fn begin_session(t: &TrustArgs, state: Option<&Path>, clock: Clock) -> Result<Session> {
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
    let session = Session::begin(state, clock, &refs, anchors.as_ref())
        .with_context(|| format!("trust {names}"))?;
    for n in session.notes() {
        eprintln!("runtime-verify: note: {n}");
    }
    Ok(session)
}

/// Text from a signed artifact, safe to print on a terminal.
pub(crate) fn safe(v: &str) -> std::borrow::Cow<'_, str> {
    runtime::text::escape(v)
}

/// Prints a failure (JSON on stdout when asked, a line on stderr always); returns its exit code.
/// A refusal is followed by what to do about it (`clikit::outcome::advice`, one sentence per
/// family of checks).
pub(crate) fn reject(
    json: bool,
    subject_key: &str,
    subject: &Path,
    e: &anyhow::Error,
) -> Result<ExitCode> {
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
        Some(Cmd::Generate(g)) => g.run(clikit::parse::with_exit_codes(
            Args::command(),
            clikit::parse::EXIT_CODES,
        )),
    }
}

pub(crate) fn bundle_cmd(a: BundleArgs) -> Result<ExitCode> {
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
pub(crate) fn verify_and_install(a: &BundleArgs, bundle: &Path) -> Result<Verdict> {
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
    let state = a.common.state.as_deref();
    let sources = runtime::fingerprint::Sources::system(state);
    let (trust, known, now) = (session.trust(), session.known(), session.now());
    let find = |m: &runtime::manifest::BundleManifest| {
        let Some(state) = state else {
            return Err(runtime::error::Refusal {
                check: Some(runtime::Check::BuildNotGranted),
                message: format!(
                    "build {} is sealed: give --state (the lease that carries its key), or --keep-sealed",
                    m.bundle_id
                ),
            });
        };
        let h = runtime::payload::Holder {
            trust,
            state,
            sources: &sources,
            known,
            now,
        };
        runtime::payload::key_for(&h, m)
    };
    let sealed = if a.keep_sealed {
        runtime::bundle::Sealed::Keep
    } else {
        runtime::bundle::Sealed::Open(&find)
    };
    let opts = Options::new(trust, now, env!("CARGO_PKG_VERSION"))
        .with_edition(a.edition.as_deref())
        .with_known(known)
        .with_legacy(LegacyPolicy::allowing_after_cutoff(a.common.allow_legacy))
        .with_extract(a.extract.as_deref())
        .with_sealed(sealed);
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
pub(crate) fn check_license(
    session: &mut Session,
    license: &Path,
    allow_legacy: bool,
    warn_days: i64,
) -> Result<(runtime::license::VerifiedLicense, Standing)> {
    let (doc, sig, _) = clikit::input::read_license(license, None)?;
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

pub(crate) fn license_cmd(license: &Path, c: Common, warn_days: i64) -> Result<ExitCode> {
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

pub(crate) fn evaluation_cmd(terms: &Path, c: Common) -> Result<ExitCode> {
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

pub(crate) fn session_now(c: &Common) -> Result<Timestamp> {
    Ok(clock(c.at.as_deref())?.now())
}

pub(crate) fn sig_cmd(file: &Path, trust: &TrustArgs, sig: Option<PathBuf>) -> Result<ExitCode> {
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
        .finish_in_window(trust, Role::Release)
        .with_context(|| format!("{}", file.display()))?;
    println!(
        "{}: signature OK (release key {})",
        file.display(),
        ok.key_id
    );
    println!("trusted comment: {}", safe(&ok.trusted_comment));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn revocations_import_cmd(
    file: &Path,
    sig: Option<PathBuf>,
    c: Common,
) -> Result<ExitCode> {
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
