//! `airlock._airlock`: the verify-only runtime for Python, over libairlock's safe API
//! (`airlock::api`): the same calls, codes and JSON as the C ABI. The Pythonic layer is
//! `python/airlock/__init__.py`.

use airlock::api::{self, AirlockResult, Fail};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

pyo3::create_exception!(
    _airlock,
    AirlockError,
    PyException,
    "A refusal or an error."
);

/// A `Fail` as the Python exception `AirlockError(kind, code, message, http_status)`.
fn raise(f: Fail) -> PyErr {
    let kind = match f.result {
        AirlockResult::AirlockRejected => "rejected",
        AirlockResult::AirlockDenied => "denied",
        _ => "error",
    };
    AirlockError::new_err((kind, f.code, f.message, f.http_status))
}

/// The status of the one-call check.
#[pyclass(frozen, module = "airlock._airlock")]
struct Status {
    checked: api::Checked,
}

#[pymethods]
impl Status {
    /// The combined state word.
    #[getter]
    fn state(&self) -> &'static str {
        self.checked.status.state()
    }

    /// The whole status as JSON.
    #[getter]
    fn json(&self) -> &str {
        &self.checked.json
    }

    /// Raises `AirlockError("denied", code, ...)` when `name` may not be used.
    fn feature(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        py.allow_threads(|| api::feature(&self.checked.status, name))
            .map_err(raise)
    }

    /// Raises `AirlockError("denied", code, ...)` when one more of `name` may not start.
    fn limit(&self, py: Python<'_>, name: &str, in_use: u64) -> PyResult<()> {
        py.allow_threads(|| api::limit(&self.checked.status, name, in_use))
            .map_err(raise)
    }
}

/// The product's one call.
#[pyfunction]
#[pyo3(signature = (trust, license_dir, state_dir, root=None, now=-1))]
fn check(
    py: Python<'_>,
    trust: &str,
    license_dir: &str,
    state_dir: &str,
    root: Option<&str>,
    now: i64,
) -> PyResult<Status> {
    py.allow_threads(|| api::check(trust, license_dir, state_dir, root, now))
        .map(|checked| Status { checked })
        .map_err(raise)
}

/// One signed artifact verified without a state: its JSON verdict.
#[pyfunction]
#[pyo3(signature = (kind, trust, root, doc, sig=None, at=0, context=None))]
#[allow(clippy::too_many_arguments)]
fn verify(
    py: Python<'_>,
    kind: &str,
    trust: &str,
    root: &str,
    doc: &str,
    sig: Option<&str>,
    at: i64,
    context: Option<&str>,
) -> PyResult<String> {
    py.allow_threads(|| airlock::verify::verify(kind, (trust, root), (doc, sig), at, context))
        .map_err(raise)
}

/// A delivery bundle verified with a state directory, extracted when asked: its JSON.
#[pyfunction]
#[pyo3(signature = (bundle, trust, state_dir, sig=None, root=None, extract_dir=None, now=-1))]
#[allow(clippy::too_many_arguments)]
fn verify_bundle(
    py: Python<'_>,
    bundle: &str,
    trust: &str,
    state_dir: &str,
    sig: Option<&str>,
    root: Option<&str>,
    extract_dir: Option<&str>,
    now: i64,
) -> PyResult<String> {
    py.allow_threads(|| {
        airlock::verify::verify_bundle((bundle, sig), (trust, root), (state_dir, extract_dir), now)
    })
    .map_err(raise)
}

/// A revocation list imported into the state directory.
#[pyfunction]
#[pyo3(signature = (list, trust, state_dir, sig=None, root=None, now=-1))]
fn import_revocations(
    py: Python<'_>,
    list: &str,
    trust: &str,
    state_dir: &str,
    sig: Option<&str>,
    root: Option<&str>,
    now: i64,
) -> PyResult<()> {
    py.allow_threads(|| {
        airlock::verify::import_revocations((list, sig), (trust, root), state_dir, now)
    })
    .map_err(raise)
}

/// The runtime's version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _airlock(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("AirlockError", m.py().get_type::<AirlockError>())?;
    m.add_class::<Status>()?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(verify_bundle, m)?)?;
    m.add_function(wrap_pyfunction!(import_revocations, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
