//! The factory library holds no command-line crate: the activation service links it, and the
//! binary's edge (clap, clikit, indicatif) is its `cli` feature only.

use std::process::Command;

#[test]
fn the_library_links_no_command_line_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "factory",
            "--no-default-features",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(tree.contains("rusqlite"), "{tree}");
    for cli in ["clap ", "clikit ", "indicatif "] {
        assert!(
            !tree.lines().any(|l| l.starts_with(cli)),
            "the factory library depends on {cli}:\n{tree}"
        );
    }
}
