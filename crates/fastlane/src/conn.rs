//! The front's connections: binding, the accept loop and what bounds a connection's life.
//!
//! Defaults no worse than uvicorn's (LiteLLM's server) and nginx's:
//! * listen backlog 2048 (uvicorn's);
//! * accept errors: a full fd table (EMFILE/ENFILE) or memory shortage backs off
//!   (10 ms doubling to 250 ms) instead of retrying at once, so the loop sleeps while the
//!   process is out of descriptors and accepts again within a quarter second of one freeing;
//! * at most `max_connections` client connections at once: past it the front stops
//!   accepting (new clients wait in the kernel's backlog) rather than failing on fds;
//! * an idle keep-alive connection (no request in flight, nothing received) is closed after
//!   `idle_timeout_ms` (uvicorn: 5 s);
//! * a request head must arrive within `header_timeout_ms` of the connection turning idle
//!   (slowloris; hyper's header read timeout, nginx's `client_header_timeout` is 60 s).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::{Body, BoxError};

/// Connection settings (the launcher fills them from `FAST_LITELLM_FRONT_*`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub idle_timeout_ms: u64,
    pub header_timeout_ms: u64,
    pub max_connections: usize,
    pub backlog: u32,
    /// hyper's read buffer, which bounds a request head (headers included).
    pub max_header_bytes: usize,
    /// hyper's cap on the number of header lines.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout_ms: 5_000,
            header_timeout_ms: 60_000,
            max_connections: 10_000,
            backlog: 2048,
            max_header_bytes: 1 << 20,
            max_headers: 1000,
        }
    }
}

/// Bind `addr` (host:port, `[v6]:port`, or a name) with the backlog and address reuse
/// uvicorn uses.
pub async fn bind(addr: &str, backlog: u32) -> io::Result<TcpListener> {
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address");
    for a in tokio::net::lookup_host(addr).await? {
        let sock = if a.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        sock.set_reuseaddr(true)?;
        match sock.bind(a).and_then(|_| sock.listen(backlog.max(1))) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Errors of one pending connection (the next accept may well succeed).
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
    )
}

const BACKOFF_START: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_millis(250);

/// Accept until `stop` turns true; each connection is served by `handler` per request.
pub async fn serve<H, F>(listener: TcpListener, limits: Limits, mut stop: watch::Receiver<bool>, handler: H)
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut backoff = BACKOFF_START;
    loop {
        // At the cap: wait for a connection to end before accepting the next one.
        let permit = tokio::select! {
            _ = stop.changed() => return,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => {
                backoff = BACKOFF_START;
                x
            }
            Err(e) if per_connection(&e) => continue,
            Err(_) => {
                // EMFILE/ENFILE/ENOBUFS/ENOMEM: the pending connection stays queued; retrying at
                // once would spin. Sleep, then try again (stop still honoured).
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let limits = limits.clone();
        let stop_conn = stop.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, &limits, stop_conn, handler).await;
            drop(permit);
        });
    }
}

async fn serve_connection<H, F>(stream: TcpStream, peer: SocketAddr, limits: &Limits, mut stop: watch::Receiver<bool>, handler: H)
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let act = activity.clone();
    let svc = hyper::service::service_fn(move |req| {
        let busy = Busy::new(act.clone());
        let fut = handler(req, peer);
        async move {
            let resp = fut.await;
            // The request counts as in flight until its response body is done.
            Ok::<_, std::convert::Infallible>(resp.map(|b| BodyExt::boxed(Tracked { inner: b, _busy: busy })))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout((limits.header_timeout_ms > 0).then(|| Duration::from_millis(limits.header_timeout_ms)))
        .max_buf_size(limits.max_header_bytes.max(8192 + 4096 * 100))
        .max_headers(limits.max_headers.max(100));
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let conn = builder.serve_connection(io, svc).with_upgrades();
    tokio::pin!(conn);
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = activity.idle(idle), if limits.idle_timeout_ms > 0 => {
            // No request in flight and nothing received for `idle`: close (dropping the
            // connection closes the socket; a partly received head goes with it).
        }
        _ = stop.changed() => { conn.as_mut().graceful_shutdown(); let _ = conn.await; }
    }
}

/// When the connection last received bytes or finished a response, and how many of its
/// requests are in flight.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity { start: Instant::now(), last_ms: AtomicU64::new(0), in_flight: AtomicUsize::new(0) }
    }

    fn touch(&self) {
        self.last_ms.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Resolves once the connection has been idle for `idle`.
    async fn idle(&self, idle: Duration) {
        loop {
            let now = self.start.elapsed();
            let since = now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)));
            let busy = self.in_flight.load(Ordering::Relaxed) > 0;
            if !busy && since >= idle {
                return;
            }
            tokio::time::sleep(if busy { idle } else { idle - since }).await;
        }
    }
}

/// One request in flight; done when dropped (its response body finished or was dropped).
struct Busy(Arc<Activity>);

impl Busy {
    fn new(a: Arc<Activity>) -> Self {
        a.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(a)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as in flight.
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client socket, noting when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
