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
mod conn;
mod embeddings;
mod forwarded;
pub mod logq;
pub mod orjson_fmt;
pub mod pyfmt;
mod pyjson;
mod held;
mod provider_streams;
mod providers;
mod responses;
mod responses_stream;
mod router;
mod sse;
mod stream;
mod upstream_tls;
mod upstream_headers;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use held::{Attempt, Held};
pub use conn::Limits;
pub use wire::Format;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, BoxError>;

/// The largest request body the front buffers to decide; bigger ones stream to Python.
const MAX_DECIDE_BODY: u64 = 1 << 20;
/// The largest upstream answer the front reads itself; bigger ones are replayed.
const MAX_UPSTREAM_BODY: usize = 8 << 20;

pub const LANE_HEADER: &str = "x-fast-litellm-lane";

/// One deployment the front may call: an OpenAI wire-format endpoint.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// `model_info.id` as the running Python proxy reports it (`/model/info`).
    pub id: String,
    /// `litellm_params.model`, e.g. `openai/gpt-4o-mini`.
    pub model: String,
    /// The model name sent upstream (`model` without the `openai/` prefix).
    pub upstream_model: String,
    /// `litellm_params.api_base` (http or https, no query, no trailing slash).
    pub api_base: String,
    pub api_key: String,
    /// Per-token rates from LiteLLM's price map for `upstream_model`.
    pub input_cost_per_token: f64,
    pub output_cost_per_token: f64,
    /// How LiteLLM verifies an `https://` api_base (`upstream_tls.rs`); `None` for `http://`.
    #[serde(default)]
    pub tls: Option<upstream_tls::Trust>,
    /// How LiteLLM calls the upstream (`providers.rs`); absent: `openai/`.
    #[serde(default)]
    pub provider: providers::Provider,
}

/// What the launcher hands over, as JSON. Built in Python from LiteLLM's own view.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Public address, e.g. `0.0.0.0:4000`.
    pub listen: String,
    /// The Python proxy, e.g. `127.0.0.1:41234`.
    pub backend: String,
    /// Response format to replicate; `None`: pass everything through.
    pub format: Option<Format>,
    /// `x-litellm-version`.
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub master_key: Option<String>,
    /// Model group name -> its deployments (every one eligible, else the group is absent).
    #[serde(default)]
    pub groups: HashMap<String, Vec<Deployment>>,
    /// Model group name -> its `openai/` embedding deployments (served on the embeddings
    /// routes only, see `embeddings.rs`).
    #[serde(default)]
    pub embedding_groups: HashMap<String, Vec<Deployment>>,
    /// `anthropic/` model groups, served on `/v1/messages` only (`anthropic.rs`).
    #[serde(default)]
    pub anthropic: HashMap<String, Vec<Deployment>>,
    #[serde(default)]
    pub threads: Option<usize>,
    /// Serve streaming requests too (the launcher's default; `FAST_LITELLM_FAST_LANE_STREAMS=0`
    /// turns it off). A stream that leaves the verified shape after its first bytes went out
    /// can only be cut, not replayed: counted in `Stats::aborted_by_reason`.
    #[serde(default)]
    pub streams: bool,
    /// Capacity of the logging queue; `Some`: every request served in Rust leaves a
    /// record for LiteLLM's success logging (then streams go to Python: their records
    /// are not built yet).
    #[serde(default)]
    pub log_queue: Option<usize>,
    /// When the logging queue is full: `false` serve anyway and drop the record (counted),
    /// `true` send the request to LiteLLM (which logs it itself): nothing is lost, at
    /// LiteLLM's speed for that request.
    #[serde(default)]
    pub log_full_to_python: bool,
    /// Router settings (timeout, cooldown window, fallback links); `None`: none applied.
    #[serde(default)]
    pub router: Option<router::RouterConfig>,
    /// The launch secret the proxy behind checks on a request carrying a held upstream
    /// answer (`held.rs`); `None`: answers out of the envelope are replayed (a second call).
    #[serde(default)]
    pub secret: Option<String>,
    /// Connection limits and timeouts (see `conn.rs`).
    #[serde(default)]
    pub conn: conn::Limits,
    /// The launch secret the Python proxy checks on the peer header (see `forwarded.rs`);
    /// `None`: no peer header (LiteLLM then sees the front's address).
    #[serde(default)]
    pub peer_secret: Option<String>,
}

/// Path prefix of the Python proxy's internal routes (the logging route): never
/// forwarded from the public port.
pub const INTERNAL_PREFIX: &str = "/_fast_litellm/";
/// Where a request the front must not forward as sent goes instead (an internal path,
/// a target not in origin form): a path of no route, so LiteLLM gives its own 404.
const NOT_FOUND_PATH: &str = "/_fast_litellm/not-found";
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
    fn count(map: &Mutex<HashMap<&'static str, u64>>, why: &'static str) {
        if let Ok(mut m) = map.lock() {
            *m.entry(why).or_insert(0) += 1;
        }
    }

    fn reasons(map: &Mutex<HashMap<&'static str, u64>>) -> serde_json::Value {
        let m = map.lock().map(|m| m.clone()).unwrap_or_default();
        serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v.into())).collect())
    }
}

/// Per-deployment brake on replays: after `STRIKES` streams in a row that left the
/// envelope (replayed before their first byte, a second upstream call, or cut), the
/// deployment goes straight to Python for `COOL_DOWN_MS`. Non-streaming answers out of
/// the envelope are held, not replayed (`held.rs`): they cost no second call and no strike.
struct Guard {
    strikes: AtomicU64,
    disabled_until_ms: AtomicU64,
}

const STRIKES: u64 = 3;
const COOL_DOWN_MS: u64 = 60_000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Guard {
    fn open(&self) -> bool {
        self.disabled_until_ms.load(Ordering::Relaxed) <= now_ms()
    }
    fn ok(&self) {
        if self.strikes.load(Ordering::Relaxed) != 0 {
            self.strikes.store(0, Ordering::Relaxed);
        }
    }
    fn strike(&self) {
        if self.strikes.fetch_add(1, Ordering::Relaxed) + 1 >= STRIKES {
            self.strikes.store(0, Ordering::Relaxed);
            self.disabled_until_ms.store(now_ms() + COOL_DOWN_MS, Ordering::Relaxed);
        }
    }
}

struct Front {
    cfg: Config,
    guards: HashMap<String, Guard>,
    backend_authority: String,
    client: Client<HttpConnector, Body>,
    /// Pooled TLS clients for `https://` upstreams.
    upstreams: upstream_tls::Upstreams,
    /// A client that never reuses a connection, for requests with a large head (see `pass`).
    fresh: Client<HttpConnector, Body>,
    stats: Arc<Stats>,
    rng: Mutex<u64>,
    log: Option<logq::LogQueue>,
    router: Option<router::Router>,
}

/// A running front: `stop()` ends it; `stats` stays readable.
pub struct Handle {
    stop: watch::Sender<bool>,
    pub stats: Arc<Stats>,
}

impl Handle {
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

static CURRENT: Mutex<Option<(watch::Sender<bool>, Arc<Stats>)>> = Mutex::new(None);

/// Stop the front started by `serve_blocking` (from any thread).
pub fn stop_current() -> bool {
    if let Some((tx, _)) = CURRENT.lock().unwrap().as_ref() {
        let _ = tx.send(true);
        return true;
    }
    false
}

/// Counters of the front started by `serve_blocking`.
pub fn current_stats() -> Option<(u64, u64, u64, u64)> {
    CURRENT.lock().unwrap().as_ref().map(|(_, s)| {
        (
            s.served.load(Ordering::Relaxed),
            s.passed.load(Ordering::Relaxed),
            s.replayed.load(Ordering::Relaxed),
            s.backend_errors.load(Ordering::Relaxed),
        )
    })
}

/// Parse the config, bind, and serve until `stop_current()` is called.
/// `ready` runs once the socket is bound.
pub fn serve_blocking(config_json: &str, ready: impl FnOnce()) -> Result<(), String> {
    let cfg: Config = serde_json::from_str(config_json).map_err(|e| format!("fast lane config: {e}"))?;
    let threads = cfg.threads.unwrap_or(2).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .thread_name("fast-lane")
        .build()
        .map_err(|e| e.to_string())?;
    let (tx, rx) = watch::channel(false);
    let stats = Arc::new(Stats::default());
    *CURRENT.lock().unwrap() = Some((tx, stats.clone()));
    let result = rt.block_on(async move {
        let listener = conn::bind(&cfg.listen, cfg.conn.backlog).await.map_err(|e| format!("bind {}: {e}", cfg.listen))?;
        ready();
        run(listener, cfg, stats, rx).await;
        Ok(())
    });
    *CURRENT.lock().unwrap() = None;
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

/// Serve on an already bound listener until `stop` turns true.
pub async fn run(listener: TcpListener, cfg: Config, stats: Arc<Stats>, stop: watch::Receiver<bool>) {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector.clone());
    let fresh = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(connector);
    let seed = {
        let mut b = [0u8; 8];
        let _ = getrandom::getrandom(&mut b);
        u64::from_le_bytes(b) | 1
    };
    let guards = cfg
        .groups
        .values()
        .chain(cfg.embedding_groups.values())
        .chain(cfg.anthropic.values())
        .flatten()
        .map(|d| (d.id.clone(), Guard { strikes: AtomicU64::new(0), disabled_until_ms: AtomicU64::new(0) }))
        .collect();
    // In lossless mode requests stop being served at `full()`; the slack absorbs the
    // records of requests already past that check.
    let slack = if cfg.log_full_to_python { 1024 } else { 0 };
    let log = cfg.log_queue.map(|n| logq::LogQueue::install(n, slack));
    let router = cfg.router.as_ref().map(|r| router::Router::new(r, cfg.groups.keys().chain(cfg.embedding_groups.keys()).chain(cfg.anthropic.keys()).cloned()));
    let upstreams = upstream_tls::Upstreams::new(cfg.groups.values().chain(cfg.embedding_groups.values()).chain(cfg.anthropic.values()).flatten());
    let front = Arc::new(Front {
        upstreams,
        router,
        log,
        guards,
        backend_authority: cfg.backend.clone(),
        cfg,
        client,
        fresh,
        stats,
        rng: Mutex::new(seed),
    });
    let limits = front.cfg.conn.clone();
    conn::serve(listener, limits, stop, move |req, peer| front.clone().handle(req, peer)).await;
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

fn boxed_incoming(b: Incoming) -> Body {
    b.map_err(|e| -> BoxError { Box::new(e) }).boxed()
}

/// The chat-completions POST LiteLLM would send `plan`'s deployment.
fn upstream_request(format: Format, plan: &wire::Plan) -> Option<Request<Body>> {
    let d = &plan.deployment;
    let uri: Uri = providers::upstream_url(d, "/chat/completions").parse().ok()?;
    let mut b = Request::builder().method(Method::POST).uri(uri);
    for (name, value) in providers::request_headers(format, d) {
        b = b.header(name, value);
    }
    let body = match d.provider {
        providers::Provider::Openai => wire::upstream_body(format, &plan.req, &d.upstream_model),
        _ if plan.req.streaming() => provider_streams::request_body(format, d, &plan.req),
        _ => providers::request_body(format, d, &plan.req.messages),
    };
    b.body(full(body)).ok()
}

/// Append LiteLLM's headers; `None` if one is not a valid header (then the request is replayed).
fn append_headers(h: &mut HeaderMap, headers: impl IntoIterator<Item = (String, String)>) -> Option<()> {
    for (name, value) in headers {
        let n = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let v = HeaderValue::from_str(&value).ok()?;
        h.append(n, v);
    }
    Some(())
}

fn lane(resp: &mut Response<Body>, which: &'static str) {
    resp.headers_mut().insert(LANE_HEADER, HeaderValue::from_static(which));
}

/// Hop-by-hop headers the front does not forward (hyper frames each side itself).
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "te" | "trailer"
    )
}

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

    async fn handle(self: Arc<Self>, mut req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        // Kept with the request until `pass` tells the Python proxy who the client is.
        req.extensions_mut().insert(forwarded::Peer(peer));
        let internal = forwarded::internal(req.uri().path());
        if internal || !forwarded::origin_form(req.uri()) {
            if req.method() == Method::GET && req.uri().path() == STATS_PATH && self.is_master(req.headers()) {
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
                return r;
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
                return self.handle_responses(parts, bytes, peer).await;
            }
            if matches!(parts.uri.path(), "/v1/embeddings" | "/embeddings") {
                return self.handle_embeddings(parts, bytes, peer).await;
            }
            if parts.uri.path() == anthropic::PATH {
                return self.handle_messages(parts, bytes, peer).await;
            }
            let log_full = self.cfg.log_full_to_python && self.log.as_ref().map_or(false, |q| q.full());
            let mut group: Option<String> = None;
            let mut replayed = false;
            let (mut parts, mut bytes) = (parts, bytes);
            if let Some(plan) = if log_full { None } else { self.plan(&bytes) } {
                let guard = self.guards.get(&plan.deployment.id);
                let routable = self.router.as_ref().map_or(true, |r| r.open(&plan.req.model));
                group = Some(plan.req.model.clone());
                if routable && guard.map_or(true, |g| g.open()) {
                    let attempt = if plan.req.streaming() {
                        // `failed`: an upstream error or timeout (not an answer merely out of shape).
                        let mut failed = false;
                        match self.clone().serve_stream(&plan, &parts, &bytes, peer, &mut failed).await {
                            Some(r) => Attempt::Served(r),
                            None => Attempt::Replay { failed },
                        }
                    } else {
                        self.serve(&plan, &parts, &bytes, peer).await
                    };
                    let attempt = self.settle(attempt, guard, &plan.req.model);
                    match self.conclude(attempt, parts, bytes, &plan.req.model).await {
                        Ok(resp) => return resp,
                        Err((p, b, failed)) => (parts, bytes, replayed) = (p, b, failed),
                    }
                }
            }
            let req = Request::from_parts(parts, full(bytes));
            let resp = self.pass(req).await;
            self.note_python_answer(&resp, true, group.as_deref(), replayed);
            return resp;
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

    /// After LiteLLM answered a master-key request the front passed or replayed: if that
    /// answer may have left a deployment failure or cooldown in LiteLLM's router, keep the
    /// group (or, model unknown, every group) on LiteLLM for the cooldown window, counted
    /// from now (LiteLLM's own window started earlier, during its handling).
    fn note_python_answer(&self, resp: &Response<Body>, master_post: bool, group: Option<&str>, replayed: bool) {
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

    /// An `Upgrade` request (LiteLLM's realtime websocket): forward it with its
    /// headers intact and, after a 101, splice the two connections.
    async fn pass_upgrade(&self, mut req: Request<Incoming>) -> Response<Body> {
        self.stats.passed.fetch_add(1, Ordering::Relaxed);
        let client_side = hyper::upgrade::on(&mut req);
        req.headers_mut().remove(held::HELD_HEADER);
        let (mut parts, body) = req.into_parts();
        let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
        parts.uri = match format!("http://{}{}", self.backend_authority, pq).parse() {
            Ok(u) => u,
            Err(_) => return bad_gateway(),
        };
        self.tell_peer(&mut parts);
        let mut resp = match self.client.request(Request::from_parts(parts, boxed_incoming(body))).await {
            Ok(r) => r,
            Err(_) => {
                self.stats.backend_errors.fetch_add(1, Ordering::Relaxed);
                return bad_gateway();
            }
        };
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let backend_side = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                if let (Ok(c), Ok(b)) = (client_side.await, backend_side.await) {
                    let mut c = TokioIo::new(c);
                    let mut b = TokioIo::new(b);
                    let _ = tokio::io::copy_bidirectional(&mut c, &mut b).await;
                }
            });
        }
        let (parts, body) = resp.into_parts();
        let mut r = Response::from_parts(parts, boxed_incoming(body));
        lane(&mut r, "python");
        r
    }

    /// The peer header for the Python proxy (any client-supplied one removed).
    fn tell_peer(&self, parts: &mut hyper::http::request::Parts) {
        let peer = parts.extensions.get::<forwarded::Peer>().map(|p| p.0);
        forwarded::set_peer(&mut parts.headers, self.cfg.peer_secret.as_deref(), peer);
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

    fn pick(&self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let mut s = self.rng.lock().unwrap();
        // xorshift64*
        let mut x = *s;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *s = x;
        ((x.wrapping_mul(0x2545F4914F6CDD1D) >> 33) % n as u64) as usize
    }

    fn plan(&self, body: &[u8]) -> Option<wire::Plan> {
        let req = wire::parse_request(body)?;
        if req.streaming() && !self.cfg.streams {
            return None;
        }
        let deployments = self.cfg.groups.get(&req.model)?;
        if deployments.is_empty() {
            return None;
        }
        let d = deployments[self.pick(deployments.len())].clone();
        if req.streaming() && !d.provider.streams() {
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
            providers::Provider::Openai => wire::parse_upstream(&bytes, &parts.headers, &d.upstream_model),
            providers::Provider::HostedVllm => wire::parse_upstream(&bytes, &parts.headers, &d.upstream_model)
                .or_else(|| providers::parse_vllm(&bytes, &parts.headers, &d.upstream_model)),
            providers::Provider::Azure { .. } => providers::split_azure(&bytes).and_then(|(rest, filters)| {
                let mut a = wire::parse_upstream(&rest, &parts.headers, &d.upstream_model)?;
                a.extras.filters = filters;
                Some(a)
            }),
        };
        let Some(answer) = answer else { return hold(parts, bytes) };
        let upstream_done_unix = unix_now_f64();
        let out = if answer.extras.filters.vllm {
            providers::render_vllm(format, &answer, &plan.req.model)
        } else {
            wire::render_body(format, &answer, &plan.req.model)
        };
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

    /// The client-facing response of a stream served in Rust: LiteLLM's head, then the
    /// events already accepted, then the rest as they come. With callbacks the log record
    /// is completed (the upstream's whole SSE body) and queued once the stream ended in
    /// shape; a cut stream leaves none (counted in `aborted`).
    fn stream_response(
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
    async fn open_stream(
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

    /// Forward a client's request to the Python proxy unchanged (but for the held-answer
    /// marker, which only the front may set) and stream its answer back.
    async fn pass(&self, mut req: Request<Body>) -> Response<Body> {
        self.stats.passed.fetch_add(1, Ordering::Relaxed);
        req.headers_mut().remove(held::HELD_HEADER);
        self.forward(req).await
    }

    /// Send a request to the Python proxy and stream its answer back.
    async fn forward(&self, req: Request<Body>) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let uri: Uri = match format!("http://{}{}", self.backend_authority, pq).parse() {
            Ok(u) => u,
            Err(_) => return bad_gateway(),
        };
        parts.uri = uri;
        parts.headers.retain_not_hop_by_hop();
        self.tell_peer(&mut parts);
        // uvicorn's h11 refuses a head over 16 KiB that it reads in two parts; on a pooled
        // connection its reader is already waiting and gets the first part alone, while on a new
        // connection (a client's own, with stock) the head is usually all there when it reads.
        let client = if head_size(&parts) > LARGE_HEAD { &self.fresh } else { &self.client };
        let req = Request::from_parts(parts, body);
        match client.request(req).await {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                if parts.status != StatusCode::SWITCHING_PROTOCOLS {
                    parts.headers.retain_not_hop_by_hop();
                }
                let mut r = Response::from_parts(parts, boxed_incoming(body));
                lane(&mut r, "python");
                r
            }
            Err(_) => {
                self.stats.backend_errors.fetch_add(1, Ordering::Relaxed);
                bad_gateway()
            }
        }
    }
}

/// A request head size from which `pass` uses a new connection to the Python proxy.
const LARGE_HEAD: usize = 8 << 10;

/// About the size of a request head on the wire.
fn head_size(parts: &hyper::http::request::Parts) -> usize {
    let headers: usize = parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    headers + parts.uri.path_and_query().map_or(1, |p| p.as_str().len()) + 16
}

fn unix_now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Who asked for a stream served in Rust, and what LiteLLM would have called upstream.
struct StreamOrigin<'a> {
    client: (&'a hyper::http::request::Parts, &'a [u8], SocketAddr),
    group: &'a str,
    deployment: &'a Deployment,
    upstream_path: &'static str,
    started_unix: f64,
}

struct LogInput<'a> {
    head: &'a hyper::http::request::Parts,
    request_body: &'a [u8],
    peer: SocketAddr,
    /// The model group the client named, the deployment that answered, and the upstream
    /// path LiteLLM calls (`/chat/completions`, `/responses`).
    group: &'a str,
    deployment: &'a Deployment,
    upstream_path: &'a str,
    call_id: &'a str,
    upstream_status: u16,
    upstream_headers: &'a HeaderMap,
    upstream_body: &'a [u8],
    /// The group has several deployments: the replay must pick the one the front picked.
    pin: bool,
    start: f64,
    upstream_done: f64,
    end: f64,
}

fn header_pairs(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect()
}

/// One queue record: what the Python side needs to run the request's success logging
/// (the client's request as received, the upstream's answer as received, times).
fn log_record(x: LogInput<'_>) -> String {
    log_value(x).to_string()
}

fn log_value(x: LogInput<'_>) -> serde_json::Value {
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

fn bad_gateway() -> Response<Body> {
    let mut r = Response::new(full(Bytes::from_static(b"fast-litellm: the LiteLLM proxy behind the fast lane did not answer\n")));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    lane(&mut r, "python");
    r
}

trait RetainHop {
    fn retain_not_hop_by_hop(&mut self);
}

impl RetainHop for hyper::HeaderMap {
    fn retain_not_hop_by_hop(&mut self) {
        let drop: Vec<HeaderName> = self.keys().filter(|n| hop_by_hop(n)).cloned().collect();
        for n in drop {
            self.remove(n);
        }
    }
}

/// What `open_stream` hands back: upstream ms to the head, the head, the rest of the body,
/// the stream state, the output so far, the raw bytes read (with logging), and whether
/// the upstream body already ended.
type OpenedStream = (f64, hyper::http::response::Parts, Incoming, SseState, Vec<u8>, Vec<u8>, bool);

/// The verified stream shapes the front re-emits.
enum SseState {
    Chat(stream::StreamState),
    Responses(responses_stream::RespStreamState),
    Anthropic(anthropic_stream::MsgStreamState),
}

impl SseState {
    fn started(&self) -> bool {
        match self {
            SseState::Chat(s) => s.started(),
            SseState::Responses(s) => s.started(),
            SseState::Anthropic(s) => s.started(),
        }
    }
    fn feed(&mut self, data: &[u8]) -> Result<Vec<u8>, stream::Reject> {
        match self {
            SseState::Chat(s) => s.feed(data),
            SseState::Responses(s) => s.feed(data),
            SseState::Anthropic(s) => s.feed(data),
        }
    }
    fn end(&self) -> Result<(), stream::Reject> {
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
