//! One decision, two sides: the packager's refusal before signing and the runtime's verdict
//! after verifying come from the same function (`runtime::policy::coherence`). Every named
//! case of the test kit is fed to both: a coherence problem gets the same check code from
//! each; anything else (a bad signature, a license expired at install) is not the packager's
//! to judge from these facts and passes its coherence check.

use testkit::cases::bundle_cases;
use testkit::{t, verify, Keys};

const COHERENCE: &[&str] = &[
    "wrong_product",
    "edition_not_licensed",
    "wrong_edition",
    "feature_not_licensed",
    "airgap_not_licensed",
    "runtime_too_old",
    "manifest_outside_license_window",
];

#[test]
fn packager_and_runtime_decide_coherence_alike() {
    let keys = Keys::new();
    let store = keys.store();
    let mut judged = 0;
    for c in bundle_cases(&keys) {
        let vendor =
            packager::bundle::coherence(&c.license, &c.pm, c.airgap, t(&c.created_at)).err();
        let vendor_code = vendor
            .as_ref()
            .and_then(|e| runtime::check_of(e.as_ref()))
            .map(|c| c.as_str());
        let customer = verify(&store, &c.bundle).err().map(|e| e.code().as_str());
        assert_eq!(customer, c.expect, "{}: runtime", c.name);
        match c.expect {
            Some(code) if COHERENCE.contains(&code) => {
                assert_eq!(vendor_code, Some(code), "{}: packager", c.name);
                judged += 1;
            }
            _ => assert_eq!(vendor_code, None, "{}: packager refused {vendor:?}", c.name),
        }
    }
    assert!(judged >= 5, "the table covers the coherence checks");
}
