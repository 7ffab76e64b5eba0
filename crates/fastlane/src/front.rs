//! The running front: its shared state, its start and stop, and the pick of a deployment.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::guard::Guard;
use crate::stats::Stats;
use crate::{conn, logq, router, upstream_tls, Body, Config, Deployment};

pub(crate) struct Front {
    pub(crate) cfg: Config,
    pub(crate) guards: HashMap<String, Guard>,
    pub(crate) backend_authority: String,
    pub(crate) client: Client<HttpConnector, Body>,
    /// Pooled TLS clients for `https://` upstreams.
    pub(crate) upstreams: upstream_tls::Upstreams,
    /// A client that never reuses a connection, for requests with a large head (see `pass`).
    pub(crate) fresh: Client<HttpConnector, Body>,
    pub(crate) stats: Arc<Stats>,
    rng: Mutex<u64>,
    pub(crate) log: Option<logq::LogQueue>,
    pub(crate) router: Option<router::Router>,
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
        .map(|d| (d.id.clone(), Guard::default()))
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

impl Front {
    /// The index of one of `n` deployments, uniformly at random.
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

    /// A deployment of `model`'s group in `groups`, picked at random; `None`: no such group.
    pub(crate) fn pick_in(&self, groups: &HashMap<String, Vec<Deployment>>, model: &str) -> Option<Deployment> {
        let deps = groups.get(model).filter(|d| !d.is_empty())?;
        Some(deps[self.pick(deps.len())].clone())
    }
}
