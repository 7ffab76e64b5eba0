//! `POST /v1/responses` (non-streaming) for `openai/` deployments, as LiteLLM's proxy
//! serves it on the verified versions: it calls the upstream's `/responses` with the
//! client's body (the model replaced by the deployment's), re-serialises the answer with
//! every field of its `ResponsesAPIResponse` in its order, and replaces the upstream's id
//! with LiteLLM's managed id: `resp_` + base64("litellm:custom_llm_provider:openai;
//! model_id:<id>;response_id:<upstream id>"), wrapped with the caller's user/team ids and
//! encrypted as LiteLLM's `encrypt_value_helper` does (NaCl secretbox under
//! sha256(master key), URL-safe base64). So a later `previous_response_id` sent to LiteLLM
//! decodes to the same deployment and upstream response.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use crypto_secretbox::aead::{Aead, AeadCore, KeyInit, OsRng};
use crypto_secretbox::XSalsa20Poly1305;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::held::{Attempt, Held, Outcome};
use crate::log_record::{log_record, LogInput};
use crate::responses_stream::{RespStreamSpec, RespStreamState};
use crate::route::{Picked, Received, Route};
use crate::stats::Stats;
use crate::streaming::{SseState, StreamOrigin};
use crate::wire::{self, js, Format};
use crate::{append_headers, full, lane, unix_now_f64, Body, Deployment, Front};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Input {
    Text(String),
    Messages(Vec<InputMessage>),
}

/// `{"model": ..., "input": "<text>" | [{"role": ..., "content": "<text>"}]}`, optionally
/// `"stream": false` or `null` (non-streaming for LiteLLM too) or `true` (SSE, see
/// `responses_stream`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponsesRequest {
    pub model: String,
    pub input: Input,
    #[serde(default)]
    pub stream: Option<Value>,
}

impl ResponsesRequest {
    pub fn streaming(&self) -> bool {
        matches!(self.stream, Some(Value::Bool(true)))
    }
}

pub fn parse_request(body: &[u8]) -> Option<ResponsesRequest> {
    let req: ResponsesRequest = serde_json::from_slice(body).ok()?;
    // serde maps `"stream": null` to None as well.
    if !matches!(req.stream, None | Some(Value::Bool(_))) {
        return None;
    }
    if let Input::Messages(m) = &req.input {
        if m.is_empty() || m.iter().any(|x| !matches!(x.role.as_str(), "system" | "user" | "assistant")) {
            return None;
        }
    }
    Some(req)
}

#[derive(Serialize)]
struct UpstreamBody<'a> {
    model: &'a str,
    input: &'a Value,
    /// LiteLLM forwards `"stream": true|false` and drops `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
}

fn upstream_body(req: &ResponsesRequest, upstream_model: &str) -> Vec<u8> {
    let input = match &req.input {
        Input::Text(t) => Value::String(t.clone()),
        Input::Messages(m) => serde_json::to_value(m).expect("messages serialize"),
    };
    let stream = match req.stream {
        Some(Value::Bool(b)) => Some(b),
        _ => None,
    };
    serde_json::to_vec(&UpstreamBody { model: upstream_model, input: &input, stream }).expect("serialize")
}

/// The upstream answer, reduced to what LiteLLM's output carries.
pub struct RespAnswer {
    pub id: String,
    pub created_at: serde_json::Number,
    pub message_id: String,
    pub text: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

fn keys(o: &serde_json::Map<String, Value>, k: &[&str]) -> bool {
    o.len() == k.len() && k.iter().all(|x| o.contains_key(*x))
}

/// The verified upstream shape: one completed assistant message with one `output_text`
/// (no annotations), default tool settings, plain usage; anything else is replayed.
pub fn parse_upstream(body: &[u8], headers: &HeaderMap, upstream_model: &str) -> Option<RespAnswer> {
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
    if !keys(o, &["id", "object", "created_at", "status", "model", "output", "parallel_tool_calls", "tool_choice", "tools", "usage"]) {
        return None;
    }
    let id = o["id"].as_str()?;
    if !id.starts_with("resp_") || id.contains(';') || o["object"].as_str()? != "response" || o["status"].as_str()? != "completed" {
        return None;
    }
    if o["model"].as_str()? != upstream_model || o["parallel_tool_calls"] != Value::Bool(true) || o["tool_choice"].as_str()? != "auto" {
        return None;
    }
    if !o["tools"].as_array()?.is_empty() {
        return None;
    }
    let created_at = match &o["created_at"] {
        Value::Number(n) if n.is_u64() => n.clone(),
        _ => return None,
    };
    let out = o["output"].as_array()?;
    if out.len() != 1 {
        return None;
    }
    let m = out[0].as_object()?;
    if !keys(m, &["type", "id", "status", "role", "content"]) || m["type"].as_str()? != "message"
        || m["status"].as_str()? != "completed" || m["role"].as_str()? != "assistant"
    {
        return None;
    }
    let message_id = m["id"].as_str()?.to_string();
    let content = m["content"].as_array()?;
    if content.len() != 1 {
        return None;
    }
    let c = content[0].as_object()?;
    if !keys(c, &["type", "text", "annotations"]) || c["type"].as_str()? != "output_text" || !c["annotations"].as_array()?.is_empty() {
        return None;
    }
    let text = c["text"].as_str()?.to_string();
    let u = o["usage"].as_object()?;
    if !keys(u, &["input_tokens", "output_tokens", "total_tokens", "input_tokens_details", "output_tokens_details"]) {
        return None;
    }
    let itd = u["input_tokens_details"].as_object()?;
    let otd = u["output_tokens_details"].as_object()?;
    if !keys(itd, &["cached_tokens"]) || itd["cached_tokens"].as_u64()? != 0 || !keys(otd, &["reasoning_tokens"]) || otd["reasoning_tokens"].as_u64()? != 0 {
        return None;
    }
    let (i, k, t) = (u["input_tokens"].as_u64()?, u["output_tokens"].as_u64()?, u["total_tokens"].as_u64()?);
    const LIMIT: u64 = 1 << 40;
    if i >= LIMIT || k >= LIMIT || t != i + k {
        return None;
    }
    Some(RespAnswer {
        id: id.to_string(),
        created_at,
        message_id,
        text,
        input_tokens: i,
        output_tokens: k,
        total_tokens: t,
    })
}

/// LiteLLM's managed, encrypted response id for the master key's caller.
pub fn managed_id(master_key: &str, model_id: &str, upstream_id: &str) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let inner = format!(
        "resp_{}",
        b64.encode(format!("litellm:custom_llm_provider:openai;model_id:{model_id};response_id:{upstream_id}"))
    );
    let plain = format!("litellm_proxy:responses_api:response_id:{inner};user_id:default_user_id;team_id:");
    let key = Sha256::digest(master_key.as_bytes());
    let cipher = XSalsa20Poly1305::new_from_slice(&key).ok()?;
    let nonce = XSalsa20Poly1305::generate_nonce(&mut OsRng);
    let sealed = cipher.encrypt(&nonce, plain.as_bytes()).ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Some(format!("resp_{}", base64::engine::general_purpose::URL_SAFE.encode(out)))
}

/// `model` is the model group the client asked for (LiteLLM's proxy puts it back).
pub fn render_body(format: Format, a: &RespAnswer, id: &str, model: &str) -> Vec<u8> {
    let (itd, otd) = match format {
        Format::V1_110 => (
            r#"{"audio_tokens":null,"cached_tokens":0,"cached_tokens_details":null,"image_tokens":null,"text_tokens":null,"video_tokens":null}"#,
            r#"{"audio_tokens":null,"reasoning_tokens":0,"text_tokens":null}"#,
        ),
        Format::V1_83 => (
            r#"{"audio_tokens":null,"cached_tokens":0,"text_tokens":null}"#,
            r#"{"reasoning_tokens":0,"text_tokens":null}"#,
        ),
    };
    format!(
        concat!(
            r#"{{"id":{},"created_at":{},"error":null,"incomplete_details":null,"instructions":null,"metadata":null,"model":{},"object":"response","#,
            r#""output":[{{"id":{},"content":[{{"annotations":[],"text":{},"type":"output_text","logprobs":null}}],"role":"assistant","status":"completed","type":"message","phase":null}}],"#,
            r#""parallel_tool_calls":true,"temperature":null,"tool_choice":"auto","tools":[],"top_p":null,"max_output_tokens":null,"previous_response_id":null,"reasoning":null,"status":"completed","text":null,"truncation":null,"#,
            r#""usage":{{"input_tokens":{},"input_tokens_details":{},"output_tokens":{},"output_tokens_details":{},"total_tokens":{},"cost":null}},"user":null,"store":null}}"#
        ),
        js(id),
        a.created_at,
        js(model),
        js(&a.message_id),
        js(&a.text),
        a.input_tokens,
        itd,
        a.output_tokens,
        otd,
        a.total_tokens,
    )
    .into_bytes()
}

/// The `/responses` POST LiteLLM sends the deployment.
fn upstream_request(req: &ResponsesRequest, d: &Deployment) -> Option<Request<Body>> {
    let uri: Uri = format!("{}/responses", d.api_base).parse().ok()?;
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("authorization", format!("Bearer {}", d.api_key))
        .header("content-type", "application/json")
        .body(full(upstream_body(req, &d.upstream_model)))
        .ok()
}

impl Front {
    /// A streaming `/v1/responses` (1.110.x, checked by `handle_responses`): hold the
    /// upstream's events up to the first text delta, then stream event by event (see
    /// `responses_stream`). `None`: replay.
    pub(crate) async fn serve_responses_stream(
        self: &Arc<Self>,
        req: &ResponsesRequest,
        d: &Deployment,
        failed: &mut bool,
        client: Received<'_>,
    ) -> Option<Response<Body>> {
        let format = self.cfg.format?;
        let key = self.cfg.master_key.clone()?;
        let started = Instant::now();
        let started_unix = unix_now_f64();
        let logging = self.log.is_some();
        let model_id = d.id.clone();
        let spec = RespStreamSpec {
            requested_model: req.model.clone(),
            managed_id: Box::new(move |upstream_id| managed_id(&key, &model_id, upstream_id)),
        };
        let state = SseState::Responses(RespStreamState::new(spec, d.clone()));
        let up = upstream_request(req, d).ok_or("request not built");
        let (upstream_ms, parts, body, state, prefix, raw, ended) = match self.open_stream(d, up, state, logging, started).await {
            Ok(x) => x,
            Err((upstream_failed, why)) => {
                *failed = upstream_failed;
                Stats::count(&self.stats.stream_replayed_by_reason, why);
                return None;
            }
        };
        let total_ms = started.elapsed().as_secs_f64() * 1000.0;
        let headers = wire::litellm_headers(format, &self.cfg.version, d, &req.model, None, &parts.headers, total_ms,
                                            (total_ms - upstream_ms).max(0.0));
        let origin = StreamOrigin { client, group: &req.model, deployment: d, upstream_path: "/responses", started_unix };
        self.stream_response(origin, headers, (parts, body, state, prefix, raw, ended), logging)
    }

    /// Call the upstream's `/responses` and build LiteLLM's answer; an answer outside the
    /// envelope (or an upstream error) is held for LiteLLM to answer from.
    pub(crate) async fn serve_responses(
        &self,
        req: &ResponsesRequest,
        d: &Deployment,
        client: Received<'_>,
    ) -> Attempt {
        let (Some(format), Some(key)) = (self.cfg.format, self.cfg.master_key.as_deref()) else {
            return Attempt::Replay { failed: false };
        };
        let started = Instant::now();
        let started_unix = unix_now_f64();
        let Some(up) = upstream_request(req, d) else { return Attempt::Replay { failed: false } };
        let pin = self.cfg.groups.get(&req.model).map_or(false, |g| g.len() > 1);
        let (parts, bytes) = match self.call_upstream(d, up, self.router.as_ref().map(|r| r.timeout())).await {
            Outcome::Answer(parts, bytes) if parts.status == StatusCode::OK => (parts, bytes),
            other => return Held::new(other, d, "/responses", pin),
        };
        let upstream_ms = started.elapsed().as_secs_f64() * 1000.0;
        let upstream_done_unix = unix_now_f64();
        let hold = |parts, bytes| Held::new(Outcome::Answer(parts, bytes), d, "/responses", pin);
        let Some(a) = parse_upstream(&bytes, &parts.headers, &d.upstream_model) else { return hold(parts, bytes) };
        let Some(id) = managed_id(key, &d.id, &a.id) else { return hold(parts, bytes) };
        let out = render_body(format, &a, &id, &req.model);
        let total_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut resp = Response::new(full(out));
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // The chat completion's headers, with the responses usage as the prompt/completion
        // counts; 1.83.14 sends no `x-litellm-overhead-duration-ms` on this route.
        let as_chat = wire::Answer {
            id: String::new(),
            created: a.created_at.clone(),
            system_fingerprint: String::new(),
            content: String::new(),
            finish_reason: String::new(),
            prompt_tokens: a.input_tokens,
            completion_tokens: a.output_tokens,
            total_tokens: a.total_tokens,
            extras: Default::default(),
        };
        let mut headers = wire::litellm_headers(format, &self.cfg.version, d, &req.model, Some(&as_chat), &parts.headers,
                                                total_ms, (total_ms - upstream_ms).max(0.0));
        if format == Format::V1_83 {
            headers.retain(|(k, _)| k != "x-litellm-overhead-duration-ms");
        }
        let call_id = headers.iter().find(|(k, _)| k == "x-litellm-call-id").map(|(_, v)| v.clone()).unwrap_or_default();
        if append_headers(resp.headers_mut(), headers).is_none() {
            return hold(parts, bytes);
        }
        lane(&mut resp, "rust");
        if let Some(q) = &self.log {
            let (head, request_body, peer) = client;
            q.push(log_record(LogInput {
                head,
                request_body,
                peer,
                group: &req.model,
                deployment: d,
                upstream_path: "/responses",
                call_id: &call_id,
                upstream_status: parts.status.as_u16(),
                upstream_headers: &parts.headers,
                upstream_body: &bytes,
                pin,
                start: started_unix,
                upstream_done: upstream_done_unix,
                end: unix_now_f64(),
            }));
        }
        Attempt::Served(resp)
    }
}

/// `/v1/responses` with the master key, run by `Front::drive`. With callbacks the answer
/// leaves a log record (as for chat, streams included). Streams only on 1.110.x (1.83.14's
/// responses stream head carries a cost estimate the front does not reproduce).
pub(crate) struct Responses;

impl Route for Responses {
    type Plan = Picked<ResponsesRequest>;
    const LOGGED: bool = true;

    fn plan(front: &Front, body: &[u8]) -> Option<Self::Plan> {
        let req = parse_request(body)?;
        let deployment = front.pick_in(&front.cfg.groups, &req.model)?;
        Some(Picked { req, deployment })
    }
    fn group(plan: &Self::Plan) -> &str {
        &plan.req.model
    }
    fn deployment(plan: &Self::Plan) -> &Deployment {
        &plan.deployment
    }
    fn eligible(front: &Front, Picked { req, deployment: d }: &Self::Plan) -> bool {
        // A stream's final usage carries LiteLLM's cost; a zero cost's rendering
        // was not verified, so unpriced deployments' streams stay on LiteLLM.
        let priced = d.input_cost_per_token + d.output_cost_per_token > 0.0;
        let v110 = front.cfg.format == Some(Format::V1_110);
        let eligible = d.provider.responses() && (!req.streaming() || (v110 && front.cfg.streams && priced));
        // LiteLLM's /responses client applies the deployment's own ssl_verify and
        // client certificate (its chat client does not): https stays on LiteLLM here.
        eligible && d.tls.is_none()
    }
    async fn serve(front: &Arc<Front>, Picked { req, deployment: d }: &Self::Plan, client: Received<'_>) -> Attempt {
        if req.streaming() {
            let mut failed = false;
            match front.serve_responses_stream(req, d, &mut failed, client).await {
                Some(r) => Attempt::Served(r),
                None => Attempt::Replay { failed },
            }
        } else {
            front.serve_responses(req, d, client).await
        }
    }
}
