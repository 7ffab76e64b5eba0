//! Streaming `POST /v1/responses` (`"stream": true`) on LiteLLM 1.110.x, as its proxy
//! emits it for an `openai/` deployment: each upstream event is validated into LiteLLM's
//! typed event model and printed with `model_dump_json(exclude_none=True)`, then the
//! proxy appends the model group as `"model"`. So every event comes out as its declared
//! fields in the model's order, then the fields the model does not declare in the
//! upstream's order, nulls dropped; objects typed as plain dicts (`reasoning`,
//! `metadata`, the items of `output_item.*`, the part of `content_part.added`) keep the
//! upstream's order and nulls. In `response.*` events the response's `id` becomes
//! LiteLLM's managed id (the same one for the whole stream), its `model` the model group,
//! and the final usage gains LiteLLM's `cost`.
//!
//! The verified shape is OpenAI's text-only stream (`response.created`,
//! `response.in_progress`, `response.output_item.added`, `response.content_part.added`,
//! `response.output_text.delta`..., `.output_text.done`, `.content_part.done`,
//! `.output_item.done`, `response.completed`) and its minimal form (created, deltas,
//! completed). The front holds the events before the first text delta (they are small and
//! come at once): a reasoning item, a tool call or anything else unexpected there still
//! means a replay through LiteLLM before a byte went out. After that, an event out of
//! shape cuts the stream (LiteLLM itself would emit a `response.failed` event for an
//! upstream that breaks off; the front does not reproduce that).

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use crate::sse::{SseEvent, SseReader};
use crate::stream::{json_float, Reject};
use crate::wire::{cost_of, js};
use crate::Deployment;

/// A JSON value that keeps object keys in the order they came.
#[derive(Clone, Debug, PartialEq)]
pub enum J {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_none<E>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<J, E> {
                Ok(J::Bool(b))
            }
            fn visit_u64<E>(self, n: u64) -> Result<J, E> {
                Ok(J::Num(n.into()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<J, E> {
                Ok(J::Num(n.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<J, E> {
                Number::from_f64(n).map(J::Num).ok_or_else(|| E::custom("non-finite"))
            }
            fn visit_str<E>(self, s: &str) -> Result<J, E> {
                Ok(J::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<J, E> {
                Ok(J::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(J::Arr(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
                let mut v: Vec<(String, J)> = Vec::new();
                while let Some((k, x)) = a.next_entry::<String, J>()? {
                    // Python's json.loads keeps the last of duplicate keys, in the first's place.
                    if let Some(slot) = v.iter_mut().find(|(key, _)| *key == k) {
                        slot.1 = x;
                    } else {
                        v.push((k, x));
                    }
                }
                Ok(J::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl J {
    fn get(&self, k: &str) -> Option<&J> {
        match self {
            J::Obj(v) => v.iter().find(|(key, _)| key == k).map(|(_, x)| x),
            _ => None,
        }
    }
    fn str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }
    fn u64(&self) -> Option<u64> {
        match self {
            J::Num(n) => n.as_u64(),
            _ => None,
        }
    }
    fn is_null(&self) -> bool {
        matches!(self, J::Null)
    }
    fn obj(&self) -> Option<&[(String, J)]> {
        match self {
            J::Obj(v) => Some(v),
            _ => None,
        }
    }
    fn arr(&self) -> Option<&[J]> {
        match self {
            J::Arr(v) => Some(v),
            _ => None,
        }
    }

    /// Compact JSON as pydantic prints a value that came from `json.loads` (plain dicts
    /// keep their order and nulls; floats as Python's repr through serde's shortest form).
    fn write(&self, out: &mut String) -> Result<(), Reject> {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => write_num(n, out)?,
            J::Str(s) => out.push_str(&js(s)),
            J::Arr(v) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    x.write(out)?;
                }
                out.push(']');
            }
            J::Obj(v) => {
                out.push('{');
                for (i, (k, x)) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&js(k));
                    out.push(':');
                    x.write(out)?;
                }
                out.push('}');
            }
        }
        Ok(())
    }
}

fn write_num(n: &Number, out: &mut String) -> Result<(), Reject> {
    if n.is_u64() || n.is_i64() {
        out.push_str(&n.to_string());
    } else {
        let f = n.as_f64().ok_or("number")?;
        // An integer too large for 64 bits arrives as a float here; Python keeps it exact.
        if f.abs() >= 1e15 {
            return Err("number out of the envelope");
        }
        out.push_str(&json_float(f));
    }
    Ok(())
}

/// A field pydantic declares as `float`: an integer upstream value prints as `1.0`.
fn write_float_field(x: &J, out: &mut String) -> Result<(), Reject> {
    match x {
        J::Num(n) => {
            let f = n.as_f64().ok_or("float field")?;
            if f.abs() >= 1e15 {
                return Err("float field");
            }
            out.push_str(&json_float(f));
            Ok(())
        }
        _ => Err("float field"),
    }
}

/// Writes `{...}` members: `,"key":value` after the first.
struct ObjOut {
    s: String,
    first: bool,
}

impl ObjOut {
    fn new() -> Self {
        ObjOut { s: String::from("{"), first: true }
    }
    fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.s.push(',');
        }
        self.first = false;
        self.s.push_str(&js(k));
        self.s.push(':');
        &mut self.s
    }
    fn raw(&mut self, k: &str, v: &str) {
        self.key(k).push_str(v);
    }
    fn val(&mut self, k: &str, v: &J) -> Result<(), Reject> {
        v.write(self.key(k))
    }
    fn done(mut self) -> String {
        self.s.push('}');
        self.s
    }
}

/// The fields a model does not declare, in the upstream's order, nulls dropped; `allowed`
/// names the ones verified (anything else is out of the envelope).
fn extras(o: &[(String, J)], declared: &[&str], allowed: &[&str], out: &mut ObjOut) -> Result<(), Reject> {
    for (k, v) in o {
        if declared.contains(&k.as_str()) || v.is_null() {
            continue;
        }
        let plain = matches!(v, J::Str(_) | J::Num(_) | J::Bool(_)) || v.arr().map_or(false, <[J]>::is_empty);
        if !allowed.contains(&k.as_str()) || !plain {
            return Err("unknown event field");
        }
        out.val(k, v)?;
    }
    Ok(())
}

fn no_nulls(o: &[(String, J)]) -> Result<(), Reject> {
    if o.iter().any(|(_, v)| v.is_null()) {
        return Err("null in an item");
    }
    Ok(())
}

/// What the front knows about this stream.
pub struct RespStreamSpec {
    /// The model group the client named.
    pub requested_model: String,
    /// LiteLLM's managed id for the upstream response id (computed once per stream).
    pub managed_id: Box<dyn Fn(&str) -> Option<String> + Send + Sync>,
}

pub struct RespStreamState {
    spec: RespStreamSpec,
    deployment: Deployment,
    sse: SseReader,
    /// The upstream response id and its managed id, from `response.created`.
    ids: Option<(String, String)>,
    committed: bool,
    completed: bool,
}

const RESPONSE_DECLARED: &[&str] = &[
    "id", "created_at", "error", "incomplete_details", "instructions", "metadata", "model", "object", "output",
    "parallel_tool_calls", "temperature", "tool_choice", "tools", "top_p", "max_output_tokens", "previous_response_id",
    "reasoning", "status", "text", "truncation", "usage", "user", "store",
];
/// Response fields LiteLLM's model does not declare, seen on OpenAI's responses.
const RESPONSE_EXTRAS: &[&str] = &[
    "background", "max_tool_calls", "prompt_cache_key", "safety_identifier", "service_tier", "top_logprobs",
    "prompt_cache_retention",
];
/// Event fields OpenAI sends that LiteLLM's event models do not declare.
const EVENT_EXTRAS: &[&str] = &["sequence_number", "logprobs", "obfuscation"];
const TOKEN_LIMIT: u64 = 1 << 40;

impl RespStreamState {
    pub fn new(spec: RespStreamSpec, deployment: Deployment) -> Self {
        RespStreamState { spec, deployment, sse: SseReader::default(), ids: None, committed: false, completed: false }
    }

    /// True once the first text delta (or the completed response) went through: the held
    /// events and the head may be sent.
    pub fn started(&self) -> bool {
        self.committed
    }

    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<u8>, Reject> {
        let events = self.sse.feed(data)?;
        let mut out = Vec::new();
        for e in events {
            self.event(e, &mut out)?;
        }
        Ok(out)
    }

    /// The upstream body ended: fine only after `response.completed`.
    pub fn end(&self) -> Result<(), Reject> {
        if self.completed && self.sse.idle() {
            Ok(())
        } else {
            Err("upstream stream ended before response.completed")
        }
    }

    fn event(&mut self, e: SseEvent, out: &mut Vec<u8>) -> Result<(), Reject> {
        if self.completed {
            return Err("event after response.completed");
        }
        let v: J = serde_json::from_slice(&e.data).map_err(|_| "not JSON")?;
        let o = v.obj().ok_or("not an object")?;
        let ty = v.get("type").and_then(J::str).ok_or("event type")?.to_string();
        if e.event.as_deref().map_or(false, |n| n != ty) {
            return Err("SSE event name differs from its type");
        }
        if v.get("model").is_some() {
            return Err("model field on an event");
        }
        if self.ids.is_none() && ty != "response.created" {
            return Err("first event is not response.created");
        }
        let mut w = ObjOut::new();
        w.raw("type", &js(&ty));
        let declared: &[&str] = match ty.as_str() {
            "response.created" | "response.in_progress" | "response.completed" => {
                if ty == "response.created" && self.ids.is_some() {
                    return Err("second response.created");
                }
                let r = v.get("response").ok_or("response")?;
                let body = self.response(&ty, r)?;
                w.raw("response", &body);
                if ty == "response.completed" {
                    self.completed = true;
                    self.committed = true;
                }
                &["type", "response"]
            }
            "response.output_item.added" | "response.output_item.done" => {
                let done = ty.ends_with(".done");
                self.index(&v, "output_index", &mut w)?;
                if done {
                    // Declared with a default of 1.
                    match v.get("sequence_number") {
                        None => w.raw("sequence_number", "1"),
                        Some(n) => w.raw("sequence_number", &n.u64().ok_or("sequence_number")?.to_string()),
                    }
                }
                let item = v.get("item").ok_or("item")?;
                message_item(item, done)?;
                w.val("item", item)?;
                if done {
                    &["type", "output_index", "sequence_number", "item"]
                } else {
                    &["type", "output_index", "item"]
                }
            }
            "response.content_part.added" | "response.content_part.done" => {
                self.item_ref(&v, &mut w)?;
                let part = v.get("part").ok_or("part")?;
                let p = part.obj().ok_or("part")?;
                output_text_part(p, ty.ends_with(".done"))?;
                if ty.ends_with(".added") {
                    no_nulls(p)?;
                    w.val("part", part)?;
                } else {
                    // LiteLLM's `ContentPartDonePartOutputText`: type, text, annotations, logprobs.
                    let mut pw = ObjOut::new();
                    pw.raw("type", "\"output_text\"");
                    pw.val("text", part.get("text").ok_or("part text")?)?;
                    pw.raw("annotations", "[]");
                    if let Some(l) = part.get("logprobs").filter(|l| !l.is_null()) {
                        pw.val("logprobs", l)?;
                    }
                    w.raw("part", &pw.done());
                }
                &["type", "item_id", "output_index", "content_index", "part"]
            }
            "response.output_text.delta" | "response.output_text.done" => {
                self.item_ref(&v, &mut w)?;
                let field = if ty.ends_with(".delta") { "delta" } else { "text" };
                match v.get(field) {
                    Some(t @ J::Str(_)) => w.val(field, t)?,
                    _ => return Err("text field"),
                }
                if let Some(l) = v.get("logprobs") {
                    if l.arr().map_or(true, |a| !a.is_empty()) {
                        return Err("logprobs");
                    }
                }
                if ty.ends_with(".delta") {
                    self.committed = true;
                    &["type", "item_id", "output_index", "content_index", "delta"]
                } else {
                    &["type", "item_id", "output_index", "content_index", "text"]
                }
            }
            _ => return Err("event type outside the envelope"),
        };
        extras(o, declared, EVENT_EXTRAS, &mut w)?;
        w.raw("model", &js(&self.spec.requested_model));
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(ty.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(w.done().as_bytes());
        out.extend_from_slice(b"\n\n");
        Ok(())
    }

    fn index(&self, v: &J, k: &str, w: &mut ObjOut) -> Result<(), Reject> {
        let n = v.get(k).and_then(J::u64).ok_or("index")?;
        w.raw(k, &n.to_string());
        Ok(())
    }

    fn item_ref(&self, v: &J, w: &mut ObjOut) -> Result<(), Reject> {
        let id = v.get("item_id").filter(|x| matches!(x, J::Str(_))).ok_or("item_id")?;
        w.val("item_id", id)?;
        self.index(v, "output_index", w)?;
        self.index(v, "content_index", w)
    }

    /// A `response` object as LiteLLM's `ResponsesAPIResponse` prints it.
    fn response(&mut self, ty: &str, r: &J) -> Result<String, Reject> {
        let o = r.obj().ok_or("response")?;
        let upstream_id = r.get("id").and_then(J::str).ok_or("response id")?;
        if !upstream_id.starts_with("resp_") || upstream_id.contains(';') {
            return Err("response id");
        }
        let managed = match &self.ids {
            Some((up, m)) if up == upstream_id => m.clone(),
            Some(_) => return Err("response id changed"),
            None => {
                let m = (self.spec.managed_id)(upstream_id).ok_or("managed id")?;
                self.ids = Some((upstream_id.to_string(), m.clone()));
                m
            }
        };
        let status = r.get("status").and_then(J::str).ok_or("status")?;
        let completed = ty == "response.completed";
        if status != if completed { "completed" } else { "in_progress" } {
            return Err("response status");
        }
        if r.get("model").and_then(J::str) != Some(self.deployment.upstream_model.as_str()) {
            return Err("response model");
        }
        if r.get("object").and_then(J::str) != Some("response") {
            return Err("response object");
        }
        let mut w = ObjOut::new();
        for k in RESPONSE_DECLARED {
            let Some(x) = r.get(k) else { continue };
            if x.is_null() {
                continue;
            }
            match *k {
                "id" => w.raw(k, &js(&managed)),
                "created_at" => w.raw(k, &x.u64().ok_or("created_at")?.to_string()),
                "metadata" | "reasoning" => {
                    x.obj().ok_or("dict field")?;
                    w.val(k, x)?;
                }
                "model" => w.raw(k, &js(&self.spec.requested_model)),
                "object" | "status" => w.val(k, x)?,
                "output" => {
                    let items = x.arr().ok_or("output")?;
                    if !completed && !items.is_empty() {
                        return Err("output before completion");
                    }
                    let mut s = String::from("[");
                    for (i, it) in items.iter().enumerate() {
                        if i > 0 {
                            s.push(',');
                        }
                        s.push_str(&sdk_message(it)?);
                    }
                    s.push(']');
                    w.raw(k, &s);
                }
                "parallel_tool_calls" | "store" => {
                    if !matches!(x, J::Bool(_)) {
                        return Err("bool field");
                    }
                    w.val(k, x)?;
                }
                "temperature" | "top_p" => write_float_field(x, w.key(k))?,
                "tool_choice" => {
                    if x.str() != Some("auto") {
                        return Err("tool_choice");
                    }
                    w.val(k, x)?;
                }
                "tools" => {
                    if x.arr().map_or(true, |a| !a.is_empty()) {
                        return Err("tools");
                    }
                    w.raw(k, "[]");
                }
                "text" => {
                    // `{"format": {"type": "text"}, "verbosity": ...}` as OpenAI sends it.
                    let t = x.obj().ok_or("text")?;
                    let keys: Vec<&str> = t.iter().map(|(k, _)| k.as_str()).collect();
                    let fmt_ok = x.get("format") == Some(&J::Obj(vec![("type".into(), J::Str("text".into()))]));
                    if !fmt_ok || !(keys == ["format"] || (keys == ["format", "verbosity"] && x.get("verbosity").and_then(J::str).is_some())) {
                        return Err("text");
                    }
                    w.val(k, x)?;
                }
                "truncation" => {
                    if !matches!(x.str(), Some("auto" | "disabled")) {
                        return Err("truncation");
                    }
                    w.val(k, x)?;
                }
                "usage" => {
                    if !completed {
                        return Err("usage before completion");
                    }
                    let u = self.usage(x)?;
                    w.raw(k, &u);
                }
                // error, incomplete_details, instructions, max_output_tokens, previous_response_id, user
                _ => return Err("response field outside the envelope"),
            }
        }
        if completed && r.get("usage").map_or(true, J::is_null) {
            return Err("completed without usage");
        }
        extras(o, RESPONSE_DECLARED, RESPONSE_EXTRAS, &mut w)?;
        Ok(w.done())
    }

    /// `ResponseAPIUsage` with all-zero cached/reasoning details and LiteLLM's cost.
    fn usage(&self, u: &J) -> Result<String, Reject> {
        let o = u.obj().ok_or("usage")?;
        let keys = ["input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details", "total_tokens"];
        if o.len() != keys.len() || !keys.iter().all(|k| u.get(k).is_some()) {
            return Err("usage keys");
        }
        let zero = |k: &str, d: &str| u.get(k).and_then(|x| x.obj()).map_or(false, |x| x.len() == 1 && x[0].0 == d && x[0].1.u64() == Some(0));
        if !zero("input_tokens_details", "cached_tokens") || !zero("output_tokens_details", "reasoning_tokens") {
            return Err("usage details");
        }
        let get = |k: &str| u.get(k).and_then(J::u64).filter(|n| *n < TOKEN_LIMIT);
        let (i, k, t) = (get("input_tokens").ok_or("tokens")?, get("output_tokens").ok_or("tokens")?, get("total_tokens").ok_or("tokens")?);
        if t != i + k {
            return Err("total_tokens");
        }
        let (ic, kc) = cost_of(&self.deployment, i, k);
        let total = ic + kc;
        if total == 0.0 || !total.is_finite() {
            // A zero cost's rendering was not verified.
            return Err("zero cost");
        }
        Ok(format!(
            r#"{{"input_tokens":{i},"input_tokens_details":{{"cached_tokens":0}},"output_tokens":{k},"output_tokens_details":{{"reasoning_tokens":0}},"total_tokens":{t},"cost":{}}}"#,
            json_float(total)
        ))
    }
}

/// An `output_text` part: `{type, annotations: [], logprobs?: [], text}` (`text` empty when added).
fn output_text_part(p: &[(String, J)], done: bool) -> Result<(), Reject> {
    for (k, v) in p {
        let ok = match k.as_str() {
            "type" => v.str() == Some("output_text"),
            "annotations" | "logprobs" => v.arr().map_or(false, <[J]>::is_empty),
            "text" => v.str().map_or(false, |t| done || t.is_empty()),
            _ => false,
        };
        if !ok {
            return Err("content part outside the envelope");
        }
    }
    if !p.iter().any(|(k, _)| k == "text") || !p.iter().any(|(k, _)| k == "annotations") {
        return Err("content part outside the envelope");
    }
    Ok(())
}

/// The assistant message item of `response.output_item.*`: in progress with no content
/// when added, completed with output_text parts when done.
fn message_item(item: &J, done: bool) -> Result<(), Reject> {
    let o = item.obj().ok_or("item")?;
    no_nulls(o)?;
    let keys: Vec<&str> = {
        let mut k: Vec<&str> = o.iter().map(|(k, _)| k.as_str()).collect();
        k.sort_unstable();
        k
    };
    if keys != ["content", "id", "role", "status", "type"] {
        return Err("item keys");
    }
    if item.get("type").and_then(J::str) != Some("message") || item.get("role").and_then(J::str) != Some("assistant") {
        return Err("item type");
    }
    if item.get("id").and_then(J::str).is_none() {
        return Err("item id");
    }
    let content = item.get("content").and_then(J::arr).ok_or("item content")?;
    let status = item.get("status").and_then(J::str);
    if done {
        if status != Some("completed") {
            return Err("item status");
        }
        for c in content {
            output_text_part(c.obj().ok_or("item content")?, true)?;
        }
    } else if status != Some("in_progress") || !content.is_empty() {
        return Err("item added with content");
    }
    Ok(())
}

/// A completed message in the final response, as the OpenAI SDK's `ResponseOutputMessage`
/// and `ResponseOutputText` print it (id, content, role, status, type; annotations, text,
/// type, logprobs).
fn sdk_message(item: &J) -> Result<String, Reject> {
    message_item(item, true)?;
    let mut w = ObjOut::new();
    w.val("id", item.get("id").ok_or("item id")?)?;
    let mut s = String::from("[");
    for (i, c) in item.get("content").and_then(J::arr).unwrap_or(&[]).iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let mut cw = ObjOut::new();
        cw.raw("annotations", "[]");
        cw.val("text", c.get("text").ok_or("text")?)?;
        cw.raw("type", "\"output_text\"");
        if c.get("logprobs").is_some() {
            cw.raw("logprobs", "[]");
        }
        s.push_str(&cw.done());
    }
    s.push(']');
    w.raw("content", &s);
    w.raw("role", "\"assistant\"");
    w.raw("status", "\"completed\"");
    w.raw("type", "\"message\"");
    Ok(w.done())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep() -> Deployment {
        Deployment {
            id: "dep1".into(),
            model: "openai/gpt-4o-mini".into(),
            upstream_model: "gpt-4o-mini".into(),
            api_base: "http://127.0.0.1:1/v1".into(),
            api_key: "k".into(),
            input_cost_per_token: 1.5e-7,
            output_cost_per_token: 6e-7,
            tls: None,
            provider: Default::default(),
        }
    }

    fn state() -> RespStreamState {
        RespStreamState::new(
            RespStreamSpec { requested_model: "team-chat".into(), managed_id: Box::new(|id| Some(format!("M({id})"))) },
            dep(),
        )
    }

    const RESP: &str = r#"{"id":"resp_1","object":"response","created_at":1795609699,"status":"in_progress","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"max_tool_calls":null,"model":"gpt-4o-mini","output":[],"parallel_tool_calls":true,"previous_response_id":null,"prompt_cache_key":null,"reasoning":{"effort":null,"summary":null},"safety_identifier":null,"service_tier":"auto","store":true,"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},"tool_choice":"auto","tools":[],"top_logprobs":0,"top_p":1,"truncation":"disabled","usage":null,"user":null,"metadata":{}}"#;

    fn ev(name: &str, data: &str) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    #[test]
    fn openai_stream_reprinted_as_litellm_does() {
        let mut s = state();
        let created = ev("response.created", &format!(r#"{{"type":"response.created","sequence_number":0,"response":{RESP}}}"#));
        let out = String::from_utf8(s.feed(created.as_bytes()).unwrap()).unwrap();
        assert!(!s.started());
        assert_eq!(
            out,
            concat!(
                "event: response.created\ndata: ",
                r#"{"type":"response.created","response":{"id":"M(resp_1)","created_at":1795609699,"metadata":{},"model":"team-chat","object":"response","output":[],"parallel_tool_calls":true,"temperature":1.0,"tool_choice":"auto","tools":[],"top_p":1.0,"reasoning":{"effort":null,"summary":null},"status":"in_progress","text":{"format":{"type":"text"},"verbosity":"medium"},"truncation":"disabled","store":true,"background":false,"service_tier":"auto","top_logprobs":0},"sequence_number":0,"model":"team-chat"}"#,
                "\n\n"
            )
        );
        let delta = ev(
            "response.output_text.delta",
            r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"H\u00e9","logprobs":[],"obfuscation":"x"}"#,
        );
        let out = String::from_utf8(s.feed(delta.as_bytes()).unwrap()).unwrap();
        assert!(s.started());
        assert_eq!(
            out,
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hé\",\"sequence_number\":4,\"logprobs\":[],\"obfuscation\":\"x\",\"model\":\"team-chat\"}\n\n"
        );
        let done = ev(
            "response.output_item.done",
            r#"{"type":"response.output_item.done","sequence_number":10,"output_index":0,"item":{"id":"msg_1","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Hé"}],"role":"assistant"}}"#,
        );
        let out = String::from_utf8(s.feed(done.as_bytes()).unwrap()).unwrap();
        assert!(out.contains(r#"{"type":"response.output_item.done","output_index":0,"sequence_number":10,"item":{"id":"msg_1","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Hé"}],"role":"assistant"},"model":"team-chat"}"#), "{out}");
        let full = RESP
            .replace(r#""status":"in_progress""#, r#""status":"completed""#)
            .replace(r#""output":[]"#, r#""output":[{"id":"msg_1","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Hé"}],"role":"assistant"}]"#)
            .replace(r#""usage":null"#, r#""usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":0},"output_tokens":10,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":22}"#);
        let completed = ev("response.completed", &format!(r#"{{"type":"response.completed","sequence_number":11,"response":{full}}}"#));
        let out = String::from_utf8(s.feed(completed.as_bytes()).unwrap()).unwrap();
        assert!(out.contains(r#""output":[{"id":"msg_1","content":[{"annotations":[],"text":"Hé","type":"output_text","logprobs":[]}],"role":"assistant","status":"completed","type":"message"}]"#), "{out}");
        assert!(out.contains(r#""truncation":"disabled","usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":0},"output_tokens":10,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":22,"cost":7.8e-6},"store":true"#), "{out}");
        assert!(s.end().is_ok());
        assert!(s.feed(b"event: x\ndata: {}\n\n").is_err());
    }

    #[test]
    fn out_of_shape_events_are_refused() {
        let created = ev("response.created", &format!(r#"{{"type":"response.created","response":{RESP}}}"#));
        for bad in [
            // a reasoning item before the text
            ev("response.output_item.added", r#"{"type":"response.output_item.added","output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}"#),
            ev("response.output_text.annotation.added", r#"{"type":"response.output_text.annotation.added"}"#),
            ev("response.output_text.delta", r#"{"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"x","extra":1}"#),
            ev("response.output_text.delta", r#"{"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"x","logprobs":[{"token":"x"}]}"#),
            ev("response.created", &format!(r#"{{"type":"response.created","response":{RESP}}}"#)),
        ] {
            let mut s = state();
            s.feed(created.as_bytes()).unwrap();
            assert!(s.feed(bad.as_bytes()).is_err(), "{bad}");
        }
        for resp in [
            RESP.replace(r#""tools":[]"#, r#""tools":[{"type":"web_search"}]"#),
            RESP.replace(r#""instructions":null"#, r#""instructions":"be brief""#),
            RESP.replace(r#""model":"gpt-4o-mini""#, r#""model":"gpt-4o""#),
            RESP.replace(r#""user":null"#, r#""user":null,"new_field":1"#),
        ] {
            let mut s = state();
            assert!(s.feed(ev("response.created", &format!(r#"{{"type":"response.created","response":{resp}}}"#)).as_bytes()).is_err(), "{resp}");
        }
        let mut s = state();
        s.feed(created.as_bytes()).unwrap();
        assert!(s.end().is_err());
    }
}
