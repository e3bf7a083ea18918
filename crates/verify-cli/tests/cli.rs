//! The runtime-verify binary: exit codes, JSON, state directory, and no network.
use crate::kit::*;
