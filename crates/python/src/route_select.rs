//! Bindings for the Router's `simple-shuffle` index (`fast_litellm.components.router`).

use fast_litellm_core::route_select::{Normalize, Pick, ShuffleIndex, Value};
use pyo3::prelude::*;

/// One model group's `weight`/`rpm`/`tpm` values, for picks exactly as LiteLLM's
/// `simple_shuffle` makes them.
///
/// ``ShuffleIndex(kinds, nums, by_max)``: per deployment three entries (weight, rpm, tpm) in
/// ``kinds`` (0 absent, 1 ``None``, 2 a number in ``nums``, 3 anything else) and ``nums``;
/// ``by_max``: LiteLLM 1.110.x normalisation, else 1.83.x.
#[pyclass(module = "fast_litellm._native", frozen)]
pub struct RouteShuffleIndex {
    index: ShuffleIndex,
}

#[pymethods]
impl RouteShuffleIndex {
    #[new]
    fn new(kinds: Vec<u8>, nums: Vec<f64>, by_max: bool) -> PyResult<Self> {
        if kinds.len() != nums.len() || kinds.len() % 3 != 0 {
            return Err(pyo3::exceptions::PyValueError::new_err("kinds and nums: three entries per deployment"));
        }
        let values = kinds
            .chunks(3)
            .zip(nums.chunks(3))
            .map(|(k, n)| {
                let mut row = [Value::Missing; 3];
                for j in 0..3 {
                    row[j] = match k[j] {
                        0 => Value::Missing,
                        1 => Value::Null,
                        2 => Value::Num(n[j]),
                        _ => Value::Other,
                    };
                }
                row
            })
            .collect();
        let normalize = if by_max { Normalize::ByMax } else { Normalize::ByTotal };
        Ok(Self { index: ShuffleIndex::new(values, normalize) })
    }

    fn __len__(&self) -> usize {
        self.index.len()
    }

    /// The index LiteLLM picks from draw ``u`` with ``excluded`` left out; -1: a uniform pick
    /// (``random.choice``), -2: not covered (LiteLLM would raise).
    #[pyo3(signature = (u, excluded = Vec::new()))]
    fn pick(&self, u: f64, excluded: Vec<usize>) -> i64 {
        match self.index.pick(u, &excluded) {
            Pick::Index(i) => i as i64,
            Pick::Uniform => -1,
            Pick::NotCovered => -2,
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RouteShuffleIndex>()
}
