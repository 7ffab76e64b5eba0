//! `POST /v1/chat/completions` (and `/chat/completions`): the route the front was built
//! for. The request envelope, the upstream call and LiteLLM's answer are in `wire.rs`
//! (`providers.rs` for the other providers), the stream's events in `stream.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode, Uri};

use crate::held::{self, Attempt, Held};
use crate::log_record::{log_record, LogInput};
use crate::route::{Received, Route};
use crate::stats::Stats;
use crate::streaming::{SseState, StreamOrigin};
use crate::wire::{self, Format};
use crate::{answer_shapes, append_headers, full, lane, provider_streams, providers, server_shapes, stream, unix_now_f64, Body, Deployment, Front};

/// The chat-completions POST LiteLLM would send `plan`'s deployment.
fn upstream_request(format: Format, plan: &wire::Plan) -> Option<Request<Body>> {
    let d = &plan.deployment;
    let uri: Uri = providers::upstream_url(d, "/chat/completions").parse().ok()?;
    let mut b = Request::builder().method(Method::POST).uri(uri);
    for (name, value) in providers::request_headers(format, d) {
        b = b.header(name, value);
    }
    let body = match d.provider {
        _ if d.provider.openai_request() => wire::upstream_body(format, &plan.req, &d.upstream_model),
        _ if plan.req.streaming() => provider_streams::request_body(format, d, &plan.req),
        _ => providers::request_body(format, d, &plan.req.messages),
    };
    b.body(full(body)).ok()
}

/// An answer in OpenAI's plain shape with Azure's content-filter results (LiteLLM prints
/// them alike for `azure/` and `openai/` deployments).
fn azure_shaped(bytes: &[u8], headers: &hyper::HeaderMap, d: &Deployment) -> Option<wire::Answer> {
    let (rest, filters) = providers::split_azure(bytes)?;
    let mut a = wire::parse_upstream(&rest, headers, &d.upstream_model)?;
    a.extras.filters = filters;
    Some(a)
}

/// The chat-completions route, run by `Front::drive`.
pub(crate) struct Chat;

impl Route for Chat {
    type Plan = wire::Plan;
    const LOGGED: bool = true;

    fn plan(front: &Front, body: &[u8]) -> Option<wire::Plan> {
        front.plan(body)
    }
    fn group(plan: &wire::Plan) -> &str {
        &plan.req.model
    }
    fn deployment(plan: &wire::Plan) -> &Deployment {
        &plan.deployment
    }
    fn eligible(_: &Front, _: &wire::Plan) -> bool {
        true
    }
    async fn serve(front: &Arc<Front>, plan: &wire::Plan, (head, body, peer): Received<'_>) -> Attempt {
        if plan.req.streaming() {
            // `failed`: an upstream error or timeout (not an answer merely out of shape).
            let mut failed = false;
            match front.clone().serve_stream(plan, head, body, peer, &mut failed).await {
                Some(r) => Attempt::Served(r),
                None => Attempt::Replay { failed },
            }
        } else {
            front.serve(plan, head, body, peer).await
        }
    }
}

impl Front {
    /// `None` also for a stream the front does not serve (streams off, or not for this
    /// deployment's provider): unlike the other routes' ineligible requests, LiteLLM's
    /// answer to it is then noted against no group in particular.
    fn plan(&self, body: &[u8]) -> Option<wire::Plan> {
        let req = wire::parse_request(body)?;
        if req.streaming() && !self.cfg.streams {
            return None;
        }
        let d = self.pick_in(&self.cfg.groups, &req.model)?;
        if (req.streaming() && !d.provider.streams()) || !d.provider.accepts(&req) {
            return None;
        }
        Some(wire::Plan { req, deployment: d })
    }

    /// Call the upstream and build LiteLLM's answer; an answer outside the envelope (or an
    /// upstream error) is held for LiteLLM to answer from.
    async fn serve(
        &self,
        plan: &wire::Plan,
        head: &hyper::http::request::Parts,
        request_body: &[u8],
        peer: SocketAddr,
    ) -> Attempt {
        let Some(format) = self.cfg.format else { return Attempt::Replay { failed: false } };
        let started = Instant::now();
        let started_unix = unix_now_f64();
        let d = &plan.deployment;
        let Some(up) = upstream_request(format, plan) else { return Attempt::Replay { failed: false } };
        let pin = self.cfg.groups.get(&plan.req.model).map_or(false, |g| g.len() > 1);
        // Give up no later than LiteLLM's own timeout would (LiteLLM then retries/falls back).
        let (parts, bytes) = match self.call_upstream(d, up, self.router.as_ref().map(|r| r.timeout())).await {
            held::Outcome::Answer(parts, bytes) if parts.status == StatusCode::OK => (parts, bytes),
            other => return Held::new(other, d, "/chat/completions", pin),
        };
        let upstream_ms = started.elapsed().as_secs_f64() * 1000.0;
        let hold = |parts, bytes| Held::new(held::Outcome::Answer(parts, bytes), d, "/chat/completions", pin);
        let answer = match &d.provider {
            providers::Provider::Openai => wire::parse_openai(&bytes, &parts.headers, &d.upstream_model)
                .and_then(|a| answer_shapes::price(a, self.cfg.answer_pricing.get(&d.id)))
                .or_else(|| server_shapes::parse(&bytes, &parts.headers, &d.upstream_model))
                .or_else(|| azure_shaped(&bytes, &parts.headers, d)),
            providers::Provider::HostedVllm => wire::parse_upstream(&bytes, &parts.headers, &d.upstream_model)
                .or_else(|| providers::parse_vllm(&bytes, &parts.headers, &d.upstream_model)),
            providers::Provider::Compat { name, client, .. } => {
                crate::compat_providers::parse(name, *client, &bytes, &parts.headers, &d.upstream_model)
            }
            providers::Provider::Azure { .. } => azure_shaped(&bytes, &parts.headers, d),
        };
        let Some(answer) = answer else { return hold(parts, bytes) };
        let upstream_done_unix = unix_now_f64();
        let out = providers::render_own(format, &answer, &plan.req.model)
            .unwrap_or_else(|| wire::render_body(format, &answer, &plan.req.model));
        let total_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut resp = Response::new(full(out));
        let h = resp.headers_mut();
        h.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let headers = wire::litellm_headers(
            format,
            &self.cfg.version,
            d,
            &plan.req.model,
            Some(&answer),
            &parts.headers,
            total_ms,
            (total_ms - upstream_ms).max(0.0),
        );
        let call_id = headers.iter().find(|(k, _)| k == "x-litellm-call-id").map(|(_, v)| v.clone()).unwrap_or_default();
        if append_headers(h, headers).is_none() {
            return hold(parts, bytes);
        }
        lane(&mut resp, "rust");
        if let Some(q) = &self.log {
            q.push(log_record(LogInput {
                head,
                request_body,
                peer,
                group: &plan.req.model,
                deployment: &plan.deployment,
                upstream_path: "/chat/completions",
                call_id: &call_id,
                upstream_status: parts.status.as_u16(),
                upstream_headers: &parts.headers,
                upstream_body: &bytes,
                pin,
                start: started_unix,
                upstream_done: upstream_done_unix,
                end: unix_now_f64(),
            }));
        }
        Attempt::Served(resp)
    }

    /// A streaming chat completion: wait for the upstream's head and first event (until
    /// then a surprise still means a replay through LiteLLM), then stream event by event.
    ///
    /// With router settings, LiteLLM's timeout bounds the wait for the head and for each
    /// read of the body (the OpenAI client's read timeout): past it before the first event
    /// the front replays (LiteLLM retries/falls back), after it the stream is cut.
    /// `failed`: the upstream errored or timed out (not an answer merely out of shape).
    async fn serve_stream(
        self: Arc<Self>,
        plan: &wire::Plan,
        head: &hyper::http::request::Parts,
        request_body: &[u8],
        peer: SocketAddr,
        failed: &mut bool,
    ) -> Option<Response<Body>> {
        let format = self.cfg.format?;
        let started = Instant::now();
        let started_unix = unix_now_f64();
        let logging = self.log.is_some();
        let d = &plan.deployment;
        let replay = |why: &'static str| {
            Stats::count(&self.stats.stream_replayed_by_reason, why);
            None
        };
        let spec = stream::StreamSpec {
            format,
            requested_model: plan.req.model.clone(),
            include_usage: plan.req.include_usage().unwrap_or(false),
        };
        let up = upstream_request(format, plan).ok_or("request not built");
        let state = SseState::Chat(stream::StreamState::new(spec, d.clone()));
        let (upstream_ms, parts, body, state, prefix, raw, ended) = match self.open_stream(d, up, state, logging, started).await {
            Ok(x) => x,
            Err((upstream_failed, why)) => {
                *failed = upstream_failed;
                return replay(why);
            }
        };
        let total_ms = started.elapsed().as_secs_f64() * 1000.0;
        let headers = wire::litellm_headers(
            format,
            &self.cfg.version,
            d,
            &plan.req.model,
            None,
            &parts.headers,
            total_ms,
            (total_ms - upstream_ms).max(0.0),
        );
        let origin = StreamOrigin {
            client: (head, request_body, peer),
            group: &plan.req.model,
            deployment: d,
            upstream_path: "/chat/completions",
            started_unix,
        };
        self.stream_response(origin, headers, (parts, body, state, prefix, raw, ended), logging)
    }
}
