//! `POST /v1/embeddings` (and `/embeddings`) for `openai/` embedding deployments, as
//! LiteLLM's proxy serves it on the verified versions.
//!
//! LiteLLM calls the upstream's `/embeddings` with the client's `input`, `user`,
//! `dimensions` and `encoding_format` (1.83.14 always sends `encoding_format`, `null` when
//! the client gave none, so the openai SDK does not ask for base64 and decodes nothing;
//! 1.110.2 leaves it out). The upstream's JSON is loaded by Python, validated into
//! LiteLLM's `EmbeddingResponse` (a JSON int in a vector becomes a float) and written by
//! the route's `ORJSONResponse`: the model is the group the client named, `usage` gains
//! LiteLLM's zero completion fields, a base64 vector is passed as the string it was, and
//! every float is printed as orjson prints a double (`orjson_fmt`). The headers are the
//! chat completion's, with the prompt tokens priced at the embedding rate and no
//! completion tokens.

use std::sync::Arc;
use std::time::Instant;

use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::held::{Attempt, Held, Outcome};
use crate::orjson_fmt::orjson_float_into;
use crate::route::{Picked, Received, Route};
use crate::wire::{self, js, Format};
use crate::{append_headers, full, lane, Body, Deployment, Front};

/// The largest `dimensions` the front forwards (OpenAI's models have at most 3072).
const MAX_DIMENSIONS: u64 = 1 << 16;
/// Token counts beyond this are not reproduced (cost arithmetic stays exact below it).
const TOKEN_LIMIT: u64 = 1 << 40;
/// A JSON int in a vector is turned into a float by LiteLLM; exact only up to 2**53.
const EXACT_INT: i64 = 1 << 53;

/// A request inside the envelope: exactly these keys, each of the verified type.
#[derive(Debug)]
pub struct EmbedRequest {
    pub model: String,
    input: Value,
    encoding_format: Option<&'static str>,
    dimensions: Option<u64>,
    user: Option<String>,
}

impl EmbedRequest {
    fn base64(&self) -> bool {
        self.encoding_format == Some("base64")
    }
}

fn token_array(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty() && a.iter().all(|t| t.as_u64().map_or(false, |n| n <= u32::MAX as u64)))
}

/// A string, or a non-empty list of strings, of token ids, or of token-id lists (OpenAI's
/// forms; LiteLLM's proxy passes token arrays through unchanged for `openai/`).
fn valid_input(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(a) if !a.is_empty() => {
            a.iter().all(Value::is_string) || token_array(v) || a.iter().all(token_array)
        }
        _ => false,
    }
}

pub fn parse_request(body: &[u8]) -> Option<EmbedRequest> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object()?;
    if !o.keys().all(|k| matches!(k.as_str(), "model" | "input" | "encoding_format" | "dimensions" | "user")) {
        return None;
    }
    let model = o.get("model")?.as_str()?.to_string();
    let input = o.get("input")?.clone();
    if !valid_input(&input) {
        return None;
    }
    let encoding_format = match o.get("encoding_format") {
        None => None,
        Some(Value::String(s)) if s == "float" => Some("float"),
        Some(Value::String(s)) if s == "base64" => Some("base64"),
        Some(_) => return None,
    };
    let dimensions = match o.get("dimensions") {
        None => None,
        Some(d) => Some(d.as_u64().filter(|n| (1..=MAX_DIMENSIONS).contains(n))?),
    };
    let user = match o.get("user") {
        None => None,
        Some(u) => Some(u.as_str()?.to_string()),
    };
    Some(EmbedRequest { model, input, encoding_format, dimensions, user })
}

/// The body LiteLLM sends upstream, in its key order per version.
fn upstream_body(format: Format, req: &EmbedRequest, upstream_model: &str) -> Vec<u8> {
    let mut o = serde_json::Map::new();
    if format == Format::V1_83 {
        o.insert("input".into(), req.input.clone());
        o.insert("model".into(), upstream_model.into());
    } else {
        o.insert("model".into(), upstream_model.into());
        o.insert("input".into(), req.input.clone());
    }
    if let Some(u) = &req.user {
        o.insert("user".into(), u.as_str().into());
    }
    if let Some(d) = req.dimensions {
        o.insert("dimensions".into(), d.into());
    }
    match (format, req.encoding_format) {
        (_, Some(f)) => {
            o.insert("encoding_format".into(), f.into());
        }
        (Format::V1_83, None) => {
            o.insert("encoding_format".into(), Value::Null);
        }
        (Format::V1_110, None) => {}
    }
    // serde_json's map keeps insertion order only with `preserve_order`; write it by hand.
    let mut out = Vec::with_capacity(128);
    out.push(b'{');
    for (i, (k, v)) in ordered(format, &o).into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(js(k).as_bytes());
        out.push(b':');
        out.extend_from_slice(v.to_string().as_bytes());
    }
    out.push(b'}');
    out
}

fn ordered<'a>(format: Format, o: &'a serde_json::Map<String, Value>) -> Vec<(&'a str, &'a Value)> {
    let order: &[&str] = match format {
        Format::V1_83 => &["input", "model", "user", "dimensions", "encoding_format"],
        Format::V1_110 => &["model", "input", "user", "dimensions", "encoding_format"],
    };
    order.iter().filter_map(|k| o.get(*k).map(|v| (*k, v))).collect()
}

fn upstream_request(format: Format, req: &EmbedRequest, d: &Deployment) -> Option<Request<Body>> {
    let uri: Uri = format!("{}/embeddings", d.api_base).parse().ok()?;
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("authorization", format!("Bearer {}", d.api_key))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(full(upstream_body(format, req, &d.upstream_model)))
        .ok()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamAnswer<'a> {
    object: &'a str,
    #[serde(borrow)]
    data: Vec<UpstreamItem<'a>>,
    #[allow(dead_code)]
    model: &'a str,
    usage: UpstreamUsage,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamItem<'a> {
    object: &'a str,
    index: u64,
    #[serde(borrow)]
    embedding: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// LiteLLM's client body for an upstream answer of the verified shape, and the prompt
/// tokens; `None`: not reproduced (the answer is held for LiteLLM).
pub fn render(body: &[u8], headers: &HeaderMap, req: &EmbedRequest) -> Option<(Vec<u8>, u64)> {
    for (name, value) in headers.iter() {
        if !matches!(name.as_str(), "content-type" | "content-length" | "date" | "server") || value.to_str().is_err() {
            return None;
        }
    }
    let ct = headers.get("content-type")?.to_str().ok()?;
    if !(ct == "application/json" || ct.starts_with("application/json;")) {
        return None;
    }
    let a: UpstreamAnswer = serde_json::from_slice(body).ok()?;
    let (p, t) = (a.usage.prompt_tokens, a.usage.total_tokens);
    if a.object != "list" || a.data.is_empty() || p != t || p >= TOKEN_LIMIT {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() + 256);
    out.extend_from_slice(b"{\"model\":");
    out.extend_from_slice(js(&req.model).as_bytes());
    out.extend_from_slice(b",\"data\":[");
    for (i, item) in a.data.iter().enumerate() {
        if item.object != "embedding" {
            return None;
        }
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"embedding\":");
        if req.base64() {
            base64_vector(item.embedding.get(), &mut out)?;
        } else {
            float_vector(item.embedding.get(), &mut out)?;
        }
        out.extend_from_slice(format!(",\"index\":{},\"object\":\"embedding\"}}", item.index).as_bytes());
    }
    out.extend_from_slice(
        format!(
            "],\"object\":\"list\",\"usage\":{{\"completion_tokens\":0,\"prompt_tokens\":{p},\"total_tokens\":{t},\"completion_tokens_details\":null,\"prompt_tokens_details\":null}}}}"
        )
        .as_bytes(),
    );
    Some((out, p))
}

/// A base64 vector: a JSON string of the base64 alphabet only (no escapes to reproduce).
fn base64_vector(raw: &str, out: &mut Vec<u8>) -> Option<()> {
    let b = raw.as_bytes();
    if b.len() < 2 || b[0] != b'"' || b[b.len() - 1] != b'"' {
        return None;
    }
    if !b[1..b.len() - 1].iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')) {
        return None;
    }
    out.extend_from_slice(b);
    Some(())
}

/// A JSON array of numbers, each re-printed as LiteLLM's answer has it: Python's float of
/// the number (an int through `float()`), printed by orjson.
fn float_vector(raw: &str, out: &mut Vec<u8>) -> Option<()> {
    let s = raw.as_bytes();
    let mut i = skip_ws(s, 0);
    if s.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(s, i + 1);
    out.push(b'[');
    let mut first = true;
    let mut buf = ryu::Buffer::new();
    loop {
        let start = i;
        let (end, is_int) = json_number(s, i)?;
        // The token is ASCII digits/sign/point/exponent: valid UTF-8.
        let text = std::str::from_utf8(&s[start..end]).ok()?;
        let x = if is_int {
            let n: i64 = text.parse().ok()?;
            if !(-EXACT_INT..=EXACT_INT).contains(&n) {
                return None;
            }
            n as f64
        } else {
            let x: f64 = text.parse().ok()?;
            if !x.is_finite() {
                return None; // Python reads inf; orjson would write null: not reproduced
            }
            x
        };
        if !first {
            out.push(b',');
        }
        first = false;
        orjson_float_into(x, &mut buf, out);
        i = skip_ws(s, end);
        match s.get(i) {
            Some(b',') => i = skip_ws(s, i + 1),
            Some(b']') => {
                out.push(b']');
                return if first { None } else { Some(()) };
            }
            _ => return None,
        }
    }
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end of the JSON number at `i` (RFC 8259 grammar) and whether it is an int.
fn json_number(s: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let digits = |s: &[u8], mut i: usize| {
        let st = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        (i, i - st)
    };
    if s.get(i) == Some(&b'-') {
        i += 1;
    }
    let (e, n) = digits(s, i);
    if n == 0 || (n > 1 && s[i] == b'0') {
        return None;
    }
    i = e;
    let mut is_int = true;
    if s.get(i) == Some(&b'.') {
        let (e, n) = digits(s, i + 1);
        if n == 0 {
            return None;
        }
        i = e;
        is_int = false;
    }
    if matches!(s.get(i), Some(b'e') | Some(b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+') | Some(b'-')) {
            i += 1;
        }
        let (e, n) = digits(s, i);
        if n == 0 {
            return None;
        }
        i = e;
        is_int = false;
    }
    Some((i, is_int))
}

/// LiteLLM accepts `dimensions` for an `openai/` model only if its name contains
/// `text-embedding-3` (else an error, or with `drop_params` the parameter is dropped): those
/// requests go to LiteLLM.
fn dimensions_ok(req: &EmbedRequest, d: &Deployment) -> bool {
    req.dimensions.is_none() || d.upstream_model.contains("text-embedding-3")
}

/// Embeddings with the master key, run by `Front::drive`: a group of `openai/` embedding
/// deployments, no logging callbacks (their replay of this route is not verified).
pub(crate) struct Embeddings;

impl Route for Embeddings {
    type Plan = Picked<EmbedRequest>;
    const LOGGED: bool = false;

    fn plan(front: &Front, body: &[u8]) -> Option<Self::Plan> {
        let req = parse_request(body)?;
        let deployment = front.pick_in(&front.cfg.embedding_groups, &req.model)?;
        Some(Picked { req, deployment })
    }
    fn group(plan: &Self::Plan) -> &str {
        &plan.req.model
    }
    fn deployment(plan: &Self::Plan) -> &Deployment {
        &plan.deployment
    }
    fn eligible(_: &Front, plan: &Self::Plan) -> bool {
        dimensions_ok(&plan.req, &plan.deployment)
    }
    async fn serve(front: &Arc<Front>, plan: &Self::Plan, _: Received<'_>) -> Attempt {
        front.serve_embeddings(&plan.req, &plan.deployment).await
    }
}

impl Front {
    /// Call the upstream's `/embeddings` once and build LiteLLM's answer; anything else
    /// (an error status, a shape not verified, a timeout) is held for LiteLLM to answer from.
    async fn serve_embeddings(&self, req: &EmbedRequest, d: &Deployment) -> Attempt {
        let Some(format) = self.cfg.format else { return Attempt::Replay { failed: false } };
        let pin = self.cfg.embedding_groups.get(&req.model).map_or(false, |g| g.len() > 1);
        let started = Instant::now();
        let Some(up) = upstream_request(format, req, d) else { return Attempt::Replay { failed: false } };
        let (parts, bytes) = match self.call_upstream(d, up, self.router.as_ref().map(|r| r.timeout())).await {
            Outcome::Answer(parts, bytes) if parts.status == StatusCode::OK => (parts, bytes),
            other => return Held::new(other, d, "/embeddings", pin),
        };
        let upstream_ms = started.elapsed().as_secs_f64() * 1000.0;
        let hold = |parts, bytes| Held::new(Outcome::Answer(parts, bytes), d, "/embeddings", pin);
        let Some((out, prompt_tokens)) = render(&bytes, &parts.headers, req) else { return hold(parts, bytes) };
        let total_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut resp = Response::new(full(out));
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // The chat completion's headers: the prompt tokens at the embedding rate, no completion.
        let as_chat = wire::Answer {
            id: String::new(),
            created: 0u64.into(),
            system_fingerprint: String::new(),
            content: String::new(),
            finish_reason: String::new(),
            prompt_tokens,
            completion_tokens: 0,
            total_tokens: prompt_tokens,
            extras: Default::default(),
        };
        let headers = wire::litellm_headers(format, &self.cfg.version, d, &req.model, Some(&as_chat), &parts.headers,
                                            total_ms, (total_ms - upstream_ms).max(0.0));
        if append_headers(resp.headers_mut(), headers).is_none() {
            return hold(parts, bytes);
        }
        lane(&mut resp, "rust");
        Attempt::Served(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let mut out = Vec::new();
        assert!(float_vector("[1, -0, 2.5e-3 ,1E2]", &mut out).is_some());
        assert_eq!(out, b"[1.0,0.0,0.0025,100.0]");
        for bad in ["[]", "[01]", "[1.]", "[.5]", "[1e]", "[1,]", "[NaN]", "[1e400]", "[9007199254740993]", "[\"a\"]"] {
            assert!(float_vector(bad, &mut Vec::new()).is_none(), "{bad}");
        }
    }

    #[test]
    fn requests() {
        assert!(parse_request(br#"{"model":"m","input":"x"}"#).is_some());
        assert!(parse_request(br#"{"model":"m","input":[[1,2],[3]],"encoding_format":"base64","dimensions":3,"user":"u"}"#).is_some());
        for bad in [
            &br#"{"model":"m","input":[]}"#[..],
            br#"{"model":"m","input":[[]]}"#,
            br#"{"model":"m","input":["a",1]}"#,
            br#"{"model":"m","input":"x","encoding_format":null}"#,
            br#"{"model":"m","input":"x","dimensions":0}"#,
            br#"{"model":"m","input":"x","extra":1}"#,
        ] {
            assert!(parse_request(bad).is_none());
        }
    }
}
