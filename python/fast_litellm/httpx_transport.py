"""httpx transports backed by Fast LiteLLM's Rust HTTP client.

``fast_litellm.AsyncHTTPTransport`` and ``fast_litellm.HTTPTransport`` plug into
any ``httpx.AsyncClient(transport=...)`` / ``httpx.Client(transport=...)``. The
requests run on a tokio runtime (hyper + rustls, keep-alive pools per upstream,
HTTP/2 over TLS when the server offers it) with the GIL released; asyncio is
woken once per batch of finished requests through a pipe the loop watches.

Behaviour that matters to LiteLLM:

* response bodies are streamed chunk by chunk (the head is reported as soon as
  it arrives, with any body bytes already received);
* cancelling the awaiting task, or closing the response early, aborts the
  upstream request;
* failures raise the httpx exceptions httpx's own transport raises
  (``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``, ``PoolTimeout``,
  ``RemoteProtocolError``...);
* ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` are honoured when
  ``trust_env`` is true (the default);
* bodies arrive as sent: httpx decodes ``Content-Encoding`` as usual;
* a small response that arrived whole with its head, framed by
  ``Content-Length`` and not content-encoded, is handed to httpx as ready
  content, in the state ``httpx.Response(content=...)`` leaves it (read,
  closed, the headers untouched; checked against httpx's own path at import):
  httpx skips its body iteration and ``elapsed`` is set as httpx sets it. Only ``aiter_raw()`` after
  ``send(stream=True)`` differs for such a response (``StreamConsumed``, as
  after ``aread()``); ``aiter_bytes``/``aiter_text``/``aiter_lines`` work.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import ssl
from collections import deque
from datetime import timedelta
from time import perf_counter
from typing import Any, Deque, Dict, Iterator, Optional, Tuple, Union

import httpx

__all__ = ["AsyncHTTPTransport", "HTTPTransport"]

_ids = itertools.count(1)
_CREDIT = 8  # body chunks read ahead of the consumer
_GRANT_BATCH = _CREDIT // 2

_HEAD, _CHUNK, _ERROR = 0, 1, 2


def _native() -> Any:
    from . import _native as native

    return native


def _exception(kind: str, message: str, request: httpx.Request) -> Exception:
    cls = getattr(httpx, kind, httpx.TransportError)
    if cls is httpx.InvalidURL:
        return cls(message)
    return cls(message, request=request)


def _ca_pem(verify: Union[bool, str, ssl.SSLContext], trust_env: bool) -> Tuple[bool, Optional[bytes]]:
    if verify is False:
        return False, None
    if isinstance(verify, ssl.SSLContext):
        raise ValueError(
            "fast_litellm transports take verify=True/False or a CA bundle path, not an SSLContext"
        )
    path: Optional[str]
    if isinstance(verify, str):
        path = verify
    else:
        path = None
        if trust_env:
            env = os.environ.get("SSL_CERT_FILE")
            if env and os.path.isfile(env):
                path = env
        if path is None:
            import certifi

            path = certifi.where()
    if os.path.isdir(path):
        parts = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if os.path.isfile(full) and name.endswith((".pem", ".crt")):
                with open(full, "rb") as fh:
                    parts.append(fh.read())
        return True, b"\n".join(parts)
    with open(path, "rb") as fh:
        return True, fh.read()


class _Pools:
    """The native clients of one transport, one per connect timeout seen."""

    def __init__(
        self,
        verify: Union[bool, str, ssl.SSLContext],
        cert: Any,
        http2: bool,
        limits: httpx.Limits,
        trust_env: bool,
    ) -> None:
        if cert is not None:
            raise ValueError("fast_litellm transports do not support client certificates (cert=...)")
        self.verify, self.ca_pem = _ca_pem(verify, trust_env)
        self.http2 = http2
        self.max_connections = limits.max_connections or 0
        keepalive = limits.max_keepalive_connections
        self.max_keepalive = keepalive if keepalive is not None else (self.max_connections or 1 << 30)
        self.keepalive_expiry = limits.keepalive_expiry
        self.trust_env = trust_env
        self.clients: Dict[Optional[float], Any] = {}
        self.get(None)  # configuration errors surface now

    def get(self, connect_timeout: Optional[float]) -> Any:
        client = self.clients.get(connect_timeout)
        if client is None:
            client = _native().HttpClient(
                verify=self.verify,
                ca_pem=self.ca_pem,
                http2=self.http2,
                max_connections=self.max_connections,
                max_keepalive=self.max_keepalive,
                keepalive_expiry=self.keepalive_expiry,
                connect_timeout=connect_timeout,
                trust_env=self.trust_env,
            )
            self.clients[connect_timeout] = client
        return client


def _timeouts(request: httpx.Request) -> Tuple[Optional[float], ...]:
    t = request.extensions.get("timeout")
    if not t:
        return (None, None, None, None)
    return (t.get("connect"), t.get("read"), t.get("write"), t.get("pool"))


# ---------------------------------------------------------------- asyncio


class _Reactor:
    """One per (process, event loop): routes native events to futures and streams."""

    __slots__ = ("native", "loop", "calls", "fd", "batch")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.native = _native().AsyncReactor()
        self.loop = loop
        self.calls: Dict[int, Any] = {}
        self.batch: list = []  # requests to start at the end of this loop iteration
        self.fd = self.native.fileno()
        loop.add_reader(self.fd, self._on_readable)

    def _flush(self) -> None:
        batch, self.batch = self.batch, []
        calls = self.calls
        live = [b for b in batch if b[1] in calls]
        if live:
            self.native.submit_many(live, _CREDIT)

    def _on_readable(self) -> None:
        calls = self.calls
        for event in self.native.drain():
            target = calls.get(event[0])
            if target is None:
                continue
            if type(target) is _AsyncStream:
                target._feed(event)
                continue
            # A future waiting for the head (or an error).
            if event[1] == _HEAD and not event[6]:
                stream = _AsyncStream(self, event[0], event[5])
                calls[event[0]] = stream
                if not target.done():
                    target.set_result((event, stream))
                else:
                    stream._abandon()
            else:
                del calls[event[0]]
                if not target.done():
                    target.set_result((event, None))

    def close(self) -> None:
        try:
            if not self.loop.is_closed():
                self.loop.remove_reader(self.fd)
        except Exception:
            pass


_reactors: Dict[asyncio.AbstractEventLoop, _Reactor] = {}


def _reactor_for(loop: asyncio.AbstractEventLoop) -> _Reactor:
    reactor = _reactors.get(loop)
    if reactor is None:
        for old in [lp for lp in _reactors if lp.is_closed()]:
            _reactors.pop(old).close()
        reactor = _reactors[loop] = _Reactor(loop)
    return reactor


def _after_fork_in_child() -> None:
    # The parent's loops and pipes are not ours; the native runtime restarts itself.
    _reactors.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _AsyncStream(httpx.AsyncByteStream):
    """A response body arriving from the native side, chunk by chunk."""

    def __init__(self, reactor: _Reactor, call_id: int, first: bytes) -> None:
        self._reactor = reactor
        self._id = call_id
        self._chunks: Deque[bytes] = deque()
        if first:
            self._chunks.append(first)
        self._granted_first = not first  # the head's bytes cost no credit
        self._owed = 0  # chunks consumed but not yet given back as credit
        self._done = False
        self._error: Optional[Tuple[str, str]] = None
        self._waiter: Optional[asyncio.Future] = None
        self.request: Optional[httpx.Request] = None

    def _feed(self, event: tuple) -> None:
        if event[1] == _CHUNK:
            if event[2]:
                self._chunks.append(event[2])
            if event[3]:
                self._done = True
        else:
            self._error = (event[2], event[3])
            self._done = True
        if self._done:
            self._reactor.calls.pop(self._id, None)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _abandon(self) -> None:
        self._done = True
        self._reactor.calls.pop(self._id, None)
        self._reactor.native.cancel(self._id)

    async def __aiter__(self):  # type: ignore[override]
        chunks = self._chunks
        while True:
            if chunks:
                # Everything already here goes out as one piece: the bytes are
                # the same, and httpx / the SSE decoder iterate once, not once
                # per network read.
                n = len(chunks)
                if n == 1:
                    data = chunks.popleft()
                else:
                    data = b"".join(chunks)
                    chunks.clear()
                if not self._granted_first:
                    self._granted_first = True  # the head's bytes cost no credit
                    n -= 1
                if n:
                    # Credit goes back in batches of half the window: one
                    # native call per few chunks, read-ahead still bounded.
                    self._owed += n
                    if self._owed >= _GRANT_BATCH:
                        self._reactor.native.grant(self._id, self._owed)
                        self._owed = 0
                yield data
                continue
            if self._error is not None:
                kind, message = self._error
                self._error = None
                raise _exception(kind, message, self.request)  # type: ignore[arg-type]
            if self._done:
                return
            self._waiter = self._reactor.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def aclose(self) -> None:
        if not self._done:
            self._abandon()


class _Complete(httpx.AsyncByteStream, httpx.SyncByteStream):
    """A body that arrived whole with the head."""

    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self):  # type: ignore[override]
        if self._body:
            yield self._body

    def __iter__(self) -> Iterator[bytes]:
        if self._body:
            yield self._body


def _headers_slow(entries: list) -> httpx.Headers:
    return httpx.Headers([(name, value) for name, _, value in entries])


def _headers_fast(entries: list) -> httpx.Headers:
    # The native side delivers httpx's own ``Headers._list`` entries
    # ``(raw name, lower name, value)`` (hyper's names are lower case, so raw and
    # lower are one object): adopt the list instead of normalizing every pair.
    headers = httpx.Headers.__new__(httpx.Headers)
    headers._list = entries
    headers._encoding = None
    return headers


def _pick_headers() -> Any:
    """``_headers_fast`` if it builds a Headers equal in state to httpx's own
    constructor with this httpx (checked once), else httpx's constructor."""
    try:
        entries = [(b"content-type", b"content-type", b"application/json"), (b"x-a", b"x-a", b"1"),
                   (b"x-a", b"x-a", b"\xe9")]
        a, b = _headers_slow(list(entries)), _headers_fast(list(entries))
        if vars(a) != vars(b) or a.raw != b.raw or a.multi_items() != b.multi_items() or dict(a) != dict(b):
            return _headers_slow
        return _headers_fast
    except Exception:
        return _headers_slow


_make_headers = _pick_headers()
# Requests: hand httpx's own ``(raw, lower, value)`` entries over as they are
# (the native side reads the first and last item) when they have that shape.
_REQUEST_ENTRIES = _make_headers is _headers_fast and isinstance(getattr(httpx.Headers({"a": "b"}), "_list", None), list)


def _request_headers(headers: httpx.Headers) -> list:
    return headers._list if _REQUEST_ENTRIES else headers.raw  # type: ignore[attr-defined]


_VERSIONS = {"HTTP/1.1": b"HTTP/1.1", "HTTP/2": b"HTTP/2", "HTTP/1.0": b"HTTP/1.0"}


def _version(name: str) -> bytes:
    v = _VERSIONS.get(name)
    return v if v is not None else name.encode("ascii")


def _ready_slow(status: int, headers: list, body: bytes, version: bytes) -> httpx.Response:
    # httpx's own ``Response(content=...)``: reads the body at once (it adds no
    # header: the Content-Length is there, or the body is empty).
    return httpx.Response(status, headers=headers, content=body, extensions={"http_version": version})


def _ready_fast(status: int, headers: list, body: bytes, version: bytes) -> httpx.Response:
    # The state ``Response(content=...)`` reaches after its ``read()``, without
    # running httpx's synchronous body pipeline (chunker, decoder, request
    # context) over a body that is already whole and identity-encoded.
    response = httpx.Response(status, headers=headers, stream=httpx.ByteStream(body),
                              extensions={"http_version": version})
    response._content = body
    response.is_stream_consumed = True
    response.is_closed = True
    return response


def _same_state(a: httpx.Response, b: httpx.Response) -> bool:
    skip = ("stream", "headers", "_decoder")
    da = {k: v for k, v in vars(a).items() if k not in skip}
    db = {k: v for k, v in vars(b).items() if k not in skip}
    return (
        da == db
        and a.headers.multi_items() == b.headers.multi_items()
        and a.headers.raw == b.headers.raw
        and type(a.stream) is type(b.stream)
        and list(a.stream) == list(b.stream)  # type: ignore[arg-type]
    )


def _pick_ready() -> Any:
    """``_ready_fast`` if it leaves a Response exactly as ``_ready_slow`` does
    with this httpx (checked once on a few shapes), else httpx's own path."""
    try:
        for status, headers, body in (
            (200, [(b"Content-Type", b"application/json"), (b"Content-Length", b"7")], b'{"a":1}'),
            (204, [(b"x-a", b"1"), (b"X-A", b"2")], b""),
            (404, [(b"content-length", b"3"), (b"content-type", b"text/plain; charset=latin-1")], b"\xe9\xe8!"),
        ):
            headers = _make_headers([(k, k.lower(), v) for k, v in headers])
            a = _ready_slow(status, headers, body, b"HTTP/1.1")
            b = _ready_fast(status, headers, body, b"HTTP/1.1")
            if not _same_state(a, b) or a.text != b.text or b.read() != body:
                return _ready_slow
        return _ready_fast
    except Exception:
        return _ready_slow


_ready_response = _pick_ready()


def _ready(event: tuple, start: float) -> httpx.Response:
    # A whole, Content-Length framed, identity-encoded body.
    response = _ready_response(event[2], _make_headers(event[3]), event[5], _version(event[4]))
    response.elapsed = timedelta(seconds=perf_counter() - start)
    return response


class AsyncHTTPTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` running requests on Fast LiteLLM's Rust client.

    ``verify`` is True (certifi's roots, or ``SSL_CERT_FILE`` when ``trust_env``),
    False, or the path of a CA bundle. ``limits.max_connections`` bounds the
    requests (and so connections) in flight; waiting longer than the request's
    pool timeout for one raises ``httpx.PoolTimeout``.
    """

    def __init__(
        self,
        verify: Union[bool, str, ssl.SSLContext] = True,
        cert: Any = None,
        http2: bool = True,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
        trust_env: bool = True,
    ) -> None:
        self._pools = _Pools(verify, cert, http2, limits, trust_env)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loop = asyncio.get_running_loop()
        reactor = _reactors.get(loop) or _reactor_for(loop)
        timeouts = _timeouts(request)
        client = self._pools.clients.get(timeouts[0]) or self._pools.get(timeouts[0])
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        start = perf_counter()
        call_id = next(_ids)
        future = loop.create_future()
        reactor.calls[call_id] = future
        batch = reactor.batch
        batch.append((client, call_id, request.method, str(request.url), _request_headers(request.headers), body,
                      timeouts))
        if len(batch) == 1:
            loop.call_soon(reactor._flush)
        try:
            event, stream = await future
        except BaseException:  # cancelled: stop the upstream request
            target = reactor.calls.pop(call_id, None)
            reactor.native.cancel(call_id)
            if isinstance(target, _AsyncStream):
                target._done = True
            raise
        if event[1] == _ERROR:
            raise _exception(event[2], event[3], request)
        if stream is None:
            if event[7]:
                return _ready(event, start)
            stream = _Complete(event[5])
        else:
            stream.request = request
        return httpx.Response(
            event[2],
            headers=_make_headers(event[3]),
            stream=stream,
            extensions={"http_version": _version(event[4])},
        )

    async def aclose(self) -> None:
        # Pools are shared by every transport with the same settings and keep
        # their idle connections until they expire; nothing is left unclosed.
        pass


# ---------------------------------------------------------------- blocking


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, call: Any, first: bytes, request: httpx.Request) -> None:
        self._call = call
        self._first = first
        self._request = request
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        if self._first:
            first, self._first = self._first, b""
            yield first
        owed = 0  # credit given back in batches, as in the async stream (never more than the window owed)
        while not self._done:
            event = self._call.next_event()
            if event[1] == _CHUNK:
                if event[3]:
                    self._done = True
                else:
                    owed += 1
                    if owed >= _GRANT_BATCH:
                        self._call.grant(owed)
                        owed = 0
                if event[2]:
                    yield event[2]
            else:
                self._done = True
                raise _exception(event[2], event[3], self._request)

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._call.cancel()


class HTTPTransport(httpx.BaseTransport):
    """The blocking counterpart of :class:`AsyncHTTPTransport` (GIL released while waiting)."""

    def __init__(
        self,
        verify: Union[bool, str, ssl.SSLContext] = True,
        cert: Any = None,
        http2: bool = True,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
        trust_env: bool = True,
    ) -> None:
        self._pools = _Pools(verify, cert, http2, limits, trust_env)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = _timeouts(request)
        client = self._pools.clients.get(timeouts[0]) or self._pools.get(timeouts[0])
        body = request.read()
        start = perf_counter()
        call = client.submit_blocking(request.method, str(request.url), _request_headers(request.headers), body, timeouts,
                                      _CREDIT)
        event = call.next_event()
        if event[1] == _ERROR:
            raise _exception(event[2], event[3], request)
        stream: httpx.SyncByteStream
        if event[7]:
            return _ready(event, start)
        if event[6]:
            stream = _Complete(event[5])
        else:
            stream = _SyncStream(call, event[5], request)
        return httpx.Response(
            event[2],
            headers=_make_headers(event[3]),
            stream=stream,
            extensions={"http_version": _version(event[4])},
        )

    def close(self) -> None:
        pass

