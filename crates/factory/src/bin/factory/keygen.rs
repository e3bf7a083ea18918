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
    /// A key-encryption key (X25519): build keys are wrapped to it.
    Kek,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Root => Role::Root,
            RoleArg::License => Role::License,
            RoleArg::Release => Role::Release,
            RoleArg::Activation => Role::Activation,
            RoleArg::Kek => unreachable!("a key-encryption key is no signing role"),
        }
    }
}

#[derive(clap::Args)]
pub(crate) struct KeygenArgs {
    /// What the key signs: root (trust files), license (licenses, revocation lists),
    /// release (bundles, files) or activation (activation leases); or kek, the X25519
    /// key-encryption key that encrypted builds' content keys are wrapped to (NAME.key and
    /// NAME.pub only)
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
    if let RoleArg::Kek = role {
        return kek_cmd(&name, &out, pkcs11.as_deref(), json, now);
    }
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

fn kek_cmd(
    name: &str,
    out: &std::path::Path,
    token: Option<&str>,
    json: bool,
    now: canon::Timestamp,
) -> Result<ExitCode> {
    if let Some(uri) = token {
        let (id, public) = factory::keys::keygen_kek_token(uri, name, out, now)?;
        let private = signing::pkcs11::Uri::parse(uri)?.for_object(name);
        if json {
            print_json(
                &canon::Value::object(vec![
                    ("key_id".into(), s(id)),
                    ("name".into(), s(name)),
                    ("role".into(), s("kek")),
                    ("private_key".into(), s(&private)),
                    ("in_token".into(), canon::Value::Bool(true)),
                    ("public_key".into(), s(public.display())),
                ])
                .context("json")?,
            );
        } else {
            println!("generated kek key {name:?} (RSA 3072, in the token) with key id {id}");
            println!("  {private}\n  {}", public.display());
            println!(
                "give {} to the packager (bundle --encrypt); the factory and the service use --kek '{private}&pin-source=file:PIN_FILE'",
                public.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (key, paths) = factory::keys::keygen_kek(name, out, now)?;
    if json {
        let v = canon::Value::object(vec![
            ("key_id".into(), s(key.key_id)),
            ("name".into(), s(&key.name)),
            ("role".into(), s("kek")),
            ("private_key".into(), s(paths[0].display())),
            ("in_token".into(), canon::Value::Bool(false)),
            ("public_key".into(), s(paths[1].display())),
        ])
        .context("json")?;
        print_json(&v);
    } else {
        println!(
            "generated kek key {:?} with key id {}",
            key.name, key.key_id
        );
        println!("  {}\n  {}", paths[0].display(), paths[1].display());
        println!(
            "give {} to the packager (bundle --encrypt); keep {} with the factory and the activation service",
            paths[1].display(),
            paths[0].display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
