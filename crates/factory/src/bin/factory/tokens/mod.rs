//! `factory token`: install tokens, one-time permissions to activate online without the
//! license key: create, list, revoke. See docs/CLI.md.

use anyhow::Result;
use canon::Value;
use clap::Subcommand;
use clikit::report::{n, s};
use factory::activation::{self as seats};
use std::path::PathBuf;
use std::process::ExitCode;

mod create;
mod list;
mod revoke;

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
        TokenCmd::Create(a) => create::create(a),
        TokenCmd::List { license, common } => list::list(license.as_deref(), &common),
        TokenCmd::Revoke {
            token_id,
            reason,
            common,
        } => revoke::revoke(&token_id, &reason, &common),
    }
}

pub(super) fn row_json(t: &seats::TokenRow, now: canon::Timestamp) -> Value {
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
