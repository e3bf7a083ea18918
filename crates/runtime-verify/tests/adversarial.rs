//! One case per row of THREATS.md (and per archive-safety item), each asserting the exact
//! rejection; every rejection with extraction asked leaves nothing behind.

use crate::kit::*;
use canon::{Kind, Role};

fn insert_before_end(extra: Vec<u8>) -> BytesEdit {
    Box::new(move |tar: &mut Vec<u8>| {
        let at = tar.len() - 1024;
        tar.splice(at..at, extra.clone());
    })
}

/// Swaps the byte ranges (header, data, padding) of the archive's last two members.
fn swap_last_two_members(tar: &mut Vec<u8>) {
    let mut spans = Vec::new();
    let mut at = 0;
    while tar[at..at + 512].iter().any(|&b| b != 0) {
        let size = std::str::from_utf8(&tar[at + 124..at + 135]).unwrap();
        let size = usize::from_str_radix(size, 8).unwrap();
        let end = at + 512 + size.div_ceil(512) * 512;
        spans.push(at..end);
        at = end;
    }
    let (a, b) = (
        spans[spans.len() - 2].clone(),
        spans[spans.len() - 1].clone(),
    );
    let (first, second) = (tar[a.clone()].to_vec(), tar[b.clone()].to_vec());
    tar.splice(a.start..b.end, second.into_iter().chain(first));
}

#[test]
fn a_valid_bundle_verifies_and_extracts() {
    let keys = Keys::new();
    let store = keys.store();
    let b = build(&keys, &Spec::new(&keys));
    let v = verify(&store, &b).unwrap();
    assert_eq!(v.product, "gateway");
    assert_eq!(v.sequence, 5);
    assert_eq!(v.members, 2 + 1 + 4 + 3);
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("installed");
    let o = opts(&store).with_extract(Some(&dest));
    let mut v = runtime::bundle::verify_bundle(&b.0[..], &b.1, &o).unwrap();
    assert!(!dest.exists(), "nothing is in place before install");
    v.install().unwrap();
    assert_eq!(v.extracted_to.as_deref(), Some(dest.as_path()));
    assert_eq!(
        std::fs::read(dest.join("payload/app/readme.txt")).unwrap(),
        b"hello"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(dest.join("payload/bin/install.sh"))
                .unwrap()
                .permissions()
                .mode()
                & 0o111,
            0o111
        );
    }
    // Extraction never overwrites.
    let again = runtime::bundle::verify_bundle(&b.0[..], &b.1, &o);
    expect(again, "io_error", "already exists");
}

// ---- Update and signature attacks --------------------------------------------------------

#[test]
fn arbitrary_installation() {
    let keys = Keys::new();
    let store = keys.store();
    let (gz, sig) = build(&keys, &Spec::new(&keys));
    expect(
        verify_extract(&store, &(gz.clone(), Vec::new())),
        "bundle_signature_invalid",
        "minisign file",
    );
    expect(
        verify_extract(&store, &(gz.clone(), b"garbage".to_vec())),
        "bundle_signature_invalid",
        "minisign file",
    );
    // Wrong (untrusted) key.
    let stranger = key(9, Role::Release);
    let s2 = stranger.sign_minisign(&gz[..], "x").unwrap();
    expect(
        verify_extract(&store, &(gz.clone(), s2.into_bytes())),
        "bundle_signature_invalid",
        "not in the trust store",
    );
    // Spoofed key id: the stranger's signature labelled with the trusted release key's number.
    let mut parsed =
        canon::minisign::Signature::parse(stranger.sign_minisign(&gz[..], "x").unwrap().as_bytes())
            .unwrap();
    parsed.keynum = keys.release.key_id().0;
    expect(
        verify_extract(&store, &(gz.clone(), parsed.to_file().into_bytes())),
        "bundle_signature_invalid",
        "does not verify",
    );
    // A valid signature over another file.
    let other = keys
        .release
        .sign_minisign(&b"another file"[..], "x")
        .unwrap();
    expect(
        verify_extract(&store, &(gz.clone(), other.into_bytes())),
        "bundle_signature_invalid",
        "minisign signature: signature does not verify",
    );
    // Flipped bits in the archive: the first check they break stops the reading (here the
    // deflate stream: the first block's type becomes the reserved 11), before the outer
    // signature is even reached. (Flips elsewhere are the fuzz target's and the table's job.)
    let mut flipped = gz.clone();
    flipped[10] |= 0b110;
    expect(
        verify_extract(&store, &(flipped, sig.clone())),
        "gzip_invalid",
        "corrupt deflate data",
    );
    // A flipped bit in the gzip trailer: everything inflates, the CRC catches it.
    let mut flipped = gz.clone();
    let n = flipped.len() - 6;
    flipped[n] ^= 0x01;
    expect(
        verify_extract(&store, &(flipped, sig.clone())),
        "gzip_invalid",
        "CRC32 mismatch",
    );
    // A license-role key signing the bundle manifest (the signing crate refuses; forge it).
    let mut spec = Spec::new(&keys);
    spec.manifest_signer = Some(keys.license.clone_as(Role::License));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "manifest_invalid",
        "does not hold the release role",
    );
}

#[test]
fn cross_type_substitution() {
    let keys = Keys::new();
    let store = keys.store();
    // The license's envelope replayed as the bundle manifest's signature.
    let (_, lic_sig) = signed_json(&keys.license, Kind::License, &license());
    let mut spec = Spec::new(&keys);
    spec.manifest_sig = Some(lic_sig);
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "manifest_invalid",
        "signature is for a license but a bundle manifest was expected",
    );
    // A product-manifest signature relabelled as a bundle-manifest signature: PAE differs.
    let pm_canonical =
        canon::canonicalize(&serde_json::to_vec(&product_manifest()).unwrap()).unwrap();
    let env = keys
        .release
        .sign_document(Kind::ProductManifest, &pm_canonical)
        .unwrap();
    let relabelled = canon::Envelope {
        kind: Kind::BundleManifest,
        ..env
    };
    let mut spec = Spec::new(&keys);
    spec.manifest_sig = Some(relabelled.to_bytes());
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "manifest_invalid",
        "bundle manifest: signature does not verify",
    );
}

#[test]
fn mix_and_match() {
    let keys = Keys::new();
    let store = keys.store();
    // Product manifest of another release (1.0.1) inside a bundle whose manifest names 1.0.0.
    let mut spec = Spec::new(&keys);
    let (pm2, pm2_sig) = signed_json(
        &keys.release,
        Kind::ProductManifest,
        &ProductManifestExt::with_version("1.0.1"),
    );
    spec.replace = vec![
        ("manifests/product-manifest.json".into(), pm2),
        ("manifests/product-manifest.sig".into(), pm2_sig),
    ];
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "member_mismatch",
        "SHA-256 differs from the signed manifest",
    );
    // ... and when the attacker re-lists it in a manifest (which then names the other hash).
    let mut spec = Spec::new(&keys);
    spec.pm.version = "1.0.1".into();
    spec.edit_manifest = Some(Box::new(|m| m.version = "1.0.0".into()));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "product_manifest_mismatch",
        "1.0.1",
    );
    // Another customer's license.
    let mut spec = Spec::new(&keys);
    spec.edit_manifest = Some(Box::new(|m| m.customer.id = "globex".into()));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "customer_mismatch",
        "globex",
    );
    let mut spec = Spec::new(&keys);
    spec.edit_manifest = Some(Box::new(|m| m.license_id = "lic-other".into()));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "license_mismatch",
        "lic-other",
    );
    // A license for a different product.
    let mut spec = Spec::new(&keys);
    spec.license.product = "toaster".into();
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "wrong_product",
        "toaster",
    );
}

trait CloneAs {
    fn clone_as(&self, role: Role) -> signing::SecretKey;
}
impl CloneAs for signing::SecretKey {
    fn clone_as(&self, role: Role) -> signing::SecretKey {
        // Test seeds are n repeated; recover n from the name "k<n>".
        let n: u8 = self.name[1..].parse().unwrap();
        signing::SecretKey::from_seed(&[n; 32], &self.name, role, self.created_at).unwrap()
    }
}

struct ProductManifestExt;
impl ProductManifestExt {
    fn with_version(v: &str) -> runtime::manifest::ProductManifest {
        runtime::manifest::ProductManifest {
            version: v.into(),
            ..product_manifest()
        }
    }
}

#[test]
fn rollback() {
    let keys = Keys::new();
    let store = keys.store();
    let b = build(&keys, &Spec::new(&keys));
    let mut seen = runtime::state::State::default();
    seen.bundle_sequences
        .insert("gateway/acme".to_string(), 6u64);
    let o = opts(&store).with_known(&seen);
    expect(
        runtime::bundle::verify_bundle(&b.0[..], &b.1, &o),
        "rollback",
        "bundle sequence 5 is lower than 6",
    );
    seen.bundle_sequences
        .insert("gateway/acme".to_string(), 5u64);
    let o = opts(&store).with_known(&seen);
    assert!(
        runtime::bundle::verify_bundle(&b.0[..], &b.1, &o).is_ok(),
        "the same sequence reinstalls"
    );
    // An older revocation list.
    let mut spec = Spec::new(&keys);
    spec.revocations = Some(revocations(&keys, 3, &[]));
    let b = build(&keys, &spec);
    let seen = runtime::state::State {
        revocations: Some(runtime::state::RevocationPin {
            sequence: 4,
            sha256: [0; 32],
            issued_at: t("2026-11-01"),
        }),
        ..Default::default()
    };
    let o = opts(&store).with_known(&seen);
    expect(
        runtime::bundle::verify_bundle(&b.0[..], &b.1, &o),
        "rollback",
        "revocation list sequence 3 is lower than 4",
    );
}

#[test]
fn indefinite_freeze_and_expiry() {
    let keys = Keys::new();
    let store = keys.store();
    let mut spec = Spec::new(&keys);
    spec.license.expires_at = "2026-11-21T00:00:00Z".into();
    spec.license.grace_days = 0;
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "license_expired",
        "expired 2026-11-21T00:00:00Z",
    );
    let mut spec = Spec::new(&keys);
    spec.license.not_before = "2026-12-01T00:00:00Z".into();
    spec.created_at = "2026-12-01T00:00:00Z".into();
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "license_not_yet_valid",
        "not valid until 2026-12-01T00:00:00Z",
    );
    let mut spec = Spec::new(&keys);
    spec.created_at = "2026-10-01T00:00:00Z".into();
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "manifest_outside_license_window",
        "2026-10-01",
    );
    // Grace: accepted with a warning.
    let mut spec = Spec::new(&keys);
    spec.license.expires_at = "2026-11-21T00:00:00Z".into();
    spec.created_at = "2026-11-20T00:00:00Z".into();
    let v = verify(&store, &build(&keys, &spec)).unwrap();
    assert_eq!(v.license_state, runtime::license::State::Grace);
    assert!(v.warnings[0].contains("grace"));
}

#[test]
fn endless_data() {
    let keys = Keys::new();
    let store = keys.store();
    // A gzip bomb: 64 MiB of zeros after the end-of-archive marker (compresses to ~64 KiB).
    let mut spec = Spec::new(&keys);
    spec.edit_tar = Some(Box::new(|t: &mut Vec<u8>| {
        t.extend(std::iter::repeat_n(0u8, 64 << 20))
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "archive_invalid",
        "too much padding after the end-of-archive marker",
    );
    // A member larger than its signed size (the bomb inside a member).
    let mut spec = Spec::new(&keys);
    spec.replace = vec![("payload/app/readme.txt".into(), vec![b'A'; 10 << 20])];
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "member_mismatch",
        "size 10485760 differs from the signed manifest's 5",
    );
    // Oversized declared metadata: a manifest member larger than its cap.
    let mut spec = Spec::new(&keys);
    spec.edit_manifest = Some(Box::new(|m| {
        m.members
            .iter_mut()
            .filter(|x| x.path == "license.json")
            .for_each(|x| x.size = 1 << 30)
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "member_mismatch",
        "larger than 65536 bytes",
    );
    // Huge PAX header: refused at the header, whatever its size.
    let mut spec = Spec::new(&keys);
    spec.edit_tar = Some(insert_before_end(raw_header(
        b"PaxHeaders/x",
        1 << 30,
        b"0000644",
        b'x',
    )));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "archive_invalid",
        "PAX extended header refused",
    );
    // Entry-count cap.
    let mut spec = Spec::new(&keys);
    spec.edit_manifest = Some(Box::new(|m| {
        let base = m.members[0].clone();
        for i in 0..runtime::manifest::MAX_MEMBERS {
            m.members.push(runtime::manifest::Member {
                path: format!("payload/n/{i}"),
                ..base.clone()
            });
        }
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "manifest_invalid",
        "more than 100000 members",
    );
}

/// Counts the bytes a verifier pulls from its reader.
struct Counting<R>(R, std::sync::Arc<std::sync::atomic::AtomicU64>);

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[test]
fn an_endless_stream_is_read_only_a_few_blocks_past_its_first_fault() {
    // The reading thread runs ahead of the inflating one, by a bounded number of blocks: an
    // endless source (a pipe, a device) after a broken start is dropped, not read forever.
    let keys = Keys::new();
    let store = keys.store();
    let (good, sig) = build(&keys, &Spec::new(&keys));
    // A wrong header, and half a real bundle: endless zeros then break its deflate stream.
    for start in [&[0u8; 10][..], &good[..good.len() / 2]] {
        let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let endless = std::io::Read::chain(start, std::io::repeat(0));
        let r =
            runtime::bundle::verify_bundle(Counting(endless, read.clone()), &sig, &opts(&store));
        let e = r.expect_err("an endless stream cannot verify");
        assert_eq!(e.code(), "gzip_invalid", "{e}");
        let n = read.load(std::sync::atomic::Ordering::Relaxed);
        assert!(n <= 8 << 20, "{n} bytes read for {e}");
    }
}

#[test]
fn extraneous_content() {
    let keys = Keys::new();
    let store = keys.store();
    let mut spec = Spec::new(&keys);
    spec.edit_tar = Some(insert_before_end(tar_entry(
        "payload/evil.sh",
        b"rm -rf /",
        0o755,
    )));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "member_mismatch",
        "member payload/evil.sh: not listed in the signed manifest",
    );
    let mut spec = Spec::new(&keys);
    spec.edit_manifest = Some(Box::new(|m| {
        let mut x = m.members.last().unwrap().clone();
        x.path = "payload/zz-missing".into();
        m.members.push(x);
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "member_mismatch",
        "payload/zz-missing: listed in the signed manifest but missing",
    );
    // Duplicate entry (the same member twice).
    let mut spec = Spec::new(&keys);
    spec.edit_tar = Some(insert_before_end(tar_entry(
        "payload/app/readme.txt",
        b"hello",
        0o644,
    )));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "member_mismatch",
        "duplicate member",
    );
    // Listed twice in the manifest.
    let mut spec = Spec::new(&keys);
    spec.edit_manifest = Some(Box::new(|m| {
        let x = m.members.last().unwrap().clone();
        m.members.push(x);
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "manifest_invalid",
        "listed twice",
    );
    // A file and a directory of the same name.
    let mut spec = Spec::new(&keys);
    spec.payload
        .push(("payload/app".into(), b"file".to_vec(), 0o644));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "manifest_invalid",
        "payload/app is both a file and a directory",
    );
    // Out of order: the archive's last two members swapped (the manifest keeps the one order).
    let mut spec = Spec::new(&keys);
    spec.edit_tar = Some(Box::new(swap_last_two_members));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "member_mismatch",
        "out of order",
    );
    // Outside payload/.
    let mut spec = Spec::new(&keys);
    spec.payload
        .push(("etc/cron.d/evil".into(), b"x".to_vec(), 0o644));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "member_mismatch",
        "outside payload/",
    );
}

#[test]
fn wrong_software() {
    let keys = Keys::new();
    let store = keys.store();
    let b = build(&keys, &Spec::new(&keys));
    let o = opts(&store).with_edition(Some("standard"));
    expect(
        runtime::bundle::verify_bundle(&b.0[..], &b.1, &o),
        "wrong_edition",
        "this runtime is the standard edition",
    );
    let mut spec = Spec::new(&keys);
    spec.license.editions = vec!["standard".into()];
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "edition_not_licensed",
        "edition sovereign is not allowed",
    );
    let mut spec = Spec::new(&keys);
    spec.pm.requires_features = vec!["gate".into(), "mssql".into()];
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "feature_not_licensed",
        "mssql",
    );
    let mut spec = Spec::new(&keys);
    spec.license.features.retain(|f| f != "airgap_bundle");
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "airgap_not_licensed",
        "airgap_bundle",
    );
    let mut spec = Spec::new(&keys);
    spec.pm.min_runtime_version = "9.0.0".into();
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "runtime_too_old",
        "9.0.0",
    );
    // Revoked license.
    let mut spec = Spec::new(&keys);
    spec.revocations = Some(revocations(&keys, 2, &["lic-test-0001"]));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "license_revoked",
        "revocation list #2",
    );
}

#[test]
fn key_compromise() {
    let keys = Keys::new();
    let b = build(&keys, &Spec::new(&keys));
    let mut entries = keys.entries();
    entries[2].status = runtime::KeyStatus::Revoked;
    // The revoked release key signed the bundle manifest too, which is checked first.
    expect(
        verify_extract(&keys.store_with(&entries), &b),
        "manifest_invalid",
        "is revoked",
    );
    // Release key whose window ended before the bundle was made.
    let mut entries = keys.entries();
    entries[2].not_after = t("2026-11-19");
    expect(
        verify_extract(&keys.store_with(&entries), &b),
        "manifest_invalid",
        "valid from 2026-01-01T00:00:00Z to 2026-11-19",
    );
    // License key used outside its role: it signs the bundle manifest.
    let mut spec = Spec::new(&keys);
    spec.manifest_signer = Some(keys.license.clone_as(Role::Release));
    expect(
        verify_extract(&keys.store(), &build(&keys, &spec)),
        "manifest_invalid",
        "does not hold the release role",
    );
}

// ---- Archive safety ------------------------------------------------------------------------

#[test]
fn archive_safety_headers() {
    let keys = Keys::new();
    let store = keys.store();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            raw_header(b"payload/../../etc/passwd", 1, b"0000644", b'0'),
            "unsafe path",
        ),
        (
            raw_header(b"/etc/passwd", 1, b"0000644", b'0'),
            "absolute path",
        ),
        (
            raw_header(b"payload\\..\\x", 1, b"0000644", b'0'),
            "backslash",
        ),
        (
            raw_header(b"payload//x", 1, b"0000644", b'0'),
            "empty path component",
        ),
        (
            raw_header(b"payload/a\x01b", 1, b"0000644", b'0'),
            "control character",
        ),
        (
            raw_header(b"payload/link", 0, b"0000644", b'2'),
            "symbolic link refused",
        ),
        (
            raw_header(b"payload/hard", 0, b"0000644", b'1'),
            "hard link refused",
        ),
        (
            raw_header(b"payload/chr", 0, b"0000644", b'3'),
            "device node refused",
        ),
        (
            raw_header(b"payload/blk", 0, b"0000644", b'4'),
            "device node refused",
        ),
        (
            raw_header(b"payload/fifo", 0, b"0000644", b'6'),
            "FIFO refused",
        ),
        (
            raw_header(b"payload/dir", 0, b"0000755", b'5'),
            "directory entry refused",
        ),
        (raw_header(b"payload/suid", 1, b"0004755", b'0'), "setuid"),
        (
            raw_header(b"payload/sgid", 1, b"0002755", b'0'),
            "setuid/setgid",
        ),
        (
            raw_header(b"pax_global_header", 30, b"0000644", b'g'),
            "PAX global header refused",
        ),
        (
            raw_header(b"payload/sparse", 10, b"0000644", b'S'),
            "sparse file refused",
        ),
        (
            raw_header(b"././@LongLink", 1 << 20, b"0000644", b'L'),
            "GNU long name/link header refused",
        ),
    ];
    for (header, needle) in cases {
        let mut spec = Spec::new(&keys);
        let mut entry = header.clone();
        entry.extend([0u8; 512]);
        spec.edit_tar = Some(insert_before_end(entry));
        expect(
            verify_extract(&store, &build(&keys, &spec)),
            "archive_invalid",
            needle,
        );
    }
    // A NUL inside the name field (name ends, garbage after): refused.
    let mut spec = Spec::new(&keys);
    spec.edit_tar = Some(insert_before_end(raw_header(
        b"payload/a\0b",
        0,
        b"0000644",
        b'0',
    )));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "archive_invalid",
        "bytes after its NUL terminator",
    );
    // Size mismatch between what the header says and what the manifest signed.
    let mut spec = Spec::new(&keys);
    spec.edit_manifest = Some(Box::new(|m| {
        m.members
            .iter_mut()
            .filter(|x| x.path == "payload/app/readme.txt")
            .for_each(|x| x.size = 4)
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "member_mismatch",
        "size 5 differs",
    );
    // Mode differing from the signed manifest.
    let mut spec = Spec::new(&keys);
    spec.edit_manifest = Some(Box::new(|m| {
        m.members
            .iter_mut()
            .filter(|x| x.path == "payload/app/readme.txt")
            .for_each(|x| x.mode = 0o755)
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "member_mismatch",
        "mode 644 differs",
    );
}

#[test]
fn archive_safety_stream() {
    let keys = Keys::new();
    let store = keys.store();
    // Trailing non-zero data after the end-of-archive marker.
    let mut spec = Spec::new(&keys);
    spec.edit_tar = Some(Box::new(|t: &mut Vec<u8>| t.extend(b"junk")));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "archive_invalid",
        "trailing non-zero data after the end-of-archive marker",
    );
    // Non-zero padding inside the archive.
    let mut spec = Spec::new(&keys);
    spec.edit_tar = Some(Box::new(|t: &mut Vec<u8>| {
        // The readme member's padding: find its data "hello" and dirty the byte after it.
        let pos = t.windows(5).position(|w| w == b"hello").unwrap();
        t[pos + 5] = b'!';
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "archive_invalid",
        "non-zero padding",
    );
    // Truncated archive (no end marker).
    let mut spec = Spec::new(&keys);
    spec.edit_tar = Some(Box::new(|t: &mut Vec<u8>| t.truncate(t.len() - 1024)));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "archive_invalid",
        "no end-of-archive marker",
    );
    // More than one gzip member.
    let mut spec = Spec::new(&keys);
    spec.edit_gz = Some(Box::new(|g: &mut Vec<u8>| {
        let copy = g.clone();
        g.extend(copy);
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "gzip_invalid",
        "data after the gzip stream",
    );
    // Data after the gzip stream.
    let mut spec = Spec::new(&keys);
    spec.edit_gz = Some(Box::new(|g: &mut Vec<u8>| g.extend(b"PK\x03\x04")));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "gzip_invalid",
        "data after the gzip stream",
    );
    // Optional gzip header fields (FNAME) are refused.
    let mut spec = Spec::new(&keys);
    spec.edit_gz = Some(Box::new(|g: &mut Vec<u8>| g[3] = 0x08));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "gzip_invalid",
        "no optional header fields",
    );
    // Truncated gzip.
    let mut spec = Spec::new(&keys);
    spec.edit_gz = Some(Box::new(|g: &mut Vec<u8>| g.truncate(g.len() - 4)));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "gzip_invalid",
        "truncated gzip trailer",
    );
    // Bad CRC.
    let mut spec = Spec::new(&keys);
    spec.edit_gz = Some(Box::new(|g: &mut Vec<u8>| {
        let n = g.len();
        g[n - 8] ^= 1;
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "gzip_invalid",
        "CRC32 mismatch",
    );
    // Not a bundle at the start.
    let mut spec = Spec::new(&keys);
    spec.edit_tar = Some(Box::new(|t: &mut Vec<u8>| {
        let e = tar_entry("payload/first", b"x", 0o644);
        t.splice(0..0, e);
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "member_mismatch",
        "a bundle starts with manifests/bundle-manifest.json",
    );
}

#[test]
fn json_and_checksums_inside_bundles() {
    let keys = Keys::new();
    let store = keys.store();
    // CHECKSUMS.txt with a path sha256sum would accept: signed, but refused.
    for (bad, needle) in [
        (b"0000000000000000000000000000000000000000000000000000000000000000  ../etc/passwd\n".to_vec(), "unsafe name"),
        (b"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855  payload/app/readme.txt\n".to_vec(), "lowercase"),
    ] {
        let mut spec = Spec::new(&keys);
        spec.checksums = Some(bad);
        expect(verify_extract(&store, &build(&keys, &spec)), "checksums_mismatch", needle);
    }
    // CHECKSUMS.txt listing a different hash than the manifest signed.
    let mut spec = Spec::new(&keys);
    let mut lines = String::new();
    for (p, _, _) in &spec.payload {
        lines.push_str(&format!("{}  {p}\n", "ab".repeat(32)));
    }
    let mut sorted: Vec<&str> = lines.lines().collect();
    sorted.sort_by_key(|l| l[66..].to_string());
    spec.checksums = Some((sorted.join("\n") + "\n").into_bytes());
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "checksums_mismatch",
        "does not match the signed manifest",
    );
    // A license with a duplicate member name (after unescaping): refused before anything else.
    let mut lic =
        String::from_utf8(signed_json(&keys.license, Kind::License, &license()).0).unwrap();
    lic = lic.replacen("{", "{\"\\u0074ier\": \"evaluation\",", 1);
    let (gz, sig) = {
        let mut s2 = Spec::new(&keys);
        s2.replace = vec![("license.json".into(), lic.clone().into_bytes())];
        // The manifest must list the tampered license for the JSON check to be reached.
        let lic_bytes = lic.into_bytes();
        s2.edit_manifest = Some(Box::new(move |m| {
            for x in m.members.iter_mut().filter(|x| x.path == "license.json") {
                x.size = lic_bytes.len() as u64;
                x.sha256 = canon::enc::sha256_hex(&lic_bytes);
            }
        }));
        build(&keys, &s2)
    };
    expect(
        verify_extract(&store, &(gz, sig)),
        "license_invalid",
        "duplicate object member name \"tier\"",
    );
}

// ---- Trust and state (issue 8) -----------------------------------------------------------

#[test]
fn a_license_revoked_by_an_accepted_list_is_refused_without_the_list() {
    let keys = Keys::new();
    let store = keys.store();
    let b = build(&keys, &Spec::new(&keys));
    let mut known = runtime::state::State::default();
    known
        .revoked
        .insert("lic-test-0001".into(), "contract ended".into());
    let o = opts(&store).with_known(&known);
    expect(
        runtime::bundle::verify_bundle(&b.0[..], &b.1, &o),
        "license_revoked",
        "already accepted: contract ended",
    );
}

#[test]
fn the_bundle_manifest_must_be_stored_canonical_and_is_authenticated_before_parsing() {
    let keys = Keys::new();
    let store = keys.store();
    // Pretty-printed (as packagers before 0.2 wrote it): signature over the raw bytes fails.
    let mut spec = Spec::new(&keys);
    spec.edit_tar = Some(Box::new(|tar: &mut Vec<u8>| {
        let h = canon::ustar::decode(tar[..512].try_into().unwrap()).unwrap();
        let body = tar[512..512 + h.size as usize].to_vec();
        let pretty = canon::parse(&body).unwrap().to_pretty();
        let mut rebuilt = tar_entry(runtime::bundle::MANIFEST_PATH, &pretty, 0o644);
        let old_len = 512 + (h.size as usize).div_ceil(512) * 512;
        rebuilt.extend_from_slice(&tar[old_len..]);
        *tar = rebuilt;
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "manifest_invalid",
        "signature does not verify",
    );
    // Hostile bytes signed by nobody: refused by signature, never parsed (a deep nesting bomb
    // that the parser would refuse with a depth error is reported as a signature failure).
    let mut spec = Spec::new(&keys);
    spec.edit_tar = Some(Box::new(|tar: &mut Vec<u8>| {
        let bomb = "[".repeat(100_000);
        let mut rebuilt = tar_entry(runtime::bundle::MANIFEST_PATH, bomb.as_bytes(), 0o644);
        let h = canon::ustar::decode(tar[..512].try_into().unwrap()).unwrap();
        let old_len = 512 + (h.size as usize).div_ceil(512) * 512;
        rebuilt.extend_from_slice(&tar[old_len..]);
        *tar = rebuilt;
    }));
    expect(
        verify_extract(&store, &build(&keys, &spec)),
        "manifest_invalid",
        "signature does not verify",
    );
}

#[test]
fn a_clock_behind_the_bundle_or_license_signing_time_is_tamper() {
    let keys = Keys::new();
    let store = keys.store();
    let b = build(&keys, &Spec::new(&keys)); // created 2026-11-20, license issued 2026-11-01
    let o = opts(&store).at(t("2026-11-19T00:00:00Z"));
    expect(
        runtime::bundle::verify_bundle(&b.0[..], &b.1, &o),
        "tamper_suspected",
        "the bundle's created_at",
    );
}

#[test]
fn a_release_key_made_after_the_release_date_packages_it() {
    // Key rotation: the release happened 2026-11-15; the new release key's window starts
    // 2026-11-18, and it packages (signs) the release on 2026-11-20.
    let keys = Keys::new();
    let mut entries = keys.entries();
    entries[2].not_before = t("2026-11-18");
    let store = keys.store_with(&entries);
    let v = verify(&store, &build(&keys, &Spec::new(&keys))).unwrap();
    assert_eq!(v.version, "1.0.0");
    // Packaged before the key's window opened: refused.
    let mut spec = Spec::new(&keys);
    spec.created_at = "2026-11-17T00:00:00Z".into();
    expect(
        verify(&store, &build(&keys, &spec)),
        "manifest_invalid",
        "valid from 2026-11-18",
    );
}

#[test]
fn staging_is_removed_unless_installed_and_needs_a_private_parent() {
    let keys = Keys::new();
    let store = keys.store();
    let b = build(&keys, &Spec::new(&keys));
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("x");
    let o = opts(&store).with_extract(Some(&dest));
    let v = runtime::bundle::verify_bundle(&b.0[..], &b.1, &o).unwrap();
    assert_eq!(
        std::fs::read_dir(d.path()).unwrap().count(),
        1,
        "staging exists"
    );
    drop(v); // e.g. the state could not be saved: nothing is installed
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let open = d.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let dest = open.join("x");
        let o = opts(&store).with_extract(Some(&dest));
        expect(
            runtime::bundle::verify_bundle(&b.0[..], &b.1, &o),
            "io_error",
            "writable by group or others without the sticky bit",
        );
        // A sticky, world-writable parent (like /tmp) is fine: others cannot rename our entry.
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let mut v = runtime::bundle::verify_bundle(&b.0[..], &b.1, &o).unwrap();
        v.install().unwrap();
        assert!(dest.join("payload/app/readme.txt").exists());
    }
}
