//! The upstream's response headers as LiteLLM's proxy passes them on.
//!
//! LiteLLM forwards every upstream header as `llm_provider-<name>` (upstream order) and, before
//! them, OpenAI's four rate-limit headers under their own names (`x-ratelimit-limit-requests`,
//! `-remaining-requests`, `-limit-tokens`, `-remaining-tokens`, in that order; the `reset` ones
//! only prefixed). 1.110.x adds the provider's request id after them: `llm_provider-request-id`
//! and `request-id` (from `x-request-id`). Observed on both verified versions and re-checked by
//! `tests/test_fast_lane_answers.py` (OpenAI's headers).
//!
//! A repeated header (Cloudflare's two `set-cookie`s) is one, its values joined by `", "`, as
//! LiteLLM's HTTP client (httpx) hands it over. Names LiteLLM treats specially (its own
//! `x-litellm-*`, `llm_provider*`, a `request-id` of the upstream's own) and values that are
//! not visible ASCII are not reproduced: such an answer goes to LiteLLM.

use hyper::HeaderMap;

use crate::wire::Format;

/// OpenAI's rate-limit headers LiteLLM also returns under their own names, in its order.
const OPENAI_UNPREFIXED: &[&str] = &[
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
];

/// Every upstream header is one whose handling the front reproduces.
pub fn accepted(headers: &HeaderMap) -> bool {
    for name in headers.keys() {
        let n = name.as_str();
        if n.contains("llm_provider") || n.starts_with("x-litellm") || n == "request-id" {
            return false;
        }
        if !headers.get_all(name).iter().all(|v| v.as_bytes().iter().all(|b| (0x20..0x7f).contains(b))) {
            return false;
        }
    }
    true
}

/// The headers LiteLLM derives from `headers` (already `accepted`), in its order.
pub fn litellm_view(format: Format, headers: &HeaderMap) -> Vec<(String, String)> {
    // httpx's view of a header: every value of the name, joined.
    let text = |n: &str| -> Option<String> {
        let values: Vec<&str> = headers.get_all(n).iter().map(|v| v.to_str().unwrap_or("")).collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let mut out: Vec<(String, String)> =
        OPENAI_UNPREFIXED.iter().filter_map(|n| text(n).map(|v| (n.to_string(), v))).collect();
    out.extend(headers.keys().map(|n| (format!("llm_provider-{}", n.as_str()), text(n.as_str()).unwrap_or_default())));
    if format == Format::V1_110 {
        if let Some(id) = text("x-request-id").filter(|v| !v.is_empty()) {
            out.push(("llm_provider-request-id".into(), id.clone()));
            out.push(("request-id".into(), id));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn openai_headers_in_litellm_order() {
        let h = map(&[("x-request-id", "req_1"), ("x-ratelimit-remaining-requests", "9"), ("x-ratelimit-limit-requests", "10"),
            ("x-ratelimit-reset-requests", "6ms"), ("content-type", "application/json")]);
        assert!(accepted(&h));
        let names: Vec<String> = litellm_view(Format::V1_110, &h).into_iter().map(|x| x.0).collect();
        assert_eq!(names, ["x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "llm_provider-x-request-id",
            "llm_provider-x-ratelimit-remaining-requests", "llm_provider-x-ratelimit-limit-requests",
            "llm_provider-x-ratelimit-reset-requests", "llm_provider-content-type", "llm_provider-request-id", "request-id"]);
        assert_eq!(litellm_view(Format::V1_83, &h).len(), 7);
        let cookies = map(&[("set-cookie", "a=1"), ("date", "d"), ("set-cookie", "b=2")]);
        assert!(accepted(&cookies));
        assert_eq!(litellm_view(Format::V1_83, &cookies)[0], ("llm_provider-set-cookie".to_string(), "a=1, b=2".to_string()));
        assert!(!accepted(&map(&[("request-id", "r")])));
    }
}
