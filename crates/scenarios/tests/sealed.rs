//! Distribution bound to the license (issue 24): a bundle whose payload is sealed under a
//! per-build content key, the key registered wrapped to the vendor's key-encryption key, and
//! released to one machine at a time inside its signed lease. Played as the vendor (KEK, a
//! build, its record), the customer (machine A with a seat and the build's key, machine B
//! without) and an attacker holding the files (a copied state directory, a tampered archive,
//! an old lease, another customer's build).

use crate::activation::Site;
pub(crate) use crate::activation::DAY0;
use crate::kit::*;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Output;

const DAY1: &str = "2026-11-23T10:00:00Z";
const DAY2: &str = "2026-11-24T10:00:00Z";
const DAY3: &str = "2026-11-25T10:00:00Z";
const DAY4: &str = "2026-11-26T10:00:00Z";
const LATE: &str = "2026-12-10T10:00:00Z";
const SECRET: &str = "the-secret-setting=7f3a9c";

/// Two MiB of the vendor's binary and a small config file, and a product manifest the
/// professional tier allows.
fn payload(v: &Path) -> Vec<u8> {
    // A compiled binary does not compress: xorshift noise stands in for it.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let bin: Vec<u8> = (0..(2u32 << 20))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::create_dir_all(v.join("payload/conf")).unwrap();
    std::fs::write(v.join("payload/app.bin"), &bin).unwrap();
    std::fs::write(v.join("payload/conf/settings.txt"), format!("{SECRET}\n")).unwrap();
    std::fs::write(
        v.join("pm.json"),
        r#"{"type":"airlock-product-manifest","product":"gateway","name":"Gateway","version":"2.0.0","edition":"standard","released_at":"2026-11-20T00:00:00Z","components":[],"min_runtime_version":"0.1.0","requires_features":["gate"]}"#,
    )
    .unwrap();
    bin
}

pub(crate) fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", show(o)))
}

pub(crate) fn show(o: &Output) -> String {
    testkit::run::show(o)
}

/// `packager bundle --encrypt` of `payload/` with `pm.json` for the license in `lic_dir` into
/// `out`, plus `extra` flags.
pub(crate) fn package(s: &Site, lic_dir: &str, out: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "bundle",
        "--license",
        lic_dir,
        "--payload",
        "payload",
        "--product-manifest",
        "pm.json",
        "--key",
        "keys/release.key",
        "--out",
        out,
        "--trust",
        "trust.json",
        "--encrypt",
        "keys/kek.pub",
        "--state",
        "seq.json",
        "--json",
    ];
    args.extend_from_slice(extra);
    vendor(&s.v, "packager", DAY0, &args)
}

/// [`package`] into `out`: (bundle id, archive name).
pub(crate) fn seal_bundle(s: &Site, lic_dir: &str, out: &str) -> (String, String) {
    let o = package(s, lic_dir, out, &[]);
    let v = json(&o);
    assert_eq!(v["encrypted"], true, "{}", show(&o));
    let archive = Path::new(v["archive"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    (v["bundle_id"].as_str().unwrap().to_string(), archive)
}

/// request (naming `builds`) on `machine` → fulfil (with the KEK when `kek`, leases of 10
/// days) → install.
fn activate(s: &Site, machine: &str, now: &str, builds: &[&str], kek: bool) -> Result<(), Output> {
    let asked: Vec<&str> = builds.iter().flat_map(|b| ["--build", b]).collect();
    let mut extra = vec!["--lease-days", "10"];
    if kek {
        extra.extend(["--kek", "keys/kek.key"]);
    }
    s.activate_with(machine, now, &asked, &extra).map(|_| ())
}

/// `runtime-verify BUNDLE --extract DEST` on `machine` with state directory `state`.
pub(crate) fn extract(
    s: &Site,
    machine: &str,
    state: &str,
    now: &str,
    archive: &str,
    dest: &str,
) -> Output {
    s.on(
        machine,
        now,
        "runtime-verify",
        &[
            &format!("out/{archive}"),
            "--trust",
            "trust.json",
            "--root",
            "root.pub",
            "--state",
            state,
            "--extract",
            dest,
            "--json",
        ],
    )
}

fn refused(o: Output, check: &str, dest: &Path) {
    let v = json(&o);
    assert_eq!(v["check"], check, "{}", show(&o));
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(!dest.exists(), "{} was written", dest.display());
}

/// A site with a KEK and one sealed build of its license in `out/`.
pub(crate) struct Sealed {
    pub(crate) s: Site,
    /// `payload/app.bin`.
    pub(crate) bin: Vec<u8>,
    pub(crate) bid: String,
    pub(crate) archive: String,
    /// The build record.
    pub(crate) record: std::path::PathBuf,
}

impl Sealed {
    pub(crate) fn new(limit: u64) -> Sealed {
        let s = Site::new(limit);
        ok(s.factory(
            DAY0,
            &["keygen", "--role", "kek", "--name", "kek", "--out", "keys"],
        ));
        let bin = payload(&s.v);
        let (bid, archive) = seal_bundle(&s, "lic", "out");
        let record =
            s.v.join(format!("out/{}", archive.replace(".tar.gz", ".build.json")));
        Sealed {
            s,
            bin,
            bid,
            archive,
            record,
        }
    }
}

/// Every file under `dir` (recursively).
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The content key of a build record, opened with the KEK as the factory does.
pub(crate) fn content_key(s: &Site, record: &Path) -> [u8; 32] {
    let kek =
        seal::keyfile::EncryptionKey::load(&s.v.join("keys/kek.key"), seal::keyfile::EncRole::Kek)
            .unwrap();
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
    let signed = &rec["signed"];
    let wrapped = canon::enc::unb64(signed["wrapped_key"].as_str().unwrap()).unwrap();
    let key = kek
        .key
        .unwrap(
            &wrapped,
            &runtime::build::kek_info(signed["bundle_id"].as_str().unwrap()),
        )
        .unwrap();
    *key.expose()
}

#[test]
fn a_sealed_build_opens_only_where_a_lease_carries_its_key() {
    if !have_tool("faketime") {
        return;
    }
    let Sealed {
        s,
        bin,
        bid,
        archive,
        record,
    } = Sealed::new(2);
    let mut said: Vec<Output> = Vec::new();
    assert!(record.exists());

    // Stock tools check the delivery without any key, and the archive holds no plaintext.
    let delivery = std::process::Command::new("sha256sum")
        .args(["-c", "CHECKSUMS.txt"])
        .current_dir(s.v.join("out"))
        .output()
        .unwrap();
    assert!(delivery.status.success(), "{}", show(&delivery));
    std::fs::create_dir_all(s.v.join("untarred")).unwrap();
    let untar = std::process::Command::new("tar")
        .args(["-xzf", &format!("out/{archive}"), "-C", "untarred"])
        .current_dir(&s.v)
        .output()
        .unwrap();
    assert!(untar.status.success(), "{}", show(&untar));
    let inner = std::process::Command::new("sha256sum")
        .args(["-c", "CHECKSUMS.txt"])
        .current_dir(s.v.join("untarred"))
        .output()
        .unwrap();
    assert!(inner.status.success(), "{}", show(&inner));
    let shipped = std::fs::read(s.v.join("untarred/payload/conf/settings.txt")).unwrap();
    assert!(!String::from_utf8_lossy(&shipped).contains(SECRET));
    let shipped_bin = std::fs::read(s.v.join("untarred/payload/app.bin")).unwrap();
    assert!(shipped_bin.windows(64).all(|w| w != &bin[4096..4160]));

    // The vendor registers the build (twice: the second changes nothing).
    let reg = |now: &str| {
        s.factory(
            now,
            &[
                "build",
                "register",
                record.to_str().unwrap(),
                "--kek",
                "keys/kek.key",
                "--trust",
                "trust.json",
                "--json",
            ],
        )
    };
    let first = reg(DAY0);
    assert_eq!(json(&first)["new"], true, "{}", show(&first));
    let again = reg(DAY0);
    assert_eq!(json(&again)["new"], false, "{}", show(&again));
    said.extend([first, again]);
    // Registering with another KEK is refused, naming the one it needs.
    ok(s.factory(
        DAY0,
        &["keygen", "--role", "kek", "--name", "kek2", "--out", "keys"],
    ));
    let wrong = s.factory(
        DAY0,
        &[
            "build",
            "register",
            record.to_str().unwrap(),
            "--kek",
            "keys/kek2.key",
            "--trust",
            "trust.json",
        ],
    );
    fails(wrong, 2, "wrapped to key-encryption key");

    // The customer receives the delivery. Machine A asks for the build's key with its seat.
    s.carry("out", "out");
    let fulfil_without_kek = activate(&s, "a", DAY0, &[&bid], false).unwrap_err();
    fails(fulfil_without_kek, 1, "BUILD_KEYS_DISABLED");
    assert_eq!(
        registry_query(&s.v, "SELECT count(*) FROM activations"),
        "0"
    );
    activate(&s, "a", DAY0, &[&bid], true).unwrap();
    let o = extract(&s, "a", "state-a", DAY0, &archive, "x-a");
    let v = json(&o);
    assert_eq!(v["opened"], true, "{}", show(&o));
    assert_eq!(std::fs::read(s.c.join("x-a/payload/app.bin")).unwrap(), bin);
    assert_eq!(
        std::fs::read_to_string(s.c.join("x-a/payload/conf/settings.txt")).unwrap(),
        format!("{SECRET}\n")
    );
    assert!(!s.c.join("x-a/CHECKSUMS.txt").exists());
    said.push(o);

    // Machine B, no seat at all: verification passes, opening does not.
    let o = s.on(
        "b",
        DAY0,
        "runtime-verify",
        &[
            &format!("out/{archive}"),
            "--trust",
            "trust.json",
            "--root",
            "root.pub",
            "--state",
            "state-b",
            "--json",
        ],
    );
    assert_eq!(json(&o)["sealed"], true, "{}", show(&o));
    refused(
        extract(&s, "b", "state-b", DAY0, &archive, "x-b"),
        "build_not_granted",
        &s.c.join("x-b"),
    );
    // Kept sealed, it extracts (for on-demand opening) and the files are still ciphertext.
    let o = s.on(
        "b",
        DAY0,
        "runtime-verify",
        &[
            &format!("out/{archive}"),
            "--trust",
            "trust.json",
            "--root",
            "root.pub",
            "--state",
            "state-b",
            "--extract",
            "x-b-sealed",
            "--keep-sealed",
            "--json",
        ],
    );
    assert_eq!(json(&o)["opened"], false, "{}", show(&o));
    assert!(
        !std::fs::read_to_string(s.c.join("x-b-sealed/payload/conf/settings.txt"))
            .map(|t| t.contains(SECRET))
            .unwrap_or(false)
    );
    // B with a seat but without the build's key.
    activate(&s, "b", DAY0, &[], true).unwrap();
    refused(
        extract(&s, "b", "state-b", DAY0, &archive, "x-b2"),
        "build_not_granted",
        &s.c.join("x-b2"),
    );

    // A's state directory copied onto machine C: the lease is bound to A.
    copy(&s.c.join("state-a"), &s.c.join("state-copy"));
    refused(
        extract(&s, "c", "state-copy", DAY0, &archive, "x-c"),
        "activation_other_machine",
        &s.c.join("x-c"),
    );

    // A tampered archive (one byte of sealed data, the gzip framing redone): refused by the
    // signed manifest before that byte is opened, and nothing is left.
    let tampered = tamper(
        &s.c.join(format!("out/{archive}")),
        &shipped_bin[1 << 20..(1 << 20) + 64],
    );
    std::fs::write(s.c.join("out/tampered.tar.gz"), tampered).unwrap();
    std::fs::copy(
        s.c.join(format!("out/{archive}.sig")),
        s.c.join("out/tampered.tar.gz.sig"),
    )
    .unwrap();
    refused(
        extract(&s, "a", "state-a", DAY0, "tampered.tar.gz", "x-t"),
        "member_mismatch",
        &s.c.join("x-t"),
    );

    // Another customer's build: refused at the vendor; an unknown id likewise.
    ok(s.factory(
        DAY0,
        &[
            "issue",
            "--tier",
            "professional",
            "--customer",
            "Initech",
            "--product",
            "gateway",
            "--expires",
            "2027-06-01",
            "--key",
            "keys/license.key",
            "--out",
            "lic-initech",
        ],
    ));
    let (other, _) = seal_bundle(&s, "lic-initech", "out-initech");
    let rec2 =
        s.v.join("out-initech")
            .read_dir()
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".build.json"))
            .unwrap();
    ok(s.factory(
        DAY0,
        &[
            "build",
            "register",
            rec2.to_str().unwrap(),
            "--kek",
            "keys/kek.key",
            "--trust",
            "trust.json",
        ],
    ));
    fails(
        activate(&s, "a", DAY1, &[&other], true).unwrap_err(),
        1,
        "BUILD_NOT_LICENSED",
    );
    fails(
        activate(&s, "a", DAY1, &["bnd-0000000000000000"], true).unwrap_err(),
        1,
        "BUILD_NOT_FOUND",
    );

    // Renewal (a fresh lease, no build named) carries the key forward.
    activate(&s, "a", DAY1, &[], true).unwrap();
    let o = extract(&s, "a", "state-a", DAY1, &archive, "x-a2");
    assert_eq!(json(&o)["opened"], true, "{}", show(&o));
    said.push(o);

    // The lease ended (10 days): refused with the lease's own code.
    refused(
        extract(&s, "a", "state-a", LATE, &archive, "x-late"),
        "lease_expired",
        &s.c.join("x-late"),
    );

    // The vendor releases A's seat; once A imports the list naming it, the key is gone too.
    let a_id = seat_of(&s, "a");
    ok(s.factory(
        DAY2,
        &[
            "activation",
            "release",
            &a_id,
            "--force",
            "--reason",
            "laptop lost",
        ],
    ));
    ok(s.factory(
        DAY2,
        &[
            "revocations",
            "--key",
            "keys/license.key",
            "--trust",
            "trust.json",
            "--out",
            "rl",
            "--force",
        ],
    ));
    s.carry("rl", "rl");
    ok(s.on(
        "a",
        DAY2,
        "runtime-verify",
        &[
            "revocations",
            "import",
            "rl/revocations.json",
            "--trust",
            "trust.json",
            "--state",
            "state-a",
        ],
    ));
    refused(
        extract(&s, "a", "state-a", DAY2, &archive, "x-rel"),
        "activation_revoked",
        &s.c.join("x-rel"),
    );

    // Machine D takes the freed seat with the build's key. Its license suspended, then revoked,
    // by lists D imports: no key, each with its code; resumed in between: the key again.
    activate(&s, "d", DAY2, &[&bid], true).unwrap();
    let o = extract(&s, "d", "state-d", DAY2, &archive, "x-d");
    assert_eq!(json(&o)["opened"], true, "{}", show(&o));
    let lic = s.license_id.clone();
    ok(s.factory(DAY2, &["suspend", &lic, "--reason", "invoice unpaid"]));
    crate::amend::publish_and_import(&s, DAY2, "d");
    refused(
        extract(&s, "d", "state-d", DAY2, &archive, "x-d2"),
        "license_suspended",
        &s.c.join("x-d2"),
    );
    ok(s.factory(DAY3, &["resume", &lic, "--reason", "paid"]));
    crate::amend::publish_and_import(&s, DAY3, "d");
    let o = extract(&s, "d", "state-d", DAY3, &archive, "x-d3");
    assert_eq!(json(&o)["opened"], true, "{}", show(&o));
    ok(s.factory(DAY3, &["revoke", &lic, "--reason", "contract ended"]));
    crate::amend::publish_and_import(&s, DAY4, "d");
    refused(
        extract(&s, "d", "state-d", DAY4, &archive, "x-d4"),
        "license_revoked",
        &s.c.join("x-d4"),
    );

    // The content key never appears unwrapped: not in the registry, not in any file of the
    // vendor or the customer, not in any answer printed.
    no_key_anywhere(&s, &record, &said);
    let db = registry_query(&s.v, "SELECT group_concat(wrapped_key) FROM builds");
    assert!(!db.contains(&canon::enc::b64(&content_key(&s, &record))));
}

/// The content key of `record`, raw, in hex or in base64, is in no file of the vendor or the
/// customer (the registry and the service's answers written to disk included) and in none of
/// `said` (commands' standard output and error).
pub(crate) fn no_key_anywhere(s: &Site, record: &Path, said: &[Output]) {
    let key = content_key(s, record);
    let forms: Vec<Vec<u8>> = vec![
        key.to_vec(),
        canon::enc::hex(&key).into_bytes(),
        canon::enc::b64(&key).into_bytes(),
    ];
    let mut all = Vec::new();
    files(&s.v, &mut all);
    files(&s.c, &mut all);
    assert!(all.len() > 20, "searched only {} files", all.len());
    for p in &all {
        let bytes = std::fs::read(p).unwrap();
        for f in &forms {
            assert!(
                !bytes.windows(f.len()).any(|w| w == f.as_slice()),
                "the key is in {}",
                p.display()
            );
        }
    }
    for o in said {
        for f in &forms {
            for stream in [&o.stdout, &o.stderr] {
                assert!(
                    !stream.windows(f.len()).any(|w| w == f.as_slice()),
                    "the key was printed"
                );
            }
        }
    }
}

/// The activation id of `machine`'s seat (its fingerprint, as the agent reports it).
fn seat_of(s: &Site, machine: &str) -> String {
    let lease: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.c.join(format!(
            "state-{machine}/activation/gateway/activation.json"
        )))
        .unwrap(),
    )
    .unwrap();
    lease["activation_id"].as_str().unwrap().to_string()
}

/// The archive with one byte flipped inside `needle` (sealed bytes of a payload member), the
/// gzip framing redone so that only the member's content is wrong.
fn tamper(archive: &Path, needle: &[u8]) -> Vec<u8> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap())
        .read_to_end(&mut tar)
        .unwrap();
    let at = tar
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the sealed bytes are in the archive");
    tar[at + 10] ^= 0x01;
    let mut gz = flate2::GzBuilder::new()
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// The trust store of the customer's `trust.json` under `root.pub`.
fn trust_of(s: &Site) -> runtime::TrustStore {
    let root =
        runtime::trust::RootSpec::parse(&std::fs::read(s.c.join("root.pub")).unwrap()).unwrap();
    let anchors = runtime::trust::RootSpec::anchors(&[root]);
    runtime::TrustStore::from_trust_file(&std::fs::read(s.c.join("trust.json")).unwrap(), &anchors)
        .unwrap()
}

#[test]
fn a_product_opens_one_member_on_demand_and_a_rebuild_is_byte_identical() {
    if !have_tool("faketime") {
        return;
    }
    let Sealed {
        s,
        bin,
        bid: _,
        archive,
        record,
    } = Sealed::new(1);
    // The same inputs, time, sequence and key: the same bytes.
    let name = archive.trim_end_matches(".tar.gz");
    let rec = record.to_str().unwrap();
    let same = ["--sequence", "1", "--name", name];
    let reuse = ["--reuse-key", rec, "--kek-secret", "keys/kek.key"];
    ok(package(
        &s,
        "lic",
        "again",
        &[&same[..], &reuse[..]].concat(),
    ));
    assert_eq!(
        std::fs::read(s.v.join(format!("out/{archive}"))).unwrap(),
        std::fs::read(s.v.join(format!("again/{archive}"))).unwrap(),
        "a rebuild with the same key differs"
    );
    // A fresh key (the default) gives other bytes for the same inputs.
    ok(package(&s, "lic", "fresh", &same));
    assert_ne!(
        std::fs::read(s.v.join(format!("out/{archive}"))).unwrap(),
        std::fs::read(s.v.join(format!("fresh/{archive}"))).unwrap()
    );

    // Kept sealed on the customer's machine; the product opens one member in memory.
    s.carry("out", "out");
    ok(s.on(
        "a",
        DAY0,
        "runtime-verify",
        &[
            &format!("out/{archive}"),
            "--trust",
            "trust.json",
            "--root",
            "root.pub",
            "--state",
            "state-a",
            "--extract",
            "kept",
            "--keep-sealed",
        ],
    ));
    let trust = trust_of(&s);
    let key = runtime::payload::ContentKey::from_bytes(content_key(&s, &record));
    let p = runtime::payload::SealedPayload::open(&s.c.join("kept"), &trust, key.clone()).unwrap();
    let mut text = String::new();
    p.member("payload/conf/settings.txt")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, format!("{SECRET}\n"));
    let mut back = Vec::new();
    p.member("payload/app.bin")
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, bin);
    assert_eq!(
        p.member("license.json").unwrap_err().check,
        Some(runtime::Check::MemberMismatch)
    );
    // Another key: refused before anything is read.
    let other = runtime::payload::ContentKey::from_bytes([1; 32]);
    let e = runtime::payload::SealedPayload::open(&s.c.join("kept"), &trust, other).unwrap_err();
    assert_eq!(e.check, Some(runtime::Check::BuildKeyInvalid), "{e}");
    // A member changed on disk after extraction: refused before one byte is opened.
    let f = s.c.join("kept/payload/app.bin");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[100_000] ^= 1;
    std::fs::write(&f, &bytes).unwrap();
    let e = p.member("payload/app.bin").unwrap_err();
    assert_eq!(e.check, Some(runtime::Check::MemberMismatch), "{e}");
}
