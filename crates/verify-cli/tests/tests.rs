//! runtime-verify integration tests (one binary).

mod interop;
