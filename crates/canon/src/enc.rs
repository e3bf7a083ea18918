//! Strict encodings: lowercase hexadecimal and padded standard base64 (RFC 4648 §4), plus the
//! SHA-256 helpers every artifact uses.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Lowercase hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xF)]));
    }
    s
}

/// Decodes lowercase hexadecimal of exactly `N` bytes; anything else (uppercase, odd length,
/// other characters) is `None`.
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
    }
    Some(out)
}

/// Padded standard base64 of `bytes`.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes padded standard base64 strictly (no whitespace, canonical trailing bits).
pub fn unb64(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

/// Decodes padded standard base64 of exactly `N` bytes.
pub fn unb64_exact<const N: usize>(s: &str) -> Option<[u8; N]> {
    // Refuse oversized input before decoding it.
    if s.len() > N.div_ceil(3) * 4 {
        return None;
    }
    unb64(s)?.try_into().ok()
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether two secrets (or their digests) are equal, compared in time independent of where
/// they differ (`subtle`); of different lengths, they are not. The one comparison of secrets:
/// credentials, license keys, key checks.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha256(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_equal_only_when_every_byte_and_the_length_agree() {
        assert!(same_secret(b"", b""));
        assert!(same_secret(&sha256(b"k"), &sha256(b"k")));
        assert!(!same_secret(&sha256(b"k"), &sha256(b"K")));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"abc", b"abd"));
    }

    #[test]
    fn hex_is_strict() {
        assert_eq!(unhex::<2>("00ff"), Some([0, 255]));
        assert_eq!(unhex::<2>("00FF"), None);
        assert_eq!(unhex::<2>("00f"), None);
        assert_eq!(unhex::<2>("00fg"), None);
        assert_eq!(hex(&[0xab, 0x01]), "ab01");
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(unb64_exact::<3>("YWJj"), Some(*b"abc"));
        assert_eq!(unb64_exact::<3>("YWJj\n"), None);
        assert_eq!(unb64_exact::<2>("YWI="), Some(*b"ab"));
        assert_eq!(
            unb64_exact::<2>("YWJ="),
            None,
            "non-canonical trailing bits"
        );
        assert_eq!(unb64_exact::<2>("YWI"), None, "missing padding");
        assert_eq!(unb64_exact::<2>("YWJj"), None, "wrong length");
    }
}
