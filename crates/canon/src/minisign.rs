//! The minisign file formats (<https://jedisct1.github.io/minisign/>) and the prehash its `ED`
//! signatures cover ([`Prehash`]); no signing or verification here.
//!
//! Public key file:
//! ```text
//! untrusted comment: minisign public key <KEYNUM as %016X of its little-endian u64>
//! base64("Ed" || keynum[8] || public_key[32])
//! ```
//! Signature file (prehashed, the only form Airlock accepts):
//! ```text
//! untrusted comment: <text>
//! base64("ED" || keynum[8] || ed25519(BLAKE2b-512(file))[64])
//! trusted comment: <text>
//! base64(ed25519(signature[64] || trusted_comment_text)[64])
//! ```
//! Airlock uses its 8-byte key id as the minisign key number.

use crate::enc;
use std::fmt;

const UNTRUSTED: &str = "untrusted comment: ";

/// BLAKE2b-512 of a whole file, fed in pieces: what a prehashed (`ED`) minisign signature
/// signs. The one place the workspace computes it (signer, packager and verifier), with an
/// implementation that uses AVX2 where the CPU has it: on a large bundle this hash is a third
/// of the verifier's work.
#[derive(Clone)]
pub struct Prehash(blake2b_simd::State);

impl Prehash {
    /// An empty hash.
    pub fn new() -> Prehash {
        Prehash(blake2b_simd::Params::new().hash_length(64).to_state())
    }

    /// Feeds file bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The 64-byte digest.
    pub fn finalize(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.0.finalize().as_bytes());
        out
    }
}

impl Default for Prehash {
    fn default() -> Prehash {
        Prehash::new()
    }
}
const TRUSTED: &str = "trusted comment: ";

/// Largest signature file accepted, in bytes.
pub const MAX_SIGNATURE_BYTES: usize = 16 * 1024;

/// Why a minisign file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MinisignError {
    /// Larger than the cap.
    TooLarge,
    /// Not the line structure of the format.
    Layout(&'static str),
    /// A base64 line does not decode to the expected length.
    Encoding(&'static str),
    /// The signature algorithm is the legacy non-prehashed `Ed` (or unknown).
    Algorithm(String),
}

impl fmt::Display for MinisignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MinisignError::TooLarge => write!(f, "minisign file larger than {MAX_SIGNATURE_BYTES} bytes"),
            MinisignError::Layout(m) => write!(f, "minisign file: {m}"),
            MinisignError::Encoding(m) => write!(f, "minisign file: {m}"),
            MinisignError::Algorithm(a) => write!(
                f,
                "minisign signature algorithm {a:?} refused: only prehashed \"ED\" signatures are accepted"
            ),
        }
    }
}

impl std::error::Error for MinisignError {}

/// A minisign public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The key number (Airlock: the key id).
    pub keynum: [u8; 8],
    /// The raw Ed25519 public key.
    pub key: [u8; 32],
}

/// A parsed minisign signature file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The key number of the signing key.
    pub keynum: [u8; 8],
    /// Ed25519 signature over BLAKE2b-512 of the file.
    pub signature: [u8; 64],
    /// The trusted comment text (after `trusted comment: `, without the newline).
    pub trusted_comment: String,
    /// Ed25519 signature over `signature || trusted_comment`.
    pub global_signature: [u8; 64],
    /// The untrusted comment (informational only).
    pub untrusted_comment: String,
}

fn lines(text: &str) -> Result<Vec<&str>, MinisignError> {
    if text.contains('\r') {
        return Err(MinisignError::Layout("carriage return in file"));
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    Ok(body.split('\n').collect())
}

fn utf8(bytes: &[u8]) -> Result<&str, MinisignError> {
    if bytes.len() > MAX_SIGNATURE_BYTES {
        return Err(MinisignError::TooLarge);
    }
    std::str::from_utf8(bytes).map_err(|_| MinisignError::Layout("not UTF-8"))
}

impl PublicKey {
    /// Parses a public key file (two lines).
    pub fn parse(bytes: &[u8]) -> Result<PublicKey, MinisignError> {
        let l = lines(utf8(bytes)?)?;
        if l.len() != 2 || !l[0].starts_with(UNTRUSTED) {
            return Err(MinisignError::Layout(
                "a public key file has an untrusted comment line and a key line",
            ));
        }
        Self::from_base64(l[1])
    }

    /// Parses the base64 key line alone (as given to `minisign -P`).
    pub fn from_base64(line: &str) -> Result<PublicKey, MinisignError> {
        let raw = enc::unb64_exact::<42>(line).ok_or(MinisignError::Encoding(
            "public key is not base64 of 42 bytes",
        ))?;
        if &raw[..2] != b"Ed" {
            return Err(MinisignError::Algorithm(
                String::from_utf8_lossy(&raw[..2]).into(),
            ));
        }
        let mut keynum = [0; 8];
        keynum.copy_from_slice(&raw[2..10]);
        let mut key = [0; 32];
        key.copy_from_slice(&raw[10..]);
        Ok(PublicKey { keynum, key })
    }

    /// The base64 key line.
    pub fn to_base64(&self) -> String {
        let mut raw = Vec::with_capacity(42);
        raw.extend_from_slice(b"Ed");
        raw.extend_from_slice(&self.keynum);
        raw.extend_from_slice(&self.key);
        enc::b64(&raw)
    }

    /// The public key file, as `minisign -G` writes it.
    pub fn to_file(&self) -> String {
        format!(
            "{UNTRUSTED}minisign public key {:016X}\n{}\n",
            u64::from_le_bytes(self.keynum),
            self.to_base64()
        )
    }
}

impl Signature {
    /// Parses a signature file (four lines).
    pub fn parse(bytes: &[u8]) -> Result<Signature, MinisignError> {
        let text = utf8(bytes)?;
        // minisign ends every line, the last included, with LF; a file cut short of it is not
        // one minisign wrote (FORMAT.md §5).
        if !text.ends_with('\n') {
            return Err(MinisignError::Layout(
                "a signature file ends with a line feed",
            ));
        }
        let l = lines(text)?;
        if l.len() != 4 {
            return Err(MinisignError::Layout(
                "a signature file has exactly four lines",
            ));
        }
        let untrusted = l[0].strip_prefix(UNTRUSTED).ok_or(MinisignError::Layout(
            "line 1 must start with \"untrusted comment: \"",
        ))?;
        let trusted = l[2].strip_prefix(TRUSTED).ok_or(MinisignError::Layout(
            "line 3 must start with \"trusted comment: \"",
        ))?;
        let raw = enc::unb64_exact::<74>(l[1]).ok_or(MinisignError::Encoding(
            "signature line is not base64 of 74 bytes",
        ))?;
        if &raw[..2] != b"ED" {
            return Err(MinisignError::Algorithm(
                String::from_utf8_lossy(&raw[..2]).into(),
            ));
        }
        let global = enc::unb64_exact::<64>(l[3]).ok_or(MinisignError::Encoding(
            "global signature is not base64 of 64 bytes",
        ))?;
        let mut keynum = [0; 8];
        keynum.copy_from_slice(&raw[2..10]);
        let mut signature = [0; 64];
        signature.copy_from_slice(&raw[10..]);
        Ok(Signature {
            keynum,
            signature,
            trusted_comment: trusted.to_string(),
            global_signature: global,
            untrusted_comment: untrusted.to_string(),
        })
    }

    /// The message the global signature covers: `signature || trusted_comment`.
    pub fn global_message(signature: &[u8; 64], trusted_comment: &str) -> Vec<u8> {
        let mut m = Vec::with_capacity(64 + trusted_comment.len());
        m.extend_from_slice(signature);
        m.extend_from_slice(trusted_comment.as_bytes());
        m
    }

    /// The signature file text.
    pub fn to_file(&self) -> String {
        let mut raw = Vec::with_capacity(74);
        raw.extend_from_slice(b"ED");
        raw.extend_from_slice(&self.keynum);
        raw.extend_from_slice(&self.signature);
        format!(
            "{UNTRUSTED}{}\n{}\n{TRUSTED}{}\n{}\n",
            self.untrusted_comment,
            enc::b64(&raw),
            self.trusted_comment,
            enc::b64(&self.global_signature)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_round_trip() {
        let pk = PublicKey {
            keynum: [1, 2, 3, 4, 5, 6, 7, 8],
            key: [9; 32],
        };
        let file = pk.to_file();
        assert!(file.starts_with("untrusted comment: minisign public key 0807060504030201\n"));
        assert_eq!(PublicKey::parse(file.as_bytes()).unwrap(), pk);
        assert!(PublicKey::parse(b"untrusted comment: x\nAAAA\n").is_err());
    }

    #[test]
    fn signature_round_trip_and_refusals() {
        let s = Signature {
            keynum: [3; 8],
            signature: [4; 64],
            trusted_comment: "timestamp:1\tfile:x".into(),
            global_signature: [5; 64],
            untrusted_comment: "signature from airlock".into(),
        };
        let file = s.to_file();
        assert_eq!(Signature::parse(file.as_bytes()).unwrap(), s);
        let crlf = file.replace('\n', "\r\n");
        assert!(matches!(
            Signature::parse(crlf.as_bytes()),
            Err(MinisignError::Layout(_))
        ));
        let mut raw = b"Ed".to_vec();
        raw.extend_from_slice(&[3; 8]);
        raw.extend_from_slice(&[4; 64]);
        let legacy = file.replace(&file.lines().nth(1).unwrap().to_string(), &enc::b64(&raw));
        assert_eq!(
            Signature::parse(legacy.as_bytes()),
            Err(MinisignError::Algorithm("Ed".into()))
        );
        let unterminated = file.strip_suffix('\n').unwrap();
        assert_eq!(
            Signature::parse(unterminated.as_bytes()),
            Err(MinisignError::Layout(
                "a signature file ends with a line feed"
            ))
        );
        let five = format!("{file}extra\n");
        assert!(matches!(
            Signature::parse(five.as_bytes()),
            Err(MinisignError::Layout(_))
        ));
        assert_eq!(
            Signature::parse(&vec![b'a'; MAX_SIGNATURE_BYTES + 1]),
            Err(MinisignError::TooLarge)
        );
    }
}
