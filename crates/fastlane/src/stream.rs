//! Streaming chat completions (`"stream": true`): the upstream's SSE events are checked
//! one at a time against the shape verified on the stock proxy and re-emitted the way
//! LiteLLM's proxy emits them (its chunk fields, each chunk's own id, the role on the
//! first chunk only, empty/null content dropped, `finish_reason` in a chunk of its own,
//! vLLM's `stop_reason` per version, the usage chunk per version, `data: [DONE]`). The
//! shapes of real OpenAI-compatible servers this covers, and the ones it replays, are
//! the corpus of `tests/test_fast_lane_streams.py`. Azure's and hosted_vllm's own fields
//! (filter results, reasoning) go through `provider_streams.rs` first.
//!
//! Nothing is buffered beyond one event: each upstream event produces its output as
//! soon as it is complete. The response head is only sent once the first event has
//! been accepted, so a stream that is out of shape from its first event is still
//! replayed through LiteLLM. Once bytes went out that is no longer possible: an event
//! out of shape later on ends the response with an error (the client sees a truncated
//! chunked body, never a `data: [DONE]`), and the deployment takes a strike.

use serde_json::{Map, Value};

use crate::sse::SseReader;
use crate::wire::{js, Format};
use crate::Deployment;

/// Why a stream left the verified shape.
pub type Reject = &'static str;

/// What the client asked for and what the upstream was asked for.
pub struct StreamSpec {
    pub format: Format,
    /// The model group the client named (LiteLLM's chunks carry it).
    pub requested_model: String,
    /// `stream_options.include_usage` from the client.
    pub include_usage: bool,
}

pub struct StreamState {
    spec: StreamSpec,
    deployment: Deployment,
    sse: SseReader,
    /// The id of the chunk being re-emitted (LiteLLM passes each upstream chunk's id through).
    id: Option<String>,
    fingerprint: Option<Option<String>>,
    tier: Option<Option<String>>,
    emitted_first: bool,
    /// A finish chunk split off text it came with: LiteLLM sends it when the next upstream
    /// event arrives, with that event's id (the usage chunk's, if one follows).
    pending_finish: Option<(String, bool)>,
    finished: bool,
    usage_seen: bool,
    done: bool,
    /// Azure's prompt-filter chunk was seen (`provider_streams`).
    prompt_seen: bool,
    /// An event after the first one was accepted.
    settled: bool,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A float as pydantic/orjson print it (shortest round-trip digits, `e-6`, `e+16`):
/// serde_json's output, with a `+` ensured on positive exponents.
pub fn json_float(x: f64) -> String {
    let s = serde_json::to_string(&x).unwrap_or_else(|_| "null".into());
    match s.find('e') {
        Some(i) if !s[i + 1..].starts_with('-') && !s[i + 1..].starts_with('+') => format!("{}e+{}", &s[..i], &s[i + 1..]),
        _ => s,
    }
}

const TOKEN_LIMIT: u64 = 1 << 40;

/// OpenAI's all-zero token details as LiteLLM prints them (its models' field order).
const OPENAI_DETAILS: &str = r#""completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":0,"rejected_prediction_tokens":0},"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":0}"#;

impl StreamState {
    pub fn new(spec: StreamSpec, deployment: Deployment) -> Self {
        StreamState {
            spec,
            deployment,
            sse: SseReader::default(),
            id: None,
            fingerprint: None,
            tier: None,
            emitted_first: false,
            pending_finish: None,
            finished: false,
            usage_seen: false,
            done: false,
            prompt_seen: false,
            settled: false,
        }
    }

    /// What LiteLLM's proxy sends when the upstream stalls past its read timeout mid-stream
    /// (probed on both versions: 1.110.2 maps it to `litellm.Timeout` and ends with `[DONE]`;
    /// 1.83.14 sends aiohttp's message as a 500 and ends there).
    pub fn read_timeout_event(&self) -> &'static [u8] {
        match self.spec.format {
            Format::V1_110 => concat!(
                r#"data: {"error": {"message": "litellm.Timeout: APITimeoutError - Request timed out. Error_str: Request timed out.", "type": "invalid_request_error", "param": null, "code": "408"}}"#,
                "\n\ndata: [DONE]\n\n"
            )
            .as_bytes(),
            Format::V1_83 => concat!(
                r#"data: {"error": {"message": "Timeout on reading data from socket", "type": "None", "param": "None", "code": "500"}}"#,
                "\n\n"
            )
            .as_bytes(),
        }
    }

    /// True once at least one event produced output (the head may be sent).
    pub fn started(&self) -> bool {
        // A vLLM stream's head waits for its second event too: reasoning, which the front
        // declines with `include_usage`, comes right after the role chunk.
        self.emitted_first && (self.settled || !crate::provider_streams::hold_head(&self.deployment))
    }

    /// Feed upstream bytes; returns the bytes to send to the client now. Only `data:`
    /// fields are in the envelope, one per event (framing: `crate::sse`).
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<u8>, Reject> {
        let mut out = Vec::new();
        for e in self.sse.feed(data)? {
            if e.event.is_some() {
                return Err("SSE field other than data:");
            }
            let after_first = self.emitted_first;
            self.event(&e.data, &mut out)?;
            self.settled |= after_first;
        }
        Ok(out)
    }

    /// The upstream body ended: fine only after `data: [DONE]`.
    pub fn end(&self) -> Result<(), Reject> {
        if self.done && self.sse.idle() {
            Ok(())
        } else {
            Err("upstream stream ended before data: [DONE]")
        }
    }

    fn event(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), Reject> {
        if self.done {
            return Err("event after [DONE]");
        }
        if payload == b"[DONE]" {
            if !self.finished {
                return Err("[DONE] before finish_reason");
            }
            if self.spec.include_usage && !self.usage_seen {
                return Err("usage chunk missing");
            }
            self.done = true;
            self.flush_finish(out);
            out.extend_from_slice(b"data: [DONE]\n\n");
            return Ok(());
        }
        let mut v: Value = serde_json::from_slice(payload).map_err(|_| "not JSON")?;
        // A provider's chunk in OpenAI's shape, and what goes first in its emitted choice.
        let prefix = match crate::provider_streams::prepare(&self.deployment, &mut v, payload)? {
            crate::provider_streams::Step::Prompt => {
                if self.prompt_seen || self.id.is_some() {
                    return Err("prompt filter chunk out of place");
                }
                self.prompt_seen = true;
                if self.spec.include_usage {
                    self.id = Some(String::new());
                    self.emit(out, "[]", "");
                }
                return Ok(());
            }
            crate::provider_streams::Step::Chunk { prefix } => prefix,
        };
        let o = v.as_object().ok_or("not an object")?;
        self.check_envelope(o)?;
        let usage = o.get("usage").filter(|u| !u.is_null());
        let choices = o["choices"].as_array().ok_or("choices")?;
        if let Some(u) = usage {
            return self.usage_chunk(u, choices, out);
        }
        if self.finished || choices.len() != 1 {
            return Err("choices after finish or not one choice");
        }
        let c = choices[0].as_object().ok_or("choice")?;
        for k in c.keys() {
            if !matches!(k.as_str(), "index" | "delta" | "finish_reason" | "logprobs" | "stop_reason") {
                return Err("unknown choice key");
            }
        }
        if c.get("index").and_then(Value::as_u64) != Some(0) || !c.get("logprobs").map_or(true, Value::is_null) {
            return Err("index/logprobs");
        }
        let finish = match c.get("finish_reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "stop" || s == "length" => Some(s.as_str()),
            _ => return Err("finish_reason"),
        };
        // vLLM's `stop_reason` (null, a stop string or a stop token id) on the finish chunk:
        // 1.110.2 keeps it on its finish chunk, 1.83.14 drops it.
        let stop_reason = match c.get("stop_reason") {
            None => None,
            Some(_) if finish.is_none() => return Err("stop_reason without finish_reason"),
            Some(v @ (Value::Null | Value::String(_))) => Some(v),
            Some(v @ Value::Number(n)) if n.is_u64() => Some(v),
            Some(_) => return Err("stop_reason"),
        };
        let delta = c.get("delta").and_then(Value::as_object).ok_or("delta")?;
        let mut role = false;
        let mut content: Option<&str> = None;
        let mut null_content = false;
        let mut reasoning: Option<&str> = None;
        for (k, val) in delta {
            match (k.as_str(), val) {
                // Ollama, LM Studio and TGI repeat the role on every delta; LiteLLM keeps it
                // on the first chunk only.
                ("role", Value::String(r)) if r == "assistant" => role = true,
                ("content", Value::String(s)) => content = Some(s),
                ("content", Value::Null) if self.emitted_first => null_content = true,
                ("refusal", Value::Null) if !self.emitted_first => {}
                // vLLM's reasoning (`reasoning` since 0.10): LiteLLM passes it as `reasoning_content`
                // (an empty one too) but counts its tokens itself in the usage chunk: not replicated.
                ("reasoning_content" | "reasoning", Value::String(r))
                    if self.emitted_first && reasoning.is_none() && crate::provider_streams::hold_head(&self.deployment) =>
                {
                    if self.spec.include_usage {
                        return Err("vLLM reasoning with include_usage");
                    }
                    reasoning = Some(r)
                }
                _ => return Err("delta field outside the envelope"),
            }
        }
        if !self.emitted_first {
            let text = match (role, content) {
                (true, Some(s)) => s,
                (false, Some(s)) if !s.is_empty() => s,
                _ => return Err("first chunk shape"),
            };
            if stop_reason.is_some() && self.spec.format == Format::V1_110 {
                return Err("stop_reason on the first chunk");
            }
            self.emitted_first = true;
            let choices = format!(r#"[{{{prefix}"index":0,"delta":{{"content":{},"role":"assistant"}}}}]"#, js(text));
            self.emit(out, &choices, "");
        } else {
            match content {
                _ if reasoning.is_some() => {
                    if content.is_some() || null_content || finish.is_some() || stop_reason.is_some() {
                        return Err("reasoning with other fields");
                    }
                    let choices = format!(r#"[{{"index":0,"delta":{{"reasoning_content":{}}}}}]"#, js(reasoning.unwrap_or("")));
                    self.emit(out, &choices, "");
                }
                Some(s) if !s.is_empty() => {
                    // 1.110.2 copies a finish chunk's `stop_reason` onto the text it came with too.
                    let stop = match (self.spec.format, stop_reason) {
                        (Format::V1_110, Some(v)) => format!(r#","stop_reason":{}"#, v),
                        _ => String::new(),
                    };
                    let choices = format!(r#"[{{{prefix}"index":0,"delta":{{"content":{}}}{}}}]"#, js(s), stop);
                    self.emit(out, &choices, "");
                }
                Some(_) => {}
                // A role-only or empty delta mid-stream was not observed on the stock proxy.
                None if finish.is_none() && !null_content => return Err("empty delta without finish_reason"),
                None => {}
            }
        }
        if let Some(f) = finish {
            self.finished = true;
            let stop = match (self.spec.format, stop_reason) {
                (Format::V1_110, Some(v)) => format!(r#","stop_reason":{}"#, v),
                _ => String::new(),
            };
            let choices = format!(r#"[{{"finish_reason":{},"index":0,"delta":{{}}{}}}]"#, js(f), stop);
            // 1.83.14 builds a fresh chunk (no service_tier) for a finish_reason that
            // came with content; 1.110.2 keeps it.
            let split = content.map_or(false, |s| !s.is_empty());
            let tier = !(split && self.spec.format == Format::V1_83);
            if split {
                self.pending_finish = Some((choices, tier));
            } else {
                self.emit_with(out, &choices, "", tier);
            }
        }
        Ok(())
    }

    /// id/object/created/model/system_fingerprint/service_tier: constant over the stream.
    fn check_envelope(&mut self, o: &Map<String, Value>) -> Result<(), Reject> {
        for k in o.keys() {
            if !matches!(
                k.as_str(),
                "id" | "object" | "created" | "model" | "choices" | "system_fingerprint" | "service_tier" | "usage"
            ) {
                return Err("unknown chunk key");
            }
        }
        if o.get("object").and_then(Value::as_str) != Some("chat.completion.chunk") {
            return Err("object");
        }
        if !o.get("created").map_or(false, Value::is_u64) {
            return Err("created");
        }
        if o.get("model").and_then(Value::as_str) != Some(self.deployment.upstream_model.as_str()) {
            return Err("model");
        }
        // LiteLLM passes each chunk's own id through (servers that stamp every chunk anew included).
        let id = o.get("id").and_then(Value::as_str).ok_or("id")?;
        if self.id.as_deref() != Some(id) {
            self.id = Some(id.to_string());
        }
        same_over_stream(&mut self.fingerprint, o.get("system_fingerprint"), "system_fingerprint", "system_fingerprint changed")?;
        // 1.110.2 gives Ollama's streams (`fp_ollama`) an id of its own and a
        // `provider_specific_fields.original_response_id`: not replicated.
        if self.spec.format == Format::V1_110 && matches!(&self.fingerprint, Some(Some(f)) if f == "fp_ollama") {
            return Err("Ollama stream on 1.110 (LiteLLM rewrites its ids)");
        }
        same_over_stream(&mut self.tier, o.get("service_tier"), "service_tier", "service_tier changed")?;
        Ok(())
    }

    fn usage_chunk(&mut self, u: &Value, choices: &[Value], out: &mut Vec<u8>) -> Result<(), Reject> {
        if !self.finished || self.usage_seen || !choices.is_empty() {
            return Err("usage chunk out of place");
        }
        self.flush_finish(out);
        self.usage_seen = true;
        let u = u.as_object().ok_or("usage")?;
        for k in u.keys() {
            if !matches!(
                k.as_str(),
                "prompt_tokens" | "completion_tokens" | "total_tokens" | "prompt_tokens_details" | "completion_tokens_details"
            ) {
                return Err("usage keys");
            }
        }
        // Token details: absent or null (vLLM), or OpenAI's full set, all zero. Non-zero
        // details (cached, reasoning, audio tokens) change LiteLLM's cost and output.
        let zeros = |k: &str, keys: &[&str]| -> Result<bool, Reject> {
            match u.get(k) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Object(d)) if d.len() == keys.len() && keys.iter().all(|x| d.get(*x).and_then(Value::as_u64) == Some(0)) => Ok(true),
                Some(_) => Err("usage details outside the envelope"),
            }
        };
        let prompt_details = zeros("prompt_tokens_details", &["audio_tokens", "cached_tokens"])?;
        let completion_details = zeros(
            "completion_tokens_details",
            &["accepted_prediction_tokens", "audio_tokens", "reasoning_tokens", "rejected_prediction_tokens"],
        )?;
        if prompt_details != completion_details {
            return Err("usage details outside the envelope");
        }
        let details = prompt_details;
        let get = |k: &str| u.get(k).and_then(Value::as_u64).filter(|n| *n < TOKEN_LIMIT);
        let (p, k, t) = (
            get("prompt_tokens").ok_or("prompt_tokens")?,
            get("completion_tokens").ok_or("completion_tokens")?,
            get("total_tokens").ok_or("total_tokens")?,
        );
        if t != p + k {
            return Err("total_tokens");
        }
        match self.spec.format {
            Format::V1_110 => {
                // 1.110.2 always asks the upstream for usage; it shows it only when the client asked.
                if !self.spec.include_usage {
                    return Ok(());
                }
                let (pc, kc) = crate::provider_streams::usage_cost(&self.deployment, p, k);
                let total = pc + kc;
                let cost = if total != 0.0 { format!(r#","cost":{}"#, json_float(total)) } else { String::new() };
                let tail = if details {
                    format!(r#","usage":{{"completion_tokens":{k},"prompt_tokens":{p},"total_tokens":{t},{OPENAI_DETAILS}{cost}}}"#)
                } else {
                    format!(
                        r#","usage":{{"completion_tokens":{k},"prompt_tokens":{p},"total_tokens":{t},"completion_tokens_details":{{"reasoning_tokens":0,"text_tokens":{k}}}{cost}}}"#
                    )
                };
                self.emit(out, "[]", &tail);
            }
            Format::V1_83 => {
                // 1.83.14 recounts the tokens itself when the upstream reports zeros: not replicated.
                if !self.spec.include_usage || p == 0 || k == 0 {
                    return Err("usage outside the 1.83 envelope");
                }
                let tail = if details {
                    format!(r#","usage":{{"completion_tokens":{k},"prompt_tokens":{p},"total_tokens":{t},{OPENAI_DETAILS}}}"#)
                } else {
                    format!(
                        r#","usage":{{"completion_tokens":{k},"prompt_tokens":{p},"total_tokens":{t},"completion_tokens_details":{{"reasoning_tokens":0}}}}"#
                    )
                };
                // 1.83.14's usage chunk carries no service_tier.
                self.emit_with(out, r#"[{"index":0,"delta":{}}]"#, &tail, false);
            }
        }
        Ok(())
    }

    fn flush_finish(&mut self, out: &mut Vec<u8>) {
        if let Some((choices, tier)) = self.pending_finish.take() {
            self.emit_with(out, &choices, "", tier);
        }
    }

    fn emit(&self, out: &mut Vec<u8>, choices: &str, tail: &str) {
        self.emit_with(out, choices, tail, true)
    }

    fn emit_with(&self, out: &mut Vec<u8>, choices: &str, tail: &str, tier: bool) {
        out.extend_from_slice(b"data: {\"id\":");
        out.extend_from_slice(js(self.id.as_deref().unwrap_or("")).as_bytes());
        out.extend_from_slice(format!(",\"created\":{},\"model\":", unix_now()).as_bytes());
        out.extend_from_slice(js(&self.spec.requested_model).as_bytes());
        out.extend_from_slice(b",\"object\":\"chat.completion.chunk\"");
        if let Some(Some(fp)) = &self.fingerprint {
            out.extend_from_slice(b",\"system_fingerprint\":");
            out.extend_from_slice(js(fp).as_bytes());
        }
        out.extend_from_slice(b",\"choices\":");
        out.extend_from_slice(choices.as_bytes());
        out.extend_from_slice(tail.as_bytes());
        if let (true, Some(Some(t))) = (tier, &self.tier) {
            out.extend_from_slice(b",\"service_tier\":");
            out.extend_from_slice(js(t).as_bytes());
        }
        out.extend_from_slice(b"}\n\n");
    }
}

/// An optional string field that must keep its first chunk's value (or absence) over the stream.
fn same_over_stream(
    seen: &mut Option<Option<String>>,
    value: Option<&Value>,
    not_a_string: &'static str,
    changed: &'static str,
) -> Result<(), &'static str> {
    let now = match value {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(not_a_string),
    };
    match seen {
        None => *seen = Some(now),
        Some(prev) if *prev == now => {}
        Some(_) => return Err(changed),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep() -> Deployment {
        Deployment {
            id: "x".into(),
            model: "openai/m".into(),
            upstream_model: "m".into(),
            api_base: "http://h/v1".into(),
            api_key: "k".into(),
            input_cost_per_token: 1.5e-7,
            output_cost_per_token: 6e-7,
            tls: None,
            provider: Default::default(),
        }
    }

    fn state(format: Format, include_usage: bool) -> StreamState {
        StreamState::new(StreamSpec { format, requested_model: "g".into(), include_usage }, dep())
    }

    const C: &str = r#""id":"c1","object":"chat.completion.chunk","created":1,"model":"m""#;

    #[test]
    fn json_float_like_pydantic() {
        assert_eq!(json_float(7.8e-6), "7.8e-6");
        assert_eq!(json_float(2.1e-5), "0.000021");
        assert_eq!(json_float(1e16), "1e+16");
        assert_eq!(json_float(123.0), "123.0");
    }

    #[test]
    fn split_events_and_reshape() {
        let mut s = state(Format::V1_110, true);
        let events = format!(
            "data: {{{C},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"finish_reason\":null}}]}}\n\n\
             data: {{{C},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"\"}},\"finish_reason\":null}}]}}\n\n\
             data: {{{C},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"hi\"}},\"finish_reason\":\"stop\"}}]}}\n\n\
             data: {{{C},\"choices\":[],\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":10,\"total_tokens\":22}}}}\n\n\
             data: [DONE]\n\n"
        );
        let mut out = Vec::new();
        for piece in events.as_bytes().chunks(7) {
            out.extend(s.feed(piece).unwrap());
        }
        s.end().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("data: ").count(), 5, "{text}");
        assert!(text.contains(r#""delta":{"content":"","role":"assistant"}"#));
        assert!(text.contains(r#"[{"finish_reason":"stop","index":0,"delta":{}}]"#));
        assert!(text.contains(r#""completion_tokens_details":{"reasoning_tokens":0,"text_tokens":10},"cost":7.8e-6}"#));
        assert!(text.ends_with("data: [DONE]\n\n"));
    }

    fn run(s: &mut StreamState, text: &str, piece: usize) -> Result<String, Reject> {
        let mut out = Vec::new();
        for p in text.as_bytes().chunks(piece) {
            out.extend(s.feed(p)?);
        }
        s.end()?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn sse_framing_crlf_comments_and_split_writes() {
        let events = format!(
            ": keep-alive\r\n\r\ndata: {{{C},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}}}}]}}\r\n\r\n\
             :ping\r\ndata:{{{C},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"a\"}}}}]}}\r\n\r\n\
             data: {{{C},\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\r\n\r\n\
             data: [DONE]\r\n\r\n"
        );
        let mut whole = None;
        for piece in [1, 2, 3, 5, 7, 4096] {
            let got = run(&mut state(Format::V1_110, false), &events, piece).unwrap();
            assert_eq!(got.matches("data: ").count(), 4, "{got}");
            assert!(got.ends_with("data: [DONE]\n\n"));
            let norm = got.split("\n\n").map(|e| e.split(",\"created\"").next().unwrap().to_string()).collect::<Vec<_>>();
            if let Some(w) = &whole {
                assert_eq!(&norm, w);
            }
            whole = Some(norm);
        }
        // One newline between events is not SSE: never an event boundary.
        let single = events.replace("\r\n\r\n", "\n");
        assert!(run(&mut state(Format::V1_110, false), &single, 4096).is_err());
        // Other SSE fields are outside the envelope.
        assert!(state(Format::V1_110, false).feed(b"event: x\ndata: [DONE]\n\n").is_err());
    }

    #[test]
    fn repeated_role_ids_per_chunk_and_stop_reason() {
        let c = |id: &str, delta: &str, extra: &str| {
            format!(
                "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{delta}{extra}}}]}}\n\n"
            )
        };
        let text = [
            c("a", r#"{"role":"assistant","content":"x"}"#, ""),
            c("b", r#"{"role":"assistant","content":"y"}"#, ""),
            c("c", r#"{"content":null}"#, ""),
            c("d", r#"{"role":"assistant","content":"z"}"#, r#","finish_reason":"stop","stop_reason":128009"#),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        let got = run(&mut state(Format::V1_110, false), &text, 3).unwrap();
        assert!(got.contains(r#""id":"b","#) && !got.contains(r#""id":"c","#));
        assert_eq!(got.matches(r#""role""#).count(), 1, "{got}");
        assert!(got.contains(r#"[{"index":0,"delta":{"content":"z"},"stop_reason":128009}]"#), "{got}");
        assert!(got.contains(r#"[{"finish_reason":"stop","index":0,"delta":{},"stop_reason":128009}]"#), "{got}");
        let got = run(&mut state(Format::V1_83, false), &text, 3).unwrap();
        assert!(!got.contains("stop_reason"), "{got}");
    }

    #[test]
    fn usage_details() {
        let mut s = state(Format::V1_83, true);
        let text = format!(
            "data: {{{C},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"a\"}},\"finish_reason\":\"stop\"}}]}}\n\n\
             data: {{{C},\"choices\":[],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5,\
             \"prompt_tokens_details\":{{\"cached_tokens\":0,\"audio_tokens\":0}},\"completion_tokens_details\":{{\"reasoning_tokens\":0,\
             \"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}}}}\n\ndata: [DONE]\n\n"
        );
        let got = run(&mut s, &text, 64).unwrap();
        assert!(got.contains(OPENAI_DETAILS), "{got}");
        let cached = text.replace(r#""cached_tokens":0"#, r#""cached_tokens":1"#);
        assert_eq!(run(&mut state(Format::V1_83, true), &cached, 64), Err("usage details outside the envelope"));
    }

    #[test]
    fn ollama_on_1_110_is_refused_at_the_first_event() {
        let first = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"system_fingerprint\":\"fp_ollama\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"x\"},\"finish_reason\":null}]}\n\n";
        let mut s = state(Format::V1_110, false);
        assert!(s.feed(first.as_bytes()).is_err() && !s.started());
        let mut s = state(Format::V1_83, false);
        assert!(s.feed(first.as_bytes()).is_ok() && s.started());
    }

    #[test]
    fn rejects_out_of_shape() {
        let mut s = state(Format::V1_83, false);
        let first = format!("data: {{{C},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"a\",\"tool_calls\":[]}}}}]}}\n\n");
        assert!(s.feed(first.as_bytes()).is_err());
        let s = state(Format::V1_83, false);
        assert!(s.end().is_err());
    }
}
