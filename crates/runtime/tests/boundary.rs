//! Architecture invariants of the verify-only runtime, checked mechanically:
//! no signing path and no networking crate in its dependency tree, and no clock, socket or
//! signing call in its source.

use std::path::Path;
use std::process::Command;

fn runtime_tree() -> String {
    tree_of("runtime")
}

/// `cargo tree` of package `pkg` (normal and build dependencies, one line each).
fn tree_of(pkg: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            pkg,
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p} {f}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn dependency_tree_has_no_signing_path_and_no_networking() {
    // The runtime, and libairlock that every language binding wraps.
    let tree = format!("{}{}", runtime_tree(), tree_of("runtime-ffi"));
    assert!(tree.contains("ed25519-dalek"), "tree looks wrong:\n{tree}");
    let forbidden = [
        "signing v",
        "rand",
        "tokio",
        "mio",
        "socket2",
        "hyper",
        "reqwest",
        "ureq",
        "curl",
        "openssl",
        "rustls",
        "native-tls",
        "h2",
        "tungstenite",
        "rusqlite",
        "clap",
    ];
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        assert!(
            !forbidden.contains(&name),
            "runtime depends on {name}: {line}"
        );
    }
    for line in tree.lines().filter(|l| l.starts_with("ed25519-dalek")) {
        assert!(
            !line.contains("rand_core"),
            "ed25519-dalek built with key generation: {line}"
        );
    }
    // The payload crate comes without its sealing half (no content keys made, nothing wrapped).
    for line in tree.lines().filter(|l| l.starts_with("seal v")) {
        assert!(
            !line
                .rsplit(") ")
                .next()
                .is_some_and(|features| features.split(',').any(|f| f == "seal")),
            "the runtime links seal's sealing half: {line}"
        );
    }
    // rand_core (and getrandom below it) come only as the RustCrypto AEAD and HPKE crates'
    // own dependency (HPKE opening: crate seal), never from the runtime, ed25519-dalek or
    // signing; the runtime's source never names them (the source scan below).
    for (krate, allowed) in [
        ("rand_core", &["crypto-common", "hpke", "x25519-dalek"][..]),
        ("getrandom", &["rand_core"][..]),
    ] {
        for parent in dependents(krate) {
            assert!(
                allowed.contains(&parent.as_str()),
                "{krate} is a dependency of {parent} in the runtime's tree"
            );
        }
    }
}

/// The crates that depend directly on every version of `krate` in the runtime's tree.
fn dependents(krate: &str) -> Vec<String> {
    let tree = runtime_tree();
    let versions: Vec<String> = tree
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(krate))
                .then(|| w.next().unwrap_or("").trim_start_matches('v').to_string())
        })
        .collect();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut out = Vec::new();
    for v in versions {
        let o = Command::new(&cargo)
            .args(["tree", "-p", "runtime", "-e", "normal,build", "-i"])
            .arg(format!("{krate}@{v}"))
            .args(["--depth", "1", "--prefix", "none", "--format", "{p}"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo tree");
        let text = String::from_utf8(o.stdout).unwrap();
        out.extend(
            text.lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next().map(str::to_string)),
        );
    }
    out
}

#[test]
fn source_has_no_clock_socket_or_signing_calls() {
    // The runtime's own source and the format crate it reads artifacts with.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let srcs = [here.join("src"), here.join("../format/src")];
    let banned = [
        "SystemTime::now",
        "Instant::now",
        "std::net",
        "TcpStream",
        "UdpSocket",
        "SigningKey",
        "Signer",
        ".sign(",
        "OsRng",
        "rand_core",
        "getrandom",
        "generate(",
        "seal_reader",
        "file::seal(",
        "wrap::wrap",
    ];
    let mut files = 0;
    let mut stack = srcs.to_vec();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.lines().filter(|l| !l.trim_start().starts_with("//"));
            for (i, line) in code.enumerate() {
                for b in banned {
                    assert!(
                        !line.contains(b),
                        "{}: code line {} contains {b:?}",
                        p.display(),
                        i + 1
                    );
                }
            }
            files += 1;
        }
    }
    assert!(files >= 20, "scanned only {files} files");
}

#[test]
fn no_source_trusts_dev_keys_implicitly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut needles = Vec::new();
    for e in std::fs::read_dir(root.join("keys-dev")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".pub") && !name.ends_with(".minisign.pub") {
            let text = std::fs::read_to_string(&p).unwrap();
            let v = canon::parse(text.as_bytes()).unwrap();
            needles.push(v.get("key_id").unwrap().as_str().unwrap().to_string());
            needles.push(v.get("public_key").unwrap().as_str().unwrap().to_string());
        }
    }
    assert_eq!(needles.len(), 6, "three dev keys");
    for (p, text) in workspace_sources(&root) {
        for n in &needles {
            assert!(
                !text.contains(n.as_str()),
                "{} names dev key material {n}",
                p.display()
            );
        }
    }
}

#[test]
fn trust_on_first_use_is_reached_only_through_its_corner() {
    // The weak anchor is made only by runtime::danger::trust_on_first_use; production code may
    // call it in three places: the vendor's own trust file and the customer's explicit
    // --trust-on-first-use (both in clikit::input), and the vendor's trust file its registry
    // keeps (factory::keys::known_trust). Tests, benches, examples and the dev-only test kit
    // may use it.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let allowed = [
        "runtime/src/danger.rs",
        "runtime/src/lib.rs",
        "clikit/src/input.rs",
        "factory/src/keys.rs",
        "testkit/src/bundle.rs",
    ];
    let found: Vec<String> = workspace_sources(&root)
        .into_iter()
        .filter(|(_, text)| text.contains("trust_on_first_use()"))
        .map(|(p, _)| p.to_string_lossy().replace('\\', "/"))
        .collect();
    assert!(!found.is_empty(), "the scan found nothing: wrong root?");
    for f in &found {
        assert!(
            allowed.iter().any(|a| f.ends_with(a)),
            "{f} reaches trust on first use outside its corner"
        );
    }
}

/// Every Rust file under a `src` directory of the workspace's crates, with its text.
fn workspace_sources(root: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("crates")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && p.components().any(|c| c.as_os_str() == "src")
            {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    out
}

/// The runtime's modules are floors: no module reaches (directly or around a loop) into one
/// that reaches back into it. The check codes, the errors, the capped read and the keys sit at
/// the bottom and name nothing above them; only `failure` (which finds the check of any error)
/// and the product facade see the whole crate. (Before: 15 of 18 modules were one loop, because
/// `check::of` downcast into the modules above it.)
#[test]
fn the_runtime_modules_form_floors() {
    use std::collections::{BTreeMap, BTreeSet};
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            for f in std::fs::read_dir(&p).unwrap() {
                files.push(f.unwrap().path());
            }
        } else {
            files.push(p);
        }
    }
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|x| x == "rs"))
    {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel.iter().next().unwrap().to_string_lossy().to_string();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" {
            continue;
        }
        let code: String = std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let entry = deps.entry(module.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name != module && !name.is_empty() {
                entry.insert(name);
            }
        }
    }
    let modules: BTreeSet<String> = deps.keys().cloned().collect();
    for bottom in ["check", "io", "fingerprint"] {
        let d: Vec<_> = deps[bottom].intersection(&modules).collect();
        assert!(
            d.is_empty(),
            "{bottom} must name no other module, names {d:?}"
        );
    }
    // Depth-first search for a loop.
    fn visit(
        m: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        modules: &BTreeSet<String>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(i) = path.iter().position(|p| p == m) {
            panic!("the runtime's modules loop: {:?}", &path[i..]);
        }
        path.push(m.to_string());
        for d in deps[m].iter().filter(|d| modules.contains(*d)) {
            visit(d, deps, modules, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in &modules {
        visit(m, &deps, &modules, &mut Vec::new(), &mut done);
    }
}
