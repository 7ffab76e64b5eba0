//! OpenAI-compatible providers besides `openai/`, `azure/` and `hosted_vllm/` that LiteLLM
//! sends OpenAI's request and whose OpenAI-shaped answer it prints as OpenAI's (both verified
//! versions; proved by `tests/test_fast_lane_compat.py` against the stock proxy).
//!
//! Which client LiteLLM calls a provider with decides the request:
//! * `custom_openai/<model>`: LiteLLM's OpenAI SDK client, as for `openai/` (Bearer key, body
//!   `model` and `messages`);
//! * `deepseek/<model>`, `mistral/<model>`: LiteLLM's own HTTP handler with OpenAI's transforms,
//!   as for `hosted_vllm/` (`Accept: */*`; `"stream": false` in the body, not for mistral).
//!
//! LiteLLM's map prices `deepseek/` and `mistral/` models (its `deepseek/<model>` entry, ...);
//! it has no `custom_openai/` entry: as for `hosted_vllm/`, 1.110.x then prints no cost header
//! and 1.83.x zero costs.
//!
//! What each changes of a request inside the front's envelope, or of its answer:
//! * mistral drops every message whose content is `""` (its "empty assistant message" check
//!   looks at all roles) and prints an answer's `""` content as `null`: such a request goes to
//!   LiteLLM, such an answer is held for LiteLLM to print.
//! * deepseek and custom_openai change neither.
//! Answers: OpenAI's shapes (`wire::parse_upstream`) as for `openai/`; through the OpenAI SDK
//! client also the other servers' shapes (`server_shapes.rs`); through the HTTP handler plain
//! ones (`parse_plain`: Mistral's, DeepSeek's without cache hits). Anything else -- cache hits,
//! reasoning, tool calls, Groq's or OpenRouter's extra keys -- is held (one upstream call).
//! Streams of these providers go to LiteLLM before any upstream call unless the launcher says
//! otherwise (`Provider::Compat::streams`; none verified yet). Prices are LiteLLM's map entry for
//! the model, which the launcher reads from the running proxy (`fastlane/providers.py`).

use hyper::HeaderMap;
use serde_json::Value;

use crate::wire::{js, Answer, ChatRequest, Format};

/// The LiteLLM client that calls the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Client {
    /// The OpenAI SDK client: OpenAI's request.
    OpenaiSdk,
    /// LiteLLM's HTTP handler (`BaseLLMHTTPHandler`): `Accept: */*`, `"stream": false`.
    HttpHandler,
}

/// Providers whose rewrites of a request or an answer are listed in the module doc.
const MISTRAL: &str = "mistral";

/// LiteLLM's HTTP handler puts `"stream": false` in a non-streaming request's body (Mistral's
/// config leaves it out).
pub fn sends_stream_false(provider: &str) -> bool {
    provider != MISTRAL
}

/// The request is one LiteLLM sends `provider` unchanged (else it goes to LiteLLM).
pub fn accepts(provider: &str, req: &ChatRequest) -> bool {
    !(provider == MISTRAL && req.messages.iter().any(|m| m.content.is_empty()))
}

/// What a plain answer through LiteLLM's HTTP handler carried beyond the counts and the text
/// (`parse_plain`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plain {
    fingerprint: Option<String>,
    /// The choice had `logprobs: null`.
    logprobs: bool,
    /// DeepSeek's usage without cache hits: `prompt_cache_miss_tokens` (LiteLLM keeps its cache
    /// counts; a hit changes the cost and is held).
    cache_miss: Option<u64>,
}

/// The provider's answer in OpenAI's shapes (through the OpenAI SDK client also the other
/// servers' shapes LiteLLM prints as for `openai/`: `server_shapes.rs`; through the HTTP handler
/// the plain shape of `parse_plain`), or `None` (held).
pub fn parse(provider: &str, client: Client, body: &[u8], headers: &HeaderMap, upstream_model: &str) -> Option<Answer> {
    let a = crate::wire::parse_upstream(body, headers, upstream_model).or_else(|| match client {
        Client::OpenaiSdk => crate::server_shapes::parse(body, headers, upstream_model),
        Client::HttpHandler => parse_plain(body, headers, upstream_model),
    })?;
    if provider == MISTRAL && a.content.is_empty() {
        return None;
    }
    Some(a)
}

/// A plain answer (Mistral's: no `refusal`, `tool_calls: null`, no fingerprint or `logprobs`;
/// DeepSeek's: a fingerprint, `logprobs: null`, its cache counts without hits) through
/// LiteLLM's HTTP handler, which
/// builds its answer from the JSON as sent: `None` for any other key or value.
fn parse_plain(body: &[u8], headers: &HeaderMap, upstream_model: &str) -> Option<Answer> {
    let v = crate::wire::json_answer(body, headers)?;
    let o = v.as_object()?;
    let mut shape = Plain::default();
    for (k, x) in o {
        match k.as_str() {
            "id" | "object" | "created" | "model" | "choices" | "usage" => {}
            // Ollama's fingerprint makes LiteLLM 1.110.x replace the id (`server_shapes.rs`).
            "system_fingerprint" if x.as_str()? != "fp_ollama" => shape.fingerprint = Some(x.as_str()?.to_string()),
            _ => return None,
        }
    }
    if o.get("object")?.as_str()? != "chat.completion" || o.get("model")?.as_str()? != upstream_model {
        return None;
    }
    let created = match o.get("created")? {
        Value::Number(n) if n.is_u64() => n.clone(),
        _ => return None,
    };
    let c = match o.get("choices")?.as_array()?.as_slice() {
        [c] => c.as_object()?,
        _ => return None,
    };
    for (k, x) in c {
        match k.as_str() {
            "index" | "message" | "finish_reason" => {}
            "logprobs" if x.is_null() => shape.logprobs = true,
            _ => return None,
        }
    }
    let finish_reason = c.get("finish_reason")?.as_str()?;
    if c.get("index")?.as_u64()? != 0 || !matches!(finish_reason, "stop" | "length") {
        return None;
    }
    let m = c.get("message")?.as_object()?;
    for (k, x) in m {
        match k.as_str() {
            "role" | "content" => {}
            "tool_calls" if x.is_null() => {}
            _ => return None,
        }
    }
    let content = m.get("content")?.as_str()?;
    // LiteLLM splits `<think>...</think>` off the content; an empty one is not verified.
    if m.get("role")?.as_str()? != "assistant" || content.is_empty() || content.starts_with('<') {
        return None;
    }
    let u = o.get("usage")?.as_object()?;
    let counts = ["prompt_tokens", "completion_tokens", "total_tokens"];
    let deepseek = [&counts[..], &["prompt_tokens_details", "prompt_cache_hit_tokens", "prompt_cache_miss_tokens"]].concat();
    if crate::wire::exact_keys(u, &deepseek) {
        let details = u["prompt_tokens_details"].as_object()?;
        let no_hits = details.len() == 1
            && details.get("cached_tokens")?.as_u64()? == 0
            && u["prompt_cache_hit_tokens"].as_u64()? == 0;
        if !no_hits {
            return None;
        }
        shape.cache_miss = Some(u["prompt_cache_miss_tokens"].as_u64().filter(|n| *n < 1 << 40)?);
    } else if !crate::wire::exact_keys(u, &counts) {
        return None;
    }
    let (p, k, t) = (u["prompt_tokens"].as_u64()?, u["completion_tokens"].as_u64()?, u["total_tokens"].as_u64()?);
    if p >= 1 << 40 || k >= 1 << 40 || t != p + k {
        return None;
    }
    // An empty id (TGI's) is replaced by LiteLLM.
    let id = o.get("id")?.as_str().filter(|id| !id.is_empty())?.to_string();
    let filters = crate::providers::Filters { plain: Some(shape), ..Default::default() };
    let extras = crate::answer_shapes::Extras { filters, ..Default::default() };
    Some(Answer {
        id,
        created,
        system_fingerprint: String::new(),
        content: content.to_string(),
        finish_reason: finish_reason.to_string(),
        prompt_tokens: p,
        completion_tokens: k,
        total_tokens: t,
        extras,
    })
}

/// LiteLLM's body for a plain answer (`parse_plain`).
pub fn render_plain(format: Format, a: &Answer, shape: &Plain, requested_model: &str) -> Vec<u8> {
    let fingerprint = shape.fingerprint.as_deref().map(|f| format!(r#","system_fingerprint":{}"#, js(f))).unwrap_or_default();
    let logprobs = if shape.logprobs && format == Format::V1_110 { r#","logprobs":null"# } else { "" };
    let usage_tail = match shape.cache_miss {
        Some(n) => {
            format!(r#","prompt_tokens_details":{{"cached_tokens":0}},"prompt_cache_hit_tokens":0,"prompt_cache_miss_tokens":{n}"#)
        }
        None => String::new(),
    };
    format!(
        r#"{{"id":{},"created":{},"model":{},"object":"chat.completion"{fingerprint},"choices":[{{"finish_reason":{},"index":0,"message":{{"content":{},"role":"assistant"}},"provider_specific_fields":{{}}{logprobs}}}],"usage":{{"completion_tokens":{},"prompt_tokens":{},"total_tokens":{}{usage_tail}}}}}"#,
        js(&a.id),
        a.created,
        js(requested_model),
        js(&a.finish_reason),
        js(&a.content),
        a.completion_tokens,
        a.prompt_tokens,
        a.total_tokens,
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(contents: &[&str]) -> ChatRequest {
        let messages: Vec<_> = contents.iter().map(|c| serde_json::json!({"role": "user", "content": c})).collect();
        crate::wire::parse_request(serde_json::json!({"model": "m", "messages": messages}).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn mistral_empty_messages_and_answers_go_to_litellm() {
        assert!(accepts("mistral", &req(&["hi"])));
        assert!(!accepts("mistral", &req(&["hi", ""])));
        assert!(accepts("deepseek", &req(&["hi", ""])));
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        let body = |c: &str| {
            format!(
                r#"{{"id":"x","object":"chat.completion","created":1,"model":"m","system_fingerprint":"fp","choices":[{{"index":0,"message":{{"role":"assistant","content":"{c}","refusal":null}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":1,"completion_tokens":0,"total_tokens":1}}}}"#
            )
        };
        assert!(parse("mistral", Client::HttpHandler, body("").as_bytes(), &h, "m").is_none());
        assert!(parse("deepseek", Client::HttpHandler, body("").as_bytes(), &h, "m").is_some());
        assert!(parse("mistral", Client::HttpHandler, body("ok").as_bytes(), &h, "m").is_some());
    }

    #[test]
    fn plain_answers_through_the_http_handler() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        let mistral = |id: &str, extra: &str| {
            format!(
                r#"{{"id":"{id}","object":"chat.completion","model":"m","usage":{{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}},"created":7,"choices":[{{"index":0,"message":{{"content":"hi","tool_calls":null,"role":"assistant"}},"finish_reason":"stop"}}]{extra}}}"#
            )
        };
        let a = parse("mistral", Client::HttpHandler, mistral("cmpl-1", "").as_bytes(), &h, "m").expect("served");
        assert_eq!(
            String::from_utf8(crate::providers::render_own(Format::V1_83, &a, "g").unwrap()).unwrap(),
            r#"{"id":"cmpl-1","created":7,"model":"g","object":"chat.completion","choices":[{"finish_reason":"stop","index":0,"message":{"content":"hi","role":"assistant"},"provider_specific_fields":{}}],"usage":{"completion_tokens":3,"prompt_tokens":2,"total_tokens":5}}"#
        );
        assert!(parse("mistral", Client::HttpHandler, mistral("", "").as_bytes(), &h, "m").is_none());
        let ollama = mistral("c", r#","system_fingerprint":"fp_ollama""#);
        assert!(parse("mistral", Client::HttpHandler, ollama.as_bytes(), &h, "m").is_none());
        let other = mistral("c", r#","x_groq":{}"#);
        assert!(parse("deepseek", Client::HttpHandler, other.as_bytes(), &h, "m").is_none());
    }
}
