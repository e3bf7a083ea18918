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
