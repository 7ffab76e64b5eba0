//! Bindings for the transport component: argument conversion and GIL handling
//! around `fast_litellm_core::transport`.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fast_litellm_core::transport::{
    shared_client, CallHandle, ChannelSink, Client, ClientConfig, Event, EventSink, Reactor, Request, Timeouts,
};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

fn secs(v: Option<f64>) -> Option<Duration> {
    v.filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

/// One pool of upstream connections (shared by transports with equal settings).
#[pyclass(module = "fast_litellm._native", frozen)]
struct HttpClient {
    client: Client,
}

fn convert_request(
    method: &str,
    url: &str,
    headers: &Bound<'_, PyAny>,
    body: &Bound<'_, PyBytes>,
    timeouts: (Option<f64>, Option<f64>, Option<f64>, Option<f64>),
) -> PyResult<Request> {
    let mut hs = Vec::new();
    for item in headers.try_iter()? {
        let item = item?;
        // `(name, value)`, or httpx's own `(raw name, lower name, value)` entries.
        let pair = item.downcast::<PyTuple>()?;
        let name = pair.get_item(0)?;
        let value = pair.get_item(pair.len() - 1)?;
        let name = name.downcast::<PyBytes>()?.as_bytes().to_vec();
        let value = value.downcast::<PyBytes>()?.as_bytes().to_vec();
        hs.push((name, value));
    }
    Ok(Request {
        method: method.to_owned(),
        url: url.to_owned(),
        headers: hs,
        body: body.as_bytes().to_vec(),
        timeouts: Timeouts {
            connect: secs(timeouts.0),
            read: secs(timeouts.1),
            write: secs(timeouts.2),
            pool: secs(timeouts.3),
        },
    })
}

#[pymethods]
impl HttpClient {
    #[new]
    #[pyo3(signature = (*, verify=true, ca_pem=None, http2=true, max_connections=100, max_keepalive=20,
                        keepalive_expiry=Some(5.0), connect_timeout=None, trust_env=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        verify: bool,
        ca_pem: Option<Vec<u8>>,
        http2: bool,
        max_connections: usize,
        max_keepalive: usize,
        keepalive_expiry: Option<f64>,
        connect_timeout: Option<f64>,
        trust_env: bool,
    ) -> PyResult<Self> {
        let config = ClientConfig {
            verify,
            ca_pem,
            http2,
            max_connections,
            max_keepalive,
            keepalive_expiry: secs(keepalive_expiry),
            connect_timeout: secs(connect_timeout),
            trust_env,
        };
        let client = shared_client(config).map_err(PyValueError::new_err)?;
        Ok(HttpClient { client })
    }

    /// Start a request whose events go to `reactor` under `id`.
    #[pyo3(signature = (reactor, id, method, url, headers, body, timeouts, credit=8))]
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &self,
        reactor: &Bound<'_, AsyncReactor>,
        id: u64,
        method: &str,
        url: &str,
        headers: &Bound<'_, PyAny>,
        body: &Bound<'_, PyBytes>,
        timeouts: (Option<f64>, Option<f64>, Option<f64>, Option<f64>),
        credit: usize,
    ) -> PyResult<Call> {
        let request = convert_request(method, url, headers, body, timeouts)?;
        let sink: Arc<dyn EventSink> = reactor.get().inner.clone();
        Ok(Call { handle: self.client.submit(request, id, sink, credit) })
    }

    /// Start a request read with blocking calls (the sync transport).
    #[pyo3(signature = (method, url, headers, body, timeouts, credit=8))]
    fn submit_blocking(
        &self,
        method: &str,
        url: &str,
        headers: &Bound<'_, PyAny>,
        body: &Bound<'_, PyBytes>,
        timeouts: (Option<f64>, Option<f64>, Option<f64>, Option<f64>),
        credit: usize,
    ) -> PyResult<BlockingCall> {
        let request = convert_request(method, url, headers, body, timeouts)?;
        let (tx, rx) = mpsc::channel();
        let handle = self.client.submit(request, 0, Arc::new(ChannelSink(tx)), credit);
        Ok(BlockingCall { handle, rx: Mutex::new(rx) })
    }
}

/// A request in flight.
#[pyclass(module = "fast_litellm._native", frozen)]
struct Call {
    handle: CallHandle,
}

#[pymethods]
impl Call {
    /// Abort the request (closes the upstream connection if it is mid-request).
    fn cancel(&self) {
        self.handle.cancel();
    }

    /// Let the request read `n` more body chunks.
    fn grant(&self, n: usize) {
        self.handle.grant(n);
    }
}

/// A request in flight, read with blocking calls (GIL released while waiting).
#[pyclass(module = "fast_litellm._native", frozen)]
struct BlockingCall {
    handle: CallHandle,
    rx: Mutex<mpsc::Receiver<Event>>,
}

#[pymethods]
impl BlockingCall {
    fn cancel(&self) {
        self.handle.cancel();
    }

    fn grant(&self, n: usize) {
        self.handle.grant(n);
    }

    /// The next event as a tuple (see `AsyncReactor.drain`), waiting for it.
    fn next_event<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        loop {
            let got = py.allow_threads(|| {
                let rx = self.rx.lock().unwrap_or_else(|e| e.into_inner());
                rx.recv_timeout(Duration::from_millis(200))
            });
            match got {
                Ok(event) => return event_tuple(py, 0, event),
                Err(mpsc::RecvTimeoutError::Timeout) => py.check_signals()?,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return event_tuple(
                        py,
                        0,
                        Event::Error(
                            fast_litellm_core::transport::ErrorKind::ReadError,
                            "the request was cancelled".into(),
                        ),
                    )
                }
            }
        }
    }
}

impl Drop for BlockingCall {
    fn drop(&mut self) {
        self.handle.cancel();
    }
}

/// Delivers request events to one asyncio loop: watch `fileno()` for
/// readability, then `drain()`.
#[pyclass(module = "fast_litellm._native", frozen)]
struct AsyncReactor {
    inner: Arc<Reactor>,
}

#[pymethods]
impl AsyncReactor {
    #[new]
    fn new() -> PyResult<Self> {
        let inner = Reactor::new().map_err(|e| PyOSError::new_err(e.to_string()))?;
        Ok(AsyncReactor { inner: Arc::new(inner) })
    }

    fn fileno(&self) -> i32 {
        self.inner.fileno()
    }

    /// Start a batch of requests: `[(client, id, method, url, headers, body, timeouts), ...]`.
    /// One call per event-loop iteration wakes the runtime once for the batch.
    #[pyo3(signature = (batch, credit=8))]
    fn submit_many(&self, batch: &Bound<'_, PyList>, credit: usize) -> PyResult<()> {
        let mut prepared = Vec::with_capacity(batch.len());
        // What was prepared starts even if a later item is malformed.
        let result = self.prepare_all(batch, credit, &mut prepared);
        fast_litellm_core::transport::start_batch(prepared);
        result
    }

    fn cancel(&self, id: u64) {
        self.inner.cancel(id);
    }

    fn grant(&self, id: u64, n: usize) {
        self.inner.grant(id, n);
    }

    fn in_flight(&self) -> usize {
        self.inner.in_flight()
    }

    /// Every event queued since the last call, as tuples:
    /// `(id, 0, status, [(name, lower name, value)], http_version, body, eof, plain)` for a head
    /// (`plain`: complete, framed by Content-Length or empty, not content-encoded),
    /// `(id, 1, data, eof)` for a body chunk, `(id, 2, kind, message)` for an error.
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let events = self.inner.drain();
        let list = PyList::empty(py);
        for (id, event) in events {
            list.append(event_tuple(py, id, event)?)?;
        }
        Ok(list)
    }
}

impl AsyncReactor {
    fn prepare_all(
        &self,
        batch: &Bound<'_, PyList>,
        credit: usize,
        prepared: &mut Vec<fast_litellm_core::transport::Prepared>,
    ) -> PyResult<()> {
        for item in batch.iter() {
            let t = item.downcast::<PyTuple>()?;
            let client = t.get_item(0)?;
            let client = client.downcast::<HttpClient>()?;
            let id: u64 = t.get_item(1)?.extract()?;
            let method: String = t.get_item(2)?.extract()?;
            let url: String = t.get_item(3)?.extract()?;
            let body = t.get_item(5)?;
            let timeouts: (Option<f64>, Option<f64>, Option<f64>, Option<f64>) = t.get_item(6)?.extract()?;
            let request = convert_request(
                &method,
                &url,
                &t.get_item(4)?,
                body.downcast::<PyBytes>()?,
                timeouts,
            );
            let request = match request {
                Ok(r) => r,
                Err(e) => {
                    self.inner.deliver(
                        id,
                        Event::Error(fast_litellm_core::transport::ErrorKind::LocalProtocolError, e.to_string()),
                    );
                    continue;
                }
            };
            let sink: Arc<dyn EventSink> = self.inner.clone();
            let reactor = self.inner.clone();
            let (p, _) = client.get().client.prepare(request, id, sink, credit, |h| reactor.track(id, h.clone()));
            prepared.extend(p);
        }
        Ok(())
    }
}

fn join_bytes<'py>(py: Python<'py>, parts: &[bytes::Bytes]) -> PyResult<Bound<'py, PyBytes>> {
    if parts.len() == 1 {
        return Ok(PyBytes::new(py, &parts[0]));
    }
    let total: usize = parts.iter().map(|p| p.len()).sum();
    PyBytes::new_with(py, total, |buf| {
        let mut at = 0;
        for p in parts {
            buf[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        Ok(())
    })
}

fn event_tuple<'py>(py: Python<'py>, id: u64, event: Event) -> PyResult<Bound<'py, PyTuple>> {
    match event {
        Event::Head(h) => {
            // httpx's `Headers._list` entries: `(raw name, lower name, value)`; hyper's names
            // are lower case already, so one bytes object serves as both.
            let headers = PyList::empty(py);
            for (name, value) in &h.headers {
                let name = PyBytes::new(py, name);
                headers.append((name.clone(), name, PyBytes::new(py, value)))?;
            }
            let body = join_bytes(py, &h.body)?;
            (id, 0u8, h.status, headers, h.version, body, h.eof, h.plain).into_pyobject(py)
        }
        Event::Chunk(data, eof) => (id, 1u8, PyBytes::new(py, &data), eof).into_pyobject(py),
        Event::Error(kind, msg) => (id, 2u8, kind.name(), msg).into_pyobject(py),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<HttpClient>()?;
    m.add_class::<Call>()?;
    m.add_class::<BlockingCall>()?;
    m.add_class::<AsyncReactor>()?;
    Ok(())
}
