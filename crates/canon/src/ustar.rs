//! The one tar header form Airlock writes and accepts: a POSIX ustar header for a regular file
//! with a fixed ownership, time and mode policy. No PAX, no GNU extensions, no links, devices,
//! directories or sparse files: anything else is refused by [`decode`].
//!
//! Layout (offsets in the 512-byte block; numbers are zero-padded octal ending in NUL):
//! name 0..100 · mode 100..108 (`0000644`/`0000755`) · uid 108..116 and gid 116..124
//! (`0000000`) · size 124..136 (11 digits) · mtime 136..148 (`00000000000`) · chksum 148..156
//! (6 digits, NUL, space) · typeflag 156 (`0`) · linkname 157..257 (NUL) · magic 257..263
//! (`ustar\0`) · version 263..265 (`00`) · uname 265..297, gname 297..329 (NUL) · devmajor
//! 329..337, devminor 337..345 (`0000000`) · prefix 345..500 · 500..512 NUL. The path is
//! `prefix/name` when prefix is not empty.

use crate::path::SafePath;
use std::fmt;

/// Block size.
pub const BLOCK: usize = 512;
/// Largest member size representable (11 octal digits).
pub const MAX_SIZE: u64 = 0o77777777777;

/// A decoded header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The member path.
    pub path: SafePath,
    /// Data size in bytes.
    pub size: u64,
    /// 0o644 or 0o755.
    pub mode: u32,
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError(pub String);

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tar header: {}", self.0)
    }
}

impl std::error::Error for HeaderError {}

fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

/// Where the one header form splits a path into prefix and name: `None` when it fits the name
/// field (≤ 100 bytes, empty prefix), else the first `/` leaving ≤ 155 bytes before and ≤ 100
/// after (`Some(None)`: no such `/`, the path does not fit).
fn split(p: &[u8]) -> Option<Option<usize>> {
    if p.len() <= 100 {
        return None;
    }
    Some(
        p.iter()
            .enumerate()
            .position(|(i, &b)| b == b'/' && i <= 155 && p.len() - i - 1 <= 100),
    )
}

/// Encodes a header. Fails when the path does not fit ustar (name ≤ 100 bytes, prefix ≤ 155
/// bytes split at a `/`), the size exceeds [`MAX_SIZE`] or the mode is not 0644/0755.
pub fn encode(path: &SafePath, size: u64, mode: u32) -> Result<[u8; BLOCK], HeaderError> {
    if mode != 0o644 && mode != 0o755 {
        return Err(HeaderError(format!("mode {mode:o} is not 644 or 755")));
    }
    if size > MAX_SIZE {
        return Err(HeaderError(format!(
            "{path}: {size} bytes is larger than a ustar member can be"
        )));
    }
    let p = path.as_str().as_bytes();
    let (prefix, name) = match split(p) {
        None => (&p[..0], p),
        Some(Some(at)) => (&p[..at], &p[at + 1..]),
        Some(None) => {
            return Err(HeaderError(format!(
                "{path}: path too long for a ustar header"
            )))
        }
    };
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    h[345..345 + prefix.len()].copy_from_slice(prefix);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}");
    h[148..154].copy_from_slice(s.as_bytes());
    h[154] = 0;
    h[155] = b' ';
    Ok(h)
}

fn parse_octal(field: &[u8], what: &str) -> Result<u64, HeaderError> {
    let (digits, end) = field.split_at(field.len() - 1);
    if end != [0] || digits.is_empty() || !digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return Err(HeaderError(format!("{what} is not zero-padded octal")));
    }
    Ok(digits
        .iter()
        .fold(0u64, |a, &d| a * 8 + u64::from(d - b'0')))
}

fn text(field: &[u8], what: &str) -> Result<String, HeaderError> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    if field[end..].iter().any(|&b| b != 0) {
        return Err(HeaderError(format!(
            "{what} has bytes after its NUL terminator"
        )));
    }
    String::from_utf8(field[..end].to_vec())
        .map_err(|_| HeaderError(format!("{what} is not UTF-8")))
}

/// Decodes a header strictly (see the module documentation). An all-zero block is not a
/// header: callers check for the end-of-archive marker first.
pub fn decode(h: &[u8; BLOCK]) -> Result<Header, HeaderError> {
    if &h[257..263] != b"ustar\0" || &h[263..265] != b"00" {
        return Err(HeaderError("not a POSIX ustar header (magic)".into()));
    }
    let stored = {
        let f = &h[148..156];
        if f[6] != 0 || f[7] != b' ' || !f[..6].iter().all(|b| (b'0'..=b'7').contains(b)) {
            return Err(HeaderError("checksum field malformed".into()));
        }
        f[..6]
            .iter()
            .fold(0u32, |a, &d| a * 8 + u32::from(d - b'0'))
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    if sum != stored {
        return Err(HeaderError("checksum mismatch".into()));
    }
    match h[156] {
        b'0' => {}
        b'x' => return Err(HeaderError("PAX extended header refused".into())),
        b'g' => return Err(HeaderError("PAX global header refused".into())),
        b'L' | b'K' => return Err(HeaderError("GNU long name/link header refused".into())),
        b'S' => return Err(HeaderError("sparse file refused".into())),
        b'1' => return Err(HeaderError("hard link refused".into())),
        b'2' => return Err(HeaderError("symbolic link refused".into())),
        b'3' | b'4' => return Err(HeaderError("device node refused".into())),
        b'5' => {
            return Err(HeaderError(
                "directory entry refused (bundles hold regular files only)".into(),
            ))
        }
        b'6' => return Err(HeaderError("FIFO refused".into())),
        t => {
            return Err(HeaderError(format!(
                "entry type {:?} refused",
                char::from(t)
            )))
        }
    }
    let mode = parse_octal(&h[100..108], "mode")?;
    if mode & 0o7000 != 0 {
        return Err(HeaderError(format!(
            "setuid/setgid/sticky mode {mode:o} refused"
        )));
    }
    if mode != 0o644 && mode != 0o755 {
        return Err(HeaderError(format!("mode {mode:o} is not 644 or 755")));
    }
    for (r, what) in [
        (108..116, "uid"),
        (116..124, "gid"),
        (136..148, "mtime"),
        (329..337, "devmajor"),
        (337..345, "devminor"),
    ] {
        if parse_octal(&h[r], what)? != 0 {
            return Err(HeaderError(format!("{what} must be 0")));
        }
    }
    if h[157..257].iter().any(|&b| b != 0) {
        return Err(HeaderError("link name must be empty".into()));
    }
    if h[265..329].iter().any(|&b| b != 0) {
        return Err(HeaderError("owner names must be empty".into()));
    }
    if h[500..].iter().any(|&b| b != 0) {
        return Err(HeaderError("padding must be zero".into()));
    }
    let size = parse_octal(&h[124..136], "size")?;
    let name = text(&h[..100], "name")?;
    let prefix = text(&h[345..500], "prefix")?;
    let full = if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    };
    let path =
        SafePath::new(&full).map_err(|e| HeaderError(format!("unsafe path {full:?}: {e}")))?;
    // One form only (FORMAT.md §15): every field above has a fixed width and value, so the
    // block is what `encode` writes for this path, size and mode exactly when the path is
    // split where `encode` splits it (a short path moved into `prefix`, or another `/`, is
    // refused), and two readers can never disagree on a header.
    let canonical = match split(full.as_bytes()) {
        None => prefix.is_empty(),
        Some(at) => at == Some(prefix.len()),
    };
    if !canonical {
        return Err(HeaderError(
            "not the canonical ustar form of its path, size and mode".into(),
        ));
    }
    Ok(Header {
        path,
        size,
        mode: mode as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> SafePath {
        SafePath::new(s).unwrap()
    }

    #[test]
    fn only_the_canonical_form_decodes() {
        let h = encode(&p("payload/a.txt"), 5, 0o644).unwrap();
        // The same path split into prefix "payload" and name "a.txt": a valid ustar header
        // for GNU tar, but not the one form a bundle has.
        let mut split = h;
        split[..100].fill(0);
        split[..5].copy_from_slice(b"a.txt");
        split[345..352].copy_from_slice(b"payload");
        split[148..156].copy_from_slice(b"        ");
        let sum: u32 = split.iter().map(|&b| u32::from(b)).sum();
        split[148..154].copy_from_slice(format!("{sum:06o}").as_bytes());
        split[154] = 0;
        split[155] = b' ';
        let e = decode(&split).unwrap_err();
        assert!(e.0.contains("canonical ustar form"), "{e:?}");
        assert!(decode(&h).is_ok());
    }

    #[test]
    fn round_trip_short_and_long_paths() {
        for path in [
            "a.txt",
            &format!("payload/{}/{}", "d".repeat(120), "f".repeat(90)),
        ] {
            let h = encode(&p(path), 12345, 0o755).unwrap();
            assert_eq!(
                decode(&h).unwrap(),
                Header {
                    path: p(path),
                    size: 12345,
                    mode: 0o755
                }
            );
        }
        assert!(
            encode(&p(&"x".repeat(101)), 1, 0o644).is_err(),
            "no slash to split at"
        );
        assert!(encode(&p("a"), 1, 0o600).is_err());
        assert!(encode(&p("a"), MAX_SIZE + 1, 0o644).is_err());
    }

    fn with(mut h: [u8; BLOCK], at: usize, bytes: &[u8]) -> [u8; BLOCK] {
        h[at..at + bytes.len()].copy_from_slice(bytes);
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..154].copy_from_slice(format!("{sum:06o}").as_bytes());
        h[154] = 0;
        h[155] = b' ';
        h
    }

    #[test]
    fn refuses_every_other_form() {
        let good = encode(&p("payload/a"), 10, 0o644).unwrap();
        let cases: Vec<([u8; BLOCK], &str)> = vec![
            (with(good, 156, b"x"), "PAX extended"),
            (with(good, 156, b"g"), "PAX global"),
            (with(good, 156, b"L"), "GNU long"),
            (with(good, 156, b"S"), "sparse"),
            (with(good, 156, b"1"), "hard link"),
            (with(good, 156, b"2"), "symbolic link"),
            (with(good, 156, b"3"), "device"),
            (with(good, 156, b"5"), "directory"),
            (with(good, 156, b"6"), "FIFO"),
            (with(good, 100, b"0004755"), "setuid"),
            (with(good, 100, b"0000777"), "not 644 or 755"),
            (with(good, 108, b"0001750"), "uid must be 0"),
            (with(good, 136, b"00000000001"), "mtime must be 0"),
            (with(good, 157, b"target"), "link name"),
            (with(good, 265, b"root"), "owner names"),
            (with(good, 0, b"../etc/passwd\0"), "unsafe path"),
            (with(good, 0, b"/etc/passwd\0"), "unsafe path"),
            (with(good, 0, b"a\\b\0\0\0\0\0\0"), "unsafe path"),
            (with(good, 0, b"a\0b"), "after its NUL"),
            (with(good, 124, b"0000000001 \0"), "octal"),
            (with(good, 257, b"ustar "), "magic"),
        ];
        for (h, needle) in cases {
            let e = decode(&h).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let mut bad = good;
        bad[0] ^= 1;
        assert!(decode(&bad).unwrap_err().to_string().contains("checksum"));
    }
}
