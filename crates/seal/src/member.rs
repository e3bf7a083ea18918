//! Sealed payload members (docs/FORMAT.md §19): `nonce (16 bytes) ‖ chunk ‖ chunk ‖ …`, each
//! chunk 64 KiB of plaintext and its 16-byte tag, the last one shorter (never empty unless the
//! whole member is) and marked last by STREAM, so a truncated or extended member never opens.
//!
//! The member key is HKDF-SHA256(salt = nonce, ikm = content key,
//! info = `airlock/member-key/v1` ‖ 0x00 ‖ path); the STREAM nonce prefix is 7 zero bytes (every
//! member key is used for one member only). The nonce is the first 16 bytes of
//! HMAC-SHA256(content key, `airlock/member-nonce/v1` ‖ 0x00 ‖ path ‖ 0x00 ‖ SHA-256(plaintext)).

use crate::{ContentKey, SealError};
use chacha20poly1305::aead::stream::DecryptorBE32;
#[cfg(feature = "seal")]
use chacha20poly1305::aead::stream::EncryptorBE32;
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::ChaCha20Poly1305;
use std::io::Read;
use zeroize::Zeroizing;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Tag bytes per chunk.
pub const TAG: usize = 16;
/// The member nonce in front of the chunks.
pub const NONCE: usize = 16;
const SEALED_CHUNK: u64 = (CHUNK + TAG) as u64;

fn chunks(plain: u64) -> u64 {
    plain.div_ceil(CHUNK as u64).max(1)
}

/// The sealed size of `plain` plaintext bytes.
pub fn sealed_len(plain: u64) -> u64 {
    NONCE as u64 + plain + TAG as u64 * chunks(plain)
}

/// The plaintext size of a sealed member of `sealed` bytes, or why no sealing gives that size.
pub fn plain_len(sealed: u64) -> Result<u64, SealError> {
    let bad = || SealError::Length(format!("{sealed} bytes is not the size of a sealed member"));
    let body = sealed.checked_sub(NONCE as u64).ok_or_else(bad)?;
    let (full, rem) = (body / SEALED_CHUNK, body % SEALED_CHUNK);
    let plain = match rem {
        0 => full * CHUNK as u64,
        r if r < TAG as u64 => return Err(bad()),
        r => full * CHUNK as u64 + r - TAG as u64,
    };
    if sealed_len(plain) != sealed {
        return Err(bad());
    }
    Ok(plain)
}

/// The member nonce for `path` with plaintext digest `plain_sha256`.
pub fn member_nonce(key: &ContentKey, path: &str, plain_sha256: &[u8; 32]) -> [u8; NONCE] {
    let mac = key.mac(&[
        b"airlock/member-nonce/v1\0",
        path.as_bytes(),
        b"\0",
        plain_sha256,
    ]);
    let mut n = [0u8; NONCE];
    n.copy_from_slice(&mac[..NONCE]);
    n
}

fn member_aead(key: &ContentKey, path: &str, nonce: &[u8; NONCE]) -> ChaCha20Poly1305 {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(nonce), key.expose());
    let mut k = Zeroizing::new([0u8; 32]);
    let info = [b"airlock/member-key/v1\0".as_slice(), path.as_bytes()].concat();
    hk.expand(&info, &mut *k)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    ChaCha20Poly1305::new((&*k).into())
}

const PREFIX: [u8; 7] = [0u8; 7];

/// Seals `plain_len` bytes read from `reader` as member `path`, handing the sealed bytes to
/// `out` in order (nonce first). `plain_sha256` is the plaintext's digest (read beforehand); a
/// reader that gives more or fewer bytes than announced is an error and what was handed out
/// must be discarded.
#[cfg(feature = "seal")]
pub fn seal_reader(
    key: &ContentKey,
    path: &str,
    plain_sha256: &[u8; 32],
    plain_len: u64,
    mut reader: impl Read,
    mut out: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), SealError> {
    let io = |e: std::io::Error| SealError::Io(format!("member {path}: {e}"));
    let nonce = member_nonce(key, path, plain_sha256);
    out(&nonce).map_err(io)?;
    let mut enc = EncryptorBE32::from_aead(member_aead(key, path, &nonce), &PREFIX.into());
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + TAG);
    let mut left = plain_len;
    loop {
        let take = left.min(CHUNK as u64) as usize;
        buf.clear();
        buf.resize(take, 0);
        reader.read_exact(&mut buf).map_err(io)?;
        left -= take as u64;
        if left == 0 {
            let mut extra = [0u8; 1];
            if reader.read(&mut extra).map_err(io)? != 0 {
                return Err(SealError::Length(format!(
                    "member {path}: more than the announced {plain_len} bytes"
                )));
            }
            enc.encrypt_last_in_place(&[], &mut buf)
                .map_err(|_| SealError::Length(format!("member {path}: too long to seal")))?;
            return out(&buf).map_err(io);
        }
        enc.encrypt_next_in_place(&[], &mut buf)
            .map_err(|_| SealError::Length(format!("member {path}: too long to seal")))?;
        out(&buf).map_err(io)?;
    }
}

/// Opens a sealed member pushed to it in pieces of any size (the bundle reader's stream),
/// handing each chunk's plaintext to the caller only after that chunk's tag verified.
pub struct Opener {
    key: ContentKey,
    path: String,
    /// Sealed bytes still to come.
    left: u64,
    nonce: Vec<u8>,
    dec: Option<DecryptorBE32<ChaCha20Poly1305>>,
    buf: Vec<u8>,
    chunk: u64,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Opener({}, {} left)", self.path, self.left)
    }
}

impl Opener {
    /// An opener for member `path` of `sealed` bytes (refused when no sealing has that size).
    pub fn new(key: &ContentKey, path: &str, sealed: u64) -> Result<Opener, SealError> {
        plain_len(sealed).map_err(|e| SealError::Length(format!("member {path}: {e}")))?;
        Ok(Opener {
            key: key.clone(),
            path: path.to_string(),
            left: sealed,
            nonce: Vec::with_capacity(NONCE),
            dec: None,
            buf: Vec::with_capacity(CHUNK + TAG),
            chunk: 0,
        })
    }

    /// The next sealed bytes; each opened chunk's plaintext goes to `out`.
    pub fn update(
        &mut self,
        mut data: &[u8],
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), SealError> {
        if data.len() as u64 > self.left {
            return Err(SealError::Length(format!(
                "member {}: longer than announced",
                self.path
            )));
        }
        while !data.is_empty() {
            if self.nonce.len() < NONCE {
                let take = (NONCE - self.nonce.len()).min(data.len());
                self.nonce.extend_from_slice(&data[..take]);
                self.left -= take as u64;
                data = &data[take..];
                if self.nonce.len() == NONCE {
                    let n: [u8; NONCE] = self.nonce[..].try_into().expect("16 bytes");
                    let aead = member_aead(&self.key, &self.path, &n);
                    self.dec = Some(DecryptorBE32::from_aead(aead, &PREFIX.into()));
                }
                continue;
            }
            // This chunk's sealed size: a whole chunk, or what is left (the last one).
            let want = (self.left + self.buf.len() as u64).min(SEALED_CHUNK) as usize;
            let take = (want - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            self.left -= take as u64;
            data = &data[take..];
            if self.buf.len() == want {
                self.open_chunk(out)?;
            }
        }
        Ok(())
    }

    fn open_chunk(
        &mut self,
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), SealError> {
        let last = self.left == 0;
        let tag_err = |n: u64, p: &str| {
            SealError::Tag(format!(
                "member {p}, chunk {n}: its tag does not verify (changed bytes, or another key)"
            ))
        };
        if last {
            let dec = self
                .dec
                .take()
                .ok_or_else(|| tag_err(self.chunk, &self.path))?;
            dec.decrypt_last_in_place(&[], &mut self.buf)
                .map_err(|_| tag_err(self.chunk, &self.path))?;
        } else {
            let dec = self
                .dec
                .as_mut()
                .ok_or_else(|| tag_err(self.chunk, &self.path))?;
            dec.decrypt_next_in_place(&[], &mut self.buf)
                .map_err(|_| tag_err(self.chunk, &self.path))?;
        }
        self.chunk += 1;
        out(&self.buf).map_err(|e| SealError::Io(format!("member {}: {e}", self.path)))?;
        self.buf.clear();
        Ok(())
    }

    /// Ends the member: every announced byte came and the last chunk opened.
    pub fn finish(self) -> Result<(), SealError> {
        if self.left != 0 || self.dec.is_some() || self.nonce.len() < NONCE {
            return Err(SealError::Length(format!(
                "member {}: ended {} bytes early",
                self.path, self.left
            )));
        }
        Ok(())
    }
}

/// A reader of a sealed member's plaintext over a reader of its sealed bytes (on-demand
/// opening): each chunk is released only after its tag verified, and the end only after the
/// last chunk's. Memory: one chunk.
pub struct OpenReader<R: Read> {
    inner: R,
    opener: Option<Opener>,
    plain: Vec<u8>,
    pos: usize,
    read_buf: Vec<u8>,
}

impl<R: Read> std::fmt::Debug for OpenReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenReader({:?})", self.opener)
    }
}

impl<R: Read> OpenReader<R> {
    /// Opens member `path` of `sealed` bytes read from `inner`.
    pub fn new(
        key: &ContentKey,
        path: &str,
        sealed: u64,
        inner: R,
    ) -> Result<OpenReader<R>, SealError> {
        Ok(OpenReader {
            inner,
            opener: Some(Opener::new(key, path, sealed)?),
            plain: Vec::with_capacity(CHUNK),
            pos: 0,
            read_buf: vec![0u8; CHUNK + TAG],
        })
    }

    fn refill(&mut self) -> std::io::Result<()> {
        let to_io = |e: SealError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        self.plain.clear();
        self.pos = 0;
        while self.plain.is_empty() {
            let Some(op) = self.opener.as_mut() else {
                return Ok(());
            };
            if op.left == 0 {
                let op = self.opener.take().expect("present");
                return op.finish().map_err(to_io);
            }
            let want = op.left.min(self.read_buf.len() as u64) as usize;
            let n = self.inner.read(&mut self.read_buf[..want])?;
            if n == 0 {
                let op = self.opener.take().expect("present");
                return op.finish().map_err(to_io);
            }
            let plain = &mut self.plain;
            op.update(&self.read_buf[..n], &mut |p| {
                plain.extend_from_slice(p);
                Ok(())
            })
            .map_err(to_io)?;
        }
        Ok(())
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.plain.len() {
            self.refill()?;
        }
        let n = (self.plain.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(all(test, feature = "seal"))]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn seal(key: &ContentKey, path: &str, plain: &[u8]) -> Vec<u8> {
        let sha: [u8; 32] = Sha256::digest(plain).into();
        let mut out = Vec::new();
        seal_reader(key, path, &sha, plain.len() as u64, plain, |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        out
    }

    fn open(
        key: &ContentKey,
        path: &str,
        sealed: &[u8],
        piece: usize,
    ) -> Result<Vec<u8>, SealError> {
        let mut o = Opener::new(key, path, sealed.len() as u64)?;
        let mut out = Vec::new();
        for p in sealed.chunks(piece.max(1)) {
            o.update(p, &mut |b| {
                out.extend_from_slice(b);
                Ok(())
            })?;
        }
        o.finish()?;
        Ok(out)
    }

    #[test]
    fn round_trips_at_every_chunk_edge() {
        let key = ContentKey::from_bytes([7; 32]);
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let sealed = seal(&key, "payload/a", &plain);
            assert_eq!(sealed.len() as u64, sealed_len(len as u64), "len {len}");
            assert_eq!(plain_len(sealed.len() as u64).unwrap(), len as u64);
            for piece in [1, 7, 4096, CHUNK + TAG, 1 << 20] {
                if len > 2 * CHUNK && piece == 1 {
                    continue;
                }
                assert_eq!(open(&key, "payload/a", &sealed, piece).unwrap(), plain);
            }
            let mut r =
                OpenReader::new(&key, "payload/a", sealed.len() as u64, &sealed[..]).unwrap();
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            assert_eq!(back, plain);
        }
    }

    #[test]
    fn same_key_and_file_give_the_same_bytes_other_files_other_nonces() {
        let key = ContentKey::from_bytes([1; 32]);
        assert_eq!(seal(&key, "payload/a", b"x"), seal(&key, "payload/a", b"x"));
        assert_ne!(
            seal(&key, "payload/a", b"x")[..NONCE],
            seal(&key, "payload/a", b"y")[..NONCE]
        );
        assert_ne!(
            seal(&key, "payload/a", b"x")[..NONCE],
            seal(&key, "payload/b", b"x")[..NONCE]
        );
    }

    #[test]
    fn refuses_tampering_truncation_extension_another_path_and_another_key() {
        let key = ContentKey::from_bytes([2; 32]);
        let plain = vec![9u8; 2 * CHUNK + 10];
        let sealed = seal(&key, "payload/a", &plain);
        for i in [
            0,
            NONCE,
            NONCE + 100,
            CHUNK + TAG + NONCE + 3,
            sealed.len() - 1,
        ] {
            let mut t = sealed.clone();
            t[i] ^= 1;
            assert!(
                matches!(open(&key, "payload/a", &t, 4096), Err(SealError::Tag(_))),
                "{i}"
            );
        }
        // Dropping the last chunk leaves a valid-looking length whose last chunk is not marked last.
        let cut = &sealed[..NONCE + 2 * (CHUNK + TAG)];
        assert!(open(&key, "payload/a", cut, 4096).is_err());
        assert!(matches!(
            open(&key, "payload/b", &sealed, 4096),
            Err(SealError::Tag(_))
        ));
        let other = ContentKey::from_bytes([3; 32]);
        assert!(matches!(
            open(&other, "payload/a", &sealed, 4096),
            Err(SealError::Tag(_))
        ));
        for bad in [0u64, 15, 16, 31, NONCE as u64 + SEALED_CHUNK + 5] {
            assert!(plain_len(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn lengths_invert(plain in 0u64..(1 << 40)) {
            proptest::prop_assert_eq!(plain_len(sealed_len(plain)).unwrap(), plain);
        }

        #[test]
        fn any_sealed_size_either_inverts_or_is_refused(sealed in 0u64..(1 << 24)) {
            if let Ok(p) = plain_len(sealed) {
                proptest::prop_assert_eq!(sealed_len(p), sealed);
            }
        }
    }
}
