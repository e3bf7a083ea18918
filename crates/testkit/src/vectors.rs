//! Language-neutral test vectors (the repository's `vectors/` directory): one directory per
//! case, each with a `case.txt` header that says what to verify and the expected verdict, and
//! the files to verify. Generated here from seeded keys (Ed25519 signatures and the bundle
//! writer are deterministic), so `make vectors` rewrites them byte for byte; a scenario test
//! checks that the committed files are current and that the runtime gives every verdict.
//! The format is documented in `vectors/README.md`.

use crate::bundle::{key, license, product_manifest, signed_json, t, Keys, NOW};
use crate::cases::bundle_cases;
use canon::{enc, Envelope, Kind, Role, Value};
use runtime::license::{LicenseV2, Tier};
use runtime::manifest::{BundleManifest, Member};
use runtime::revocation::RevocationList;
use runtime::Artifact;
use signing::trust::sign_trust_file;
use std::path::Path;

/// One vector: its directory (`group/name`), header lines and files.
pub struct Vector {
    pub dir: String,
    pub header: Vec<(&'static str, String)>,
    pub files: Vec<(String, Vec<u8>)>,
}

impl Vector {
    fn new(group: &str, name: &str, verify: &str, expect: &str, comment: &str) -> Vector {
        Vector {
            dir: format!("{group}/{name}"),
            header: vec![
                ("expect", expect.to_string()),
                ("verify", verify.to_string()),
                ("comment", comment.to_string()),
            ],
            files: Vec::new(),
        }
    }

    fn at(mut self, key: &'static str, value: &str) -> Vector {
        self.header.push((key, value.to_string()));
        self
    }

    fn file(mut self, name: &str, bytes: Vec<u8>) -> Vector {
        self.files.push((name.to_string(), bytes));
        self
    }

    /// The `case.txt` text.
    pub fn case_txt(&self) -> String {
        self.header
            .iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect()
    }

    /// Writes the case into `root/dir`.
    pub fn write(&self, root: &Path) -> std::io::Result<()> {
        let dir = root.join(&self.dir);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("case.txt"), self.case_txt())?;
        for (name, bytes) in &self.files {
            std::fs::write(dir.join(name), bytes)?;
        }
        Ok(())
    }
}

/// The shared anchor and trust file most cases use.
fn anchored(v: Vector, keys: &Keys) -> Vector {
    v.file("anchor.txt", anchor(keys))
        .file("trust.json", keys.trust_with(1, &keys.entries()))
}

fn anchor(keys: &Keys) -> Vec<u8> {
    format!("{}\n", enc::b64(&keys.root.public_key())).into_bytes()
}

/// Every vector, in a stable order.
pub fn all() -> Vec<Vector> {
    let keys = Keys::new();
    let mut out = Vec::new();
    out.extend(envelopes(&keys));
    out.extend(trust_files(&keys));
    out.extend(licenses(&keys));
    out.extend(revocation_lists(&keys));
    out.extend(manifests(&keys));
    out.extend(bundles(&keys));
    out
}

/// Writes every vector under `root` (which should be empty or absent).
pub fn write_all(root: &Path) -> std::io::Result<()> {
    for v in all() {
        v.write(root)?;
    }
    Ok(())
}

fn license_case(keys: &Keys, name: &str, expect: &str, comment: &str) -> Vector {
    let (doc, sig) = signed_json(&keys.license, Kind::License, &license());
    anchored(
        Vector::new("license", name, "license", expect, comment).at("at", NOW),
        keys,
    )
    .file("license.json", doc)
    .file("license.sig", sig)
}

fn envelopes(keys: &Keys) -> Vec<Vector> {
    let canonical = license().to_canonical();
    let good = keys
        .license
        .sign_document(Kind::License, &canonical)
        .unwrap();
    let with_sig = |name: &str, expect: &str, comment: &str, sig: Vec<u8>| {
        let mut v = license_case(keys, name, expect, comment);
        v.dir = format!("envelope/{name}");
        v.files.retain(|(n, _)| n != "license.sig");
        v.file("license.sig", sig)
    };
    let edit = |f: &dyn Fn(&mut String)| {
        let mut s = String::from_utf8(good.to_bytes()).unwrap();
        f(&mut s);
        s.into_bytes()
    };
    let mut flipped = good.clone();
    flipped.sig[0] ^= 1;
    vec![
        with_sig("valid", "valid active", "a license envelope: canonical JSON of alg, key_id, payload_type, sig and a final newline", good.to_bytes()),
        with_sig(
            "payload_type_of_another_kind",
            "rejected signature_wrong_kind",
            "a genuine signature by the license key, but over a revocation list's payload type",
            keys.license.sign_document(Kind::Revocations, &canonical).unwrap().to_bytes(),
        ),
        with_sig(
            "unknown_member",
            "rejected signature_envelope_invalid",
            "an extra member in the envelope",
            edit(&|s| *s = s.replacen("{", "{\"extra\":1,", 1)),
        ),
        with_sig(
            "signature_not_64_bytes",
            "rejected signature_envelope_invalid",
            "sig is base64 of 63 bytes",
            edit(&|s| {
                let i = s.find("\"sig\":\"").unwrap() + 7;
                s.replace_range(i..i + 4, "");
            }),
        ),
        with_sig(
            "unknown_key",
            "rejected key_unknown",
            "signed by a license key the trust file does not list",
            key(9, Role::License).sign_document(Kind::License, &canonical).unwrap().to_bytes(),
        ),
        with_sig(
            "signature_flipped",
            "rejected signature_invalid",
            "one bit of the signature flipped",
            flipped.to_bytes(),
        ),
        with_sig(
            "signed_by_the_release_key",
            "rejected key_wrong_role",
            "a trusted key, but of the release role",
            // The release key's material under a license label: the signing tool checks roles
            // too, so the hostile envelope is made as an attacker would.
            key(3, Role::License).sign_document(Kind::License, &canonical).unwrap().to_bytes(),
        ),
    ]
}

fn trust_files(keys: &Keys) -> Vec<Vector> {
    let v = |name: &str, expect: &str, comment: &str, trust: Vec<u8>| {
        Vector::new("trust", name, "trust", expect, comment)
            .file("anchor.txt", anchor(keys))
            .file("trust.json", trust)
    };
    let genuine = keys.trust_with(1, &keys.entries());
    let extra_sig = |sig: Value| {
        let mut doc = canon::parse(&genuine).unwrap();
        let Some(Value::Array(list)) = doc.get_mut("signatures") else {
            unreachable!("a trust file has signatures")
        };
        list.push(sig);
        doc.to_pretty()
    };
    let body = canon::parse(&genuine)
        .unwrap()
        .get("signed")
        .unwrap()
        .to_canonical();
    let other = key(7, Role::Root);
    let mut with_member =
        canon::parse(&other.sign_document(Kind::Trust, &body).unwrap().to_bytes()).unwrap();
    if let Value::Object(m) = &with_member {
        let mut members = m.to_vec();
        members.push(("note".into(), Value::String("x".into())));
        with_member = Value::object(members).unwrap();
    }
    let mut bad_name = keys.entries();
    bad_name[1].name = "bad name".into();
    let mut no_root = keys.entries();
    no_root[0].roles = vec![Role::License];
    let mut unanchored = keys.entries();
    unanchored.push(crate::bundle::entry(&other, runtime::KeyStatus::Active));
    let entries = keys.entries();
    vec![
        v(
            "valid",
            "valid",
            "one root signature by the anchored root, which the file lists as an active root",
            genuine.clone(),
        ),
        v(
            "extra_signature_with_an_unknown_member",
            "rejected signature_envelope_invalid",
            "a second signature entry with a member no envelope has, after the valid one",
            extra_sig(with_member),
        ),
        v(
            "extra_signature_of_another_payload_type",
            "rejected signature_wrong_kind",
            "a second signature entry over another artifact kind, after the valid one",
            extra_sig(
                canon::parse(
                    &key(7, Role::License)
                        .sign_document(Kind::License, &body)
                        .unwrap()
                        .to_bytes(),
                )
                .unwrap(),
            ),
        ),
        v(
            "key_name_with_a_space",
            "rejected schema_invalid",
            "key names are 1-64 of A-Z a-z 0-9 . _ - (not starting with .)",
            sign_trust_file(&keys.root, 1, t("2026-06-01"), &bad_name).unwrap(),
        ),
        v(
            "no_active_root",
            "rejected schema_invalid",
            "the file lists no active root key, so no next file could be anchored",
            sign_trust_file(&keys.root, 1, t("2026-06-01"), &no_root).unwrap(),
        ),
        v(
            "signed_by_a_root_that_is_not_the_anchor",
            "rejected trust_invalid",
            "a root key the file lists, but not the anchor",
            sign_trust_file(&other, 1, t("2026-06-01"), &unanchored).unwrap(),
        ),
        v(
            "issued_outside_the_root_window",
            "rejected key_outside_validity",
            "issued_at after the root key's not_after",
            sign_trust_file(&keys.root, 1, t("2030-06-01"), &entries).unwrap(),
        ),
        v(
            "version_zero",
            "rejected schema_invalid",
            "version is an integer from 1 to 2^53-1",
            sign_trust_file(&keys.root, 0, t("2026-06-01"), &entries).unwrap(),
        ),
    ]
}

/// A schema-2 (legacy) license case judged at `at`, with a detached envelope naming `detached`.
fn legacy_v2(
    keys: &Keys,
    name: &str,
    expect: &str,
    at: &str,
    comment: &str,
    detached: Option<canon::KeyId>,
) -> Vector {
    let mut doc = LicenseV2 {
        schema_version: 2,
        license_id: "lic-legacy-0001".into(),
        license_key: "ABCD-EFGH-JKMN-PQRS".into(),
        issuer: "Test Vendor".into(),
        customer_id: "acme".into(),
        customer_name: "ACME".into(),
        product: "gateway".into(),
        tier: Tier::Professional,
        features: vec!["gate".into()],
        limits: Default::default(),
        issued_at: "2026-11-05T00:00:00Z".into(),
        expires_at: "2027-06-30T00:00:00Z".into(),
        signature: String::new(),
    };
    let sig = keys.license.sign_legacy_v2(&doc.signed_bytes()).unwrap();
    doc.signature = enc::b64(&sig);
    let mut v = anchored(
        Vector::new("license", name, "license", expect, comment).at("at", at),
        keys,
    )
    .file("license.json", doc.to_pretty());
    if let Some(key_id) = detached {
        let env = Envelope {
            key_id,
            kind: Kind::License,
            sig,
        };
        v = v.file("license.sig", env.to_bytes());
    }
    v
}

fn licenses(keys: &Keys) -> Vec<Vector> {
    let signed =
        |name: &str, expect: &str, comment: &str, edit: &dyn Fn(&mut runtime::license::License)| {
            let mut l = license();
            edit(&mut l);
            let (doc, sig) = signed_json(&keys.license, Kind::License, &l);
            anchored(
                Vector::new("license", name, "license", expect, comment).at("at", NOW),
                keys,
            )
            .file("license.json", doc)
            .file("license.sig", sig)
        };
    // A state is judged at `at`: the same license at five instants.
    let state = |name: &str, expect: &str, at: &str, comment: &str| {
        let mut v = license_case(keys, name, expect, comment);
        v.header.retain(|(k, _)| *k != "at");
        v.at("at", at)
    };
    let v2 = |name: &str, expect: &str, at: &str, comment: &str, detached: Option<canon::KeyId>| {
        legacy_v2(keys, name, expect, at, comment, detached)
    };
    let mut out = vec![
        state(
            "state_not_yet_valid",
            "valid not_yet_valid",
            "2026-10-31T23:59:59Z",
            "one second before not_before",
        ),
        state(
            "state_active_from_not_before",
            "valid active",
            "2026-11-01T00:00:00Z",
            "valid from not_before itself",
        ),
        state(
            "state_expiring_soon",
            "valid expiring_soon",
            "2027-10-02T00:00:00Z",
            "30 days or less before expires_at (the default warning window)",
        ),
        state(
            "state_grace",
            "valid grace",
            "2027-11-01T00:00:00Z",
            "from expires_at itself, within grace_days",
        ),
        state(
            "state_expired",
            "valid expired",
            "2027-12-01T00:00:00Z",
            "expires_at + grace_days (30) is past; the signature is still valid",
        ),
        signed(
            "name_of_256_characters",
            "valid active",
            "lengths are counted in Unicode characters: 256 x U+00FC is 512 bytes and allowed",
            &|l| l.customer.name = "\u{fc}".repeat(256),
        ),
        signed(
            "name_of_257_characters",
            "rejected schema_invalid",
            "257 characters is one too many",
            &|l| l.customer.name = "a".repeat(257),
        ),
        signed(
            "control_character_in_a_name",
            "rejected schema_invalid",
            "signed text must be printable: U+001B in customer.name",
            &|l| l.customer.name = "ACME\u{1b}[31m".into(),
        ),
        signed(
            "sequence_two_without_renewal_of",
            "rejected schema_invalid",
            "a first license has sequence 1",
            &|l| l.sequence = 2,
        ),
        signed(
            "issued_before_the_key_window",
            "rejected key_outside_validity",
            "issued_at before the license key's not_before",
            &|l| {
                l.issued_at = "2025-12-31T23:59:59Z".into();
                l.not_before = "2025-12-31T23:59:59Z".into();
            },
        ),
        v2(
            "legacy_v2_before_the_cutoff",
            "valid active",
            "2026-12-31T23:59:59Z",
            "schema 2 is accepted through 2026-12-31 (the last second)",
            None,
        ),
        v2(
            "legacy_v2_at_the_cutoff",
            "rejected schema_invalid",
            "2027-01-01T00:00:00Z",
            "schema 2 is refused from 2027-01-01T00:00:00Z on",
            None,
        ),
        v2(
            "legacy_v2_detached_sig_by_its_signer",
            "valid active",
            NOW,
            "a detached license.sig for a v2 license names the key that made the inline signature",
            Some(canon::KeyId::of(&keys.license.public_key())),
        ),
        v2(
            "legacy_v2_detached_sig_naming_another_key",
            "rejected schema_invalid",
            NOW,
            "the detached license.sig names a key other than the signer",
            Some(canon::KeyId::of(&keys.release.public_key())),
        ),
    ];
    let mut missing = license_case(
        keys,
        "schema_3_without_license_sig",
        "rejected schema_invalid",
        "schema 3 needs its detached license.sig",
    );
    missing.files.retain(|(n, _)| n != "license.sig");
    out.push(missing);
    let mut unknown = license_case(
        keys,
        "unknown_member",
        "rejected schema_invalid",
        "a member the schema does not define (signed, so only the schema can refuse it)",
    );
    let mut v = serde_json::to_value(license()).unwrap();
    v.as_object_mut()
        .unwrap()
        .insert("extra".into(), serde_json::Value::Bool(true));
    let canonical = canon::canonicalize(&serde_json::to_vec(&v).unwrap()).unwrap();
    let env = keys
        .license
        .sign_document(Kind::License, &canonical)
        .unwrap();
    unknown
        .files
        .retain(|(n, _)| n != "license.json" && n != "license.sig");
    out.push(
        unknown
            .file("license.json", canonical)
            .file("license.sig", env.to_bytes()),
    );
    out
}

fn revocation_lists(keys: &Keys) -> Vec<Vector> {
    let list_with = |name: &str, expect: &str, comment: &str, seq: u64, reason: &str| {
        let mut l = RevocationList::new(
            seq,
            t("2026-11-10"),
            [(
                "lic-test-0001".to_string(),
                runtime::revocation::Reason::CessationOfOperation,
                t("2026-11-09"),
            )],
        );
        l.revoked[0].reason = reason.to_string();
        let (doc, sig) = signed_json(&keys.license, Kind::Revocations, &l);
        anchored(
            Vector::new("revocations", name, "revocations", expect, comment),
            keys,
        )
        .file("revocations.json", doc)
        .file("revocations.sig", sig)
    };
    let list = |name: &str, expect: &str, comment: &str, seq: u64| {
        list_with(name, expect, comment, seq, "cessation_of_operation")
    };
    vec![
        list_with(
            "reason_not_a_code",
            "rejected schema_invalid",
            "a reason is a code from the fixed list, never free text",
            1,
            "contract ended",
        ),
        list("valid", "valid", "sequence 1 is the lowest", 1),
        list(
            "sequence_zero",
            "rejected schema_invalid",
            "sequence is an integer from 1 to 2^53-1",
            0,
        ),
    ]
}

fn manifests(keys: &Keys) -> Vec<Vector> {
    let pm = |name: &str,
              expect: &str,
              comment: &str,
              signed_at: &str,
              edit: &dyn Fn(&mut runtime::manifest::ProductManifest)| {
        let mut m = product_manifest();
        edit(&mut m);
        let (doc, sig) = signed_json(&keys.release, Kind::ProductManifest, &m);
        anchored(
            Vector::new(
                "product-manifest",
                name,
                "product-manifest",
                expect,
                comment,
            ),
            keys,
        )
        .at("signed-at", signed_at)
        .file("product-manifest.json", doc)
        .file("product-manifest.sig", sig)
    };
    let bm = |name: &str,
              expect: &str,
              comment: &str,
              pretty: bool,
              edit: &dyn Fn(&mut BundleManifest)| {
        let mut m = BundleManifest {
            doc_type: "airlock-bundle-manifest".into(),
            bundle_id: crate::bundle::BUNDLE_ID.into(),
            created_at: "2026-11-20T00:00:00Z".into(),
            airgap: false,
            product: "gateway".into(),
            version: "1.0.0".into(),
            customer: license().customer,
            encryption: None,
            license_id: "lic-test-0001".into(),
            license_sha256: "a".repeat(64),
            product_manifest_sha256: "b".repeat(64),
            sequence: 1,
            members: [
                "CHECKSUMS.txt",
                "license.json",
                "license.sig",
                "manifests/product-manifest.json",
                "manifests/product-manifest.sig",
                "payload/a",
                "payload/b",
            ]
            .iter()
            .map(|p| Member {
                mode: 0o644,
                path: p.to_string(),
                sha256: "c".repeat(64),
                size: 1,
            })
            .collect(),
        };
        edit(&mut m);
        // Signed over the stored bytes, as the runtime checks it: pretty bytes get a valid
        // signature, so only the canonical-storage rule can refuse them.
        let doc = if pretty {
            m.to_pretty()
        } else {
            m.to_canonical()
        };
        let env = keys
            .release
            .sign_document(Kind::BundleManifest, &doc)
            .unwrap();
        anchored(
            Vector::new("bundle-manifest", name, "bundle-manifest", expect, comment),
            keys,
        )
        .file("bundle-manifest.json", doc)
        .file("bundle-manifest.sig", env.to_bytes())
    };
    vec![
        pm("valid", "valid", "its key window is judged at signed-at (the bundle's created_at), not at released_at", "2026-11-20T00:00:00Z", &|_| {}),
        pm("version_with_a_leading_zero", "rejected schema_invalid", "versions are MAJOR.MINOR.PATCH without leading zeros", "2026-11-20T00:00:00Z", &|m| m.version = "1.02.0".into()),
        pm("signed_after_the_key_window", "rejected key_outside_validity", "signed-at after the release key's not_after", "2030-06-01T00:00:00Z", &|_| {}),
        bm("valid", "valid", "stored in canonical form, signed over those bytes", false, &|_| {}),
        bm("stored_pretty", "rejected schema_invalid", "the manifest pretty-printed and signed over those bytes: a bundle manifest is stored canonical", true, &|_| {}),
        bm("bundle_id_of_the_wrong_shape", "rejected schema_invalid", "bundle_id is bnd- and 16 lowercase hex digits", false, &|m| m.bundle_id = "bnd-00000000000000AA".into()),
        bm("payload_not_sorted", "rejected schema_invalid", "payload members come sorted by path bytes", false, &|m| m.members.swap(5, 6)),
        bm("metadata_out_of_order", "rejected schema_invalid", "CHECKSUMS.txt, license.json, license.sig, the product manifest pair, then the payload", false, &|m| m.members.swap(1, 2)),
        bm("file_and_directory_of_one_name", "rejected schema_invalid", "payload/a is listed as a file and as the directory of payload/a/x", false, &|m| {
            let mut x = m.members[5].clone();
            x.path = "payload/a/x".into();
            m.members.insert(6, x);
        }),
    ]
}

fn bundles(keys: &Keys) -> Vec<Vector> {
    bundle_cases(keys)
        .into_iter()
        .map(|c| {
            let expect = match c.expect {
                None => "valid".to_string(),
                Some(code) => format!("rejected {code}"),
            };
            anchored(
                Vector::new(
                    "bundle",
                    c.name,
                    "bundle",
                    &expect,
                    "a named case of the test kit's bundle table",
                )
                .at("at", NOW)
                .at("runtime-version", "0.1.0"),
                keys,
            )
            .file("bundle.tar.gz", c.bundle.0)
            .file("bundle.tar.gz.sig", c.bundle.1)
        })
        .collect()
}

/// Reads a committed case's header (`key: value` lines).
pub fn read_header(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
