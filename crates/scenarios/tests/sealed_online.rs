//! Sealed builds over the activation service (issue 24): the service started with the
//! key-encryption key releases a registered build's key inside the lease it signs, refuses
//! without the KEK or for an unknown build, and every renewal re-wraps the key for the new
//! lease. Nothing it stores or answers holds the key unwrapped.

use crate::kit::*;
use crate::sealed::{extract, json, no_key_anywhere, show, Sealed, DAY0};

#[test]
fn the_service_releases_build_keys_and_renewals_carry_them() {
    if !have_tool("faketime") {
        return;
    }
    use crate::online::{activate as online_activate, agent, Service};
    let Sealed {
        s,
        bin,
        bid,
        archive,
        record,
    } = Sealed::new(2);
    ok(s.factory(
        DAY0,
        &[
            "build",
            "register",
            record.to_str().unwrap(),
            "--kek",
            "keys/kek.key",
            "--trust",
            "trust.json",
        ],
    ));
    s.carry("out", "out");
    {
        // A service without the KEK refuses, recording nothing.
        let svc = Service::start(&s, DAY0, &[]);
        fails(
            online_activate(&s, "o", DAY0, &svc.url, &["--build", &bid]),
            1,
            "BUILD_KEYS_DISABLED",
        );
    }
    let svc = Service::start(&s, DAY0, &["--kek", "keys/kek.key"]);
    fails(
        online_activate(
            &s,
            "p",
            DAY0,
            &svc.url,
            &["--build", "bnd-00000000000000ff"],
        ),
        1,
        "BUILD_NOT_FOUND",
    );
    ok(online_activate(&s, "o", DAY0, &svc.url, &["--build", &bid]));
    let lease = |m: &str| -> serde_json::Value {
        serde_json::from_slice(
            &std::fs::read(s.c.join(format!("state-{m}/activation/gateway/activation.json")))
                .unwrap(),
        )
        .unwrap()
    };
    let first = lease("o");
    assert_eq!(first["grants"][0]["bundle_id"], bid.as_str());
    let o = extract(&s, "o", "state-o", DAY0, &archive, "x-o");
    assert_eq!(json(&o)["opened"], true, "{}", show(&o));
    assert_eq!(std::fs::read(s.c.join("x-o/payload/app.bin")).unwrap(), bin);
    // A renewal: a higher sequence, the grant re-wrapped for it.
    ok(agent(&s, "o", DAY0, &["run", "--once", "--force"]));
    let second = lease("o");
    assert!(second["sequence"].as_u64() > first["sequence"].as_u64());
    assert_eq!(second["grants"][0]["bundle_id"], bid.as_str());
    assert_ne!(
        second["grants"][0]["wrapped_key"],
        first["grants"][0]["wrapped_key"]
    );
    let o = extract(&s, "o", "state-o", DAY0, &archive, "x-o2");
    assert_eq!(json(&o)["opened"], true, "{}", show(&o));
    // The service's registry, its answers (the installed leases) and the agent's output hold
    // the key wrapped only.
    let said = vec![agent(&s, "o", DAY0, &["status", "--json"])];
    drop(svc);
    no_key_anywhere(&s, &record, &said);
}
