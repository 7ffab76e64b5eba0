//! The v3 pre-call check in one call (`RateLimitFixedWindows.check_auth`): the
//! `UserAPIKeyAuth`'s fields read into a `V3Request` (conversion only; logic in core).

use fast_litellm_core::ratelimit::fixed::{ModelLimit, V3Kind, V3Request};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use pyo3::Borrowed;

use super::fixed_windows::{fx_err, opt_limit, rate_limit_response, RateLimitFixedWindows};
use super::pyconv::{dget, is_exact, opt_str_b, str_bound, touch, truthy_plain};
use super::NOT_COVERED;

/// Returned when the router's deployment defaults are needed and not given.
const NEED_DEFAULTS: i64 = 2;

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
    pub(super) fn check_auth_inner<'py>(
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

static AUTH_NAMES: pyo3::sync::GILOnceCell<Vec<Py<PyString>>> = pyo3::sync::GILOnceCell::new();
static KIND_NAMES: pyo3::sync::GILOnceCell<Vec<Py<PyString>>> = pyo3::sync::GILOnceCell::new();
