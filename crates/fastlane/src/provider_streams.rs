//! Azure and hosted_vllm streams: what the front sends upstream, and Azure's chunks brought to
//! the OpenAI shape `stream.rs` checks, with what LiteLLM keeps of Azure's fields (both
//! verified versions; proved by the generated corpus of `tests/test_fast_lane_providers.py`).
//!
//! Azure OpenAI streams a first chunk of the prompt's filter results (`choices: []`, empty id,
//! model and object, `created: 0`, `prompt_filter_results`), then chunks whose choice carries the
//! `content_filter_results` of its text. LiteLLM drops that first chunk, unless the client asked
//! for `include_usage`: then it sends an empty chunk in its place (`"id":""`, `"choices":[]`).
//! A choice's filter results go first in LiteLLM's choice (`{"content_filter_results":...,
//! "index":0,"delta":...}`, Azure's key order); the finish chunk has none. The chunks' model
//! (Azure's model name, often dated) is replaced by the model group, but 1.110.x prices the
//! usage chunk's `cost` by it, at the unprefixed map entry's rates: the launcher lists the names
//! whose rates it knows (`AzureStreams`), any other model name goes to LiteLLM.
//!
//! hosted_vllm streams are OpenAI's (`stream.rs` covers vLLM's shape), asked for as LiteLLM's
//! generic handler asks: OpenAI's body, `Accept: */*`. vLLM's reasoning deltas (`reasoning_content`,
//! 0.10+: `reasoning`) come out as `{"reasoning_content": ...}`, without `include_usage` only
//! (LiteLLM then counts reasoning tokens itself).

use serde_json::Value;

use crate::providers::Provider;
use crate::responses_stream::J;
use crate::stream::Reject;
use crate::wire::{js, ChatRequest, Format};
use crate::Deployment;

/// What the launcher resolved for an Azure deployment's streams (from LiteLLM's price map).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureStreams {
    /// Model names Azure may report in its chunks whose price LiteLLM 1.110.x uses for the
    /// usage chunk's `cost`: the deployment name and its dated versions priced the same.
    pub models: Vec<String>,
    pub input_cost_per_token: f64,
    pub output_cost_per_token: f64,
}

/// The streaming request's body LiteLLM sends the deployment (`None`: the provider's streams
/// are not served).
pub fn request_body(format: Format, d: &Deployment, req: &ChatRequest) -> Vec<u8> {
    match &d.provider {
        Provider::Azure { .. } => {
            let messages = serde_json::to_string(&req.messages).expect("strings serialize");
            let model = js(&d.upstream_model);
            match format {
                // 1.110.x always asks for the usage chunk; 1.83.x passes the client's options.
                Format::V1_110 => format!(
                    r#"{{"model":{model},"stream":true,"messages":{messages},"stream_options":{{"include_usage":true}}}}"#
                ),
                Format::V1_83 => match &req.stream_options {
                    Some(o) => format!(r#"{{"messages":{messages},"model":{model},"stream":true,"stream_options":{o}}}"#),
                    None => format!(r#"{{"messages":{messages},"model":{model},"stream":true}}"#),
                },
            }
            .into_bytes()
        }
        _ => crate::wire::upstream_body(format, req, &d.upstream_model),
    }
}

/// One upstream event of a provider's stream, before `stream.rs` checks it.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Azure's prompt-filter chunk (LiteLLM: nothing, or an empty chunk with `include_usage`).
    Prompt,
    /// A chunk in OpenAI's shape; `prefix` goes first in the emitted choice.
    Chunk { prefix: String },
}

/// Bring an event of `d`'s stream to OpenAI's shape (in place).
pub fn prepare(d: &Deployment, v: &mut Value, payload: &[u8]) -> Result<Step, Reject> {
    let Provider::Azure { streams, .. } = &d.provider else { return Ok(Step::Chunk { prefix: String::new() }) };
    let streams = streams.as_ref().ok_or("azure streams not resolved")?;
    let o = v.as_object_mut().ok_or("not an object")?;
    if o.contains_key("prompt_filter_results") {
        let plain = crate::wire::exact_keys(o, &["choices", "created", "id", "model", "object", "prompt_filter_results"]);
        let empty = |k: &str| o.get(k).and_then(Value::as_str) == Some("");
        let ok = plain
            && empty("id")
            && empty("model")
            && empty("object")
            && o["created"].as_u64() == Some(0)
            && o["choices"].as_array().map_or(false, Vec::is_empty)
            && o["prompt_filter_results"].is_array();
        return if ok { Ok(Step::Prompt) } else { Err("azure prompt filter chunk shape") };
    }
    match o.get("model").and_then(Value::as_str) {
        Some(m) if streams.models.iter().any(|x| x == m) => {}
        _ => return Err("azure stream model not priced as verified"),
    }
    o.insert("model".into(), Value::String(d.upstream_model.clone()));
    let Some(choice) = o.get_mut("choices").and_then(Value::as_array_mut).and_then(|c| c.first_mut()) else {
        return Ok(Step::Chunk { prefix: String::new() });
    };
    let c = choice.as_object_mut().ok_or("choice")?;
    let Some(filters) = c.remove("content_filter_results") else { return Ok(Step::Chunk { prefix: String::new() }) };
    let filters = filters.as_object().ok_or("content_filter_results")?;
    let finish = !c.get("finish_reason").map_or(true, Value::is_null);
    if finish {
        // The finish chunk's (empty) filter results are dropped; text with them was not verified.
        let text = c.get("delta").and_then(|d| d.get("content")).and_then(Value::as_str).map_or(false, |s| !s.is_empty());
        return if filters.is_empty() && !text { Ok(Step::Chunk { prefix: String::new() }) } else { Err("azure finish chunk shape") };
    }
    // Azure's key order, which LiteLLM keeps, from an ordered parse.
    let J::Obj(top) = serde_json::from_slice::<J>(payload).map_err(|_| "not JSON")? else { return Err("not an object") };
    let find = |m: &[(String, J)], k: &str| m.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let Some(J::Arr(choices)) = find(&top, "choices") else { return Err("choices") };
    let Some(J::Obj(c0)) = choices.first() else { return Err("choice") };
    let rendered = find(c0, "content_filter_results").and_then(|f| crate::providers::render(&f)).ok_or("filter results not verified")?;
    Ok(Step::Chunk { prefix: format!(r#""content_filter_results":{rendered},"#) })
}

/// hosted_vllm (and the other providers LiteLLM's HTTP handler calls): the response head waits
/// for the stream's second event (see `stream.rs`), so that reasoning the front declines is still
/// replayed through LiteLLM.
pub fn hold_head(d: &Deployment) -> bool {
    d.provider.http_handler()
}

/// `(prompt_cost, completion_cost)` of a stream's usage chunk as LiteLLM prices it.
pub fn usage_cost(d: &Deployment, p: u64, k: u64) -> (f64, f64) {
    match &d.provider {
        Provider::Azure { streams: Some(s), .. } => {
            let priced = Deployment {
                input_cost_per_token: s.input_cost_per_token,
                output_cost_per_token: s.output_cost_per_token,
                ..d.clone()
            };
            crate::wire::cost_of(&priced, p, k)
        }
        _ => crate::wire::cost_of(d, p, k),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn azure() -> Deployment {
        Deployment {
            id: "x".into(),
            model: "azure/gpt-4o-mini".into(),
            upstream_model: "gpt-4o-mini".into(),
            api_base: "http://h:1".into(),
            api_key: "k".into(),
            input_cost_per_token: 1.65e-7,
            output_cost_per_token: 6.6e-7,
            provider: Provider::Azure {
                api_version: "2024-10-21".into(),
                streams: Some(AzureStreams {
                    models: vec!["gpt-4o-mini".into(), "gpt-4o-mini-2024-07-18".into()],
                    input_cost_per_token: 1.5e-7,
                    output_cost_per_token: 6e-7,
                }),
            },
            tls: None,
        }
    }

    fn step(payload: &str) -> (Result<Step, Reject>, Value) {
        let mut v: Value = serde_json::from_str(payload).unwrap();
        let s = prepare(&azure(), &mut v, payload.as_bytes());
        (s, v)
    }

    #[test]
    fn prompt_chunk_filters_first_and_model() {
        let prompt = r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}"#;
        assert_eq!(step(prompt).0, Ok(Step::Prompt));
        assert!(step(&prompt.replace(r#""created":0"#, r#""created":1"#)).0.is_err());
        let text = r#"{"choices":[{"content_filter_results":{"violence":{"filtered":false,"severity":"safe"},"hate":{"filtered":false,"severity":"low"}},"delta":{"content":"a"},"finish_reason":null,"index":0,"logprobs":null}],"created":1,"id":"c","model":"gpt-4o-mini-2024-07-18","object":"chat.completion.chunk"}"#;
        let (s, v) = step(text);
        assert_eq!(
            s,
            Ok(Step::Chunk {
                prefix: r#""content_filter_results":{"violence":{"filtered":false,"severity":"safe"},"hate":{"filtered":false,"severity":"low"}},"#.into()
            })
        );
        assert_eq!(v["model"], "gpt-4o-mini");
        assert!(v["choices"][0].get("content_filter_results").is_none());
        assert!(step(&text.replace("gpt-4o-mini-2024-07-18", "gpt-4o")).0.is_err());
        let finish = r#"{"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"stop","index":0}],"created":1,"id":"c","model":"gpt-4o-mini","object":"chat.completion.chunk"}"#;
        assert_eq!(step(finish).0, Ok(Step::Chunk { prefix: String::new() }));
        assert!(step(&finish.replace(r#""content_filter_results":{}"#, r#""content_filter_results":{"x":{}}"#)).0.is_err());
        let (pc, kc) = usage_cost(&azure(), 1271, 51);
        assert_eq!(pc + kc, 0.00022124999999999998);
    }
}
