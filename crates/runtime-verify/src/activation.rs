//! `runtime-verify activation`: every lease installed in a state directory, verified as the
//! product verifies it.

use crate::cli::*;
use anyhow::{Context, Result};
use canon::Value;
use clikit::input::clock;
use clikit::report::{self, n, s};
use clikit::Outcome;
use runtime::session::Session;
use runtime::Check;
use std::path::Path;
use std::process::ExitCode;

/// One installed lease's verdict.
pub(crate) struct LeaseVerdict {
    pub(crate) product: String,
    pub(crate) result: Result<runtime::activation::Lease>,
}

/// The products whose activation directory in `state` passes `holds`, sorted.
fn installed(state: &Path, holds: impl Fn(&Path) -> bool) -> Vec<String> {
    let root = state.join(runtime::activation::DIR);
    let mut products: Vec<String> = match std::fs::read_dir(&root) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| holds(&e.path()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    products.sort();
    products
}

/// Verifies every lease installed in the state directory against this machine.
pub(crate) fn check_leases(
    session: &mut Session,
    state: &Path,
    lineage: Option<&str>,
) -> Result<Vec<LeaseVerdict>> {
    let products = installed(state, |d| d.join(runtime::activation::LEASE_FILE).exists());
    let sources = runtime::fingerprint::Sources::system(Some(state));
    let mut out = Vec::new();
    for product in products {
        let result = runtime::activation::verify_installed(
            session.trust(),
            state,
            &product,
            lineage,
            &sources,
            session.known(),
            session.now(),
        )
        .map_err(anyhow::Error::new)
        .and_then(|lease| {
            let lease = lease.context("the lease vanished while it was read")?;
            session.record_activation(lease.value())?;
            Ok(lease)
        });
        out.push(LeaseVerdict { product, result });
    }
    Ok(out)
}

/// One installed node seat's verdict (a floating seat from a seat server, FORMAT.md §20).
pub(crate) struct NodeVerdict {
    pub(crate) product: String,
    pub(crate) result: Result<runtime::floating::NodeSeat>,
}

/// Verifies every node seat installed in the state directory (products with a node lease and
/// no machine lease) against this machine, recording each pool lease.
pub(crate) fn check_nodes(
    session: &mut Session,
    state: &Path,
    lineage: Option<&str>,
) -> Result<Vec<NodeVerdict>> {
    let products = installed(state, |d| {
        d.join(runtime::floating::NODE_LEASE_FILE).exists()
            && !d.join(runtime::activation::LEASE_FILE).exists()
    });
    let sources = runtime::fingerprint::Sources::system(Some(state));
    let mut out = Vec::new();
    for product in products {
        let result = runtime::floating::verify_installed_node(
            session.trust(),
            state,
            &product,
            lineage,
            &sources,
            session.known(),
            session.now(),
        )
        .map_err(anyhow::Error::new)
        .and_then(|seat| {
            let seat = seat.context("the node lease vanished while it was read")?;
            let pool = seat.pool.value();
            session.record_activation(pool)?;
            Ok(seat)
        });
        out.push(NodeVerdict { product, result });
    }
    Ok(out)
}

fn node_json(v: &NodeVerdict) -> Result<Value> {
    match &v.result {
        Ok(seat) => report::object(vec![
            ("product", s(&v.product)),
            ("kind", s("node")),
            ("valid", Value::Bool(true)),
            ("check", Value::Null),
            ("error", Value::Null),
            ("node_lease_id", s(&seat.node.node_lease_id)),
            ("pool_activation_id", s(&seat.node.pool_activation_id)),
            ("license_id", s(&seat.pool.value().license_id)),
            ("server_sequence", n(seat.node.server_sequence)),
            ("borrowed", Value::Bool(seat.node.borrowed)),
            ("not_after", s(&seat.node.not_after)),
        ]),
        Err(e) => report::object(vec![
            ("product", s(&v.product)),
            ("kind", s("node")),
            ("valid", Value::Bool(false)),
            ("check", Outcome::of(e).code().map_or(Value::Null, s)),
            ("error", s(format!("{e:#}"))),
        ]),
    }
}

/// The `--json` report of `activation`.
fn print_report(
    state: &Path,
    (verdicts, nodes): (&[LeaseVerdict], &[NodeVerdict]),
    (ok, missing): (bool, bool),
    now: canon::Timestamp,
) -> Result<()> {
    let items = verdicts
        .iter()
        .map(|v| match &v.result {
            Ok(l) => report::object(vec![
                ("product", s(&v.product)),
                ("kind", s("machine")),
                ("valid", Value::Bool(true)),
                ("check", Value::Null),
                ("error", Value::Null),
                ("activation_id", s(&l.value().activation_id)),
                ("license_id", s(&l.value().license_id)),
                ("sequence", n(l.value().sequence)),
                ("not_after", s(&l.value().not_after)),
                (
                    "build_keys",
                    Value::Array(l.value().grants.iter().map(|g| s(&g.bundle_id)).collect()),
                ),
                (
                    "renew_due",
                    Value::Bool(l.state_at(now) == runtime::activation::LeaseState::RenewDue),
                ),
                (
                    "days_remaining",
                    Value::Number(l.days_remaining(now) as f64),
                ),
            ]),
            Err(e) => report::object(vec![
                ("product", s(&v.product)),
                ("kind", s("machine")),
                ("valid", Value::Bool(false)),
                ("check", Outcome::of(e).code().map_or(Value::Null, s)),
                ("error", s(format!("{e:#}"))),
            ]),
        })
        .chain(nodes.iter().map(node_json))
        .collect::<Result<Vec<_>>>()?;
    report::print_json(&report::object(vec![
        ("valid", Value::Bool(ok)),
        (
            "check",
            if missing && !ok {
                s(Check::ActivationMissing)
            } else {
                Value::Null
            },
        ),
        (
            "error",
            if missing && !ok {
                s("no activation installed in the state directory")
            } else if ok {
                Value::Null
            } else {
                s("an installed activation was refused (see activations)")
            },
        ),
        ("state", s(state.display())),
        ("activations", Value::Array(items)),
    ])?);
    Ok(())
}

pub(crate) fn activation_cmd(c: Common, license: Option<&Path>) -> Result<ExitCode> {
    let Some(state) = c.state.clone() else {
        // A usage error, reported like every other failure (the JSON report under --json).
        let e = anyhow::anyhow!(
            "--state is required: activations are installed in the state directory"
        );
        return reject(c.json, "state", Path::new("(none)"), &e);
    };
    let result = (|| {
        let mut session = begin_session(&c.trust, Some(&state), clock(c.at.as_deref())?)?;
        let lic = match license {
            Some(dir) => Some(check_license(
                &mut session,
                dir,
                c.allow_legacy,
                runtime::license::DEFAULT_WARN_DAYS,
            )?),
            None => None,
        };
        let lineage = lic.as_ref().map(|(v, _)| v.license().lineage_id.clone());
        let verdicts = check_leases(&mut session, &state, lineage.as_deref())?;
        let nodes = check_nodes(&mut session, &state, lineage.as_deref())?;
        session.commit()?;
        Ok::<_, anyhow::Error>((lic, (verdicts, nodes), session_now(&c)?))
    })();
    let (lic, (verdicts, nodes), now) = match result {
        Ok(x) => x,
        Err(e) => return reject(c.json, "state", &state, &e),
    };
    let required = lic
        .as_ref()
        .is_some_and(|(v, _)| v.license().activation_required());
    let mut ok =
        verdicts.iter().all(|v| v.result.is_ok()) && nodes.iter().all(|v| v.result.is_ok());
    let missing = verdicts.is_empty() && nodes.is_empty();
    if missing && (required || lic.is_none()) {
        ok = false;
    }
    if c.json {
        print_report(&state, (&verdicts, &nodes), (ok, missing), now)?;
    }
    if missing {
        if !c.json {
            println!(
                "{}: no activation installed{}",
                state.display(),
                if ok {
                    " (this license does not require one)"
                } else {
                    ""
                }
            );
        }
        if !ok {
            eprintln!("runtime-verify: {}: REJECTED [{}]: no activation is installed; run `airlock-agent request --license LICENSE_DIR --state {} --out request.json`", state.display(), Check::ActivationMissing, state.display());
        }
    }
    let described = verdicts
        .iter()
        .map(|v| (&v.product, v.result.as_ref().map(|l| l.describe(now))))
        .chain(nodes.iter().map(|v| {
            let d = v.result.as_ref().map(|seat| {
                format!(
                    "floating seat {} from seat server pool {} (server sequence {}) until {}{}",
                    seat.node.node_lease_id,
                    seat.node.pool_activation_id,
                    seat.node.server_sequence,
                    seat.node.not_after,
                    if seat.node.borrowed { ", borrowed" } else { "" }
                )
            });
            (&v.product, d)
        }));
    for (product, result) in described {
        match result {
            Ok(text) if !c.json => println!("{product}: VALID — {text}"),
            Ok(_) => {}
            Err(e) => {
                let code = Outcome::of(e);
                eprintln!(
                    "runtime-verify: {product}: REJECTED [{}]: {e:#}",
                    code.code().unwrap_or("error")
                );
                if let Outcome::Rejected(check) = code {
                    eprintln!(
                        "activation not accepted: {}",
                        clikit::outcome::advice(check)
                    );
                }
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(clikit::outcome::EXIT_REJECTED)
    })
}
