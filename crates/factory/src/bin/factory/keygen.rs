//! `factory keygen`: a key file, or a key made inside a PKCS#11 token.

use crate::cli::print_json;
use anyhow::{Context, Result};
use canon::Role;
use clap::ValueEnum;
use clikit::report::s;
use signing::clock;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    Root,
    License,
    Release,
    Activation,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Root => Role::Root,
            RoleArg::License => Role::License,
            RoleArg::Release => Role::Release,
            RoleArg::Activation => Role::Activation,
        }
    }
}

#[derive(clap::Args)]
pub(crate) struct KeygenArgs {
    /// What the key signs: root (trust files), license (licenses, revocation lists),
    /// release (bundles, files) or activation (activation leases)
    #[arg(long, value_enum)]
    pub(crate) role: RoleArg,
    /// The key's name: its files are NAME.key, NAME.pub and NAME.minisign.pub
    #[arg(long)]
    pub(crate) name: String,
    /// Directory for the key files (created; an existing file is never replaced)
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Make the key inside a PKCS#11 token (an HSM) named by this URI, e.g.
    /// pkcs11:token=airlock?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:pin;
    /// only NAME.pub and NAME.minisign.pub are written, and the key is used as
    /// pkcs11:token=...;object=NAME?...
    #[arg(long, value_name = "URI")]
    pub(crate) pkcs11: Option<String>,
    /// Print the key id and paths as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn keygen_cmd(a: KeygenArgs) -> Result<ExitCode> {
    let KeygenArgs {
        role,
        name,
        out,
        pkcs11,
        json,
    } = a;
    let now = clock::now()?;
    let (key, paths) = factory::keys::keygen(role.into(), &name, &out, pkcs11.as_deref(), now)?;
    // A key in a token is used through its URI (without the PIN: give it with pin-source or
    // $AIRLOCK_PKCS11_PIN); a key file through its path.
    let private = match &pkcs11 {
        Some(uri) => signing::pkcs11::Uri::parse(uri)?.for_object(&key.name),
        None => paths[0].display().to_string(),
    };
    let public = &paths[paths.len() - 2];
    let minisign = &paths[paths.len() - 1];
    if json {
        let v = canon::Value::object(vec![
            ("key_id".into(), s(key.key_id())),
            ("name".into(), s(&key.name)),
            ("role".into(), s(key.role)),
            ("private_key".into(), s(&private)),
            ("in_token".into(), canon::Value::Bool(key.in_token())),
            ("public_key".into(), s(public.display())),
            ("minisign_public_key".into(), s(minisign.display())),
        ])
        .context("json")?;
        print_json(&v);
    } else {
        println!(
            "generated {} key {:?} with key id {}",
            key.role,
            key.name,
            key.key_id()
        );
        println!("  {private}");
        println!("  {}", public.display());
        println!("  {}", minisign.display());
        if key.in_token() {
            println!("the private key stays in the token; sign with --key '{private}&pin-source=file:PIN_FILE' (or set AIRLOCK_PKCS11_PIN)");
        } else {
            println!("keep {private} offline; share only the .pub files");
        }
    }
    Ok(ExitCode::SUCCESS)
}
