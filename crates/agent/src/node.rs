//! The agent as a node of a seat server (docs/FORMAT.md §20): `claim` asks the customer's
//! `airlock-seatd` for a floating seat (or renews the one this node holds, or borrows it),
//! verifies the answer through the vendor's chain before installing it, and `release` gives
//! the seat back.

use crate::cli::{fingerprint_of, instance_key, now, session};
use crate::client::Client;
use crate::online::{accept_installed, failed, fresh_request, json_of, For, Online};
use anyhow::{bail, Context, Result};
use canon::enc;
use runtime::activation::{installed_dir, Binding};
use runtime::floating::{NODE_LEASE_FILE, POOL_FILE, POOL_SIG};
use serde_json::{json, Value};
use std::path::Path;
use std::process::ExitCode;

/// `airlock-agent claim --seat-server URL --license DIR [--borrow-hours N]`.
pub fn claim_cmd(
    o: &Online<'_>,
    server: &str,
    license_dir: &Path,
    borrow_hours: Option<u64>,
    json: bool,
) -> Result<ExitCode> {
    let client = Client::new(server, o.ca)?;
    let license = accept_installed(o, license_dir)?;
    let (_, req) = fresh_request(o.state, &For::license(&license), "")?;
    let mut body = json!({ "request": json_of(&req)? });
    if let Some(h) = borrow_hours {
        body["borrow_seconds"] = json!(h.saturating_mul(3600));
    }
    let answer = match client.post("/v1/nodes/claim", &body) {
        Ok(a) => a,
        Err(f) => return failed("claim", &f, json),
    };
    let file = |name: &str| -> Result<Vec<u8>> {
        Ok(answer["files"][name]
            .as_str()
            .with_context(|| format!("the seat server's answer has no files.{name}"))?
            .as_bytes()
            .to_vec())
    };
    let (pool, sig, node) = (file(POOL_FILE)?, file(POOL_SIG)?, file(NODE_LEASE_FILE)?);
    // Verified here, as the product will verify it, before anything is installed.
    let mut s = session(o.trust, o.roots, o.state)?;
    let fp = fingerprint_of(&license.product, Some(o.state))?;
    let key = enc::b64(&instance_key(o.state, false)?.public_key());
    let b = Binding {
        product: &license.product,
        lineage_id: &license.lineage_id,
        fingerprint: &fp.value,
        instance_key: Some(&key),
    };
    let seat =
        runtime::floating::verify_node_seat(s.trust(), (&pool, &sig), &node, &b, s.known(), now()?)
            .map_err(|e| anyhow::anyhow!("REJECTED [{}]: {e}", e.code()))
            .context("the seat server's answer")?;
    s.record_activation(&seat.pool.value().lineage_id, seat.pool.value().sequence)?;
    s.commit()?;
    let dir = installed_dir(o.state, &license.product);
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    for (name, bytes) in [
        (POOL_SIG, &sig),
        (POOL_FILE, &pool),
        (NODE_LEASE_FILE, &node),
    ] {
        signing::fsutil::write_atomic(&dir.join(name), bytes, 0o644, true)
            .with_context(|| format!("{}", dir.display()))?;
    }
    if json {
        println!(
            "{}",
            json!({"valid": true, "check": null, "error": null, "command": "claim",
                   "node_lease_id": seat.node.node_lease_id, "new_seat": answer["new_seat"],
                   "not_after": seat.node.not_after, "borrowed": seat.node.borrowed,
                   "server_sequence": seat.node.server_sequence})
        );
    } else {
        println!(
            "{} floating seat {} of pool {} until {}{}",
            if answer["new_seat"] == Value::Bool(true) {
                "claimed"
            } else {
                "renewed"
            },
            seat.node.node_lease_id,
            seat.node.pool_activation_id,
            seat.node.not_after,
            if seat.node.borrowed {
                " (borrowed)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `airlock-agent release --seat-server URL --license DIR`: gives the seat back; the node
/// lease is removed (the product stops licensed work on this node).
pub fn release_cmd(
    o: &Online<'_>,
    server: &str,
    license_dir: &Path,
    json: bool,
) -> Result<ExitCode> {
    let client = Client::new(server, o.ca)?;
    let license = accept_installed(o, license_dir)?;
    let dir = installed_dir(o.state, &license.product);
    let node = std::fs::read(dir.join(NODE_LEASE_FILE))
        .with_context(|| format!("{}: no floating seat held here", dir.display()))?;
    let f = runtime::activation::SignedFile::parse("node lease", &node)?;
    let id = canon::parse(&f.canonical)?
        .get("node_lease_id")
        .and_then(canon::Value::as_str)
        .map(str::to_string)
        .context("the node lease has no node_lease_id")?;
    if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("the node lease's id is not hex");
    }
    let (_, req) = fresh_request(o.state, &For::license(&license), "")?;
    match client.post(
        &format!("/v1/nodes/{id}/release"),
        &json!({ "request": json_of(&req)? }),
    ) {
        Ok(_) => {}
        Err(f) => return failed("release", &f, json),
    }
    std::fs::remove_file(dir.join(NODE_LEASE_FILE))
        .with_context(|| format!("{}", dir.display()))?;
    if json {
        println!(
            "{}",
            json!({"valid": true, "check": null, "error": null, "command": "release", "node_lease_id": id, "released": true})
        );
    } else {
        println!("released floating seat {id}");
    }
    Ok(ExitCode::SUCCESS)
}
