//! Running the workspace's binaries from tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A workspace binary built beside the running test executable (`cargo test --workspace`
/// builds every package's binaries into the same directory).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is not built: run the tests through `cargo test --workspace` (make test)",
        p.display()
    );
    p
}

/// Whether a tool is installed. Under CI (`CI=true`, which installs every tool) a missing one
/// fails the test; elsewhere the test is skipped loudly.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required under CI (.ci/run installs it)"
        );
        eprintln!("\n*** SKIPPED: {tool} is not installed; install it to run this test ***\n");
    }
    found
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts success; returns stdout.
pub fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", show(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts exit `code` with `needle` in stderr or stdout.
pub fn fails(o: Output, code: i32, needle: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", show(&o));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(all.contains(needle), "{needle:?} not in {}", show(&o));
}

/// `program` with its clock frozen at `now` (`2026-11-22T10:00:00Z` or `2026-11-22 10:00:00`),
/// in UTC, through libfaketime preloaded directly. The `faketime` wrapper is not used: it
/// creates a named semaphore per wrapper pid and removes it only on a clean exit, so a process
/// killed with `kill -9` leaves one behind, and a later wrapper given the same pid fails with
/// `sem_open: File exists`. Callers check `have_tool("faketime")` first, as for the wrapper.
pub fn at_clock(now: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    let lib = libfaketime().unwrap_or_else(|| "/usr/$LIB/faketime/libfaketime.so.1".into());
    c.env("LD_PRELOAD", lib)
        .env("FAKETIME", now.replace('T', " ").trim_end_matches('Z'))
        .env_remove("FAKETIME_SHARED")
        .env("TZ", "UTC");
    c
}

/// The preloadable libfaketime where Debian's package puts it (its multiarch path), if there.
/// A faked process that forks still leaves a small shared-memory pair in `/dev/shm` behind,
/// but a name already taken is not fatal to the library as it is to the wrapper.
pub fn libfaketime() -> Option<String> {
    [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
        "/usr/local/lib",
    ]
    .iter()
    .map(|d| format!("{d}/faketime/libfaketime.so.1"))
    .find(|p| Path::new(p).exists())
}

#[cfg(test)]
mod tests {
    /// The `faketime` wrapper fails outright when a killed wrapper with its pid left its
    /// semaphore behind. Stale names are laid for the next pids; a faked process that forks
    /// (and so shares its clock through a semaphore of its own) still runs at its time.
    #[test]
    fn a_stale_semaphore_does_not_stop_a_faked_process() {
        if !super::have_tool("faketime") || !std::path::Path::new("/dev/shm").is_dir() {
            return;
        }
        let next = std::process::id() as u64;
        let names: Vec<String> = (1..200)
            .flat_map(|i| {
                let pid = next + i;
                [
                    format!("/dev/shm/sem.faketime_sem_{pid}"),
                    format!("/dev/shm/faketime_shm_{pid}"),
                ]
            })
            .filter(|n| !std::path::Path::new(n).exists())
            .collect();
        for n in &names {
            std::fs::write(n, b"").unwrap();
        }
        let o = super::at_clock("2026-11-22T10:00:00Z", "sh")
            .args(["-c", "date +%FT%TZ; date +%FT%TZ"])
            .output()
            .unwrap();
        for n in &names {
            let _ = std::fs::remove_file(n);
        }
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8(o.stdout).unwrap();
        assert_eq!(out, "2026-11-22T10:00:00Z\n2026-11-22T10:00:00Z\n");
    }
}
