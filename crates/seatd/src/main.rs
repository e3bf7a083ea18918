//! `airlock-seatd`: the seat server a customer runs inside its network (docs/FORMAT.md §20).
//! It is activated once like a machine, with a pool lease (`airlock-agent request --pool`,
//! then the vendor's fulfilment and `airlock-agent install` into its state directory), and
//! leases floating seats to nodes: each claim is a request signed by the node's instance key,
//! each answer a node lease signed by the server's instance key, which the node verifies through
//! the vendor's chain. Seats are short leases kept alive by the node's renewals; a silent node's
//! seat frees itself when its lease ends. The server refuses to lease while its clock is behind
//! what it already signed, and keeps a hash-chained log of every lease.

#![forbid(unsafe_code)]

mod store;

use anyhow::{bail, Context, Result};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use canon::{enc, Kind, Timestamp};
use runtime::activation::{check_request, Activation, ActivationRequest, Freshness, SignedFile};
use runtime::format_floating::{NodeLease, PoolTerms, NODE_LEASE_TYPE};
use runtime::refusal::Code;
use runtime::Artifact;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use store::{Claim, Store};

#[derive(clap::Parser)]
#[command(
    name = "airlock-seatd",
    version,
    about = "Airlock: the seat server that leases floating seats to nodes inside your network"
)]
struct Args {
    /// The state directory where its pool lease is installed (`airlock-agent request --pool`,
    /// then `airlock-agent install`), with its instance key
    #[arg(long)]
    state: PathBuf,
    /// Trust file (trust.json); repeat it to pass a chain
    #[arg(long, required = true)]
    trust: Vec<PathBuf>,
    /// The vendor's root for a first use of the state directory
    #[arg(long, value_name = "KEY_ID_OR_PUB")]
    root: Vec<String>,
    /// The license directory the pool serves (license.json): a node proves it holds the
    /// license by the key its request carries
    #[arg(long)]
    license: PathBuf,
    /// Address to listen on (127.0.0.1:0 takes a free port)
    #[arg(long)]
    listen: SocketAddr,
    /// The seat records (default: STATE/seats.db)
    #[arg(long)]
    db: Option<PathBuf>,
    /// Node lease length in minutes (at most the pool's) [default: 15]
    #[arg(long, value_name = "N")]
    lease_minutes: Option<u64>,
}

/// What the server leases under.
struct Pool {
    lease: Activation,
    /// SHA-256 of the served license's key: a node's request must carry that key.
    license_key: [u8; 32],
    terms: PoolTerms,
    doc: String,
    sig: String,
    key: signing::SecretKey,
    lease_secs: i64,
    store: Mutex<Store>,
}

fn now() -> Timestamp {
    signing::clock::now().unwrap_or(Timestamp(0))
}

/// The installed pool lease of this machine (verified as the runtime verifies a lease), its
/// files and the instance key that signs node leases.
fn load(a: &Args) -> Result<Pool> {
    let files = a
        .trust
        .iter()
        .map(|p| clikit::input::read_capped(p, runtime::trust::MAX_TRUST_BYTES as u64))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
    let anchors = clikit::input::root_anchors(&a.root, Some(&a.state), false)?;
    let mut session = runtime::session::Session::begin(
        Some(&a.state),
        runtime::session::Clock::System(now()),
        &refs,
        anchors.as_ref(),
    )
    .context("trust")?;
    let (doc, sig, lic_path) = clikit::input::read_license(&a.license, None)?;
    let license = runtime::license::verify_license(
        session.trust(),
        &doc,
        sig.as_deref(),
        &runtime::license::LegacyPolicy::default(),
        session.now(),
    )
    .with_context(|| format!("{}", lic_path.display()))?;
    session.accept_license(&license)?;
    let license = license.license().clone();
    let root = a.state.join(runtime::activation::DIR);
    let sources = runtime::fingerprint::Sources::system(Some(&a.state));
    for e in std::fs::read_dir(&root)
        .with_context(|| format!("{}: no activation installed", root.display()))?
    {
        let dir = e?.path();
        let product = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let Some(lease) = runtime::activation::verify_installed(
            session.trust(),
            &a.state,
            &product,
            None,
            &sources,
            session.known(),
            session.now(),
        )
        .map_err(|r| anyhow::anyhow!("{r}"))?
        else {
            continue;
        };
        let Some(terms) = lease.value().pool else {
            continue;
        };
        if lease.value().lineage_id != license.lineage_id {
            bail!(
                "{}: the pool lease is for lineage {}, the license for {}",
                a.license.display(),
                lease.value().lineage_id,
                license.lineage_id
            );
        }
        let key = signing::SecretKey::load(&a.state.join("agent/instance.key"))?;
        if enc::b64(&key.public_key()) != lease.value().instance_public_key {
            bail!("the pool lease names another instance key than this state directory's");
        }
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .with_context(|| format!("{}", dir.join(f).display()))
        };
        let minutes = a.lease_minutes.unwrap_or(15);
        let lease_secs = (minutes.saturating_mul(60)).min(terms.max_node_lease_seconds) as i64;
        if lease_secs < 60 {
            bail!("--lease-minutes must be at least 1");
        }
        let db = a.db.clone().unwrap_or_else(|| a.state.join("seats.db"));
        return Ok(Pool {
            license_key: canon::enc::sha256(license.license_key.as_bytes()),
            doc: read(runtime::activation::LEASE_FILE)?,
            sig: read(runtime::activation::LEASE_SIG)?,
            lease: lease.value().clone(),
            terms,
            key,
            lease_secs,
            store: Mutex::new(Store::open(&db)?),
        });
    }
    bail!(
        "{}: no pool lease installed: make a request with `airlock-agent request --pool`, have the vendor fulfil it, and install it with `airlock-agent install`",
        a.state.display()
    )
}

struct ApiError(Code, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            Json(json!({"error": {"code": self.0.as_str(), "message": self.1}})),
        )
            .into_response()
    }
}

fn internal(e: anyhow::Error) -> ApiError {
    ApiError(Code::Internal, format!("{e:#}"))
}

/// The node's request in a body: verified (its instance key), fresh (5 minutes), for this pool.
fn node_request(p: &Pool, body: &Value, now: Timestamp) -> Result<ActivationRequest, ApiError> {
    let file = serde_json::to_vec(
        body.get("request")
            .ok_or_else(|| ApiError(Code::BadRequest, "the body needs request".into()))?,
    )
    .map_err(|e| ApiError(Code::BadRequest, e.to_string()))?;
    // A node signs a request for each call: it is the call's credential.
    let req = check_request(&file, now, Freshness::Credential)
        .map_err(|r| ApiError(r.code, r.message))?;
    if req.product != p.lease.product || req.lineage_id != p.lease.lineage_id {
        return Err(ApiError(
            Code::LicenseMismatch,
            format!(
                "this seat server leases {} of lineage {}",
                p.lease.product, p.lease.lineage_id
            ),
        ));
    }
    // Only a node holding the license claims or frees its seats (digests compared in full).
    if !enc::same_secret(&enc::sha256(req.license_key.as_bytes()), &p.license_key) {
        return Err(ApiError(
            Code::LicenseNotFound,
            "the request does not carry the key of the license this seat server serves".into(),
        ));
    }
    Ok(req)
}

async fn claim(State(p): State<Arc<Pool>>, Json(body): Json<Value>) -> Result<Response, ApiError> {
    let now = now();
    let req = node_request(&p, &body, now)?;
    let borrow = match body.get("borrow_seconds") {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ApiError(
                Code::BadRequest,
                format!("borrow_seconds must be a whole number of seconds, not {v}"),
            )
        })?),
    };
    let secs = match borrow {
        Some(0) | None => p.lease_secs,
        Some(s) if s <= p.terms.max_borrow_seconds => s as i64,
        Some(s) => {
            return Err(ApiError(
                Code::BadRequest,
                format!(
                    "a borrow of {s} s is longer than the pool allows ({} s)",
                    p.terms.max_borrow_seconds
                ),
            ))
        }
    };
    let pool_end = Timestamp::parse(&p.lease.not_after).unwrap_or(now);
    let secs = secs.min(pool_end.0 - now.0);
    if secs <= 0 {
        return Err(ApiError(
            Code::Unavailable,
            "the pool lease has ended: the seat server renews it with the vendor".into(),
        ));
    }
    let borrowed = borrow.is_some_and(|s| s > 0);
    let decided = p
        .store
        .lock()
        .map_err(|_| internal(anyhow::anyhow!("the store is poisoned")))?
        .claim(
            (&req.fingerprint, &req.instance_public_key),
            now,
            (secs, borrowed),
            p.terms.seats,
        )
        .map_err(internal)?;
    let (seat, sequence, new) = match decided {
        Claim::Granted { seat, sequence, new } => (seat, sequence, new),
        Claim::Full(n) => return Err(ApiError(Code::PoolFull, format!("all {n} floating seats are held"))),
        Claim::Taken => {
            return Err(ApiError(Code::SeatTaken, "this node's fingerprint holds a seat under another instance key".into()))
        }
        Claim::ClockBack(floor) => {
            return Err(ApiError(
                Code::ServerClockBack,
                format!("the seat server's clock ({now}) is behind what it signed ({floor}): it leases nothing until the clock is right"),
            ))
        }
    };
    let node = NodeLease {
        doc_type: NODE_LEASE_TYPE.into(),
        node_lease_id: seat.id.clone(),
        pool_activation_id: p.lease.activation_id.clone(),
        lineage_id: p.lease.lineage_id.clone(),
        product: p.lease.product.clone(),
        node_fingerprint: seat.fingerprint.clone(),
        node_public_key: seat.node_key.clone(),
        server_public_key: p.lease.instance_public_key.clone(),
        server_sequence: sequence,
        server_time: now.to_string(),
        issued_at: now.to_string(),
        not_after: seat.not_after.to_string(),
        borrowed: seat.borrowed,
    };
    node.validate().map_err(|e| internal(e.into()))?;
    let canonical = node.to_canonical();
    let envelope = p
        .key
        .sign_document(Kind::NodeLease, &canonical)
        .map_err(|e| internal(e.into()))?;
    let file = SignedFile {
        canonical,
        envelope,
    }
    .to_bytes();
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "node_lease_id": seat.id, "new_seat": new, "not_after": seat.not_after.to_string(),
            "server_sequence": sequence, "borrowed": seat.borrowed,
            "files": {"pool.json": p.doc, "pool.sig": p.sig, "node-lease.json": String::from_utf8_lossy(&file)},
        })),
    )
        .into_response())
}

async fn release(
    State(p): State<Arc<Pool>>,
    UrlPath(id): UrlPath<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let now = now();
    let req = node_request(&p, &body, now)?;
    let done = p
        .store
        .lock()
        .map_err(|_| internal(anyhow::anyhow!("the store is poisoned")))?
        .release(&id, (&req.fingerprint, &req.instance_public_key), now)
        .map_err(internal)?;
    if !done {
        return Err(ApiError(
            Code::ActivationNotFound,
            format!("this node holds no live seat {id}"),
        ));
    }
    Ok(Json(json!({"node_lease_id": id, "released": true})).into_response())
}

async fn health(State(p): State<Arc<Pool>>) -> Result<Response, ApiError> {
    let store = p
        .store
        .lock()
        .map_err(|_| internal(anyhow::anyhow!("the store is poisoned")))?;
    let live = store.live(now()).map_err(internal)?;
    let log = store.verify_log().map_err(internal)?;
    Ok(Json(json!({"status": "ok", "pool": p.lease.activation_id, "seats": p.terms.seats, "in_use": live.len(), "log_entries": log})).into_response())
}

/// The seat server's exit codes, at the end of its `--help`.
const EXIT_CODES: &str = "Exit codes: 0 stopped (SIGINT); 2 error: a configuration, usage or startup error (no pool lease installed, a trust or state problem).";

fn main() -> ExitCode {
    clikit::main("airlock-seatd", || {
        let args: Args = clikit::parse::parse(EXIT_CODES);
        let pool = Arc::new(load(&args)?);
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(async {
            let app = Router::new()
                .route("/v1/nodes/claim", post(claim))
                .route("/v1/nodes/{id}/release", post(release))
                .route("/healthz", get(health))
                .with_state(pool.clone());
            let listener = tokio::net::TcpListener::bind(args.listen).await?;
            println!(
                "airlock-seatd listening on http://{} (pool {}, {} seats)",
                listener.local_addr()?,
                pool.lease.activation_id,
                pool.terms.seats
            );
            use std::io::Write;
            std::io::stdout().flush()?;
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
            Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
        })
    })
}
