//! Bindings for the cost component: a price table owned by Python, costed in Rust.

use fast_litellm_core::cost::{PriceTable, Rates, Tier, TokenUsage};
use pyo3::exceptions::PyIndexError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple};

const MAX_TOKENS: i64 = 1 << 52;

/// `obj.__dict__.get(name)`, then its pydantic extra, then its pydantic private
/// attributes (the first non-None), like `getattr` without pydantic's slow path.
fn attr<'py>(obj: &Bound<'py, PyAny>, name: &Bound<'py, PyString>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = obj.py();
    let d = obj.getattr(intern!(py, "__dict__"))?;
    let d = d.downcast::<PyDict>()?;
    if let Some(v) = d.get_item(name)? {
        if !v.is_none() {
            return Ok(Some(v));
        }
    }
    for holder in [intern!(py, "__pydantic_extra__"), intern!(py, "__pydantic_private__")] {
        if let Ok(h) = obj.getattr(holder) {
            if h.is_truthy()? {
                let h = h.downcast::<PyDict>()?;
                if let Some(v) = h.get_item(name)? {
                    if !v.is_none() {
                        return Ok(Some(v));
                    }
                }
            }
        }
    }
    Ok(None)
}

/// A details block's counts (`None` when it carries anything not replayed).
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
    for v in d.values().iter() {
        if v.is_none() {
            continue;
        }
        if v.is_exact_instance_of::<PyInt>() && v.extract::<i64>().ok() == Some(0) {
            continue;
        }
        nontrivial += 1;
    }
    let mut seen = 0usize;
    for (i, name) in slots.iter().enumerate() {
        let v = match d.get_item(*name)? {
            Some(v) => v,
            None => continue,
        };
        if v.is_none() || (v.is_exact_instance_of::<PyInt>() && v.extract::<i64>().ok() == Some(0)) {
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
        if v.is_none() || (v.is_exact_instance_of::<PyInt>() && v.extract::<i64>().ok() == Some(0)) {
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
    if let Ok(extra) = obj.getattr(intern!(py, "__pydantic_extra__")) {
        if extra.is_truthy()? {
            return Ok(false);
        }
    }
    Ok(true)
}

// Interned once (`intern!`): building a key string per call costs more than the lookups.
fn usage_keys(py: Python<'_>) -> [&Bound<'_, PyString>; 5] {
    [
        intern!(py, "prompt_tokens"),
        intern!(py, "completion_tokens"),
        intern!(py, "total_tokens"),
        intern!(py, "prompt_tokens_details"),
        intern!(py, "completion_tokens_details"),
    ]
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
/// `Usage`, or `None` when it carries anything not replayed.
fn usage_counts(usage: &Bound<'_, PyAny>) -> PyResult<Option<[i64; 7]>> {
    let py = usage.py();
    let d = usage.getattr(intern!(py, "__dict__"))?;
    let d = d.downcast::<PyDict>()?;
    let mut c = [0i64; 7];
    for (i, name) in [intern!(py, "prompt_tokens"), intern!(py, "completion_tokens")].into_iter().enumerate() {
        match d.get_item(name)? {
            Some(v) if v.is_exact_instance_of::<PyInt>() => match v.extract::<i64>() {
                Ok(n) if (0..MAX_TOKENS).contains(&n) => c[i] = n,
                _ => return Ok(None),
            },
            _ => return Ok(None),
        }
    }
    // d.keys() <= USAGE_KEYS
    let mut known = 0usize;
    for k in usage_keys(py) {
        if d.contains(k)? {
            known += 1;
        }
    }
    if known != d.len() {
        return Ok(None);
    }
    if usage.getattr(intern!(py, "__pydantic_extra__"))?.is_truthy()? {
        return Ok(None);
    }
    let ptd = d.get_item(intern!(py, "prompt_tokens_details"))?;
    let ctd = d.get_item(intern!(py, "completion_tokens_details"))?;
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

/// The plan key `(model, service_tier, *hidden_params[HP_KEYS])` of a response, or `None`.
fn response_key<'py>(r: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let py = r.py();
    let hp = match attr(r, intern!(py, "_hidden_params"))? {
        Some(h) if h.is_exact_instance_of::<PyDict>() => h,
        _ => return Ok(None),
    };
    let hp = hp.downcast::<PyDict>()?;
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
    let st = attr(r, intern!(py, "service_tier"))?.unwrap_or_else(|| py.None().into_bound(py));
    let mut vals: Vec<Bound<'py, PyAny>> = Vec::with_capacity(7);
    vals.push(r.getattr(intern!(py, "model"))?);
    vals.push(st);
    for k in hp_keys(py) {
        match hp.get_item(k)? {
            None => vals.push(py.None().into_bound(py)),
            Some(v) if v.is_none() || v.is_exact_instance_of::<PyString>() => vals.push(v),
            Some(_) => return Ok(None),
        }
    }
    Ok(Some(PyTuple::new(py, vals)?))
}

/// Resolved per-model rates; `cost` replays LiteLLM's generic per-token arithmetic.
#[pyclass(module = "fast_litellm._native", name = "CostTable")]
pub struct CostTable {
    inner: PriceTable,
}

#[pymethods]
impl CostTable {
    #[new]
    fn new() -> Self {
        CostTable { inner: PriceTable::new() }
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
        let py = r.py();
        let none = || Ok(py.None());
        let mut usage = None;
        if let Ok(extra) = r.getattr(intern!(py, "__pydantic_extra__")) {
            if extra.is_truthy()? {
                usage = extra.downcast::<PyDict>()?.get_item(intern!(py, "usage"))?.filter(|u| !u.is_none());
            }
        }
        if usage.is_none() {
            let d = r.getattr(intern!(py, "__dict__"))?;
            usage = d.downcast::<PyDict>()?.get_item(intern!(py, "usage"))?;
        }
        let usage = match usage {
            Some(u) if u.get_type().is(usage_cls) => u,
            _ => return none(),
        };
        let c = match usage_counts(&usage)? {
            Some(c) => c,
            None => return none(),
        };
        for choice in r.getattr(intern!(py, "choices"))?.try_iter()? {
            let choice = choice?;
            if let Some(msg) = attr(&choice, intern!(py, "message"))? {
                if let Some(a) = attr(&msg, intern!(py, "annotations"))? {
                    if a.is_truthy()? {
                        return none();
                    }
                }
            }
        }
        let key = match response_key(r)? {
            Some(k) => k,
            None => return none(),
        };
        let plan = match plans.get_item(&key)? {
            Some(p) => p,
            None => return Ok(key.into_any().unbind()),
        };
        if plan.is_none() {
            return none();
        }
        let plan = plan.downcast::<PyTuple>()?;
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
        for (f, want) in fields.try_iter()?.zip(snapshot.try_iter()?) {
            let (f, want) = (f?, want?);
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
