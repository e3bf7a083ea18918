//! runtime-verify integration tests (one binary): interop with stock minisign, the
//! adversarial bundle suite (one case per THREATS.md row), the CLI and the no-network proof.

mod adversarial;
mod cli;
mod interop;
mod kit;
