//! `POST /v1/messages` (Anthropic's Messages API) for `anthropic/` deployments, as LiteLLM's
//! proxy serves it on the verified versions (`tests/test_fast_lane_anthropic.py`):
//!
//! * upstream: `POST <api_base>/v1/messages` with `x-api-key`, `anthropic-version: 2023-06-01`
//!   and the client's body with the model renamed and `"stream"` always present (a client's
//!   `anthropic-beta` goes to LiteLLM: it filters and maps beta flags per version);
//! * non-streaming: the upstream's message re-serialised (compact, UTF-8, its key order)
//!   with `model` set to the group the client named; 1.83.14 adds `usage.total_tokens`;
//! * streaming: the upstream's bytes passed through; 1.110.2 re-serialises the
//!   `message_start` event with the group's name (`anthropic_stream.rs`).
//!
//! Outside that envelope (thinking or cache tokens in a non-streaming answer, whose cost
//! LiteLLM splits further; an error status; an unknown field) the upstream answer is held for
//! LiteLLM to answer from (`held.rs`): one upstream call either way.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use serde_json::{Map, Value};

use crate::anthropic_stream::{MsgStreamState, BEFORE_CONTENT};
use crate::held::{Attempt, Held, Outcome};
use crate::pyfmt::float_repr;
use crate::pyjson::Node;
use crate::route::{Picked, Received, Route};
use crate::stats::Stats;
use crate::streaming::{SseState, StreamOrigin};
use crate::wire::{self, Format};
use crate::{append_headers, full, lane, unix_now_f64, Body, Deployment, Front, MAX_UPSTREAM_BODY};

pub const PATH: &str = "/v1/messages";
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// LiteLLM prices prompts above this many input tokens at other rates (`*_above_200k_tokens`).
const TIER_TOKENS: u64 = 200_000;

/// Request keys the front forwards as LiteLLM does (each checked by the parity corpus).
const REQUEST_KEYS: &[&str] = &[
    "model", "max_tokens", "messages", "system", "stream", "temperature", "top_p", "top_k", "stop_sequences",
    "metadata", "tools", "tool_choice",
];

pub struct MsgRequest {
    pub model: String,
    pub streaming: bool,
    body: Map<String, Value>,
}

/// Text LiteLLM forwards as given: whitespace-only text (which it drops from a request) and
/// text of symbols alone go to LiteLLM.
fn plain_text(v: &Value) -> bool {
    v.as_str().map_or(false, |t| t.chars().any(|c| c.is_alphanumeric() || c.is_ascii_punctuation()))
}

fn text_blocks(v: &Value) -> bool {
    v.as_array().map_or(false, |a| {
        !a.is_empty()
            && a.iter().all(|b| {
                b.as_object().map_or(false, |o| {
                    o.len() == 2 && o.get("type").and_then(Value::as_str) == Some("text") && o.get("text").map_or(false, plain_text)
                })
            })
    })
}

fn tool_ok(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    o.keys().all(|k| matches!(k.as_str(), "name" | "description" | "input_schema"))
        && o.get("name").map_or(false, Value::is_string)
        && o.get("description").map_or(true, Value::is_string)
        && o.get("input_schema").map_or(false, Value::is_object)
}

fn tool_choice_ok(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    match o.get("type").and_then(Value::as_str) {
        Some("auto" | "any") => o.len() == 1,
        Some("tool") => o.len() == 2 && o.get("name").map_or(false, Value::is_string),
        _ => false,
    }
}

/// The request envelope: plain text conversations with the sampling parameters, tools and
/// metadata LiteLLM forwards unchanged; anything else goes to LiteLLM.
pub fn parse_request(body: &[u8]) -> Option<MsgRequest> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let Value::Object(o) = v else { return None };
    if !o.keys().all(|k| REQUEST_KEYS.contains(&k.as_str())) {
        return None;
    }
    let model = o.get("model")?.as_str()?.to_string();
    let max_tokens = o.get("max_tokens")?.as_u64()?;
    if max_tokens == 0 || max_tokens > 1 << 24 {
        return None;
    }
    let messages = o.get("messages")?.as_array()?;
    if messages.is_empty() {
        return None;
    }
    for m in messages {
        let m = m.as_object()?;
        if m.len() != 2 || !matches!(m.get("role")?.as_str()?, "user" | "assistant") {
            return None;
        }
        let c = m.get("content")?;
        if !(plain_text(c) || text_blocks(c)) {
            return None;
        }
    }
    if let Some(s) = o.get("system") {
        if !(plain_text(s) || text_blocks(s)) {
            return None;
        }
    }
    let streaming = match o.get("stream") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return None,
    };
    for k in ["temperature", "top_p"] {
        if let Some(x) = o.get(k) {
            let x = x.as_f64()?;
            if !(0.0..=1.0).contains(&x) {
                return None;
            }
        }
    }
    if let Some(k) = o.get("top_k") {
        k.as_u64()?;
    }
    if let Some(s) = o.get("stop_sequences") {
        if !s.as_array()?.iter().all(Value::is_string) {
            return None;
        }
    }
    if let Some(m) = o.get("metadata") {
        let m = m.as_object()?;
        if m.len() != 1 || !m.get("user_id")?.is_string() {
            return None;
        }
    }
    if let Some(t) = o.get("tools") {
        let t = t.as_array()?;
        if t.is_empty() || !t.iter().all(tool_ok) {
            return None;
        }
    }
    if let Some(c) = o.get("tool_choice") {
        if !tool_choice_ok(c) || o.get("tools").is_none() {
            return None;
        }
    }
    Some(MsgRequest { model, streaming, body: o })
}

/// The body LiteLLM sends: `messages` first, the other keys sorted, the deployment's model,
/// `"stream"` always there.
fn upstream_body(req: &MsgRequest, upstream_model: &str) -> Vec<u8> {
    let mut rest = req.body.clone();
    let messages = rest.remove("messages").unwrap_or(Value::Null);
    rest.insert("model".into(), Value::String(upstream_model.to_string()));
    rest.insert("stream".into(), Value::Bool(req.streaming));
    let mut out = br#"{"messages":"#.to_vec();
    out.extend(serde_json::to_vec(&messages).expect("json values serialize"));
    let tail = serde_json::to_vec(&Value::Object(rest)).expect("json values serialize");
    out.push(b',');
    out.extend_from_slice(&tail[1..]);
    out
}

fn upstream_request(req: &MsgRequest, d: &Deployment) -> Option<Request<Body>> {
    let uri: Uri = format!("{}{}", d.api_base, PATH).parse().ok()?;
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("x-api-key", &d.api_key)
        .header("anthropic-version", ANTHROPIC_VERSION)
        .header("content-type", "application/json")
        .body(full(upstream_body(req, &d.upstream_model)))
        .ok()
}

/// Extra request headers a `/v1/messages` request may carry (beyond the chat route's).
pub fn allowed_header(name: &str, value: &HeaderValue) -> bool {
    match name {
        "anthropic-version" => value.as_bytes() == ANTHROPIC_VERSION.as_bytes(),
        "x-api-key" => true,
        _ => false,
    }
}

/// The caller is the master key: `Authorization: Bearer <key>` or `x-api-key: <key>`, one of them, once.
pub fn is_master(h: &HeaderMap, key: &str, bearer_ok: bool) -> bool {
    let mut x = h.get_all("x-api-key").iter();
    match (x.next(), x.next(), h.contains_key(hyper::header::AUTHORIZATION)) {
        (None, _, _) => bearer_ok,
        (Some(v), None, false) => v.as_bytes() == key.as_bytes(),
        _ => false,
    }
}

/// The upstream's message, when LiteLLM's answer to it is reproduced here: text and tool
/// blocks, no cache tokens, standard tier, below the long-context price tier.
fn parse_answer(body: &[u8], headers: &HeaderMap, upstream_model: &str) -> Option<(Node, u64, u64)> {
    for (name, value) in headers.iter() {
        if !matches!(name.as_str(), "content-type" | "content-length" | "date" | "server") || value.to_str().is_err() {
            return None;
        }
    }
    let ct = headers.get("content-type")?.to_str().ok()?;
    if !(ct == "application/json" || ct.starts_with("application/json;")) {
        return None;
    }
    let n = Node::parse(body)?;
    if !n.has_keys(&["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"]) {
        return None;
    }
    if n.get("type")?.as_str()? != "message" || n.get("role")?.as_str()? != "assistant" || n.get("model")?.as_str()? != upstream_model {
        return None;
    }
    n.get("id")?.as_str()?;
    let Node::Arr(blocks) = n.get("content")? else { return None };
    for b in blocks {
        let ok = match b.get("type")?.as_str()? {
            "text" => b.has_keys(&["type", "text"]) && b.get("text")?.as_str().is_some(),
            "tool_use" => {
                b.has_keys(&["type", "id", "name", "input"]) && b.get("id")?.as_str().is_some()
                    && b.get("name")?.as_str().is_some() && matches!(b.get("input")?, Node::Obj(_))
            }
            _ => false,
        };
        if !ok {
            return None;
        }
    }
    if !matches!(n.get("stop_reason")?.as_str()?, "end_turn" | "max_tokens" | "stop_sequence" | "tool_use") {
        return None;
    }
    if !matches!(n.get("stop_sequence")?, Node::Null | Node::Str(_)) {
        return None;
    }
    let u = n.get("usage")?;
    if !u.has_keys(&["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation", "output_tokens", "service_tier"]) {
        return None;
    }
    let cc = u.get("cache_creation")?;
    if !cc.has_keys(&["ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"])
        || cc.get("ephemeral_5m_input_tokens")?.as_u64()? != 0
        || cc.get("ephemeral_1h_input_tokens")?.as_u64()? != 0
        || u.get("cache_creation_input_tokens")?.as_u64()? != 0
        || u.get("cache_read_input_tokens")?.as_u64()? != 0
        || u.get("service_tier")?.as_str()? != "standard"
    {
        return None;
    }
    let (i, o) = (u.get("input_tokens")?.as_u64()?, u.get("output_tokens")?.as_u64()?);
    if i > TIER_TOKENS || o >= 1 << 40 {
        return None;
    }
    Some((n, i, o))
}

/// LiteLLM's body: the message with the group's name as `model` (1.83.14: plus `usage.total_tokens`).
fn render_answer(format: Format, mut n: Node, group: &str, input: u64, output: u64) -> Option<Vec<u8>> {
    *n.get_mut("model")? = Node::Str(group.to_string());
    if format == Format::V1_83 {
        if let Node::Obj(u) = n.get_mut("usage")? {
            u.push(("total_tokens".into(), Node::Int((input + output).into())));
        }
    }
    Some(n.render(false).into_bytes())
}

/// LiteLLM's response headers on this route: `usage` `(input, output)` for an answer, `None`
/// for a stream's head (sent before any usage is known).
#[allow(clippy::too_many_arguments)]
fn answer_headers(
    format: Format,
    version: &str,
    d: &Deployment,
    group: &str,
    usage: Option<(u64, u64)>,
    upstream: &HeaderMap,
    response_ms: f64,
    overhead_ms: f64,
) -> Vec<(String, String)> {
    let as_chat = usage.map(|(i, o)| wire::Answer {
        id: String::new(),
        created: 0u64.into(),
        system_fingerprint: String::new(),
        content: String::new(),
        finish_reason: String::new(),
        prompt_tokens: i,
        completion_tokens: o,
        total_tokens: i + o,
        extras: Default::default(),
    });
    match format {
        Format::V1_110 => {
            // The chat completion's headers; a non-streaming answer has no api-base, callback
            // time or provider headers on this route.
            let none = HeaderMap::new();
            let up = if usage.is_some() { &none } else { upstream };
            let mut h = wire::litellm_headers(format, version, d, group, as_chat.as_ref(), up, response_ms, overhead_ms);
            if usage.is_some() {
                h.retain(|(k, _)| k != "x-litellm-model-api-base" && k != "x-litellm-callback-duration-ms");
            }
            h
        }
        Format::V1_83 => {
            let total = as_chat.as_ref().map_or(0.0, |a| {
                let (p, c) = wire::cost(d, a);
                p + c
            });
            let mut h: Vec<(String, String)> = Vec::with_capacity(12);
            let mut put = |k: &str, v: String| h.push((k.to_string(), v));
            put("server", "uvicorn".into());
            put("x-litellm-call-id", wire::uuid4());
            put("x-litellm-model-id", d.id.clone());
            put("x-litellm-version", version.to_string());
            put("x-litellm-response-cost-original", float_repr(total));
            put("x-litellm-response-cost-discount-amount", "0.0".into());
            put("x-litellm-response-cost-margin-amount", "0.0".into());
            put("x-litellm-response-cost-margin-percent", "0.0".into());
            put("x-litellm-key-spend", "0.0".into());
            if usage.is_none() {
                put("content-type", "text/event-stream; charset=utf-8".into());
            }
            put("vary", "Origin".into());
            h
        }
    }
}

impl Front {
    /// Call the upstream and build LiteLLM's answer; anything else is held for LiteLLM.
    async fn serve_messages(&self, req: &MsgRequest, d: &Deployment) -> Attempt {
        let Some(format) = self.cfg.format else { return Attempt::Replay { failed: false } };
        let started = Instant::now();
        let Some(up) = upstream_request(req, d) else { return Attempt::Replay { failed: false } };
        let pin = self.cfg.anthropic.get(&req.model).map_or(false, |g| g.len() > 1);
        let (parts, bytes) = match self.call_upstream(d, up, self.router.as_ref().map(|r| r.timeout())).await {
            Outcome::Answer(parts, bytes) if parts.status == StatusCode::OK => (parts, bytes),
            other => return Held::new(other, d, PATH, pin),
        };
        let upstream_ms = started.elapsed().as_secs_f64() * 1000.0;
        let hold = |parts, bytes| Held::new(Outcome::Answer(parts, bytes), d, PATH, pin);
        let Some((n, i, o)) = parse_answer(&bytes, &parts.headers, &d.upstream_model) else { return hold(parts, bytes) };
        let Some(out) = render_answer(format, n, &req.model, i, o) else { return hold(parts, bytes) };
        let total_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut resp = Response::new(full(out));
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let headers = answer_headers(format, &self.cfg.version, d, &req.model, Some((i, o)), &parts.headers, total_ms,
                                     (total_ms - upstream_ms).max(0.0));
        if append_headers(resp.headers_mut(), headers).is_none() {
            return hold(parts, bytes);
        }
        lane(&mut resp, "rust");
        Attempt::Served(resp)
    }

    /// A stream: the upstream's head and `message_start` are checked before anything goes to
    /// the client (an error status is held, a surprise replayed); then bytes pass through.
    async fn serve_messages_stream(
        self: &Arc<Self>,
        req: &MsgRequest,
        d: &Deployment,
        client: Received<'_>,
    ) -> Attempt {
        let Some(format) = self.cfg.format else { return Attempt::Replay { failed: false } };
        let started = Instant::now();
        let started_unix = unix_now_f64();
        let pin = self.cfg.anthropic.get(&req.model).map_or(false, |g| g.len() > 1);
        let replay = |failed: bool, why: &'static str| {
            Stats::count(&self.stats.stream_replayed_by_reason, why);
            Attempt::Replay { failed }
        };
        let Some(up) = upstream_request(req, d) else { return replay(false, "request not built") };
        let timeout = self.router.as_ref().map(|r| r.timeout());
        let mut state = SseState::Anthropic(MsgStreamState::new(format, &req.model, &d.upstream_model));
        let first = async {
            let resp = match self.client.request(up).await {
                Ok(r) => r,
                Err(_) => return Err(Held::new(Outcome::Error("connect"), d, PATH, pin)),
            };
            let (parts, mut body) = resp.into_parts();
            if parts.status != StatusCode::OK {
                // LiteLLM reads the error body and maps it: hold it (no second upstream call).
                return Err(match Limited::new(body, MAX_UPSTREAM_BODY).collect().await {
                    Ok(c) => Held::new(Outcome::Answer(parts, c.to_bytes()), d, PATH, pin),
                    Err(_) => Held::new(Outcome::Error("connect"), d, PATH, pin),
                });
            }
            if let Err(why) = wire::stream_head_check(&parts.headers) {
                return Err(replay(false, why));
            }
            let upstream_ms = started.elapsed().as_secs_f64() * 1000.0;
            let mut prefix = Vec::new();
            let mut raw = Vec::new();
            let mut ended = false;
            while !state.started() {
                let why = match body.frame().await {
                    Some(Ok(frame)) => {
                        let Some(data) = frame.data_ref() else { continue };
                        raw.extend_from_slice(data);
                        match state.feed(data) {
                            Ok(out) => {
                                prefix.extend(out);
                                continue;
                            }
                            Err(why) => why,
                        }
                    }
                    Some(Err(_)) => return Err(replay(true, "upstream body error")),
                    None => match state.end() {
                        Ok(()) => {
                            ended = true;
                            break;
                        }
                        Err(why) => why,
                    },
                };
                if why != BEFORE_CONTENT {
                    return Err(replay(false, why));
                }
                // LiteLLM may retry a stream that fails before content: it answers from this one.
                let rest = match Limited::new(body, MAX_UPSTREAM_BODY.saturating_sub(raw.len())).collect().await {
                    Ok(c) => c.to_bytes(),
                    Err(_) => return Err(replay(true, "upstream body error")),
                };
                raw.extend_from_slice(&rest);
                return Err(Held::new(Outcome::Answer(parts, Bytes::from(raw)), d, PATH, pin));
            }
            Ok((upstream_ms, parts, body, prefix, ended))
        };
        let opened = match timeout {
            Some(t) => match tokio::time::timeout(t, first).await {
                Ok(x) => x,
                Err(_) => Err(Held::new(Outcome::Error("timeout"), d, PATH, pin)),
            },
            None => first.await,
        };
        let (upstream_ms, parts, body, prefix, ended) = match opened {
            Ok(x) => x,
            Err(attempt) => return attempt,
        };
        let total_ms = started.elapsed().as_secs_f64() * 1000.0;
        let headers = answer_headers(format, &self.cfg.version, d, &req.model, None, &parts.headers, total_ms,
                                     (total_ms - upstream_ms).max(0.0));
        let origin = StreamOrigin { client, group: &req.model, deployment: d, upstream_path: PATH, started_unix };
        match self.stream_response(origin, headers, (parts, body, state, prefix, Vec::new(), ended), false) {
            Some(r) => Attempt::Served(r),
            None => replay(false, "header not valid"),
        }
    }
}

/// `/v1/messages` from the master key, run by `Front::drive`: served in Rust when its group
/// is an `anthropic/` one and the request is inside the envelope. With callbacks configured
/// the route stays on LiteLLM (no log record is built for it yet).
pub(crate) struct Messages;

impl Route for Messages {
    type Plan = Picked<MsgRequest>;
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
        let priced = d.input_cost_per_token + d.output_cost_per_token > 0.0;
        if req.streaming { front.cfg.streams } else { priced }
    }
    async fn serve(front: &Arc<Front>, Picked { req, deployment: d }: &Self::Plan, client: Received<'_>) -> Attempt {
        if req.streaming {
            front.serve_messages_stream(req, d, client).await
        } else {
            front.serve_messages(req, d).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_body_puts_messages_first_and_sorts_the_rest() {
        let r = parse_request(br#"{"model":"g","max_tokens":5,"system":"s","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        let b = String::from_utf8(upstream_body(&r, "claude-x")).unwrap();
        assert_eq!(b, r#"{"messages":[{"content":"hi","role":"user"}],"max_tokens":5,"model":"claude-x","stream":false,"system":"s"}"#);
    }

    #[test]
    fn request_envelope() {
        assert!(parse_request(br#"{"model":"g","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"stream":true}"#).is_some());
        assert!(parse_request(br#"{"model":"g","messages":[{"role":"user","content":"a"}]}"#).is_none());
        assert!(parse_request(br#"{"model":"g","max_tokens":5,"messages":[{"role":"user","content":"a"}],"thinking":{"type":"enabled","budget_tokens":1024}}"#).is_none());
        assert!(parse_request(br#"{"model":"g","max_tokens":5,"messages":[{"role":"system","content":"a"}]}"#).is_none());
        assert!(parse_request(br#"{"model":"g","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"\u2028"},{"type":"text","text":"a"}]}]}"#).is_none());
    }

    #[test]
    fn answer_rendered_with_the_group_and_total_on_1_83() {
        let raw = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"h\u00e9"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":4,"service_tier":"standard"}}"#;
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let (n, i, o) = parse_answer(raw, &h, "claude-x").unwrap();
        let out = String::from_utf8(render_answer(Format::V1_83, n, "grp", i, o).unwrap()).unwrap();
        assert!(out.contains(r#""model":"grp""#) && out.contains("\"text\":\"h\u{e9}\"") && out.ends_with(r#""service_tier":"standard","total_tokens":7}}"#));
        assert!(parse_answer(raw, &h, "other").is_none());
    }
}
