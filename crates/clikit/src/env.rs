//! Environment variables: one prefix, `AIRLOCK_`. The names used before it are read as
//! documented aliases (docs/CLI.md, "Environment"), the new name winning when both are set.

use std::ffi::OsString;
use std::path::PathBuf;

/// Every variable and its old aliases, for the documentation and the tests.
pub const VARS: &[(&str, &[&str])] = &[
    ("AIRLOCK_HOME", &[]),
    ("AIRLOCK_DB", &["FACTORY_DB"]),
    ("AIRLOCK_CATALOG", &["FACTORY_CATALOG"]),
    ("AIRLOCK_TRUST", &["FACTORY_TRUST"]),
    ("AIRLOCK_PACKAGER_STATE", &["PACKAGER_STATE"]),
    ("AIRLOCK_ROOT", &[]),
    ("AIRLOCK_NOW", &[]),
    ("AIRLOCK_PKCS11_MODULE", &[]),
    ("AIRLOCK_PKCS11_PIN", &[]),
];

/// The value of `name`, else of its first alias that is set (an empty value counts as unset).
pub fn var_os(name: &str) -> Option<OsString> {
    let aliases = VARS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(&[][..], |(_, a)| *a);
    std::iter::once(name)
        .chain(aliases.iter().copied())
        .find_map(|n| std::env::var_os(n).filter(|v| !v.is_empty()))
}

/// A path from the environment (see [`var_os`]).
pub fn path(name: &str) -> Option<PathBuf> {
    var_os(name).map(PathBuf::from)
}
