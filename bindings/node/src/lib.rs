//! `airlock.node`: the verify-only runtime for Node.js, over libairlock's safe API
//! (`airlock::api`): the same calls, codes and JSON as the C ABI. The JavaScript layer is
//! `index.js` (typed errors, the status object), its types `index.d.ts`.

use airlock::api::{self, AirlockResult, Fail};
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// A `Fail` as a JS error whose message is `kind\tcode\thttp_status\tmessage` (index.js
/// turns it into `Rejected`, `Denied` or `UsageError`).
fn raise(f: Fail) -> Error {
    let kind = match f.result {
        AirlockResult::AirlockRejected => "rejected",
        AirlockResult::AirlockDenied => "denied",
        _ => "error",
    };
    Error::from_reason(format!(
        "{kind}\t{}\t{}\t{}",
        f.code, f.http_status, f.message
    ))
}

/// The status of the one-call check.
#[napi]
pub struct NativeStatus {
    checked: api::Checked,
}

#[napi]
impl NativeStatus {
    /// The combined state word.
    #[napi(getter)]
    pub fn state(&self) -> String {
        self.checked.status.state().to_string()
    }

    /// The whole status as JSON.
    #[napi(getter)]
    pub fn json(&self) -> String {
        self.checked.json.clone()
    }

    /// Throws when `name` may not be used.
    #[napi]
    pub fn feature(&self, name: String) -> Result<()> {
        api::feature(&self.checked.status, &name).map_err(raise)
    }

    /// Throws when one more of `name` may not start with `in_use` running.
    #[napi]
    pub fn limit(&self, name: String, in_use: i64) -> Result<()> {
        let n = u64::try_from(in_use)
            .map_err(|_| Error::from_reason("error\tusage\t400\tinUse must not be negative"))?;
        api::limit(&self.checked.status, &name, n).map_err(raise)
    }
}

/// The product's one call.
#[napi]
pub fn check(
    trust: String,
    license_dir: String,
    state_dir: String,
    root: Option<String>,
    now: i64,
) -> Result<NativeStatus> {
    api::check(&trust, &license_dir, &state_dir, root.as_deref(), now)
        .map(|checked| NativeStatus { checked })
        .map_err(raise)
}

/// One signed artifact verified without a state: its JSON verdict.
#[napi]
pub fn verify(
    kind: String,
    trust: String,
    root: String,
    doc: String,
    sig: Option<String>,
    at: i64,
    context: Option<String>,
) -> Result<String> {
    airlock::verify::verify(
        &kind,
        (&trust, &root),
        (&doc, sig.as_deref()),
        at,
        context.as_deref(),
    )
    .map_err(raise)
}

/// A delivery bundle verified with a state directory, extracted when asked: its JSON.
#[napi]
pub fn verify_bundle(
    bundle: String,
    trust: String,
    state_dir: String,
    sig: Option<String>,
    root: Option<String>,
    extract_dir: Option<String>,
    now: i64,
) -> Result<String> {
    airlock::verify::verify_bundle(
        (&bundle, sig.as_deref()),
        (&trust, root.as_deref()),
        (&state_dir, extract_dir.as_deref()),
        now,
    )
    .map_err(raise)
}

/// A revocation list imported into the state directory.
#[napi]
pub fn import_revocations(
    list: String,
    trust: String,
    state_dir: String,
    sig: Option<String>,
    root: Option<String>,
    now: i64,
) -> Result<()> {
    airlock::verify::import_revocations(
        (&list, sig.as_deref()),
        (&trust, root.as_deref()),
        &state_dir,
        now,
    )
    .map_err(raise)
}

/// The runtime's version.
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
