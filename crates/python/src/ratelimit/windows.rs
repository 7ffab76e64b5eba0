//! `RateLimitWindows`: the v1 limiter's per-minute counters (see
//! `fast_litellm_core::ratelimit::window`).

use fast_litellm_core::ratelimit::window::{self as win, Admit, Check, Counts, Release, WindowTable};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::PyList;

pub(super) fn win_err(e: win::Error) -> PyErr {
    match e {
        win::Error::Overflow => PyValueError::new_err("rate-limit counter overflow"),
        win::Error::Full => pyo3::exceptions::PyMemoryError::new_err("shared rate-limit table is full"),
        win::Error::Io(s) => pyo3::exceptions::PyOSError::new_err(s),
    }
}

/// An exact `int` limit as i64, clamped (counts are < 2**40, so any limit past
/// int64 decides like its bound). Anything else is a TypeError.
fn limit_i64(o: &Bound<'_, PyAny>) -> PyResult<i64> {
    if !o.get_type().is(&o.py().get_type::<pyo3::types::PyInt>()) {
        return Err(pyo3::exceptions::PyTypeError::new_err("limit is not an int"));
    }
    match o.extract::<i64>() {
        Ok(v) => Ok(v),
        Err(_) => Ok(if o.gt(0)? { i64::MAX } else { i64::MIN }),
    }
}

fn pick(v: &[Counts], want: isize) -> Option<(u64, u64, u64)> {
    if want >= 0 {
        v.get(want as usize).copied().map(counts_tuple)
    } else {
        None
    }
}

pub(super) fn counts_tuple(c: Counts) -> (u64, u64, u64) {
    (c.requests, c.tpm, c.rpm)
}

/// Counters of LiteLLM's v1 proxy limiter, one fixed-size entry per scope string
/// (see `fast_litellm_core::ratelimit::window`). In this process's heap, or in
/// a memory-mapped file shared by every process that opens the same `path`.
#[pyclass(module = "fast_litellm._native", frozen)]
pub struct RateLimitWindows {
    pub(super) table: WindowTable,
}

#[pymethods]
impl RateLimitWindows {
    #[new]
    #[pyo3(signature = (path=None, slots=4_194_304))]
    fn new(path: Option<&str>, slots: usize) -> PyResult<Self> {
        let table = match path {
            None => WindowTable::new(),
            Some(p) => WindowTable::open_shared(p, slots).map_err(win_err)?,
        };
        Ok(RateLimitWindows { table })
    }

    /// Admission for scopes `keys[i]` with `limits[i] = (max_parallel, tpm, rpm)`,
    /// in order (`limits` is flat: 3 exact ints per key; beyond int64 they
    /// decide like int64's bounds since counts stay below 2**40). Returns `(-1, None, new value of keys[want] or None)` when all
    /// are admitted, else `(index, current counts or None, new value of
    /// keys[want] if it was admitted before the refusal)`.
    #[pyo3(signature = (window, keys, limits, want=-1))]
    fn admit(
        &self,
        window: u64,
        keys: Vec<PyBackedStr>,
        limits: &Bound<'_, PyList>,
        want: isize,
    ) -> PyResult<(isize, Option<(u64, u64, u64)>, Option<(u64, u64, u64)>)> {
        if limits.len() != 3 * keys.len() {
            return Err(PyValueError::new_err("limits must hold 3 ints per key"));
        }
        let mut checks: Vec<Check> = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            checks.push(Check {
                hash: self.table.hash(k),
                max_parallel: limit_i64(&limits.get_item(3 * i)?)?,
                tpm_limit: limit_i64(&limits.get_item(3 * i + 1)?)?,
                rpm_limit: limit_i64(&limits.get_item(3 * i + 2)?)?,
            });
        }
        match self.table.admit(window, &checks).map_err(win_err)? {
            Admit::Ok(v) => Ok((-1, None, pick(&v, want))),
            Admit::Refused { index, current, written } => Ok((index as isize, current.map(counts_tuple), pick(&written, want))),
        }
    }

    /// Success/failure callbacks: `ops[i] = (key, released, tokens, (req, tpm, rpm) default)`.
    fn release(&self, window: u64, ops: Vec<(String, u64, u64, (u64, u64, u64))>) -> PyResult<()> {
        let rel: Vec<Release> = ops
            .iter()
            .map(|(k, r, t, d)| Release {
                hash: self.table.hash(k),
                released: *r,
                tokens: *t,
                default: Counts { requests: d.0, tpm: d.1, rpm: d.2 },
            })
            .collect();
        self.table.release(window, &rel).map_err(win_err)
    }

    /// `(current_requests, current_tpm, current_rpm)` of `key` in `window`, or None.
    fn get(&self, window: u64, key: &str) -> Option<(u64, u64, u64)> {
        self.table.get(window, self.table.hash(key)).map(counts_tuple)
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
    fn live(&self, window: u64) -> usize {
        self.table.live(window)
    }
}
