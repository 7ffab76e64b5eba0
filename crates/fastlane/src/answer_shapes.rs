//! The optional fields of OpenAI's current non-streaming answer the front reproduces.
//!
//! OpenAI (2024-2025) adds to the plain answer: `annotations: []` in the message,
//! `prompt_tokens_details`/`completion_tokens_details` in the usage, `service_tier` at the
//! top. LiteLLM keeps each one, in its own place and key order (observed on both verified
//! versions, re-checked by `tests/test_fast_lane_answers.py`):
//! * `annotations` after `role` (1.110.x: before `refusal`; 1.83.x: after the message's
//!   `provider_specific_fields`);
//! * the usage details after `total_tokens`, completion's first, each in LiteLLM's field
//!   order. Cached prompt tokens and reasoning tokens change the cost: LiteLLM prices them
//!   with the model's cache-read and reasoning rates (`Pricing`, from the launcher); audio
//!   and prediction tokens are not served;
//! * `service_tier` last, after `usage`. LiteLLM prices `flex` and `priority` answers with the
//!   model's tier rates when its map has them: served only for a model without them;
//! * a dated snapshot's name in `model` (OpenAI answers an alias so): LiteLLM prints the
//!   requested model group as always, and prices the answer by the snapshot's entry: served
//!   for the snapshots priced exactly as the deployment's model (`Pricing::dated`).
//!
//! Tool calls, refusals and logprobs: `openai_extras.rs`.

use fast_litellm_core::cost::{generic_cost, Rates, TokenUsage};
use serde_json::{Map, Value};

use crate::openai_extras;
use crate::wire::{js, Format};

/// Which optional OpenAI fields an answer carried.
#[derive(Debug, Default, Clone)]
pub struct Extras {
    pub annotations: bool,
    pub details: bool,
    pub service_tier: Option<String>,
    /// Azure's content-filter annotations (`providers.rs`).
    pub filters: crate::providers::Filters,
    /// Another server's answer shape (`server_shapes.rs`), rendered by its own rules.
    pub server: Option<Box<crate::server_shapes::Shape>>,
    /// Tool calls, a refusal, logprobs (`openai_extras.rs`).
    pub rich: crate::openai_extras::Rich,
    /// `prompt_tokens_details.cached_tokens`, `completion_tokens_details.reasoning_tokens`.
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    /// The rates for those tokens, once `price` checked them (`None`: none needed).
    pub token_rates: Option<Pricing>,
    /// The model name the upstream answered with, when not the deployment's own (a dated
    /// snapshot of it: `price` checks LiteLLM prices it alike).
    pub model: Option<String>,
}

/// What LiteLLM prices an `openai/` deployment's answer with beyond the plain per-token
/// rates, from its model info (launcher: `fastlane/answer_pricing.py`).
#[derive(Debug, Default, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// `cache_read_input_token_cost`; `None`: cached tokens are not served.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// `output_cost_per_reasoning_token`; `None`: LiteLLM uses the output rate.
    #[serde(default)]
    pub reasoning: Option<f64>,
    /// The tiers LiteLLM prices with a suffix (`flex`, `priority`) that this model has no
    /// rates for (LiteLLM then uses the standard ones).
    #[serde(default)]
    pub standard_tiers: Vec<String>,
    /// Dated snapshot names LiteLLM's map prices exactly as this model.
    #[serde(default)]
    pub dated: Vec<String>,
}

const PROMPT_DETAILS: &[&str] = &["cached_tokens", "audio_tokens"];
const COMPLETION_DETAILS: &[&str] = &["reasoning_tokens", "audio_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens"];
/// Tiers OpenAI reports; LiteLLM passes the string through.
const TIERS: &[&str] = &["default", "auto", "flex", "scale", "priority"];

/// Tiers with their own rates in LiteLLM's map (the cost key's suffix).
const PRICED_TIERS: &[&str] = &["flex", "priority"];

/// A details object with exactly `keys`, each an integer, all zero but `counted`: its value.
fn details(v: Option<&Value>, keys: &[&str], counted: &str) -> Option<u64> {
    let o = v?.as_object()?;
    if o.len() != keys.len() {
        return None;
    }
    let mut n = 0;
    for k in keys {
        let x = o.get(*k)?.as_u64()?;
        if *k == counted {
            n = x;
        } else if x != 0 {
            return None;
        }
    }
    Some(n)
}

/// The message's optional keys beyond `role`, `content`, `refusal` (and `tool_calls`, read by
/// `openai_extras`): `Some(annotations)`, or `None` if any other key (or non-empty
/// annotations) is there.
pub fn message_extras(m: &Map<String, Value>) -> Option<bool> {
    let base = 3 + usize::from(m.contains_key("tool_calls"));
    match m.len().checked_sub(base)? {
        0 => Some(false),
        1 => match m.get("annotations") {
            Some(Value::Array(a)) if a.is_empty() => Some(true),
            _ => None,
        },
        _ => None,
    }
}

/// The usage's optional keys beyond the three counts: `Some((details, cached, reasoning))`,
/// `None` if out of shape.
pub fn usage_extras(u: &Map<String, Value>) -> Option<(bool, u64, u64)> {
    match u.len() {
        3 => Some((false, 0, 0)),
        5 => {
            let cached = details(u.get("prompt_tokens_details"), PROMPT_DETAILS, "cached_tokens")?;
            let reasoning = details(u.get("completion_tokens_details"), COMPLETION_DETAILS, "reasoning_tokens")?;
            Some((true, cached, reasoning))
        }
        _ => None,
    }
}

/// `a` with the rates its cached/reasoning tokens and tier need attached, or `None` when the
/// deployment's `Pricing` does not say how LiteLLM prices them.
pub fn price(mut a: crate::wire::Answer, p: Option<&Pricing>) -> Option<crate::wire::Answer> {
    let x = &a.extras;
    if let Some(m) = &x.model {
        if !p?.dated.contains(m) {
            return None;
        }
    }
    if let Some(t) = x.service_tier.as_deref().filter(|t| PRICED_TIERS.contains(t)) {
        if !p?.standard_tiers.iter().any(|s| s == t) {
            return None;
        }
    }
    if x.cached_tokens > a.prompt_tokens || x.reasoning_tokens > a.completion_tokens {
        return None;
    }
    if x.cached_tokens > 0 || x.reasoning_tokens > 0 {
        let p = p?;
        if x.cached_tokens > 0 && p.cache_read.is_none() {
            return None;
        }
        a.extras.token_rates = Some(p.clone());
    }
    Some(a)
}

/// `(prompt_cost, completion_cost)` of an answer with cached or reasoning tokens (LiteLLM's
/// generic per-token arithmetic), `None` for one without.
pub fn token_cost(d: &crate::Deployment, a: &crate::wire::Answer) -> Option<(f64, f64)> {
    let p = a.extras.token_rates.as_ref()?;
    let rates = Rates {
        input: d.input_cost_per_token,
        output: d.output_cost_per_token,
        cache_creation: 0.0,
        cache_read: p.cache_read.unwrap_or(0.0),
        reasoning: p.reasoning,
        tiers: Vec::new(),
        double_count_includes_creation: false,
    };
    let usage = TokenUsage {
        prompt: a.prompt_tokens as i64,
        completion: a.completion_tokens as i64,
        cached: a.extras.cached_tokens as i64,
        reasoning: a.extras.reasoning_tokens as i64,
        ..TokenUsage::default()
    };
    Some(generic_cost(&rates, &usage))
}

/// The top level's optional `service_tier`: `Some(None)` absent, `Some(Some(t))` a known
/// tier, `None` anything else.
pub fn service_tier(o: &Map<String, Value>) -> Option<Option<String>> {
    match o.get("service_tier") {
        None => Some(None),
        Some(Value::String(t)) if TIERS.contains(&t.as_str()) => Some(Some(t.clone())),
        _ => None,
    }
}

/// LiteLLM's message object for `content` on `format`.
pub fn render_message(format: Format, content: &str, x: &Extras) -> String {
    openai_extras::render_message(format, content, x.annotations, &x.rich)
}

/// `(cache_read_cost, reasoning_cost)` of an answer with cached or reasoning tokens, as
/// LiteLLM 1.110.x breaks them out in its cost headers (reasoning at the output rate when the
/// model has no reasoning rate).
pub fn token_breakdown(d: &crate::Deployment, a: &crate::wire::Answer) -> Option<(f64, f64)> {
    let p = a.extras.token_rates.as_ref()?;
    let cache_read = a.extras.cached_tokens as f64 * p.cache_read.unwrap_or(0.0);
    let reasoning = a.extras.reasoning_tokens as f64 * p.reasoning.unwrap_or(d.output_cost_per_token);
    Some((cache_read, reasoning))
}

/// What follows `total_tokens` inside the usage object.
pub fn render_usage_details(x: &Extras) -> String {
    if x.details {
        format!(
            r#","completion_tokens_details":{{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":{},"rejected_prediction_tokens":0}},"prompt_tokens_details":{{"audio_tokens":0,"cached_tokens":{}}}"#,
            x.reasoning_tokens, x.cached_tokens
        )
    } else {
        String::new()
    }
}

/// What follows the usage object at the top level.
pub fn render_tail(x: &Extras) -> String {
    match &x.service_tier {
        Some(t) => format!(r#","service_tier":{}"#, js(t)),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn only_empty_annotations_and_known_details_are_served() {
        let m = |a: Value| obj(serde_json::json!({"role": "assistant", "content": "x", "refusal": null, "annotations": a}));
        assert_eq!(message_extras(&m(serde_json::json!([]))), Some(true));
        assert_eq!(message_extras(&m(serde_json::json!([{"type": "url_citation"}]))), None);
        let base = serde_json::json!({"role": "assistant", "content": "x", "refusal": null, "audio": null});
        assert_eq!(message_extras(&obj(base)), None);
        let usage = |cached: u64| {
            obj(serde_json::json!({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2,
                "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}))
        };
        assert_eq!(usage_extras(&usage(0)), Some((true, 0, 0)));
        assert_eq!(usage_extras(&usage(5)), Some((true, 5, 0)));
        let mut audio = usage(0);
        audio["prompt_tokens_details"]["audio_tokens"] = 3.into();
        assert_eq!(usage_extras(&audio), None);
        let partial = obj(serde_json::json!({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2,
            "prompt_tokens_details": null, "completion_tokens_details": null}));
        assert_eq!(usage_extras(&partial), None);
        assert_eq!(service_tier(&obj(serde_json::json!({"service_tier": "flex"}))), Some(Some("flex".into())));
        assert_eq!(service_tier(&obj(serde_json::json!({"service_tier": null}))), None);
    }

    fn answer(tier: Option<&str>, cached: u64, reasoning: u64) -> crate::wire::Answer {
        crate::wire::Answer {
            id: "c".into(),
            created: 1u64.into(),
            system_fingerprint: "fp".into(),
            content: "x".into(),
            finish_reason: "stop".into(),
            prompt_tokens: 2006,
            completion_tokens: 300,
            total_tokens: 2306,
            extras: Extras {
                details: true,
                service_tier: tier.map(str::to_string),
                cached_tokens: cached,
                reasoning_tokens: reasoning,
                ..Extras::default()
            },
        }
    }

    #[test]
    fn tiers_and_cached_tokens_need_their_rates() {
        let p = Pricing { cache_read: Some(7.5e-8), standard_tiers: vec!["flex".into()], dated: vec!["m-2024-07-18".into()], ..Pricing::default() };
        let dated = |m: &str| {
            let mut a = answer(None, 0, 0);
            a.extras.model = Some(m.into());
            a
        };
        assert!(price(dated("m-2024-07-18"), Some(&p)).is_some());
        assert!(price(dated("m-2024-05-13"), Some(&p)).is_none());
        assert!(price(dated("m-2024-07-18"), None).is_none());
        assert!(price(answer(Some("default"), 0, 0), None).is_some());
        assert!(price(answer(Some("flex"), 0, 0), None).is_none());
        assert!(price(answer(Some("flex"), 0, 0), Some(&p)).is_some());
        assert!(price(answer(Some("priority"), 0, 0), Some(&p)).is_none());
        assert!(price(answer(None, 1920, 0), None).is_none());
        assert!(price(answer(None, 1920, 0), Some(&Pricing { cache_read: None, ..p.clone() })).is_none());
        assert!(price(answer(None, 0, 192), Some(&Pricing { cache_read: None, ..p.clone() })).is_some());
        assert!(price(answer(None, 3000, 0), Some(&p)).is_none(), "more cached than prompt tokens");
        let served = price(answer(None, 1920, 192), Some(&p)).expect("served");
        let d: crate::Deployment = serde_json::from_value(serde_json::json!({"id": "i", "model": "openai/m",
            "upstream_model": "m", "api_base": "http://x", "api_key": "k",
            "input_cost_per_token": 1.5e-7, "output_cost_per_token": 6e-7}))
        .unwrap();
        let (prompt, completion) = token_cost(&d, &served).expect("costed");
        assert_eq!(prompt, 86.0 * 1.5e-7 + 1920.0 * 7.5e-8);
        assert_eq!(completion, 108.0 * 6e-7 + 192.0 * 6e-7);
        assert!(token_cost(&d, &answer(None, 0, 0)).is_none());
        assert_eq!(token_breakdown(&d, &served), Some((1920.0 * 7.5e-8, 192.0 * 6e-7)));
        assert!(render_usage_details(&served.extras).contains(r#""reasoning_tokens":192,"#));
        assert!(render_usage_details(&served.extras).ends_with(r#""cached_tokens":1920}"#));
    }
}
