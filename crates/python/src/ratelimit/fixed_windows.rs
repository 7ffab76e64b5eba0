//! `RateLimitFixedWindows`: the v3 limiter's fixed-window counters (see
//! `fast_litellm_core::ratelimit::fixed`), the `RateLimitResponse` it answers with, and
//! the v3 limiter's clocks.

use fast_litellm_core::ratelimit::fixed::{self as fx, Desc, FixedWindowTable, Incr};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyDict, PyList};

pub(super) fn fx_err(e: fx::Error) -> PyErr {
    match e {
        fx::Error::Overflow => PyValueError::new_err("rate-limit counter overflow"),
        fx::Error::Full => pyo3::exceptions::PyMemoryError::new_err("shared rate-limit table is full"),
        fx::Error::Io(s) => pyo3::exceptions::PyOSError::new_err(s),
    }
}

const LIMIT_MAX: i64 = 1 << 62;

/// None, or an exact `int` within +-2**62 (anything else: TypeError, LiteLLM's code runs).
pub(super) fn opt_limit(o: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    if o.is_none() {
        return Ok(None);
    }
    if !o.get_type().is(&o.py().get_type::<pyo3::types::PyInt>()) {
        return Err(pyo3::exceptions::PyTypeError::new_err("limit is not an int"));
    }
    match o.extract::<i64>() {
        Ok(v) if (-LIMIT_MAX..=LIMIT_MAX).contains(&v) => Ok(Some(v)),
        _ => Err(pyo3::exceptions::PyTypeError::new_err("limit out of range")),
    }
}

/// Counters of LiteLLM's v3 proxy limiter (see `fast_litellm_core::ratelimit::fixed`):
/// one 80-byte entry per descriptor `"{key}:{value}"`, in this process or in a
/// memory-mapped file shared by every process opening the same `path`.
#[pyclass(module = "fast_litellm._native", frozen)]
pub struct RateLimitFixedWindows {
    pub(super) table: FixedWindowTable,
}

#[pymethods]
impl RateLimitFixedWindows {
    #[new]
    #[pyo3(signature = (path=None, slots=1_048_576))]
    fn new(path: Option<&str>, slots: usize) -> PyResult<Self> {
        let table = match path {
            None => FixedWindowTable::new(),
            Some(p) => FixedWindowTable::open_shared(p, slots).map_err(fx_err)?,
        };
        Ok(RateLimitFixedWindows { table })
    }

    /// `should_rate_limit` for descriptors `ids[i]` (`"{key}:{value}"`) named
    /// `names[i]` (the descriptor key), limits flat `(requests, tokens,
    /// max_parallel)` per descriptor (None = not set). Returns LiteLLM's
    /// `RateLimitResponse` dict.
    fn check<'py>(
        &self,
        py: Python<'py>,
        ids: Vec<PyBackedStr>,
        names: &Bound<'py, PyList>,
        limits: &Bound<'py, PyList>,
        now_int: i64,
        now: f64,
        window_size: i64,
    ) -> PyResult<Bound<'py, PyDict>> {
        if limits.len() != 3 * ids.len() || names.len() != ids.len() {
            return Err(PyValueError::new_err("limits must hold 3 values per descriptor"));
        }
        let mut descs = Vec::with_capacity(ids.len());
        for (i, k) in ids.iter().enumerate() {
            descs.push(Desc {
                hash: self.table.hash(k),
                limits: [
                    opt_limit(&limits.get_item(3 * i)?)?,
                    opt_limit(&limits.get_item(3 * i + 1)?)?,
                    opt_limit(&limits.get_item(3 * i + 2)?)?,
                ],
            });
        }
        let r = self.table.check(&descs, now_int, now, window_size).map_err(fx_err)?;
        rate_limit_response(py, &r, |i| names.get_item(i))
    }

    /// LiteLLM 1.83's v3 pre-call check for the common case in one call: reads
    /// the `UserAPIKeyAuth`'s fields from its instance dict and `data["model"]`,
    /// builds the descriptors and runs `should_rate_limit`. `clock`: the
    /// limiter's second and the cache's time, or None for the system clock
    /// (LiteLLM's default clocks). `defaults`: False (no router), None (not
    /// looked up yet) or `(tpm, rpm)` deployment defaults for the model.
    /// Returns None (no descriptor), the `RateLimitResponse` dict (admitted),
    /// `(response, descriptors)` (refused), 1 (not the common case) or 2 (the
    /// router's defaults are needed).
    #[pyo3(signature = (auth, data, clock, window_size, defaults))]
    fn check_auth(
        &self,
        py: Python<'_>,
        auth: &Bound<'_, PyAny>,
        data: &Bound<'_, PyDict>,
        clock: Option<(i64, f64)>,
        window_size: i64,
        defaults: &Bound<'_, PyAny>,
    ) -> PyResult<PyObject> {
        match self.check_auth_inner(py, auth, data, clock, window_size, defaults)? {
            Ok(o) => Ok(o),
            Err(code) => Ok(code.into_pyobject(py)?.into_any().unbind()),
        }
    }

    /// Callback increments: `ops[i] = (id, entry, delta)` (entry: 1 requests,
    /// 2 tokens, 3 max_parallel_requests), each `(get or 0) + delta` then set
    /// with `default_ttl`.
    fn increment(&self, ops: Vec<(PyBackedStr, usize, i64)>, now: f64, default_ttl: f64) -> PyResult<()> {
        let mut v = Vec::with_capacity(ops.len());
        for (k, e, d) in &ops {
            if *e > 3 {
                return Err(PyValueError::new_err("entry must be 0..=3"));
            }
            v.push(Incr { hash: self.table.hash(k), entry: *e, delta: *d });
        }
        self.table.increment(&v, now, default_ttl).map_err(fx_err)
    }

    /// Entry `entry` (0 window, 1 requests, 2 tokens, 3 max_parallel_requests)
    /// of descriptor `id` at cache time `now`, or None.
    fn get(&self, id: &str, entry: usize, now: f64) -> Option<i64> {
        if entry > 3 {
            return None;
        }
        self.table.get(self.table.hash(id), entry, now)
    }

    #[getter]
    fn shared(&self) -> bool {
        self.table.is_shared()
    }
    #[getter]
    fn capacity(&self) -> usize {
        self.table.capacity()
    }
    #[getter]
    fn used(&self) -> usize {
        self.table.used()
    }
    /// Exact bytes of the table (header + slots).
    #[getter]
    fn nbytes(&self) -> usize {
        self.table.bytes()
    }
}

/// LiteLLM v3's `RateLimitResponse` dict for a check: `overall_code` and one status per
/// limit, `descriptor_key` given by `key_of(descriptor index)`.
pub(super) fn rate_limit_response<'py>(
    py: Python<'py>,
    r: &fx::Checked,
    key_of: impl Fn(usize) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let ok = pyo3::intern!(py, "OK");
    let over = pyo3::intern!(py, "OVER_LIMIT");
    let kinds = [
        pyo3::intern!(py, "requests"),
        pyo3::intern!(py, "tokens"),
        pyo3::intern!(py, "max_parallel_requests"),
    ];
    let out = PyDict::new(py);
    out.set_item(pyo3::intern!(py, "overall_code"), if r.over { over } else { ok })?;
    let st = PyList::empty(py);
    for s in &r.statuses {
        let d = PyDict::new(py);
        d.set_item(pyo3::intern!(py, "code"), if s.over { over } else { ok })?;
        d.set_item(pyo3::intern!(py, "current_limit"), s.limit)?;
        d.set_item(pyo3::intern!(py, "limit_remaining"), s.remaining)?;
        d.set_item(pyo3::intern!(py, "rate_limit_type"), kinds[s.kind as usize])?;
        d.set_item(pyo3::intern!(py, "descriptor_key"), key_of(s.desc)?)?;
        st.append(d)?;
    }
    out.set_item(pyo3::intern!(py, "statuses"), st)?;
    Ok(out)
}

/// The v3 limiter's two clocks from one reading of the system clock (see
/// `fast_litellm_core::ratelimit::fixed::clocks_from_ns`).
#[pyfunction]
pub fn ratelimit_clocks() -> (i64, f64) {
    fast_litellm_core::ratelimit::fixed::system_clocks()
}

/// The id the v3 table's slot locks are taken under (this process's pid, cached
/// and reset in a forked child), for tests.
#[pyfunction]
pub fn ratelimit_lock_owner() -> u64 {
    fast_litellm_core::ratelimit::fixed::lock_owner_id()
}

/// `clocks_from_ns(ns)`, for tests.
#[pyfunction]
pub fn ratelimit_clocks_from_ns(ns: i64) -> (i64, f64) {
    fast_litellm_core::ratelimit::fixed::clocks_from_ns(ns)
}
