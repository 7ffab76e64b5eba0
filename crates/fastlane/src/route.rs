//! What follows a Rust attempt at a request: the counters and the replay brake, the
//! answer LiteLLM builds from a held upstream answer, and what LiteLLM's answers tell the
//! front about its router.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use hyper::Response;

use crate::guard::Guard;
use crate::held::Attempt;
use crate::{router, Body, Front};

impl Front {
    /// The bookkeeping after a Rust attempt at `model` on the deployment behind `guard`:
    /// counters and the guard (replays strike it, held answers do not: they cost no second
    /// upstream call); after an upstream error or timeout, the group and its fallbacks go to
    /// LiteLLM from now on (it is about to retry/fall back and may cool deployments down).
    /// Without a launch secret a held answer cannot be handed over: it becomes a replay.
    pub(crate) fn settle(&self, attempt: Attempt, guard: Option<&Guard>, model: &str) -> Attempt {
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
    pub(crate) async fn conclude(
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
