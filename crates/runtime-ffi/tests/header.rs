//! The committed header is what cbindgen generates from the crate: an exported function or
//! type changed without the header fails here. `AIRLOCK_WRITE_HEADER=1` rewrites it.

#[test]
fn the_header_is_what_cbindgen_generates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).unwrap();
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen reads the crate")
        .write(&mut out);
    let path = dir.join("include/airlock.h");
    if std::env::var_os("AIRLOCK_WRITE_HEADER").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == out,
        "include/airlock.h is not what cbindgen generates: run AIRLOCK_WRITE_HEADER=1 cargo test -p runtime-ffi --test header"
    );
    // Only prefixed names: nothing else is exported.
    let text = String::from_utf8(out).unwrap();
    for line in text
        .lines()
        .filter(|l| l.contains('(') && !l.trim_start().starts_with("//"))
    {
        let name = line
            .split('(')
            .next()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap_or("");
        let name = name.trim_start_matches('*');
        assert!(name.starts_with("airlock_"), "{line}");
    }
}
