//! Bindings for the cost component: a price table owned by Python, costed in Rust.

use fast_litellm_core::cost::{PriceTable, Rates, Tier, TokenUsage};
use pyo3::exceptions::PyIndexError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple};

const MAX_TOKENS: i64 = 1 << 52;

/// The three places a pydantic model keeps its values: the instance `__dict__` (fields, read
/// at once), `__pydantic_extra__` and `__pydantic_private__` (read on first need; `None` when
/// empty). Each is read at most once per object.
struct Holders<'py> {
    obj: Bound<'py, PyAny>,
    d: Bound<'py, PyDict>,
    extra: Option<Option<Bound<'py, PyDict>>>,
    private: Option<Option<Bound<'py, PyDict>>>,
}

fn nonempty_dict<'py>(v: PyResult<Bound<'py, PyAny>>) -> PyResult<Option<Bound<'py, PyDict>>> {
    match v {
        Ok(h) if !h.is_none() => {
            let h = h.downcast_into::<PyDict>()?;
            Ok(if h.is_empty() { None } else { Some(h) })
        }
        _ => Ok(None),
    }
}

impl<'py> Holders<'py> {
    fn of(obj: &Bound<'py, PyAny>) -> PyResult<Option<Self>> {
        let d = match obj.getattr(intern!(obj.py(), "__dict__")) {
            Ok(d) => d,
            Err(_) => return Ok(None),
        };
        let d = d.downcast_into::<PyDict>()?;
        Ok(Some(Holders { obj: obj.clone(), d, extra: None, private: None }))
    }

    fn extra(&mut self) -> PyResult<Option<&Bound<'py, PyDict>>> {
        if self.extra.is_none() {
            self.extra = Some(nonempty_dict(self.obj.getattr(intern!(self.obj.py(), "__pydantic_extra__")))?);
        }
        Ok(self.extra.as_ref().and_then(|e| e.as_ref()))
    }

    fn private(&mut self) -> PyResult<Option<&Bound<'py, PyDict>>> {
        if self.private.is_none() {
            self.private = Some(nonempty_dict(self.obj.getattr(intern!(self.obj.py(), "__pydantic_private__")))?);
        }
        Ok(self.private.as_ref().and_then(|e| e.as_ref()))
    }

    /// The first non-None of `__dict__[name]`, `__pydantic_extra__[name]` and, with
    /// `with_private` (only underscore names live there), `__pydantic_private__[name]`.
    fn get(&mut self, name: &Bound<'py, PyString>, with_private: bool) -> PyResult<Option<Bound<'py, PyAny>>> {
        if let Some(v) = self.d.get_item(name)? {
            if !v.is_none() {
                return Ok(Some(v));
            }
        }
        if let Some(e) = self.extra()? {
            if let Some(v) = e.get_item(name)? {
                if !v.is_none() {
                    return Ok(Some(v));
                }
            }
        }
        if with_private {
            if let Some(p) = self.private()? {
                if let Some(v) = p.get_item(name)? {
                    if !v.is_none() {
                        return Ok(Some(v));
                    }
                }
            }
        }
        Ok(None)
    }
}

/// `Some(n)` for an exact int in `0..MAX_TOKENS` or... `None` for anything else.
fn small_int(v: &Bound<'_, PyAny>) -> Option<i64> {
    if !v.is_exact_instance_of::<PyInt>() {
        return None;
    }
    v.extract::<i64>().ok()
}

fn is_zero_or_none(v: &Bound<'_, PyAny>) -> bool {
    v.is_none() || (v.is_exact_instance_of::<PyInt>() && v.extract::<i64>().ok() == Some(0))
}

/// A details block's counts (`false` when it carries anything not replayed).
/// `slots` names the accepted keys; those from index `zero_from` on must be 0/None.
/// `aliases` are keys accepted when they carry the same count as the slot they name
/// (1.110's `cache_write_tokens` mirrors `cache_creation_tokens`).
fn details(
    obj: Option<Bound<'_, PyAny>>,
    slots: &[&Bound<'_, PyString>],
    zero_from: usize,
    aliases: &[(&Bound<'_, PyString>, usize)],
    out: &mut [i64],
) -> PyResult<bool> {
    let obj = match obj {
        None => return Ok(true),
        Some(o) if o.is_none() => return Ok(true),
        Some(o) => o,
    };
    let py = obj.py();
    let d = match obj.getattr(intern!(py, "__dict__")) {
        Ok(d) => d,
        Err(_) => return Ok(false),
    };
    let d = d.downcast::<PyDict>()?;
    // keys whose value is neither None nor the int 0 must all be accepted, non-zero-only ints
    let mut nontrivial = 0usize;
    for (_, v) in d.iter() {
        if !is_zero_or_none(&v) {
            nontrivial += 1;
        }
    }
    if nontrivial > 0 {
        let mut seen = 0usize;
        for (i, name) in slots.iter().enumerate() {
            let v = match d.get_item(*name)? {
                Some(v) => v,
                None => continue,
            };
            if is_zero_or_none(&v) {
                continue;
            }
            if !v.is_exact_instance_of::<PyInt>() || i >= zero_from {
                return Ok(false);
            }
            seen += 1;
            if i < out.len() {
                out[i] = v.extract::<i64>()?;
            }
        }
        for (name, slot) in aliases {
            let v = match d.get_item(*name)? {
                Some(v) => v,
                None => continue,
            };
            if is_zero_or_none(&v) {
                continue;
            }
            if !v.is_exact_instance_of::<PyInt>() || *slot >= out.len() || v.extract::<i64>().ok() != Some(out[*slot]) {
                return Ok(false);
            }
            seen += 1;
        }
        if seen != nontrivial {
            return Ok(false);
        }
    }
    if nonempty_dict(obj.getattr(intern!(py, "__pydantic_extra__")))?.is_some() {
        return Ok(false);
    }
    Ok(true)
}

fn hp_bail(py: Python<'_>) -> [&Bound<'_, PyString>; 3] {
    [intern!(py, "upstream_usage_cost"), intern!(py, "billed_characters"), intern!(py, "audio_transcription_duration")]
}
fn hp_keys(py: Python<'_>) -> [&Bound<'_, PyString>; 5] {
    [
        intern!(py, "custom_llm_provider"),
        intern!(py, "region_name"),
        intern!(py, "model"),
        intern!(py, "litellm_model_name"),
        intern!(py, "provider_response_model"),
    ]
}
fn ptd_slots(py: Python<'_>) -> [&Bound<'_, PyString>; 5] {
    [
        intern!(py, "cached_tokens"),
        intern!(py, "cache_creation_tokens"),
        intern!(py, "text_tokens"),
        intern!(py, "audio_tokens"),
        intern!(py, "image_tokens"),
    ]
}
fn ctd_slots(py: Python<'_>) -> [&Bound<'_, PyString>; 6] {
    [
        intern!(py, "reasoning_tokens"),
        intern!(py, "text_tokens"),
        intern!(py, "audio_tokens"),
        intern!(py, "image_tokens"),
        intern!(py, "accepted_prediction_tokens"),
        intern!(py, "rejected_prediction_tokens"),
    ]
}

/// Token counts `(prompt, completion, cached, creation, prompt_text, reasoning, completion_text)` of a
/// `Usage`, or `None` when it carries anything not replayed. The usage `__dict__` may hold only
/// the five chat-usage fields.
fn usage_counts(usage: &Bound<'_, PyAny>) -> PyResult<Option<[i64; 7]>> {
    let py = usage.py();
    let d = usage.getattr(intern!(py, "__dict__"))?;
    let d = d.downcast::<PyDict>()?;
    let mut c = [0i64; 7];
    let mut known = 0usize;
    for (i, name) in [intern!(py, "prompt_tokens"), intern!(py, "completion_tokens")].into_iter().enumerate() {
        match d.get_item(name)?.as_ref().and_then(small_int) {
            Some(n) if (0..MAX_TOKENS).contains(&n) => c[i] = n,
            _ => return Ok(None),
        }
        known += 1;
    }
    if d.contains(intern!(py, "total_tokens"))? {
        known += 1;
    }
    let ptd = d.get_item(intern!(py, "prompt_tokens_details"))?;
    let ctd = d.get_item(intern!(py, "completion_tokens_details"))?;
    known += ptd.is_some() as usize + ctd.is_some() as usize;
    if known != d.len() {
        return Ok(None);
    }
    if nonempty_dict(usage.getattr(intern!(py, "__pydantic_extra__")))?.is_some() {
        return Ok(None);
    }
    let mut p = [0i64; 3];
    if !details(ptd, &ptd_slots(py), 3, &[(intern!(py, "cache_write_tokens"), 1)], &mut p)? {
        return Ok(None);
    }
    let mut q = [0i64; 2];
    if !details(ctd, &ctd_slots(py), 2, &[], &mut q)? {
        return Ok(None);
    }
    c[2] = p[0];
    c[3] = p[1];
    c[4] = p[2];
    c[5] = q[0];
    c[6] = q[1];
    Ok(Some(c))
}

/// `true` when some choice's message carries truthy `annotations` (or a choice is not a
/// pydantic object with a `__dict__`, which is then left to LiteLLM too).
fn any_annotations(choices: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = choices.py();
    let one = |choice: Bound<'_, PyAny>| -> PyResult<bool> {
        let mut ch = match Holders::of(&choice)? {
            Some(h) => h,
            None => return Ok(true),
        };
        let msg = match ch.get(intern!(py, "message"), false)? {
            Some(m) => m,
            None => return Ok(false),
        };
        let mut m = match Holders::of(&msg)? {
            Some(h) => h,
            None => return Ok(true),
        };
        match m.get(intern!(py, "annotations"), false)? {
            Some(a) => a.is_truthy(),
            None => Ok(false),
        }
    };
    if let Ok(list) = choices.downcast::<PyList>() {
        for choice in list.iter() {
            if one(choice)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    for choice in choices.try_iter()? {
        if one(choice?)? {
            return Ok(true);
        }
    }
    Ok(false)
}

const KEY_LEN: usize = 7;

/// The plan key values `(model, service_tier, *hidden_params[HP_KEYS])` of a response, or `None`.
fn response_key<'py>(r: &Bound<'py, PyAny>, h: &mut Holders<'py>) -> PyResult<Option<[Bound<'py, PyAny>; KEY_LEN]>> {
    let py = r.py();
    let hp = match h.get(intern!(py, "_hidden_params"), true)? {
        Some(x) if x.is_exact_instance_of::<PyDict>() => x,
        _ => return Ok(None),
    };
    let hp = hp.downcast_into::<PyDict>()?;
    for k in hp_bail(py) {
        if hp.contains(k)? {
            return Ok(None);
        }
    }
    if let Some(psf) = hp.get_item(intern!(py, "provider_specific_fields"))? {
        if psf.is_truthy()? {
            return Ok(None);
        }
    }
    let none = py.None().into_bound(py);
    // `service_tier` and `model` are not underscore names: never private attributes.
    let st = h.get(intern!(py, "service_tier"), false)?.unwrap_or_else(|| none.clone());
    let model = match h.d.get_item(intern!(py, "model"))? {
        Some(m) => m,
        None => r.getattr(intern!(py, "model"))?,
    };
    let mut vals: [Bound<'py, PyAny>; KEY_LEN] =
        [model, st, none.clone(), none.clone(), none.clone(), none.clone(), none.clone()];
    for (i, k) in hp_keys(py).into_iter().enumerate() {
        match hp.get_item(k)? {
            None => {}
            Some(v) if v.is_none() || v.is_exact_instance_of::<PyString>() => vals[2 + i] = v,
            Some(_) => return Ok(None),
        }
    }
    Ok(Some(vals))
}

/// Equal as dict keys (both None/exact str here): identity, or two equal exact strings.
fn same_key_part(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> bool {
    if a.is(b) {
        return true;
    }
    a.is_exact_instance_of::<PyString>()
        && b.is_exact_instance_of::<PyString>()
        // SAFETY: both are str objects; PyUnicode_Compare on two str cannot fail.
        && unsafe { pyo3::ffi::PyUnicode_Compare(a.as_ptr(), b.as_ptr()) } == 0
}

/// The last plan found in a plans dict: its key values and record, re-used while the
/// next response has the same key (plans dicts are write-once per key and replaced whole).
struct LastPlan {
    plans: Py<PyDict>,
    key: [Py<PyAny>; KEY_LEN],
    plan: Py<PyTuple>,
}

/// Resolved per-model rates; `cost` replays LiteLLM's generic per-token arithmetic.
#[pyclass(module = "fast_litellm._native", name = "CostTable")]
pub struct CostTable {
    inner: PriceTable,
    last: std::sync::Mutex<Option<LastPlan>>,
    chat: std::sync::Mutex<Option<ChatState>>,
}

/// What `chat_cost` serves from: set by the Python side for one `model_cost` fingerprint
/// (`set_chat`), dropped by `clear` and `set_chat(None)`.
struct ChatState {
    litellm: Py<PyAny>,
    response_cls: Py<PyAny>,
    usage_cls: Py<PyAny>,
    model_cost: Py<PyDict>,
    model_cost_len: usize,
    plans: Py<PyDict>,
}

#[pymethods]
impl CostTable {
    #[new]
    fn new() -> Self {
        CostTable {
            inner: PriceTable::new(),
            last: std::sync::Mutex::new(None),
            chat: std::sync::Mutex::new(None),
        }
    }

    /// Add one record; returns its index. `tiers` is a list of
    /// `(threshold, input, output, cache_creation, cache_read)` in match order.
    #[pyo3(signature = (input, output, cache_creation, cache_read, reasoning, tiers, double_count_includes_creation))]
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        input: f64,
        output: f64,
        cache_creation: f64,
        cache_read: f64,
        reasoning: Option<f64>,
        tiers: Vec<(f64, f64, f64, f64, f64)>,
        double_count_includes_creation: bool,
    ) -> usize {
        self.inner.add(Rates {
            input,
            output,
            cache_creation,
            cache_read,
            reasoning,
            tiers: tiers
                .into_iter()
                .map(|(threshold, input, output, cache_creation, cache_read)| Tier {
                    threshold,
                    input,
                    output,
                    cache_creation,
                    cache_read,
                })
                .collect(),
            double_count_includes_creation,
        })
    }

    fn clear(&mut self) {
        self.inner.clear();
        let _old = self.last.lock().ok().and_then(|mut last| last.take());
        let _old_chat = self.chat.lock().ok().and_then(|mut chat| chat.take());
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// `(prompt_cost, completion_cost)` for record `idx`.
    #[pyo3(signature = (idx, prompt, completion, cached=0, cache_creation=0, prompt_text=0, reasoning=0, completion_text=0))]
    #[allow(clippy::too_many_arguments)]
    fn cost(
        &self,
        idx: usize,
        prompt: i64,
        completion: i64,
        cached: i64,
        cache_creation: i64,
        prompt_text: i64,
        reasoning: i64,
        completion_text: i64,
    ) -> PyResult<(f64, f64)> {
        let u = TokenUsage { prompt, completion, cached, cache_creation, prompt_text, reasoning, completion_text };
        self.inner.cost(idx, &u).ok_or_else(|| PyIndexError::new_err("no such price record"))
    }

    /// `prompt_cost + completion_cost` (what `completion_cost` returns when nothing else is added).
    #[pyo3(signature = (idx, prompt, completion, cached=0, cache_creation=0, prompt_text=0, reasoning=0, completion_text=0))]
    #[allow(clippy::too_many_arguments)]
    fn total(
        &self,
        idx: usize,
        prompt: i64,
        completion: i64,
        cached: i64,
        cache_creation: i64,
        prompt_text: i64,
        reasoning: i64,
        completion_text: i64,
    ) -> PyResult<f64> {
        let (p, c) = self.cost(idx, prompt, completion, cached, cache_creation, prompt_text, reasoning, completion_text)?;
        Ok(p + c)
    }

    /// One call for `completion_cost(completion_response=r)`: reads the response, finds its plan
    /// in `plans` (key -> `None` or `(idx, cached, reasoning, entry_key, entry, entry_len, fields,
    /// snapshot)`), re-checks the plan's price-map entry in `model_cost`, and returns the float;
    /// `None` when not covered; the plan key (a tuple) when no plan exists for it yet.
    /// With `parts`, a covered call returns the list
    /// `[prompt_cost, completion_cost, cached, cache_creation, reasoning, plan]` instead of the float.
    #[pyo3(signature = (r, usage_cls, plans, model_cost, parts=false))]
    fn completion_total<'py>(
        &self,
        r: &Bound<'py, PyAny>,
        usage_cls: &Bound<'py, PyAny>,
        plans: &Bound<'py, PyDict>,
        model_cost: &Bound<'py, PyDict>,
        parts: bool,
    ) -> PyResult<PyObject> {
        self.total_inner(r, usage_cls, plans, model_cost, parts)
    }

    /// `set_chat((litellm, ModelResponse, Usage, model_cost, plans))` or `set_chat(None)`:
    /// what `chat_cost` serves from (the plans of one `model_cost` fingerprint).
    fn set_chat(&self, state: Option<(Bound<'_, PyAny>, Bound<'_, PyAny>, Bound<'_, PyAny>, Bound<'_, PyDict>, Bound<'_, PyDict>)>) {
        let fresh = state.map(|(litellm, response_cls, usage_cls, model_cost, plans)| ChatState {
            litellm: litellm.unbind(),
            response_cls: response_cls.unbind(),
            usage_cls: usage_cls.unbind(),
            model_cost_len: model_cost.len(),
            model_cost: model_cost.unbind(),
            plans: plans.unbind(),
        });
        let _old = match self.chat.lock() {
            Ok(mut chat) => std::mem::replace(&mut *chat, fresh),
            Err(_) => fresh,
        };
    }

    /// `completion_cost(completion_response=r)` with nothing else: the float when `r` is a
    /// `ModelResponse` with a native plan, `None` when it is not covered; `NotImplemented` when
    /// the Python side must look (no state set, another type, `model_cost` replaced or resized,
    /// discount/margin configs set, no plan yet for this response shape).
    fn chat_cost<'py>(&self, r: &Bound<'py, PyAny>) -> PyResult<PyObject> {
        let py = r.py();
        let state = {
            let chat = match self.chat.lock() {
                Ok(c) => c,
                Err(_) => return Ok(py.NotImplemented()),
            };
            match chat.as_ref() {
                Some(c) if r.get_type().is(c.response_cls.bind(py)) => (
                    c.litellm.clone_ref(py).into_bound(py),
                    c.usage_cls.clone_ref(py).into_bound(py),
                    c.model_cost.clone_ref(py).into_bound(py),
                    c.model_cost_len,
                    c.plans.clone_ref(py).into_bound(py),
                ),
                _ => return Ok(py.NotImplemented()),
            }
        };
        let (litellm, usage_cls, mc, mc_len, plans) = state;
        if !litellm.getattr(intern!(py, "model_cost"))?.is(&mc) || mc.len() != mc_len {
            return Ok(py.NotImplemented());
        }
        for k in [intern!(py, "cost_discount_config"), intern!(py, "cost_margin_config")] {
            if litellm.getattr(k)?.is_truthy()? {
                return Ok(py.NotImplemented());
            }
        }
        let out = self.total_inner(r, &usage_cls, &plans, &mc, false)?;
        if out.bind(py).is_exact_instance_of::<PyTuple>() {
            return Ok(py.NotImplemented());
        }
        Ok(out)
    }
}

impl CostTable {
    fn total_inner<'py>(
        &self,
        r: &Bound<'py, PyAny>,
        usage_cls: &Bound<'py, PyAny>,
        plans: &Bound<'py, PyDict>,
        model_cost: &Bound<'py, PyDict>,
        parts: bool,
    ) -> PyResult<PyObject> {
        let py = r.py();
        let none = || Ok(py.None());
        let mut h = match Holders::of(r)? {
            Some(h) => h,
            None => return none(),
        };
        let mut usage = None;
        if let Some(extra) = h.extra()? {
            usage = extra.get_item(intern!(py, "usage"))?.filter(|u| !u.is_none());
        }
        if usage.is_none() {
            usage = h.d.get_item(intern!(py, "usage"))?;
        }
        let usage = match usage {
            Some(u) if u.get_type().is(usage_cls) => u,
            _ => return none(),
        };
        let c = match usage_counts(&usage)? {
            Some(c) => c,
            None => return none(),
        };
        let choices = match h.d.get_item(intern!(py, "choices"))? {
            Some(ch) => ch,
            None => r.getattr(intern!(py, "choices"))?,
        };
        if any_annotations(&choices)? {
            return none();
        }
        let key = match response_key(r, &mut h)? {
            Some(k) => k,
            None => return none(),
        };
        let cached_plan = {
            let last = self.last.lock().ok();
            match last.as_deref() {
                Some(Some(l)) if l.plans.bind(py).is(plans) && l.key.iter().zip(key.iter()).all(|(a, b)| same_key_part(a.bind(py), b)) => {
                    Some(l.plan.clone_ref(py).into_bound(py))
                }
                _ => None,
            }
        };
        let plan = match cached_plan {
            Some(p) => p,
            None => {
                let key_tuple = PyTuple::new(py, key.iter())?;
                let plan = match plans.get_item(&key_tuple)? {
                    Some(p) => p,
                    None => return Ok(key_tuple.into_any().unbind()),
                };
                if plan.is_none() {
                    return none();
                }
                let plan = plan.downcast_into::<PyTuple>()?;
                let fresh = Some(LastPlan {
                    plans: plans.clone().unbind(),
                    key: key.map(|k| k.unbind()),
                    plan: plan.clone().unbind(),
                });
                // the old record is dropped (decref'd) after the lock is released
                let _old = match self.last.lock() {
                    Ok(mut last) => std::mem::replace(&mut *last, fresh),
                    Err(_) => fresh,
                };
                plan
            }
        };
        let (idx, cached, reasoning): (usize, bool, bool) =
            (plan.get_item(0)?.extract()?, plan.get_item(1)?.extract()?, plan.get_item(2)?.extract()?);
        // fresh: same entry object, same length, same price fields
        let entry = plan.get_item(4)?;
        match model_cost.get_item(plan.get_item(3)?)? {
            Some(e) if e.is(&entry) => {}
            _ => return none(),
        }
        let entry = entry.downcast::<PyDict>()?;
        if entry.len() != plan.get_item(5)?.extract::<usize>()? {
            return none();
        }
        let fields = plan.get_item(6)?;
        let snapshot = plan.get_item(7)?;
        let fields = fields.downcast::<PyTuple>()?;
        let snapshot = snapshot.downcast::<PyTuple>()?;
        if fields.len() != snapshot.len() {
            return none();
        }
        for (f, want) in fields.iter().zip(snapshot.iter()) {
            match entry.get_item(&f)? {
                Some(v) if v.is(&want) || v.eq(&want)? => {}
                _ => return none(),
            }
        }
        if (c[2] != 0 || c[3] != 0 || c[4] != 0) && !cached {
            return none();
        }
        if (c[5] != 0 || c[6] != 0) && !reasoning {
            return none();
        }
        let u = TokenUsage {
            prompt: c[0],
            completion: c[1],
            cached: c[2],
            cache_creation: c[3],
            prompt_text: c[4],
            reasoning: c[5],
            completion_text: c[6],
        };
        let (p, q) = self.inner.cost(idx, &u).ok_or_else(|| PyIndexError::new_err("no such price record"))?;
        if parts {
            let out = PyList::new(
                py,
                [
                    p.into_pyobject(py)?.into_any(),
                    q.into_pyobject(py)?.into_any(),
                    c[2].into_pyobject(py)?.into_any(),
                    c[3].into_pyobject(py)?.into_any(),
                    c[5].into_pyobject(py)?.into_any(),
                    plan.clone().into_any(),
                ],
            )?;
            return Ok(out.into_any().unbind());
        }
        Ok((p + q).into_pyobject(py)?.into_any().unbind())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CostTable>()?;
    Ok(())
}
