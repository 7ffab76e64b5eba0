//! `RateLimitV1Fast`: LiteLLM's v1 pre-call check for the common case in one call
//! (conversion only; logic in core).

use fast_litellm_core::ratelimit::window::{self as win, V1Kind, V1Request};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::pyconv::{dget, falsy_none_or_dict, is_exact, opt_i64_b, opt_str_b, touch};
use super::windows::{counts_tuple, win_err, RateLimitWindows};
use super::NOT_COVERED;

/// Returned when the fused v1 path needs LiteLLM's clock (a replaced clock): the
/// caller passes the minute of its clock.
const NEED_WINDOW: i64 = 3;

const V1_FIELDS: [&str; 18] = [
    "api_key",               // 0
    "max_parallel_requests", // 1
    "tpm_limit",             // 2
    "rpm_limit",             // 3
    "user_id",               // 4
    "user_tpm_limit",        // 5
    "user_rpm_limit",        // 6
    "team_id",               // 7
    "team_tpm_limit",        // 8
    "team_rpm_limit",        // 9
    "end_user_id",           // 10
    "end_user_tpm_limit",    // 11
    "end_user_rpm_limit",    // 12
    "metadata",              // 13
    "model_max_budget",      // 14
    "team_metadata",         // 15
    "is_session_token",      // 16 (1.110)
    "budget_throttle_pct",   // 17 (1.110)
];

static V1_NAMES: pyo3::sync::GILOnceCell<Vec<Py<PyString>>> = pyo3::sync::GILOnceCell::new();
static V1_KIND_NAMES: pyo3::sync::GILOnceCell<Vec<Py<PyString>>> = pyo3::sync::GILOnceCell::new();


/// LiteLLM's v1 pre-call check (`_PROXY_MaxParallelRequestsHandler.async_pre_call_hook`)
/// for the common case, in one call, bound to one limiter: reads the
/// `UserAPIKeyAuth`'s fields from its instance dict and `data`, checks that
/// nothing outside the common case applies (Redis, a global limit, per-model
/// limits for the key, a replaced clock or helper, budget throttling, session
/// tokens, odd types), and counts in the limiter's table. The per-limiter
/// objects it compares against are captured once, at construction.
#[pyclass(module = "fast_litellm._native", frozen)]
pub struct RateLimitV1Fast {
    windows: Py<RateLimitWindows>,
    v110: bool,
    /// `UserAPIKeyAuth`, or None (the fused path is off).
    auth_cls: Py<PyAny>,
    /// The usage cache's instance dict (its `dual_cache`), the `DualCache` seen at
    /// construction and its instance dict (its `redis_cache`).
    iuc_dict: Py<PyDict>,
    dual: Py<PyAny>,
    dual_dict: Py<PyDict>,
    /// 1.110: the limiter's instance dict (its `_clock`); 1.83: the module dict (its `datetime`).
    clock_dict: Py<PyDict>,
    /// The default clock object expected there (the limiter's own `datetime.now`
    /// bound method on 1.110; the `datetime` class on 1.83), or None (never default).
    clock0: Py<PyAny>,
    prl_dict: Py<PyDict>,
    key_model_fns: (Py<PyAny>, Py<PyAny>),
    modules: Py<PyDict>,
    /// `(second, minute)` of the last system-clock reading: `localtime_r` once per second.
    minute_cache: std::sync::Mutex<(i64, u64)>,
}

#[pymethods]
impl RateLimitV1Fast {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (windows, v110, auth_cls, iuc_dict, dual, clock_dict, clock0, prl_dict, key_model_fns, modules))]
    fn new(
        windows: Py<RateLimitWindows>,
        v110: bool,
        auth_cls: Py<PyAny>,
        iuc_dict: Py<PyDict>,
        dual: &Bound<'_, PyAny>,
        clock_dict: Py<PyDict>,
        clock0: Py<PyAny>,
        prl_dict: Py<PyDict>,
        key_model_fns: (Py<PyAny>, Py<PyAny>),
        modules: Py<PyDict>,
    ) -> PyResult<Self> {
        let dual_dict = dual.getattr("__dict__")?.downcast_into::<PyDict>()?.unbind();
        Ok(RateLimitV1Fast {
            windows,
            v110,
            auth_cls,
            iuc_dict,
            dual: dual.clone().unbind(),
            dual_dict,
            clock_dict,
            clock0,
            prl_dict,
            key_model_fns,
            modules,
            minute_cache: std::sync::Mutex::new((i64::MIN, 0)),
        })
    }

    /// `window`: None for LiteLLM's default clock (read here), else the minute of
    /// the limiter's clock. Returns None (admitted, or no scope), 1 (not the
    /// common case: nothing counted), 3 (a replaced clock: call again with
    /// `window`) or, refused, `(scope, max_parallel, tpm, rpm, rate_limit_type,
    /// current (requests, tpm, rpm) or None)` for LiteLLM's `check_key_in_limits`.
    #[pyo3(signature = (auth, data, window=None))]
    fn check(&self, py: Python<'_>, auth: &Bound<'_, PyAny>, data: &Bound<'_, PyAny>, window: Option<u64>) -> PyResult<PyObject> {
        match self.check_inner(py, auth, data, window)? {
            Ok(o) => Ok(o),
            Err(code) => Ok(code.into_pyobject(py)?.into_any().unbind()),
        }
    }

    /// The minute `check` uses for LiteLLM's default clock at Unix second `secs`
    /// (through the per-second cache), for tests.
    fn minute_at(&self, secs: i64) -> Option<u64> {
        self.minute(secs)
    }
}

impl RateLimitV1Fast {
    fn minute(&self, secs: i64) -> Option<u64> {
        let mut c = self.minute_cache.lock().unwrap_or_else(|e| e.into_inner());
        if c.0 == secs {
            return Some(c.1);
        }
        let m = win::local_minute(secs)?;
        *c = (secs, m);
        Some(m)
    }

    fn check_inner<'py>(
        &self,
        py: Python<'py>,
        auth: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
        window: Option<u64>,
    ) -> PyResult<Result<PyObject, i64>> {
        macro_rules! nc {
            ($e:expr) => {
                match $e {
                    Some(x) => x,
                    None => return Ok(Err(NOT_COVERED)),
                }
            };
        }
        macro_rules! ncb {
            ($e:expr) => {
                if $e {
                    return Ok(Err(NOT_COVERED));
                }
            };
        }
        ncb!(!auth.get_type().is(self.auth_cls.bind(py)) || !is_exact::<PyDict>(data));
        let data = data.downcast::<PyDict>()?;
        // Redis on the usage cache (now): LiteLLM's hooks.
        let dual = nc!(dget(py, self.iuc_dict.bind(py), pyo3::intern!(py, "dual_cache")));
        ncb!(!dual.is(self.dual.bind(py)));
        ncb!(!nc!(dget(py, self.dual_dict.bind(py), pyo3::intern!(py, "redis_cache"))).is_none());
        // A global limit in the request's metadata: the general path.
        if let Some(m) = data.get_item(pyo3::intern!(py, "metadata"))? {
            ncb!(!is_exact::<PyDict>(&m));
            if let Some(g) = m.downcast::<PyDict>()?.get_item(pyo3::intern!(py, "global_max_parallel_requests"))? {
                ncb!(!g.is_none());
            }
        }
        // get_key_model_{tpm,rpm}_limit as LiteLLM's own (unreplaced) functions.
        let prl = self.prl_dict.bind(py);
        match (
            dget(py, prl, pyo3::intern!(py, "get_key_model_tpm_limit")),
            dget(py, prl, pyo3::intern!(py, "get_key_model_rpm_limit")),
        ) {
            (Some(a), Some(b)) if a.is(self.key_model_fns.0.bind(py)) && b.is(self.key_model_fns.1.bind(py)) => {}
            _ => return Ok(Err(NOT_COVERED)),
        }
        let model = data.get_item(pyo3::intern!(py, "model"))?;
        if model.as_ref().is_some_and(|m| !m.is_none()) {
            // The router's deployment defaults: none without a router.
            let ps = nc!(dget(py, self.modules.bind(py), pyo3::intern!(py, "litellm.proxy.proxy_server")));
            match ps.getattr(pyo3::intern!(py, "llm_router")) {
                Ok(r) if r.is_none() => {}
                _ => return Ok(Err(NOT_COVERED)),
            }
        }
        let names = V1_NAMES.get_or_init(py, || V1_FIELDS.iter().map(|n| PyString::intern(py, n).unbind()).collect());
        let Ok(dict) = auth.getattr(pyo3::intern!(py, "__dict__")) else { return Ok(Err(NOT_COVERED)) };
        let Ok(dict) = dict.downcast_into::<PyDict>() else { return Ok(Err(NOT_COVERED)) };
        // All the common case's fields first (independent lookups: their cache
        // misses overlap), then their checks. Values are borrowed from the
        // instance dict: only exact None/bool/int/str/dict values are looked at,
        // so no Python code runs while they are held.
        let g = |i: usize| dget(py, &dict, names[i].bind(py));
        let f = [g(0), g(1), g(2), g(3), g(4), g(7), g(10), g(13), g(14), g(15)];
        touch(&f);
        let [o_ak, o_mp, o_tpm, o_rpm, o_uid, o_tid, o_eid, o_md, o_mmb, o_tmd] = f;
        let (o_ak, o_mp, o_tpm, o_rpm) = (nc!(o_ak), nc!(o_mp), nc!(o_tpm), nc!(o_rpm));
        let (o_uid, o_tid, o_eid, o_md, o_mmb, o_tmd) = (nc!(o_uid), nc!(o_tid), nc!(o_eid), nc!(o_md), nc!(o_mmb), nc!(o_tmd));
        if self.v110 {
            // get_logged_api_key: a session token with an alias logs the alias;
            // throttled_limit: a throttle percentage scales the key's limits.
            let st = nc!(g(16));
            ncb!(!(st.is_none() || st.is(&pyo3::types::PyBool::new(py, false))));
            ncb!(!nc!(g(17)).is_none());
        }
        // Per-model limits for the key (metadata, model_max_budget, team metadata): the general path.
        if !nc!(falsy_none_or_dict(&o_md)) {
            let md = o_md.downcast::<PyDict>()?;
            for k in [pyo3::intern!(py, "model_tpm_limit"), pyo3::intern!(py, "model_rpm_limit")] {
                if let Some(v) = dget(py, md, k) {
                    // `if result:` -- only None, False, 0 and empty containers/strs are known falsy here.
                    ncb!(!(v.is_none() || (is_exact::<PyDict>(&v) && v.downcast::<PyDict>()?.is_empty())));
                }
            }
        }
        ncb!(!nc!(falsy_none_or_dict(&o_mmb)) || !nc!(falsy_none_or_dict(&o_tmd)));
        let mut r = V1Request {
            api_key: nc!(opt_str_b(&o_ak)),
            key_limits: [nc!(opt_i64_b(&o_mp)), nc!(opt_i64_b(&o_tpm)), nc!(opt_i64_b(&o_rpm))],
            user_id: nc!(opt_str_b(&o_uid)),
            team_id: nc!(opt_str_b(&o_tid)),
            end_user_id: nc!(opt_str_b(&o_eid)),
            ..Default::default()
        };
        if r.user_id.is_some() {
            r.user_limits = [nc!(opt_i64_b(&nc!(g(5)))), nc!(opt_i64_b(&nc!(g(6))))];
        }
        if r.team_id.is_some() {
            r.team_limits = [nc!(opt_i64_b(&nc!(g(8)))), nc!(opt_i64_b(&nc!(g(9))))];
        }
        if r.end_user_id.is_some_and(|s| !s.is_empty()) {
            r.end_user_limits = [nc!(opt_i64_b(&nc!(g(11)))), nc!(opt_i64_b(&nc!(g(12))))];
        }
        let window = match window {
            Some(w) => w,
            None => {
                let key = if self.v110 { pyo3::intern!(py, "_clock") } else { pyo3::intern!(py, "datetime") };
                match dget(py, self.clock_dict.bind(py), key) {
                    Some(c) if c.is(self.clock0.bind(py)) && !c.is_none() => {}
                    _ => return Ok(Err(NEED_WINDOW)),
                }
                nc!(self.minute(win::system_second()))
            }
        };
        let Some(x) = self.windows.get().table.check_v1(window, &r).map_err(win_err)? else {
            return Ok(Ok(py.None()));
        };
        let kinds = V1_KIND_NAMES.get_or_init(py, || V1Kind::ALL.iter().map(|k| PyString::intern(py, k.name()).unbind()).collect());
        let kname = kinds[V1Kind::ALL.iter().position(|k| *k == x.kind).unwrap_or(0)].bind(py);
        let cur = x.current.map(counts_tuple);
        Ok(Ok((x.scope, x.max_parallel, x.tpm_limit, x.rpm_limit, kname, cur).into_pyobject(py)?.into_any().unbind()))
    }
}

/// `local_minute(secs)`: the minute key identity of LiteLLM's v1 limiter for Unix
/// second `secs` in local time, for tests (`None` if out of range).
#[pyfunction]
pub fn ratelimit_local_minute(secs: i64) -> Option<u64> {
    win::local_minute(secs)
}
