//! `example-product`: how a product gates its features with Airlock, in one call.
//!
//! ```text
//! example-product --trust trust.json --license DIR --state DIR [--root ROOT.pub]
//!                 [--feature F]... [--limit NAME=IN_USE]...
//! ```
//! It reads the clock once, calls `runtime::product::check` (trust, license, evaluation,
//! activation lease, clock and revocations from the state directory), prints the warnings
//! the operator must see, then asks for each `--feature` and, for each `--limit`, whether one
//! more may start with IN_USE already running. Every denial prints its own stable code (a
//! license not yet valid is `license_not_yet_valid`, not `license_expired`).

#![forbid(unsafe_code)]

use runtime::product::{check, Activation, Inputs};
use runtime::session::Clock;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: example-product --trust trust.json --license DIR --state DIR [--root ROOT.pub] [--feature F]... [--limit NAME=IN_USE]...

Exit codes: 0 every feature and limit asked for may be used; 2 the license or trust cannot be judged, or a usage error; 3 something asked for is denied (the product keeps serving existing data).";

struct Opts {
    trust: PathBuf,
    license: PathBuf,
    state: PathBuf,
    root: Option<PathBuf>,
    features: Vec<String>,
    limits: Vec<(String, u64)>,
}

fn opts() -> Result<Opts, String> {
    let mut it = std::env::args().skip(1);
    let (mut trust, mut license, mut state, mut root) = (None, None, None, None);
    let (mut features, mut limits) = (Vec::new(), Vec::new());
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--trust" => trust = Some(PathBuf::from(value()?)),
            "--license" => license = Some(PathBuf::from(value()?)),
            "--state" => state = Some(PathBuf::from(value()?)),
            "--root" => root = Some(PathBuf::from(value()?)),
            "--feature" => features.push(value()?),
            "--limit" => {
                let v = value()?;
                let parsed = v
                    .split_once('=')
                    .and_then(|(n, k)| Some((n.to_string(), k.parse::<u64>().ok()?)));
                limits.push(parsed.ok_or_else(|| format!("--limit {v:?} must be NAME=IN_USE"))?);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Opts {
        trust: trust.ok_or("--trust is required")?,
        license: license.ok_or("--license is required")?,
        state: state.ok_or("--state is required")?,
        root,
        features,
        limits,
    })
}

fn main() -> ExitCode {
    let o = match opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("example-product: {e}");
            return ExitCode::from(2);
        }
    };
    let trust = match std::fs::read(&o.trust) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("example-product: {}: {e}", o.trust.display());
            return ExitCode::from(2);
        }
    };
    let anchors = match o.root.as_ref().map(std::fs::read).transpose() {
        Ok(Some(text)) => match runtime::trust::RootSpec::parse(&text) {
            Ok(spec) => Some(runtime::trust::RootSpec::anchors(&[spec])),
            Err(e) => {
                eprintln!("example-product: --root: {e}");
                return ExitCode::from(2);
            }
        },
        Ok(None) => None,
        Err(e) => {
            eprintln!("example-product: --root: {e}");
            return ExitCode::from(2);
        }
    };
    // The product's glue reads the clock, once; the runtime never does.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let files = [trust.as_slice()];
    let mut inputs = Inputs::new(
        &files,
        &o.license,
        &o.state,
        Clock::System(canon::Timestamp(now)),
    );
    inputs.anchors = anchors.as_ref();
    let status = match check(&inputs) {
        Ok(s) => s,
        Err(r) => {
            eprintln!(
                "example-product: cannot judge the license [{}]: {r}",
                r.check.map_or("error", |c| c.as_str())
            );
            return ExitCode::from(2);
        }
    };
    let l = status.license.license();
    println!(
        "license {} ({} {}): {}",
        l.license_id,
        l.product,
        l.tier,
        status.state()
    );
    match &status.activation {
        Activation::Leased(lease, _) => {
            println!("activation: {}", lease.describe(canon::Timestamp(now)))
        }
        Activation::Floating(seat) => println!(
            "activation: floating seat {} from seat server pool {} until {}{}",
            seat.node.node_lease_id,
            seat.node.pool_activation_id,
            seat.node.not_after,
            if seat.node.borrowed {
                " (borrowed)"
            } else {
                ""
            }
        ),
        Activation::NotRequired => println!("activation: not required by this license"),
        Activation::Missing => println!("activation: missing"),
        Activation::Refused(code, _) => println!("activation: refused ({code})"),
    }
    for w in &status.warnings {
        eprintln!("warning: {w}");
    }
    let mut denied = false;
    for f in &o.features {
        match status.entitlements.check_feature(f) {
            Ok(()) => println!("feature {f}: allowed"),
            Err(d) => {
                denied = true;
                println!("feature {f}: denied ({}, HTTP {})", d.code, d.http_status);
            }
        }
    }
    for (name, in_use) in &o.limits {
        match status.entitlements.check_limit(name, *in_use) {
            Ok(()) => println!("one more of {name} ({in_use} in use): allowed"),
            Err(d) => {
                denied = true;
                println!(
                    "one more of {name} ({in_use} in use): denied ({}, HTTP {})",
                    d.code, d.http_status
                );
            }
        }
    }
    println!("existing data and configuration: always available");
    if denied {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}
