//! OpenAI-compatible providers besides `openai/`, `azure/` and `hosted_vllm/` that LiteLLM
//! sends OpenAI's request and whose OpenAI-shaped answer it prints as OpenAI's (both verified
//! versions; proved by `tests/test_fast_lane_compat.py` against the stock proxy).
//!
//! Which client LiteLLM calls a provider with decides the request:
//! * `custom_openai/<model>`: LiteLLM's OpenAI SDK client, as for `openai/` (Bearer key, body
//!   `model` and `messages`);
//! * `deepseek/<model>`, `mistral/<model>`: LiteLLM's own HTTP handler with OpenAI's transforms,
//!   as for `hosted_vllm/` (`Accept: */*`, `"stream": false` in the body).
//!
//! What each changes of a request inside the front's envelope, or of its answer:
//! * mistral drops every message whose content is `""` (its "empty assistant message" check
//!   looks at all roles) and prints an answer's `""` content as `null`: such a request goes to
//!   LiteLLM, such an answer is held for LiteLLM to print.
//! * deepseek and custom_openai change neither.
//! Answers beyond OpenAI's plain shapes (`wire::parse_upstream`) -- DeepSeek's cache-hit usage,
//! reasoning, tool calls -- are held (one upstream call). Streams of these providers go to
//! LiteLLM before any upstream call (not verified). Prices are LiteLLM's map entry for the
//! model, which the launcher reads from the running proxy (`fastlane/providers.py`).

use hyper::HeaderMap;

use crate::wire::{Answer, ChatRequest};

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

/// The request is one LiteLLM sends `provider` unchanged (else it goes to LiteLLM).
pub fn accepts(provider: &str, req: &ChatRequest) -> bool {
    !(provider == MISTRAL && req.messages.iter().any(|m| m.content.is_empty()))
}

/// The provider's answer in OpenAI's shapes (through the OpenAI SDK client also the other
/// servers' shapes LiteLLM prints as for `openai/`: `server_shapes.rs`), or `None` (held).
pub fn parse(provider: &str, client: Client, body: &[u8], headers: &HeaderMap, upstream_model: &str) -> Option<Answer> {
    let a = crate::wire::parse_upstream(body, headers, upstream_model).or_else(|| match client {
        Client::OpenaiSdk => crate::server_shapes::parse(body, headers, upstream_model),
        Client::HttpHandler => None,
    })?;
    if provider == MISTRAL && a.content.is_empty() {
        return None;
    }
    Some(a)
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
}
