//! `airlock-seatd`, the seat server a customer runs inside its network (docs/FORMAT.md §20).
//! It is activated once like a machine, with a pool lease (`airlock-agent request --pool`,
//! then the vendor's fulfilment and `airlock-agent install` into its state directory), and
//! leases floating seats to nodes: each claim is a request signed by the node's instance key,
//! each answer a node lease signed by the server's instance key, which the node verifies through
//! the vendor's chain. Seats are short leases kept alive by the node's renewals; a silent node's
//! seat frees itself when its lease ends. The server refuses to lease while its clock is behind
//! what it already signed, and keeps a hash-chained log of every lease.

#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod export;
pub mod pool;
pub mod store;
pub mod writer;

use anyhow::{bail, Context, Result};
use axum::routing::{delete, get, post, put};
use axum::Router;
use canon::Timestamp;
use runtime::activation::Activation;
use runtime::format_floating::PoolTerms;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pool: pool::PoolArgs,
    /// Address to listen on (127.0.0.1:0 takes a free port)
    #[arg(long)]
    listen: SocketAddr,
    /// Node lease length in minutes (at most the pool's) [default: 15]
    #[arg(long, value_name = "N")]
    lease_minutes: Option<u64>,
    /// How long a node refused by a full pool waits before asking again (its Retry-After)
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    retry_seconds: u64,
    /// A file holding the admin credential (at least 32 characters, mode 0600); without it
    /// the admin API is off
    #[arg(long, value_name = "FILE")]
    admin_credential: Option<PathBuf>,
    /// TLS certificate chain (PEM); with --tls-key. Without both: plain HTTP
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); with --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// What the server leases under, and its handles.
pub struct Pool {
    lease: Activation,
    /// SHA-256 of the served license's key: a node's request must carry that key.
    license_key: [u8; 32],
    terms: PoolTerms,
    doc: String,
    sig: String,
    key: signing::SecretKey,
    lease_secs: i64,
    writer: writer::Writer,
    /// SHA-256 of the admin credential; `None`: the admin API is off.
    admin: Option<[u8; 32]>,
    backend: &'static str,
    metrics: api::Metrics,
    /// A full pool's Retry-After, in seconds.
    retry_seconds: u64,
    /// The served license's limits (its rules for VMs and containers, FORMAT.md §21).
    limits: std::collections::BTreeMap<String, u64>,
}

pub(crate) fn now() -> Timestamp {
    signing::clock::now().unwrap_or(Timestamp(0))
}

/// The server's pool, opened, and its handles for serving.
fn load(a: &ServeArgs) -> Result<Pool> {
    let o = pool::open(&a.pool)?;
    let minutes = a.lease_minutes.unwrap_or(15);
    let lease_secs = (minutes.saturating_mul(60)).min(o.terms.max_node_lease_seconds) as i64;
    if lease_secs < 60 {
        bail!("--lease-minutes must be at least 1");
    }
    let backend = o.conn.dialect().as_str();
    let scope = writer::Scope {
        pool: o.lease.lineage_id.clone(),
        server: o.lease.activation_id.clone(),
        seats: o.terms.seats,
    };
    let admin = match &a.admin_credential {
        Some(p) => Some(signing::keyfile::read_credential(p)?),
        None => None,
    };
    Ok(Pool {
        license_key: canon::enc::sha256(o.license.license_key.as_bytes()),
        limits: o.license.limits.clone(),
        doc: o.doc,
        sig: o.sig,
        lease: o.lease,
        terms: o.terms,
        key: o.key,
        lease_secs,
        writer: writer::Writer::start(o.conn, scope, Arc::new(now))?,
        admin,
        backend,
        metrics: api::Metrics::default(),
        retry_seconds: a.retry_seconds,
    })
}

/// The seat server's exit codes, at the end of its `--help`.
pub const EXIT_CODES: &str = "Exit codes: serve: 0 stopped (SIGINT or SIGTERM); 2 error: a configuration, usage or startup error (no pool lease installed, a trust or state problem). admin: 0 done; 1 refused (the code printed); 2 error; 4 the seat server was unreachable or failed.";

/// `airlock-seatd serve`: leases until SIGINT or SIGTERM.
pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let pool = Arc::new(load(&args)?);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let app = Router::new()
            .route("/v1/nodes/claim", post(api::claim))
            .route("/v1/nodes/{id}/release", post(api::release))
            .route("/v1/admin/seats", get(admin::seats))
            .route("/v1/admin/seats/{id}/release", post(admin::release))
            .route("/v1/admin/reservations/{name}", put(admin::reserve))
            .route("/v1/admin/reservations/{name}", delete(admin::unreserve))
            .route("/v1/admin/log", get(admin::log))
            .route("/healthz", get(api::health))
            .route("/metrics", get(api::metrics))
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
            .with_state(pool.clone());
        let listener = std::net::TcpListener::bind(args.listen)
            .with_context(|| format!("listen on {}", args.listen))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let handle = axum_server::Handle::new();
        {
            let handle = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
            });
        }
        let scheme = if args.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let announce = || -> Result<()> {
            println!(
                "airlock-seatd listening on {scheme}://{addr} (pool {}, {} seats, backend {})",
                pool.lease.activation_id, pool.terms.seats, pool.backend
            );
            use std::io::Write;
            std::io::stdout().flush()?;
            Ok(())
        };
        let make = app.into_make_service();
        let timeout = std::time::Duration::from_secs(10);
        match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .with_context(|| {
                        format!(
                            "TLS certificate {} and key {}",
                            cert.display(),
                            key.display()
                        )
                    })?;
                announce()?;
                let acceptor =
                    axum_server::tls_rustls::RustlsAcceptor::new(config).handshake_timeout(timeout);
                let mut server = axum_server::from_tcp(listener).acceptor(acceptor);
                bounded(server.http_builder(), timeout);
                server.handle(handle).serve(make).await?;
            }
            _ => {
                announce()?;
                let mut server = axum_server::from_tcp(listener);
                bounded(server.http_builder(), timeout);
                server.handle(handle).serve(make).await?;
            }
        }
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}

/// One connection's headers within `timeout` (hyper's timer); HTTP/1 only.
fn bounded(
    b: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    timeout: std::time::Duration,
) {
    b.http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout);
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}
