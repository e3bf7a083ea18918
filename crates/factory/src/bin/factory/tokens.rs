//! `factory token`: install tokens, one-time permissions to activate online without the
//! license key: create, list, revoke. See docs/CLI.md.

use crate::activation::refused;
use crate::cli::print_json;
use anyhow::{bail, Context, Result};
use canon::{Role, Value};
use clap::Subcommand;
use clikit::report::{n, s};
use factory::activation::{self as seats};
use signing::clock;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Sign an install token: N machines may activate the license online without its key,
    /// until the token expires (at most 72 hours). Printed on stdout, or written to --out
    Create(CreateArgs),
    /// List the recorded install tokens (newest first): made, used of allowed, expiry, state
    List {
        /// Only this license's
        #[arg(long)]
        license: Option<String>,
        #[command(flatten)]
        common: crate::cli::Common,
    },
    /// Revoke an install token: refused from now on (TOKEN_REVOKED); seats it made stay
    Revoke {
        /// The token id (`token list`, or the `token_id` `token create` printed)
        token_id: String,
        /// Why (recorded in the audit log)
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: crate::cli::Common,
    },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The license id
    #[arg(long)]
    license: String,
    /// How many machines may activate with it
    #[arg(long, value_name = "N", default_value_t = 1)]
    instances: u64,
    /// How long it is accepted: 30m, 24h, 3d (at most 72h)
    #[arg(long, value_name = "DURATION")]
    ttl: String,
    /// An activation key (NAME.key, role activation) to sign it
    #[arg(long)]
    key: PathBuf,
    /// Write the token to this file (mode 0600) instead of stdout
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    signer: crate::cli::Signer,
    #[command(flatten)]
    common: crate::cli::Common,
}

impl TokenCmd {
    pub fn json(&self) -> (&'static str, bool) {
        match self {
            TokenCmd::Create(a) => ("token create", a.common.json),
            TokenCmd::List { common, .. } => ("token list", common.json),
            TokenCmd::Revoke { common, .. } => ("token revoke", common.json),
        }
    }
}

/// Runs a `factory token` command.
pub fn run(cmd: TokenCmd) -> Result<ExitCode> {
    match cmd {
        TokenCmd::Create(a) => create(a),
        TokenCmd::List { license, common } => list(license.as_deref(), &common),
        TokenCmd::Revoke {
            token_id,
            reason,
            common,
        } => revoke(&token_id, &reason, &common),
    }
}

fn row_json(t: &seats::TokenRow, now: canon::Timestamp) -> Value {
    clikit::report::object(vec![
        ("token_id", s(&t.token_id)),
        ("license_id", s(&t.license_id)),
        ("allowance", n(t.allowance)),
        ("used", n(t.used)),
        ("issued_at", s(t.issued_at)),
        ("expires_at", s(t.expires_at)),
        ("revoked_at", t.revoked_at.map_or(Value::Null, s)),
        ("state", s(t.state(now))),
    ])
    .expect("distinct names")
}

fn list(license: Option<&str>, common: &crate::cli::Common) -> Result<ExitCode> {
    let now = clock::now()?;
    let reg = common.existing_registry()?;
    let rows = seats::token_list(&reg, license)?;
    if common.json {
        print_json(&clikit::report::valid(
            "command",
            &"token list",
            vec![(
                "tokens",
                Value::Array(rows.iter().map(|t| row_json(t, now)).collect()),
            )],
        )?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "TOKEN                             LICENSE               USED  EXPIRES_AT            STATE"
    );
    for t in &rows {
        println!(
            "{:<33} {:<21} {:>2}/{:<2} {} {}",
            t.token_id,
            t.license_id,
            t.used,
            t.allowance,
            t.expires_at,
            t.state(now)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke(token_id: &str, reason: &str, common: &crate::cli::Common) -> Result<ExitCode> {
    if reason.trim().is_empty() {
        bail!("--reason must not be empty");
    }
    let now = clock::now()?;
    let mut reg = common.existing_registry()?;
    let t = match seats::token_revoke(&mut reg, token_id, reason, now)? {
        Ok(t) => t,
        Err(r) => return refused(common.json, "token revoke", &r),
    };
    if common.json {
        print_json(&clikit::report::valid(
            "command",
            &"token revoke",
            vec![("token", row_json(&t, now))],
        )?);
    } else {
        println!(
            "revoked install token {} (license {}, {} of {} used): refused from now on",
            t.token_id, t.license_id, t.used, t.allowance
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn create(a: CreateArgs) -> Result<ExitCode> {
    let CreateArgs {
        license,
        instances,
        ttl,
        key,
        out,
        signer,
        common,
    } = a;
    let subject = "token create";
    let ttl = crate::activation::parse_duration(&ttl).context("--ttl")?;
    if ttl > runtime::activation::MAX_TOKEN_SECONDS {
        bail!("--ttl must be at most 72h: a token is a bearer secret, keep its life short");
    }
    if instances == 0 || instances > runtime::activation::MAX_DEVICE_LIMIT {
        bail!("--instances must be from 1 to 10000");
    }
    if let Some(o) = &out {
        if o.exists() {
            bail!("{} exists; refusing to overwrite", o.display());
        }
    }
    let now = clock::now()?;
    factory::keys::load_signing_key(&key, Role::Activation, None, now)?;
    let mut reg = common.existing_registry()?;
    let (key, _) = signer.key(&mut reg, &key, Role::Activation, now)?;
    let t = match seats::token_create(&mut reg, &license, instances, ttl, &key, now)? {
        Ok(t) => t,
        Err(r) => return refused(common.json, subject, &r),
    };
    if let Some(o) = &out {
        signing::fsutil::write_atomic(o, format!("{}\n", t.text).as_bytes(), 0o600, false)
            .with_context(|| {
                format!(
                    "{} (token {} is recorded; make another)",
                    o.display(),
                    t.token.token_id
                )
            })?;
    }
    if common.json {
        let mut fields = vec![
            ("token_id", s(&t.token.token_id)),
            ("license_id", s(&t.token.license_id)),
            ("allowance", n(t.token.allowance)),
            ("expires_at", s(&t.token.expires_at)),
        ];
        match &out {
            Some(o) => fields.push(("out", s(o.display()))),
            None => fields.push(("token", s(&t.text))),
        }
        print_json(&clikit::report::valid("command", &subject, fields)?);
    } else {
        match &out {
            Some(o) => println!("{}", o.display()),
            None => println!("{}", t.text),
        }
        eprintln!(
            "install token {} for license {}: {} activation(s) until {} (a bearer secret: hand it over privately)",
            t.token.token_id, t.token.license_id, t.token.allowance, t.token.expires_at
        );
    }
    Ok(ExitCode::SUCCESS)
}
