//! `CHECKSUMS.txt` in GNU coreutils format, read strictly.
//!
//! Each line is `<64 lowercase hex>  <name>\n` (two spaces: text mode). Lines are sorted by
//! name (byte order), names are unique [`SafePath`]s. `sha256sum -c` accepts far more (`../`,
//! absolute names, duplicates, uppercase hex, tabs); this reader accepts exactly what
//! [`write`] produces and nothing else.

use crate::enc;
use crate::path::SafePath;
use std::fmt;

/// Largest file accepted, in bytes (about 60,000 entries).
pub const MAX_CHECKSUMS_BYTES: usize = 8 << 20;

/// One line: a file name and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The relative file name.
    pub name: SafePath,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

/// Why a CHECKSUMS file was refused, with the 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumsError {
    /// 1-based line number (0 for whole-file problems).
    pub line: usize,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for ChecksumsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "CHECKSUMS.txt: {}", self.what)
        } else {
            write!(f, "CHECKSUMS.txt line {}: {}", self.line, self.what)
        }
    }
}

impl std::error::Error for ChecksumsError {}

/// Parses a CHECKSUMS file strictly.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, ChecksumsError> {
    let whole = |what: &str| ChecksumsError {
        line: 0,
        what: what.to_string(),
    };
    if bytes.len() > MAX_CHECKSUMS_BYTES {
        return Err(whole("file too large"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| whole("not UTF-8"))?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let body = text
        .strip_suffix('\n')
        .ok_or_else(|| whole("last line does not end with a newline"))?;
    let mut out: Vec<Entry> = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        let err = |what: String| ChecksumsError { line: i + 1, what };
        if line.len() < 67 || !line.is_char_boundary(64) {
            return Err(err("expected \"<64 lowercase hex>  <name>\"".into()));
        }
        let (hash, rest) = line.split_at(64);
        let sha256 = enc::unhex::<32>(hash)
            .ok_or_else(|| err("hash is not 64 lowercase hex characters".into()))?;
        let name = rest
            .strip_prefix("  ")
            .ok_or_else(|| err("hash and name must be separated by exactly two spaces".into()))?;
        let name = SafePath::new(name).map_err(|e| err(format!("unsafe name {name:?}: {e}")))?;
        if let Some(prev) = out.last() {
            if prev.name.as_str() >= name.as_str() {
                return Err(err(if prev.name == name {
                    format!("duplicate name {name}")
                } else {
                    format!("names not sorted: {name} after {}", prev.name)
                }));
            }
        }
        out.push(Entry { name, sha256 });
    }
    Ok(out)
}

/// Writes entries in the canonical form (sorted by name, byte order). Duplicate names are
/// the caller's bug; they are written as given so that `parse` will refuse them.
pub fn write(entries: &[Entry]) -> String {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    let mut s = String::with_capacity(entries.len() * 100);
    for e in sorted {
        s.push_str(&enc::hex(&e.sha256));
        s.push_str("  ");
        s.push_str(e.name.as_str());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn line_err(text: &str) -> ChecksumsError {
        parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn round_trip() {
        let entries = vec![
            Entry {
                name: SafePath::new("b").unwrap(),
                sha256: [1; 32],
            },
            Entry {
                name: SafePath::new("a/c").unwrap(),
                sha256: [2; 32],
            },
        ];
        let text = write(&entries);
        assert!(text.starts_with(&format!("{}  a/c\n", enc::hex(&[2; 32]))));
        let back = parse(text.as_bytes()).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].name.as_str(), "a/c");
    }

    #[test]
    fn refuses_what_sha256sum_would_accept() {
        let up = H.to_uppercase();
        for (text, line, needle) in [
            (format!("{H}  ../etc/passwd\n"), 1, "unsafe name"),
            (format!("{H}  /etc/passwd\n"), 1, "unsafe name"),
            (format!("{H}  a\n{H}  a\n"), 2, "duplicate"),
            (format!("{H}  b\n{H}  a\n"), 2, "not sorted"),
            (format!("{up}  a\n"), 1, "lowercase"),
            (format!("{H}\tab\n"), 1, "two spaces"),
            (format!("{H} *a\n"), 1, "two spaces"),
            (format!("{H}   a\n"), 1, "unsafe name"),
            (format!("{H}  a\r\n"), 1, "unsafe name"),
            (format!("{H}  a\n\n"), 2, "expected"),
            (format!("\\{H}  a\\\\b\n"), 1, "lowercase"),
        ] {
            let e = line_err(&text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.to_string().contains(needle), "{text:?}: {e}");
        }
        assert_eq!(line_err(&format!("{H}  a")).line, 0);
        assert!(parse(b"").unwrap().is_empty());
    }
}
