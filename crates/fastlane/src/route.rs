//! The flow every route the front serves shares (`Front::drive`): read the request, pick a
//! deployment, serve in Rust when allowed, else hand the upstream's answer to LiteLLM or
//! pass the request on; then the counters, the replay brake and what LiteLLM's answer tells
//! the front about its router. Each route (`chat.rs`, `responses.rs`, `embeddings.rs`,
//! `anthropic.rs`) says only what is its own, as a `Route`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{Request, Response};

use crate::guard::Guard;
use crate::held::Attempt;
use crate::{full, router, Body, Deployment, Front};

/// The client's request as the front received it: head, body, peer.
pub(crate) type Received<'a> = (&'a hyper::http::request::Parts, &'a [u8], SocketAddr);

/// What is a route's own: how it reads a request and picks a deployment, which requests it
/// serves, and how it serves one.
pub(crate) trait Route {
    /// A request inside the route's envelope, with the deployment picked for it.
    type Plan;
    /// Served while LiteLLM's logging callbacks are on (the route leaves a log record);
    /// else every request of the route goes to LiteLLM when callbacks are configured.
    const LOGGED: bool;
    /// `None`: LiteLLM answers, and its answer is noted against no group in particular.
    fn plan(front: &Front, body: &[u8]) -> Option<Self::Plan>;
    /// The model group the client named.
    fn group(plan: &Self::Plan) -> &str;
    fn deployment(plan: &Self::Plan) -> &Deployment;
    /// `false`: LiteLLM answers (its answer noted against the plan's group).
    fn eligible(front: &Front, plan: &Self::Plan) -> bool;
    /// One upstream call and LiteLLM's answer to it, or the answer held, or a replay.
    fn serve(front: &Arc<Front>, plan: &Self::Plan, client: Received<'_>) -> impl Future<Output = Attempt> + Send;
}

/// A request of a route and the deployment picked for it.
pub(crate) struct Picked<R> {
    pub(crate) req: R,
    pub(crate) deployment: Deployment,
}

impl Front {
    /// A request of route `R` with the master key: served in Rust when inside the envelope,
    /// else passed on (with the upstream's answer when the front already called it).
    pub(crate) async fn drive<R: Route>(
        self: &Arc<Self>,
        mut parts: hyper::http::request::Parts,
        mut bytes: Bytes,
        peer: SocketAddr,
    ) -> Response<Body> {
        let mut group: Option<String> = None;
        let mut replayed = false;
        // With callbacks, a full logging queue sends requests to LiteLLM when so configured.
        let open = if R::LOGGED {
            !(self.cfg.log_full_to_python && self.log.as_ref().map_or(false, |q| q.full()))
        } else {
            self.log.is_none()
        };
        if open && self.cfg.format.is_some() {
            if let Some(plan) = R::plan(self, &bytes) {
                let model = R::group(&plan);
                group = Some(model.to_string());
                let guard = self.guards.get(&R::deployment(&plan).id);
                let routable = self.router.as_ref().map_or(true, |r| r.open(model));
                if R::eligible(self, &plan) && routable && guard.map_or(true, |g| g.open()) {
                    let attempt = R::serve(self, &plan, (&parts, &bytes, peer)).await;
                    let attempt = self.settle(attempt, guard, model);
                    match self.conclude(attempt, parts, bytes, model).await {
                        Ok(resp) => return resp,
                        Err((p, b, failed)) => (parts, bytes, replayed) = (p, b, failed),
                    }
                }
            }
        }
        let resp = self.pass(Request::from_parts(parts, full(bytes))).await;
        self.note_python_answer(&resp, true, group.as_deref(), replayed);
        resp
    }

    /// The bookkeeping after a Rust attempt at `model` on the deployment behind `guard`:
    /// counters and the guard (replays strike it, held answers do not: they cost no second
    /// upstream call); after an upstream error or timeout, the group and its fallbacks go to
    /// LiteLLM from now on (it is about to retry/fall back and may cool deployments down).
    /// Without a launch secret a held answer cannot be handed over: it becomes a replay.
    fn settle(&self, attempt: Attempt, guard: Option<&Guard>, model: &str) -> Attempt {
        let (attempt, failed) = match attempt {
            Attempt::Served(r) => {
                self.stats.served.fetch_add(1, Ordering::Relaxed);
                if let Some(g) = guard {
                    g.ok();
                }
                return Attempt::Served(r);
            }
            Attempt::Held(h) if self.cfg.secret.is_some() => {
                let failed = h.failed();
                (Attempt::Held(h), failed)
            }
            Attempt::Held(h) => (Attempt::Replay { failed: h.failed() }, h.failed()),
            Attempt::Replay { failed } => (Attempt::Replay { failed }, failed),
        };
        if matches!(attempt, Attempt::Replay { .. }) {
            self.stats.replayed.fetch_add(1, Ordering::Relaxed);
            if let Some(g) = guard {
                g.strike();
            }
        }
        if failed {
            if let Some(r) = &self.router {
                r.failed(model, 0);
            }
        }
        attempt
    }

    /// After `settle`: the client's response when the attempt served it or LiteLLM built it
    /// from the held upstream answer; else the request back for a replay, and whether the
    /// upstream failed.
    async fn conclude(
        &self,
        attempt: Attempt,
        parts: hyper::http::request::Parts,
        bytes: Bytes,
        group: &str,
    ) -> Result<Response<Body>, (hyper::http::request::Parts, Bytes, bool)> {
        match attempt {
            Attempt::Served(r) => Ok(r),
            Attempt::Held(h) => {
                let failed = h.failed();
                let resp = self.pass_held(parts, bytes, h).await;
                self.note_python_answer(&resp, true, Some(group), failed);
                Ok(resp)
            }
            Attempt::Replay { failed } => Err((parts, bytes, failed)),
        }
    }

    /// After LiteLLM answered a master-key request the front passed or replayed: if that
    /// answer may have left a deployment failure or cooldown in LiteLLM's router, keep the
    /// group (or, model unknown, every group) on LiteLLM for the cooldown window, counted
    /// from now (LiteLLM's own window started earlier, during its handling).
    pub(crate) fn note_python_answer(&self, resp: &Response<Body>, master_post: bool, group: Option<&str>, replayed: bool) {
        let Some(r) = &self.router else { return };
        if !master_post || !(replayed || router::answer_had_failure(resp.status().as_u16(), resp.headers())) {
            return;
        }
        let extra = router::retry_after_ms(resp.headers());
        match group {
            Some(g) => r.failed(g, extra),
            None => r.failed_anywhere(extra),
        }
    }
}
