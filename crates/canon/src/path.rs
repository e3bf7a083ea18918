//! [`SafePath`]: a relative archive path that is safe by construction.
//!
//! Rationale: every place that names a file inside a bundle (tar members, manifests,
//! `CHECKSUMS.txt`) goes through this type, so a path that could escape a staging directory
//! cannot even be represented.

use std::fmt;

/// Longest path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest single component accepted, in bytes (the common file-system limit).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// A non-empty relative path of `/`-separated components, none of which is empty, `.` or `..`,
/// which contains no backslash, NUL or other control character, and whose components neither
/// start nor end with white space.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SafePath(String);

/// Why a path is unsafe.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// Empty path.
    Empty,
    /// Starts with `/`.
    Absolute,
    /// Has an empty component (`a//b`, trailing `/`).
    EmptyComponent,
    /// Has a `.` or `..` component.
    DotComponent,
    /// Contains a backslash.
    Backslash,
    /// Contains NUL or another control character.
    ControlCharacter,
    /// A component starts or ends with white space (ambiguous in listings such as CHECKSUMS).
    EdgeWhitespace,
    /// Longer than [`MAX_PATH_BYTES`] or a component longer than [`MAX_COMPONENT_BYTES`].
    TooLong,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::Empty => "empty path",
            PathError::Absolute => "absolute path",
            PathError::EmptyComponent => "empty path component",
            PathError::DotComponent => "'.' or '..' path component",
            PathError::Backslash => "backslash in path",
            PathError::ControlCharacter => "NUL or control character in path",
            PathError::EdgeWhitespace => "path component starts or ends with white space",
            PathError::TooLong => "path too long",
        })
    }
}

impl std::error::Error for PathError {}

impl SafePath {
    /// Checks `s` and wraps it.
    pub fn new(s: &str) -> Result<SafePath, PathError> {
        if s.is_empty() {
            return Err(PathError::Empty);
        }
        if s.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        if s.starts_with('/') {
            return Err(PathError::Absolute);
        }
        if s.contains('\\') {
            return Err(PathError::Backslash);
        }
        if s.chars().any(|c| c.is_control()) {
            return Err(PathError::ControlCharacter);
        }
        for c in s.split('/') {
            match c {
                "" => return Err(PathError::EmptyComponent),
                "." | ".." => return Err(PathError::DotComponent),
                c if c.len() > MAX_COMPONENT_BYTES => return Err(PathError::TooLong),
                c if c.starts_with(char::is_whitespace) || c.ends_with(char::is_whitespace) => {
                    return Err(PathError::EdgeWhitespace)
                }
                _ => {}
            }
        }
        Ok(SafePath(s.to_string()))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path's parent directories, outermost first (`a/b/c` → `a`, `a/b`).
    pub fn parents(&self) -> impl Iterator<Item = &str> {
        self.0.match_indices('/').map(|(i, _)| &self.0[..i])
    }
}

impl fmt::Display for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_every_unsafe_form() {
        let cases = [
            ("", PathError::Empty),
            ("/etc/passwd", PathError::Absolute),
            ("a//b", PathError::EmptyComponent),
            ("a/", PathError::EmptyComponent),
            ("../x", PathError::DotComponent),
            ("a/../../x", PathError::DotComponent),
            ("./a", PathError::DotComponent),
            ("a\\..\\b", PathError::Backslash),
            ("a\0b", PathError::ControlCharacter),
            ("a\nb", PathError::ControlCharacter),
            (" a", PathError::EdgeWhitespace),
            ("a/b ", PathError::EdgeWhitespace),
        ];
        for (p, e) in cases {
            assert_eq!(SafePath::new(p), Err(e), "{p:?}");
        }
        assert_eq!(SafePath::new(&"a".repeat(256)), Err(PathError::TooLong));
        assert_eq!(SafePath::new(&"a/".repeat(600)), Err(PathError::TooLong));
        let ok = SafePath::new("payload/images/app.tar").unwrap();
        assert_eq!(
            ok.parents().collect::<Vec<_>>(),
            ["payload", "payload/images"]
        );
        assert!(SafePath::new("..a/b..").is_ok());
    }
}
