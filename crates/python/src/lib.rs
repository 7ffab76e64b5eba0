//! `fast_litellm._native`: conversion and GIL handling only. Every algorithm
//! lives in `fast-litellm-core`. Each component registers its functions from its
//! own file.

use pyo3::prelude::*;

// mimalloc for the extension's own (Rust) allocations: the transport allocates on
// the event-loop thread and frees on the runtime thread (and back), which glibc's
// per-thread arenas handle slowly. Python's own objects are not affected.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod audit;
mod cost;
mod fastlane;
mod ratelimit;
mod route_select;
mod tokens;
mod transport;

/// Deliberately panics. Tests use it to prove that a Rust panic surfacing in an
/// accelerated call falls back to LiteLLM instead of crashing the process.
#[pyfunction]
fn _panic_for_tests(message: &str) -> PyResult<()> {
    panic!("{}", message);
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", fast_litellm_core::VERSION)?;
    m.add("build_profile", if cfg!(debug_assertions) { "debug" } else { "release" })?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    audit::register(m)?;
    cost::register(m)?;
    fastlane::register(m)?;
    ratelimit::register(m)?;
    route_select::register(m)?;
    tokens::register(m)?;
    transport::register(m)?;
    Ok(())
}
