//! # canon — Airlock's format core
//!
//! Everything Airlock signs or parses byte-exactly lives here, and nothing else does:
//! - [`json`]: strict JSON parsing and RFC 8785 (JCS) canonical serialization;
//! - [`number`]: ES6 number formatting used by the canonical form;
//! - [`sig`]: key ids, key roles, artifact kinds with their payload types, DSSE pre-authentication
//!   encoding (PAE) and the detached signature envelope;
//! - [`minisign`]: the minisign public-key and signature file formats (no cryptography);
//! - [`checksums`]: the strict `CHECKSUMS.txt` (GNU coreutils) reader and writer;
//! - [`path`]: [`path::SafePath`], an archive path that cannot be absolute or escape;
//! - [`ustar`]: the strict ustar header form of bundle archives;
//! - [`time`]: RFC 3339 UTC timestamps as used in every artifact;
//! - [`enc`]: strict hexadecimal and base64 helpers.
//!
//! Architecture invariant: this crate does no I/O and holds no cryptography besides SHA-256
//! (for key ids and hashes). It is the part every other crate trusts; keep it small.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod checksums;
pub mod enc;
pub mod json;
pub mod minisign;
pub mod number;
pub mod path;
pub mod sig;
pub mod time;
pub mod ustar;

pub use json::{canonicalize, parse, Members, ParseError, Value};
pub use sig::{pae, Envelope, KeyId, Kind, Role};
pub use time::{Timestamp, Window, Within, CLOCK_SKEW_SECS};
