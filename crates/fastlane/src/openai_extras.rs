//! What an OpenAI answer's choice carries beyond plain text: tool calls, a refusal (both with
//! `content: null`) and token logprobs, as LiteLLM prints them on an `openai/` deployment.
//!
//! LiteLLM rebuilds the message and the choice from the upstream JSON (observed on both
//! verified versions, re-checked by `tests/test_fast_lane_answers.py`):
//! * tool calls go between `role` and the rest of the message, each as
//!   `{"function":{"arguments","name"},"id","type"}` (LiteLLM's own classes set the keys in
//!   that order); an upstream `finish_reason` of `stop` with tool calls becomes `tool_calls`;
//! * the refusal text takes the place of `refusal: null` (1.110.x: after the annotations;
//!   1.83.x: inside the message's `provider_specific_fields`);
//! * a message key whose value is null moves last: `content: null` (tool calls, refusals) after
//!   everything else, on 1.110.x followed by `refusal: null`;
//! * logprobs are parsed into LiteLLM's classes, each token as `token`, `bytes`, `logprob`,
//!   `top_logprobs` (top entries `token`, `bytes`, `logprob`; a null `bytes` dropped), floats
//!   printed by Python's `repr`; the choice then prints `logprobs` before its
//!   `provider_specific_fields` on both versions, and the logprobs' null `refusal` is dropped.
//!
//! Held for LiteLLM: a refusal next to a text or tool calls, tool calls of another type,
//! without an id, with arguments that are not a string or extra keys, OpenAI's `multi_tool_use.parallel` pseudo-call (LiteLLM splits
//! it), an empty tool-call list, integer logprobs (pydantic turns them into floats), a null
//! `bytes` in a token's own entry, a logprobs refusal list, anything else in a logprobs entry.

use serde_json::{Map, Value};

use crate::pyfmt::float_repr;
use crate::wire::{exact_keys, js, Format};

/// The choice's contents beyond plain text, pre-rendered (`None`/`false`: as the plain answer).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rich {
    /// The message's `content` was null.
    pub null_content: bool,
    /// The message's refusal text.
    pub refusal: Option<String>,
    /// The tool calls, printed as LiteLLM prints the list.
    pub tool_calls: Option<String>,
    /// The choice's logprobs, printed per version.
    pub logprobs: Option<Logprobs>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Logprobs {
    /// The `content` list, printed.
    content: String,
}

impl Rich {
    /// Nothing beyond the plain answer (what the other providers' paths accept).
    pub fn is_plain(&self) -> bool {
        *self == Rich::default()
    }
}

/// The message's `content`, `refusal` and `tool_calls` (the caller checked the other keys):
/// `(content, rich)` or `None` if out of shape.
pub fn message(m: &Map<String, Value>) -> Option<(String, Rich)> {
    let mut rich = Rich::default();
    let content = match m.get("content")? {
        Value::String(s) => s.clone(),
        Value::Null => {
            rich.null_content = true;
            String::new()
        }
        _ => return None,
    };
    match m.get("refusal")? {
        Value::Null => {}
        Value::String(s) => rich.refusal = Some(s.clone()),
        _ => return None,
    }
    if let Some(calls) = m.get("tool_calls") {
        rich.tool_calls = Some(tool_calls(calls)?);
    }
    // Not verified: a null content alone (no tool call, no refusal), a refusal next to a text
    // or to tool calls.
    if rich.null_content && rich.refusal.is_none() && rich.tool_calls.is_none() {
        return None;
    }
    if rich.refusal.is_some() && (!rich.null_content || rich.tool_calls.is_some()) {
        return None;
    }
    Some((content, rich))
}

fn tool_calls(v: &Value) -> Option<String> {
    let calls = v.as_array()?;
    if calls.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(calls.len());
    for c in calls {
        let c = c.as_object()?;
        if !exact_keys(c, &["id", "type", "function"]) || c["type"].as_str()? != "function" {
            return None;
        }
        let id = c["id"].as_str()?;
        let f = c["function"].as_object()?;
        if !exact_keys(f, &["name", "arguments"]) {
            return None;
        }
        let (name, arguments) = (f["name"].as_str()?, f["arguments"].as_str()?);
        if name == "multi_tool_use.parallel" {
            return None;
        }
        out.push(format!(
            r#"{{"function":{{"arguments":{},"name":{}}},"id":{},"type":"function"}}"#,
            js(arguments),
            js(name),
            js(id)
        ));
    }
    Some(format!("[{}]", out.join(",")))
}

/// The choice's `logprobs`: `Some(None)` null, `Some(Some(_))` served, `None` held.
pub fn logprobs(v: &Value) -> Option<Option<Logprobs>> {
    let o = match v {
        Value::Null => return Some(None),
        Value::Object(o) => o,
        _ => return None,
    };
    let refusal_key = match o.get("refusal") {
        None => false,
        Some(Value::Null) => true,
        Some(_) => return None,
    };
    if o.len() != 1 + usize::from(refusal_key) {
        return None;
    }
    let entries = o.get("content")?.as_array()?;
    let content = entries.iter().map(|e| token(e, true)).collect::<Option<Vec<_>>>()?;
    Some(Some(Logprobs { content: format!("[{}]", content.join(",")) }))
}

/// One token's entry (with its `top_logprobs` when `with_top`), printed.
fn token(e: &Value, with_top: bool) -> Option<String> {
    let e = e.as_object()?;
    let keys: &[&str] = if with_top { &["token", "logprob", "bytes", "top_logprobs"] } else { &["token", "logprob", "bytes"] };
    if !exact_keys(e, keys) {
        return None;
    }
    let text = e["token"].as_str()?;
    let logprob = match &e["logprob"] {
        Value::Number(n) if n.is_f64() => float_repr(n.as_f64()?),
        _ => return None,
    };
    // A null `bytes` is dropped in a top entry; in a token's own entry it was not verified.
    let bytes = match &e["bytes"] {
        Value::Null if !with_top => String::new(),
        Value::Array(b) => {
            let b = b.iter().map(|x| x.as_u64().filter(|x| *x < 256).map(|x| x.to_string())).collect::<Option<Vec<_>>>()?;
            format!(r#","bytes":[{}]"#, b.join(","))
        }
        _ => return None,
    };
    let mut out = format!(r#"{{"token":{}{bytes},"logprob":{logprob}"#, js(text));
    if with_top {
        let top = e["top_logprobs"].as_array()?.iter().map(|t| token(t, false)).collect::<Option<Vec<_>>>()?;
        out += &format!(r#","top_logprobs":[{}]"#, top.join(","));
    }
    out.push('}');
    Some(out)
}

/// The choice's `finish_reason` as LiteLLM prints it, `None` for one not verified.
pub fn finish_reason<'a>(upstream: &'a str, rich: &Rich) -> Option<&'a str> {
    match upstream {
        "stop" if rich.tool_calls.is_some() => Some("tool_calls"),
        "stop" | "length" | "tool_calls" => Some(upstream),
        _ => None,
    }
}

/// LiteLLM's message object: its keys in LiteLLM's order, the null `content` and `refusal`
/// moved last (content first), as both versions print a message whose value was set to None.
pub fn render_message(format: Format, content: &str, annotations: bool, r: &Rich) -> String {
    let mut out = String::from("{");
    if !r.null_content {
        out += &format!(r#""content":{},"#, js(content));
    }
    out += r#""role":"assistant""#;
    if let Some(t) = &r.tool_calls {
        out += &format!(r#","tool_calls":{t}"#);
    }
    let refusal = r.refusal.as_deref().map_or_else(|| "null".to_string(), js);
    if format == Format::V1_83 {
        out += &format!(r#","provider_specific_fields":{{"refusal":{refusal}}}"#);
    }
    if annotations {
        out += r#","annotations":[]"#;
    }
    if format == Format::V1_110 && r.refusal.is_some() {
        out += &format!(r#","refusal":{refusal}"#);
    }
    if r.null_content {
        out += r#","content":null"#;
    }
    if format == Format::V1_110 && r.refusal.is_none() {
        out += r#","refusal":null"#;
    }
    out.push('}');
    out
}

/// The choice's keys after the message, given its `provider_specific_fields` object.
pub fn choice_tail(format: Format, r: &Rich, fields: &str) -> String {
    match (&r.logprobs, format) {
        (Some(l), _) => format!(r#","logprobs":{{"content":{}}},"provider_specific_fields":{fields}}}"#, l.content),
        (None, Format::V1_110) => format!(r#","provider_specific_fields":{fields},"logprobs":null}}"#),
        (None, Format::V1_83) => format!(r#","provider_specific_fields":{fields}}}"#),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> Option<(String, Rich)> {
        message(v.as_object().expect("object"))
    }

    fn call(id: &str, name: &str, args: &str) -> Value {
        json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
    }

    #[test]
    fn tool_calls_print_in_litellms_key_order() {
        let (content, r) = msg(json!({"role": "assistant", "content": null, "refusal": null,
            "tool_calls": [call("call_1", "get_weather", "{\"city\":\"Paris\"}"), call("call_2", "ünï", "{}")]}))
        .expect("served");
        assert!(r.null_content);
        let calls = r#"[{"function":{"arguments":"{\"city\":\"Paris\"}","name":"get_weather"},"id":"call_1","type":"function"},{"function":{"arguments":"{}","name":"ünï"},"id":"call_2","type":"function"}]"#;
        // The null content goes last (1.110.x: before the null refusal).
        assert_eq!(
            render_message(Format::V1_110, &content, true, &r),
            format!(r#"{{"role":"assistant","tool_calls":{calls},"annotations":[],"content":null,"refusal":null}}"#)
        );
        assert_eq!(
            render_message(Format::V1_83, &content, false, &r),
            format!(r#"{{"role":"assistant","tool_calls":{calls},"provider_specific_fields":{{"refusal":null}},"content":null}}"#)
        );
        let (text, r) = msg(json!({"role": "assistant", "content": "Let me check.", "refusal": null,
            "tool_calls": [call("call_1", "f", "{}")]}))
        .expect("served");
        assert!(render_message(Format::V1_110, &text, true, &r).starts_with(r#"{"content":"Let me check.","role":"assistant","tool_calls":"#));
        assert_eq!(finish_reason("stop", &r), Some("tool_calls"));
        assert_eq!(finish_reason("tool_calls", &Rich::default()), Some("tool_calls"));
        assert_eq!(finish_reason("content_filter", &r), None);
        // Held: LiteLLM rewrites or fills these.
        let held = |c: Value| msg(json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [c]})).is_none();
        assert!(held(call("c", "multi_tool_use.parallel", "{}")));
        assert!(held(json!({"type": "function", "function": {"name": "f", "arguments": "{}"}})));
        assert!(held(json!({"id": "c", "type": "custom", "custom": {"name": "f", "input": "x"}})));
        assert!(held(json!({"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}})));
        assert!(held(json!({"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}, "index": 0})));
        assert!(msg(json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": []})).is_none());
        assert!(msg(json!({"role": "assistant", "content": null, "refusal": null})).is_none());
    }

    #[test]
    fn refusals() {
        let (content, r) = msg(json!({"role": "assistant", "content": null, "refusal": "No \"way\"."})).expect("served");
        assert_eq!(
            render_message(Format::V1_110, &content, true, &r),
            r#"{"role":"assistant","annotations":[],"refusal":"No \"way\".","content":null}"#
        );
        assert_eq!(
            render_message(Format::V1_83, &content, true, &r),
            r#"{"role":"assistant","provider_specific_fields":{"refusal":"No \"way\"."},"annotations":[],"content":null}"#
        );
        let (c, plain) = msg(json!({"role": "assistant", "content": "hi", "refusal": null})).expect("served");
        assert!(plain.is_plain());
        assert_eq!(render_message(Format::V1_110, &c, true, &plain), r#"{"content":"hi","role":"assistant","annotations":[],"refusal":null}"#);
        assert_eq!(
            render_message(Format::V1_83, &c, true, &plain),
            r#"{"content":"hi","role":"assistant","provider_specific_fields":{"refusal":null},"annotations":[]}"#
        );
        assert!(msg(json!({"role": "assistant", "content": "hi", "refusal": 1})).is_none());
        assert!(msg(json!({"role": "assistant", "content": "hi", "refusal": "no"})).is_none());
        assert!(msg(json!({"role": "assistant", "content": null, "refusal": "no", "tool_calls": [call("c", "f", "{}")]})).is_none());
    }

    #[test]
    fn logprobs_print_as_python_does() {
        let lp = json!({"content": [
            {"token": "Hé", "logprob": -0.31725305, "bytes": [72, 195, 169],
             "top_logprobs": [{"token": "Hé", "logprob": -0.31725305, "bytes": [72, 195, 169]},
                              {"token": "x", "logprob": -1.2e-05, "bytes": null}]},
            {"token": "!", "logprob": -0.0, "bytes": [33], "top_logprobs": []}], "refusal": null});
        let l = logprobs(&lp).expect("served").expect("present");
        let r = Rich { logprobs: Some(l), ..Rich::default() };
        let content = r#"[{"token":"Hé","bytes":[72,195,169],"logprob":-0.31725305,"top_logprobs":[{"token":"Hé","bytes":[72,195,169],"logprob":-0.31725305},{"token":"x","logprob":-1.2e-05}]},{"token":"!","bytes":[33],"logprob":-0.0,"top_logprobs":[]}]"#;
        for format in [Format::V1_110, Format::V1_83] {
            assert_eq!(choice_tail(format, &r, "{}"), format!(r#","logprobs":{{"content":{content}}},"provider_specific_fields":{{}}}}"#));
        }
        assert_eq!(choice_tail(Format::V1_110, &Rich::default(), "{}"), r#","provider_specific_fields":{},"logprobs":null}"#);
        assert!(logprobs(&json!({"content": []})).unwrap().is_some());
        assert_eq!(logprobs(&Value::Null), Some(None));
        // Held: an integer logprob, a byte out of range, a token's own null bytes, a refusal
        // list, another key.
        let entry = |lp: Value, bytes: Value| json!({"content": [{"token": "a", "logprob": lp, "bytes": bytes, "top_logprobs": []}]});
        assert!(logprobs(&entry(json!(-1), json!([97]))).is_none());
        assert!(logprobs(&entry(json!(-1.5), json!([256]))).is_none());
        assert!(logprobs(&entry(json!(-1.5), Value::Null)).is_none());
        assert!(logprobs(&entry(json!(-1.5), json!([97]))).is_some());
        assert!(logprobs(&json!({"content": [], "refusal": []})).is_none());
        assert!(logprobs(&json!({"content": [], "extra": null})).is_none());
        assert!(logprobs(&json!({"content": null})).is_none());
    }
}
