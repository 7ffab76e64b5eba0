//! The record a request served in Rust leaves on the logging queue (`logq.rs`), from which
//! the Python side runs LiteLLM's success logging.

use std::net::SocketAddr;

use hyper::header::HeaderMap;

use crate::{providers, Deployment};

pub(crate) struct LogInput<'a> {
    pub(crate) head: &'a hyper::http::request::Parts,
    pub(crate) request_body: &'a [u8],
    pub(crate) peer: SocketAddr,
    /// The model group the client named, the deployment that answered, and the upstream
    /// path LiteLLM calls (`/chat/completions`, `/responses`).
    pub(crate) group: &'a str,
    pub(crate) deployment: &'a Deployment,
    pub(crate) upstream_path: &'a str,
    pub(crate) call_id: &'a str,
    pub(crate) upstream_status: u16,
    pub(crate) upstream_headers: &'a HeaderMap,
    pub(crate) upstream_body: &'a [u8],
    /// The group has several deployments: the replay must pick the one the front picked.
    pub(crate) pin: bool,
    pub(crate) start: f64,
    pub(crate) upstream_done: f64,
    pub(crate) end: f64,
}

pub(crate) fn header_pairs(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect()
}

/// One queue record: what the Python side needs to run the request's success logging
/// (the client's request as received, the upstream's answer as received, times).
pub(crate) fn log_record(x: LogInput<'_>) -> String {
    log_value(x).to_string()
}

pub(crate) fn log_value(x: LogInput<'_>) -> serde_json::Value {
    let d = x.deployment;
    serde_json::json!({
        "v": 1,
        "lane": "rust",
        "method": x.head.method.as_str(),
        "path": x.head.uri.path(),
        "headers": header_pairs(&x.head.headers),
        "peer": [x.peer.ip().to_string(), x.peer.port()],
        "request": String::from_utf8_lossy(x.request_body),
        "call_id": x.call_id,
        "model_group": x.group,
        "model_id": d.id,
        "pin": x.pin,
        "model": d.model,
        "api_base": d.api_base,
        "upstream_url": providers::upstream_url(d, x.upstream_path),
        "status": x.upstream_status,
        "response_headers": header_pairs(x.upstream_headers),
        "response": String::from_utf8_lossy(x.upstream_body),
        "start": x.start,
        "upstream_done": x.upstream_done,
        "end": x.end,
        "stream": false,
    })
}
