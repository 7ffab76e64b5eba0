//! Bindings for the rate-limit component: `RateLimitStore`, an exact model of
//! LiteLLM's `InMemoryCache` (see `fast_litellm_core::ratelimit`) whose
//! counter values live as fixed-size Rust values instead of Python objects.

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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RateLimitStore>()?;
    m.add_class::<RateLimitWindows>()?;
    m.add_class::<RateLimitFixedWindows>()?;
    m.add_class::<RateLimitV1Fast>()?;
    m.add_class::<RateLimitV3Fast>()?;
    m.add_function(wrap_pyfunction!(ratelimit_local_minute, m)?)?;
    m.add_function(wrap_pyfunction!(ratelimit_clocks, m)?)?;
    m.add_function(wrap_pyfunction!(ratelimit_clocks_from_ns, m)?)?;
    m.add_function(wrap_pyfunction!(ratelimit_lock_owner, m)?)?;
    Ok(())
}

// -- the v1 limiter's per-minute table ------------------------------------------

use pyo3::pybacked::PyBackedStr;
use fast_litellm_core::ratelimit::window::{self as win, Admit, Check, Counts, Release, WindowTable};

fn win_err(e: win::Error) -> PyErr {
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

fn counts_tuple(c: Counts) -> (u64, u64, u64) {
    (c.requests, c.tpm, c.rpm)
}

/// Counters of LiteLLM's v1 proxy limiter, one fixed-size entry per scope string
/// (see `fast_litellm_core::ratelimit::window`). In this process's heap, or in
/// a memory-mapped file shared by every process that opens the same `path`.
#[pyclass(module = "fast_litellm._native", frozen)]
pub struct RateLimitWindows {
    table: WindowTable,
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

// -- the v3 limiter's fixed-window table ------------------------------------------

use fast_litellm_core::ratelimit::fixed::{self as fx, Desc, FixedWindowTable, Incr};

fn fx_err(e: fx::Error) -> PyErr {
    match e {
        fx::Error::Overflow => PyValueError::new_err("rate-limit counter overflow"),
        fx::Error::Full => pyo3::exceptions::PyMemoryError::new_err("shared rate-limit table is full"),
        fx::Error::Io(s) => pyo3::exceptions::PyOSError::new_err(s),
    }
}

const LIMIT_MAX: i64 = 1 << 62;

/// None, or an exact `int` within +-2**62 (anything else: TypeError, LiteLLM's code runs).
fn opt_limit(o: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
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
    table: FixedWindowTable,
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

// -- the v3 pre-call check in one call (conversion only; logic in core) ----------

use fast_litellm_core::ratelimit::fixed::{ModelLimit, V3Kind, V3Request};

/// Returned when the fused path does not cover the request (the caller builds
/// descriptors with its general path).
const NOT_COVERED: i64 = 1;
/// Returned when the router's deployment defaults are needed and not given.
const NEED_DEFAULTS: i64 = 2;

fn is_exact<T: pyo3::PyTypeInfo>(o: &Bound<'_, PyAny>) -> bool {
    o.get_type().is(&o.py().get_type::<T>())
}

/// None, or an exact int within +-2**62 (anything else: not covered).
fn opt_int(o: &Bound<'_, PyAny>) -> Option<Option<i64>> {
    opt_limit(o).ok()
}

/// Falsy in the ways the common case allows: None or an empty dict.
fn empty(o: &Bound<'_, PyAny>) -> bool {
    o.is_none() || (is_exact::<PyDict>(o) && o.downcast::<PyDict>().map(|d| d.is_empty()).unwrap_or(false))
}

/// `got` from `metadata.get("model_*_limit")` (truthy) as the model's entry.
fn model_map(got: &Bound<'_, PyAny>, model: &Bound<'_, PyAny>) -> Option<ModelLimit> {
    if !is_exact::<PyDict>(got) {
        return None;
    }
    match got.downcast::<PyDict>().ok()?.get_item(model).ok()? {
        None => Some(ModelLimit::NotListed),
        Some(v) => Some(ModelLimit::Listed(opt_int(&v)?)),
    }
}

const AUTH_FIELDS: [&str; 24] = [
    "metadata",              // 0
    "team_metadata",         // 1
    "project_metadata",      // 2
    "organization_metadata", // 3
    "agent_id",              // 4
    "org_id",                // 5
    "organization_rpm_limit",
    "organization_tpm_limit", // 7
    "api_key",                // 8
    "rpm_limit",
    "tpm_limit",
    "max_parallel_requests", // 11
    "user_id",               // 12
    "user_rpm_limit",
    "user_tpm_limit",
    "team_id", // 15
    "team_rpm_limit",
    "team_tpm_limit",
    "team_member_rpm_limit",
    "team_member_tpm_limit", // 19
    "end_user_id",           // 20
    "end_user_rpm_limit",
    "end_user_tpm_limit",
    "model_max_budget", // 23
];

impl RateLimitFixedWindows {
    #[allow(clippy::too_many_arguments)]
    fn check_auth_inner<'py>(
        &self,
        py: Python<'py>,
        auth: &Bound<'py, PyAny>,
        data: &Bound<'py, PyDict>,
        clock: Option<(i64, f64)>,
        window_size: i64,
        defaults: &Bound<'py, PyAny>,
    ) -> PyResult<Result<PyObject, i64>> {
        let names = AUTH_NAMES.get_or_init(py, || AUTH_FIELDS.iter().map(|n| PyString::intern(py, n).unbind()).collect());
        let Ok(dict) = auth.getattr(pyo3::intern!(py, "__dict__")) else { return Ok(Err(NOT_COVERED)) };
        let Ok(dict) = dict.downcast_into::<PyDict>() else { return Ok(Err(NOT_COVERED)) };
        macro_rules! nc {
            ($e:expr) => {
                match $e {
                    Some(x) => x,
                    None => return Ok(Err(NOT_COVERED)),
                }
            };
        }
        // The fields every common-case request reads are looked up first, together,
        // and their values' headers touched: independent loads, so the cache misses
        // of a cold instance dict overlap instead of queueing. Others are read when
        // LiteLLM's builders would read them.
        let mut vals: [Option<Borrowed<'_, 'py, PyAny>>; 24] = [None; 24];
        for i in [8usize, 0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 15, 20, 23] {
            vals[i] = dget(py, &dict, names[i].bind(py));
        }
        touch(&vals);
        macro_rules! get {
            ($i:expr) => {
                {
                    let b: Borrowed<'_, 'py, PyAny> = nc!(vals[$i].or_else(|| dget(py, &dict, names[$i].bind(py))));
                    b
                }
            };
        }
        // Values are borrowed from the instance dict: only exact None/bool/int/
        // str/dict values are looked at (no Python code runs while they are held).
        // The api key first: its descriptor's slot is prefetched while the other
        // fields are read.
        let o_ak = get!(8);
        let api_key = nc!(opt_str_b(&o_ak));
        if let Some(ak) = api_key.filter(|s| !s.is_empty()) {
            let mut id = String::with_capacity(8 + ak.len());
            id.push_str("api_key:");
            id.push_str(ak);
            self.table.prefetch(&id);
        }
        // The common case (else LiteLLM's builders run): no dynamic limit types, no
        // team/project/organisation metadata, no agent, no organisation limits.
        let md = get!(0);
        let md_dict = if md.is_none() {
            None
        } else if is_exact::<PyDict>(&md) {
            Some(md.downcast::<PyDict>()?)
        } else {
            return Ok(Err(NOT_COVERED));
        };
        if let Some(m) = md_dict {
            if m.contains(pyo3::intern!(py, "rpm_limit_type"))? || m.contains(pyo3::intern!(py, "tpm_limit_type"))? {
                return Ok(Err(NOT_COVERED));
            }
        }
        if !empty(&*get!(1)) || !empty(&*get!(2)) || !empty(&*get!(3)) {
            return Ok(Err(NOT_COVERED));
        }
        let agent = get!(4);
        if !(agent.is_none() || (is_exact::<PyString>(&agent) && agent.downcast::<PyString>()?.to_cow()?.is_empty())) {
            return Ok(Err(NOT_COVERED));
        }
        if !get!(5).is_none() && (!get!(6).is_none() || !get!(7).is_none()) {
            return Ok(Err(NOT_COVERED));
        }
        match data.get_item(pyo3::intern!(py, "metadata"))? {
            None => {}
            Some(m) if m.is_none() => {}
            Some(m) => {
                if !is_exact::<PyDict>(&m) {
                    return Ok(Err(NOT_COVERED));
                }
                if let Some(a) = m.downcast::<PyDict>()?.get_item(pyo3::intern!(py, "agent_id"))? {
                    if nc!(truthy_plain(&a)) {
                        return Ok(Err(NOT_COVERED));
                    }
                }
            }
        }
        let (o_uid, o_tid, o_eid) = (get!(12), get!(15), get!(20));
        let mut r = V3Request {
            api_key,
            user_id: nc!(opt_str_b(&o_uid)),
            team_id: nc!(opt_str_b(&o_tid)),
            end_user_id: nc!(opt_str_b(&o_eid)),
            ..Default::default()
        };
        if r.api_key.is_some_and(|s| !s.is_empty()) {
            r.key_limits = [nc!(opt_int(&*get!(9))), nc!(opt_int(&*get!(10))), nc!(opt_int(&*get!(11)))];
        }
        if r.user_id.is_some_and(|s| !s.is_empty()) {
            r.user_limits = [nc!(opt_int(&*get!(13))), nc!(opt_int(&*get!(14)))];
            r.team_member_limits = [nc!(opt_int(&*get!(18))), nc!(opt_int(&*get!(19)))];
        }
        if r.team_id.is_some_and(|s| !s.is_empty()) {
            r.team_limits = [nc!(opt_int(&*get!(16))), nc!(opt_int(&*get!(17)))];
        }
        if r.end_user_id.is_some_and(|s| !s.is_empty()) {
            r.end_user_limits = [nc!(opt_int(&*get!(21))), nc!(opt_int(&*get!(22)))];
        }
        let model_obj = data.get_item(pyo3::intern!(py, "model"))?;
        if let Some(m) = &model_obj {
            r.model = nc!(if m.is_none() { Some(None) } else { str_bound(m).map(Some) });
        }
        if let (Some(name), Some(m)) = (r.model.filter(|s| !s.is_empty()), &model_obj) {
            let _ = name;
            // get_key_model_{tpm,rpm}_limit: key metadata, else model_max_budget
            // (not this path), else the router's deployment default.
            let mut need_default = [false; 2];
            let mut got = [ModelLimit::NoMap; 2];
            for (i, key) in [pyo3::intern!(py, "model_tpm_limit"), pyo3::intern!(py, "model_rpm_limit")].iter().enumerate() {
                let found = match md_dict {
                    Some(d) if !d.is_empty() => d.get_item(key)?,
                    _ => None,
                };
                match found {
                    Some(x) if nc!(truthy_plain(&x)) => got[i] = nc!(model_map(&x, m)),
                    _ => {
                        if !empty(&*get!(23)) {
                            return Ok(Err(NOT_COVERED));
                        }
                        need_default[i] = true;
                    }
                }
            }
            if need_default[0] || need_default[1] {
                if defaults.is_none() {
                    return Ok(Err(NEED_DEFAULTS));
                }
                if !defaults.is(&pyo3::types::PyBool::new(py, false).to_owned().into_any()) {
                    let t = defaults.downcast::<PyTuple>()?;
                    for i in 0..2 {
                        if need_default[i] {
                            got[i] = match nc!(opt_int(&t.get_item(i)?)) {
                                None => ModelLimit::NoMap,
                                Some(x) => ModelLimit::Listed(Some(x)),
                            };
                        }
                    }
                }
            }
            r.model_limits = (got[0], got[1]);
        }
        let Some((ds, c)) = self.table.check_request(&r, clock, window_size).map_err(fx_err)? else {
            return Ok(Ok(py.None()));
        };
        let kind_names = KIND_NAMES.get_or_init(py, || V3Kind::ALL.iter().map(|k| PyString::intern(py, k.name()).unbind()).collect());
        let kname = |k: V3Kind| kind_names[V3Kind::ALL.iter().position(|x| *x == k).unwrap_or(0)].bind(py);
        let out = rate_limit_response(py, &c, |i| Ok(kname(ds[i].kind).clone().into_any()))?;
        if !c.over {
            return Ok(Ok(out.into_any().unbind()));
        }
        let descs = PyList::empty(py);
        for d in &ds {
            let x = PyDict::new(py);
            x.set_item(pyo3::intern!(py, "key"), kname(d.kind))?;
            x.set_item(pyo3::intern!(py, "value"), d.value())?;
            descs.append(x)?;
        }
        Ok(Ok(PyTuple::new(py, [out.into_any(), descs.into_any()])?.into_any().unbind()))
    }
}

/// LiteLLM v3's `RateLimitResponse` dict for a check: `overall_code` and one status per
/// limit, `descriptor_key` given by `key_of(descriptor index)`.
fn rate_limit_response<'py>(
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

static AUTH_NAMES: pyo3::sync::GILOnceCell<Vec<Py<PyString>>> = pyo3::sync::GILOnceCell::new();
static KIND_NAMES: pyo3::sync::GILOnceCell<Vec<Py<PyString>>> = pyo3::sync::GILOnceCell::new();

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

// -- the v1 pre-call check in one call (conversion only; logic in core) ----------

use fast_litellm_core::ratelimit::window::{V1Kind, V1Request};
use pyo3::Borrowed;

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


/// None, or an exact int that fits i64 (anything else: not covered).
fn opt_i64_b(o: &Borrowed<'_, '_, PyAny>) -> Option<Option<i64>> {
    if o.is_none() {
        return Some(None);
    }
    if !is_exact::<pyo3::types::PyInt>(o) {
        return None;
    }
    o.extract::<i64>().ok().map(Some)
}

extern "C" {
    // In the stable ABI from 3.10, exported by every CPython 3: the str's own
    // UTF-8 buffer (cached in the object; for ASCII, its data), no copy.
    #[link_name = "PyUnicode_AsUTF8AndSize"]
    fn unicode_as_utf8(o: *mut pyo3::ffi::PyObject, size: *mut pyo3::ffi::Py_ssize_t) -> *const std::os::raw::c_char;
}

/// `d[k]` as a borrowed reference (no refcount traffic), None if absent or on error
/// (cleared). Only for dicts no Python code runs on while the reference is used.
#[inline]
fn dget<'a, 'py>(py: Python<'py>, d: &'a Bound<'py, PyDict>, k: &Bound<'py, PyString>) -> Option<Borrowed<'a, 'py, PyAny>> {
    // SAFETY: valid dict and key; the value is borrowed from `d`, which outlives 'a
    // and is not mutated while it is used (no Python code runs in between).
    unsafe {
        let p = pyo3::ffi::PyDict_GetItemWithError(d.as_ptr(), k.as_ptr());
        if p.is_null() {
            if !pyo3::ffi::PyErr_Occurred().is_null() {
                let _ = PyErr::take(py);
            }
            return None;
        }
        Some(Borrowed::from_ptr(py, p))
    }
}

/// Load each value's type pointer (no effect on values): issued back to back, the
/// loads of cold objects overlap, so the checks that follow find them cached.
#[inline]
fn touch(vals: &[Option<Borrowed<'_, '_, PyAny>>]) {
    let mut acc = 0usize;
    for v in vals.iter().flatten() {
        // SAFETY: a valid object pointer; reading its type pointer has no effect.
        acc ^= unsafe { (*v.as_ptr()).ob_type as usize };
    }
    std::hint::black_box(acc);
}

/// The UTF-8 text of the str object `o` (None: not encodable).
///
/// SAFETY: `o` is an exact `str` that the caller keeps alive for `'a` (its UTF-8
/// buffer is cached in the object and lives as long as it).
#[inline]
unsafe fn exact_str_text<'a>(py: Python<'_>, o: *mut pyo3::ffi::PyObject) -> Option<&'a str> {
    let mut n: pyo3::ffi::Py_ssize_t = 0;
    let p = unicode_as_utf8(o, &mut n);
    if p.is_null() {
        let _ = PyErr::take(py);
        return None;
    }
    Some(std::str::from_utf8_unchecked(std::slice::from_raw_parts(p as *const u8, n as usize)))
}

/// The text of an exact `str` held by the caller (None: not a str, or not encodable).
#[inline]
fn str_bound<'a>(o: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    if !is_exact::<PyString>(o) {
        return None;
    }
    // SAFETY: `o` is an exact str, held for 'a.
    unsafe { exact_str_text(o.py(), o.as_ptr()) }
}

/// Truthiness of an exact None/bool/int/str/dict/list (no Python code runs);
/// None (not covered) for any other type.
#[inline]
fn truthy_plain(o: &Bound<'_, PyAny>) -> Option<bool> {
    if o.is_none() {
        return Some(false);
    }
    if is_exact::<pyo3::types::PyBool>(o)
        || is_exact::<pyo3::types::PyInt>(o)
        || is_exact::<PyString>(o)
        || is_exact::<PyDict>(o)
        || is_exact::<PyList>(o)
    {
        return o.is_truthy().ok();
    }
    None
}

/// The text of an exact `str` (None: not a str, or not encodable).
#[inline]
fn str_of<'a>(o: &Borrowed<'a, '_, PyAny>) -> Option<&'a str> {
    if !is_exact::<PyString>(o) {
        return None;
    }
    // SAFETY: `o` is an exact str, borrowed for 'a.
    unsafe { exact_str_text(o.py(), o.as_ptr()) }
}

/// None, or an exact str.
#[inline]
fn opt_str_b<'a>(o: &Borrowed<'a, '_, PyAny>) -> Option<Option<&'a str>> {
    if o.is_none() {
        Some(None)
    } else {
        str_of(o).map(Some)
    }
}

/// Falsy for None or an empty exact dict; None (not covered) for other types.
#[inline]
fn falsy_none_or_dict(o: &Borrowed<'_, '_, PyAny>) -> Option<bool> {
    if o.is_none() {
        return Some(true);
    }
    if !is_exact::<PyDict>(o) {
        return None;
    }
    o.downcast::<PyDict>().ok().map(|d| d.is_empty())
}

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

// -- the v3 pre-call hook's common case in one call --------------------------------

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
