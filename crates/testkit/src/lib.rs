//! # testkit — the one test kit (dev-dependency only; never in a shipped binary)
//!
//! - [`bundle`]: seeded keys and trust files, a license and a product manifest, and bundles
//!   built member by member from a [`Spec`] so that tests can make every hostile archive;
//!   [`cases`] is the table of named hostile bundles that several suites replay.
//! - [`vectors`]: the language-neutral vectors of `vectors/` (one directory per case, with a
//!   `case.txt` header), generated from the same keys and tables.
//! - [`run`]: the workspace's real binaries, found beside the test executable, with output
//!   assertions and the "tool installed?" check that CI turns into a failure.

#![forbid(unsafe_code)]
#![allow(missing_docs)]

pub mod bundle;
pub mod cases;
pub mod pg;
pub mod run;
pub mod vectors;

pub use bundle::*;
pub use run::*;
