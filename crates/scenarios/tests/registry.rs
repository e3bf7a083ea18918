//! Registry pulls bound to the license (issue 24): a real Docker registry (Debian's
//! `docker-registry`, distribution 2.8) started on the loopback with token authentication
//! pointing at the activation service's realm, a real client (`skopeo`). The vendor pushes an
//! image with the admin credential; a machine with a live seat pulls it with the token
//! `airlock-agent registry-token` fetched; no seat, a repository of a channel the tier does not
//! include, a suspended or revoked license, a released seat and an expired license get none.
//! The registry checks tokens against its real clock, so this test runs at the real time.

use crate::activation::Site;
use crate::kit::*;
use crate::online::{activate, agent, get, post, Service};
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// A running `docker-registry`; killed when dropped.
struct Registry {
    child: Child,
    addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

impl Registry {
    /// The registry, its tokens checked against `cert` for `realm`.
    fn start(dir: &Path, realm: &str, cert: &Path) -> Registry {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\nauth:\n  token:\n    realm: {realm}\n    service: airlock-registry\n    issuer: airlock\n    rootcertbundle: {}\n",
                dir.join("data").display(),
                cert.display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let r = Registry { child, addr };
        for _ in 0..200 {
            if std::net::TcpStream::connect(&r.addr).is_ok() {
                let (st, _, _) = get(&format!("http://{}/v2/", r.addr), None);
                assert_eq!(st, 401, "the registry asks for a token");
                return r;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the registry did not come up on {}", r.addr);
    }
}

/// A one-layer OCI image layout in `dir` tagged `tag`; its manifest digest.
fn image(dir: &Path, tag: &str) -> String {
    use std::io::Write;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let mut tar = testkit::bundle::tar_entry("opt/gateway/VERSION", b"2.0.0\n", 0o644);
    tar.extend_from_slice(&[0u8; 1024]);
    let diff_id = canon::enc::sha256_hex(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let layer = gz.finish().unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let d = canon::enc::sha256_hex(bytes);
        std::fs::write(blobs.join(&d), bytes).unwrap();
        (format!("sha256:{d}"), bytes.len())
    };
    let (layer_d, layer_n) = put(&layer);
    let config = json!({"architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]}})
    .to_string();
    let (config_d, config_n) = put(config.as_bytes());
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_d, "size": config_n},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_d, "size": layer_n}]})
    .to_string();
    let (man_d, man_n) = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": man_d, "size": man_n, "annotations": {"org.opencontainers.image.ref.name": tag}}]})
        .to_string(),
    )
    .unwrap();
    man_d
}

/// The activation service at `now` with the catalog and the registry token key and cert.
fn realm(s: &Site, now: &str, catalog: &Path, (key, cert): (&Path, &Path)) -> Service {
    Service::start(
        s,
        now,
        &[
            "--catalog",
            catalog.to_str().unwrap(),
            "--registry-key",
            key.to_str().unwrap(),
            "--registry-cert",
            cert.to_str().unwrap(),
        ],
    )
}

fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo")
        .args(["--insecure-policy"])
        .args(args)
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap()
}

/// The real time, as the vendor tools and faketime take it.
fn real_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    canon::Timestamp(secs as i64).to_string()
}

fn token(s: &Site, machine: &str, now: &str, scope: &str) -> Output {
    agent(
        s,
        machine,
        now,
        &["registry-token", "--scope", scope, "--json"],
    )
}

fn pull(reg: &Registry, repo: &str, token: Option<&str>, to: &Path) -> Output {
    let src = format!("docker://{}/{repo}:2.0.0", reg.addr);
    let dst = format!("oci:{}:2.0.0", to.display());
    let mut args = vec!["copy", "--src-tls-verify=false"];
    if let Some(t) = token {
        args.extend(["--src-registry-token", t]);
    }
    args.extend([src.as_str(), dst.as_str()]);
    skopeo(&args)
}

#[test]
fn registry_pulls_need_a_live_seat_whose_license_entitles_the_repository() {
    if !(have_tool("docker-registry")
        && have_tool("skopeo")
        && have_tool("openssl")
        && have_tool("faketime"))
    {
        eprintln!("skipped: docker-registry, skopeo, openssl or faketime missing");
        return;
    }
    let now = real_now();
    let s = Site::new(2);
    let certs = s.v.join("tok");
    std::fs::create_dir_all(&certs).unwrap();
    let (key, cert) = (certs.join("token.key"), certs.join("token.crt"));
    ok(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=airlock-registry-tokens",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json");
    let svc = realm(&s, &now, &catalog, (&key, &cert));
    let reg = Registry::start(&s.v, &format!("{}/v1/registry/token", svc.url), &cert);

    // The vendor publishes an image with the admin credential.
    let digest = image(&s.v.join("img"), "2.0.0");
    let admin = "x".repeat(40);
    for repo in ["gateway/runtime", "gateway/runtime-beta"] {
        let o = skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("vendor:{admin}"),
            &format!("oci:{}:2.0.0", s.v.join("img").display()),
            &format!("docker://{}/{repo}:2.0.0", reg.addr),
        ]);
        assert!(
            o.status.success(),
            "push {repo}: {}",
            testkit::run::show(&o)
        );
    }

    // Nobody anonymous: the registry asks the realm, which refuses.
    let anon = pull(&reg, "gateway/runtime", None, &s.c.join("anon"));
    assert!(!anon.status.success());
    assert!(!s.c.join("anon/index.json").exists());
    let (st, _, e) = get(
        &format!(
            "{}/v1/registry/token?scope=repository:gateway/runtime:pull",
            svc.url
        ),
        None,
    );
    assert_eq!((st, crate::online::code(&e)), (401, "UNAUTHORIZED"), "{e}");

    // A machine with a live seat pulls the stable repository, exactly the pushed image.
    ok(activate(&s, "r", &now, &svc.url, &[]));
    let t = token(&s, "r", &now, "repository:gateway/runtime:pull");
    let tv: serde_json::Value =
        serde_json::from_slice(&t.stdout).unwrap_or_else(|_| panic!("{}", testkit::run::show(&t)));
    assert_eq!(tv["granted"], json!(["repository:gateway/runtime:pull"]));
    let jwt = tv["token"].as_str().unwrap().to_string();
    let o = pull(&reg, "gateway/runtime", Some(&jwt), &s.c.join("pulled"));
    assert!(o.status.success(), "{}", testkit::run::show(&o));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.c.join("pulled/index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());
    // The pull token does not push.
    let o = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-registry-token",
        &jwt,
        &format!("oci:{}:2.0.0", s.v.join("img").display()),
        &format!("docker://{}/gateway/runtime:evil", reg.addr),
    ]);
    assert!(!o.status.success(), "a pull token pushed");
    // The beta channel is not in the professional tier.
    fails(
        token(&s, "r", &now, "repository:gateway/runtime-beta:pull"),
        1,
        "REPOSITORY_NOT_LICENSED",
    );
    fails(
        token(&s, "r", &now, "repository:other/thing:pull"),
        1,
        "REPOSITORY_NOT_LICENSED",
    );

    // Suspended: no token; resumed: tokens again. Revoked: none.
    let bearer = format!("Bearer {admin}");
    let lic = format!("{}/v1/admin/licenses/{}", svc.url, s.license_id);
    let (st, _, _) = post(
        &format!("{lic}/suspend"),
        &json!({"reason": "unpaid"}),
        Some(&bearer),
    );
    assert_eq!(st, 200);
    fails(
        token(&s, "r", &now, "repository:gateway/runtime:pull"),
        1,
        "LICENSE_SUSPENDED",
    );
    let (st, _, _) = post(
        &format!("{lic}/resume"),
        &json!({"reason": "paid"}),
        Some(&bearer),
    );
    assert_eq!(st, 200);
    ok(token(&s, "r", &now, "repository:gateway/runtime:pull"));

    // A released seat: no token.
    ok(activate(&s, "q", &now, &svc.url, &[]));
    let q_id = lease_id(&s.c.join("state-q"));
    let (st, _, _) = post(
        &format!("{}/v1/admin/activations/{q_id}/release", svc.url),
        &json!({"reason": "decommissioned"}),
        Some(&bearer),
    );
    assert_eq!(st, 200);
    fails(
        token(&s, "q", &now, "repository:gateway/runtime:pull"),
        1,
        "ACTIVATION_NOT_FOUND",
    );

    let (st, _, _) = post(
        &format!("{lic}/revoke"),
        &json!({"reason": "contract ended"}),
        Some(&bearer),
    );
    assert_eq!(st, 200);
    fails(
        token(&s, "r", &now, "repository:gateway/runtime:pull"),
        1,
        "LICENSE_REVOKED",
    );
    drop(svc);

    // After expiry and grace (the service's clock moved there): none either.
    let late = "2027-07-01T00:00:00Z";
    let svc2 = realm(&s, late, &catalog, (&key, &cert));
    crate::online::point_at(&s, "r", &svc2.url);
    // (A lease never outlives the license's expiry plus grace, so the seat is no longer live.)
    fails(
        token(&s, "r", late, "repository:gateway/runtime:pull"),
        1,
        "ACTIVATION_NOT_FOUND",
    );
}

fn lease_id(state: &Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(state.join("activation/gateway/activation.json")).unwrap(),
    )
    .unwrap();
    v["activation_id"].as_str().unwrap().to_string()
}

/// A product manifest of `version` on `channel`.
fn manifest(v: &Path, version: &str, channel: &str) -> String {
    let name = format!("pm-{version}.json");
    std::fs::write(
        v.join(&name),
        format!(
            r#"{{"type":"airlock-product-manifest","product":"gateway","name":"Gateway","version":"{version}","edition":"standard","released_at":"2026-11-20T00:00:00Z","components":[],"min_runtime_version":"0.1.0","requires_features":[],"channel":"{channel}","images":[{{"name":"gateway/runtime","digest":"sha256:{}"}}]}}"#,
            "ab".repeat(32)
        ),
    )
    .unwrap();
    name
}

#[test]
fn updates_offer_only_the_channels_the_tier_includes() {
    if !have_tool("faketime") {
        return;
    }
    let now = crate::activation::DAY0;
    let s = Site::new(2);
    ok(s.factory(
        now,
        &[
            "issue",
            "--tier",
            "sovereign",
            "--customer",
            "Globex",
            "--customer-id",
            "globex",
            "--additional",
            "--product",
            "gateway",
            "--expires",
            "2027-06-01",
            "--key",
            "keys/license.key",
            "--out",
            "lic-sov",
        ],
    ));
    crate::kit::copy(&s.v.join("lic-sov"), &s.c.join("lic-sov"));
    std::fs::create_dir_all(s.v.join("payload")).unwrap();
    std::fs::write(s.v.join("payload/README"), "gateway\n").unwrap();
    let mut last = String::new();
    for (lic, version, channel) in [
        ("lic", "2.0.0", "stable"),
        ("lic", "2.1.0", "beta"),
        ("lic-sov", "2.0.0", "stable"),
        ("lic-sov", "2.1.0", "beta"),
    ] {
        let pm = manifest(&s.v, version, channel);
        let o = vendor(
            &s.v,
            "packager",
            now,
            &[
                "bundle",
                "--license",
                lic,
                "--payload",
                "payload",
                "--product-manifest",
                &pm,
                "--key",
                "keys/release.key",
                "--out",
                "bundles",
                "--trust",
                "trust.json",
                "--state",
                "seq.json",
                "--json",
            ],
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["valid"], true, "{}", testkit::run::show(&o));
        last = v["archive"].as_str().unwrap().to_string();
    }
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json");
    let svc = Service::start(
        &s,
        now,
        &[
            "--catalog",
            catalog.to_str().unwrap(),
            "--bundles",
            "bundles",
        ],
    );
    let update = |m: &str, extra: &[&str]| {
        let mut a = vec!["update", "--json"];
        a.extend_from_slice(extra);
        agent(&s, m, now, &a)
    };
    // Professional: stable only.
    ok(activate(&s, "p", now, &svc.url, &[]));
    let o = update("p", &[]);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", testkit::run::show(&o)));
    assert_eq!(v["version"], "2.0.0", "{v}");
    fails(
        update("p", &["--channel", "beta"]),
        1,
        "CHANNEL_NOT_LICENSED",
    );
    // Sovereign: beta too, and stable stays stable.
    let mut a = vec![
        "activate",
        "--server",
        &svc.url,
        "--license",
        "lic-sov",
        "--root",
        "root.pub",
    ];
    a.extend(["--label", "sov"]);
    ok(agent(&s, "q", now, &a));
    let o = update("q", &["--channel", "beta"]);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", testkit::run::show(&o)));
    assert_eq!(v["version"], "2.1.0", "{v}");
    // The bundle states the images it installs and its channel.
    let o = s.on(
        "q",
        now,
        "runtime-verify",
        &[
            &format!("../vendor/{last}"),
            "--trust",
            "trust.json",
            "--root",
            "root.pub",
            "--json",
        ],
    );
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", testkit::run::show(&o)));
    assert_eq!(v["channel"], "beta", "{v}");
    assert_eq!(
        v["images"][0],
        format!("gateway/runtime@sha256:{}", "ab".repeat(32))
    );
}
