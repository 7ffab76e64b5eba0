//! Bindings for the cost component: a price table owned by Python, costed in Rust.

use fast_litellm_core::cost::{PriceTable, Rates, Tier, TokenUsage};
use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;

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
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CostTable>()?;
    Ok(())
}
