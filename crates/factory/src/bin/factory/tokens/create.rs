//! `factory token create`: a signed install token, recorded.

use super::*;
use crate::activation::refused;
use crate::cli::print_json;
use anyhow::{bail, Context, Result};
use canon::Role;
use clikit::report::{n, s};
use factory::activation::{self as seats};
use signing::clock;
use std::process::ExitCode;

pub(super) fn create(a: CreateArgs) -> Result<ExitCode> {
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
    let key_path = key;
    let key = factory::keys::load_signing_key(&key_path, Role::Activation, None, now)?;
    let mut reg = common.existing_registry()?;
    signer.vet(&mut reg, &key, &key_path, now)?;
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
