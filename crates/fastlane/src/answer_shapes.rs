//! The optional fields of OpenAI's current non-streaming answer the front reproduces.
//!
//! OpenAI (2024-2025) adds to the plain answer: `annotations: []` in the message,
//! `prompt_tokens_details`/`completion_tokens_details` in the usage, `service_tier` at the
//! top. LiteLLM keeps each one, in its own place and key order (observed on both verified
//! versions, re-checked by `tests/test_fast_lane_answers.py`):
//! * `annotations` after `role` (1.110.x: before `refusal`; 1.83.x: after the message's
//!   `provider_specific_fields`);
//! * the usage details after `total_tokens`, completion's first, each in LiteLLM's field
//!   order; only all-zero details are served (cached or reasoning tokens change the cost);
//! * `service_tier` last, after `usage`.

use serde_json::{Map, Value};

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
}

const PROMPT_DETAILS: &[&str] = &["cached_tokens", "audio_tokens"];
const COMPLETION_DETAILS: &[&str] = &["reasoning_tokens", "audio_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens"];
/// Tiers OpenAI reports; LiteLLM passes the string through.
const TIERS: &[&str] = &["default", "auto", "flex", "scale", "priority"];

fn all_zero(v: Option<&Value>, keys: &[&str]) -> bool {
    match v.and_then(Value::as_object) {
        Some(o) => o.len() == keys.len() && keys.iter().all(|k| o.get(*k).and_then(Value::as_u64) == Some(0)),
        None => false,
    }
}

/// The message's optional keys beyond `role`, `content`, `refusal`: `Some(annotations)`, or
/// `None` if any other key (or non-empty annotations) is there.
pub fn message_extras(m: &Map<String, Value>) -> Option<bool> {
    match m.len() {
        3 => Some(false),
        4 => match m.get("annotations") {
            Some(Value::Array(a)) if a.is_empty() => Some(true),
            _ => None,
        },
        _ => None,
    }
}

/// The usage's optional keys beyond the three counts: `Some(details)`, `None` if out of shape.
pub fn usage_extras(u: &Map<String, Value>) -> Option<bool> {
    match u.len() {
        3 => Some(false),
        5 => (all_zero(u.get("prompt_tokens_details"), PROMPT_DETAILS)
            && all_zero(u.get("completion_tokens_details"), COMPLETION_DETAILS))
        .then_some(true),
        _ => None,
    }
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
    let annotations = if x.annotations { r#","annotations":[]"# } else { "" };
    match format {
        Format::V1_110 => format!(r#"{{"content":{},"role":"assistant"{annotations},"refusal":null}}"#, js(content)),
        Format::V1_83 => format!(
            r#"{{"content":{},"role":"assistant","provider_specific_fields":{{"refusal":null}}{annotations}}}"#,
            js(content)
        ),
    }
}

/// What follows `total_tokens` inside the usage object.
pub fn render_usage_details(x: &Extras) -> &'static str {
    if x.details {
        r#","completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":0,"rejected_prediction_tokens":0},"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":0}"#
    } else {
        ""
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
    fn only_empty_annotations_and_zero_details_are_served() {
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
        assert_eq!(usage_extras(&usage(0)), Some(true));
        assert_eq!(usage_extras(&usage(5)), None);
        let partial = obj(serde_json::json!({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2,
            "prompt_tokens_details": null, "completion_tokens_details": null}));
        assert_eq!(usage_extras(&partial), None);
        assert_eq!(service_tier(&obj(serde_json::json!({"service_tier": "flex"}))), Some(Some("flex".into())));
        assert_eq!(service_tier(&obj(serde_json::json!({"service_tier": null}))), None);
    }
}
