//! What the front tells LiteLLM about the client, and which request targets never
//! reach it.
//!
//! The client address: the front forwards the client's headers unchanged (LiteLLM reads
//! `X-Forwarded-*` itself in places, exactly as the client sent them) and adds one
//! header of its own, `x-fast-litellm-peer: <launch secret> <ip> <port>`, with the real
//! peer of the connection. In the Python proxy `fast_litellm.fastlane.peer` checks the
//! secret, drops the header, puts that peer in the ASGI scope and applies the proxy
//! header rules of the server LiteLLM runs on (uvicorn's `FORWARDED_ALLOW_IPS`), so
//! LiteLLM sees the client address, scheme and headers stock would see. A client's own
//! `x-fast-litellm-peer` is always removed.
//!
//! Internal paths: the front's own routes and the Python proxy's logging route live under
//! `/_fast_litellm/`. Uvicorn percent-decodes the request target into the path Starlette
//! routes on, so the check runs on the path decoded the same way (and, to be safe, with
//! empty and dot segments removed too: stock answers 404 for every such spelling).

use std::net::SocketAddr;

use hyper::header::{HeaderMap, HeaderValue};
use hyper::Uri;

/// The header carrying the real peer to the Python proxy (with the launch secret).
pub const PEER_HEADER: &str = "x-fast-litellm-peer";

/// The connection's peer, kept in the request's extensions until the request is forwarded.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// Remove any client-supplied peer header, then (with a secret) add the real one.
pub fn set_peer(headers: &mut HeaderMap, secret: Option<&str>, peer: Option<SocketAddr>) {
    headers.remove(PEER_HEADER);
    let (Some(secret), Some(peer)) = (secret, peer) else { return };
    // As the socket reports it (an IPv4-mapped address on a dual-stack socket stays
    // mapped, as Python reports it for uvicorn on `::`).
    if let Ok(v) = HeaderValue::from_str(&format!("{secret} {} {}", peer.ip(), peer.port())) {
        headers.insert(PEER_HEADER, v);
    }
}

/// A request target in origin form (`/path?query`): the only form uvicorn routes as a path
/// LiteLLM knows. Absolute form (`http://host/path`), authority form and `*` reach no route
/// of LiteLLM's (uvicorn hands Starlette the whole target as the path).
pub fn origin_form(uri: &Uri) -> bool {
    uri.scheme().is_none() && uri.authority().is_none() && uri.path().starts_with('/')
}

/// Percent-decode as uvicorn does (`urllib.parse.unquote`: valid `%XX` decoded, anything
/// else kept as is); bytes that are not UTF-8 cannot spell the ASCII prefix, so a lossy
/// conversion is enough for the check.
fn unquote(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The path's segments without empty and `.` segments, `..` taken back.
fn segments(path: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for s in path.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out
}

/// First segment of the internal prefix.
const INTERNAL_SEGMENT: &str = "_fast_litellm";

/// Whether a request path (as the client sent it, before any decoding) names something
/// under `/_fast_litellm`, however spelled (percent-encoding, once or twice, repeated
/// slashes, dot segments, backslashes, letter case).
pub fn internal(raw_path: &str) -> bool {
    let once = unquote(raw_path);
    let twice = unquote(&once);
    [raw_path, once.as_str(), twice.as_str()].iter().any(|p| {
        let p = p.replace('\\', "/");
        segments(&p).first().map_or(false, |s| s.eq_ignore_ascii_case(INTERNAL_SEGMENT))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_spellings() {
        for p in [
            "/_fast_litellm/lane-log",
            "/_fast_litellm",
            "/%5Ffast_litellm/lane-log",
            "/%5ffast_litellm/lane-log",
            "/%255Ffast_litellm/lane-log",
            "//_fast_litellm/lane-log",
            "/./_fast_litellm/lane-log",
            "/v1/../_fast_litellm/lane-log",
            "/%2E/_fast_litellm/stats",
            "/_FAST_LITELLM/stats",
            "/%2F_fast_litellm/x",
            "/\\_fast_litellm/x",
            "/_fast%5Flitellm/lane-log",
        ] {
            assert!(internal(p), "{p}");
        }
        for p in ["/", "/v1/chat/completions", "/_fast_litellmx/y", "/v1/_fast_litellm", "/%ZZ", "/%", "/%5"] {
            assert!(!internal(p), "{p}");
        }
    }

    /// Random spellings of the internal prefix (each byte percent-encoded or not, in either
    /// case; extra slashes, `.` segments, `x/..` detours) are all caught; random other paths
    /// whose decoded first segment is something else are not.
    #[test]
    fn internal_spellings_property() {
        let mut seed: u64 = 0x16_16_16;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..20_000 {
            let mut p = String::new();
            for _ in 0..next(3) {
                p.push_str(["/", "/.", "/x/.."][next(3) as usize]);
            }
            p.push('/');
            for c in "_fast_litellm/lane-log".bytes() {
                match next(4) {
                    0 => p.push_str(&format!("%{c:02X}")),
                    1 => p.push_str(&format!("%{c:02x}")),
                    _ => p.push(c as char),
                }
            }
            assert!(internal(&p), "{p}");
        }
        // Near misses: the prefix with random edits. Whatever `internal` lets through must not
        // be routed under the prefix by uvicorn/Starlette (one decoding, no normalisation).
        let pieces = ["/", "_", "%5F", "%5f", "%25", "fast", "litellm", "lane-log", ".", "..", "%2F", "\\", "x"];
        for _ in 0..20_000 {
            let mut p = String::from("/_fast_litellm/lane-log");
            for _ in 0..1 + next(3) {
                let at = next(p.len() as u64 + 1) as usize;
                let at = (0..=at).rev().find(|&k| p.is_char_boundary(k)).unwrap_or(0);
                match next(2) {
                    0 => p.insert_str(at, pieces[next(pieces.len() as u64) as usize]),
                    _ => {
                        if at < p.len() {
                            p.remove(at);
                        }
                    }
                }
            }
            if !p.starts_with('/') {
                p.insert(0, '/');
            }
            if !internal(&p) {
                assert!(!unquote(&p).starts_with("/_fast_litellm/"), "{p}");
                assert_ne!(unquote(&p), "/_fast_litellm", "{p}");
            }
        }
    }

    #[test]
    fn unquote_like_python() {
        assert_eq!(unquote("/a%20b"), "/a b");
        assert_eq!(unquote("/%zz%4"), "/%zz%4");
        assert_eq!(unquote("%41%"), "A%");
        assert_eq!(unquote("%4"), "%4");
    }

    #[test]
    fn forms() {
        assert!(origin_form(&"/v1/chat/completions?x=1".parse().unwrap()));
        assert!(!origin_form(&"http://evil.example/v1/chat/completions".parse().unwrap()));
        assert!(!origin_form(&"evil.example:443".parse().unwrap()));
        assert!(!origin_form(&"*".parse().unwrap()));
    }

    #[test]
    fn peer_header_replaced() {
        let mut h = HeaderMap::new();
        h.insert(PEER_HEADER, HeaderValue::from_static("forged 8.8.8.8 1"));
        set_peer(&mut h, None, Some("127.0.0.2:5000".parse().unwrap()));
        assert!(h.get(PEER_HEADER).is_none());
        h.insert(PEER_HEADER, HeaderValue::from_static("forged 8.8.8.8 1"));
        set_peer(&mut h, Some("s3cret"), Some("127.0.0.2:5000".parse().unwrap()));
        assert_eq!(h.get_all(PEER_HEADER).iter().count(), 1);
        assert_eq!(h.get(PEER_HEADER).unwrap(), "s3cret 127.0.0.2 5000");
    }
}
