//! Where a client's request goes: the front's stats, LiteLLM's own 404 for an internal
//! path or a target not in origin form, a route the front may serve (after cheap checks on
//! the head), or LiteLLM unchanged.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Method, Request, Response, StatusCode, Uri};

use crate::stats::STATS_PATH;
use crate::{anthropic, boxed_incoming, chat, claude_chat, embeddings, forwarded, full, lane, responses, Body, Front};

/// The largest request body the front buffers to decide; bigger ones stream to Python.
const MAX_DECIDE_BODY: u64 = 1 << 20;
/// Where a request the front must not forward as sent goes instead (an internal path,
/// a target not in origin form): a path of no route, so LiteLLM gives its own 404.
const NOT_FOUND_PATH: &str = "/_fast_litellm/not-found";

/// Request headers a fast-lane request may carry; any other header sends it to Python
/// (LiteLLM reads many client headers: `x-litellm-*`, provider keys, tags, timeouts...).
fn allowed_request_header(name: &str) -> bool {
    matches!(
        name,
        "host" | "authorization" | "content-type" | "content-length" | "accept" | "accept-encoding"
            | "user-agent" | "connection"
    ) || name.starts_with("x-stainless-")
}

impl Front {
    /// One client request, from its head to the response.
    pub(crate) async fn handle(self: Arc<Self>, mut req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        // Kept with the request until `pass` tells the Python proxy who the client is.
        req.extensions_mut().insert(forwarded::Peer(peer));
        let internal = forwarded::internal(req.uri().path());
        if internal || !forwarded::origin_form(req.uri()) {
            if req.method() == Method::GET && req.uri().path() == STATS_PATH && self.is_master(req.headers()) {
                return self.stats_response();
            }
            // Stock has no route for either: LiteLLM answers its own 404 for a path of no route.
            let (mut parts, body) = req.into_parts();
            parts.uri = Uri::from_static(NOT_FOUND_PATH);
            return self.pass(Request::from_parts(parts, boxed_incoming(body))).await;
        }
        if self.cfg.format.is_some() && self.candidate(&req) {
            let (parts, body) = req.into_parts();
            let bytes = match Limited::new(body, MAX_DECIDE_BODY as usize).collect().await {
                Ok(c) => c.to_bytes(),
                Err(_) => {
                    // The client's body failed mid-way: nothing sane to forward.
                    let mut r = Response::new(full(Bytes::new()));
                    *r.status_mut() = StatusCode::BAD_REQUEST;
                    lane(&mut r, "rust");
                    return r;
                }
            };
            if matches!(parts.uri.path(), "/v1/responses" | "/responses") {
                return self.drive::<responses::Responses>(parts, bytes, peer).await;
            }
            if matches!(parts.uri.path(), "/v1/embeddings" | "/embeddings") {
                return self.drive::<embeddings::Embeddings>(parts, bytes, peer).await;
            }
            if parts.uri.path() == anthropic::PATH {
                return self.drive::<anthropic::Messages>(parts, bytes, peer).await;
            }
            if claude_chat::names_claude_group(&self, &bytes) {
                return self.drive::<claude_chat::ClaudeChat>(parts, bytes, peer).await;
            }
            return self.drive::<chat::Chat>(parts, bytes, peer).await;
        }
        if req.headers().contains_key(hyper::header::UPGRADE) {
            return self.pass_upgrade(req).await;
        }
        let master_post = req.method() == Method::POST && self.is_master(req.headers());
        let (parts, body) = req.into_parts();
        let resp = self.pass(Request::from_parts(parts, boxed_incoming(body))).await;
        self.note_python_answer(&resp, master_post, None, false);
        resp
    }

    /// `Authorization: Bearer <master key>`, exactly once.
    fn is_master(&self, h: &HeaderMap) -> bool {
        let Some(key) = self.cfg.master_key.as_deref() else { return false };
        let mut auth = h.get_all(hyper::header::AUTHORIZATION).iter();
        match (auth.next(), auth.next()) {
            (Some(v), None) => {
                let v = v.as_bytes();
                v.len() == key.len() + 7 && &v[..7] == b"Bearer " && &v[7..] == key.as_bytes()
            }
            _ => false,
        }
    }

    /// Cheap checks on the head of the request.
    fn candidate(&self, req: &Request<Incoming>) -> bool {
        if req.method() != Method::POST {
            return false;
        }
        let path = req.uri().path();
        let messages = path == anthropic::PATH;
        if !messages && !matches!(path, "/v1/chat/completions" | "/chat/completions" | "/v1/responses" | "/responses" | "/v1/embeddings" | "/embeddings") {
            return false;
        }
        if req.uri().query().is_some() || req.headers().contains_key(hyper::header::UPGRADE) {
            return false;
        }
        let h = req.headers();
        for (name, value) in h.iter() {
            if !allowed_request_header(name.as_str()) && !(messages && anthropic::allowed_header(name.as_str(), value)) {
                return false;
            }
        }
        let master = if messages {
            let key = self.cfg.master_key.as_deref().unwrap_or("");
            !key.is_empty() && anthropic::is_master(h, key, self.is_master(h))
        } else {
            self.is_master(h)
        };
        if !master {
            return false;
        }
        let mut ct = h.get_all(hyper::header::CONTENT_TYPE).iter();
        match (ct.next(), ct.next()) {
            (Some(v), None) if v.as_bytes() == b"application/json" => {}
            _ => return false,
        }
        if h.get_all(hyper::header::CONTENT_LENGTH).iter().count() != 1 {
            return false;
        }
        match h.get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()) {
            Some(n) if n <= MAX_DECIDE_BODY => {}
            _ => return false,
        }
        true
    }
}
