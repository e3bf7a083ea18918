//! One outcome type and its exit codes (docs/CLI.md, "Exit codes").
//!
//! A rejection is a value, not a failure of the tool (as `grep` treats "no match"): the input
//! was read and judged, and one named check refused it. An error says nothing about the input
//! (a path, a permission, an option, a missing anchor).

use runtime::Check;
use std::process::ExitCode;

/// Exit code: the input is valid (or the command did what it was asked).
pub const EXIT_OK: u8 = 0;
/// Exit code: the input was judged and refused by a named check.
pub const EXIT_REJECTED: u8 = 1;
/// Exit code: usage or I/O error; nothing was judged.
pub const EXIT_ERROR: u8 = 2;

/// What became of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Valid, or done.
    Valid,
    /// Refused by this check.
    Rejected(Check),
    /// A local problem; the check when the runtime named one (`io_error`, ...).
    Error(Option<Check>),
}

impl Outcome {
    /// The outcome an error stands for: the runtime's check in its chain decides.
    pub fn of(e: &anyhow::Error) -> Outcome {
        match runtime::check_of(e.as_ref()) {
            Some(c) if c.is_rejection() => Outcome::Rejected(c),
            c => Outcome::Error(c),
        }
    }

    /// The documented exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Valid => EXIT_OK,
            Outcome::Rejected(_) => EXIT_REJECTED,
            Outcome::Error(_) => EXIT_ERROR,
        }
    }

    /// The code printed as `check`: the check's code, `error` for a plain error, `None` when
    /// valid.
    pub fn code(self) -> Option<&'static str> {
        match self {
            Outcome::Valid => None,
            Outcome::Rejected(c) | Outcome::Error(Some(c)) => Some(c.as_str()),
            Outcome::Error(None) => Some("error"),
        }
    }
}

/// The exit code for an error (1 rejected, 2 error).
pub fn exit_code(e: &anyhow::Error) -> u8 {
    Outcome::of(e).exit_code()
}

/// Runs a binary's command and turns an error that reached the top into its line on stderr
/// (`TOOL: REJECTED [check]: …` for a rejection, `TOOL: error: …` otherwise) and its exit
/// code. Every binary's `main` is this call.
pub fn main(tool: &str, run: impl FnOnce() -> anyhow::Result<ExitCode>) -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            let outcome = Outcome::of(&e);
            match outcome {
                Outcome::Rejected(c) => eprintln!("{tool}: REJECTED [{c}]: {e:#}"),
                _ => eprintln!("{tool}: error: {e:#}"),
            }
            ExitCode::from(outcome.exit_code())
        }
    }
}

/// What the customer should do about a refused check: one sentence per family of checks, so
/// that a rollback, a revocation, an expiry and a damaged download each get their own advice
/// (not one catch-all "ask the vendor").
pub fn advice(check: Check) -> &'static str {
    use Check::*;
    match check {
        Rollback => "this is older than what this machine already accepted: install the newer delivery you have, or ask the vendor for the current one",
        Conflict => "another delivery with the same version or sequence was accepted before: ask the vendor which one is genuine",
        LicenseRevoked => "the vendor revoked this license: contact the vendor; a new bundle for it will not help",
        LicenseExpired => "the license has expired: ask the vendor to renew it, then install the renewal",
        LicenseNotYetValid => "the license starts later: install on or after its start date, or check this machine's clock",
        ManifestOutsideLicenseWindow => "the bundle was made outside the license's validity: ask the vendor for a bundle built for the current license",
        TamperSuspected => "this machine's clock is earlier than a time it has already seen or than a signed time: correct the clock (nothing was changed)",
        StateIo | StateCorrupt | StateMissing | StateRolledBack | StateUnsafe => {
            "the state directory is damaged, replaced or unsafe: restore it from backup (docs/OPERATIONS.md), do not delete it"
        }
        TrustOutdated => "a newer trust file was accepted on this machine before: replace the file you gave with the vendor's current trust file (keep its name, so every job that uses it follows)",
        KeyUnknown | KeyWrongRole | KeyRevoked | KeyOutsideValidity | TrustInvalid => {
            "it is not signed by a key this trust file accepts: get the vendor's current trust file through your trusted channel"
        }
        WrongProduct | EditionNotLicensed | WrongEdition | FeatureNotLicensed
        | AirgapNotLicensed | LicenseMismatch | CustomerMismatch => {
            "the delivery does not fit this license or this installation: ask the vendor for a bundle made for your license and edition"
        }
        RuntimeTooOld => "the release needs a newer Airlock runtime: update the runtime first",
        AuditInvalid => "the registry was changed outside factory: stop issuing, restore the last good backup and find out who changed it (docs/OPERATIONS.md)",
        LeaseExpired => "this machine's lease ended (licensed growth is stopped, data is kept): make a new request (`airlock-agent request --license LICENSE_DIR --state STATE_DIR --out request.json`) and send it to the vendor",
        ActivationMissing => "this license must be activated on this machine: `airlock-agent request --license LICENSE_DIR --state STATE_DIR --out request.json`, send the file to the vendor, then `airlock-agent install ACTIVATION_DIR --trust trust.json --state STATE_DIR`",
        ActivationOtherMachine | ActivationMismatch => "this activation was made for another machine or license: make a request on this machine for the license installed here (`airlock-agent request --license LICENSE_DIR --state STATE_DIR --out request.json`)",
        ActivationRevoked => "the vendor released this seat (or it was deactivated here): make a new request (`airlock-agent request --license LICENSE_DIR --state STATE_DIR --out request.json`)",
        ActivationNotYetValid => "the lease starts later: check this machine's clock, or install it on or after its start",
        FingerprintUnavailable => "this machine has no stable id: set AIRLOCK_INSTANCE_ID (containers), or run `airlock-agent id --state DIR` once",
        InputTooLarge | JsonInvalid | SignatureEnvelopeInvalid | MinisignInvalid
        | SignatureWrongKind | SignatureInvalid | SchemaInvalid | BundleSignatureInvalid
        | GzipInvalid | ArchiveInvalid | MemberMismatch | ChecksumsMismatch | ManifestInvalid
        | ProductManifestMismatch | LicenseInvalid => {
            "the files were altered or damaged: get a fresh copy from the vendor and check it against CHECKSUMS.txt first"
        }
        _ => "do not use it: the failing check above names what is wrong",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_exit_1_and_local_problems_exit_2() {
        let rejected = anyhow::Error::new(runtime::VerifyError::UnknownKey(canon::KeyId([7; 8])))
            .context("bundle.tar.gz");
        assert_eq!(Outcome::of(&rejected), Outcome::Rejected(Check::KeyUnknown));
        assert_eq!(exit_code(&rejected), 1);
        let io = anyhow::Error::new(std::io::Error::other("disk")).context("bundle.tar.gz");
        assert_eq!(Outcome::of(&io), Outcome::Error(None));
        assert_eq!(exit_code(&io), 2);
        assert_eq!(Outcome::of(&io).code(), Some("error"));
        let staging = anyhow::Error::new(runtime::bundle::BundleError::Io("disk full".into()));
        assert_eq!(Outcome::of(&staging), Outcome::Error(Some(Check::IoError)));
        assert_eq!(exit_code(&staging), 2);
        let json = anyhow::Error::new(canon::parse(b"{").unwrap_err());
        assert_eq!(Outcome::of(&json), Outcome::Rejected(Check::JsonInvalid));
        assert_eq!(Outcome::Valid.exit_code(), 0);
        assert_eq!(Outcome::Valid.code(), None);
    }
}
