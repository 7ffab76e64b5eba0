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
