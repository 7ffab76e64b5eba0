//! The request envelope the front accepts, and LiteLLM's answer rebuilt per version.
//!
//! Every shape here was observed on the stock proxy and is re-checked by the parity
//! tests; anything outside it is declined (the request goes to Python).

use fast_litellm_core::cost::{generic_cost, Rates, TokenUsage};
use hyper::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::answer_shapes::{self, Extras};
use crate::openai_extras;
use crate::providers;
use crate::pyfmt::float_repr;
use crate::Deployment;

/// Which LiteLLM release's output the front reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Format {
    /// LiteLLM 1.110.2: `refusal` in the message, `logprobs` in the choice, model-name
    /// and cost-breakdown headers, security headers.
    #[serde(rename = "litellm-1.110")]
    V1_110,
    /// LiteLLM 1.83.14: `refusal` inside the message's `provider_specific_fields`,
    /// no `logprobs` key, `server: uvicorn`.
    #[serde(rename = "litellm-1.83")]
    V1_83,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// `{"model": ..., "messages": [{"role": ..., "content": "..."}]}`, optionally
/// `"stream": false` or `null` (LiteLLM drops it before calling the upstream), or
/// `"stream": true` with optionally `"stream_options": {"include_usage": <bool>}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub stream: Option<Value>,
    #[serde(default)]
    pub stream_options: Option<Value>,
}

impl ChatRequest {
    pub fn streaming(&self) -> bool {
        matches!(self.stream, Some(Value::Bool(true)))
    }
    /// `stream_options.include_usage` (parse_request admits only that key, as a bool).
    pub fn include_usage(&self) -> Option<bool> {
        self.stream_options.as_ref().and_then(|o| o.get("include_usage")).and_then(Value::as_bool)
    }
}

pub struct Plan {
    pub req: ChatRequest,
    pub deployment: Deployment,
}

pub fn parse_request(body: &[u8]) -> Option<ChatRequest> {
    let req: ChatRequest = serde_json::from_slice(body).ok()?;
    if req.messages.is_empty() {
        return None;
    }
    // serde maps `"stream": null` to None as well.
    if !matches!(req.stream, None | Some(Value::Bool(_))) {
        return None;
    }
    match &req.stream_options {
        None => {}
        Some(Value::Object(o)) if req.streaming() && o.len() == 1 && o.get("include_usage").map_or(false, Value::is_boolean) => {}
        _ => return None,
    }
    for m in &req.messages {
        if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
            return None;
        }
    }
    Some(req)
}

#[derive(Serialize)]
struct UpstreamRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<Value>,
}

/// What LiteLLM sends upstream: for streams, 1.110.2 always asks for the usage chunk,
/// 1.83.14 passes the client's `stream_options` through.
pub fn upstream_body(format: Format, req: &ChatRequest, upstream_model: &str) -> Vec<u8> {
    let (stream, stream_options) = if req.streaming() {
        let opts = match format {
            Format::V1_110 => Some(serde_json::json!({"include_usage": true})),
            Format::V1_83 => req.stream_options.clone(),
        };
        (Some(true), opts)
    } else {
        (None, None)
    };
    serde_json::to_vec(&UpstreamRequest { model: upstream_model, messages: &req.messages, stream, stream_options })
        .expect("strings serialize")
}

/// The upstream answer, reduced to what LiteLLM's output carries.
pub struct Answer {
    pub id: String,
    pub created: serde_json::Number,
    pub system_fingerprint: String,
    pub content: String,
    pub finish_reason: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// OpenAI's optional fields the answer carried (`answer_shapes`).
    pub extras: Extras,
}

pub(crate) fn exact_keys(obj: &serde_json::Map<String, Value>, keys: &[&str]) -> bool {
    obj.len() == keys.len() && keys.iter().all(|k| obj.contains_key(*k))
}

/// The head of an upstream SSE answer the front may stream from; `Err`: why not.
pub fn stream_head_check(headers: &HeaderMap) -> Result<(), &'static str> {
    for (name, value) in headers.iter() {
        let ok = matches!(name.as_str(), "content-type" | "cache-control" | "transfer-encoding" | "date" | "server");
        if !ok {
            return Err("upstream header outside the envelope");
        }
        if value.to_str().is_err() {
            return Err("upstream header not ASCII");
        }
    }
    match headers.get("content-type").and_then(|v| v.to_str().ok()) {
        Some(ct) if ct == "text/event-stream" || ct.starts_with("text/event-stream;") => Ok(()),
        _ => Err("upstream content-type"),
    }
}

/// An upstream JSON answer whose headers LiteLLM's handling is reproduced for, parsed.
pub fn json_answer(body: &[u8], headers: &HeaderMap) -> Option<Value> {
    if !crate::upstream_headers::accepted(headers) {
        return None;
    }
    let ct = headers.get("content-type")?.to_str().ok()?;
    if !(ct == "application/json" || ct.starts_with("application/json;")) {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// An answer in OpenAI's plain shapes (no tool calls, refusal, logprobs, cached or reasoning
/// tokens, the deployment's model name: what every provider's path reproduces).
pub fn parse_upstream(body: &[u8], headers: &HeaderMap, upstream_model: &str) -> Option<Answer> {
    parse_openai(body, headers, upstream_model)
        .filter(|a| a.extras.rich.is_plain() && a.extras.cached_tokens == 0 && a.extras.reasoning_tokens == 0 && a.extras.model.is_none())
}

/// An answer in OpenAI's shapes, tool calls, refusals, logprobs and token details included
/// (`openai_extras`, `answer_shapes`: as LiteLLM prints them for an `openai/` deployment; the
/// caller checks the pricing with `answer_shapes::price`).
pub fn parse_openai(body: &[u8], headers: &HeaderMap, upstream_model: &str) -> Option<Answer> {
    let v = json_answer(body, headers)?;
    let o = v.as_object()?;
    let service_tier = answer_shapes::service_tier(o)?;
    let base = &["id", "object", "created", "model", "system_fingerprint", "choices", "usage"];
    if o.len() != base.len() + usize::from(service_tier.is_some()) || !base.iter().all(|k| o.contains_key(*k)) {
        return None;
    }
    if o["object"].as_str()? != "chat.completion" {
        return None;
    }
    // Another name: a dated snapshot of the model at most (`answer_shapes::price` decides).
    let model = match o["model"].as_str()? {
        m if m == upstream_model => None,
        m if m.strip_prefix(upstream_model).map_or(false, |rest| rest.starts_with('-')) => Some(m.to_string()),
        _ => return None,
    };
    let id = o["id"].as_str()?.to_string();
    let created = match &o["created"] {
        Value::Number(n) if n.is_u64() => n.clone(),
        _ => return None,
    };
    let system_fingerprint = o["system_fingerprint"].as_str()?.to_string();
    let choices = o["choices"].as_array()?;
    if choices.len() != 1 {
        return None;
    }
    let c = choices[0].as_object()?;
    if !exact_keys(c, &["index", "message", "logprobs", "finish_reason"]) {
        return None;
    }
    if c["index"].as_u64()? != 0 {
        return None;
    }
    let m = c["message"].as_object()?;
    let annotations = answer_shapes::message_extras(m)?;
    if m.get("role")?.as_str()? != "assistant" {
        return None;
    }
    let (content, mut rich) = openai_extras::message(m)?;
    rich.logprobs = openai_extras::logprobs(&c["logprobs"])?;
    let finish_reason = openai_extras::finish_reason(c["finish_reason"].as_str()?, &rich)?;
    // LiteLLM moves a leading `<think>...</think>` (or `<thinking>`, `<budget:thinking>`) into
    // `reasoning_content`: such an answer is held for LiteLLM to print.
    if ["<think>", "<thinking>", "<budget:thinking>"].iter().any(|t| content.starts_with(t)) {
        return None;
    }
    let u = o["usage"].as_object()?;
    let (details, cached_tokens, reasoning_tokens) = answer_shapes::usage_extras(u)?;
    if !["prompt_tokens", "completion_tokens", "total_tokens"].iter().all(|k| u.contains_key(*k)) {
        return None;
    }
    let (p, k, t) = (u["prompt_tokens"].as_u64()?, u["completion_tokens"].as_u64()?, u["total_tokens"].as_u64()?);
    const LIMIT: u64 = 1 << 40;
    if p >= LIMIT || k >= LIMIT || t != p + k {
        return None;
    }
    Some(Answer {
        id,
        created,
        system_fingerprint,
        content,
        finish_reason: finish_reason.to_string(),
        prompt_tokens: p,
        completion_tokens: k,
        total_tokens: t,
        extras: Extras { annotations, details, service_tier, rich, cached_tokens, reasoning_tokens, model, ..Extras::default() },
    })
}

pub fn js(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// The body LiteLLM's proxy returns (compact JSON, UTF-8, its key order).
pub fn render_body(format: Format, a: &Answer, requested_model: &str) -> Vec<u8> {
    if let Some(shape) = &a.extras.server {
        return crate::server_shapes::render(format, a, shape, requested_model);
    }
    let message = answer_shapes::render_message(format, &a.content, &a.extras);
    let fields = providers::choice_fields(&a.extras.filters);
    let choice_tail = openai_extras::choice_tail(format, &a.extras.rich, &fields);
    format!(
        r#"{{"id":{},"created":{},"model":{},"object":"chat.completion","system_fingerprint":{},"choices":[{{"finish_reason":{},"index":0,"message":{}{}],"usage":{{"completion_tokens":{},"prompt_tokens":{},"total_tokens":{}{}}}{}}}"#,
        js(&a.id),
        a.created,
        js(requested_model),
        js(&a.system_fingerprint),
        js(&a.finish_reason),
        message,
        choice_tail,
        a.completion_tokens,
        a.prompt_tokens,
        a.total_tokens,
        answer_shapes::render_usage_details(&a.extras),
        answer_shapes::render_tail(&a.extras) + &providers::top_tail(&a.extras.filters),
    )
    .into_bytes()
}

/// `(prompt_cost, completion_cost)` with LiteLLM's generic per-token arithmetic.
pub fn cost(d: &Deployment, a: &Answer) -> (f64, f64) {
    answer_shapes::token_cost(d, a).unwrap_or_else(|| cost_of(d, a.prompt_tokens, a.completion_tokens))
}

pub fn cost_of(d: &Deployment, prompt_tokens: u64, completion_tokens: u64) -> (f64, f64) {
    let rates = Rates {
        input: d.input_cost_per_token,
        output: d.output_cost_per_token,
        cache_creation: 0.0,
        cache_read: 0.0,
        reasoning: None,
        tiers: Vec::new(),
        double_count_includes_creation: false,
    };
    let usage = TokenUsage {
        prompt: prompt_tokens as i64,
        completion: completion_tokens as i64,
        ..TokenUsage::default()
    };
    generic_cost(&rates, &usage)
}

pub(crate) fn uuid4() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::getrandom(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{:02x}", x)).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// The `x-litellm-*` (and other) headers the stock proxy sets, in its order.
#[allow(clippy::too_many_arguments)]
pub fn litellm_headers(
    format: Format,
    version: &str,
    d: &Deployment,
    requested_model: &str,
    a: Option<&Answer>,
    upstream: &HeaderMap,
    response_ms: f64,
    overhead_ms: f64,
) -> Vec<(String, String)> {
    // A stream's head goes out before its usage is known: every cost header is 0.0
    // and `x-litellm-response-cost` is absent on both versions.
    let streaming = a.is_none();
    let (prompt_cost, completion_cost) = a.map_or((0.0, 0.0), |a| cost(d, a));
    let total = prompt_cost + completion_cost;
    let spend = if total > 0.0 { 0.0 + total } else { 0.0 };
    let api_base = d.api_base.split('?').next().unwrap_or("").to_string();
    let mut h: Vec<(String, String)> = Vec::with_capacity(32);
    let mut put = |k: &str, v: String| h.push((k.to_string(), v));
    if format == Format::V1_83 {
        put("server", "uvicorn".into());
    }
    put("x-litellm-call-id", uuid4());
    put("x-litellm-model-id", d.id.clone());
    if format == Format::V1_110 {
        put("x-litellm-model-name", d.model.clone());
    }
    put("x-litellm-model-api-base", api_base);
    put("x-litellm-version", version.to_string());
    // 1.83.14 reads the cost as `hidden_params.get("response_cost") or ""`: a zero cost
    // becomes "" and the header is dropped.
    // 1.110.x has no cost for a model its map does not price, and prints no cost header.
    // (Its streams print them as for any model: all 0.0 at the head.)
    let costed = streaming || !(format == Format::V1_110 && !d.provider.priced());
    if costed && !streaming && !(format == Format::V1_83 && total == 0.0) {
        put("x-litellm-response-cost", float_repr(total));
    }
    if costed {
        put("x-litellm-response-cost-original", float_repr(total));
        put("x-litellm-response-cost-discount-amount", "0.0".into());
        put("x-litellm-response-cost-margin-amount", "0.0".into());
        put("x-litellm-response-cost-margin-percent", "0.0".into());
    }
    if costed && format == Format::V1_110 {
        // Cached and reasoning tokens: their own headers, the input header without the cache read.
        let (cache_read, reasoning) = a.and_then(|a| answer_shapes::token_breakdown(d, a)).unwrap_or((0.0, 0.0));
        put("x-litellm-response-cost-input", float_repr(prompt_cost - cache_read));
        put("x-litellm-response-cost-output", float_repr(completion_cost));
        if cache_read > 0.0 {
            put("x-litellm-response-cost-cache-read", float_repr(cache_read));
        }
        if reasoning > 0.0 {
            put("x-litellm-response-cost-reasoning", float_repr(reasoning));
        }
        put("x-litellm-response-cost-tool-usage", "0.0".into());
    }
    put("x-litellm-key-spend", float_repr(spend));
    put("x-litellm-response-duration-ms", float_repr(response_ms));
    put("x-litellm-overhead-duration-ms", float_repr(overhead_ms));
    put("x-litellm-callback-duration-ms", "0.0".into());
    // 1.83.x's generic handler (hosted_vllm, ...) does not pass a stream's upstream headers on.
    let hidden = streaming && format == Format::V1_83 && d.provider.http_handler();
    for (name, value) in crate::upstream_headers::litellm_view(format, upstream).into_iter().filter(|_| !hidden) {
        put(&name, value);
    }
    if !(streaming && format == Format::V1_83) {
        put("x-litellm-model-group", requested_model.to_string());
        put("x-litellm-attempted-retries", "0".into());
        put("x-litellm-attempted-fallbacks", "0".into());
    }
    if streaming {
        if format == Format::V1_110 {
            put("cache-control", "no-cache".into());
            put("x-accel-buffering", "no".into());
        }
        put("content-type", "text/event-stream; charset=utf-8".into());
    }
    put("vary", "Origin".into());
    if format == Format::V1_110 {
        put("x-frame-options", "DENY".into());
        put("content-security-policy", "frame-ancestors 'none'".into());
        put("x-content-type-options", "nosniff".into());
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(content: &str) -> Vec<u8> {
        format!(
            r#"{{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{{"index":0,"message":{{"role":"assistant","content":{},"refusal":null}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}},"system_fingerprint":"fp"}}"#,
            serde_json::to_string(content).unwrap()
        )
        .into_bytes()
    }

    #[test]
    fn reasoning_tags_leading_the_content_are_held() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        assert!(parse_upstream(&answer("hi <think>x</think>"), &h, "m").is_some());
        for c in ["<think>a</think>b", "<thinking>a</thinking>b", "<budget:thinking>a</budget:thinking>"] {
            assert!(parse_upstream(&answer(c), &h, "m").is_none(), "{c}");
        }
    }
}
