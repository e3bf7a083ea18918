//! Load generator for `scripts/load-bench.sh`: activations then renewals against a running
//! `airlock-server`, over the loopback, bounded in count and time. Prints throughput and
//! p50/p99 latency per phase (one line of JSON each).
//!
//! `load URL LICENSE_DIR MACHINES RENEWALS THREADS`: MACHINES fresh instance keys each ask
//! for a seat of the license (requests signed here, as the agent signs them), then THREADS
//! clients renew those seats until RENEWALS renewals were answered (or 60 s passed). Every
//! renewal carries a fresh request (its own id, signed by the machine's key), as the agent's
//! does; they are all signed before the clock starts, since a real agent signs on its own
//! machine, not on the service's cores.

use canon::{enc, Kind, Role, Timestamp};
use rand_core::{OsRng, RngCore};
use runtime::activation::{ActivationRequest, SignedFile, REQUEST_TYPE};
use runtime::license::License;
use runtime::Artifact;
use signing::SecretKey;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One machine: its instance key and fingerprint.
struct Machine {
    key: SecretKey,
    fingerprint: String,
}

impl Machine {
    fn new(now: Timestamp) -> Machine {
        let mut fp = [0u8; 32];
        OsRng.fill_bytes(&mut fp);
        Machine {
            key: SecretKey::generate("load", Role::Instance, now).unwrap(),
            fingerprint: format!("fp1:{}", enc::hex(&fp)),
        }
    }
}

/// A request body from `m` with a fresh request id, signed by its key.
fn request(license: &License, m: &Machine, now: Timestamp) -> Vec<u8> {
    let key = &m.key;
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    let req = ActivationRequest {
        doc_type: REQUEST_TYPE.into(),
        request_id: enc::hex(&b),
        license_id: license.license_id.clone(),
        license_key: license.license_key.clone(),
        lineage_id: license.lineage_id.clone(),
        product: license.product.clone(),
        workspace: license.workspace.clone(),
        fingerprint: m.fingerprint.clone(),
        fingerprint_source: "instance-id".into(),
        instance_public_key: enc::b64(&key.public_key()),
        label: String::new(),
        created_at: now.to_string(),
        install_token_id: None,
        encryption_public_key: None,
        builds: Vec::new(),
        pool: false,
        components: Default::default(),
        environment: None,
    };
    let canonical = req.to_canonical();
    let envelope = key
        .sign_document(Kind::ActivationRequest, &canonical)
        .unwrap();
    let file = SignedFile {
        canonical,
        envelope,
    }
    .to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&file).unwrap();
    serde_json::to_vec(&serde_json::json!({ "request": v })).unwrap()
}

/// One client's activations: latencies, the seats it got (machine index, id), errors.
type Phase = (Vec<Duration>, Vec<(usize, String)>, usize);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn post(a: &ureq::Agent, url: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut r = a
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let s = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (
        s,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

fn report(phase: &str, mut lat: Vec<Duration>, wall: Duration, errors: usize) {
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{}",
        serde_json::json!({
            "phase": phase,
            "count": lat.len(),
            "errors": errors,
            "seconds": (wall.as_secs_f64() * 1000.0).round() / 1000.0,
            "per_second": (lat.len() as f64 / wall.as_secs_f64()).round(),
            "p50_ms": (pct(0.50) * 100.0).round() / 100.0,
            "p99_ms": (pct(0.99) * 100.0).round() / 100.0,
        })
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, dir, machines, renewals, threads] = &args[..] else {
        eprintln!("usage: load URL LICENSE_DIR MACHINES RENEWALS THREADS");
        std::process::exit(2);
    };
    let (machines, renewals, threads): (usize, usize, usize) = (
        machines.parse().unwrap(),
        renewals.parse().unwrap(),
        threads.parse().unwrap(),
    );
    let doc = std::fs::read(std::path::Path::new(dir).join("license.json")).unwrap();
    let (license, _, _) = License::parse(&doc).unwrap();
    let now = Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let fleet: Vec<Machine> = (0..machines).map(|_| Machine::new(now)).collect();
    let bodies: Vec<Vec<u8>> = fleet.iter().map(|m| request(&license, m, now)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);

    // Activations: THREADS clients, each a share of the machines.
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<Phase> = std::thread::scope(|s| {
        (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let a = agent();
                    let (mut lat, mut seats, mut errors) = (Vec::new(), Vec::new(), 0);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= bodies.len() || Instant::now() > deadline {
                            break;
                        }
                        let t = Instant::now();
                        let (st, v) = post(&a, &format!("{url}/v1/activations"), &bodies[i]);
                        lat.push(t.elapsed());
                        match (st, v["activation_id"].as_str()) {
                            (200 | 201, Some(id)) => seats.push((i, id.to_string())),
                            _ => errors += 1,
                        }
                    }
                    (lat, seats, errors)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    });
    let wall = started.elapsed();
    let mut lat = Vec::new();
    let mut seats = Vec::new();
    let mut errors = 0;
    for (l, s, e) in results {
        lat.extend(l);
        seats.extend(s);
        errors += e;
    }
    report("activations", lat, wall, errors);
    if seats.is_empty() {
        eprintln!("no seat: nothing to renew");
        std::process::exit(1);
    }

    // Renewals: each client renews seats round-robin, each renewal with a fresh request signed
    // by the seat's machine (the proof of possession).
    let renewal_bodies: Vec<Vec<u8>> = (0..renewals)
        .map(|n| request(&license, &fleet[seats[n % seats.len()].0], now))
        .collect();
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|s| {
        (0..threads)
            .map(|_| {
                let (seats, bodies, done) = (&seats, &renewal_bodies, &done);
                s.spawn(move || {
                    let a = agent();
                    let (mut lat, mut errors) = (Vec::new(), 0);
                    loop {
                        let n = done.fetch_add(1, Ordering::Relaxed);
                        if n >= renewals || Instant::now() > deadline {
                            break;
                        }
                        let (_, id) = &seats[n % seats.len()];
                        let t0 = Instant::now();
                        let (st, _) =
                            post(&a, &format!("{url}/v1/activations/{id}/renew"), &bodies[n]);
                        lat.push(t0.elapsed());
                        if st != 200 {
                            errors += 1;
                        }
                    }
                    (lat, errors)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    });
    let wall = started.elapsed();
    let mut lat = Vec::new();
    let mut errors = 0;
    for (l, e) in results {
        lat.extend(l);
        errors += e;
    }
    report("renewals", lat, wall, errors);
}
