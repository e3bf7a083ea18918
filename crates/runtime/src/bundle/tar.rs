//! The archive layer (thread B): the strict ustar stream ([`canon::ustar`]), member by member,
//! each hashed and checked against the signed bundle manifest (the first two members, the
//! manifest authenticated before it is parsed), optionally written into staging.

use super::*;

pub(super) enum Phase {
    Header,
    Data { remaining: u64 },
    Padding { remaining: usize },
    End { zero_blocks: u32, trailing: u64 },
}

pub(super) struct Current {
    pub(super) path: String,
    pub(super) size: u64,
    pub(super) sha: Sha256,
    pub(super) keep: Option<Vec<u8>>,
    /// The bundle manifest (first member), buffered behind its PAE header.
    pub(super) pae: Option<PaeBuffer>,
    pub(super) file: Option<File>,
    pub(super) expected: Option<[u8; 32]>,
    /// Opens a sealed member as it is extracted, writing the file (then `file` is `None`).
    pub(super) unsealer: Option<seal::file::Unsealer<File>>,
    /// Why opening stopped: reported only if the member's SHA-256 matched the manifest.
    pub(super) open_failed: Option<String>,
}

pub(super) struct TarReader<'a> {
    pub(super) opts: &'a Options<'a>,
    pub(super) block: Vec<u8>,
    pub(super) phase: Phase,
    pub(super) index: usize,
    pub(super) manifest: Option<VerifiedBundleManifest>,
    pub(super) cur: Option<Current>,
    pub(super) kept: HashMap<String, Vec<u8>>,
    pub(super) manifest_doc: Option<PaeBuffer>,
    pub(super) payload_bytes: u64,
    pub(super) staging: Option<Staging>,
    /// The content key the extraction opens sealed members with.
    pub(super) key: Option<seal::ContentKey>,
}

pub(super) fn member_err(path: &str, what: impl Into<String>) -> BundleError {
    BundleError::Member {
        path: path.into(),
        what: what.into(),
    }
}

impl<'a> TarReader<'a> {
    pub(super) fn new(opts: &'a Options<'a>, staging: Option<Staging>) -> Self {
        TarReader {
            opts,
            block: Vec::with_capacity(BLOCK),
            phase: Phase::Header,
            index: 0,
            manifest: None,
            cur: None,
            kept: HashMap::new(),
            manifest_doc: None,
            payload_bytes: 0,
            staging,
            key: None,
        }
    }

    pub(super) fn feed(&mut self, mut data: &[u8]) -> Result<(), BundleError> {
        while !data.is_empty() {
            match &mut self.phase {
                Phase::Data { remaining } => {
                    let take = (*remaining).min(data.len() as u64) as usize;
                    let cur = self
                        .cur
                        .as_mut()
                        .ok_or_else(|| BundleError::Archive("internal: no member".into()))?;
                    cur.sha.update(&data[..take]);
                    if let Some(k) = &mut cur.keep {
                        k.extend_from_slice(&data[..take]);
                    }
                    if let Some(p) = &mut cur.pae {
                        p.extend(&data[..take]);
                    }
                    if let Some(u) = &mut cur.unsealer {
                        // Each chunk's tag is checked before it is opened; a chunk that fails
                        // stops the opening, and the member's hash decides the verdict.
                        match u.update(&data[..take]) {
                            Ok(()) => {}
                            Err(seal::SealError::Io(m)) => {
                                return Err(BundleError::Io(format!("staging {m}")))
                            }
                            Err(e) => {
                                cur.open_failed = Some(e.to_string());
                                cur.unsealer = None;
                            }
                        }
                    } else if let Some(f) = &mut cur.file {
                        f.write_all(&data[..take])
                            .map_err(|e| BundleError::Io(format!("staging {}: {e}", cur.path)))?;
                    }
                    *remaining -= take as u64;
                    data = &data[take..];
                    if *remaining == 0 {
                        self.end_member()?;
                    }
                }
                Phase::Padding { remaining } => {
                    let take = (*remaining).min(data.len());
                    if data[..take].iter().any(|&b| b != 0) {
                        return Err(BundleError::Archive(
                            "non-zero padding after a member".into(),
                        ));
                    }
                    *remaining -= take;
                    data = &data[take..];
                    if *remaining == 0 {
                        self.phase = Phase::Header;
                    }
                }
                Phase::Header => {
                    let take = (BLOCK - self.block.len()).min(data.len());
                    self.block.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.block.len() == BLOCK {
                        let mut b = [0u8; BLOCK];
                        b.copy_from_slice(&self.block);
                        self.block.clear();
                        self.header(&b)?;
                    }
                }
                Phase::End {
                    zero_blocks,
                    trailing,
                } => {
                    if *zero_blocks < 2 {
                        // Finish the second zero block of the end-of-archive marker.
                        let take = ((BLOCK as u64 - *trailing) as usize).min(data.len());
                        if data[..take].iter().any(|&b| b != 0) {
                            return Err(BundleError::Archive(
                                "end-of-archive marker is a single zero block followed by data"
                                    .into(),
                            ));
                        }
                        *trailing += take as u64;
                        data = &data[take..];
                        if *trailing == BLOCK as u64 {
                            *zero_blocks = 2;
                            *trailing = 0;
                        }
                        continue;
                    }
                    if data.iter().any(|&b| b != 0) {
                        return Err(BundleError::Archive(
                            "trailing non-zero data after the end-of-archive marker".into(),
                        ));
                    }
                    *trailing += data.len() as u64;
                    if *trailing > MAX_TRAILING_ZEROS {
                        return Err(BundleError::Archive(
                            "too much padding after the end-of-archive marker".into(),
                        ));
                    }
                    data = &[];
                }
            }
        }
        Ok(())
    }

    fn expected(&self) -> Option<(String, u64, u32, Option<[u8; 32]>)> {
        match (&self.manifest, self.index) {
            (None, 0) => Some((
                MANIFEST_PATH.into(),
                MAX_BUNDLE_MANIFEST_BYTES as u64,
                0,
                None,
            )),
            (None, 1) => Some((MANIFEST_SIG_PATH.into(), MAX_ENVELOPE_BYTES as u64, 0, None)),
            (Some(m), i) => m
                .manifest()
                .members
                .get(i - 2)
                .map(|x| (x.path.clone(), x.size, x.mode, enc::unhex::<32>(&x.sha256))),
            _ => None,
        }
    }

    /// Whether `path` is a member already read (for the error message only: members come in
    /// the signed manifest's order, so the members before this one are the ones read).
    fn already_read(&self, path: &str) -> bool {
        let head = [MANIFEST_PATH, MANIFEST_SIG_PATH];
        head[..self.index.min(2)].contains(&path)
            || self.manifest.as_ref().is_some_and(|m| {
                m.manifest()
                    .members
                    .iter()
                    .take(self.index.saturating_sub(2))
                    .any(|x| x.path == path)
            })
    }

    fn header(&mut self, b: &[u8; BLOCK]) -> Result<(), BundleError> {
        if b.iter().all(|&x| x == 0) {
            if let Some((next, ..)) = self.expected() {
                return Err(member_err(
                    &next,
                    "listed in the signed manifest but missing from the archive",
                ));
            }
            self.phase = Phase::End {
                zero_blocks: 1,
                trailing: 0,
            };
            return Ok(());
        }
        let h = ustar::decode(b)
            .map_err(|e| BundleError::Archive(format!("member {}: {e}", self.index + 1)))?;
        let path = h.path.as_str().to_string();
        let Some((want, size, mode, sha)) = self.expected() else {
            let what = if self.already_read(&path) {
                "duplicate member"
            } else {
                "not listed in the signed manifest (extra member)"
            };
            return Err(member_err(&path, what));
        };
        if path != want {
            let listed = self
                .manifest
                .as_ref()
                .is_some_and(|m| m.manifest().members.iter().any(|x| x.path == path));
            let what = if self.already_read(&path) {
                "duplicate member".to_string()
            } else if listed {
                format!("out of order: the signed manifest lists {want} here")
            } else if self.index < 2 {
                format!("a bundle starts with {MANIFEST_PATH} and {MANIFEST_SIG_PATH}")
            } else {
                "not listed in the signed manifest (extra member)".to_string()
            };
            return Err(member_err(&path, what));
        }
        if self.manifest.is_some() {
            if h.size != size {
                return Err(member_err(
                    &path,
                    format!("size {} differs from the signed manifest's {size}", h.size),
                ));
            }
            if h.mode != mode {
                return Err(member_err(
                    &path,
                    format!(
                        "mode {:o} differs from the signed manifest's {mode:o}",
                        h.mode
                    ),
                ));
            }
        } else if h.size > size {
            return Err(member_err(&path, format!("larger than {size} bytes")));
        }
        // Sizes here are within the member's cap (checked above): buffers are sized once.
        let pae =
            (self.index == 0).then(|| PaeBuffer::new(canon::Kind::BundleManifest, h.size as usize));
        let keep = self.index == 1
            || REQUIRED
                .iter()
                .chain(OPTIONAL.iter())
                .any(|(p, _)| *p == path);
        // An opened extraction leaves out CHECKSUMS.txt: it lists the sealed bytes.
        let opening = self.key.is_some();
        let file = match &self.staging {
            Some(_) if opening && path == crate::manifest::CHECKSUMS_PATH => None,
            Some(st) => Some(st.file(&h.path, h.mode)?),
            _ => None,
        };
        let payload = path.starts_with("payload/");
        if payload {
            self.payload_bytes += h.size;
        }
        let (file, unsealer) = match (&self.key, file) {
            (Some(k), Some(f)) if payload => (
                None,
                Some(
                    seal::file::Unsealer::new(k, &path, h.size, f)
                        .map_err(|e| member_err(&path, e.to_string()))?,
                ),
            ),
            (_, f) => (f, None),
        };
        self.cur = Some(Current {
            path,
            size: h.size,
            sha: Sha256::new(),
            keep: keep.then(|| Vec::with_capacity(h.size as usize)),
            pae,
            file,
            expected: sha,
            unsealer,
            open_failed: None,
        });
        self.phase = Phase::Data { remaining: h.size };
        if h.size == 0 {
            self.end_member()?;
        }
        Ok(())
    }

    fn end_member(&mut self) -> Result<(), BundleError> {
        let cur = self
            .cur
            .take()
            .ok_or_else(|| BundleError::Archive("internal: no member".into()))?;
        let digest: [u8; 32] = cur.sha.finalize().into();
        if let Some(want) = cur.expected {
            if digest != want {
                return Err(member_err(
                    &cur.path,
                    "SHA-256 differs from the signed manifest",
                ));
            }
        }
        // Authentic sealed bytes that do not open: the key is not theirs.
        let (opened, failed) = match cur.unsealer {
            Some(u) => match u.finish() {
                Ok(f) => (Some(f), None),
                Err(e) => (None, Some(e.to_string())),
            },
            None => (None, cur.open_failed),
        };
        if let Some(why) = failed {
            return Err(BundleError::Sealed {
                check: Check::BuildKeyInvalid,
                detail: format!("{}: {why}", cur.path),
            });
        }
        if let Some(f) = cur.file.or(opened) {
            f.sync_all()
                .map_err(|e| BundleError::Io(format!("staging {}: {e}", cur.path)))?;
        }
        if let Some(k) = cur.keep {
            self.kept.insert(cur.path.clone(), k);
        }
        if let Some(p) = cur.pae {
            self.manifest_doc = Some(p);
        }
        self.index += 1;
        if self.index == 2 {
            self.verify_manifest()?;
            self.sealed_setup()?;
        }
        // Member data is padded to a whole block.
        let pad = (BLOCK - (cur.size % BLOCK as u64) as usize) % BLOCK;
        self.phase = if pad == 0 {
            Phase::Header
        } else {
            Phase::Padding { remaining: pad }
        };
        Ok(())
    }

    fn verify_manifest(&mut self) -> Result<(), BundleError> {
        let doc = self
            .manifest_doc
            .take()
            .unwrap_or_else(|| PaeBuffer::new(canon::Kind::BundleManifest, 0));
        let sig = self.kept.remove(MANIFEST_SIG_PATH).unwrap_or_default();
        let m = verify_bundle_manifest_buffered(self.opts.trust, doc, &sig)
            .map_err(BundleError::Manifest)?;
        // Required and optional members, with their size caps; everything else under payload/.
        let members = &m.manifest().members;
        for (p, cap) in REQUIRED {
            match members.iter().find(|x| x.path == p) {
                None => {
                    return Err(member_err(
                        p,
                        "required, but the signed manifest does not list it",
                    ))
                }
                Some(x) if x.size > cap as u64 => {
                    return Err(member_err(p, format!("larger than {cap} bytes")))
                }
                _ => {}
            }
        }
        let opt: Vec<bool> = OPTIONAL
            .iter()
            .map(|(p, _)| members.iter().any(|x| x.path == *p))
            .collect();
        if opt[0] != opt[1] {
            return Err(member_err(
                "revocations.json",
                "revocations.json and revocations.sig come together",
            ));
        }
        for (p, cap) in OPTIONAL {
            if let Some(x) = members.iter().find(|x| x.path == p) {
                if x.size > cap as u64 {
                    return Err(member_err(p, format!("larger than {cap} bytes")));
                }
            }
        }
        for x in members {
            let known = REQUIRED
                .iter()
                .chain(OPTIONAL.iter())
                .any(|(p, _)| *p == x.path);
            if !known && !x.path.starts_with("payload/") {
                return Err(member_err(
                    &x.path,
                    "outside payload/ and not a bundle metadata file",
                ));
            }
        }
        self.manifest = Some(m);
        Ok(())
    }

    /// For a sealed payload: every payload member has a sealed size (`manifest_invalid`), and
    /// an extraction has its key (or keeps the members sealed), before any member is read.
    fn sealed_setup(&mut self) -> Result<(), BundleError> {
        let Some(m) = &self.manifest else {
            return Ok(());
        };
        let m = m.manifest();
        let Some(e) = &m.encryption else {
            return Ok(());
        };
        for x in m.members.iter().filter(|x| x.path.starts_with("payload/")) {
            if let Err(err) = seal::member::plain_len(x.size) {
                return Err(BundleError::Manifest(VerifyError::schema(
                    "bundle manifest",
                    format!("sealed member {}: {err}", x.path),
                )));
            }
        }
        if self.staging.is_none() {
            return Ok(());
        }
        let sealed = |check: Check, detail: String| BundleError::Sealed { check, detail };
        match self.opts.sealed {
            Sealed::Keep => Ok(()),
            Sealed::Refuse => Err(sealed(
                Check::PayloadSealed,
                format!(
                    "build {} is sealed: extract it with this machine's key for it, or keep it sealed for on-demand opening",
                    m.bundle_id
                ),
            )),
            Sealed::Open(find) => {
                let key = find(m).map_err(|r| {
                    sealed(r.check.unwrap_or(Check::BuildKeyInvalid), r.message)
                })?;
                crate::payload::check_key(&key, &m.bundle_id, &e.key_check).map_err(|r| {
                    sealed(r.check.unwrap_or(Check::BuildKeyInvalid), r.message)
                })?;
                self.key = Some(key);
                Ok(())
            }
        }
    }

    pub(super) fn finish_stream(&self) -> Result<(), BundleError> {
        match self.phase {
            Phase::End {
                zero_blocks: 2..,
                trailing,
            } if trailing % BLOCK as u64 == 0 => Ok(()),
            Phase::End {
                zero_blocks: 2.., ..
            } => Err(BundleError::Archive(
                "padding after the end-of-archive marker is not whole 512-byte blocks".into(),
            )),
            Phase::End { .. } => Err(BundleError::Archive(
                "end-of-archive marker incomplete (one zero block)".into(),
            )),
            _ => Err(BundleError::Archive(match &self.cur {
                Some(c) => format!("truncated inside member {}", c.path),
                None => "truncated: no end-of-archive marker".into(),
            })),
        }
    }
}
