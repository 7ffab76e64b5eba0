//! The front's request counters and the route that reads them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hyper::header::HeaderValue;
use hyper::Response;

use crate::{full, lane, logq, Body, Front};

/// The front's own counters (master key only): `GET /_fast_litellm/stats`.
pub const STATS_PATH: &str = "/_fast_litellm/stats";

/// Request counters, readable while the front runs.
#[derive(Default, Debug)]
pub struct Stats {
    pub served: AtomicU64,
    pub passed: AtomicU64,
    pub replayed: AtomicU64,
    /// Answers LiteLLM built from the upstream answer the front held (no second upstream call).
    pub held: AtomicU64,
    pub backend_errors: AtomicU64,
    /// Streams served in Rust that left the verified shape after bytes were sent (cut short).
    pub aborted: AtomicU64,
    /// `aborted`, by reason (the event that left the verified shape).
    pub aborted_by_reason: Mutex<HashMap<&'static str, u64>>,
    /// Streams that left the verified shape before any byte went out, replayed through LiteLLM, by reason.
    pub stream_replayed_by_reason: Mutex<HashMap<&'static str, u64>>,
}

impl Stats {
    pub(crate) fn count(map: &Mutex<HashMap<&'static str, u64>>, why: &'static str) {
        if let Ok(mut m) = map.lock() {
            *m.entry(why).or_insert(0) += 1;
        }
    }

    pub(crate) fn reasons(map: &Mutex<HashMap<&'static str, u64>>) -> serde_json::Value {
        let m = map.lock().map(|m| m.clone()).unwrap_or_default();
        serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v.into())).collect())
    }
}

impl Front {
    /// The counters as JSON (`STATS_PATH`; the caller checked the master key).
    pub(crate) fn stats_response(&self) -> Response<Body> {
        let (queued, dropped, drained) = logq::stats();
        let s = &self.stats;
        let body = serde_json::json!({
            "served": s.served.load(Ordering::Relaxed),
            "passed": s.passed.load(Ordering::Relaxed),
            "replayed": s.replayed.load(Ordering::Relaxed),
            "held": s.held.load(Ordering::Relaxed),
            "backend_errors": s.backend_errors.load(Ordering::Relaxed),
            "aborted": s.aborted.load(Ordering::Relaxed),
            "aborted_by_reason": Stats::reasons(&s.aborted_by_reason),
            "stream_replayed_by_reason": Stats::reasons(&s.stream_replayed_by_reason),
            "log_queue": self.cfg.log_queue,
            "log_queued": queued,
            "log_dropped": dropped,
            "log_drained": drained,
        });
        let mut r = Response::new(full(body.to_string()));
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        lane(&mut r, "rust");
        r
    }
}
