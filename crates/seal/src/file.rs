//! A payload file as it is sealed (docs/FORMAT.md §19): its raw deflate stream (RFC 1951;
//! level 6, or stored blocks when its first 64 KiB do not shrink by 3 %), sealed as one member
//! ([`crate::member`]). Compressing first keeps a sealed bundle about the size of a plain one
//! (sealed bytes no longer compress); the nonce derives from the SHA-256 of exactly the bytes
//! sealed, so the same key never seals two different streams under one member key.
//!
//! Sealing deflates the file once into scratch space ([`deflate_to`], which measures the
//! stream), then seals that stream ([`seal`]); opening streams: [`Unsealer`] (pushed, writing
//! the file) and [`PlainReader`] (pulled, on demand).

use crate::member::{OpenReader, Opener};
use crate::{ContentKey, SealError};
use flate2::Compression;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// Bytes probed to choose between compressing and storing.
const PROBE: usize = 64 * 1024;

/// What the first read of a file found: how it is compressed, and the SHA-256 and length of
/// the deflate stream that is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// Deflate level: 6, or 0 (stored blocks) for data that does not compress.
    pub level: u32,
    /// SHA-256 of the deflate stream.
    pub digest: [u8; 32],
    /// Its length.
    pub deflated: u64,
    /// The file's length.
    pub plain: u64,
}

impl Prepared {
    /// The sealed member's size.
    pub fn sealed_len(&self) -> u64 {
        crate::member::sealed_len(self.deflated)
    }
}

/// Whether `probe` (the first 64 KiB) does not shrink by 3 % at level 1.
fn incompressible(probe: &[u8]) -> bool {
    if probe.len() < PROBE {
        return false;
    }
    let mut c = flate2::Compress::new(Compression::new(1), false);
    let mut out = Vec::with_capacity(PROBE + 1024);
    let done = c.compress_vec(probe, &mut out, flate2::FlushCompress::Finish);
    done.is_ok() && c.total_in() as usize == PROBE && out.len() * 100 > PROBE * 97
}

/// Deflates a file into `out` (the level chosen from its first 64 KiB), measuring the stream:
/// what [`seal`] then seals, read back from where `out` put it.
pub fn deflate_to(mut reader: impl Read, out: impl Write) -> std::io::Result<Prepared> {
    let mut probe = Vec::with_capacity(PROBE);
    (&mut reader).take(PROBE as u64).read_to_end(&mut probe)?;
    let level = if incompressible(&probe) { 0 } else { 6 };
    let mut sha = Sha256::new();
    let mut tee = Tee {
        out,
        sha: &mut sha,
        n: 0,
    };
    let mut plain = probe.len() as u64;
    {
        let mut enc = flate2::write::DeflateEncoder::new(&mut tee, Compression::new(level));
        enc.write_all(&probe)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            plain += n as u64;
            enc.write_all(&buf[..n])?;
        }
        enc.finish()?;
    }
    tee.out.flush()?;
    let deflated = tee.n;
    Ok(Prepared {
        level,
        digest: sha.finalize().into(),
        deflated,
        plain,
    })
}

/// A writer that hashes and counts what it passes on.
struct Tee<'a, W> {
    out: W,
    sha: &'a mut Sha256,
    n: u64,
}

impl<W: Write> Write for Tee<'_, W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(b)?;
        self.sha.update(&b[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Seals the deflate stream [`deflate_to`] wrote (read back from `deflated`) as member `path`,
/// handing the sealed bytes to `out`. A stream of another length is an error, and what was
/// handed out must be discarded.
#[cfg(feature = "seal")]
pub fn seal(
    key: &ContentKey,
    path: &str,
    p: &Prepared,
    deflated: impl Read,
    out: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), SealError> {
    crate::member::seal_reader(key, path, &p.digest, p.deflated, deflated, out)
}

/// Opens a sealed payload file pushed to it in pieces, writing the file to `W` (each chunk
/// inflated only after its tag verified).
pub struct Unsealer<W: Write> {
    opener: Opener,
    inflate: flate2::write::DeflateDecoder<W>,
}

impl<W: Write> std::fmt::Debug for Unsealer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Unsealer({:?})", self.opener)
    }
}

impl<W: Write> Unsealer<W> {
    /// An unsealer of member `path` of `sealed` bytes, writing the file to `out`.
    pub fn new(
        key: &ContentKey,
        path: &str,
        sealed: u64,
        out: W,
    ) -> Result<Unsealer<W>, SealError> {
        Ok(Unsealer {
            opener: Opener::new(key, path, sealed)?,
            inflate: flate2::write::DeflateDecoder::new(out),
        })
    }

    /// The next sealed bytes.
    pub fn update(&mut self, data: &[u8]) -> Result<(), SealError> {
        let inflate = &mut self.inflate;
        self.opener.update(data, &mut |p| inflate.write_all(p))
    }

    /// Ends the member (every byte came, the last chunk opened, the deflate stream ended);
    /// returns the writer.
    pub fn finish(self) -> Result<W, SealError> {
        self.opener.finish()?;
        self.inflate
            .finish()
            .map_err(|e| SealError::Length(format!("the deflate stream: {e}")))
    }
}

/// Reads a sealed payload file's plaintext from a reader of its sealed bytes (on demand).
pub struct PlainReader<R: Read>(flate2::read::DeflateDecoder<OpenReader<R>>);

impl<R: Read> std::fmt::Debug for PlainReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainReader")
    }
}

impl<R: Read> PlainReader<R> {
    /// Opens member `path` of `sealed` bytes read from `inner`.
    pub fn new(
        key: &ContentKey,
        path: &str,
        sealed: u64,
        inner: R,
    ) -> Result<PlainReader<R>, SealError> {
        Ok(PlainReader(flate2::read::DeflateDecoder::new(
            OpenReader::new(key, path, sealed, inner)?,
        )))
    }
}

impl<R: Read> Read for PlainReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

#[cfg(all(test, feature = "seal"))]
mod tests {
    use super::*;

    fn sealed(key: &ContentKey, data: &[u8]) -> (Prepared, Vec<u8>) {
        let mut deflated = Vec::new();
        let p = deflate_to(data, &mut deflated).unwrap();
        assert_eq!(p.deflated, deflated.len() as u64);
        let mut out = Vec::new();
        seal(key, "payload/f", &p, &deflated[..], |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(out.len() as u64, p.sealed_len());
        (p, out)
    }

    #[test]
    fn text_shrinks_noise_is_stored_and_both_come_back() {
        let key = ContentKey::from_bytes([4; 32]);
        let text: Vec<u8> = b"license bundle verify offline\n".repeat(10_000);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        for (data, shrinks) in [(&text, true), (&noise, false), (&Vec::new(), true)] {
            let (p, s) = sealed(&key, data);
            assert_eq!(p.plain, data.len() as u64);
            if !data.is_empty() {
                assert_eq!(p.level == 6, shrinks);
                assert_eq!((s.len() as u64) < data.len() as u64 / 2, shrinks);
            }
            let mut back = Vec::new();
            PlainReader::new(&key, "payload/f", s.len() as u64, &s[..])
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(&back, data);
            let mut u = Unsealer::new(&key, "payload/f", s.len() as u64, Vec::new()).unwrap();
            for piece in s.chunks(5000) {
                u.update(piece).unwrap();
            }
            assert_eq!(&u.finish().unwrap(), data);
        }
    }

    #[test]
    fn a_changed_byte_is_refused_before_it_is_inflated() {
        let key = ContentKey::from_bytes([4; 32]);
        let (_, mut s) = sealed(&key, &b"abc".repeat(50_000));
        let n = s.len();
        s[n / 2] ^= 1;
        let mut back = Vec::new();
        assert!(PlainReader::new(&key, "payload/f", n as u64, &s[..])
            .unwrap()
            .read_to_end(&mut back)
            .is_err());
        let mut u = Unsealer::new(&key, "payload/f", n as u64, Vec::new()).unwrap();
        assert!(u.update(&s).is_err());
    }
}
