//! `RateLimitStore`: an exact model of LiteLLM's `InMemoryCache` (see
//! `fast_litellm_core::ratelimit`) whose counter values live as fixed-size Rust values
//! instead of Python objects.

use std::collections::HashMap;

use fast_litellm_core::ratelimit::{Flavor, TtlStore};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

const F_REQ: &str = "current_requests";
const F_TPM: &str = "current_tpm";
const F_RPM: &str = "current_rpm";

#[derive(Clone, Copy, Debug)]
enum Value {
    Int(i64),
    /// `{"current_requests": a, "current_tpm": b, "current_rpm": c}` in that order.
    Triple(i64, i64, i64),
    /// Any other Python object, held in the store's object table.
    Obj(u64),
}

fn exact_i64(v: &Bound<'_, PyAny>) -> Option<i64> {
    // Exact `int` only (not bool, not subclasses).
    if v.get_type().is(&v.py().get_type::<pyo3::types::PyInt>()) {
        v.extract::<i64>().ok()
    } else {
        None
    }
}

fn as_triple(v: &Bound<'_, PyAny>) -> Option<(i64, i64, i64)> {
    if !v.get_type().is(&v.py().get_type::<PyDict>()) {
        return None;
    }
    let d = v.downcast::<PyDict>().ok()?;
    if d.len() != 3 {
        return None;
    }
    let mut out = [0i64; 3];
    for (i, (k, val)) in d.iter().enumerate() {
        let name = [F_REQ, F_TPM, F_RPM][i];
        let ks = k.downcast::<PyString>().ok()?;
        if !k.get_type().is(&v.py().get_type::<PyString>()) || ks.to_cow().ok()?.as_ref() != name {
            return None;
        }
        out[i] = exact_i64(&val)?;
    }
    Some((out[0], out[1], out[2]))
}

#[pyclass(module = "fast_litellm._native")]
pub struct RateLimitStore {
    store: TtlStore<Value>,
    objs: HashMap<u64, Py<PyAny>>,
    next_obj: u64,
}

impl RateLimitStore {
    fn to_value(&mut self, value: &Bound<'_, PyAny>) -> Value {
        if let Some(i) = exact_i64(value) {
            return Value::Int(i);
        }
        if let Some((a, b, c)) = as_triple(value) {
            return Value::Triple(a, b, c);
        }
        self.sweep_objs();
        let id = self.next_obj;
        self.next_obj += 1;
        self.objs.insert(id, value.clone().unbind());
        Value::Obj(id)
    }

    fn to_py(&self, py: Python<'_>, v: Value) -> PyResult<PyObject> {
        Ok(match v {
            Value::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
            Value::Triple(a, b, c) => {
                let d = PyDict::new(py);
                d.set_item(F_REQ, a)?;
                d.set_item(F_TPM, b)?;
                d.set_item(F_RPM, c)?;
                d.into_any().unbind()
            }
            Value::Obj(id) => match self.objs.get(&id) {
                Some(o) => o.clone_ref(py),
                None => py.None(),
            },
        })
    }

    /// Drop Python objects no stored entry refers to any more.
    fn sweep_objs(&mut self) {
        if self.objs.len() < 64 || self.objs.len() < 2 * self.store.len() {
            return;
        }
        let live: std::collections::HashSet<u64> = self
            .store
            .entries()
            .filter_map(|(_, v, _)| if let Value::Obj(id) = v { Some(*id) } else { None })
            .collect();
        self.objs.retain(|id, _| live.contains(id));
    }
}

#[pymethods]
impl RateLimitStore {
    #[new]
    #[pyo3(signature = (max_size, default_ttl, flavor))]
    fn new(max_size: usize, default_ttl: f64, flavor: &str) -> PyResult<Self> {
        let flavor = match flavor {
            "1.83" => Flavor::V1_83,
            "1.110" => Flavor::V1_110,
            other => return Err(PyValueError::new_err(format!("unknown flavor {other:?}"))),
        };
        Ok(RateLimitStore { store: TtlStore::new(max_size, default_ttl, flavor), objs: HashMap::new(), next_obj: 0 })
    }

    fn evict(&mut self, now: f64) {
        self.store.evict(now);
    }

    #[pyo3(signature = (key, value, ttl, now))]
    fn set(&mut self, key: &str, value: &Bound<'_, PyAny>, ttl: Option<f64>, now: f64) {
        let v = self.to_value(value);
        self.store.set(key, v, ttl, now);
    }

    /// Set several `(key, value)` pairs, each as its own `set_cache` call.
    fn set_many(&mut self, items: &Bound<'_, PyList>, ttl: Option<f64>, now: f64) -> PyResult<()> {
        for item in items.iter() {
            let t = item.downcast::<PyTuple>()?;
            let key = t.get_item(0)?;
            let key = key.downcast::<PyString>()?;
            let v = self.to_value(&t.get_item(1)?);
            self.store.set(key.to_cow()?.as_ref(), v, ttl, now);
        }
        Ok(())
    }

    fn get(&mut self, py: Python<'_>, key: &str, now: f64) -> PyResult<PyObject> {
        match self.store.get(key, now) {
            Some(v) => self.to_py(py, v),
            None => Ok(py.None()),
        }
    }

    /// `batch_get_cache`: one `get_cache` per key; non-string keys read as None.
    fn get_many(&mut self, py: Python<'_>, keys: &Bound<'_, PyAny>, now: f64) -> PyResult<Py<PyList>> {
        let out = PyList::empty(py);
        for k in keys.try_iter()? {
            let k = k?;
            let got = match k.downcast::<PyString>() {
                Ok(s) => match self.store.get(s.to_cow()?.as_ref(), now) {
                    Some(v) => self.to_py(py, v)?,
                    None => py.None(),
                },
                Err(_) => py.None(),
            };
            out.append(got)?;
        }
        Ok(out.unbind())
    }

    /// `increment_cache` for an integer delta, in one step (atomic under the GIL):
    /// `(get_cache(key) or 0) + delta`, then `set_cache`. Returns None (nothing
    /// done) when the stored value is not an integer or the sum overflows.
    fn incr(&mut self, key: &str, delta: i64, ttl: Option<f64>, now: f64) -> Option<i64> {
        let cur = match self.store.get(key, now) {
            None => 0,
            Some(Value::Int(i)) => i,
            Some(Value::Obj(id)) => {
                // None/False stored: `or 0` gives 0; anything else is Python's business.
                let falsy = Python::with_gil(|py| {
                    self.objs.get(&id).map(|o| o.bind(py).is_none()).unwrap_or(false)
                });
                if falsy {
                    0
                } else {
                    return None;
                }
            }
            Some(Value::Triple(..)) => return None,
        };
        let new = cur.checked_add(delta)?;
        self.store.set(key, Value::Int(new), ttl, now);
        Some(new)
    }

    fn contains(&self, key: &str) -> bool {
        self.store.peek(key).is_some()
    }

    fn delete(&mut self, key: &str) {
        self.store.delete(key);
    }

    fn flush(&mut self) {
        self.store.flush();
        self.objs.clear();
    }

    fn ttl(&self, key: &str) -> Option<f64> {
        self.store.ttl(key)
    }

    fn __len__(&self) -> usize {
        self.store.len()
    }

    fn heap_len(&self) -> usize {
        self.store.heap_len()
    }

    /// Snapshot of every entry as `(key, value, expiry)`.
    fn items(&self, py: Python<'_>) -> PyResult<Vec<(String, PyObject, Option<f64>)>> {
        self.store
            .entries()
            .map(|(k, v, e)| Ok((k.to_string(), self.to_py(py, *v)?, e)))
            .collect()
    }

    /// Snapshot of the expiry heap as sorted `(expiry, key)` pairs.
    fn heap_items(&self) -> Vec<(f64, String)> {
        let mut v: Vec<(f64, String)> = self.store.heap_items().map(|(e, k)| (e, k.to_string())).collect();
        v.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.1.cmp(&b.1)));
        v
    }

    fn approx_bytes(&self) -> usize {
        self.store.approx_bytes() + self.objs.len() * 48
    }

    #[getter]
    fn max_size(&self) -> usize {
        self.store.max_size
    }

    #[setter]
    fn set_max_size(&mut self, v: usize) {
        self.store.max_size = v;
    }

    #[getter]
    fn default_ttl(&self) -> f64 {
        self.store.default_ttl
    }

    #[setter]
    fn set_default_ttl(&mut self, v: f64) {
        self.store.default_ttl = v;
    }
}
