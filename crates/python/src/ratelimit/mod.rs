//! Bindings for the rate-limit component, one file per Python class family (conversion
//! and GIL handling only; every algorithm is in `fast_litellm_core::ratelimit`):
//!
//! * `store`: `RateLimitStore`, LiteLLM's `InMemoryCache` for the v1 limiter;
//! * `windows`: `RateLimitWindows`, the v1 limiter's per-minute table;
//! * `fixed_windows`: `RateLimitFixedWindows`, the v3 limiter's fixed-window table, and
//!   `v3_check`, its pre-call check of a `UserAPIKeyAuth` in one call;
//! * `v1_fast`, `v3_fast`: the limiters' pre-call hooks for the common case in one call;
//! * `store110`: `RateLimitStore110`, the local entries of 1.110.x's v3 limiter;
//! * `pyconv`: reading Python values without running Python code.

use pyo3::prelude::*;

mod fixed_windows;
mod pyconv;
mod store;
mod store110;
mod v1_fast;
mod v3_check;
mod v3_fast;
mod windows;

/// Returned when the fused path does not cover the request (the caller builds
/// descriptors with its general path).
const NOT_COVERED: i64 = 1;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<store::RateLimitStore>()?;
    m.add_class::<windows::RateLimitWindows>()?;
    m.add_class::<fixed_windows::RateLimitFixedWindows>()?;
    m.add_class::<v1_fast::RateLimitV1Fast>()?;
    m.add_class::<v3_fast::RateLimitV3Fast>()?;
    m.add_function(wrap_pyfunction!(v1_fast::ratelimit_local_minute, m)?)?;
    m.add_function(wrap_pyfunction!(fixed_windows::ratelimit_clocks, m)?)?;
    m.add_function(wrap_pyfunction!(fixed_windows::ratelimit_clocks_from_ns, m)?)?;
    m.add_function(wrap_pyfunction!(fixed_windows::ratelimit_lock_owner, m)?)?;
    store110::register(m)?;
    Ok(())
}
