//! The one capped read of a file the runtime is given (licenses, leases, state): at most
//! `cap` bytes are read, a larger file is refused without reading further, and a missing file
//! is `None` (the caller decides whether that is an error).

use std::io::Read;
use std::path::Path;

/// Why a capped read failed.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// The file is larger than the cap.
    TooLarge {
        /// The cap, in bytes.
        cap: u64,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::TooLarge { cap } => write!(f, "larger than {cap} bytes"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            ReadError::TooLarge { .. } => None,
        }
    }
}

/// Reads at most `cap` bytes of `path`; `Ok(None)` when it does not exist.
pub fn read_capped(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, ReadError> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    };
    let mut b = Vec::new();
    f.take(cap.saturating_add(1))
        .read_to_end(&mut b)
        .map_err(ReadError::Io)?;
    if b.len() as u64 > cap {
        return Err(ReadError::TooLarge { cap });
    }
    Ok(Some(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_capped_and_a_missing_file_is_none() {
        let d = std::env::temp_dir().join(format!("airlock-io-{}", std::process::id()));
        std::fs::write(&d, b"12345").unwrap();
        assert_eq!(read_capped(&d, 5).unwrap().unwrap(), b"12345");
        assert!(matches!(
            read_capped(&d, 4),
            Err(ReadError::TooLarge { cap: 4 })
        ));
        std::fs::remove_file(&d).unwrap();
        assert!(read_capped(&d, 4).unwrap().is_none());
    }
}
