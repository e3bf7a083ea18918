//! Named bundles, genuine and hostile, replayed by every suite that must agree on them (the
//! two verifiers' CLIs, the library). Each case says which check must refuse it.

use crate::bundle::{build, key, manifest_of, trusted_comment, Keys, Spec};
use canon::Role;
use runtime::license::License;
use runtime::manifest::ProductManifest;

/// One named bundle and the check that must refuse it (`None`: valid).
pub struct Case {
    pub name: &'static str,
    pub expect: Option<&'static str>,
    pub bundle: (Vec<u8>, Vec<u8>),
    /// What the bundle was built from (for the packager's side of the same decision).
    pub license: License,
    pub pm: ProductManifest,
    pub airgap: bool,
    pub created_at: String,
}

impl Case {
    fn of(
        name: &'static str,
        expect: Option<&'static str>,
        spec: Spec,
        bundle: (Vec<u8>, Vec<u8>),
    ) -> Case {
        Case {
            name,
            expect,
            bundle,
            license: spec.license,
            pm: spec.pm,
            airgap: spec.airgap,
            created_at: spec.created_at,
        }
    }
}

fn case(
    keys: &Keys,
    name: &'static str,
    expect: Option<&'static str>,
    edit: impl FnOnce(&mut Spec),
) -> Case {
    let mut spec = Spec::new(keys);
    edit(&mut spec);
    let bundle = build(keys, &spec);
    Case::of(name, expect, spec, bundle)
}

/// The table: one case per failing check a bundle can hit, plus the genuine bundle.
pub fn bundle_cases(keys: &Keys) -> Vec<Case> {
    vec![
        case(keys, "genuine", None, |_| {}),
        case(
            keys,
            "gzip_crc_flipped_after_signing",
            Some("gzip_invalid"),
            |s| {
                s.edit_gz = Some(Box::new(|g| {
                    let i = g.len() - 8;
                    g[i] ^= 1;
                }))
            },
        ),
        signed_by_an_unknown_release_key(keys),
        resigned(keys, "trusted_comment_names_another_bundle", |spec, gz| {
            let mut m = crate::bundle::BundleManifest::clone(&manifest_of(spec));
            m.bundle_id = "bnd-00000000000000bb".into();
            keys.release
                .sign_minisign(gz, &trusted_comment(&m, &keys.release))
                .unwrap()
                .into_bytes()
        }),
        resigned(keys, "signature_file_without_final_newline", |spec, gz| {
            let mut sig = keys
                .release
                .sign_minisign(gz, &trusted_comment(&manifest_of(spec), &keys.release))
                .unwrap()
                .into_bytes();
            sig.pop();
            sig
        }),
        case(
            keys,
            "gzip_header_with_an_mtime",
            Some("gzip_invalid"),
            |s| s.edit_gz = Some(Box::new(|g| g[4] = 1)),
        ),
        case(
            keys,
            "bundle_id_of_the_wrong_shape",
            Some("manifest_invalid"),
            |s| s.edit_manifest = Some(Box::new(|m| m.bundle_id = "bnd-XYZ".into())),
        ),
        case(
            keys,
            "payload_byte_changed_before_signing",
            Some("member_mismatch"),
            |s| s.replace = vec![("payload/app/readme.txt".into(), b"hellO".to_vec())],
        ),
        case(
            keys,
            "trailing_garbage_after_the_archive",
            Some("archive_invalid"),
            |s| s.edit_tar = Some(Box::new(|t| t.extend_from_slice(&[7u8; 512]))),
        ),
        case(
            keys,
            "manifest_signed_by_the_license_key",
            Some("manifest_invalid"),
            |s| s.manifest_signer = Some(key(2, Role::License)),
        ),
        case(
            keys,
            "license_signed_by_an_unknown_key",
            Some("license_invalid"),
            |s| s.license_key = key(9, Role::License),
        ),
        case(
            keys,
            "license_for_another_product",
            Some("wrong_product"),
            |s| s.license.product = "toaster".into(),
        ),
        case(
            keys,
            "edition_not_in_the_license",
            Some("edition_not_licensed"),
            |s| s.license.editions = vec!["standard".into()],
        ),
        case(
            keys,
            "feature_not_in_the_license",
            Some("feature_not_licensed"),
            |s| s.license.features.retain(|f| f != "gate"),
        ),
        case(
            keys,
            "airgap_without_the_feature",
            Some("airgap_not_licensed"),
            |s| s.license.features.retain(|f| f != "airgap_bundle"),
        ),
        case(
            keys,
            "made_after_the_license_expired",
            Some("manifest_outside_license_window"),
            |s| s.license.expires_at = "2026-11-15T00:00:00Z".into(),
        ),
        case(
            keys,
            "license_expired_at_install",
            Some("license_expired"),
            |s| {
                s.license.expires_at = "2026-11-20T12:00:00Z".into();
                s.license.grace_days = 0;
            },
        ),
        case(
            keys,
            "trailing_zeros_not_whole_blocks",
            Some("archive_invalid"),
            |s| s.edit_tar = Some(Box::new(|t| t.extend_from_slice(&[0u8; 100]))),
        ),
        case(
            keys,
            "payload_not_sorted_by_path",
            Some("manifest_invalid"),
            |s| s.payload.reverse(),
        ),
        case(
            keys,
            "metadata_members_out_of_their_order",
            Some("manifest_invalid"),
            |s| s.edit_manifest = Some(Box::new(|m| m.members.swap(1, 2))),
        ),
        case(
            keys,
            "deflate_byte_flipped_inside_a_member",
            Some("member_mismatch"),
            |s| {
                s.edit_gz = Some(Box::new(|g| {
                    let i = g.len() / 2;
                    g[i] ^= 1;
                }))
            },
        ),
        case(
            keys,
            "checksums_disagree_with_the_manifest",
            Some("checksums_mismatch"),
            |s| {
                s.checksums = Some(b"0000000000000000000000000000000000000000000000000000000000000000  payload/app/readme.txt\n".to_vec())
            },
        ),
    ]
}

fn signed_by_an_unknown_release_key(keys: &Keys) -> Case {
    let spec = Spec::new(keys);
    let (gz, _) = build(keys, &spec);
    let sig = key(8, Role::Release)
        .sign_minisign(&gz[..], "bundle_id:bnd-00000000000000aa")
        .unwrap()
        .into_bytes();
    Case::of(
        "signed_by_an_unknown_release_key",
        Some("bundle_signature_invalid"),
        spec,
        (gz, sig),
    )
}

/// The genuine bundle with its outer signature replaced by `sign(spec, gz)`.
fn resigned(keys: &Keys, name: &'static str, sign: impl FnOnce(&Spec, &[u8]) -> Vec<u8>) -> Case {
    let spec = Spec::new(keys);
    let (gz, _) = build(keys, &spec);
    let sig = sign(&spec, &gz);
    Case::of(name, Some("bundle_signature_invalid"), spec, (gz, sig))
}
