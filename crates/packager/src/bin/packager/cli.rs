//! Argument parsing and command dispatch for `packager`.

use anyhow::{Context, Result};
use canon::Role;
use clap::{CommandFactory, Parser, Subcommand};
use clikit::args::Judge;
use clikit::generate::GenerateCmd;
use clikit::input::{read_capped, sig_path, vendor_trust};
use clikit::report;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "packager",
    version,
    about = "Airlock packager: signed, reproducible air-gap delivery bundles"
)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build a signed delivery bundle: NAME.tar.gz, NAME.tar.gz.sig and CHECKSUMS.txt
    Bundle(Box<BundleArgs>),
    /// Verify a bundle with the runtime's own verifier (vendor-side check before shipping)
    Verify {
        /// The bundle (.tar.gz)
        bundle: PathBuf,
        #[command(flatten)]
        judge: Judge,
    },
    #[command(flatten)]
    Generate(GenerateCmd),
    /// Sign a file: writes FILE.sig, a minisign prehashed signature (`minisign -Vm FILE -p KEY.minisign.pub`)
    Sign {
        /// The file to sign
        file: PathBuf,
        /// A release key (NAME.key)
        #[arg(long)]
        key: PathBuf,
        /// Trust file: refuse a key it marks retired or revoked, or outside its window
        /// (default: $AIRLOCK_TRUST)
        #[arg(long)]
        trust: Option<PathBuf>,
        /// Replace an existing FILE.sig
        #[arg(long)]
        force: bool,
    },
}

#[derive(clap::Args)]
pub(crate) struct BundleArgs {
    /// Directory holding license.json and license.sig
    #[arg(long)]
    pub(crate) license: PathBuf,
    /// Payload directory (regular files and directories only)
    #[arg(long)]
    pub(crate) payload: PathBuf,
    /// The product manifest (unsigned vendor input)
    #[arg(long)]
    pub(crate) product_manifest: PathBuf,
    /// A release key
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// Directory for the delivery files (created; existing files are never replaced)
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Air-gap delivery (the license must grant airgap_bundle)
    #[arg(long)]
    pub(crate) airgap: bool,
    /// Base name of the delivery files (default PRODUCT-VERSION-CUSTOMER-SEQUENCE)
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Bundle sequence (default: one more than the last for this product and customer)
    #[arg(long)]
    pub(crate) sequence: Option<u64>,
    /// Directory holding revocations.json and revocations.sig to ship
    #[arg(long)]
    pub(crate) revocations: Option<PathBuf>,
    /// Creation time (fix it for byte-identical rebuilds)
    #[arg(long)]
    pub(crate) created_at: Option<String>,
    /// Trust file: verify the license and revocations fully (default: $AIRLOCK_TRUST)
    #[arg(long)]
    pub(crate) trust: Option<PathBuf>,
    /// Compression level 2-9
    #[arg(long, default_value_t = packager::bundle::DEFAULT_LEVEL)]
    pub(crate) level: u32,
    /// Compression threads (default: all cores)
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// Sequence state file (default: $AIRLOCK_PACKAGER_STATE, else packager-state.json in the
    /// vendor home)
    #[arg(long)]
    pub(crate) state: Option<PathBuf>,
    /// Seal the payload members so that only machines whose lease carries this build's key
    /// open them: the key-encryption key's public file (`factory keygen --role kek`). The
    /// content key leaves only wrapped to it, in a signed build record for `factory build
    /// register`
    #[arg(long, value_name = "KEK.pub")]
    pub(crate) encrypt: Option<PathBuf>,
    /// Where the build record goes (default: OUT/NAME.build.json; not part of the delivery)
    #[arg(long, value_name = "FILE", requires = "encrypt")]
    pub(crate) build_record: Option<PathBuf>,
    /// Rebuild byte for byte: take the content key of this earlier build record (opened
    /// with --kek-secret) instead of a fresh one
    #[arg(long, value_name = "RECORD", requires_all = ["encrypt", "kek_secret"])]
    pub(crate) reuse_key: Option<PathBuf>,
    /// The key-encryption key (its secret file, or a pkcs11: URI), to open --reuse-key's
    /// record
    #[arg(long, value_name = "KEK", requires = "reuse_key")]
    pub(crate) kek_secret: Option<String>,
    /// Print the report as JSON on stdout, for every outcome
    #[arg(long)]
    pub(crate) json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    // Under --json every outcome prints the report schema, failures included.
    let json_out = match &args.cmd {
        Cmd::Bundle(a) if a.json => Some(a.out.clone()),
        _ => None,
    };
    match (run_cmd(args), json_out) {
        (Err(e), Some(out)) => report::fail("packager", true, "out", &out.display(), &e),
        (r, _) => r,
    }
}

fn run_cmd(args: Args) -> Result<ExitCode> {
    match args.cmd {
        Cmd::Bundle(a) => return bundle_cmd(*a),
        Cmd::Verify { bundle, judge } => match verify(&bundle, &judge) {
            Ok(v) => report::print_bundle(&v, &bundle, judge.json)?,
            Err(e) => return report::fail("packager", judge.json, "bundle", &bundle.display(), &e),
        },
        Cmd::Generate(g) => {
            return g.run(clikit::parse::with_exit_codes(
                Args::command(),
                clikit::parse::EXIT_CODES,
            ))
        }
        Cmd::Sign {
            file,
            key,
            trust,
            force,
        } => {
            let now = signing::clock::now()?;
            let trust_path = trust.or_else(|| clikit::env::path("AIRLOCK_TRUST"));
            let trust = trust_path.as_deref().map(vendor_trust).transpose()?;
            let key = release_key(&key, trust.as_ref(), now)?;
            if trust.is_none() {
                eprintln!("packager: warning: no --trust given: whether the key may still sign is not checked");
            }
            let out = packager::sign_file(&file, &key, now, force)?;
            println!("wrote {} (key id {})", out.display(), key.key_id());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn bundle_cmd(a: BundleArgs) -> Result<ExitCode> {
    let BundleArgs {
        license,
        payload,
        product_manifest,
        key,
        out,
        airgap,
        name,
        sequence,
        revocations,
        created_at,
        trust,
        level,
        threads,
        state,
        encrypt,
        build_record,
        reuse_key,
        kek_secret,
        json,
    } = a;
    let now = signing::clock::now()?;
    let kek = encrypt
        .as_deref()
        .map(seal::keyfile::KekPublic::load)
        .transpose()?;
    let content_key = match (&reuse_key, &kek_secret) {
        (Some(r), Some(k)) => Some(packager::encrypt::content_key_of(r, k)?),
        _ => None,
    };
    let created_at = created_at
        .map(|s| signing::clock::parse_time("--created-at", &s))
        .transpose()?
        .unwrap_or(now);
    let trust_path = trust.or_else(|| clikit::env::path("AIRLOCK_TRUST"));
    let trust = trust_path.as_deref().map(vendor_trust).transpose()?;
    let key = release_key(&key, trust.as_ref(), created_at)?;
    if trust.is_none() {
        eprintln!("packager: warning: no --trust given: the license signature is not checked");
    }
    let state = clikit::home::locate(
        state.as_deref(),
        "--state",
        "AIRLOCK_PACKAGER_STATE",
        clikit::home::PACKAGER_STATE,
    )?;
    let fresh_state = clikit::home::prepare(&state)?;
    let (state_at, state) = (state.clone(), state.path);
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let total: u64 = packager::bundle::scan_payload(&payload)?
        .iter()
        .map(|p| p.2)
        .sum();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let req = packager::bundle::Request {
        license_dir: &license,
        payload: &payload,
        product_manifest: &product_manifest,
        key: &key,
        out: &out,
        airgap,
        name,
        sequence,
        revocations: revocations.as_deref(),
        created_at,
        trust: trust.as_ref(),
        level,
        threads,
        state: &state,
        encrypt: kek.as_ref().map(|kek| packager::encrypt::Encrypt {
            kek,
            content_key: content_key
                .clone()
                .unwrap_or_else(seal::ContentKey::generate),
            record: build_record.as_deref(),
        }),
    };
    let progress = bar.clone();
    let built = packager::bundle::build(&req, move |n| progress.inc(n))?;
    bar.finish_and_clear();
    if fresh_state {
        clikit::home::announce(&state_at, "packager sequence state");
    }
    if json {
        use report::{n, s};
        report::print_json(&report::valid(
            "out",
            &out.display(),
            vec![
                ("archive", s(built.archive.display())),
                ("signature", s(built.signature.display())),
                ("checksums", s(built.checksums.display())),
                ("bundle_id", s(&built.bundle_id)),
                ("sequence", n(built.sequence)),
                ("archive_bytes", n(built.archive_bytes)),
                ("payload_bytes", n(built.payload_bytes)),
                ("members", n(built.members as u64)),
                ("encrypted", canon::Value::Bool(built.record.is_some())),
                (
                    "build_record",
                    built
                        .record
                        .as_ref()
                        .map_or(canon::Value::Null, |p| s(p.display())),
                ),
            ],
        )?);
    } else {
        println!("{}", built.archive.display());
        println!("{}", built.signature.display());
        println!("{}", built.checksums.display());
        if let Some(r) = &built.record {
            eprintln!(
                "payload sealed; build record {} (register it: factory build register {} --kek KEK.key)",
                r.display(),
                r.display()
            );
        }
        eprintln!(
            "bundle {} (sequence {}): {} members, {} payload bytes, {} bytes compressed",
            built.bundle_id,
            built.sequence,
            built.members,
            built.payload_bytes,
            built.archive_bytes
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads a release key; with a trust file, refuses one that may not sign at `at` (retired,
/// revoked, outside its window, not a release key there).
fn release_key(
    path: &Path,
    trust: Option<&runtime::TrustStore>,
    at: canon::Timestamp,
) -> Result<signing::SecretKey> {
    let key = signing::SecretKey::load(path)?;
    if key.role != Role::Release {
        anyhow::bail!(
            "{}: this is a {} key; files and bundles are signed with a release key",
            path.display(),
            key.role
        );
    }
    if let Some(t) = trust {
        t.may_sign(key.key_id(), Role::Release, at)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(key)
}

/// The vendor's check before shipping: the runtime's own verifier, no state, the vendor's
/// trust file; the same verdict, report and exit code as `runtime-verify --at`.
fn verify(bundle: &Path, judge: &Judge) -> Result<runtime::bundle::Verdict> {
    let now = signing::clock::at_or_now(judge.at.as_deref())?;
    let trust = vendor_trust(&judge.trust)?;
    let sig = sig_path(bundle, judge.sig.clone());
    let sig_bytes = read_capped(&sig, canon::minisign::MAX_SIGNATURE_BYTES as u64)?;
    let f = std::fs::File::open(bundle).with_context(|| format!("{}", bundle.display()))?;
    let opts = runtime::bundle::Options::new(&trust, now, env!("CARGO_PKG_VERSION"));
    Ok(runtime::bundle::verify_bundle(f, &sig_bytes, &opts)?)
}
