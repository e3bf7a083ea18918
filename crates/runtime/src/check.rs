//! Every check the runtime can fail, each with its stable code (docs/CLI.md, "Check codes").
//!
//! The error types ([`crate::VerifyError`], [`crate::bundle::BundleError`],
//! [`crate::state::StateError`], [`crate::session::SessionError`]) each map onto one variant
//! through `code()`; `crate::failure::check_of` (at the top of the crate: it knows every error
//! type, this floor knows none) finds the check of any error in a chain, so that a binary needs
//! no list of error types of its own. A code never changes once released: scripts match on it.

use std::fmt;

macro_rules! checks {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $rejects:literal;)*) => {
        /// One failing check. `as_str()` is the stable code printed by every binary.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Check {
            $($(#[$doc])* $variant,)*
        }

        impl Check {
            /// Every check, in documentation order.
            pub const ALL: &'static [Check] = &[$(Check::$variant,)*];

            /// The stable code.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Check::$variant => $code,)*
                }
            }

            /// `true` when the input was judged and refused (exit 1); `false` for a local
            /// problem that says nothing about the input: I/O, a missing anchor (exit 2).
            pub const fn is_rejection(self) -> bool {
                match self {
                    $(Check::$variant => $rejects,)*
                }
            }
        }
    };
}

checks! {
    /// An input is larger than its cap.
    InputTooLarge = "input_too_large", true;
    /// Not strict JSON (duplicate keys, bad escapes, numbers out of range, ...).
    JsonInvalid = "json_invalid", true;
    /// The detached signature envelope is malformed.
    SignatureEnvelopeInvalid = "signature_envelope_invalid", true;
    /// The minisign signature file is malformed.
    MinisignInvalid = "minisign_invalid", true;
    /// A signature made for another artifact kind.
    SignatureWrongKind = "signature_wrong_kind", true;
    /// The signing key is not in the trust file.
    KeyUnknown = "key_unknown", true;
    /// The signing key does not hold the role this artifact needs.
    KeyWrongRole = "key_wrong_role", true;
    /// The signing key is revoked (or retired where only active keys sign).
    KeyRevoked = "key_revoked", true;
    /// The artifact's signing time is outside the key's window.
    KeyOutsideValidity = "key_outside_validity", true;
    /// The signature does not verify.
    SignatureInvalid = "signature_invalid", true;
    /// The document does not follow its schema.
    SchemaInvalid = "schema_invalid", true;
    /// The trust file is not acceptable (anchor, chain, version).
    TrustInvalid = "trust_invalid", true;
    /// No pinned root and no vendor root: a first trust file cannot be anchored.
    TrustAnchorMissing = "trust_anchor_missing", false;
    /// The trust file given is older than the one this machine accepted, and the state keeps
    /// no copy of that one: give the current file (nothing was judged or changed).
    TrustOutdated = "trust_outdated", false;
    /// The bundle's outer minisign signature.
    BundleSignatureInvalid = "bundle_signature_invalid", true;
    /// The gzip framing.
    GzipInvalid = "gzip_invalid", true;
    /// The tar stream.
    ArchiveInvalid = "archive_invalid", true;
    /// A member does not match the signed bundle manifest.
    MemberMismatch = "member_mismatch", true;
    /// CHECKSUMS.txt does not match the signed bundle manifest.
    ChecksumsMismatch = "checksums_mismatch", true;
    /// The bundle or product manifest does not verify.
    ManifestInvalid = "manifest_invalid", true;
    /// The license does not verify.
    LicenseInvalid = "license_invalid", true;
    /// The bundle manifest names another license than the one bundled.
    LicenseMismatch = "license_mismatch", true;
    /// The bundle manifest names another customer than the license.
    CustomerMismatch = "customer_mismatch", true;
    /// The bundle manifest names another product manifest than the one bundled.
    ProductManifestMismatch = "product_manifest_mismatch", true;
    /// The release is for another product than the license.
    WrongProduct = "wrong_product", true;
    /// The license does not allow the release's edition.
    EditionNotLicensed = "edition_not_licensed", true;
    /// The release is for another edition than this runtime.
    WrongEdition = "wrong_edition", true;
    /// The release needs features the license does not grant.
    FeatureNotLicensed = "feature_not_licensed", true;
    /// An air-gap bundle for a license without `airgap_bundle`.
    AirgapNotLicensed = "airgap_not_licensed", true;
    /// The release needs a newer runtime.
    RuntimeTooOld = "runtime_too_old", true;
    /// The bundle was made outside the license's validity window.
    ManifestOutsideLicenseWindow = "manifest_outside_license_window", true;
    /// The license is not valid yet at the time judged.
    LicenseNotYetValid = "license_not_yet_valid", true;
    /// The license is expired (past its grace) at the time judged.
    LicenseExpired = "license_expired", true;
    /// The license is in a revocation list this runtime accepted.
    LicenseRevoked = "license_revoked", true;
    /// The license is suspended by a revocation list this runtime accepted (the vendor resumes
    /// it with a later list).
    LicenseSuspended = "license_suspended", true;
    /// Reading the input or writing the staging directory failed.
    IoError = "io_error", false;
    /// The state directory could not be read or written.
    StateIo = "state_io", true;
    /// The state file is not a valid state.
    StateCorrupt = "state_corrupt", true;
    /// A used state directory lost its state file.
    StateMissing = "state_missing", true;
    /// An older copy of the state file was put back.
    StateRolledBack = "state_rolled_back", true;
    /// The state directory is not owned by this user, writable by others, or a link.
    StateUnsafe = "state_unsafe", true;
    /// The clock is behind a time this runtime already saw or a signed time.
    TamperSuspected = "tamper_suspected", true;
    /// An older trust file, revocation list or bundle than one already accepted.
    Rollback = "rollback", true;
    /// The same version or sequence as one already accepted, with other content.
    Conflict = "conflict", true;
    /// The activation names another product or license lineage.
    ActivationMismatch = "activation_mismatch", true;
    /// The activation is bound to another machine.
    ActivationOtherMachine = "activation_other_machine", true;
    /// The activation's lease has not started.
    ActivationNotYetValid = "activation_not_yet_valid", true;
    /// The activation's lease ended: new activations and growth stop, data is kept.
    LeaseExpired = "lease_expired", true;
    /// The activation was revoked, reset or deactivated.
    ActivationRevoked = "activation_revoked", true;
    /// The license requires activation and none is installed.
    ActivationMissing = "activation_missing", true;
    /// The bundle's payload is sealed and this machine's lease carries no key for this build
    /// (none installed for its product, or one that does not name the build).
    BuildNotGranted = "build_not_granted", true;
    /// The key a lease carries for this build does not open (wrapped to another machine's
    /// encryption key, or not the key the bundle manifest's `key_check` names).
    BuildKeyInvalid = "build_key_invalid", true;
    /// An extraction of a sealed payload was asked for without saying how: with a key, or kept
    /// sealed for on-demand opening.
    PayloadSealed = "payload_sealed", true;
    /// The pool lease a node lease rests on was revoked, released or reset (a list this runtime
    /// accepted names it).
    PoolRevoked = "pool_revoked", true;
    /// The pool lease a node lease rests on has ended.
    PoolExpired = "pool_expired", true;
    /// The node lease is signed by another key than the one its pool lease names (another
    /// seat server, or a forgery).
    NodeLeaseForged = "node_lease_forged", true;
    /// The node lease names another pool, product or lineage, or its pool lease is no pool.
    NodeLeaseMismatch = "node_lease_mismatch", true;
    /// The node lease is for another node (fingerprint or instance key).
    NodeOtherMachine = "node_other_machine", true;
    /// The node lease is longer than its pool allows (a lease, or a borrow).
    NodeLeaseTooLong = "node_lease_too_long", true;
    /// The node lease ends after its pool lease.
    NodeLeasePastPool = "node_lease_past_pool", true;
    /// The node lease has ended (renew it with the seat server).
    NodeLeaseExpired = "node_lease_expired", true;
    /// This machine has no stable id to make its fingerprint from.
    FingerprintUnavailable = "fingerprint_unavailable", false;
    /// The vendor's registry does not match its audit log, token uses or signed anchors: it was
    /// edited outside factory.
    AuditInvalid = "audit_invalid", true;
}

/// An error that names its check itself: the floor every crate can use to fail with a check
/// without an error type of its own (e.g. the factory's audit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The check.
    pub check: Check,
    /// What failed, for people.
    pub message: String,
}

impl Failed {
    /// A failure of `check`.
    pub fn new(check: Check, message: impl Into<String>) -> Failed {
        Failed {
            check,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Check {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Check {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in Check::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(c
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }
}
