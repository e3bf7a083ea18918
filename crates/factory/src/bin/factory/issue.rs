//! `factory issue`: one license from the catalog, or a batch.

use crate::cli::*;
use anyhow::{Context, Result};
use canon::Role;
use factory::issue::{self, Request};
use factory::report as book;
use signing::clock;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub(crate) struct IssueArgs {
    /// The catalog tier: evaluation, professional or sovereign (required without --batch)
    #[arg(long)]
    pub(crate) tier: Option<String>,
    /// Customer name, 1 to 256 characters (required without --batch)
    #[arg(long)]
    pub(crate) customer: Option<String>,
    /// Customer id (default: derived from the name)
    #[arg(long)]
    pub(crate) customer_id: Option<String>,
    /// Product id from the catalog (required without --batch)
    #[arg(long)]
    pub(crate) product: Option<String>,
    /// Expiry date or time (default: the tier's validity)
    #[arg(long)]
    pub(crate) expires: Option<String>,
    /// A license key (NAME.key) to sign with
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// New directory for license.json and license.sig (with --batch: one directory per
    /// license under it)
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Product catalog (default: $AIRLOCK_CATALOG, else catalog.json in the vendor home)
    #[arg(long)]
    pub(crate) catalog: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) terms: TermsArgs,
    /// Start of validity: date or time (default: now)
    #[arg(long)]
    pub(crate) not_before: Option<String>,
    /// The customer's workspace the license binds to (default: "default")
    #[arg(long)]
    pub(crate) workspace: Option<String>,
    /// Where the customer's data must stay, e.g. "eu" (recorded in the license)
    #[arg(long)]
    pub(crate) data_residency: Option<String>,
    /// JSON Lines file of requests; writes one directory per license under --out. Run again
    /// after an interruption, it issues only the lines not recorded yet
    #[arg(long, conflicts_with_all = ["tier", "customer", "product", "request_id"])]
    pub(crate) batch: Option<PathBuf>,
    /// Idempotency key: run again with the same key, the recorded license is returned (its
    /// files written again when missing), never a second one; the same key with other
    /// parameters is refused
    #[arg(long)]
    pub(crate) request_id: Option<String>,
    /// Issue even though the customer already holds a live license of this product and tier
    /// (with --batch: for every line)
    #[arg(long)]
    pub(crate) additional: bool,
    #[command(flatten)]
    pub(crate) signer: Signer,
    #[command(flatten)]
    pub(crate) common: Common,
}

pub(crate) fn print_issued(
    signed: &issue::Signed,
    paths: &[PathBuf; 2],
    json: bool,
    now: canon::Timestamp,
) {
    if json {
        print_json(&book::record_json(&signed.record, now, 30));
    } else {
        println!("{}", signed.license.license_id);
        eprintln!(
            "issued {} ({} {} for {}, until {}): {} + {}",
            signed.license.license_key,
            signed.license.product,
            signed.license.tier,
            signed.license.customer.name,
            signed.license.expires_at,
            paths[0].display(),
            paths[1].display()
        );
    }
}

/// What `issue` was asked, turned into ready objects before anything runs (the options
/// parsed, the requests built and checked against the catalog, the key loaded): nothing is
/// opened or recorded until the whole plan stands.
struct Plan {
    /// The batch's requests with their built licenses, or the one request with its license.
    work: Work,
    ctx: Ctx,
}

/// Where and how the planned work is recorded and signed.
struct Ctx {
    now: canon::Timestamp,
    /// The signing key, loaded once (a key in a token: one login).
    key: signing::SecretKey,
    key_path: PathBuf,
    out: PathBuf,
    signer: Signer,
    common: Common,
}

enum Work {
    Batch(Vec<Request>, Vec<runtime::license::License>),
    One(Box<Request>, Box<runtime::license::License>),
}

impl Plan {
    fn of(a: IssueArgs) -> Result<Plan> {
        let now = clock::now()?;
        let key = factory::keys::load_signing_key(&a.key, Role::License, None, now)?;
        let catalog = load_located(&locate_catalog(a.catalog.as_deref())?)?;
        let work = match &a.batch {
            Some(batch) => {
                let bytes = std::fs::read(batch).with_context(|| format!("{}", batch.display()))?;
                let mut reqs = issue::parse_batch(&batch.display().to_string(), &bytes)?;
                for r in &mut reqs {
                    r.additional |= a.additional;
                }
                let licenses = issue::build_batch(&catalog, &reqs, now)?;
                Work::Batch(reqs, licenses)
            }
            None => {
                let req = request_of(&a)?;
                if let Some(k) = &req.request_id {
                    issue::check_request_id(k)?;
                }
                let license = issue::build(&catalog, &req, now)?;
                Work::One(Box::new(req), Box::new(license))
            }
        };
        Ok(Plan {
            work,
            ctx: Ctx {
                now,
                key,
                key_path: a.key,
                out: a.out,
                signer: a.signer,
                common: a.common,
            },
        })
    }
}

/// The one request of a command-line issue.
fn request_of(a: &IssueArgs) -> Result<Request> {
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .with_context(|| format!("{flag} is required (or use --batch)"))
    };
    Ok(Request {
        tier: need(&a.tier, "--tier")?,
        customer: need(&a.customer, "--customer")?,
        customer_id: a.customer_id.clone(),
        product: need(&a.product, "--product")?,
        expires: a.expires.clone(),
        not_before: a.not_before.clone(),
        features: a.terms.features.clone(),
        limits: parse_limits(&a.terms.limits)?,
        grace_days: a.terms.grace_days,
        device_limit: a.terms.device_limit,
        workspace: a.workspace.clone(),
        data_residency: a.data_residency.clone(),
        request_id: a.request_id.clone(),
        additional: a.additional,
    })
}

pub(crate) fn issue_cmd(a: IssueArgs) -> Result<()> {
    // Every request is validated before the registry is opened: a mistyped first request
    // never leaves a new, empty registry behind.
    let Plan { work, ctx } = Plan::of(a)?;
    match work {
        Work::Batch(reqs, licenses) => run_batch(&ctx, reqs, licenses),
        Work::One(req, license) => run_one(&ctx, &req, *license),
    }
}

fn run_batch(p: &Ctx, reqs: Vec<Request>, licenses: Vec<runtime::license::License>) -> Result<()> {
    let now = p.now;
    let bar = progress(reqs.len() as u64, "licenses");
    let mut reg = p.common.registry()?;
    p.signer.vet(&mut reg, &p.key, &p.key_path, now)?;
    let done = issue::issue_batch(&mut reg, &p.key, &reqs, licenses, &p.out, now, |n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();
    if p.common.json {
        let mut rows = Vec::with_capacity(done.ids.len());
        for id in &done.ids {
            let r = reg
                .get(id)?
                .with_context(|| format!("license {id} is missing from the registry"))?;
            rows.push(book::record_json(&r, now, 30));
        }
        print_json(&canon::Value::Array(rows));
    } else {
        let out = std::io::stdout();
        let mut w = std::io::BufWriter::new(out.lock());
        for id in &done.ids {
            let _ = writeln!(w, "{id}");
        }
    }
    eprintln!(
        "issued {} licenses into {}{}",
        done.issued.len(),
        p.out.display(),
        if done.already > 0 {
            format!(
                "; {} lines were already recorded by an earlier run (not issued again; {} had their files written again)",
                done.already, done.restored
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

fn run_one(p: &Ctx, req: &Request, license: runtime::license::License) -> Result<()> {
    let now = p.now;
    let mut reg = p.common.registry()?;
    p.signer.vet(&mut reg, &p.key, &p.key_path, now)?;
    if let Some(k) = &req.request_id {
        // Already recorded (an earlier run was interrupted, or this is a retry): the same
        // license, its files written again when missing; never a second license.
        if let Some(prior) = reg.recorded_requests(&[k.as_str()])?.remove(k) {
            factory::guard::check_reuse(k, &prior, &req.params(), &reg)?;
            let id = prior.license_id;
            let r = reg
                .get(&id)?
                .with_context(|| format!("license {id} is missing from the registry"))?;
            let restored = issue::restore_files(&r, &p.out, true)?;
            eprintln!(
                "request {k} was already recorded as license {id}; not issued again{}",
                if restored {
                    " (its files were written again)"
                } else {
                    ""
                }
            );
            if p.common.json {
                print_json(&book::record_json(&r, now, 30));
            } else {
                println!("{id}");
            }
            return Ok(());
        }
    }
    factory::guard::Guard::new(&reg, now).admit(req, &license)?;
    let mut signed = issue::sign(license, &p.key)?;
    signed.request = req.request_id.clone().map(|k| (k, req.params()));
    let paths = issue::record_one(&mut reg, None, &signed, "issued", &p.out, now)?;
    print_issued(&signed, &paths, p.common.json, now);
    Ok(())
}
