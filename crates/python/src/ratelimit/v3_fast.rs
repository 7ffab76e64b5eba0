//! `RateLimitV3Fast`: LiteLLM 1.83's v3 pre-call hook for the common case in one call
//! (conversion only; logic in core).

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::fixed_windows::RateLimitFixedWindows;
use super::pyconv::{dget, is_exact, str_bound};
use super::NOT_COVERED;


/// Returned when the v3 limiter's clock is replaced: the caller passes LiteLLM's clock values.
const NEED_CLOCK: i64 = 3;

/// LiteLLM 1.83's v3 pre-call hook for the common case in one call, bound to one
/// limiter: the checks that keep LiteLLM's own path (Redis, the batch script,
/// `acreate_batch`, a changed `window_size`, replaced clocks), the router
/// lookup, [`RateLimitFixedWindows::check_auth`], and the write of the
/// `RateLimitResponse` into `data`. The objects it compares against are
/// captured once, at construction.
#[pyclass(module = "fast_litellm._native", frozen)]
pub struct RateLimitV3Fast {
    table: Py<RateLimitFixedWindows>,
    /// `UserAPIKeyAuth`, or None (the fused path is off).
    auth_cls: Py<PyAny>,
    /// The limiter's instance dict: `window_size`, `batch_rate_limiter_script`, `_time_provider`.
    lim_dict: Py<PyDict>,
    /// The `window_size` object seen at construction (an int > 0) and its value.
    window: Py<PyAny>,
    window_size: i64,
    /// LiteLLM's default time provider as stored on the limiter, or None (never default).
    tp0: Py<PyAny>,
    iuc_dict: Py<PyDict>,
    dual: Py<PyAny>,
    dual_dict: Py<PyDict>,
    /// `litellm.caching.in_memory_cache`'s dict (its `time`) and the `time` module.
    imc_dict: Py<PyDict>,
    time_mod: Py<PyAny>,
    modules: Py<PyDict>,
}

#[pymethods]
impl RateLimitV3Fast {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (table, auth_cls, lim_dict, window, tp0, iuc_dict, dual, imc_dict, time_mod, modules))]
    fn new(
        table: Py<RateLimitFixedWindows>,
        auth_cls: Py<PyAny>,
        lim_dict: Py<PyDict>,
        window: &Bound<'_, PyAny>,
        tp0: Py<PyAny>,
        iuc_dict: Py<PyDict>,
        dual: &Bound<'_, PyAny>,
        imc_dict: Py<PyDict>,
        time_mod: Py<PyAny>,
        modules: Py<PyDict>,
    ) -> PyResult<Self> {
        let window_size: i64 = window.extract()?;
        let dual_dict = dual.getattr("__dict__")?.downcast_into::<PyDict>()?.unbind();
        Ok(RateLimitV3Fast {
            table,
            auth_cls,
            lim_dict,
            window: window.clone().unbind(),
            window_size,
            tp0,
            iuc_dict,
            dual: dual.clone().unbind(),
            dual_dict,
            imc_dict,
            time_mod,
            modules,
        })
    }

    /// The pre-call check. `defaults`: the router's `(tpm, rpm)` deployment
    /// defaults when asked for (2); `clock`: LiteLLM's `(limiter second, cache
    /// time)` when asked for (3). Returns None (done: admitted with the response
    /// stored in `data`, or no descriptor), `(response, descriptors)` (refused:
    /// LiteLLM's `_handle_rate_limit_error` raises), 1 (not the common case:
    /// nothing counted), 2 or 3.
    #[pyo3(signature = (auth, data, call_type, defaults=None, clock=None))]
    fn check(
        &self,
        py: Python<'_>,
        auth: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
        call_type: &Bound<'_, PyAny>,
        defaults: Option<&Bound<'_, PyAny>>,
        clock: Option<(i64, f64)>,
    ) -> PyResult<PyObject> {
        let code = |c: i64| -> PyResult<PyObject> { Ok(c.into_pyobject(py)?.into_any().unbind()) };
        if !auth.get_type().is(self.auth_cls.bind(py)) || !is_exact::<PyDict>(data) {
            return code(NOT_COVERED);
        }
        let data = data.downcast::<PyDict>()?;
        let lim = self.lim_dict.bind(py);
        let plain = (|| {
            let w = dget(py, lim, pyo3::intern!(py, "window_size"))?;
            let ct = str_bound(call_type)?;
            let script = dget(py, lim, pyo3::intern!(py, "batch_rate_limiter_script"))?;
            let dual = dget(py, self.iuc_dict.bind(py), pyo3::intern!(py, "dual_cache"))?;
            let redis = dget(py, self.dual_dict.bind(py), pyo3::intern!(py, "redis_cache"))?;
            Some(w.is(self.window.bind(py)) && ct != "acreate_batch" && script.is_none() && dual.is(self.dual.bind(py)) && redis.is_none())
        })();
        if plain != Some(true) {
            return code(NOT_COVERED);
        }
        if clock.is_none() {
            let tp = dget(py, lim, pyo3::intern!(py, "_time_provider"));
            let t = dget(py, self.imc_dict.bind(py), pyo3::intern!(py, "time"));
            let default = matches!((tp, t), (Some(tp), Some(t)) if !tp.is_none() && tp.is(self.tp0.bind(py)) && t.is(self.time_mod.bind(py)));
            if !default {
                return code(NEED_CLOCK);
            }
        }
        let dflt = match defaults {
            Some(d) => d.clone(),
            None => {
                // No router (the proxy module loaded, its llm_router None): no deployment defaults.
                let no_router = match dget(py, self.modules.bind(py), pyo3::intern!(py, "litellm.proxy.proxy_server")) {
                    Some(ps) => ps.getattr(pyo3::intern!(py, "llm_router")).map(|r| r.is_none()).unwrap_or(true),
                    None => false,
                };
                if no_router {
                    pyo3::types::PyBool::new(py, false).to_owned().into_any()
                } else {
                    py.None().into_bound(py)
                }
            }
        };
        match self.table.get().check_auth_inner(py, auth, data, clock, self.window_size, &dflt)? {
            Err(c) => code(c),
            Ok(o) => {
                let b = o.bind(py);
                if is_exact::<PyDict>(b) {
                    data.set_item(pyo3::intern!(py, "litellm_proxy_rate_limit_response"), b)?;
                    Ok(py.None())
                } else {
                    Ok(o)
                }
            }
        }
    }
}
