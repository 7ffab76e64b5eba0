//! One upstream call per client request: LiteLLM builds its answer from the upstream
//! answer the front already holds.
//!
//! When the front called the upstream but cannot reproduce LiteLLM's answer to what came
//! back (a shape outside the envelope, an error status, a timeout or a failed connection),
//! it does not send the request again. It forwards the client's request to LiteLLM's
//! proxy together with what the upstream did, and LiteLLM's upstream call gets that
//! instead of going to the network (`python/fast_litellm/fastlane/held.py`): the client
//! gets exactly LiteLLM's answer to that upstream answer, and the upstream saw one call
//! (any retry LiteLLM then makes goes to the network, as stock's does).
//!
//! On the wire to the proxy: header `x-fast-litellm-held: <launch secret>` (stripped from
//! every client request, so only the front can set it); body = one line of JSON (the
//! head), the client's body, the upstream's body (`request_len` splits them).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::header::{HeaderName, HeaderValue};
use hyper::http::response::Parts;
use hyper::{Request, Response};

use crate::upstream_tls::SendError;
use crate::log_record::header_pairs;
use crate::{full, Body, Deployment, Front, MAX_UPSTREAM_BODY};

pub const HELD_HEADER: &str = "x-fast-litellm-held";

/// What one upstream call came to.
pub(crate) enum Outcome {
    /// An answer, any status, body read in full.
    Answer(Parts, Bytes),
    /// No answer: `"timeout"` (no answer within LiteLLM's timeout) or `"connect"` (the
    /// connection failed or broke); LiteLLM's HTTP client is given the same kind of error.
    Error(&'static str),
    /// An answer too big to hold (`MAX_UPSTREAM_BODY`): nothing exact to hand over.
    Lost,
    /// An `https://` upstream the front could not connect to (TCP or TLS handshake): nothing
    /// reached it, so LiteLLM connects itself and answers its own way (its own TLS error).
    NotConnected,
}

/// What a Rust attempt at a request came to.
pub(crate) enum Attempt {
    Served(Response<Body>),
    /// LiteLLM builds the answer from the held upstream answer.
    Held(Held),
    /// Nothing held: the request goes to LiteLLM as received (a second upstream call if the
    /// first one reached it). `failed`: the upstream errored or timed out.
    Replay { failed: bool },
}

/// The upstream answer (or error) of the front's one call, and where it went.
pub(crate) struct Held {
    answer: Result<(Parts, Bytes), &'static str>,
    deployment: Deployment,
    upstream_path: &'static str,
    /// The group has several deployments: LiteLLM's router must pick this one again.
    pin: bool,
}

impl Held {
    pub(crate) fn new(outcome: Outcome, deployment: &Deployment, upstream_path: &'static str, pin: bool) -> Attempt {
        let answer = match outcome {
            Outcome::Answer(parts, body) => Ok((parts, body)),
            Outcome::Error(kind) => Err(kind),
            Outcome::Lost | Outcome::NotConnected => return Attempt::Replay { failed: true },
        };
        Attempt::Held(Held { answer, deployment: deployment.clone(), upstream_path, pin })
    }

    /// An error status or no answer: LiteLLM's router is about to count a failure.
    pub(crate) fn failed(&self) -> bool {
        match &self.answer {
            Ok((parts, _)) => !parts.status.is_success(),
            Err(_) => true,
        }
    }

    /// The body the proxy receives: head line, client body, upstream body.
    fn wire_body(&self, client_body: &[u8]) -> Vec<u8> {
        let d = &self.deployment;
        let (status, headers, upstream): (u16, Vec<(String, String)>, &[u8]) = match &self.answer {
            Ok((parts, body)) => (parts.status.as_u16(), header_pairs(&parts.headers), body),
            Err(_) => (0, Vec::new(), b""),
        };
        let head = serde_json::json!({
            "v": 1,
            "request_len": client_body.len(),
            "status": status,
            "response_headers": headers,
            "error": self.answer.as_ref().err(),
            "upstream_url": crate::providers::upstream_url(d, self.upstream_path),
            "api_base": d.api_base,
            "model_id": d.id,
            "pin": self.pin,
        });
        let mut out = serde_json::to_vec(&head).expect("json values serialize");
        out.reserve(1 + client_body.len() + upstream.len());
        out.push(b'\n');
        out.extend_from_slice(client_body);
        out.extend_from_slice(upstream);
        out
    }
}

impl Front {
    /// Call the upstream once and read its whole answer, within LiteLLM's timeout when
    /// router settings give one.
    pub(crate) async fn call_upstream(&self, d: &Deployment, up: Request<Body>, timeout: Option<Duration>) -> Outcome {
        let call = async {
            let resp = match self.send_upstream(d, up).await {
                Ok(r) => r,
                Err(SendError::NotConnected) if d.tls.is_some() => return Outcome::NotConnected,
                Err(_) => return Outcome::Error("connect"),
            };
            let (parts, body) = resp.into_parts();
            match Limited::new(body, MAX_UPSTREAM_BODY).collect().await {
                Ok(c) => Outcome::Answer(parts, c.to_bytes()),
                Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Outcome::Lost,
                Err(_) => Outcome::Error("connect"),
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, call).await.unwrap_or(Outcome::Error("timeout")),
            None => call.await,
        }
    }

    /// Hand the client's request and the held upstream answer to LiteLLM's proxy.
    pub(crate) async fn pass_held(&self, mut head: hyper::http::request::Parts, client_body: Bytes, held: Held) -> Response<Body> {
        self.stats.held.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = held.wire_body(&client_body);
        let h = &mut head.headers;
        h.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        match (HeaderName::from_bytes(HELD_HEADER.as_bytes()), HeaderValue::from_str(self.cfg.secret.as_deref().unwrap_or(""))) {
            (Ok(n), Ok(v)) => {
                h.insert(n, v);
            }
            _ => return self.forward(Request::from_parts(head, full(client_body))).await,
        }
        self.forward(Request::from_parts(head, full(body))).await
    }
}
