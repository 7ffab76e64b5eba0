//! The proxy fast lane.
//!
//! A Rust HTTP front sits on the public port; LiteLLM's Python proxy runs behind it
//! on an internal address. The front answers a request itself only when the request,
//! the configuration and the upstream's answer all fall inside a narrow envelope
//! whose output was verified, byte for byte, against the stock proxy (see
//! `tests/test_fast_lane.py`). Everything else goes to the Python proxy unchanged:
//! method, path, query, headers and a streamed body, with its response streamed back.
//!
//! When a non-streaming upstream answer falls outside the envelope (an error status, an
//! unknown field, a different model name, a timeout), the Python proxy builds the client's
//! answer from the upstream answer the front holds, without a second upstream call
//! (`held.rs`, counted in `Stats::held`). A stream that leaves the envelope before its first
//! byte went out is sent again through the Python proxy (one more upstream call, counted in
//! `Stats::replayed`).

mod answer_shapes;
mod anthropic;
mod anthropic_stream;
mod compat_providers;
mod claude_chat;
mod conn;
mod embeddings;
mod forwarded;
pub mod logq;
pub mod orjson_fmt;
pub mod pyfmt;
mod pyjson;
mod held;
mod openai_extras;
mod provider_streams;
mod providers;
mod responses;
mod responses_stream;
mod router;
mod server_shapes;
mod sse;
mod stream;
mod upstream_tls;
mod upstream_headers;
mod wire;
// The front itself, one file per concern.
mod chat;
mod config;
mod dispatch;
mod front;
mod guard;
mod log_record;
mod passthrough;
mod route;
mod stats;
mod streaming;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::Response;

pub use config::{Config, Deployment};
pub use conn::Limits;
pub use front::{current_stats, run, serve_blocking, stop_current};
pub use stats::{Stats, STATS_PATH};
pub use wire::Format;
pub(crate) use front::Front;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Body = BoxBody<Bytes, BoxError>;

/// The largest upstream answer the front reads itself; bigger ones are replayed.
pub(crate) const MAX_UPSTREAM_BODY: usize = 8 << 20;

pub const LANE_HEADER: &str = "x-fast-litellm-lane";

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub(crate) fn boxed_incoming(b: Incoming) -> Body {
    b.map_err(|e| -> BoxError { Box::new(e) }).boxed()
}

/// Append LiteLLM's headers; `None` if one is not a valid header (then the request is replayed).
pub(crate) fn append_headers(h: &mut HeaderMap, headers: impl IntoIterator<Item = (String, String)>) -> Option<()> {
    for (name, value) in headers {
        let n = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let v = HeaderValue::from_str(&value).ok()?;
        h.append(n, v);
    }
    Some(())
}

pub(crate) fn lane(resp: &mut Response<Body>, which: &'static str) {
    resp.headers_mut().insert(LANE_HEADER, HeaderValue::from_static(which));
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn unix_now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
