//! The refusal table of activation: every code the vendor side (the factory, the activation
//! service) answers a machine or an operator with, in one typed table with its HTTP status, its
//! exit code and its advice. The factory refuses with a [`Code`], the service answers with
//! [`Code::http_status`], the agent parses what it receives back into a [`Code`]
//! ([`Code::parse`]) and acts on the variant: nobody matches strings, and nothing falls back to
//! a default status.
//!
//! The wire form ([`Code::as_str`]) is a contract (docs/HTTP.md, docs/CLI.md): a code never
//! changes once released.

use std::fmt;

/// Exit code of a refusal: the input was judged and refused (docs/CLI.md).
pub const EXIT_REJECTED: u8 = 1;
/// Exit code when the service could not be reached or could not answer now (rate limited,
/// unavailable, timed out): try again later.
pub const EXIT_UNREACHABLE: u8 = 4;

macro_rules! codes {
    ($( $(#[$doc:meta])* $v:ident = $s:literal, $http:literal, $exit:ident, $advice:literal; )*) => {
        /// One refusal code (docs/HTTP.md "Error codes").
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[$doc])* $v, )*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$v),*];

            /// The wire form (`DEVICE_LIMIT_EXCEEDED`).
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$v => $s,)* }
            }

            /// The HTTP status the service answers it with.
            pub fn http_status(self) -> u16 {
                match self { $(Code::$v => $http,)* }
            }

            /// The exit code of a command refused with it.
            pub fn exit_code(self) -> u8 {
                match self { $(Code::$v => $exit,)* }
            }

            /// What the one refused should do, in one sentence.
            pub fn advice(self) -> &'static str {
                match self { $(Code::$v => $advice,)* }
            }
        }
    };
}

codes! {
    /// The request's signature or schema failed (forged or damaged).
    RequestInvalid = "REQUEST_INVALID", 400, EXIT_REJECTED,
        "make a new request (`airlock-agent request --license LICENSE_DIR --state STATE_DIR --out request.json`) and send the file unchanged";
    /// The request was made too far in the future (the clock skew allowed is
    /// `canon::time::CLOCK_SKEW_SECS`).
    RequestFromFuture = "REQUEST_FROM_FUTURE", 400, EXIT_REJECTED,
        "correct the machine's clock, then make a new request";
    /// The request is older than its transport allows.
    RequestStale = "REQUEST_STALE", 400, EXIT_REJECTED,
        "make a new request (`airlock-agent request --license LICENSE_DIR --state STATE_DIR --out request.json`): requests age out";
    /// The request's activation was released since: a replayed request.
    RequestReplayed = "REQUEST_REPLAYED", 409, EXIT_REJECTED,
        "make a new request: a released seat never comes back through its old request";
    /// No such license (or a license key that is not its own: one answer for both).
    LicenseNotFound = "LICENSE_NOT_FOUND", 404, EXIT_REJECTED,
        "check the license files on the machine; ask the vendor for the current license";
    /// The request's product, lineage or workspace is not the license's.
    LicenseMismatch = "LICENSE_MISMATCH", 403, EXIT_REJECTED,
        "the request was made for another license: make it again from this license's files";
    /// The license is revoked.
    LicenseRevoked = "LICENSE_REVOKED", 403, EXIT_REJECTED,
        "the license was revoked: contact the vendor";
    /// The license was renewed (answered by services before requests followed the lineage's
    /// license in force; kept so that such an answer still parses).
    LicenseRenewed = "LICENSE_RENEWED", 403, EXIT_REJECTED,
        "install the renewal's license files and request again (its seats carry over)";
    /// The license is past its expiry and grace.
    LicenseExpired = "LICENSE_EXPIRED", 403, EXIT_REJECTED,
        "the license has expired: ask the vendor for its renewal";
    /// The license is in its grace period: existing seats get fresh leases, new ones are refused.
    LicenseInGrace = "LICENSE_IN_GRACE", 403, EXIT_REJECTED,
        "new machines can activate once the license is renewed: ask the vendor for the renewal";
    /// Every seat (and the overage) is taken.
    DeviceLimitExceeded = "DEVICE_LIMIT_EXCEEDED", 409, EXIT_REJECTED,
        "deactivate a machine that no longer needs its seat (`airlock-agent deactivate --state STATE_DIR --out receipt.json` there, then send the receipt), or ask the vendor for more seats";
    /// The fingerprint's live seat belongs to another instance key (another machine reporting
    /// the same id, or this machine after its key was lost).
    SeatTaken = "SEAT_TAKEN", 409, EXIT_REJECTED,
        "another machine holds this fingerprint's seat: deactivate it there, or ask the vendor to release it (a machine reinstalled without its state directory needs that too)";
    /// No such activation.
    ActivationNotFound = "ACTIVATION_NOT_FOUND", 404, EXIT_REJECTED,
        "check the activation id (`airlock-agent status --state STATE_DIR`)";
    /// The activation was released already (by other means).
    AlreadyReleased = "ALREADY_RELEASED", 409, EXIT_REJECTED,
        "nothing to do: the seat is free";
    /// The receipt's signature or schema failed.
    ReceiptInvalid = "RECEIPT_INVALID", 400, EXIT_REJECTED,
        "send the receipt `airlock-agent deactivate --state STATE_DIR --out receipt.json` wrote, unchanged";
    /// The receipt is not from the machine holding the seat (key, fingerprint or lineage).
    ReceiptMismatch = "RECEIPT_MISMATCH", 403, EXIT_REJECTED,
        "the receipt comes from another machine or activation: send that seat's own receipt";
    /// Forced releases of this license used up their budget.
    ReleaseBudgetExhausted = "RELEASE_BUDGET_EXHAUSTED", 409, EXIT_REJECTED,
        "ask the customer for deactivation receipts, or reset the license's seats";
    /// The license's seats were reset too recently.
    ResetTooSoon = "RESET_TOO_SOON", 409, EXIT_REJECTED,
        "release single seats meanwhile";
    /// The install token does not verify (signature, signer, schema).
    TokenInvalid = "TOKEN_INVALID", 400, EXIT_REJECTED,
        "copy the install token again, whole, or ask the vendor for a new one";
    /// The install token's time is over.
    TokenExpired = "TOKEN_EXPIRED", 403, EXIT_REJECTED,
        "ask the vendor for a new install token";
    /// The install token is for another license, or the request names another token.
    TokenMismatch = "TOKEN_MISMATCH", 403, EXIT_REJECTED,
        "use the install token made for this license";
    /// The install token was spent already.
    TokenUsed = "TOKEN_USED", 409, EXIT_REJECTED,
        "ask the vendor for a new install token";
    /// The vendor revoked the install token.
    TokenRevoked = "TOKEN_REVOKED", 403, EXIT_REJECTED,
        "the vendor withdrew this install token: ask the vendor for a new one";
    /// The license is suspended: no new seats, no lease renewals, until the vendor resumes it.
    LicenseSuspended = "LICENSE_SUSPENDED", 403, EXIT_REJECTED,
        "the vendor suspended this license: contact the vendor (your data is untouched)";
    /// A renewal signed by another instance key or fingerprint than the seat's.
    InstanceMismatch = "INSTANCE_MISMATCH", 403, EXIT_REJECTED,
        "only the machine holding the seat may renew it";
    /// A renewal of a seat that was released or whose lease ended.
    ActivationEnded = "ACTIVATION_ENDED", 410, EXIT_REJECTED,
        "activate again (`airlock-agent activate --server URL --license LICENSE_DIR --state STATE_DIR --trust trust.json`)";
    /// The heartbeat a renewal carries breaks its bounds.
    HeartbeatInvalid = "HEARTBEAT_INVALID", 400, EXIT_REJECTED,
        "report fewer or shorter counts";
    /// A build the request names is not registered (no such bundle, or not an encrypted one).
    BuildNotFound = "BUILD_NOT_FOUND", 404, EXIT_REJECTED,
        "check the bundle id (`runtime-verify BUNDLE --json` shows it); the vendor registers each encrypted build with `factory build register`";
    /// A build the request names is for another product or customer, or needs an edition or
    /// features the license does not grant.
    BuildNotLicensed = "BUILD_NOT_LICENSED", 403, EXIT_REJECTED,
        "ask only for builds made for this license's product and customer; the vendor says which your license entitles";
    /// The vendor's side holds no key-encryption key, so it cannot release build keys.
    BuildKeysDisabled = "BUILD_KEYS_DISABLED", 404, EXIT_REJECTED,
        "the vendor's service releases no build keys (started without --kek): ask the vendor";
    /// The license's tier does not include the release channel asked for.
    ChannelNotLicensed = "CHANNEL_NOT_LICENSED", 403, EXIT_REJECTED,
        "ask for a channel your license includes (`stable` by default); the vendor says which";
    /// The license does not entitle pulling the image repository asked for (not the product's,
    /// or on a channel the tier does not include).
    RepositoryNotLicensed = "REPOSITORY_NOT_LICENSED", 403, EXIT_REJECTED,
        "pull only the product's repositories on the channels your license includes";
    /// The service issues no registry tokens.
    RegistryDisabled = "REGISTRY_DISABLED", 404, EXIT_REJECTED,
        "the vendor's service issues no registry tokens (started without --registry-key)";
    /// A seat server asked for a pool lease for a license whose tier does not float.
    FloatingNotLicensed = "FLOATING_NOT_LICENSED", 403, EXIT_REJECTED,
        "floating seats need a license whose tier allows them: ask the vendor";
    /// The license does not allow a seat in the environment the machine reports (a VM or a
    /// container, FORMAT.md §21): none at all, or floating seats only.
    EnvironmentNotAllowed = "ENVIRONMENT_NOT_ALLOWED", 403, EXIT_REJECTED,
        "run it where the license allows, or, when the license lets seats float there, claim one from the seat server";
    /// Every floating seat of the seat server's pool is held.
    PoolFull = "POOL_FULL", 409, EXIT_UNREACHABLE,
        "wait for a seat to be released (a node's seat frees itself when its heartbeats stop), then claim again";
    /// The seat server's clock went back behind what it already signed: it leases nothing until
    /// the clock is right again.
    ServerClockBack = "SERVER_CLOCK_BACK", 503, EXIT_UNREACHABLE,
        "the seat server's clock is behind its own records: its operator corrects the clock; nodes keep their current leases meanwhile";
    /// The HTTP request is malformed (body, members, path).
    BadRequest = "BAD_REQUEST", 400, EXIT_REJECTED,
        "see docs/HTTP.md for the request's form";
    /// The body is larger than the service reads.
    BodyTooLarge = "BODY_TOO_LARGE", 413, EXIT_REJECTED,
        "see docs/HTTP.md for the largest body";
    /// No such endpoint or file.
    NotFound = "NOT_FOUND", 404, EXIT_REJECTED,
        "see docs/HTTP.md for the endpoints";
    /// The credential is missing or wrong.
    Unauthorized = "UNAUTHORIZED", 401, EXIT_REJECTED,
        "send the credential the endpoint asks for";
    /// The service offers no updates.
    UpdatesDisabled = "UPDATES_DISABLED", 404, EXIT_REJECTED,
        "the vendor's service has no update index";
    /// The service's admin API is off.
    AdminDisabled = "ADMIN_DISABLED", 404, EXIT_REJECTED,
        "start the service with --admin-credential";
    /// Too many requests: retry after the time the answer names.
    RateLimited = "RATE_LIMITED", 429, EXIT_UNREACHABLE,
        "wait for the time Retry-After names, then try again";
    /// The request took longer than the service allows (headers or handling).
    Timeout = "TIMEOUT", 408, EXIT_UNREACHABLE,
        "try again; send the request whole and at once";
    /// The service cannot answer now (its registry is unavailable).
    Unavailable = "UNAVAILABLE", 503, EXIT_UNREACHABLE,
        "try again later; leases ride out outages shorter than half their life";
    /// The service failed; nothing was changed unless it answered success.
    Internal = "INTERNAL", 500, EXIT_UNREACHABLE,
        "try again; the vendor's service logged the failure";
}

impl Code {
    /// The code of a wire form; `None` for a code this release does not know.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// Whether trying the same call again later may succeed (nothing was judged).
    pub fn is_transient(self) -> bool {
        self.exit_code() == EXIT_UNREACHABLE
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: its code and what to tell the one refused (naming the license, seat or request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The code.
    pub code: Code,
    /// The message.
    pub message: String,
}

impl Refusal {
    /// A refusal with `code`.
    pub fn new(code: Code, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_unique_parses_back_and_has_an_error_status() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert_eq!(Code::parse(c.as_str()), Some(*c));
            assert!((400..600).contains(&c.http_status()), "{c}");
            assert!(!c.advice().is_empty() && !c.advice().ends_with('.'), "{c}");
            assert!(c
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_'));
        }
        assert_eq!(Code::parse("device_limit_exceeded"), None);
        assert_eq!(Code::parse(""), None);
    }

    #[test]
    fn transient_codes_are_the_ones_worth_retrying() {
        let transient: Vec<_> = Code::ALL.iter().filter(|c| c.is_transient()).collect();
        assert_eq!(
            transient,
            [
                &Code::PoolFull,
                &Code::ServerClockBack,
                &Code::RateLimited,
                &Code::Timeout,
                &Code::Unavailable,
                &Code::Internal
            ]
        );
    }
}
