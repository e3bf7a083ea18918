//! Scenario tests live in `tests/`: they drive the workspace's real binaries (`factory`,
//! `packager`, `runtime-verify`) the way a vendor and an air-gapped customer do, with keys
//! generated for each test. This library is empty on purpose.

#![forbid(unsafe_code)]
