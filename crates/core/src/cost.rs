//! cost: LiteLLM's per-token cost arithmetic (`generic_cost_per_token`), replayed
//! on resolved per-model rates.
//!
//! The Python side resolves a model name to one price record with LiteLLM's own
//! lookup helpers, verifies the record against LiteLLM on probe usages, and then
//! hands token counts here. Every operation below happens in the same order and
//! with the same operands as LiteLLM's Python code (`float(n) * rate`, then `+=`),
//! so the results are bit-identical IEEE doubles.

/// One input-token threshold tier (`input_cost_per_token_above_<n>_tokens`).
#[derive(Clone, Debug, PartialEq)]
pub struct Tier {
    /// Prompt tokens strictly above this select the tier.
    pub threshold: f64,
    pub input: f64,
    pub output: f64,
    pub cache_creation: f64,
    pub cache_read: f64,
}

/// Rates for one model as LiteLLM's generic path reads them.
#[derive(Clone, Debug, PartialEq)]
pub struct Rates {
    pub input: f64,
    pub output: f64,
    pub cache_creation: f64,
    pub cache_read: f64,
    /// `output_cost_per_reasoning_token`, when the model declares one.
    pub reasoning: Option<f64>,
    /// Tiers in the order LiteLLM tries them (first match wins).
    pub tiers: Vec<Tier>,
    /// LiteLLM >= 1.110 treats cache creation tokens as a double-counting signal too.
    pub double_count_includes_creation: bool,
}

/// The token counts the generic path reads off a `Usage` block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub prompt: i64,
    pub completion: i64,
    /// `prompt_tokens_details.cached_tokens`
    pub cached: i64,
    /// `prompt_tokens_details.cache_creation_tokens`
    pub cache_creation: i64,
    /// `prompt_tokens_details.text_tokens` (0 when unset)
    pub prompt_text: i64,
    /// `completion_tokens_details.reasoning_tokens` (0 when unset)
    pub reasoning: i64,
    /// `completion_tokens_details.text_tokens` (0 when unset)
    pub completion_text: i64,
}

impl Rates {
    /// Base rates after the threshold check (`_get_token_base_cost`).
    fn base(&self, prompt_tokens: i64) -> (f64, f64, f64, f64) {
        for t in &self.tiers {
            if (prompt_tokens as f64) > t.threshold {
                return (t.input, t.output, t.cache_creation, t.cache_read);
            }
        }
        (self.input, self.output, self.cache_creation, self.cache_read)
    }
}

/// `(prompt_cost, completion_cost)` exactly as LiteLLM's `generic_cost_per_token`
/// computes them for a usage without audio, image, video or character details.
pub fn generic_cost(r: &Rates, u: &TokenUsage) -> (f64, f64) {
    let hit = u.cached;
    let creation = u.cache_creation;
    let mut text = u.prompt_text;
    let total_details = text + hit + creation;
    let signal = if r.double_count_includes_creation { hit > 0 || creation > 0 } else { hit > 0 };
    let double_counting = signal && total_details > u.prompt;
    if text == 0 || double_counting {
        text = (u.prompt - hit - creation).max(0);
    }
    let (input, output, cache_creation, cache_read) = r.base(u.prompt);

    let mut prompt_cost = (text as f64) * input;
    prompt_cost += (hit as f64) * cache_read;
    if creation != 0 {
        let mut writing = 0.0_f64;
        writing += (creation as f64) * cache_creation;
        prompt_cost += writing;
    }

    let reasoning = u.reasoning;
    let mut out_text = u.completion_text;
    let mut text_is_total = false;
    if out_text == 0 {
        if reasoning > 0 {
            out_text = (u.completion - reasoning).max(0);
        } else {
            out_text = u.completion;
            text_is_total = true;
        }
    }
    let mut completion_cost = (out_text as f64) * output;
    if !text_is_total && reasoning > 0 {
        let rate = r.reasoning.unwrap_or(output);
        completion_cost += (reasoning as f64) * rate;
    }
    (prompt_cost, completion_cost)
}

/// Price records, addressed by the index `add` returned.
#[derive(Default, Debug)]
pub struct PriceTable {
    rates: Vec<Rates>,
}

impl PriceTable {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, r: Rates) -> usize {
        self.rates.push(r);
        self.rates.len() - 1
    }
    pub fn clear(&mut self) {
        self.rates.clear();
    }
    pub fn len(&self) -> usize {
        self.rates.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rates.is_empty()
    }
    pub fn get(&self, idx: usize) -> Option<&Rates> {
        self.rates.get(idx)
    }
    pub fn cost(&self, idx: usize, u: &TokenUsage) -> Option<(f64, f64)> {
        self.rates.get(idx).map(|r| generic_cost(r, u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(input: f64, output: f64) -> Rates {
        Rates {
            input,
            output,
            cache_creation: 0.0,
            cache_read: 0.0,
            reasoning: None,
            tiers: vec![],
            double_count_includes_creation: false,
        }
    }

    #[test]
    fn plain_tokens() {
        let r = flat(2.5e-6, 1e-5);
        let u = TokenUsage { prompt: 1000, completion: 500, ..Default::default() };
        assert_eq!(generic_cost(&r, &u), (1000.0 * 2.5e-6, 500.0 * 1e-5));
    }

    #[test]
    fn cached_and_creation_are_taken_out_of_text() {
        let mut r = flat(3e-6, 1.5e-5);
        r.cache_read = 3e-7;
        r.cache_creation = 3.75e-6;
        let u = TokenUsage { prompt: 1000, completion: 10, cached: 300, cache_creation: 200, ..Default::default() };
        let (p, _) = generic_cost(&r, &u);
        let mut want = 500.0 * 3e-6;
        want += 300.0 * 3e-7;
        want += 0.0 + 200.0 * 3.75e-6;
        assert_eq!(p, want);
    }

    #[test]
    fn text_clamped_at_zero() {
        let r = flat(1.0, 1.0);
        let u = TokenUsage { prompt: 5, cached: 10, ..Default::default() };
        assert_eq!(generic_cost(&r, &u).0, 0.0);
    }

    #[test]
    fn reasoning_uses_its_rate_or_output() {
        let mut r = flat(1e-6, 4e-6);
        let u = TokenUsage { completion: 100, reasoning: 60, ..Default::default() };
        assert_eq!(generic_cost(&r, &u).1, 40.0 * 4e-6 + 60.0 * 4e-6);
        r.reasoning = Some(2e-6);
        assert_eq!(generic_cost(&r, &u).1, 40.0 * 4e-6 + 60.0 * 2e-6);
    }

    #[test]
    fn first_matching_tier_wins() {
        let mut r = flat(1.0, 2.0);
        r.tiers = vec![
            Tier { threshold: 200_000.0, input: 5.0, output: 6.0, cache_creation: 0.0, cache_read: 0.0 },
            Tier { threshold: 128_000.0, input: 3.0, output: 4.0, cache_creation: 0.0, cache_read: 0.0 },
        ];
        let at = |p| generic_cost(&r, &TokenUsage { prompt: p, completion: 1, ..Default::default() });
        assert_eq!(at(128_000), (128_000.0, 2.0));
        assert_eq!(at(128_001), (128_001.0 * 3.0, 4.0));
        assert_eq!(at(200_001), (200_001.0 * 5.0, 6.0));
    }

    #[test]
    fn double_counting_signal_differs_by_version() {
        let mut r = flat(1.0, 1.0);
        let u = TokenUsage { prompt: 100, cache_creation: 50, prompt_text: 80, ..Default::default() };
        assert_eq!(generic_cost(&r, &u).0, 80.0 + 0.0 + 0.0);
        r.double_count_includes_creation = true;
        assert_eq!(generic_cost(&r, &u).0, 50.0 + 0.0 + 0.0);
    }
}
