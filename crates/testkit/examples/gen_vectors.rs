//! Rewrites the language-neutral vectors: `cargo run -p testkit --example gen_vectors -- DIR`
//! (`make vectors` passes the repository's `vectors/`). Case directories are replaced whole;
//! `DIR/README.md` is left alone.

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "vectors".into());
    for group in [
        "envelope",
        "trust",
        "license",
        "revocations",
        "product-manifest",
        "bundle-manifest",
        "bundle",
    ] {
        match std::fs::remove_dir_all(dir.join(group)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    testkit::vectors::write_all(&dir)?;
    println!(
        "wrote {} vectors under {}",
        testkit::vectors::all().len(),
        dir.display()
    );
    Ok(())
}
