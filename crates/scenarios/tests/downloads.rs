//! The agent trusts nothing it downloads until it verified it, played against fake services
//! (a compromised node, a spoofed address) answering in the service's name: a hostile 1 GiB
//! download, a listing path that leads to another host, a token answered with another
//! customer's license, and failures reported as JSON.

use crate::activation::Site;
use crate::kit::{have_tool, ok};
use crate::online::{activate, agent, point_at, Service, DAY1};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

/// What the fake service answers for a path.
pub(crate) enum Answer {
    Json(String),
    /// `declared` bytes announced, `sent` bytes of zeros actually sent (a liar sends more).
    Zeros {
        declared: u64,
        sent: u64,
    },
}

/// A fake service on the loopback answering `n` connections with `route(path)`.
pub(crate) fn fake(n: usize, route: impl Fn(&str) -> Answer + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut sink = vec![0u8; length];
            let _ = reader.read_exact(&mut sink);
            match route(&path) {
                Answer::Json(body) => {
                    let _ = stream.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    );
                }
                Answer::Zeros { declared, sent } => {
                    let _ = stream.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {declared}\r\nconnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    let chunk = vec![0u8; 1 << 20];
                    let mut left = sent;
                    while left > 0 {
                        let k = left.min(chunk.len() as u64) as usize;
                        if stream.write_all(&chunk[..k]).is_err() {
                            break;
                        }
                        left -= k as u64;
                    }
                }
            }
        }
    });
    url
}

fn listing(file: &str, size: u64) -> Answer {
    Answer::Json(
        json!({"bundles": [{"bundle_id": "b", "license_id": "l", "product": "gateway",
            "version": "9", "sequence": 99, "created_at": DAY1, "size": size,
            "sha256": "00".repeat(32), "file": file,
            "signature": "/v1/updates/files/big.tar.gz.sig"}]})
        .to_string(),
    )
}

/// Peak resident memory (KiB) of a process while it runs, and its output.
fn run_watching_memory(mut cmd: std::process::Command) -> (std::process::Output, u64) {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watch = {
        let peak = peak.clone();
        std::thread::spawn(move || {
            while let Ok(s) = std::fs::read_to_string(&status) {
                if let Some(kb) = s
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak.fetch_max(kb, std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let out = child.wait_with_output().unwrap();
    let _ = watch.join();
    (out, peak.load(std::sync::atomic::Ordering::Relaxed))
}

/// A service that lists an 8 MiB bundle and then sends 1 GiB: the agent streams to a 0600
/// file in its state directory, stops past the listed size, refuses and removes the file; its
/// memory stays under 64 MiB. A listed size with another hash is refused the same way.
/// (Before: the whole answer, up to 8 GiB, was read into memory before anything was checked.)
#[test]
fn a_hostile_download_is_capped_hashed_and_never_held_in_memory() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(1);
    let svc = Service::start(&s, DAY1, &[]);
    ok(activate(&s, "m1", DAY1, &svc.url, &[]));
    let url = fake(2, |p| match p {
        "/v1/updates" => listing("/v1/updates/files/big.tar.gz", 8 << 20),
        _ => Answer::Zeros {
            declared: 1 << 30,
            sent: 1 << 30,
        },
    });
    point_at(&s, "m1", &url);
    // The agent itself (not through faketime, whose exec would hide its memory); the real
    // clock is later than the test's day, which the state accepts.
    let mut cmd = std::process::Command::new(testkit::bin("airlock-agent"));
    cmd.args([
        "update",
        "--state",
        "state-m1",
        "--trust",
        "trust.json",
        "--json",
    ])
    .current_dir(&s.c)
    .env("AIRLOCK_INSTANCE_ID", "m1");
    let (o, peak_kb) = run_watching_memory(cmd);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("larger than the listed"),
        "{v}"
    );
    assert!(peak_kb < 64 * 1024, "peak {peak_kb} KiB");
    assert!(!s
        .c
        .join("state-m1/activation/gateway/download.part")
        .exists());
    // The listed size, another hash: refused, removed.
    let url = fake(2, |p| match p {
        "/v1/updates" => listing("/v1/updates/files/big.tar.gz", 1 << 20),
        _ => Answer::Zeros {
            declared: 1 << 20,
            sent: 1 << 20,
        },
    });
    point_at(&s, "m1", &url);
    let o = agent(&s, "m1", DAY1, &["update"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("SHA-256"));
    assert!(!s
        .c
        .join("state-m1/activation/gateway/download.part")
        .exists());
}

/// A listing whose file path is crafted to reach another host (`@host` after the service's
/// address, a scheme-relative `//host`): refused before anything is fetched, and the other host
/// never sees the machine's credential. (Before: the path was appended to the server URL.)
#[test]
fn a_listing_path_to_another_host_is_refused() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(1);
    let svc = Service::start(&s, DAY1, &[]);
    ok(activate(&s, "m1", DAY1, &svc.url, &[]));
    let thief = TcpListener::bind("127.0.0.1:0").unwrap();
    thief.set_nonblocking(true).unwrap();
    let at = thief.local_addr().unwrap();
    for crafted in [format!("@{at}/steal"), format!("//{at}/steal")] {
        let url = fake(1, move |_| listing(&crafted, 10));
        point_at(&s, "m1", &url);
        let o = agent(&s, "m1", DAY1, &["update", "--json"]);
        assert_eq!(o.status.code(), Some(2));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("not a file of the service"),
            "{v}"
        );
    }
    assert!(thief.accept().is_err(), "the other host was contacted");
}

/// A token activation answered (by a fake service) with another customer's genuine license:
/// refused, nothing written. (Before: whatever genuine license came back was installed.)
#[test]
fn a_token_answered_with_another_license_is_refused() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(1);
    ok(s.factory(
        DAY1,
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
            "other",
        ],
    ));
    let token = ok(s.factory(
        DAY1,
        &[
            "token",
            "create",
            "--license",
            &s.license_id,
            "--ttl",
            "1h",
            "--key",
            "keys/activation.key",
        ],
    ));
    let doc = std::fs::read_to_string(s.v.join("other/license.json")).unwrap();
    let sig = std::fs::read_to_string(s.v.join("other/license.sig")).unwrap();
    let body = json!({
        "activation_id": "act-0000000000000000", "license_id": "other", "new_seat": true,
        "seats_in_use": 1, "device_limit": 1, "overage": false, "sequence": 1,
        "not_after": "2027-06-15T00:00:00Z", "renew_after": "2027-06-01T00:00:00Z",
        "files": {"activation.json": "{}", "activation.sig": "{}",
                  "license.json": doc, "license.sig": sig},
    })
    .to_string();
    let url = fake(1, move |_| Answer::Json(body.clone()));
    let o = agent(
        &s,
        "m1",
        DAY1,
        &[
            "activate",
            "--server",
            &url,
            "--license",
            "lic-token",
            "--token",
            token.trim(),
            "--root",
            "root.pub",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("refused, nothing written"),
        "{v}"
    );
    assert!(!s.c.join("lic-token/license.json").exists());
}

/// Every failure under --json is the report: a refusal with its code, an unreachable service.
#[test]
fn agent_failures_are_json_reports() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(1);
    let svc = Service::start(&s, DAY1, &[]);
    ok(activate(&s, "m1", DAY1, &svc.url, &[]));
    // A second machine at the limit: refused with its code and the table's exit code.
    let o = activate(&s, "m2", DAY1, &svc.url, &["--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["valid"].as_bool(), v["check"].as_str()),
        (Some(false), Some("DEVICE_LIMIT_EXCEEDED")),
        "{v}"
    );
    // The service gone: unreachable, exit 4.
    drop(svc);
    let o = agent(&s, "m1", DAY1, &["update", "--json"]);
    assert_eq!(o.status.code(), Some(4));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["check"], "unreachable", "{v}");
    // A local error (no such product): the report too, exit 2.
    let o = agent(&s, "m1", DAY1, &["update", "--product", "nope", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false, "{v}");
}
