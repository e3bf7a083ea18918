//! Amending and suspending a license mid-term (issue 23): the vendor raises the seats of a
//! live license without a new lineage (the machine already activated keeps its seat), then
//! suspends it for non-payment and resumes it; the customer's product follows each step from
//! the revocation lists it imports, and never loses its data.

use crate::activation::{Site, DAY0};
use crate::kit::*;

const DAY1: &str = "2026-11-23T10:00:00Z";
const DAY2: &str = "2026-11-24T10:00:00Z";
const DAY3: &str = "2026-11-25T10:00:00Z";

fn views(s: &Site, now: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(&ok(s.factory(now, &["list", "--json"]))).unwrap()
        ["licenses"]
        .clone()
}

fn view_of(s: &Site, now: &str, id: &str) -> String {
    views(s, now)
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["license_id"] == id)
        .map(|r| r["view"].as_str().unwrap().to_string())
        .unwrap()
}

/// The vendor publishes a revocation list; `machine` imports it into `state-<machine>`.
pub(crate) fn publish_and_import(s: &Site, now: &str, machine: &str) {
    let _ = std::fs::remove_dir_all(s.v.join("rl"));
    ok(s.factory(
        now,
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
    let _ = std::fs::remove_dir_all(s.c.join("rl"));
    s.carry("rl", "rl");
    ok(s.on(
        machine,
        now,
        "runtime-verify",
        &[
            "revocations",
            "import",
            "rl/revocations.json",
            "--trust",
            "trust.json",
            "--state",
            &format!("state-{machine}"),
        ],
    ));
}

#[test]
fn amend_raises_seats_in_the_lineage_and_suspension_stops_work_until_resumed() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(1);
    let old = s.license_id.clone();
    s.activate("m1", DAY0, &[]).unwrap();
    let full = s.activate("m2", DAY0, &[]).unwrap_err();
    fails(full, 1, "DEVICE_LIMIT_EXCEEDED");

    // Amend: two seats and one more feature, from now, in the same lineage.
    let new = ok(s.factory(
        DAY1,
        &[
            "amend",
            &old,
            "--device-limit",
            "2",
            "--feature",
            "mssql",
            "--key",
            "keys/license.key",
            "--trust",
            "trust.json",
            "--out",
            "lic-amended",
        ],
    ))
    .trim()
    .to_string();
    let amended: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.v.join("lic-amended/license.json")).unwrap())
            .unwrap();
    assert_eq!(amended["renewal_of"], old.as_str());
    assert_eq!(amended["limits"]["activations"], 2);
    assert!(amended["features"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("mssql")));
    assert_eq!(view_of(&s, DAY1, &old), "renewed");
    assert_eq!(view_of(&s, DAY1, &new), "active");
    // The customer installs the amended license; m1's seat carried over, so one more fits.
    for f in ["license.json", "license.sig"] {
        std::fs::copy(s.v.join("lic-amended").join(f), s.c.join("lic").join(f)).unwrap();
    }
    s.activate("m2", DAY1, &[]).unwrap();
    fails(
        s.activate("m3", DAY1, &[]).unwrap_err(),
        1,
        "DEVICE_LIMIT_EXCEEDED",
    );
    let seats: serde_json::Value =
        serde_json::from_str(&ok(s.factory(DAY1, &["activation", "list", &new, "--json"])))
            .unwrap();
    let live = seats["activations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["released_at"].is_null())
        .count();
    assert_eq!(live, 2, "{seats}");
    let (code, text) = s.product("m1", DAY1);
    assert_eq!(code, 0, "{text}");

    // Suspended for non-payment: no new seat at the vendor, and once the list is imported the
    // product stops licensed work (its own code) but keeps the data.
    // A renewal made before the suspension is suspended with its lineage: it cannot be the
    // way around it, and no renewal is made while suspended.
    let next = ok(s.factory(
        DAY2,
        &[
            "renew",
            &new,
            "--expires",
            "2028-06-01",
            "--key",
            "keys/license.key",
            "--out",
            "lic-next",
        ],
    ))
    .trim()
    .to_string();
    ok(s.factory(DAY2, &["suspend", &new, "--reason", "invoice 118 unpaid"]));
    assert_eq!(view_of(&s, DAY2, &new), "suspended");
    assert_eq!(view_of(&s, DAY2, &next), "suspended");
    fails(
        s.factory(
            DAY2,
            &[
                "renew",
                &next,
                "--expires",
                "2029-06-01",
                "--key",
                "keys/license.key",
                "--out",
                "lic-2029",
            ],
        ),
        2,
        "is suspended; resume it first",
    );
    fails(
        s.activate("m3", DAY2, &[]).unwrap_err(),
        1,
        "LICENSE_SUSPENDED",
    );
    publish_and_import(&s, DAY2, "m1");
    let list = std::fs::read_to_string(s.v.join("rl/revocations.json")).unwrap();
    assert!(list.contains("\"suspended\""), "{list}");
    assert!(list.contains(&next), "the renewal is named too: {list}");
    assert!(
        !list.contains("invoice"),
        "the vendor's words are not published: {list}"
    );
    let (code, text) = s.product("m1", DAY2);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("feature gate: denied (license_suspended, HTTP 402)"),
        "{text}"
    );
    assert!(
        text.contains("existing data and configuration: always available"),
        "{text}"
    );
    assert!(text.contains("suspended by the vendor"), "{text}");

    // Resumed: the next list no longer names it; the product works again.
    ok(s.factory(DAY3, &["resume", &new, "--reason", "paid"]));
    assert_eq!(
        view_of(&s, DAY3, &next),
        "future",
        "the renewal is resumed with it"
    );
    publish_and_import(&s, DAY3, "m1");
    let (code, text) = s.product("m1", DAY3);
    assert_eq!(code, 0, "{text}");
    ok(s.factory(DAY3, &["audit", "verify"]));
    // Amending a license that was superseded is refused: amend the latest.
    fails(
        s.factory(
            DAY3,
            &[
                "amend",
                &old,
                "--device-limit",
                "5",
                "--key",
                "keys/license.key",
                "--out",
                "again",
            ],
        ),
        2,
        &format!("was renewed by {new}"),
    );
}

/// The runbook of docs/OPERATIONS.md for a customer whose license key or license file leaked:
/// find the license by the key, renew it from now under a new key, revoke the old one
/// (`key_compromise`), reset the lineage's seats, publish; the customer re-activates.
#[test]
fn a_leaked_customer_license_key_is_replaced_and_stops_working() {
    if !have_tool("faketime") {
        return;
    }
    let s = Site::new(2);
    let old = s.license_id.clone();
    s.activate("m1", DAY0, &[]).unwrap();
    // Someone with the leaked files takes the second seat.
    s.activate("intruder", DAY0, &[]).unwrap();

    // The vendor finds the license by the key the customer reads out.
    let shown: serde_json::Value =
        serde_json::from_str(&ok(s.factory(DAY1, &["show", &old, "--json"]))).unwrap();
    let key = shown["license"]["license_key"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let found: serde_json::Value =
        serde_json::from_str(&ok(s.factory(DAY1, &["show", &key, "--json"]))).unwrap();
    assert_eq!(found["license"]["license_id"], old.as_str());
    assert_eq!(found["seats_in_use"], 2);

    // 1. renew from now, same expiry, new id and key; 2. revoke the old one; 3. reset the
    // lineage's seats; 4. publish.
    let new = ok(s.factory(
        DAY1,
        &[
            "renew",
            &old,
            "--from-now",
            "--expires",
            "2027-06-01",
            "--key",
            "keys/license.key",
            "--trust",
            "trust.json",
            "--out",
            "lic-new",
        ],
    ))
    .trim()
    .to_string();
    ok(s.factory(
        DAY1,
        &[
            "revoke",
            &old,
            "--reason",
            "key posted on a forum",
            "--code",
            "key_compromise",
        ],
    ));
    ok(s.factory(
        DAY1,
        &[
            "activation",
            "reset",
            &new,
            "--reason",
            "leaked license key",
        ],
    ));
    // The leaked key activates nothing any more.
    fails(
        s.activate("intruder-2", DAY1, &[]).unwrap_err(),
        1,
        "LICENSE_REVOKED",
    );
    publish_and_import(&s, DAY1, "m1");
    let list = std::fs::read_to_string(s.v.join("rl/revocations.json")).unwrap();
    assert!(
        list.contains("key_compromise") && !list.contains("forum"),
        "{list}"
    );
    // The intruder's machine, once it sees the list, refuses the old license.
    s.carry("rl", "rl-intruder");
    ok(s.on(
        "intruder",
        DAY1,
        "runtime-verify",
        &[
            "revocations",
            "import",
            "rl-intruder/revocations.json",
            "--trust",
            "trust.json",
            "--state",
            "state-intruder",
        ],
    ));
    let (code, text) = s.product("intruder", DAY1);
    assert_ne!(code, 0, "{text}");
    // The customer installs the new license and activates again: the seats are all free.
    for f in ["license.json", "license.sig"] {
        std::fs::copy(s.v.join("lic-new").join(f), s.c.join("lic").join(f)).unwrap();
    }
    s.activate("m1", DAY1, &[]).unwrap();
    s.activate("m2", DAY1, &[]).unwrap();
    let (code, text) = s.product("m1", DAY1);
    assert_eq!(code, 0, "{text}");
    ok(s.factory(DAY1, &["audit", "verify"]));
}
