//! Upstream providers besides OpenAI that the front calls as LiteLLM does.
//!
//! * `azure/<deployment>`: LiteLLM's Azure OpenAI client (both verified versions) calls
//!   `<api_base>/openai/deployments/<deployment>/chat/completions?api-version=<v>` with the
//!   key in `api-key` (1.83.x also sends it as a Bearer `authorization`) and `"stream": false`
//!   in the body. Azure's content-filter annotations come back as LiteLLM passes them: a
//!   choice's `content_filter_results` inside that choice's `provider_specific_fields`, the
//!   top-level `prompt_filter_results` after `usage`, each in Azure's key order. Azure streams
//!   (a first chunk of prompt filter results, filter results per chunk) are re-emitted as
//!   LiteLLM emits them (`provider_streams.rs`) when the launcher resolved their pricing;
//!   else they go to LiteLLM before any upstream call.
//!
//! * `hosted_vllm/<model>` (a model LiteLLM's map does not price): `<api_base>/chat/completions`
//!   with `Accept: */*` and `"stream": false`; LiteLLM 1.110.x prints no cost header at all,
//!   1.83.x zero costs. Its streams are OpenAI's request and vLLM's stream shape (`stream.rs`),
//!   with the same headers.
//!   Besides OpenAI's shapes, vLLM's own answer (0.6+: `reasoning_content: null`,
//!   `tool_calls: []`, `stop_reason: null`, `prompt_logprobs: null`, no fingerprint) is served as
//!   LiteLLM prints it: a bare message, `stop_reason` in the choice's `provider_specific_fields`
//!   (1.110.x: also after `logprobs`), plain usage.
//!   On `openai/` LiteLLM 1.83.x prints the same answer with the message's
//!   `provider_specific_fields: {"refusal": null}` (`server_shapes.rs`).
//!
//! * `custom_openai/`, `deepseek/`, `mistral/` (`compat_providers.rs`): OpenAI's request through
//!   LiteLLM's OpenAI SDK client (as `openai/`) or its HTTP handler (as `hosted_vllm/`), OpenAI's
//!   answer shapes, priced by LiteLLM's map; their streams go to LiteLLM.
//!
//! The launcher (`fastlane/providers.py`) says which provider a deployment is and resolves the API
//! version as LiteLLM does (the deployment's, else `AZURE_API_VERSION`, else LiteLLM's default).

use serde_json::Value;

use crate::answer_shapes::Extras;
use crate::responses_stream::J;
use crate::wire::{js, Answer, Format};
use crate::Deployment;

/// How the front calls a deployment's upstream.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Provider {
    /// An OpenAI-shaped API at `api_base` (`openai/`).
    #[default]
    Openai,
    /// Azure OpenAI (`azure/`): the deployment route and its `api-version`; `streams`: what
    /// its streams are priced by (`None`: they go to LiteLLM).
    Azure {
        api_version: String,
        #[serde(default)]
        streams: Option<crate::provider_streams::AzureStreams>,
    },
    /// vLLM's OpenAI-compatible server (`hosted_vllm/`), a model LiteLLM's map does not price:
    /// LiteLLM's generic HTTP handler (`Accept: */*`, `"stream": false`), no cost.
    HostedVllm,
    /// An OpenAI-compatible provider (`compat_providers.rs`): LiteLLM's name for it, the client
    /// LiteLLM calls it with, whether its streams are served (else they go to LiteLLM) and
    /// whether LiteLLM's map has no price for it (`custom_openai/`: as for `hosted_vllm/`).
    Compat {
        name: String,
        client: crate::compat_providers::Client,
        #[serde(default)]
        streams: bool,
        #[serde(default)]
        unpriced: bool,
    },
}

impl Provider {
    /// Streams this provider's upstream sends in a shape the front re-emits.
    pub fn streams(&self) -> bool {
        matches!(
            self,
            Provider::Openai | Provider::HostedVllm | Provider::Azure { streams: Some(_), .. } | Provider::Compat { streams: true, .. }
        )
    }

    /// `/v1/responses` goes to LiteLLM for anything but `openai/`.
    pub fn responses(&self) -> bool {
        matches!(self, Provider::Openai)
    }

    /// LiteLLM calls the upstream through its OpenAI SDK client: OpenAI's request body.
    pub fn openai_request(&self) -> bool {
        matches!(self, Provider::Openai | Provider::Compat { client: crate::compat_providers::Client::OpenaiSdk, .. })
    }

    /// LiteLLM calls the upstream through its own HTTP handler (`BaseLLMHTTPHandler`), not the
    /// OpenAI SDK client.
    pub fn http_handler(&self) -> bool {
        matches!(self, Provider::HostedVllm | Provider::Compat { client: crate::compat_providers::Client::HttpHandler, .. })
    }

    /// LiteLLM sends the request unchanged (else it goes to LiteLLM before any upstream call).
    pub fn accepts(&self, req: &crate::wire::ChatRequest) -> bool {
        match self {
            Provider::Compat { name, .. } => crate::compat_providers::accepts(name, req),
            _ => true,
        }
    }

    /// LiteLLM's map prices the model (else: no cost on 1.110.x, zero on 1.83.x).
    pub fn priced(&self) -> bool {
        !matches!(self, Provider::HostedVllm | Provider::Compat { unpriced: true, .. })
    }
}

/// The URL LiteLLM calls for `path` (`/chat/completions`) on `d`.
pub fn upstream_url(d: &Deployment, path: &str) -> String {
    match &d.provider {
        Provider::Openai | Provider::HostedVllm | Provider::Compat { .. } => format!("{}{}", d.api_base, path),
        Provider::Azure { api_version, .. } => {
            format!("{}/openai/deployments/{}{}?api-version={}", d.api_base, d.upstream_model, path, api_version)
        }
    }
}

/// The auth and content headers LiteLLM's client sends, in its order.
pub fn request_headers(format: Format, d: &Deployment) -> Vec<(&'static str, String)> {
    let bearer = || format!("Bearer {}", d.api_key);
    let json = || "application/json".to_string();
    use crate::compat_providers::Client;
    match (&d.provider, format) {
        (Provider::Openai | Provider::Compat { client: Client::OpenaiSdk, .. }, _) => {
            vec![("authorization", bearer()), ("content-type", json()), ("accept", json())]
        }
        (Provider::HostedVllm | Provider::Compat { client: Client::HttpHandler, .. }, _) => {
            vec![("accept", "*/*".into()), ("authorization", bearer()), ("content-type", json())]
        }
        (Provider::Azure { .. }, Format::V1_110) => {
            vec![("api-key", d.api_key.clone()), ("accept", json()), ("content-type", json())]
        }
        (Provider::Azure { .. }, Format::V1_83) => {
            vec![("accept", json()), ("content-type", json()), ("authorization", bearer()), ("api-key", d.api_key.clone())]
        }
    }
}

/// The body of a non-streaming chat request where it is not OpenAI's: LiteLLM sends
/// `"stream": false` (each provider's key order).
pub fn request_body(format: Format, d: &Deployment, messages: &[crate::wire::Message]) -> Vec<u8> {
    let messages = serde_json::to_string(messages).expect("strings serialize");
    let model = js(&d.upstream_model);
    let out = match (&d.provider, format) {
        (Provider::Azure { .. }, Format::V1_110) => format!(r#"{{"model":{model},"stream":false,"messages":{messages}}}"#),
        (Provider::Azure { .. }, Format::V1_83) => format!(r#"{{"messages":{messages},"model":{model},"stream":false}}"#),
        (Provider::Compat { name, .. }, _) if !crate::compat_providers::sends_stream_false(name) => {
            format!(r#"{{"model":{model},"messages":{messages}}}"#)
        }
        _ => format!(r#"{{"model":{model},"messages":{messages},"stream":false}}"#),
    };
    out.into_bytes()
}

/// Azure's content-filter annotations of one answer, rendered as LiteLLM prints them (and
/// whether the answer was in a provider's own shape: vLLM's, `vllm`; a compatible provider's
/// plain one, `plain`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Filters {
    pub vllm: bool,
    /// The choice's `content_filter_results` object.
    pub content: Option<String>,
    /// The top level's `prompt_filter_results` array.
    pub prompt: Option<String>,
    /// A plain answer of an OpenAI-compatible provider (`compat_providers.rs`).
    pub plain: Option<crate::compat_providers::Plain>,
}

/// Split an Azure answer: the body without its filter annotations (for the OpenAI-shape
/// check) and the annotations. `None`: annotations outside what the front reproduces (only
/// both or neither, one choice, plain JSON of strings, booleans and integers; no
/// `service_tier` alongside, whose place relative to them was not verified).
pub fn split_azure(body: &[u8]) -> Option<(Vec<u8>, Filters)> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object_mut()?;
    let prompt = o.remove("prompt_filter_results");
    let choice = o.get_mut("choices")?.as_array_mut()?.first_mut()?.as_object_mut()?;
    let content = choice.remove("content_filter_results");
    match (prompt.is_some(), content.is_some()) {
        (false, false) => return Some((body.to_vec(), Filters::default())),
        (true, true) => {}
        _ => return None,
    }
    if o.contains_key("service_tier") {
        return None;
    }
    // Serde's map sorts keys; Azure's order (which LiteLLM keeps) comes from an ordered parse.
    let J::Obj(top) = serde_json::from_slice::<J>(body).ok()? else { return None };
    let find = |m: &[(String, J)], k: &str| m.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let prompt = find(&top, "prompt_filter_results")?;
    let Some(J::Arr(choices)) = find(&top, "choices") else { return None };
    let Some(J::Obj(c0)) = choices.first() else { return None };
    let content = find(c0, "content_filter_results")?;
    if !matches!(prompt, J::Arr(_)) || !matches!(content, J::Obj(_)) {
        return None;
    }
    let filters = Filters { content: Some(render(&content)?), prompt: Some(render(&prompt)?), ..Filters::default() };
    Some((serde_json::to_vec(&v).ok()?, filters))
}

/// vLLM's own non-streaming answer (see the module doc), or `None`.
pub fn parse_vllm(body: &[u8], headers: &hyper::HeaderMap, upstream_model: &str) -> Option<Answer> {
    let v = crate::wire::json_answer(body, headers)?;
    let o = v.as_object()?;
    let keys = crate::wire::exact_keys;
    if !keys(o, &["id", "object", "created", "model", "choices", "usage", "prompt_logprobs"]) || !o["prompt_logprobs"].is_null() {
        return None;
    }
    if o["object"].as_str()? != "chat.completion" || o["model"].as_str()? != upstream_model {
        return None;
    }
    let created = match &o["created"] {
        Value::Number(n) if n.is_u64() => n.clone(),
        _ => return None,
    };
    let choices = o["choices"].as_array()?;
    let c = match choices.as_slice() {
        [c] => c.as_object()?,
        _ => return None,
    };
    if !keys(c, &["index", "message", "logprobs", "finish_reason", "stop_reason"])
        || c["index"].as_u64()? != 0
        || !c["logprobs"].is_null()
        || !c["stop_reason"].is_null()
    {
        return None;
    }
    let finish_reason = c["finish_reason"].as_str()?;
    if !matches!(finish_reason, "stop" | "length") {
        return None;
    }
    let m = c["message"].as_object()?;
    if !keys(m, &["role", "reasoning_content", "content", "tool_calls"])
        || m["role"].as_str()? != "assistant"
        || !m["reasoning_content"].is_null()
        || !m["tool_calls"].as_array()?.is_empty()
    {
        return None;
    }
    let u = o["usage"].as_object()?;
    if !keys(u, &["prompt_tokens", "total_tokens", "completion_tokens", "prompt_tokens_details"]) || !u["prompt_tokens_details"].is_null() {
        return None;
    }
    let (p, k, t) = (u["prompt_tokens"].as_u64()?, u["completion_tokens"].as_u64()?, u["total_tokens"].as_u64()?);
    if p >= 1 << 40 || k >= 1 << 40 || t != p + k {
        return None;
    }
    Some(Answer {
        id: o["id"].as_str()?.to_string(),
        created,
        system_fingerprint: String::new(),
        content: m["content"].as_str()?.to_string(),
        finish_reason: finish_reason.to_string(),
        prompt_tokens: p,
        completion_tokens: k,
        total_tokens: t,
        extras: Extras { filters: Filters { vllm: true, ..Filters::default() }, ..Extras::default() },
    })
}

/// LiteLLM's body for vLLM's own answer shape (`parse_vllm`).
pub fn render_vllm(format: Format, a: &Answer, requested_model: &str) -> Vec<u8> {
    let tail = match format {
        Format::V1_110 => r#","logprobs":null,"stop_reason":null}"#,
        Format::V1_83 => "}",
    };
    format!(
        r#"{{"id":{},"created":{},"model":{},"object":"chat.completion","choices":[{{"finish_reason":{},"index":0,"message":{{"content":{},"role":"assistant"}},"provider_specific_fields":{{"stop_reason":null}}{}],"usage":{{"completion_tokens":{},"prompt_tokens":{},"total_tokens":{}}}}}"#,
        js(&a.id),
        a.created,
        js(requested_model),
        js(&a.finish_reason),
        js(&a.content),
        tail,
        a.completion_tokens,
        a.prompt_tokens,
        a.total_tokens,
    )
    .into_bytes()
}

/// LiteLLM's body for an answer in a provider's own shape (vLLM's, a compatible provider's
/// plain one), or `None` for OpenAI's shapes (`wire::render_body`).
pub fn render_own(format: Format, a: &Answer, requested_model: &str) -> Option<Vec<u8>> {
    if a.extras.filters.vllm {
        return Some(render_vllm(format, a, requested_model));
    }
    let plain = a.extras.filters.plain.as_ref()?;
    Some(crate::compat_providers::render_plain(format, a, plain, requested_model))
}

/// The choice's `provider_specific_fields` object LiteLLM prints.
pub fn choice_fields(f: &Filters) -> String {
    match &f.content {
        Some(c) => format!(r#"{{"content_filter_results":{c}}}"#),
        None => "{}".into(),
    }
}

/// What follows `usage` (and the tail of OpenAI's fields) at the top level.
pub fn top_tail(f: &Filters) -> String {
    match &f.prompt {
        Some(p) => format!(r#","prompt_filter_results":{p}"#),
        None => String::new(),
    }
}

/// Compact JSON as LiteLLM prints it, keys in document order; no floats (their printing in
/// Azure's annotations was not verified).
pub(crate) fn render(v: &J) -> Option<String> {
    crate::server_shapes::render_json(v, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(provider: Provider) -> Deployment {
        Deployment {
            id: "x".into(),
            model: "azure/gpt-4o-mini".into(),
            upstream_model: "gpt-4o-mini".into(),
            api_base: "http://h:1".into(),
            api_key: "k".into(),
            input_cost_per_token: 1.5e-7,
            output_cost_per_token: 6e-7,
            provider,
            tls: None,
        }
    }

    #[test]
    fn azure_url_and_headers() {
        let d = dep(Provider::Azure { api_version: "2024-10-21".into(), streams: None });
        assert_eq!(
            upstream_url(&d, "/chat/completions"),
            "http://h:1/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(request_headers(Format::V1_110, &d)[0], ("api-key", "k".to_string()));
        assert!(request_headers(Format::V1_83, &d).contains(&("authorization", "Bearer k".to_string())));
        assert_eq!(upstream_url(&dep(Provider::Openai), "/chat/completions"), "http://h:1/chat/completions");
    }

    #[test]
    fn filters_keep_azure_order_and_decline_the_unverified() {
        let body = br#"{"id":"c","choices":[{"index":0,"content_filter_results":{"violence":{"filtered":false,"severity":"safe"},"hate":{"filtered":false,"severity":"safe"}},"message":{}}],"usage":{},"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"jailbreak":{"filtered":false,"detected":false}}}]}"#;
        let (rest, f) = split_azure(body).expect("served");
        assert_eq!(f.content.as_deref(), Some(r#"{"violence":{"filtered":false,"severity":"safe"},"hate":{"filtered":false,"severity":"safe"}}"#));
        assert_eq!(f.prompt.as_deref(), Some(r#"[{"prompt_index":0,"content_filter_results":{"jailbreak":{"filtered":false,"detected":false}}}]"#));
        assert!(!String::from_utf8(rest).unwrap().contains("filter"));
        let only_prompt = br#"{"choices":[{"index":0}],"prompt_filter_results":[]}"#;
        assert!(split_azure(only_prompt).is_none());
        let float = br#"{"choices":[{"content_filter_results":{"x":0.5}}],"prompt_filter_results":[]}"#;
        assert!(split_azure(float).is_none());
        let plain = br#"{"choices":[{"index":0}]}"#;
        assert_eq!(split_azure(plain).map(|x| x.1), Some(Filters::default()));
    }
}
