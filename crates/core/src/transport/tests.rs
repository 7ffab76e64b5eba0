use super::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

fn serve(responses: Vec<&'static [u8]>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        for resp in responses {
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    return;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(resp).unwrap();
        }
    });
    port
}

fn request(url: String) -> Request {
    Request {
        method: "GET".into(),
        url,
        headers: vec![(b"x-test".to_vec(), b"1".to_vec())],
        body: Vec::new(),
        timeouts: Timeouts { read: Some(Duration::from_secs(5)), ..Default::default() },
    }
}

fn collect(rx: &mpsc::Receiver<Event>) -> (u16, Vec<u8>) {
    let mut status = 0;
    let mut body = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
            Event::Head(h) => {
                status = h.status;
                for b in h.body {
                    body.extend_from_slice(&b);
                }
                if h.eof {
                    return (status, body);
                }
            }
            Event::Chunk(c, eof) => {
                body.extend_from_slice(&c);
                if eof {
                    return (status, body);
                }
            }
            Event::Error(k, m) => panic!("{k:?}: {m}"),
        }
    }
}

#[test]
fn keep_alive_request_and_chunked_body() {
    let port = serve(vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: b\r\n\r\nhello",
        b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    ]);
    let client = Client::new(ClientConfig::default()).unwrap();
    for (want_status, want_body) in [(200u16, &b"hello"[..]), (201, &b"abcde"[..])] {
        let (tx, rx) = mpsc::channel();
        let h = client.submit(request(format!("http://127.0.0.1:{port}/x")), 1, Arc::new(ChannelSink(tx)), 4);
        let (status, body) = collect(&rx);
        assert_eq!(status, want_status);
        assert_eq!(body, want_body);
        drop(h);
    }
}

#[test]
fn connection_refused_is_connect_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = Client::new(ClientConfig::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    let _h = client.submit(request(format!("http://127.0.0.1:{port}/")), 7, Arc::new(ChannelSink(tx)), 4);
    match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
        Event::Error(kind, _) => assert_eq!(kind, ErrorKind::ConnectError),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsupported_scheme() {
    let client = Client::new(ClientConfig::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    let _h = client.submit(request("ftp://127.0.0.1/".into()), 1, Arc::new(ChannelSink(tx)), 4);
    match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
        Event::Error(kind, _) => assert_eq!(kind, ErrorKind::UnsupportedProtocol),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reactor_batches_wakeups() {
    let r = Arc::new(Reactor::new().unwrap());
    r.deliver(1, Event::Chunk(Bytes::from_static(b"a"), false));
    r.deliver(2, Event::Chunk(Bytes::from_static(b"b"), true));
    let events = r.drain();
    assert_eq!(events.len(), 2);
    assert!(r.drain().is_empty());
}

// ---------------------------------------------------------------- HTTP/2 and connection limits

mod upstream {
    //! Small tokio servers for the tests below, on their own runtime.
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    pub const CA_PEM: &[u8] = include_bytes!("testdata/ca.pem");
    const LEAF_PEM: &[u8] = include_bytes!("testdata/leaf.pem");
    const LEAF_KEY: &[u8] = include_bytes!("testdata/leaf.key");

    pub fn rt() -> &'static tokio::runtime::Runtime {
        static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
    }

    #[derive(Default)]
    pub struct Counters {
        /// TCP connections accepted.
        pub connections: AtomicUsize,
        /// Requests being answered now, and the most at once.
        pub active: AtomicUsize,
        pub peak: AtomicUsize,
    }

    /// Answers every request with its HTTP version (`HTTP/2.0`, `HTTP/1.1`) after `delay`.
    async fn answer(
        req: hyper::Request<Incoming>,
        counters: Arc<Counters>,
        delay: Duration,
    ) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
        let now = counters.active.fetch_add(1, Ordering::SeqCst) + 1;
        counters.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        counters.active.fetch_sub(1, Ordering::SeqCst);
        Ok(hyper::Response::new(Full::new(Bytes::from(format!("{:?}", req.version())))))
    }

    /// A server on 127.0.0.1: TLS with ALPN `h2`/`http/1.1` when `tls`, else cleartext HTTP/1.1.
    pub fn start(tls: bool, delay: Duration) -> (u16, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let listener = rt().block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tls.then(|| {
            let certs = CertificateDer::pem_slice_iter(LEAF_PEM).collect::<Result<Vec<_>, _>>().unwrap();
            let key = PrivateKeyDer::from_pem_slice(LEAF_KEY).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let c = counters.clone();
        rt().spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                c.connections.fetch_add(1, Ordering::SeqCst);
                let (acceptor, c) = (acceptor.clone(), c.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| answer(req, c.clone(), delay));
                    match acceptor {
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(tcp).await else { return };
                            let h2 = stream.get_ref().1.alpn_protocol() == Some(&b"h2"[..]);
                            let io = TokioIo::new(stream);
                            if h2 {
                                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                    .serve_connection(io, svc)
                                    .await;
                            } else {
                                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
                            }
                        }
                        None => {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tcp), svc)
                                .await;
                        }
                    }
                });
            }
        });
        (port, counters)
    }
}

/// Runs `n` requests at once; returns each one's (HTTP version of the head, body).
fn run_concurrently(client: &Client, url: &str, n: usize) -> Vec<(&'static str, Vec<u8>)> {
    let (tx, rx) = mpsc::channel::<(u64, Event)>();
    struct Tagged(std::sync::Mutex<mpsc::Sender<(u64, Event)>>);
    impl EventSink for Tagged {
        fn deliver(&self, id: u64, event: Event) {
            let _ = self.0.lock().unwrap().send((id, event));
        }
    }
    let sink: Arc<dyn EventSink> = Arc::new(Tagged(std::sync::Mutex::new(tx)));
    let handles: Vec<_> = (0..n).map(|i| client.submit(request(url.to_string()), i as u64, sink.clone(), 8)).collect();
    let mut out: Vec<(&'static str, Vec<u8>, bool)> = vec![("", Vec::new(), false); n];
    while out.iter().any(|o| !o.2) {
        let (id, event) = rx.recv_timeout(Duration::from_secs(20)).expect("a request did not finish");
        let slot = &mut out[id as usize];
        match event {
            Event::Head(h) => {
                slot.0 = h.version;
                for b in h.body {
                    slot.1.extend_from_slice(&b);
                }
                slot.2 = h.eof;
            }
            Event::Chunk(c, eof) => {
                slot.1.extend_from_slice(&c);
                slot.2 = eof;
            }
            Event::Error(k, m) => panic!("request {id}: {k:?}: {m}"),
        }
    }
    drop(handles);
    out.into_iter().map(|(v, b, _)| (v, b)).collect()
}

fn tls_client(http2: bool, max_connections: usize) -> Client {
    Client::new(ClientConfig {
        ca_pem: Some(upstream::CA_PEM.to_vec()),
        http2,
        max_connections,
        trust_env: false,
        ..ClientConfig::default()
    })
    .unwrap()
}

#[test]
fn http2_negotiated_over_tls_and_multiplexed() {
    use std::sync::atomic::Ordering;
    let (port, counters) = upstream::start(true, Duration::from_millis(200));
    let client = tls_client(true, 100);
    let url = format!("https://localhost:{port}/v1/chat/completions");
    // The first request opens the connection (ALPN picks h2); requests racing
    // it before the protocol is known may open their own, so it goes alone.
    assert_eq!(run_concurrently(&client, &url, 1), vec![("HTTP/2", b"HTTP/2.0".to_vec())]);
    let got = run_concurrently(&client, &url, 8);
    for (version, body) in &got {
        assert_eq!(*version, "HTTP/2");
        assert_eq!(body, b"HTTP/2.0"); // what the server saw
    }
    // Eight requests in flight at once over the one HTTP/2 connection.
    assert_eq!(counters.connections.load(Ordering::SeqCst), 1);
    assert_eq!(counters.peak.load(Ordering::SeqCst), 8);
}

#[test]
fn http1_over_tls_when_http2_is_off() {
    let (port, _) = upstream::start(true, Duration::ZERO);
    let client = tls_client(false, 100);
    let got = run_concurrently(&client, &format!("https://127.0.0.1:{port}/"), 2);
    for (version, body) in &got {
        assert_eq!(*version, "HTTP/1.1");
        assert_eq!(body, b"HTTP/1.1");
    }
}

#[test]
fn connection_limit_bounds_connections_and_requests_in_flight() {
    use std::sync::atomic::Ordering;
    let (port, counters) = upstream::start(false, Duration::from_millis(100));
    let client = Client::new(ClientConfig { max_connections: 3, trust_env: false, ..ClientConfig::default() }).unwrap();
    let got = run_concurrently(&client, &format!("http://127.0.0.1:{port}/"), 12);
    assert!(got.iter().all(|(v, b)| *v == "HTTP/1.1" && b == b"HTTP/1.1"));
    // 12 requests, at most 3 at once, over at most 3 kept-alive connections.
    assert_eq!(counters.peak.load(Ordering::SeqCst), 3);
    assert!(counters.connections.load(Ordering::SeqCst) <= 3, "{:?}", counters.connections);
    // Unbounded: all 12 at once.
    let (port, counters) = upstream::start(false, Duration::from_millis(100));
    let client = Client::new(ClientConfig { max_connections: 0, trust_env: false, ..ClientConfig::default() }).unwrap();
    run_concurrently(&client, &format!("http://127.0.0.1:{port}/"), 12);
    assert_eq!(counters.peak.load(Ordering::SeqCst), 12);
}
