//! The Rust side of `scripts/bindings-bench.sh`: the one-call check and a feature check on a
//! site made by `tests/c/fixture.sh`, through the same safe API the bindings call.
//!   bench SITE CHECKS FEATURES

use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let site = std::path::Path::new(&a[1]);
    let (checks, features): (u32, u32) = (a[2].parse().unwrap(), a[3].parse().unwrap());
    let s = |p: &str| site.join(p).to_string_lossy().into_owned();
    let (trust, lic, state) = (s("trust.json"), s("license"), s("state"));
    let root = std::fs::read_to_string(site.join("root.txt")).unwrap();
    let first = airlock::api::check(&trust, &lic, &state, Some(root.trim()), -1).unwrap();
    let t = Instant::now();
    for _ in 0..checks {
        std::hint::black_box(airlock::api::check(&trust, &lic, &state, None, -1).unwrap());
    }
    let check_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(checks);
    let t = Instant::now();
    for _ in 0..features {
        std::hint::black_box(airlock::api::feature(
            &first.status,
            std::hint::black_box("gate"),
        ))
        .unwrap();
    }
    let feature_ns = t.elapsed().as_secs_f64() * 1e9 / f64::from(features);
    println!("rust   check {check_us:8.1} us   feature {feature_ns:7.1} ns");
}
