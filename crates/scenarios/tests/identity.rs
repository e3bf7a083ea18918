//! Identities that survive containers and VMs (FORMAT.md §21), through the real binaries: each
//! machine is a directory of the files a system shows (`AIRLOCK_SYSTEM_ROOT`: machine id, DMI,
//! network interfaces, hostname, container and hypervisor marks), with no instance id set, so
//! its fingerprint comes from its machine id as on a real host. A re-imaged VM keeps its seat;
//! a copy on another machine with only the hostname in common does not; a VM is refused where
//! the license denies VMs; a container is sent to the seat server where seats float there.

use crate::activation::Site;
use crate::floating::start_seatd_as;
use crate::kit::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const NOW: &str = "2026-11-23T10:00:00Z";

/// A machine's system files under `root`.
fn machine(
    root: &Path,
    machine_id: &str,
    dmi: &str,
    mac: &str,
    host: &str,
    marks: &[(&str, &str)],
) {
    let files: Vec<(&str, String)> = [
        ("etc/machine-id", format!("{machine_id}\n")),
        ("sys/class/dmi/id/product_uuid", format!("{dmi}\n")),
        ("sys/class/net/eth0/address", format!("{mac}\n")),
        ("sys/class/net/eth0/device/vendor", "0x8086\n".to_string()),
        ("proc/sys/kernel/hostname", format!("{host}\n")),
        (
            "proc/cpuinfo",
            "processor\t: 0\nflags\t\t: fpu vme sse2\n".to_string(),
        ),
    ]
    .into_iter()
    .chain(marks.iter().map(|(p, b)| (*p, b.to_string())))
    .collect();
    for (p, body) in files {
        let f = root.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, body).unwrap();
    }
}

/// `tool args` on the machine whose system files are under `root`, its clock at `now`.
fn on(s: &Site, root: &Path, now: &str, tool: &str, args: &[&str]) -> Output {
    testkit::at_clock(now, testkit::bin(tool))
        .args(args)
        .current_dir(&s.c)
        .env("AIRLOCK_SYSTEM_ROOT", root)
        .env_remove("AIRLOCK_INSTANCE_ID")
        .env_remove("AIRLOCK_ROOT")
        .env_remove("container")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap()
}

/// A license whose tier matches two components, denies VMs and lets seats only float in
/// containers (`lic-id`).
fn site() -> Site {
    let s = Site::new(2);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/catalog.json");
    let text = std::fs::read_to_string(fixture).unwrap().replacen(
        r#""activation": {"required": true, "device_limit": 1}"#,
        r#""activation": {"required": true, "device_limit": 3, "match": "two", "virtualization": {"vm": "deny", "container": "floating"}}, "floating": {"seats": 2, "node_lease_minutes": 15}"#,
        1,
    );
    std::fs::write(s.v.join("id.json"), text).unwrap();
    ok(s.factory(
        crate::activation::DAY0,
        &[
            "issue",
            "--tier",
            "professional",
            "--customer",
            "Initech",
            "--customer-id",
            "initech",
            "--additional",
            "--product",
            "gateway",
            "--expires",
            "2027-06-01",
            "--key",
            "keys/license.key",
            "--out",
            "lic-id",
            "--catalog",
            "id.json",
        ],
    ));
    s.carry("lic-id", "lic-id");
    s
}

/// request on the machine at `root` → fulfil → (install): the fulfilment's output.
fn activate(s: &Site, root: &Path, state: &str, extra: &[&str]) -> Output {
    let req = format!("req-{state}.json");
    let mut args = vec![
        "request",
        "--license",
        "lic-id",
        "--state",
        state,
        "--out",
        &req,
        "--force",
    ];
    args.extend_from_slice(extra);
    ok(on(s, root, NOW, "airlock-agent", &args));
    s.carry_back(&req);
    // The same answer directory each time: the factory replaces the lease of the same
    // installation (its instance key), even when the machine's fingerprint changed.
    let out = format!("act-{state}");
    let o = s.factory(
        NOW,
        &[
            "activation",
            "fulfill",
            &req,
            "--key",
            "keys/activation.key",
            "--out",
            &out,
            "--json",
        ],
    );
    if o.status.success() {
        s.carry(&out, &out);
        ok(on(
            s,
            root,
            NOW,
            "airlock-agent",
            &[
                "install",
                &out,
                "--trust",
                "trust.json",
                "--root",
                "root.pub",
                "--state",
                state,
            ],
        ));
    }
    o
}

fn product(s: &Site, root: &Path, state: &str) -> Output {
    on(
        s,
        root,
        NOW,
        "example-product",
        &[
            "--trust",
            "trust.json",
            "--license",
            "lic-id",
            "--state",
            state,
            "--root",
            "root.pub",
            "--feature",
            "gate",
        ],
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", testkit::run::show(o)))
}

#[test]
fn a_reimaged_vm_keeps_its_seat_and_a_copy_with_only_the_hostname_in_common_does_not() {
    if !have_tool("faketime") {
        return;
    }
    let s = site();
    let roots: PathBuf = s.c.join("machines");
    let a = roots.join("a");
    machine(
        &a,
        "0123456789abcdef0123456789abcdef",
        "4c4c4544-0042-3510-8052-b4c04f4e4d32",
        "52:54:00:aa:bb:01",
        "db-1",
        &[],
    );
    let first = json(&activate(&s, &a, "state-a", &[]));
    assert_eq!(first["new_seat"], true, "{first}");
    // The request carries one-way values only: no raw id, address or name.
    let req = std::fs::read_to_string(s.v.join("req-state-a.json")).unwrap();
    for raw in [
        "0123456789abcdef0123456789abcdef",
        "52:54:00:aa:bb:01",
        "db-1",
        "4c4c4544",
    ] {
        assert!(!req.contains(raw), "{raw} in the request");
    }
    let r: Value = serde_json::from_str(&req).unwrap();
    assert_eq!(r["signed"]["environment"], "physical", "{r}");
    assert_eq!(
        r["signed"]["components"].as_object().unwrap().len(),
        4,
        "{r}"
    );
    // The lease carries the seat's components and the policy.
    let lease: Value =
        serde_json::from_slice(&std::fs::read(s.c.join("act-state-a/activation.json")).unwrap())
            .unwrap();
    assert_eq!(lease["match"], "two", "{lease}");
    assert_eq!(product(&s, &a, "state-a").status.code(), Some(0));

    // Re-imaged: a new machine id (so a new fingerprint), the same DMI UUID and NIC. The lease
    // it holds still runs the product, and a new request gets the same seat back.
    machine(
        &a,
        "fedcba9876543210fedcba9876543210",
        "4c4c4544-0042-3510-8052-b4c04f4e4d32",
        "52:54:00:aa:bb:01",
        "db-1",
        &[],
    );
    let o = product(&s, &a, "state-a");
    assert_eq!(o.status.code(), Some(0), "{}", testkit::run::show(&o));
    let again = json(&activate(&s, &a, "state-a", &[]));
    assert_eq!(again["new_seat"], false, "{again}");
    assert_eq!(again["activation_id"], first["activation_id"]);
    // Then a new NIC too (two changes in two steps): the DMI UUID and the new machine id carry it.
    machine(
        &a,
        "fedcba9876543210fedcba9876543210",
        "4c4c4544-0042-3510-8052-b4c04f4e4d32",
        "52:54:00:aa:bb:99",
        "db-1",
        &[],
    );
    assert_eq!(product(&s, &a, "state-a").status.code(), Some(0));

    // The state directory copied to another machine that shares only the hostname: refused.
    let c = roots.join("c");
    machine(
        &c,
        "00112233445566778899aabbccddeeff",
        "11111111-2222-3333-4444-555555555555",
        "52:54:00:cc:cc:01",
        "db-1",
        &[],
    );
    copy(&s.c.join("state-a"), &s.c.join("state-c"));
    let o = product(&s, &c, "state-c");
    assert_eq!(o.status.code(), Some(3), "{}", testkit::run::show(&o));
    let v = on(
        &s,
        &c,
        NOW,
        "runtime-verify",
        &[
            "activation",
            "--state",
            "state-c",
            "--trust",
            "trust.json",
            "--license",
            "lic-id",
            "--json",
        ],
    );
    let v = json(&v);
    assert_eq!(
        v["activations"][0]["check"], "activation_other_machine",
        "{v}"
    );
    // Its own request for a seat (same instance key, too little in common) is a new seat.
    let fresh = json(&activate(&s, &c, "state-c", &[]));
    assert_eq!(fresh["new_seat"], true, "{fresh}");
    assert_ne!(fresh["activation_id"], first["activation_id"]);
}

#[test]
fn a_vm_is_refused_where_the_license_denies_it_and_a_container_is_sent_to_the_seat_server() {
    if !have_tool("faketime") {
        return;
    }
    let s = site();
    let roots = s.c.join("machines");
    let vm = roots.join("vm");
    machine(
        &vm,
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "22222222-2222-3333-4444-555555555555",
        "52:54:00:00:00:01",
        "vm-1",
        &[("sys/class/dmi/id/sys_vendor", "QEMU")],
    );
    let o = activate(&s, &vm, "state-vm", &[]);
    fails(o, 1, "ENVIRONMENT_NOT_ALLOWED");
    let pod = roots.join("pod");
    machine(
        &pod,
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "33333333-2222-3333-4444-555555555555",
        "02:42:ac:11:00:02",
        "pod-1",
        &[("proc/1/cgroup", "0::/kubepods/besteffort/pod7\n")],
    );
    let o = activate(&s, &pod, "state-pod", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", testkit::run::show(&o));
    let text = testkit::run::show(&o);
    assert!(
        text.contains("ENVIRONMENT_NOT_ALLOWED") && text.contains("seat server"),
        "{text}"
    );

    // The seat server (itself in a container: infrastructure, not asked) gets its pool lease.
    let srv = roots.join("seatd");
    machine(
        &srv,
        "cccccccccccccccccccccccccccccccc",
        "44444444-2222-3333-4444-555555555555",
        "02:42:ac:11:00:03",
        "seatd-0",
        &[(".dockerenv", "")],
    );
    ok(activate(&s, &srv, "state-seatd", &["--pool"]));
    copy(&s.c.join("lic-id"), &s.c.join("lic-float"));
    let server = start_seatd_as(&s, NOW, &["--state", "state-seatd"], |c| {
        c.env("AIRLOCK_SYSTEM_ROOT", &srv)
            .env_remove("AIRLOCK_INSTANCE_ID")
            .env_remove("container")
            .env_remove("KUBERNETES_SERVICE_HOST");
    })
    .unwrap();
    let claim = |root: &Path, state: &str| {
        on(
            &s,
            root,
            NOW,
            "airlock-agent",
            &[
                "claim",
                "--seat-server",
                &server.url,
                "--license",
                "lic-id",
                "--state",
                state,
                "--trust",
                "trust.json",
                "--root",
                "root.pub",
                "--json",
            ],
        )
    };
    // The pod's seat floats: it claims one, and the product runs on it.
    let v = json(&claim(&pod, "state-pod"));
    assert_eq!(v["new_seat"], true, "{v}");
    assert_eq!(product(&s, &pod, "state-pod").status.code(), Some(0));
    // A VM gets no seat, floating or not.
    fails(claim(&vm, "state-vm"), 1, "ENVIRONMENT_NOT_ALLOWED");
}
