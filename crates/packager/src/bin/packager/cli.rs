//! Argument parsing and command dispatch for `packager`.

use anyhow::{Context, Result};
use canon::Role;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
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
    Bundle {
        /// Directory holding license.json and license.sig
        #[arg(long)]
        license: PathBuf,
        /// Payload directory (regular files and directories only)
        #[arg(long)]
        payload: PathBuf,
        /// The product manifest (unsigned vendor input)
        #[arg(long)]
        product_manifest: PathBuf,
        /// A release key
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Air-gap delivery (the license must grant airgap_bundle)
        #[arg(long)]
        airgap: bool,
        /// Base name of the delivery files (default PRODUCT-VERSION-CUSTOMER-SEQUENCE)
        #[arg(long)]
        name: Option<String>,
        /// Bundle sequence (default: one more than the last for this product and customer)
        #[arg(long)]
        sequence: Option<u64>,
        /// Directory holding revocations.json and revocations.sig to ship
        #[arg(long)]
        revocations: Option<PathBuf>,
        /// Creation time (fix it for byte-identical rebuilds)
        #[arg(long)]
        created_at: Option<String>,
        /// Trust file: verify the license and revocations fully (default: $AIRLOCK_TRUST)
        #[arg(long)]
        trust: Option<PathBuf>,
        /// Compression level 2-9
        #[arg(long, default_value_t = packager::bundle::DEFAULT_LEVEL)]
        level: u32,
        /// Compression threads (default: all cores)
        #[arg(long)]
        threads: Option<usize>,
        /// Sequence state file (default: $PACKAGER_STATE, else packager-state.json)
        #[arg(long)]
        state: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Verify a bundle with the runtime's own verifier (vendor-side check before shipping)
    Verify {
        bundle: PathBuf,
        #[arg(long)]
        trust: PathBuf,
        /// Signature (default: BUNDLE.sig)
        #[arg(long)]
        sig: Option<PathBuf>,
        /// Judge at this time (default: now)
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Sign a file: writes FILE.sig, a minisign prehashed signature (`minisign -Vm FILE -p KEY.minisign.pub`)
    Sign {
        file: PathBuf,
        /// A release key (NAME.key)
        #[arg(long)]
        key: PathBuf,
    },
}

/// 1 for rejected input, 2 for usage and I/O errors.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain()
        .any(|c| c.is::<runtime::VerifyError>() || c.is::<canon::ParseError>())
    {
        1
    } else {
        2
    }
}

fn load_trust(p: &std::path::Path) -> Result<runtime::TrustStore> {
    let bytes = std::fs::read(p).with_context(|| format!("{}", p.display()))?;
    runtime::TrustStore::from_trust_file(&bytes, &runtime::Anchors::SelfSigned)
        .with_context(|| format!("{}", p.display()))
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.cmd {
        Cmd::Bundle {
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
            json,
        } => {
            let now = signing::clock::now()?;
            let created_at = created_at
                .map(|s| signing::clock::parse_time("--created-at", &s))
                .transpose()?
                .unwrap_or(now);
            let trust_path = trust.or_else(|| std::env::var_os("AIRLOCK_TRUST").map(PathBuf::from));
            let trust = trust_path.as_deref().map(load_trust).transpose()?;
            let key = signing::SecretKey::load(&key)?;
            if let Some(t) = &trust {
                match t.get(key.key_id()) {
                    None => anyhow::bail!("release key {} is not in the trust file", key.key_id()),
                    Some(k) if k.status != runtime::KeyStatus::Active => {
                        anyhow::bail!(
                            "release key {} is {} in the trust file; sign with its successor",
                            key.key_id(),
                            k.status.as_str()
                        )
                    }
                    _ => t
                        .check_window(key.key_id(), created_at)
                        .context("release key")?,
                }
            } else {
                eprintln!(
                    "packager: warning: no --trust given: the license signature is not checked"
                );
            }
            let state = state
                .or_else(|| std::env::var_os("PACKAGER_STATE").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("packager-state.json"));
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
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
            };
            let progress = bar.clone();
            let built = packager::bundle::build(&req, move |n| progress.inc(n))?;
            bar.finish_and_clear();
            if json {
                let v = canon::Value::object(vec![
                    (
                        "archive".into(),
                        canon::Value::String(built.archive.display().to_string()),
                    ),
                    (
                        "signature".into(),
                        canon::Value::String(built.signature.display().to_string()),
                    ),
                    (
                        "checksums".into(),
                        canon::Value::String(built.checksums.display().to_string()),
                    ),
                    (
                        "bundle_id".into(),
                        canon::Value::String(built.bundle_id.clone()),
                    ),
                    (
                        "sequence".into(),
                        canon::Value::Number(built.sequence as f64),
                    ),
                    (
                        "archive_bytes".into(),
                        canon::Value::Number(built.archive_bytes as f64),
                    ),
                    (
                        "payload_bytes".into(),
                        canon::Value::Number(built.payload_bytes as f64),
                    ),
                    ("members".into(), canon::Value::Number(built.members as f64)),
                ])
                .context("json")?;
                print!("{}", String::from_utf8_lossy(&v.to_pretty()));
            } else {
                println!("{}", built.archive.display());
                println!("{}", built.signature.display());
                println!("{}", built.checksums.display());
                eprintln!(
                    "bundle {} (sequence {}): {} members, {} payload bytes, {} bytes compressed",
                    built.bundle_id,
                    built.sequence,
                    built.members,
                    built.payload_bytes,
                    built.archive_bytes
                );
            }
        }
        Cmd::Verify {
            bundle,
            trust,
            sig,
            at,
            json,
        } => {
            let now = match at {
                Some(a) => signing::clock::parse_time("--at", &a)?,
                None => signing::clock::now()?,
            };
            let trust = load_trust(&trust)?;
            let sig = sig.unwrap_or_else(|| {
                let mut p = bundle.as_os_str().to_owned();
                p.push(".sig");
                PathBuf::from(p)
            });
            let sig_bytes = std::fs::read(&sig).with_context(|| format!("{}", sig.display()))?;
            let f =
                std::fs::File::open(&bundle).with_context(|| format!("{}", bundle.display()))?;
            let opts = runtime::bundle::Options::new(&trust, now, env!("CARGO_PKG_VERSION"));
            match runtime::bundle::verify_bundle(f, &sig_bytes, &opts) {
                Ok(v) => {
                    if json {
                        let out = canon::Value::object(vec![
                            ("valid".into(), canon::Value::Bool(true)),
                            (
                                "bundle_id".into(),
                                canon::Value::String(v.bundle_id.clone()),
                            ),
                            ("sequence".into(), canon::Value::Number(v.sequence as f64)),
                            ("members".into(), canon::Value::Number(v.members as f64)),
                        ])
                        .context("json")?;
                        print!("{}", String::from_utf8_lossy(&out.to_pretty()));
                    } else {
                        println!(
                            "{}: OK — bundle {} ({} {} {}), {} members",
                            bundle.display(),
                            v.bundle_id,
                            v.product,
                            v.version,
                            v.edition,
                            v.members
                        );
                    }
                }
                Err(e) => {
                    if json {
                        let out = canon::Value::object(vec![
                            ("valid".into(), canon::Value::Bool(false)),
                            ("code".into(), canon::Value::String(e.code().into())),
                            ("error".into(), canon::Value::String(e.to_string())),
                        ])
                        .context("json")?;
                        print!("{}", String::from_utf8_lossy(&out.to_pretty()));
                    }
                    eprintln!(
                        "packager: {}: REJECTED [{}]: {e}",
                        bundle.display(),
                        e.code()
                    );
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Cmd::Sign { file, key } => {
            let key = signing::SecretKey::load(&key)?;
            if key.role != Role::Release {
                anyhow::bail!(
                    "this is a {} key; files and bundles are signed with a release key",
                    key.role
                );
            }
            let out = packager::sign_file(&file, &key, signing::clock::now()?)?;
            println!("wrote {} (key id {})", out.display(), key.key_id());
        }
    }
    Ok(ExitCode::SUCCESS)
}
