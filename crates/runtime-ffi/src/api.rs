//! The safe Rust API every binding calls (the C ABI in `lib.rs`, Python, Node): one home for
//! what a call does, its result code, its error's code and message, and the JSON it answers.

use runtime::product::{check as product_check, Inputs, Status};
use runtime::session::Clock;
use std::path::Path;

/// What a call returned.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AirlockResult {
    /// Done: the out-values are set.
    AirlockOk = 0,
    /// A check failed: the error names it (`license_expired`, `signature_invalid`, ...).
    AirlockRejected = 1,
    /// A usage or local problem (a null or non-UTF-8 argument, a file that cannot be read):
    /// code `usage`, `io` or `internal`.
    AirlockError = 2,
    /// A feature or limit gate is closed: the error carries the denial code and 402.
    AirlockDenied = 3,
}

/// Why a call did not succeed: the result code, a stable code (a check code, a denial code,
/// `usage`, `io` or `internal`), a message, the HTTP status a service would answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    /// `AirlockRejected`, `AirlockDenied` or `AirlockError`.
    pub result: AirlockResult,
    /// The stable code.
    pub code: String,
    /// What failed.
    pub message: String,
    /// 402 for a closed gate, 403 for a refused check, 400 or 500 for an error.
    pub http_status: u16,
}

/// A value, or why not.
pub type Out<T> = Result<T, Fail>;

/// A refused check.
pub fn rejected(check: &str, message: &str) -> Fail {
    Fail {
        result: AirlockResult::AirlockRejected,
        code: check.into(),
        message: message.into(),
        http_status: 403,
    }
}

/// A local problem (`io`, `internal`).
pub fn local(code: &str, message: &str) -> Fail {
    Fail {
        result: AirlockResult::AirlockError,
        code: code.into(),
        message: message.into(),
        http_status: 500,
    }
}

/// A usage error.
pub fn usage(message: &str) -> Fail {
    Fail {
        result: AirlockResult::AirlockError,
        code: "usage".into(),
        message: message.into(),
        http_status: 400,
    }
}

fn denied(code: &str, http: u16, what: &str) -> Fail {
    Fail {
        result: AirlockResult::AirlockDenied,
        code: code.into(),
        message: format!("{what}: {code}"),
        http_status: http,
    }
}

/// A refusal from any error of the runtime: its check code, or `io`.
pub fn refusal(what: &str, e: &(dyn std::error::Error + 'static)) -> Fail {
    match runtime::check_of(e) {
        Some(c) => rejected(c.as_str(), &format!("{what}: {e}")),
        None => local("io", &format!("{what}: {e}")),
    }
}

/// A file read whole, or an error naming it.
pub fn read(path: &Path, cap: usize) -> Out<Vec<u8>> {
    match runtime::io::read_capped(path, cap as u64) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(local("io", &format!("{}: not found", path.display()))),
        Err(e) => Err(match runtime::check_of(&e) {
            Some(c) => rejected(c.as_str(), &format!("{}: {e}", path.display())),
            None => local("io", &format!("{}: {e}", path.display())),
        }),
    }
}

/// The clock of `now`: -1 the system clock (read here), else that instant as the product's
/// glue read it; both are the system's time (recorded in the state).
pub fn clock(now: i64) -> Out<Clock> {
    if now == -1 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| local("io", "the system clock is before 1970"))?;
        Ok(Clock::System(canon::Timestamp(t.as_secs() as i64)))
    } else if now >= 0 {
        Ok(Clock::System(canon::Timestamp(now)))
    } else {
        Err(usage("now must be -1 or a Unix time"))
    }
}

/// Anchors from a root text (base64 key, key id or .pub contents); `None`: none.
pub fn anchors(root: Option<&str>) -> Out<Option<runtime::trust::Anchors>> {
    root.map(|r| {
        runtime::trust::RootSpec::parse(r.as_bytes())
            .map(|spec| runtime::trust::RootSpec::anchors(&[spec]))
            .map_err(|e| usage(&e.to_string()))
    })
    .transpose()
}

/// A status and its JSON.
pub struct Checked {
    /// What the runtime answered.
    pub status: Status,
    /// [`crate::json::status`] of it.
    pub json: String,
}

/// The product's one call (docs/SDK.md): trust, license directory, state directory, the root
/// for a first use, `now` (-1: the system clock).
pub fn check(
    trust_path: &str,
    license_dir: &str,
    state_dir: &str,
    root: Option<&str>,
    now: i64,
) -> Out<Checked> {
    let trust = read(Path::new(trust_path), runtime::trust::MAX_TRUST_BYTES)?;
    let anchors = anchors(root)?;
    let trusts = [trust.as_slice()];
    let mut inputs = Inputs::new(
        &trusts,
        Path::new(license_dir),
        Path::new(state_dir),
        clock(now)?,
    );
    inputs.anchors = anchors.as_ref();
    let status = product_check(&inputs).map_err(|r| match r.check {
        Some(c) => rejected(c.as_str(), &r.message),
        None => local("io", &r.message),
    })?;
    let json = crate::json::status(&status);
    Ok(Checked { status, json })
}

/// Whether `feature` may be used (a closed gate: its denial code and 402).
pub fn feature(status: &Status, feature: &str) -> Out<()> {
    status
        .entitlements
        .check_feature(feature)
        .map_err(|d| denied(d.code, d.http_status, feature))
}

/// Whether one more of `limit` may start with `in_use` running.
pub fn limit(status: &Status, limit: &str, in_use: u64) -> Out<()> {
    status
        .entitlements
        .check_limit(limit, in_use)
        .map_err(|d| denied(d.code, d.http_status, limit))
}
