//! `airlock-server`: the optional online activation service. See docs/HTTP.md (the API) and
//! docs/OPERATIONS.md (running it).
//!
//! Started as `airlock-server --listen ADDR --db REGISTRY --key ACTIVATION_KEY --trust
//! trust.json`, or `airlock-server --config FILE` (the same settings as JSON; flags win).
//! It prints one line, `airlock-server listening on <url> (backend <name>)`, once it accepts
//! connections; logs are JSON lines on stderr. SIGTERM or Ctrl-C stops it gracefully: requests
//! in flight are answered, nothing committed is lost (and nothing is answered uncommitted).
//! Exit codes: 0 stopped, 2 configuration or startup error.

#![forbid(unsafe_code)]

use activation_server::conn::{CapAcceptor, Caps, ConnLimits};
use activation_server::limit::{Limiters, Limits, Rate};
use activation_server::store::{Backend, Clock, RegistryBackend, Store};
use activation_server::{router, updates, App};
use anyhow::{bail, Context, Result};
use canon::Role;
use clap::{CommandFactory, Parser, Subcommand};
use clikit::generate::GenerateCmd;
use factory::activation::LeaseTerms;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "airlock-server",
    version,
    about = "Airlock: the online activation service (install tokens, seats, lease renewal, updates)",
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Cmd {
    #[command(flatten)]
    Generate(GenerateCmd),
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// A JSON config file with the settings below (flags given here win)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8443 (port 0: any free port)
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// The registry: the factory's SQLite file, or postgres://... for several nodes
    #[arg(long, value_name = "PATH_OR_URL")]
    db: Option<String>,
    /// The activation key (NAME.key, role activation) that signs leases
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The vendor's trust file: verifies install tokens and bundles, refuses a retired key
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,
    /// The key-encryption key (NAME.key, `factory keygen --role kek`): leases then carry the
    /// content keys of registered builds, wrapped to each machine. Without it, requests naming
    /// builds are refused BUILD_KEYS_DISABLED
    #[arg(long, value_name = "FILE_OR_URI")]
    kek: Option<String>,
    /// The vendor's catalog (default: $AIRLOCK_CATALOG, else catalog.json in the vendor home
    /// when there): the release channels and image repositories each tier entitles
    #[arg(long, value_name = "FILE")]
    catalog: Option<PathBuf>,
    /// Registry tokens: the EC P-256 private key (PEM) the realm signs them with; with
    /// --registry-cert
    #[arg(long, value_name = "PEM", requires = "registry_cert")]
    registry_key: Option<PathBuf>,
    /// The certificate of --registry-key (the registry's rootcertbundle)
    #[arg(long, value_name = "PEM", requires = "registry_key")]
    registry_cert: Option<PathBuf>,
    /// The registry's `service` name the tokens are for [default: airlock-registry]
    #[arg(long, value_name = "NAME")]
    registry_service: Option<String>,
    /// The tokens' issuer (the registry's `issuer`) [default: airlock]
    #[arg(long, value_name = "NAME")]
    registry_issuer: Option<String>,
    /// Registry token life in seconds [default: 300]
    #[arg(long, value_name = "SECS")]
    registry_token_seconds: Option<u64>,
    /// TLS certificate chain (PEM); with --tls-key. Without both: plain HTTP (behind a proxy)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A file holding the admin credential (at least 32 characters); without it the admin API
    /// is off
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// A directory of the packager's bundles (NAME.tar.gz + .sig) offered as updates
    #[arg(long, value_name = "DIR")]
    bundles: Option<PathBuf>,
    /// Lease length in days (renewed at half its life) [default: 7]
    #[arg(long, value_name = "N")]
    lease_days: Option<u64>,
    /// Activations per license key, e.g. 10/min,burst=5 [default: 10/min,burst=5]
    #[arg(long, value_name = "RATE", value_parser = Rate::parse)]
    license_rate: Option<Rate>,
    /// Activation, renewal and deactivation requests per client address
    /// [default: 600/min,burst=100]
    #[arg(long, value_name = "RATE", value_parser = Rate::parse)]
    address_rate: Option<Rate>,
    /// Update listings and downloads per client address [default: 30/min,burst=10]
    #[arg(long, value_name = "RATE", value_parser = Rate::parse)]
    download_rate: Option<Rate>,
    /// Behind a reverse proxy: take the client address from X-Forwarded-For (its last hop)
    #[arg(long)]
    behind_proxy: bool,
    /// Open connections in all [default: 4096]; more are closed at accept
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Open connections per client address, IPv6 per /64 [default: 128]
    #[arg(long, value_name = "N")]
    max_connections_per_address: Option<usize>,
    /// Seconds a connection may take to send a request's headers [default: 10]
    #[arg(long, value_name = "SECS")]
    header_timeout: Option<u64>,
}

/// The config file's registry token settings.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RegistryConfig {
    key: Option<PathBuf>,
    cert: Option<PathBuf>,
    service: Option<String>,
    issuer: Option<String>,
    token_seconds: Option<u64>,
}

/// The config file: the same settings; relative paths are relative to the file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    db: Option<String>,
    key: Option<PathBuf>,
    trust: Option<PathBuf>,
    kek: Option<String>,
    catalog: Option<PathBuf>,
    registry: Option<RegistryConfig>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    admin_token_file: Option<PathBuf>,
    bundles: Option<PathBuf>,
    lease_days: Option<u64>,
    limits: Option<Limits>,
    behind_proxy: Option<bool>,
    connections: Option<ConnLimits>,
    header_timeout: Option<u64>,
}

/// The trust file the service checks its key and tokens against, as the factory's signing
/// commands find it: the one given (`--trust`, the config, `$AIRLOCK_TRUST`), or the registry's
/// newer one that it vouches for; with none given, the registry's.
fn known_trust(
    db: &str,
    given: Option<&Path>,
    now: canon::Timestamp,
) -> Result<runtime::TrustStore> {
    let given = given
        .map(|p| {
            clikit::input::read_capped(p, runtime::trust::MAX_TRUST_BYTES as u64).map(|b| (p, b))
        })
        .transpose()?;
    let mut reg = factory::registry::Registry::open_location(Path::new(db), false)?;
    let k = factory::keys::known_trust(&mut reg, given, now)?;
    if let (Some(n), Some(_)) = (&k.note, &k.trust) {
        eprintln!("airlock-server: warning: {n}");
    }
    k.trust.context(
        "give --trust trust.json (or $AIRLOCK_TRUST): the registry keeps no trust file yet",
    )
}

/// The service's exit codes, at the end of every `--help`.
const EXIT_CODES: &str =
    "Exit codes: 0 stopped (SIGTERM or SIGINT); 2 error: a configuration, usage or startup error.";

fn main() -> ExitCode {
    clikit::main("airlock-server", || {
        let args: Args = clikit::parse::parse(EXIT_CODES);
        match args.cmd {
            Some(Cmd::Generate(g)) => {
                g.run(clikit::parse::with_exit_codes(Args::command(), EXIT_CODES))
            }
            None => serve(args.serve),
        }
    })
}

fn rel(base: &Path, p: Option<PathBuf>) -> Option<PathBuf> {
    p.map(|p| if p.is_absolute() { p } else { base.join(p) })
}

fn read_admin(path: &Path) -> Result<[u8; 32]> {
    Ok(signing::keyfile::read_credential(path)?)
}

/// The catalog (explicit, else `$AIRLOCK_CATALOG` or the vendor home's when there) and the
/// registry token settings.
fn entitlements(
    a: &mut ServeArgs,
    file: &mut FileConfig,
    base: &Path,
) -> Result<(
    Option<factory::catalog::Catalog>,
    Option<activation_server::registry::Tokens>,
)> {
    let explicit = a.catalog.take().or(rel(base, file.catalog.take()));
    let catalog = match explicit {
        Some(p) => Some(factory::catalog::Catalog::load(&p)?),
        None => clikit::home::locate(
            None,
            "--catalog",
            "AIRLOCK_CATALOG",
            factory::catalog::HOME_CATALOG,
        )
        .ok()
        .filter(|l| l.path.exists())
        .map(|l| factory::catalog::Catalog::load(&l.path))
        .transpose()?,
    };
    let r = file.registry.take().unwrap_or_default();
    let key = a.registry_key.take().or(rel(base, r.key));
    let cert = a.registry_cert.take().or(rel(base, r.cert));
    let tokens = match (key, cert) {
        (Some(k), Some(c)) => Some(activation_server::registry::Tokens::load(
            &k,
            &c,
            &a.registry_service
                .take()
                .or(r.service)
                .unwrap_or_else(|| "airlock-registry".into()),
            &a.registry_issuer
                .take()
                .or(r.issuer)
                .unwrap_or_else(|| "airlock".into()),
            a.registry_token_seconds.or(r.token_seconds).unwrap_or(300),
        )?),
        (None, None) => None,
        _ => bail!("give both --registry-key and --registry-cert, or neither"),
    };
    Ok((catalog, tokens))
}

fn serve(mut a: ServeArgs) -> Result<ExitCode> {
    let mut file: FileConfig = match &a.config {
        Some(p) => {
            let bytes = clikit::input::read_capped(p, 1 << 20)?;
            serde_json::from_slice(&bytes).with_context(|| format!("{}", p.display()))?
        }
        None => FileConfig::default(),
    };
    let base = a
        .config
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let (catalog, registry) = entitlements(&mut a, &mut file, &base)?;
    let listen = a
        .listen
        .or(file.listen)
        .context("give --listen ADDR (or \"listen\" in --config)")?;
    let db =
        a.db.or(file.db.map(|d| {
            if factory::db::is_postgres_url(&d) {
                d
            } else {
                rel(&base, Some(PathBuf::from(d)))
                    .expect("some")
                    .display()
                    .to_string()
            }
        }))
        .map_or_else(
            // Like the factory: $AIRLOCK_DB, else factory.db in the vendor home.
            || {
                clikit::home::locate(None, "--db", "AIRLOCK_DB", factory::registry::HOME_DB)
                    .map(|l| l.path.display().to_string())
            },
            Ok,
        )?;
    let key_path = a
        .key
        .or(rel(&base, file.key))
        .context("give --key ACTIVATION_KEY")?;
    let kek = a
        .kek
        .or(file.kek.map(|k| {
            if signing::pkcs11::is_uri(&k) {
                k
            } else {
                rel(&base, Some(PathBuf::from(k)))
                    .expect("some")
                    .display()
                    .to_string()
            }
        }))
        .map(|k| factory::builds::Kek::load(&k))
        .transpose()?;
    let trust_path = a
        .trust
        .or(rel(&base, file.trust))
        .or_else(|| clikit::env::path("AIRLOCK_TRUST"));
    let tls = match (
        a.tls_cert.or(rel(&base, file.tls_cert)),
        a.tls_key.or(rel(&base, file.tls_key)),
    ) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => bail!("give both --tls-cert and --tls-key, or neither"),
    };
    let lease_days = a.lease_days.or(file.lease_days).unwrap_or(7);
    if !(1..=366).contains(&lease_days) {
        bail!("--lease-days must be from 1 to 366");
    }
    let mut limits = file.limits.unwrap_or_default();
    if let Some(r) = a.license_rate {
        limits.activations_per_license = r;
    }
    if let Some(r) = a.address_rate {
        limits.requests_per_address = r;
    }
    if let Some(r) = a.download_rate {
        limits.downloads_per_address = r;
    }
    let admin = a
        .admin_token_file
        .or(rel(&base, file.admin_token_file))
        .map(|p| read_admin(&p))
        .transpose()?;
    let behind_proxy = a.behind_proxy || file.behind_proxy.unwrap_or(false);
    let mut conns = file.connections.unwrap_or_default();
    conns.max = a.max_connections.unwrap_or(conns.max);
    conns.per_address = a.max_connections_per_address.unwrap_or(conns.per_address);
    if conns.max == 0 || conns.per_address == 0 {
        bail!("connection caps must be at least 1");
    }
    // Behind a reverse proxy every connection comes from the proxy: a per-address cap would
    // cap all clients together. The proxy bounds its clients' connections; the global cap stays.
    if behind_proxy {
        conns.per_address = conns.max;
    }
    let header_timeout = a.header_timeout.or(file.header_timeout).unwrap_or(10);
    if !(1..=600).contains(&header_timeout) {
        bail!("--header-timeout must be from 1 to 600 seconds");
    }

    let now = signing::clock::now()?;
    let trust = known_trust(&db, trust_path.as_deref(), now)?;
    let key = factory::keys::load_signing_key(&key_path, Role::Activation, Some(&trust), now)?;
    let backend: Box<dyn Backend> = Box::new(RegistryBackend::open(&db)?);
    let clock: Clock = Arc::new(|| signing::clock::now().unwrap_or(canon::Timestamp(0)));
    let lease = LeaseTerms::online(lease_days).with_build_keys(kek.is_some());
    let store = Store::start(backend, key, lease, clock.clone()).with_kek(kek);
    let updates =
        rel(&base, a.bundles.or(file.bundles)).map(|d| updates::Index::new(d, trust.clone()));
    let app = Arc::new(App {
        store,
        trust,
        limiters: Limiters::new(&limits),
        metrics: Default::default(),
        admin,
        updates,
        catalog,
        registry,
        clock,
        behind_proxy,
        conns: Caps::new(conns),
    });
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("the async runtime")?;
    rt.block_on(run(app, listen, tls, Duration::from_secs(header_timeout)))?;
    Ok(ExitCode::SUCCESS)
}

async fn run(
    app: Arc<App>,
    listen: SocketAddr,
    tls: Option<(PathBuf, PathBuf)>,
    header_timeout: Duration,
) -> Result<()> {
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("listen on {listen}"))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = axum_server::Handle::new();
    {
        let (handle, limiters) = (handle.clone(), app.limiters.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = tick.tick() => limiters.retain_recent(),
                    _ = shutdown_signal() => {
                        tracing::info!("stopping: answering requests in flight");
                        handle.graceful_shutdown(Some(Duration::from_secs(10)));
                        break;
                    }
                }
            }
        });
    }
    let make = router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let caps = CapAcceptor(app.conns.clone());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let backend = app.store.backend();
    let announce = move || {
        println!("airlock-server listening on {scheme}://{addr} (backend {backend})");
        use std::io::Write;
        let _ = std::io::stdout().flush();
    };
    match tls {
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .with_context(|| {
                    format!(
                        "TLS certificate {} and key {}",
                        cert.display(),
                        key.display()
                    )
                })?;
            announce();
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
                .handshake_timeout(header_timeout)
                .acceptor(caps);
            let mut server = axum_server::from_tcp(listener).acceptor(acceptor);
            bounded(server.http_builder(), header_timeout);
            server.handle(handle).serve(make).await?;
        }
        None => {
            announce();
            let mut server = axum_server::from_tcp(listener).acceptor(caps);
            bounded(server.http_builder(), header_timeout);
            server.handle(handle).serve(make).await?;
        }
    }
    Ok(())
}

/// What one connection may hold: its headers within `header_timeout` (hyper's timer), HTTP/1
/// only (no HTTP/2 streams to multiply a connection's cost).
fn bounded(
    b: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header_timeout: Duration,
) {
    b.http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
