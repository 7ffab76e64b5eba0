//! A stream served in Rust: the upstream's head and first event(s) checked before anything
//! goes to the client, then the client-facing body that re-emits the upstream's events
//! one by one (cut when one leaves the verified shape).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::log_record::{log_value, LogInput};
use crate::route::Received;
use crate::stats::Stats;
use crate::{
    anthropic_stream, append_headers, lane, responses_stream, stream, unix_now_f64, upstream_tls, wire, Body, BoxError,
    Deployment, Front, MAX_UPSTREAM_BODY,
};

/// Who asked for a stream served in Rust, and what LiteLLM would have called upstream.
pub(crate) struct StreamOrigin<'a> {
    pub(crate) client: Received<'a>,
    pub(crate) group: &'a str,
    pub(crate) deployment: &'a Deployment,
    pub(crate) upstream_path: &'static str,
    pub(crate) started_unix: f64,
}

/// What `open_stream` hands back: upstream ms to the head, the head, the rest of the body,
/// the stream state, the output so far, the raw bytes read (with logging), and whether
/// the upstream body already ended.
pub(crate) type OpenedStream = (f64, hyper::http::response::Parts, Incoming, SseState, Vec<u8>, Vec<u8>, bool);

/// The verified stream shapes the front re-emits.
pub(crate) enum SseState {
    Chat(stream::StreamState),
    Responses(responses_stream::RespStreamState),
    Anthropic(anthropic_stream::MsgStreamState),
}

impl SseState {
    pub(crate) fn started(&self) -> bool {
        match self {
            SseState::Chat(s) => s.started(),
            SseState::Responses(s) => s.started(),
            SseState::Anthropic(s) => s.started(),
        }
    }
    pub(crate) fn feed(&mut self, data: &[u8]) -> Result<Vec<u8>, stream::Reject> {
        match self {
            SseState::Chat(s) => s.feed(data),
            SseState::Responses(s) => s.feed(data),
            SseState::Anthropic(s) => s.feed(data),
        }
    }
    pub(crate) fn end(&self) -> Result<(), stream::Reject> {
        match self {
            SseState::Chat(s) => s.end(),
            SseState::Responses(s) => s.end(),
            SseState::Anthropic(s) => s.end(),
        }
    }
}

#[derive(Debug)]
struct StreamCut(&'static str);

impl std::fmt::Display for StreamCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fast-litellm: upstream stream left the verified shape: {}", self.0)
    }
}

impl std::error::Error for StreamCut {}

/// The client-facing body of a stream served in Rust: the first event(s) already
/// checked, then the upstream's events re-emitted one by one as they arrive.
struct SseBody {
    prefix: Option<Bytes>,
    upstream: Incoming,
    state: SseState,
    ended: bool,
    front: Arc<Front>,
    deployment: String,
    group: String,
    /// LiteLLM's timeout (router settings): a read that waits longer cuts the stream.
    timeout: Option<std::time::Duration>,
    stall: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// With callbacks: the record so far and the upstream's raw SSE bytes.
    log: Option<(serde_json::Value, Vec<u8>)>,
}

impl SseBody {
    /// The stream ended in shape: queue its record for LiteLLM's success logging.
    fn finish_log(&mut self) {
        let Some((mut v, raw)) = self.log.take() else { return };
        let Some(q) = &self.front.log else { return };
        v["response"] = serde_json::Value::String(String::from_utf8_lossy(&raw).into_owned());
        v["end"] = serde_json::json!(unix_now_f64());
        q.push(v.to_string());
    }

    fn cut(&mut self, why: &'static str) -> BoxError {
        self.fail(why);
        Box::new(StreamCut(why))
    }

    /// The bookkeeping of a stream that ended early (counted, the deployment struck).
    fn fail(&mut self, why: &'static str) {
        self.ended = true;
        self.log = None;
        self.front.stats.aborted.fetch_add(1, Ordering::Relaxed);
        Stats::count(&self.front.stats.aborted_by_reason, why);
        if let Some(g) = self.front.guards.get(&self.deployment) {
            g.strike();
        }
        // An upstream that failed mid-stream may count against the deployment in LiteLLM's
        // router too: keep the group and its fallbacks on LiteLLM for the cooldown window.
        if matches!(why, "upstream read timeout" | "upstream body error") {
            if let Some(r) = &self.front.router {
                r.failed(&self.group, 0);
            }
        }
    }
}

impl hyper::body::Body for SseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        use std::future::Future;
        use std::task::Poll;
        let this = &mut *self;
        if let Some(p) = this.prefix.take() {
            if !p.is_empty() {
                return Poll::Ready(Some(Ok(hyper::body::Frame::data(p))));
            }
        }
        loop {
            if this.ended {
                this.finish_log();
                return Poll::Ready(None);
            }
            match std::pin::Pin::new(&mut this.upstream).poll_frame(cx) {
                Poll::Pending => {
                    if let Some(t) = this.timeout {
                        let sleep = this.stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(t)));
                        if sleep.as_mut().poll(cx).is_ready() {
                            // A chat stream ends as LiteLLM ends it on its read timeout: its
                            // error event (and `[DONE]` on 1.110.x); other streams are cut.
                            if let SseState::Chat(chat) = &this.state {
                                let event = chat.read_timeout_event();
                                this.fail("upstream read timeout");
                                return Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from_static(event)))));
                            }
                            return Poll::Ready(Some(Err(this.cut("upstream read timeout"))));
                        }
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(frame))) => {
                    this.stall = None;
                    let Some(data) = frame.data_ref() else { continue };
                    if let Some((_, raw)) = &mut this.log {
                        if raw.len() + data.len() > MAX_UPSTREAM_BODY {
                            // Too big to record: the request is served, its record dropped and counted.
                            this.log = None;
                            if let Some(q) = &this.front.log {
                                q.stats.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        } else {
                            raw.extend_from_slice(data);
                        }
                    }
                    match this.state.feed(data) {
                        Ok(out) if out.is_empty() => continue,
                        Ok(out) => return Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from(out))))),
                        Err(why) => return Poll::Ready(Some(Err(this.cut(why)))),
                    }
                }
                Poll::Ready(Some(Err(_))) => return Poll::Ready(Some(Err(this.cut("upstream body error")))),
                Poll::Ready(None) => {
                    if let Err(why) = this.state.end() {
                        return Poll::Ready(Some(Err(this.cut(why))));
                    }
                    this.ended = true;
                    this.finish_log();
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl Front {
    /// The client-facing response of a stream served in Rust: LiteLLM's head, then the
    /// events already accepted, then the rest as they come. With callbacks the log record
    /// is completed (the upstream's whole SSE body) and queued once the stream ended in
    /// shape; a cut stream leaves none (counted in `aborted`).
    pub(crate) fn stream_response(
        self: &Arc<Self>,
        o: StreamOrigin<'_>,
        headers: Vec<(String, String)>,
        opened: (hyper::http::response::Parts, Incoming, SseState, Vec<u8>, Vec<u8>, bool),
        logging: bool,
    ) -> Option<Response<Body>> {
        let (parts, body, state, prefix, raw, ended) = opened;
        let first_event_unix = unix_now_f64();
        let log = if logging {
            let call_id = headers.iter().find(|(k, _)| k == "x-litellm-call-id").map(|(_, v)| v.clone()).unwrap_or_default();
            let (head, request_body, peer) = o.client;
            let mut v = log_value(LogInput {
                head,
                request_body,
                peer,
                group: o.group,
                deployment: o.deployment,
                upstream_path: o.upstream_path,
                call_id: &call_id,
                upstream_status: parts.status.as_u16(),
                upstream_headers: &parts.headers,
                upstream_body: b"",
                pin: self.cfg.groups.get(o.group).map_or(false, |g| g.len() > 1),
                start: o.started_unix,
                // For a stream: when its first event arrived (the replay waits that long).
                upstream_done: first_event_unix,
                end: first_event_unix,
            });
            v["stream"] = serde_json::Value::Bool(true);
            Some((v, raw))
        } else {
            None
        };
        let sse = SseBody {
            prefix: Some(Bytes::from(prefix)),
            upstream: body,
            state,
            ended,
            front: self.clone(),
            deployment: o.deployment.id.clone(),
            group: o.group.to_string(),
            timeout: self.router.as_ref().map(|r| r.timeout()),
            stall: None,
            log,
        };
        let mut out = Response::new(BodyExt::boxed(sse));
        append_headers(out.headers_mut(), headers)?;
        lane(&mut out, "rust");
        Some(out)
    }

    /// Send a streaming request upstream and read until the state accepted its first
    /// event(s) (until then nothing went to the client, so a surprise still means a
    /// replay). With router settings LiteLLM's timeout bounds this wait. The head's time is
    /// counted from `started`. `Err((failed, why))`: `failed` when the upstream errored or
    /// timed out, not merely out of shape.
    pub(crate) async fn open_stream(
        &self,
        d: &Deployment,
        up: Result<Request<Body>, &'static str>,
        mut state: SseState,
        logging: bool,
        started: Instant,
    ) -> Result<OpenedStream, (bool, &'static str)> {
        let first = async {
            let resp = match self.send_upstream(d, up.map_err(|why| (false, why))?).await {
                Ok(r) => r,
                Err(upstream_tls::SendError::NotConnected) if d.tls.is_some() => {
                    return Err((true, "upstream tls connection failed"))
                }
                Err(_) => return Err((true, "upstream request failed")),
            };
            if resp.status() != StatusCode::OK {
                return Err((true, "upstream status"));
            }
            if let Err(why) = wire::stream_head_check(resp.headers()) {
                return Err((false, why));
            }
            let upstream_ms = started.elapsed().as_secs_f64() * 1000.0;
            let (parts, mut body) = resp.into_parts();
            let mut prefix = Vec::new();
            let mut raw = Vec::new();
            let mut ended = false;
            while !state.started() {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            if logging {
                                raw.extend_from_slice(data);
                            }
                            match state.feed(data) {
                                Ok(out) => prefix.extend(out),
                                Err(why) => return Err((false, why)),
                            }
                        }
                    }
                    Some(Err(_)) => return Err((true, "upstream body error")),
                    None => {
                        if let Err(why) = state.end() {
                            return Err((false, why));
                        }
                        ended = true;
                        break;
                    }
                }
            }
            Ok((upstream_ms, parts, body, state, prefix, raw, ended))
        };
        match self.router.as_ref().map(|r| r.timeout()) {
            Some(t) => match tokio::time::timeout(t, first).await {
                Ok(x) => x,
                Err(_) => Err((true, "upstream timeout")),
            },
            None => first.await,
        }
    }
}
