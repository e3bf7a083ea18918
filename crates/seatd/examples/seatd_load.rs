//! Load for `airlock-seatd` (scripts/seatd-load.sh runs it): `--nodes` nodes, each with its own
//! instance key, claim a seat, then renew it as fast as `--threads` keep-alive connections
//! allow for `--seconds`; prints the renewals per second and the latency percentiles as one
//! JSON line. Each node signs one request and sends it with each of its calls (a request is a
//! credential for five minutes), so the figure is the server's, not the client's signing.
//! Bounded: the loopback only, a fixed number of nodes, threads and seconds.

use anyhow::{bail, Context, Result};
use canon::{enc, Kind, Role, Timestamp};
use runtime::activation::{ActivationRequest, SignedFile};
use runtime::Artifact;
use std::time::{Duration, Instant};

struct Opts {
    url: String,
    license: std::path::PathBuf,
    nodes: usize,
    threads: usize,
    seconds: u64,
}

fn opts() -> Result<Opts> {
    let mut o = Opts {
        url: String::new(),
        license: Default::default(),
        nodes: 200,
        threads: 8,
        seconds: 10,
    };
    let mut a = std::env::args().skip(1);
    while let Some(k) = a.next() {
        let v = a.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--url" => o.url = v,
            "--license" => o.license = v.into(),
            "--nodes" => o.nodes = v.parse()?,
            "--threads" => o.threads = v.parse()?,
            "--seconds" => o.seconds = v.parse()?,
            _ => bail!("unknown option {k}"),
        }
    }
    if !o.url.starts_with("http://127.") || o.nodes == 0 || o.threads == 0 || o.seconds > 120 {
        bail!("usage: --url http://127.0.0.1:PORT --license DIR [--nodes N] [--threads T] [--seconds S<=120]");
    }
    Ok(o)
}

/// A claim body for node `i`, signed now with a key of its own.
fn body(lic: &serde_json::Value, i: usize, now: Timestamp) -> Result<Vec<u8>> {
    let key = signing::SecretKey::generate("load-node", Role::Instance, now)?;
    let s = |k: &str| lic[k].as_str().unwrap_or_default().to_string();
    let req = ActivationRequest {
        doc_type: "airlock-activation-request".into(),
        request_id: format!("{i:032x}"),
        license_id: s("license_id"),
        license_key: s("license_key"),
        lineage_id: s("lineage_id"),
        product: s("product"),
        workspace: "default".into(),
        fingerprint: runtime::fingerprint::derive(
            format!("load-node-{i}").as_bytes(),
            &s("product"),
        ),
        fingerprint_source: "instance-id".into(),
        instance_public_key: enc::b64(&key.public_key()),
        label: format!("load-{i}"),
        created_at: now.to_string(),
        install_token_id: None,
        encryption_public_key: None,
        builds: Vec::new(),
        pool: false,
        components: Default::default(),
        environment: None,
    };
    let canonical = req.to_canonical();
    let file = SignedFile {
        envelope: key.sign_document(Kind::ActivationRequest, &canonical)?,
        canonical,
    };
    let request: serde_json::Value = serde_json::from_slice(&file.to_bytes())?;
    Ok(serde_json::to_vec(
        &serde_json::json!({ "request": request }),
    )?)
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<(u16, Duration)> {
    let t = Instant::now();
    let mut r = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)?;
    let status = r.status().as_u16();
    r.body_mut().read_to_vec()?;
    Ok((status, t.elapsed()))
}

fn main() -> Result<()> {
    let o = opts()?;
    let lic: serde_json::Value =
        serde_json::from_slice(&std::fs::read(o.license.join("license.json"))?)?;
    let lic: serde_json::Value = match lic.get("license") {
        Some(inner) => inner.clone(),
        None => lic,
    };
    let now = Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64,
    );
    let bodies: Vec<Vec<u8>> = (0..o.nodes)
        .map(|i| body(&lic, i, now))
        .collect::<Result<_>>()?;
    let url = format!("{}/v1/nodes/claim", o.url.trim_end_matches('/'));
    let agent = || -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into()
    };
    // Every node takes its seat first.
    let a = agent();
    for b in &bodies {
        let (st, _) = post(&a, &url, b)?;
        if st != 201 && st != 200 {
            bail!("a claim was answered {st}: is the pool at least --nodes seats?");
        }
    }
    // Then renewals, round robin over each thread's nodes, for the time given.
    let end = Instant::now() + Duration::from_secs(o.seconds);
    let started = Instant::now();
    let results: Vec<Result<(Vec<Duration>, u64)>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..o.threads)
            .map(|t| {
                let (bodies, url) = (&bodies, &url);
                let a = agent();
                sc.spawn(move || -> Result<(Vec<Duration>, u64)> {
                    let mine: Vec<&Vec<u8>> = bodies.iter().skip(t).step_by(o.threads).collect();
                    let (mut lat, mut errors) = (Vec::new(), 0u64);
                    let mut k = 0;
                    while Instant::now() < end && !mine.is_empty() {
                        let (st, d) = post(&a, url, mine[k % mine.len()])?;
                        if st == 200 {
                            lat.push(d);
                        } else {
                            errors += 1;
                        }
                        k += 1;
                    }
                    Ok((lat, errors))
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("a load thread"))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for r in results {
        let (l, e) = r?;
        lat.extend(l);
        errors += e;
    }
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        serde_json::json!({
            "nodes": o.nodes, "threads": o.threads, "seconds": elapsed,
            "renewals": lat.len(), "errors": errors,
            "renewals_per_second": (lat.len() as f64 / elapsed).round(),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": pct(1.0),
        })
    );
    Ok(())
}
