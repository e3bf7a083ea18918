//! `factory build`: encrypted builds in the registry (register a packager's build record,
//! list them). See docs/CLI.md.

use crate::cli::print_json;
use anyhow::Result;
use canon::Value;
use clap::Subcommand;
use clikit::input::read_capped;
use clikit::report::s;
use factory::builds::Build;
use signing::clock;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum BuildCmd {
    /// Register an encrypted build: the packager's signed build record (NAME.build.json),
    /// checked against the trust file and opened with the key-encryption key
    Register {
        /// The build record `packager bundle --encrypt` wrote
        record: PathBuf,
        /// The key-encryption key the record's content key is wrapped to (NAME.key, or a
        /// pkcs11: URI)
        #[arg(long, value_name = "KEK")]
        kek: String,
        #[command(flatten)]
        signer: crate::cli::Signer,
        #[command(flatten)]
        common: crate::cli::Common,
    },
    /// List the registered builds, newest first
    List {
        /// Only this product's
        #[arg(long)]
        product: Option<String>,
        #[command(flatten)]
        common: crate::cli::Common,
    },
}

impl BuildCmd {
    pub fn json(&self) -> (&'static str, bool) {
        match self {
            BuildCmd::Register { common, .. } => ("build register", common.json),
            BuildCmd::List { common, .. } => ("build list", common.json),
        }
    }
}

fn build_json(b: &Build) -> Value {
    clikit::report::object(vec![
        ("bundle_id", s(&b.bundle_id)),
        ("product", s(&b.product)),
        ("version", s(&b.version)),
        ("edition", s(&b.edition)),
        (
            "requires_features",
            Value::Array(b.requires_features.iter().map(s).collect()),
        ),
        ("customer_id", s(&b.customer_id)),
        ("license_id", s(&b.license_id)),
        ("created_at", s(b.created_at)),
        ("key_check", s(&b.key_check)),
        ("kek_key_id", s(&b.kek_key_id)),
        ("registered_at", s(b.registered_at)),
    ])
    .expect("distinct names")
}

/// Runs a `factory build` command.
pub fn run(cmd: BuildCmd) -> Result<ExitCode> {
    match cmd {
        BuildCmd::Register {
            record,
            kek,
            signer,
            common,
        } => {
            let now = clock::now()?;
            let kek = factory::builds::Kek::load(&kek)?;
            let file = read_capped(
                &record,
                (runtime::build::MAX_BUILD_BYTES + canon::sig::MAX_ENVELOPE_BYTES) as u64,
            )?;
            let mut reg = common.existing_registry()?;
            let Some(trust) = signer.known(&mut reg, now)? else {
                anyhow::bail!(
                    "no trust file: give --trust (or set AIRLOCK_TRUST) so the build record's signature can be checked"
                );
            };
            let r = factory::builds::register(&mut reg, &file, &trust, &kek, now)?;
            if common.json {
                let mut v = vec![("build", build_json(&r.build)), ("new", Value::Bool(r.new))];
                v.push(("kek", s(kek.key_id())));
                print_json(&clikit::report::valid("command", &"build register", v)?);
            } else {
                println!(
                    "{} build {} ({} {} for {}, key check {}…)",
                    if r.new {
                        "registered"
                    } else {
                        "already registered:"
                    },
                    r.build.bundle_id,
                    r.build.product,
                    r.build.version,
                    r.build.customer_id,
                    &r.build.key_check[..16]
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BuildCmd::List { product, common } => {
            let reg = common.existing_registry()?;
            let builds = factory::builds::list(&reg, product.as_deref())?;
            if common.json {
                print_json(&clikit::report::valid(
                    "command",
                    &"build list",
                    vec![(
                        "builds",
                        Value::Array(builds.iter().map(build_json).collect()),
                    )],
                )?);
            } else if builds.is_empty() {
                println!("no builds registered");
            } else {
                for b in &builds {
                    println!(
                        "{}  {} {} ({})  customer {}  license {}  made {}",
                        b.bundle_id,
                        b.product,
                        b.version,
                        b.edition,
                        b.customer_id,
                        b.license_id,
                        b.created_at
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
