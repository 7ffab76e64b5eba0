//! `POST /v1/chat/completions` to `anthropic/` model groups: LiteLLM's chat -> Anthropic
//! Messages translation, as its proxy does it on the verified versions
//! (`tests/test_fast_lane_claude_chat.py`).
//!
//! The envelope (anything else goes to LiteLLM before the upstream call):
//! * request: `model`, `messages` of `system` (a leading run only: 1.110.2 leaves a later one in
//!   the conversation), `user` and `assistant` roles with text (a string or `text` parts);
//!   `max_tokens` or `max_completion_tokens` (absent: the model's default LiteLLM takes from its
//!   map, handed over by the launcher), `temperature`, `top_p` (where the model takes them),
//!   `stop`, `user` (as `metadata.user_id`), `stream: false`;
//! * upstream: `POST <api_base>/v1/messages` with `x-api-key`, `anthropic-version: 2023-06-01`,
//!   the Messages body LiteLLM builds (system blocks, consecutive roles merged, text blocks;
//!   compact JSON in LiteLLM's key order);
//! * answer: a message of text blocks with `end_turn`, `stop_sequence` or `max_tokens`, no cache
//!   tokens, standard tier, below the long-context price tier, rendered as LiteLLM's chat
//!   completion. Any other answer (tool use, thinking, cache tokens, an error status) is held
//!   for LiteLLM to answer from (`held.rs`): one upstream call either way.

use std::sync::Arc;
use std::time::Instant;

use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::held::{Attempt, Held, Outcome};
use crate::pyfmt::float_repr;
use crate::route::{Picked, Received, Route};
use crate::wire::{self, js, Format};
use crate::{append_headers, full, lane, Body, Deployment, Front};

const UPSTREAM_PATH: &str = "/v1/messages";
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// LiteLLM prices prompts above this many input tokens at other rates.
const TIER_TOKENS: u64 = 200_000;
/// `translate_system_message` drops (1.83.14) or keeps (1.110.2) such a system text.
const BILLING_PREFIX: &str = "x-anthropic-billing-header:";

/// What the launcher works out per `anthropic/` deployment from LiteLLM's model map.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatDefaults {
    /// `max_tokens` LiteLLM sends when the client gives none; `None`: such requests go to LiteLLM.
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// LiteLLM forwards `temperature`/`top_p` for this model (1.110.2 refuses them for models
    /// whose map entry removed sampling parameters).
    #[serde(default)]
    pub sampling: bool,
}

pub struct ClaudeChatRequest {
    pub model: String,
    system: Vec<String>,
    /// Anthropic's turns: role and text blocks, consecutive roles merged.
    turns: Vec<(&'static str, Vec<String>)>,
    max_tokens: Option<u64>,
    /// Python's rendering of the number the client sent.
    temperature: Option<String>,
    top_p: Option<String>,
    stop: Option<Vec<String>>,
    user: Option<String>,
}

/// Text LiteLLM forwards as given, the same on both pins: not empty, not whitespace alone.
fn plain(s: &str) -> bool {
    s.chars().any(|c| c.is_alphanumeric() || c.is_ascii_punctuation())
}

/// A message's texts: a plain string, or `text` parts (`{"type":"text","text":...}` only).
fn texts(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) if plain(s) => Some(vec![s.clone()]),
        Value::Array(parts) if !parts.is_empty() => parts
            .iter()
            .map(|p| {
                let o = p.as_object()?;
                if o.len() != 2 || o.get("type")?.as_str()? != "text" {
                    return None;
                }
                let t = o.get("text")?.as_str()?;
                plain(t).then(|| t.to_string())
            })
            .collect(),
        _ => None,
    }
}

/// `temperature`/`top_p` in [0, 1] as Python's `json` reads the client's text and writes it back:
/// an int as given, a float by `repr` (parsed from the text itself: Rust's `parse` rounds
/// correctly, as Python's `float` does).
fn unit_interval(raw: &RawValue) -> Option<String> {
    let t = raw.get();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return matches!(t, "0" | "1").then(|| t.to_string());
    }
    if !t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+')) {
        return None;
    }
    let x: f64 = t.parse().ok()?;
    (0.0..=1.0).contains(&x).then(|| float_repr(x))
}

/// A `user` LiteLLM sends as `metadata.user_id`: neither an email nor a phone number, which it
/// drops (`_valid_user_id`). Kept to plain identifiers: a letter, no `@`.
fn user_id(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    let ok = !s.is_empty()
        && s.len() <= 256
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.chars().any(|c| c.is_ascii_alphabetic());
    ok.then(|| s.to_string())
}

/// A stop sequence LiteLLM forwards unchanged (it may drop whitespace-only ones).
fn stop_ok(s: &str) -> bool {
    plain(s) && s.len() <= 256
}

const REQUEST_KEYS: &[&str] =
    &["model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "user", "stream"];

pub fn parse_request(body: &[u8]) -> Option<ClaudeChatRequest> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let Value::Object(o) = v else { return None };
    if !o.keys().all(|k| REQUEST_KEYS.contains(&k.as_str())) {
        return None;
    }
    let model = o.get("model")?.as_str()?.to_string();
    match o.get("stream") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        _ => return None,
    }
    let (system, turns) = conversation(o.get("messages")?.as_array()?)?;
    let max_tokens = match (o.get("max_tokens"), o.get("max_completion_tokens")) {
        (Some(_), Some(_)) => return None,
        (Some(m), None) | (None, Some(m)) => {
            let m = m.as_u64()?;
            if m == 0 || m > 1 << 24 {
                return None;
            }
            Some(m)
        }
        (None, None) => None,
    };
    // The sampling numbers from the client's own text (a duplicate key declines the request).
    #[derive(Deserialize)]
    struct Sampling<'a> {
        #[serde(borrow, default)]
        temperature: Option<&'a RawValue>,
        #[serde(borrow, default)]
        top_p: Option<&'a RawValue>,
    }
    let raw: Sampling = serde_json::from_slice(body).ok()?;
    let temperature = raw.temperature.map(unit_interval);
    let top_p = raw.top_p.map(unit_interval);
    if matches!(temperature, Some(None)) || matches!(top_p, Some(None)) {
        return None;
    }
    let stop = match o.get("stop") {
        None => None,
        Some(Value::String(s)) if stop_ok(s) => Some(vec![s.clone()]),
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= 4 => {
            Some(a.iter().map(|s| s.as_str().filter(|s| stop_ok(s)).map(str::to_string)).collect::<Option<Vec<_>>>()?)
        }
        Some(_) => return None,
    };
    let user = match o.get("user") {
        None => None,
        Some(u) => Some(user_id(u)?),
    };
    Some(ClaudeChatRequest {
        model,
        system,
        turns,
        max_tokens,
        temperature: temperature.flatten(),
        top_p: top_p.flatten(),
        stop,
        user,
    })
}

/// The leading system texts and the turns `anthropic_messages_pt` makes of the rest.
fn conversation(messages: &[Value]) -> Option<(Vec<String>, Vec<(&'static str, Vec<String>)>)> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<String>)> = Vec::new();
    for m in messages {
        let m = m.as_object()?;
        if m.len() != 2 {
            return None;
        }
        let t = texts(m.get("content")?)?;
        let role = match m.get("role")?.as_str()? {
            "system" if turns.is_empty() => {
                if t.iter().any(|s| s.starts_with(BILLING_PREFIX)) {
                    return None;
                }
                system.extend(t);
                continue;
            }
            "user" => "user",
            "assistant" => "assistant",
            _ => return None,
        };
        match turns.last_mut() {
            Some((r, blocks)) if *r == role => blocks.extend(t),
            _ => turns.push((role, t)),
        }
    }
    // A final assistant turn is right-stripped (Python's `str.rstrip`): kept to texts it leaves alone.
    if let Some(("assistant", blocks)) = turns.last() {
        if blocks.iter().any(|b| b.chars().last().map_or(true, |c| !(c.is_alphanumeric() || c.is_ascii_punctuation()))) {
            return None;
        }
    }
    (!turns.is_empty()).then_some((system, turns))
}

fn text_blocks(out: &mut String, texts: &[String]) {
    out.push('[');
    for (i, t) in texts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"type":"text","text":"#);
        out.push_str(&js(t));
        out.push('}');
    }
    out.push(']');
}

/// The body LiteLLM sends (httpx's compact JSON, non-ASCII as is), in its key order: the model,
/// the messages, the mapped OpenAI parameters in LiteLLM's order, then `system`, the default
/// `max_tokens` and `metadata`.
fn upstream_body(req: &ClaudeChatRequest, d: &Deployment, max_tokens: u64) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"model":"#);
    out.push_str(&js(&d.upstream_model));
    out.push_str(r#","messages":["#);
    for (i, (role, blocks)) in req.turns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"role":"#);
        out.push_str(&js(role));
        out.push_str(r#","content":"#);
        text_blocks(&mut out, blocks);
        out.push('}');
    }
    out.push(']');
    let mut put = |k: &str, v: &str| {
        out.push_str(",\"");
        out.push_str(k);
        out.push_str("\":");
        out.push_str(v);
    };
    if let Some(t) = &req.temperature {
        put("temperature", t);
    }
    if let Some(p) = &req.top_p {
        put("top_p", p);
    }
    if let Some(s) = &req.stop {
        put("stop_sequences", &serde_json::to_string(s).expect("strings serialize"));
    }
    if req.max_tokens.is_some() {
        put("max_tokens", &max_tokens.to_string());
    }
    if let Some(u) = &req.user {
        put("metadata", &format!(r#"{{"user_id":{}}}"#, js(u)));
    }
    if !req.system.is_empty() {
        let mut s = String::new();
        text_blocks(&mut s, &req.system);
        put("system", &s);
    }
    if req.max_tokens.is_none() {
        put("max_tokens", &max_tokens.to_string());
    }
    out.push('}');
    out.into_bytes()
}

fn upstream_request(req: &ClaudeChatRequest, d: &Deployment, defaults: &ChatDefaults) -> Option<Request<Body>> {
    let max_tokens = req.max_tokens.or(defaults.max_tokens)?;
    if (req.temperature.is_some() || req.top_p.is_some()) && !defaults.sampling {
        return None;
    }
    let uri: Uri = format!("{}{}", d.api_base, UPSTREAM_PATH).parse().ok()?;
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("x-api-key", &d.api_key)
        .header("anthropic-version", ANTHROPIC_VERSION)
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body(full(upstream_body(req, d, max_tokens)))
        .ok()
}

/// The upstream's message reduced to what LiteLLM's chat completion carries.
struct Message {
    text: String,
    finish_reason: &'static str,
    input: u64,
    output: u64,
}

fn parse_answer(body: &[u8], headers: &HeaderMap, upstream_model: &str) -> Option<Message> {
    for (name, value) in headers.iter() {
        if !matches!(name.as_str(), "content-type" | "content-length" | "date" | "server") || value.to_str().is_err() {
            return None;
        }
    }
    let ct = headers.get("content-type")?.to_str().ok()?;
    if !(ct == "application/json" || ct.starts_with("application/json;")) {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object()?;
    if !wire::exact_keys(o, &["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"]) {
        return None;
    }
    if o["type"].as_str()? != "message" || o["role"].as_str()? != "assistant" || o["model"].as_str()? != upstream_model {
        return None;
    }
    o["id"].as_str()?;
    let mut text = String::new();
    for b in o["content"].as_array()? {
        let b = b.as_object()?;
        if !wire::exact_keys(b, &["type", "text"]) || b["type"].as_str()? != "text" {
            return None;
        }
        text.push_str(b["text"].as_str()?);
    }
    // An empty text is `content: null` in LiteLLM's message: not reproduced here.
    if text.is_empty() {
        return None;
    }
    let finish_reason = match o["stop_reason"].as_str()? {
        "end_turn" | "stop_sequence" => "stop",
        "max_tokens" => "length",
        _ => return None,
    };
    if !matches!(o["stop_sequence"], Value::Null | Value::String(_)) {
        return None;
    }
    let u = o["usage"].as_object()?;
    let keys = ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation", "output_tokens", "service_tier"];
    if !wire::exact_keys(u, &keys) {
        return None;
    }
    let cc = u["cache_creation"].as_object()?;
    if !wire::exact_keys(cc, &["ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"])
        || cc["ephemeral_5m_input_tokens"].as_u64()? != 0
        || cc["ephemeral_1h_input_tokens"].as_u64()? != 0
        || u["cache_creation_input_tokens"].as_u64()? != 0
        || u["cache_read_input_tokens"].as_u64()? != 0
        || u["service_tier"].as_str()? != "standard"
    {
        return None;
    }
    let (input, output) = (u["input_tokens"].as_u64()?, u["output_tokens"].as_u64()?);
    if input > TIER_TOKENS || output >= 1 << 40 {
        return None;
    }
    Some(Message { text, finish_reason, input, output })
}

/// LiteLLM's chat completion for the message (no fingerprint, no `logprobs`; its usage with
/// Anthropic's token details; 1.110.2 adds `cache_write_tokens` and the `service_tier`).
fn render_answer(format: Format, m: &Message, group: &str) -> Vec<u8> {
    let id = format!("chatcmpl-{}", wire::uuid4());
    let created = crate::now_ms() / 1000;
    let (write, tier) = match format {
        Format::V1_110 => (r#""cache_write_tokens":0,"#, r#","service_tier":"standard""#),
        Format::V1_83 => ("", ""),
    };
    format!(
        concat!(
            r#"{{"id":{},"created":{},"model":{},"object":"chat.completion","#,
            r#""choices":[{{"finish_reason":{},"index":0,"message":{{"content":{},"role":"assistant","provider_specific_fields":{{"citations":null,"thinking_blocks":null}}}}}}],"#,
            r#""usage":{{"completion_tokens":{},"prompt_tokens":{},"total_tokens":{},"completion_tokens_details":{{"reasoning_tokens":0,"text_tokens":{}}},"#,
            r#""prompt_tokens_details":{{{}"cached_tokens":0,"text_tokens":{},"cache_creation_tokens":0,"cache_creation_token_details":{{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0}}}},"#,
            r#""cache_creation_input_tokens":0,"cache_read_input_tokens":0{}}}}}"#
        ),
        js(&id),
        created,
        js(group),
        js(m.finish_reason),
        js(&m.text),
        m.output,
        m.input,
        m.input + m.output,
        m.output,
        write,
        m.input,
        tier,
    )
    .into_bytes()
}

fn as_chat_answer(m: &Message) -> wire::Answer {
    wire::Answer {
        id: String::new(),
        created: 0u64.into(),
        system_fingerprint: String::new(),
        content: String::new(),
        finish_reason: String::new(),
        prompt_tokens: m.input,
        completion_tokens: m.output,
        total_tokens: m.input + m.output,
        extras: Default::default(),
    }
}

impl Front {
    async fn serve_claude_chat(&self, req: &ClaudeChatRequest, d: &Deployment) -> Attempt {
        let Some(format) = self.cfg.format else { return Attempt::Replay { failed: false } };
        let started = Instant::now();
        let Some(defaults) = self.cfg.claude_chat.get(&d.id) else { return Attempt::Replay { failed: false } };
        let Some(up) = upstream_request(req, d, defaults) else { return Attempt::Replay { failed: false } };
        let pin = self.cfg.anthropic.get(&req.model).map_or(false, |g| g.len() > 1);
        let (parts, bytes) = match self.call_upstream(d, up, self.router.as_ref().map(|r| r.timeout())).await {
            Outcome::Answer(parts, bytes) if parts.status == StatusCode::OK => (parts, bytes),
            other => return Held::new(other, d, UPSTREAM_PATH, pin),
        };
        let upstream_ms = started.elapsed().as_secs_f64() * 1000.0;
        let hold = |parts, bytes| Held::new(Outcome::Answer(parts, bytes), d, UPSTREAM_PATH, pin);
        let Some(m) = parse_answer(&bytes, &parts.headers, &d.upstream_model) else { return hold(parts, bytes) };
        let out = render_answer(format, &m, &req.model);
        let total_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut resp = Response::new(full(out));
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let a = as_chat_answer(&m);
        let headers = wire::litellm_headers(format, &self.cfg.version, d, &req.model, Some(&a), &parts.headers, total_ms,
                                            (total_ms - upstream_ms).max(0.0));
        if append_headers(resp.headers_mut(), headers).is_none() {
            return hold(parts, bytes);
        }
        lane(&mut resp, "rust");
        Attempt::Served(resp)
    }
}

/// Whether a chat-completions body names an `anthropic/` group (then `ClaudeChat` drives it).
pub(crate) fn names_claude_group(front: &Front, body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Model<'a> {
        #[serde(borrow)]
        model: Option<std::borrow::Cow<'a, str>>,
    }
    if front.cfg.anthropic.is_empty() {
        return false;
    }
    match serde_json::from_slice::<Model>(body) {
        Ok(Model { model: Some(m) }) => front.cfg.anthropic.contains_key(m.as_ref()),
        _ => false,
    }
}

/// Chat completions to an `anthropic/` group from the master key, run by `Front::drive`. With
/// callbacks configured the route stays on LiteLLM (no log record is built for it yet).
pub(crate) struct ClaudeChat;

impl Route for ClaudeChat {
    type Plan = Picked<ClaudeChatRequest>;
    const LOGGED: bool = false;

    fn plan(front: &Front, body: &[u8]) -> Option<Self::Plan> {
        let req = parse_request(body)?;
        let deployment = front.pick_in(&front.cfg.anthropic, &req.model)?;
        Some(Picked { req, deployment })
    }
    fn group(plan: &Self::Plan) -> &str {
        &plan.req.model
    }
    fn deployment(plan: &Self::Plan) -> &Deployment {
        &plan.deployment
    }
    fn eligible(front: &Front, Picked { req, deployment: d }: &Self::Plan) -> bool {
        let fits = front.cfg.claude_chat.get(&d.id).map_or(false, |c| {
            (req.max_tokens.is_some() || c.max_tokens.is_some())
                && (c.sampling || (req.temperature.is_none() && req.top_p.is_none()))
        });
        fits && d.input_cost_per_token + d.output_cost_per_token > 0.0
    }
    async fn serve(front: &Arc<Front>, Picked { req, deployment: d }: &Self::Plan, _client: Received<'_>) -> Attempt {
        front.serve_claude_chat(req, d).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep() -> Deployment {
        serde_json::from_value(serde_json::json!({
            "id": "d", "model": "anthropic/claude-x", "upstream_model": "claude-x", "api_base": "http://127.0.0.1:1",
            "api_key": "k", "input_cost_per_token": 3e-6, "output_cost_per_token": 1.5e-5,
        }))
        .unwrap()
    }

    #[test]
    fn request_envelope() {
        let ok = |b: &str| parse_request(b.as_bytes()).is_some();
        assert!(ok(r#"{"model":"g","messages":[{"role":"user","content":"hi"}]}"#));
        assert!(ok(r#"{"model":"g","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"}]}],"stream":false}"#));
        assert!(!ok(r#"{"model":"g","messages":[{"role":"user","content":"hi"}],"stream":true}"#));
        assert!(!ok(r#"{"model":"g","messages":[{"role":"system","content":"s"}]}"#));
        assert!(!ok(r#"{"model":"g","messages":[{"role":"user","content":"a"},{"role":"system","content":"s"}]}"#));
        assert!(!ok(r#"{"model":"g","messages":[{"role":"user","content":" "}]}"#));
        assert!(!ok(r#"{"model":"g","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b "}]}"#));
        assert!(!ok(r#"{"model":"g","messages":[{"role":"user","content":"a"}],"max_tokens":1,"max_completion_tokens":2}"#));
        assert!(!ok(r#"{"model":"g","messages":[{"role":"user","content":"a"}],"temperature":1.5}"#));
        assert!(!ok(r#"{"model":"g","messages":[{"role":"user","content":"a"}],"user":"a@b.co"}"#));
        assert!(!ok(r#"{"model":"g","messages":[{"role":"user","content":"a"}],"tools":[]}"#));
        assert!(!ok(r#"{"model":"g","messages":[{"role":"system","content":"x-anthropic-billing-header: x"},{"role":"user","content":"a"}]}"#));
    }

    #[test]
    fn upstream_body_merges_turns_and_maps_parameters() {
        let r = parse_request(
            r#"{"model":"g","messages":[{"role":"system","content":"s"},{"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b\u00e9"}]}],"max_completion_tokens":7,"temperature":0.5,"stop":"X","user":"u1"}"#.as_bytes(),
        )
        .unwrap();
        let b = String::from_utf8(upstream_body(&r, &dep(), 7)).unwrap();
        assert_eq!(
            b,
            "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\u{e9}\"}]}],\"temperature\":0.5,\"stop_sequences\":[\"X\"],\"max_tokens\":7,\"metadata\":{\"user_id\":\"u1\"},\"system\":[{\"type\":\"text\",\"text\":\"s\"}]}"
        );
        let r = parse_request(br#"{"model":"g","messages":[{"role":"user","content":"a"}],"temperature":1}"#).unwrap();
        let b = String::from_utf8(upstream_body(&r, &dep(), 64000)).unwrap();
        assert!(b.ends_with(r#""temperature":1,"max_tokens":64000}"#), "{b}");
    }

    #[test]
    fn answer_rendered_per_version() {
        let m = Message { text: "h\u{e9}".into(), finish_reason: "stop", input: 3, output: 4 };
        let v: Value = serde_json::from_slice(&render_answer(Format::V1_110, &m, "grp")).unwrap();
        assert_eq!(v["model"], "grp");
        assert_eq!(v["usage"]["service_tier"], "standard");
        assert_eq!(v["usage"]["prompt_tokens_details"]["cache_write_tokens"], 0);
        let s = String::from_utf8(render_answer(Format::V1_83, &m, "grp")).unwrap();
        assert!(s.contains("\"message\":{\"content\":\"h\u{e9}\",\"role\":\"assistant\",\"provider_specific_fields\":{\"citations\":null,\"thinking_blocks\":null}}}]"), "{s}");
        assert!(s.ends_with(r#""total_tokens":7,"completion_tokens_details":{"reasoning_tokens":0,"text_tokens":4},"prompt_tokens_details":{"cached_tokens":0,"text_tokens":3,"cache_creation_tokens":0,"cache_creation_token_details":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0}},"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}"#), "{s}");
    }

    #[test]
    fn answers_in_and_out_of_the_envelope() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let msg = |content: &str, stop: &str, cache: u64| {
            format!(
                r#"{{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":{content},"stop_reason":"{stop}","stop_sequence":null,"usage":{{"input_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":{cache},"cache_creation":{{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0}},"output_tokens":4,"service_tier":"standard"}}}}"#
            )
        };
        let m = parse_answer(msg(r#"[{"type":"text","text":"a"},{"type":"text","text":"b"}]"#, "max_tokens", 0).as_bytes(), &h, "claude-x").unwrap();
        assert_eq!((m.text.as_str(), m.finish_reason, m.input, m.output), ("ab", "length", 3, 4));
        assert!(parse_answer(msg(r#"[{"type":"text","text":"a"}]"#, "end_turn", 1).as_bytes(), &h, "claude-x").is_none());
        assert!(parse_answer(msg(r#"[{"type":"text","text":""}]"#, "end_turn", 0).as_bytes(), &h, "claude-x").is_none());
        let tool = r#"[{"type":"tool_use","id":"t","name":"f","input":{}}]"#;
        assert!(parse_answer(msg(tool, "tool_use", 0).as_bytes(), &h, "claude-x").is_none());
        assert!(parse_answer(msg(r#"[{"type":"text","text":"a"}]"#, "end_turn", 0).as_bytes(), &h, "claude-y").is_none());
    }
}
