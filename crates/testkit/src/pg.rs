//! A real PostgreSQL server for tests: Debian's `postgresql` binaries, a fresh cluster in a
//! temporary directory, listening on 127.0.0.1 at a free port, stopped (immediate shutdown)
//! and removed when dropped. As root (containers, CI) the cluster runs as the `postgres`
//! user, since PostgreSQL refuses to run as root.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The newest `/usr/lib/postgresql/<version>/bin`, else the directory of `pg_config
/// --bindir`.
pub fn bin_dir() -> Option<PathBuf> {
    let mut best: Option<(u32, PathBuf)> = None;
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        for e in rd.flatten() {
            let v: u32 = e.file_name().to_string_lossy().parse().unwrap_or(0);
            let bin = e.path().join("bin");
            if bin.join("initdb").is_file() && best.as_ref().is_none_or(|(b, _)| v > *b) {
                best = Some((v, bin));
            }
        }
    }
    best.map(|(_, p)| p).or_else(|| {
        let out = Command::new("pg_config").arg("--bindir").output().ok()?;
        let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        p.join("initdb").is_file().then_some(p)
    })
}

/// Whether a PostgreSQL server can be started here. Under CI (`CI=true`) a missing server is a
/// failure (`.ci/run` installs `postgresql`); elsewhere the caller skips, saying so.
pub fn available() -> bool {
    let found = bin_dir().is_some();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is required under CI (.ci/run installs postgresql)"
        );
        eprintln!("\n*** SKIPPED: PostgreSQL is not installed (apt-get install postgresql) ***\n");
    }
    found
}

/// A running cluster.
pub struct Server {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
    next_db: std::sync::atomic::AtomicU32,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `tool args...`, as the `postgres` user when we are root.
fn as_owner(bin: &Path, tool: &str, root: bool) -> Command {
    if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--reset-env",
        ])
        .arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl Server {
    /// A fresh cluster with durable settings (fsync on): for measurements.
    pub fn start_durable() -> Server {
        Server::start_with(&[])
    }

    /// A fresh cluster tuned for tests (no fsync: the tests kill the service, never the
    /// database server).
    pub fn start() -> Server {
        Server::start_with(&[
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
    }

    /// A fresh cluster with extra `postgres` options.
    pub fn start_with(options: &[&str]) -> Server {
        let bin = bin_dir().expect("PostgreSQL binaries (apt-get install postgresql)");
        let root = is_root();
        let dir = tempfile::Builder::new()
            .prefix("airlock-pg")
            .tempdir()
            .unwrap();
        if root {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown the cluster directory to postgres");
        }
        let data = dir.path().join("data");
        let out = as_owner(&bin, "initdb", root)
            .args(["--auth=trust", "--username=postgres", "--encoding=UTF8"])
            .args(["--locale=C", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let child = as_owner(&bin, "postgres", root)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=50",
            ])
            .args(options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let s = Server {
            child,
            dir,
            port,
            bin,
            next_db: Default::default(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(s.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|st| st.success());
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// The URL of database `name` (created by [`Server::database`]).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        let n = self
            .next_db
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("airlock_{n}");
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs `sql` in database `db` with `psql`; its output (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", db, "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The database name of a URL made by [`Server::database`].
    pub fn name_of(url: &str) -> &str {
        url.rsplit('/').next().unwrap_or(url)
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Immediate shutdown: SIGQUIT to the postmaster, which ends its children.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
