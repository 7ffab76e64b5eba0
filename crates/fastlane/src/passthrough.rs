//! The pass-through to LiteLLM's Python proxy: the request as the client sent it (but for
//! the hop-by-hop headers, the held-answer marker and the peer header), its answer streamed
//! back; websocket upgrades spliced.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::HeaderName;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;

use crate::{boxed_incoming, forwarded, full, held, lane, Body, Front};

impl Front {
    /// Forward a client's request to the Python proxy unchanged (but for the held-answer
    /// marker, which only the front may set) and stream its answer back.
    pub(crate) async fn pass(&self, mut req: Request<Body>) -> Response<Body> {
        self.stats.passed.fetch_add(1, Ordering::Relaxed);
        req.headers_mut().remove(held::HELD_HEADER);
        self.forward(req).await
    }

    /// Send a request to the Python proxy and stream its answer back.
    pub(crate) async fn forward(&self, req: Request<Body>) -> Response<Body> {
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

    /// An `Upgrade` request (LiteLLM's realtime websocket): forward it with its
    /// headers intact and, after a 101, splice the two connections.
    pub(crate) async fn pass_upgrade(&self, mut req: Request<Incoming>) -> Response<Body> {
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
        forwarded::set_peer(&mut parts.headers, self.cfg.secret.as_deref(), peer);
    }
}

/// A request head size from which `pass` uses a new connection to the Python proxy.
const LARGE_HEAD: usize = 8 << 10;

/// About the size of a request head on the wire.
fn head_size(parts: &hyper::http::request::Parts) -> usize {
    let headers: usize = parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    headers + parts.uri.path_and_query().map_or(1, |p| p.as_str().len()) + 16
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

/// Hop-by-hop headers the front does not forward (hyper frames each side itself).
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "te" | "trailer"
    )
}
