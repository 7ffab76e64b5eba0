//! `RateLimitStore110`: the local entries of LiteLLM 1.110.x's v3 limiter
//! (see `fast_litellm_core::ratelimit::store110`). Conversion and GIL handling only.

use fast_litellm_core::ratelimit::store110::{now, Num, Store110, Val};
use pyo3::exceptions::{PyOSError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyString};

#[pyclass(module = "fast_litellm._native", frozen)]
pub struct RateLimitStore110 {
    store: Store110,
}

/// Holds one level of the table lock; released on drop.
struct Held<'a>(&'a Store110);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

impl RateLimitStore110 {
    /// Take the table lock, waiting without the GIL when another thread or process holds it.
    fn hold(&self, py: Python<'_>) -> Held<'_> {
        if !self.store.try_lock() {
            py.allow_threads(|| self.store.lock());
        }
        Held(&self.store)
    }
}

fn to_py(py: Python<'_>, v: Option<Val>) -> PyObject {
    match v {
        None => py.None(),
        Some(Val::Int(i)) => i.into_pyobject(py).unwrap().into_any().unbind(),
        Some(Val::Float(f)) => PyFloat::new(py, f).into_any().unbind(),
        Some(Val::Text(i)) => PyString::new(py, &i.to_string()).into_any().unbind(),
        Some(Val::Foreign) => py.Ellipsis(),
    }
}

/// The value as this table stores it, or None when it does not represent it.
fn from_py(v: &Bound<'_, PyAny>) -> Option<Val> {
    if v.is_exact_instance_of::<PyInt>() {
        return v.extract::<i64>().ok().map(Val::Int);
    }
    if v.is_exact_instance_of::<PyFloat>() {
        return v.extract::<f64>().ok().map(Val::Float);
    }
    if v.is_exact_instance_of::<PyString>() {
        let s: String = v.extract().ok()?;
        let s = s.as_str();
        let i: i64 = s.parse().ok()?;
        return if i.to_string() == s { Some(Val::Text(i)) } else { None };
    }
    None
}

#[pymethods]
impl RateLimitStore110 {
    #[new]
    #[pyo3(signature = (path=None, slots=1_048_576))]
    fn new(path: Option<&str>, slots: usize) -> PyResult<Self> {
        let store = match path {
            None => Store110::new(),
            Some(p) => Store110::open(p, slots).map_err(|e| PyOSError::new_err(format!("{e:?}")))?,
        };
        Ok(RateLimitStore110 { store })
    }

    /// The live value of entry (key, value, suffix): None, int, float, str, or
    /// Ellipsis when the caller holds it elsewhere.
    fn get(&self, py: Python<'_>, key: &str, value: &str, suffix: &str) -> PyObject {
        let _h = self.hold(py);
        let h = self.store.hash(key, value, suffix);
        to_py(py, self.store.get(h, now()))
    }

    /// `set_local`; False (nothing written) when the value is not one this table represents.
    #[pyo3(signature = (key, value, suffix, v, ttl))]
    fn set(&self, py: Python<'_>, key: &str, value: &str, suffix: &str, v: &Bound<'_, PyAny>, ttl: Option<f64>) -> bool {
        let Some(val) = from_py(v) else { return false };
        let _h = self.hold(py);
        let h = self.store.hash(key, value, suffix);
        self.store.set(h, val, ttl, now());
        true
    }

    /// Mark the entry as held by the caller elsewhere (same expiry rules).
    fn set_foreign(&self, py: Python<'_>, key: &str, value: &str, suffix: &str, ttl: Option<f64>) {
        let _h = self.hold(py);
        let h = self.store.hash(key, value, suffix);
        self.store.set(h, Val::Foreign, ttl, now());
    }

    /// The memory increment: the new value, None when the live entry is a
    /// string (unchanged), Ellipsis when the caller holds it elsewhere.
    fn incr(&self, py: Python<'_>, key: &str, value: &str, suffix: &str, amount: &Bound<'_, PyAny>, ttl: Option<i64>) -> PyResult<PyObject> {
        let amt = if amount.is_exact_instance_of::<PyInt>() {
            Num::Int(amount.extract::<i64>().map_err(|_| PyTypeError::new_err("increment amount out of range"))?)
        } else if amount.is_instance_of::<PyFloat>() {
            Num::Float(amount.extract::<f64>()?)
        } else {
            return Err(PyTypeError::new_err("expected an int or a float"));
        };
        let _h = self.hold(py);
        let h = self.store.hash(key, value, suffix);
        Ok(to_py(py, self.store.incr(h, amt, ttl.map(|t| t as f64), now())))
    }

    /// The expiry (Unix seconds; inf = never) of a live entry, else None.
    fn expiry(&self, py: Python<'_>, key: &str, value: &str, suffix: &str) -> Option<f64> {
        let _h = self.hold(py);
        let h = self.store.hash(key, value, suffix);
        self.store.expiry(h, now())
    }

    /// Take the table lock (re-entrant; across processes for a shared table).
    fn lock(&self, py: Python<'_>) {
        if !self.store.try_lock() {
            py.allow_threads(|| self.store.lock());
        }
    }

    fn unlock(&self) {
        self.store.unlock();
    }

    #[getter]
    fn held(&self) -> bool {
        self.store.held()
    }
    #[getter]
    fn shared(&self) -> bool {
        self.store.shared()
    }
    #[getter]
    fn capacity(&self) -> usize {
        self.store.capacity()
    }
    #[getter]
    fn used(&self) -> usize {
        self.store.used()
    }
    #[getter]
    fn nbytes(&self) -> usize {
        self.store.nbytes()
    }
    fn live(&self) -> usize {
        self.store.live(now())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RateLimitStore110>()?;
    Ok(())
}
