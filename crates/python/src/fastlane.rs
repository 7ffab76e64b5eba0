//! Bindings for the proxy fast lane: start/stop the Rust front with the GIL released.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// Bind `config["listen"]` and serve until `fastlane_stop()`; blocks (GIL released).
#[pyfunction]
fn fastlane_serve(py: Python<'_>, config_json: &str) -> PyResult<()> {
    let cfg = config_json.to_string();
    py.allow_threads(move || fast_litellm_fastlane::serve_blocking(&cfg, || {}))
        .map_err(PyRuntimeError::new_err)
}

/// Stop the running front; False when none runs.
#[pyfunction]
fn fastlane_stop() -> bool {
    fast_litellm_fastlane::stop_current()
}

/// `(served, passed, replayed, backend_errors)` of the running front, or None.
#[pyfunction]
fn fastlane_stats() -> Option<(u64, u64, u64, u64)> {
    fast_litellm_fastlane::current_stats()
}

/// Up to `max` logging records (JSON strings) of requests served in Rust, waiting at
/// most `timeout_ms` for the first (GIL released); None once the front stopped and the
/// queue is empty.
#[pyfunction]
fn fastlane_drain(py: Python<'_>, max: usize, timeout_ms: u64) -> Option<Vec<String>> {
    py.allow_threads(move || fast_litellm_fastlane::logq::drain(max, timeout_ms))
}

/// `(queued, dropped, drained)` logging records since the process started.
#[pyfunction]
fn fastlane_log_stats() -> (u64, u64, u64) {
    fast_litellm_fastlane::logq::stats()
}

/// Python's `str(float)` as the front formats cost headers (tests compare it to Python).
#[pyfunction]
fn fastlane_float_repr(x: f64) -> String {
    fast_litellm_fastlane::pyfmt::float_repr(x)
}

/// orjson's text for a float as the front writes embedding vectors (tests compare it to orjson).
#[pyfunction]
fn fastlane_orjson_float(x: f64) -> String {
    fast_litellm_fastlane::orjson_fmt::orjson_float(x)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fastlane_serve, m)?)?;
    m.add_function(wrap_pyfunction!(fastlane_stop, m)?)?;
    m.add_function(wrap_pyfunction!(fastlane_stats, m)?)?;
    m.add_function(wrap_pyfunction!(fastlane_float_repr, m)?)?;
    m.add_function(wrap_pyfunction!(fastlane_orjson_float, m)?)?;
    m.add_function(wrap_pyfunction!(fastlane_drain, m)?)?;
    m.add_function(wrap_pyfunction!(fastlane_log_stats, m)?)?;
    Ok(())
}
