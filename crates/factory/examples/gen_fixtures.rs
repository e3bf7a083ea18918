//! Regenerates the generated fixtures from the dev keys: `cargo run -p factory --example gen_fixtures`.

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let key = signing::SecretKey::load(&root.join("keys-dev/dev-license.key"))?;
    let out = root.join("fixtures/legacy-v2/license.json");
    std::fs::write(&out, factory::fixtures::legacy_v2_license(&key)?)?;
    println!("wrote {}", out.display());
    Ok(())
}
