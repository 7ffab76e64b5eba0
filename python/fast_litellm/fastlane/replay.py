"""LiteLLM's success logging for requests the fast lane served in Rust.

The Rust front answers some chat completions without LiteLLM's Python proxy, so
LiteLLM never sees them: no ``CustomLogger`` events, no Prometheus counters, no spend.
This module closes that gap off the request path:

1. The front (``crates/fastlane/src/logq.rs``) leaves one compact JSON record per
   request it served in a bounded in-memory queue: the client's request as received
   (path, headers, body, peer address), the upstream's answer as received (status,
   headers, body), the call id the response header carried, model group, deployment
   id, api_base, start/upstream/end times. ``push`` never blocks; a full queue drops
   the record and counts the drop (``_native.fastlane_log_stats()``, the front's
   ``GET /_fast_litellm/stats``).
2. In the launcher process, :class:`Drainer` threads take batches from the queue
   (``_native.fastlane_drain``, GIL released while waiting) and POST them to an
   internal route of the LiteLLM proxy process on its private 127.0.0.1 port,
   guarded by a random per-launch secret passed in the child's environment
   (``FAST_LITELLM_LANE_LOG_SECRET``). The front never forwards ``/_fast_litellm/...``
   from the public port. A batch is answered only once its records were logged, so a
   slow LiteLLM makes the queue fill up and drop (counted) instead of growing without
   bound anywhere.
3. In the proxy process, :func:`arm` (run at start-up by the launcher's
   ``sitecustomize``) adds that route to LiteLLM's FastAPI app. Each record is
   replayed in-process, its single upstream call (``POST <api_base>/chat/completions``
   of that deployment) answered by the recorded upstream answer instead of the network
   (one-shot, inside this replay's context only; any other call to that api_base during
   a replay fails rather than reaching the upstream). For a group of several
   deployments, a routing filter (``CustomLogger.async_filter_deployments``, registered
   only then) makes the router pick the deployment the front picked. Two ways:

   * the full replay: an ASGI request built from the client's request (plus
     ``x-litellm-call-id`` set to the id the client saw) through LiteLLM's whole app
     (middleware, routing, auth, the endpoint, the JSON answer nobody reads);
   * the light replay (:class:`_Direct`, the default once verified): the same request
     object handed straight to what FastAPI would call for the route -- the route's
     auth dependency (``user_api_key_auth``) and its endpoint (``chat_completion``).
     The first record of a path goes through the full replay, which shows the
     endpoint and route FastAPI really dispatched it to; the light replay is used for
     that path only if they have the verified shape (see :class:`_Direct`), otherwise
     every record of it keeps the full replay. A light replay that fails before its
     upstream call was answered is redone in full. ``FAST_LITELLM_FAST_LANE_LOG_REPLAY=full``
     keeps every record on the full replay.

   Either way LiteLLM's proxy builds the Logging object, the metadata it attaches for
   the master key (user_api_key_hash, model group, deployment model_id, api_base...),
   the ModelResponse, ``response_cost`` and the standard logging payload itself and
   runs its success handlers (``litellm.callbacks``,
   ``CustomLogger.async_log_success_event``/``log_success_event``, Prometheus) exactly
   as for a request it served, on both verified versions, with no copy of that logic here.
4. Replays run concurrently (``FAST_LITELLM_LANE_LOG_CONCURRENCY``, default 32, at once
   on the CPU); a replay gives up its place while it waits out the recorded upstream
   latency, so long upstream latencies do not cap the rate (in flight: at most the
   drainer's threads x batch of 256).

What differs from the stock proxy (the replay happens after the fact):
* timestamps: start/end times are those of the replay, not of the original request;
  the replay's upstream step waits as long as the real upstream call took, so
  durations (and Prometheus latency histograms) include the real upstream latency
  plus the replay's own processing, not the front's (much smaller) overhead;
* the logged request headers include ``x-litellm-call-id`` (so logs join the response
  header the client saw);
* the CPU cost: a light replay still runs LiteLLM's auth, pre-call processing, router,
  response building and success handlers (~12 ms of CPU per record on 1.110.2, ~5 ms on
  1.83.14 on the reference box, see docs/benchmarks/proxy.md), so under sustained load above
  that rate the queue fills (then requests go to LiteLLM, or records are dropped and counted);
* streams: the record holds the upstream's whole SSE body and is queued once the stream
  ended in shape (a stream cut mid-way leaves no record, it is counted in ``aborted``; one
  over 8 MiB of SSE is counted as a dropped record); the replay waits until the first event
  had come, then LiteLLM reads the recorded events at once, so ``completion_start_time``
  (time to first token) is the replay's, like the other timestamps.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import http.client
import json
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional

SECRET_ENV = "FAST_LITELLM_LANE_LOG_SECRET"
ROUTE = "/_fast_litellm/lane-log"
SECRET_HEADER = "x-fast-litellm-secret"
_PROXY_MODULE = "litellm.proxy.proxy_server"


# -- proxy process side ------------------------------------------------------------


class _Slot:
    """One replay's place among the replays allowed to use the CPU at once.

    Given up while the replay waits out the recorded upstream latency (that wait costs
    no CPU; holding the place through it would cap the logging rate at
    ``concurrency / upstream latency``, a few records/s with real LLM latencies). The
    records in flight stay bounded by the drainer (threads x batch size).
    """

    __slots__ = ("sem", "held")

    def __init__(self, sem: asyncio.Semaphore) -> None:
        self.sem, self.held = sem, False

    async def acquire(self) -> None:
        await self.sem.acquire()
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.sem.release()


class _Canned:
    """The one upstream answer a replay's upstream call gets.

    A logging record (``body`` None) replays a call the front already made: after its
    answer, any other call to that api_base fails. A held answer (``held``, with
    ``body`` as received and all headers) answers LiteLLM's first call; what LiteLLM does
    after it (retries, fallbacks) goes to the network, as stock's would; ``error`` makes
    that first call fail the way the front's failed (``"timeout"``, ``"connect"``).
    """

    __slots__ = ("url", "base", "status", "headers", "body", "delay", "used", "slot", "error", "then_network")

    def __init__(self, rec: dict, body: Optional[bytes] = None) -> None:
        self.url = rec["upstream_url"]
        self.base = rec["api_base"]
        self.status = int(rec["status"])
        self.error: Optional[str] = rec.get("error")
        self.then_network = body is not None
        if body is None:
            self.headers = [(k, v) for k, v in rec["response_headers"] if k.lower() not in ("content-length", "transfer-encoding")]
            self.body = rec["response"].encode("utf-8")
        else:
            self.headers = [(k, v) for k, v in rec["response_headers"]]
            self.body = body
        self.delay = min(max(float(rec.get("upstream_done", 0)) - float(rec.get("start", 0)), 0.0), 30.0)
        self.used = False
        self.slot: Optional[_Slot] = None


_CANNED: contextvars.ContextVar[Optional[_Canned]] = contextvars.ContextVar("fast_litellm_lane_canned", default=None)
# The deployment the front chose, for groups with several: LiteLLM's router must pick it again.
_PIN: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("fast_litellm_lane_pin", default=None)
_pinner: Any = None


def _ensure_pinner() -> None:
    """Register (once) a routing filter that keeps only the pinned deployment during a replay.

    ``CustomLogger.async_filter_deployments`` is the router's public filter hook on both
    verified versions (the Python router's ``async_callback_filter_deployments``, 1.110.2's
    Rust core's ``callback_filters`` stage); outside a replay it returns the list as given.
    Only registered once a record needs it (a served group with several deployments).
    """
    global _pinner
    if _pinner is not None:
        return
    import litellm
    from litellm.integrations.custom_logger import CustomLogger

    class _LanePin(CustomLogger):
        async def async_filter_deployments(self, model, healthy_deployments, messages, request_kwargs=None,
                                           parent_otel_span=None):
            pin = _PIN.get()
            if pin is None or not isinstance(healthy_deployments, list):
                return healthy_deployments
            canned = _CANNED.get()
            if canned is not None and canned.then_network and canned.used:
                return healthy_deployments  # after a held answer: LiteLLM's retries pick as stock's do
            kept = [d for d in healthy_deployments if isinstance(d, dict) and (d.get("model_info") or {}).get("id") == pin]
            return kept or healthy_deployments

    _pinner = _LanePin()
    litellm.callbacks.append(_pinner)
_wait = asyncio.sleep  # how a replay waits out the recorded upstream latency (a seam for tests)
_stats = {"replayed": 0, "failed": 0, "not_canned": 0, "light": 0, "full": 0, "prometheus": 0}
_httpx_patched = False


def _patch_httpx() -> None:
    """Answer the replay's one upstream call from the record (only inside a replay)."""
    global _httpx_patched
    if _httpx_patched:
        return
    import httpx

    original = httpx.AsyncClient.send

    async def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        canned = _CANNED.get()
        if canned is not None:
            url = str(request.url)
            if not canned.used and request.method == "POST" and url == canned.url:
                canned.used = True
                if canned.error == "timeout":
                    raise httpx.ReadTimeout("fast-litellm: the upstream did not answer in time", request=request)
                if canned.error is not None:
                    raise httpx.ConnectError("fast-litellm: the upstream connection failed", request=request)
                if canned.delay:
                    slot = canned.slot
                    if slot is not None:
                        slot.release()
                    try:
                        await _wait(canned.delay)
                    finally:
                        if slot is not None:
                            await slot.acquire()
                return httpx.Response(canned.status, headers=canned.headers, content=canned.body, request=request)
            if url.startswith(canned.base) and not canned.then_network:
                # A replay never calls the upstream itself (that would be a second, paid call).
                raise httpx.ConnectError("fast-litellm: a logging replay does not call the upstream", request=request)
        return await original(self, request, *args, **kwargs)

    send.__wrapped__ = original  # type: ignore[attr-defined]
    httpx.AsyncClient.send = send  # type: ignore[method-assign]
    _httpx_patched = True


def _scope(rec: dict) -> dict:
    """The ASGI scope of the client's request as the front received it (plus the call id it answered with)."""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in rec["headers"] if k.lower() != "x-litellm-call-id"]
    if rec.get("call_id"):
        headers.append((b"x-litellm-call-id", rec["call_id"].encode("latin-1")))
    peer = rec.get("peer") or ["127.0.0.1", 0]
    path = rec["path"]
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": rec.get("method", "POST"), "scheme": "http", "path": path, "raw_path": path.encode(),
        "root_path": "", "query_string": b"", "headers": headers, "client": (peer[0], int(peer[1])),
        "server": ("127.0.0.1", 0), "state": {},
    }


class _Armed:
    """The record's canned upstream answer (and pinned deployment) for the duration of one replay."""

    __slots__ = ("canned", "_tokens")

    def __init__(self, rec: dict, slot: Optional[_Slot] = None, body: Optional[bytes] = None) -> None:
        self.canned = _Canned(rec, body)
        self.canned.slot = slot
        self._tokens: List[Any] = [(_CANNED, _CANNED.set(self.canned))]
        if rec.get("pin"):
            _ensure_pinner()
            self._tokens.append((_PIN, _PIN.set(rec["model_id"])))

    def close(self) -> None:
        for var, token in reversed(self._tokens):
            var.reset(token)
        self._tokens = []


async def _replay(app: Any, rec: dict, scope: Optional[dict] = None, slot: Optional[_Slot] = None) -> bool:
    """The full replay: the record as an HTTP request through LiteLLM's whole ASGI app."""
    body = rec["request"].encode("utf-8")
    scope = _scope(rec) if scope is None else scope
    finished = asyncio.Event()
    sent_body = False
    status: List[int] = []

    async def receive() -> dict:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            finished.set()

    armed = _Armed(rec, slot)
    try:
        await app(scope, receive, send)
    finally:
        armed.close()
        finished.set()
    if not armed.canned.used:
        _stats["not_canned"] += 1
    return bool(status) and status[0] == 200 and armed.canned.used


class _Direct:
    """The light replay: LiteLLM's own chat-completions endpoint function, called directly.

    What the ASGI replay spends outside the endpoint -- the middleware stack, routing,
    FastAPI's dependency solving and the JSON rendering of the answer nobody reads -- is
    skipped; what runs is the code FastAPI would run for the route: the route's auth
    dependency (``user_api_key_auth``, called with the header values its ``Security``
    parameters would read) and then the endpoint (``chat_completion``) with the same
    request object, a fresh sub-response and the auth result. Everything that builds
    the callbacks' payloads is therefore LiteLLM's: the request data and master-key
    metadata, the router, the Logging object, the ModelResponse, cost, success handlers.

    Used only when the route looks exactly as verified (one POST route for the path,
    whose endpoint takes ``request, fastapi_response, model, user_api_key_dict`` with
    ``user_api_key_dict`` and every route-level dependency being the proxy's
    ``user_api_key_auth``, whose other parameters are API-key header lookups); any other
    shape, and any replay that fails before its upstream call was answered, goes
    through the full ASGI replay.

    The middleware it skips (read in 1.110.2 and 1.83.14) has, inside the envelope the
    front serves (master key, no database, no licence, no Redis),
    no effect on callbacks, spend or metrics: CORS/GZip/security headers and size limits
    act on the HTTP exchange; the in-flight gauge goes +1/-1; the billable-request sink
    and billing recorder exist only with a database or a licence; LiteLLM's anonymous
    product telemetry does not see the replay. The one with a side effect on state, the
    release of a budget reservation no callback claimed (1.110.2), is done here too.
    """

    _PARAMS = ("request", "fastapi_response", "model", "user_api_key_dict")

    def __init__(self, app: Any) -> None:
        self.app = app
        self._routes: Dict[str, Any] = {}

    def learn(self, path: str, scope: dict) -> None:
        """After a full replay of ``path``: check the route FastAPI actually dispatched it to."""
        if path in self._routes:
            return
        try:
            self._routes[path] = self._check(scope)
        except Exception as exc:
            self._routes[path] = f"route check failed: {exc!r}"
        found = self._routes[path]
        how = f"full replay ({found})" if isinstance(found, str) else f"light replay (endpoint {getattr(found[0], '__name__', found[0])})"
        sys.stderr.write(f"fast_litellm: fast-lane logging of {path}: {how}\n")
        sys.stderr.flush()

    def _check(self, scope: dict) -> Any:
        """(endpoint, auth function, [(auth parameter, header name)]) or a string saying why not."""
        import inspect

        from fastapi import params

        mod = sys.modules.get(_PROXY_MODULE)
        auth = getattr(mod, "user_api_key_auth", None)
        if auth is None:
            return "no user_api_key_auth in the proxy module"
        endpoint, route = scope.get("endpoint"), scope.get("route")
        if endpoint is None or route is None:
            return "the full replay did not reach an endpoint"
        sig = inspect.signature(endpoint)
        if tuple(sig.parameters) != self._PARAMS:
            return f"endpoint parameters {tuple(sig.parameters)}"
        dep = sig.parameters["user_api_key_dict"].default
        if not isinstance(dep, params.Depends) or dep.dependency is not auth:
            return "user_api_key_dict is not the proxy's user_api_key_auth"
        if sig.parameters["model"].default is not None:
            return "model parameter has a default other than None"
        dependant = getattr(route, "dependant", None)
        subs = getattr(dependant, "dependencies", None)
        if dependant is None or getattr(dependant, "call", None) is not endpoint or not subs:
            return "route dependant not as verified"
        if any(getattr(d, "call", None) is not auth for d in subs):
            return "route dependencies beyond user_api_key_auth"
        headers = []
        for name, p in inspect.signature(auth).parameters.items():
            if name == "request":
                continue
            sec = p.default
            model = getattr(getattr(sec, "dependency", None), "model", None)
            where = getattr(getattr(model, "in_", None), "value", getattr(model, "in_", None))
            if not isinstance(sec, params.Security) or where != "header":
                return f"auth parameter {name} is not an API-key header"
            headers.append((name, model.name.lower()))
        return endpoint, auth, headers

    def known(self, path: Any) -> bool:
        return path in self._routes

    def reasons(self) -> Dict[str, str]:
        """Paths replayed in full, and why (for the route's GET stats)."""
        return {p: r for p, r in self._routes.items() if isinstance(r, str)}

    async def replay(self, rec: dict, slot: Optional[_Slot] = None) -> Optional[bool]:
        """True/False: replayed (or failed after the upstream step); None: not handled, use the full replay."""
        from fastapi import Response
        from starlette.requests import Request

        if rec.get("method", "POST") != "POST":
            return None
        found = self._routes.get(rec["path"])
        if found is None or isinstance(found, str):
            return None  # not learnt yet (the first record of a path goes through the full replay) or declined
        endpoint, auth, header_params = found
        body = rec["request"].encode("utf-8")
        scope = _scope(rec)
        scope.update(app=self.app, router=self.app.router, endpoint=endpoint, path_params={})
        sent = False
        finished = asyncio.Event()

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await finished.wait()  # the client stays connected until the replay ends (as in the full replay)
            return {"type": "http.disconnect"}

        request = Request(scope, receive)
        lower = {}
        for k, v in rec["headers"]:
            lower.setdefault(k.lower(), v)
        kwargs = {name: lower.get(h) for name, h in header_params}
        sub = Response()
        del sub.headers["content-length"]
        sub.status_code = None  # type: ignore[assignment]  (as FastAPI's sub-response)
        armed = _Armed(rec, slot)
        try:
            try:
                user = await auth(request=request, **kwargs)
                result = await endpoint(request=request, fastapi_response=sub, model=None, user_api_key_dict=user)
                # A stream: LiteLLM's success logging runs once its body was read to the end.
                body_iterator = getattr(result, "body_iterator", None)
                if body_iterator is not None:
                    async for _chunk in body_iterator:
                        pass
            except Exception:
                if not armed.canned.used:
                    return None  # nothing reached the upstream step: the full replay decides
                return False
            finally:
                await _release_reservation(scope)
        finally:
            armed.close()
            finished.set()
        return armed.canned.used


async def _release_reservation(scope: dict) -> None:
    """What 1.110.2's ``BudgetReservationReleaseMiddleware`` does after a request: a budget
    reservation auth left on the request state and no callback claimed is released."""
    state = scope.get("state")
    reservation = state.get("budget_reservation") if isinstance(state, dict) else None
    if isinstance(reservation, Mapping):
        release = getattr(sys.modules.get(_PROXY_MODULE), "release_unbound_budget_reservation", None)
        if release is not None:
            await release(reservation)


_direct: Optional[_Direct] = None


def _light_enabled() -> bool:
    return (os.environ.get("FAST_LITELLM_FAST_LANE_LOG_REPLAY") or "light").strip().lower() != "full"


def _make_route(app: Any, secret: str):
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from . import prometheus

    limit = asyncio.Semaphore(int(os.environ.get("FAST_LITELLM_LANE_LOG_CONCURRENCY", "32") or 32))

    global _direct
    if _direct is None:
        _direct = _Direct(app)
    light = _light_enabled()

    learning: Dict[str, asyncio.Event] = {}

    prom = prometheus.applier()

    async def one(rec: dict, tally: Dict[str, int]) -> bool:
        # A Prometheus-only config: the record's metrics straight from LiteLLM's logger, no replay.
        try:
            applied = await prom.apply(rec)
        except Exception:
            applied = None
        if applied is not None:
            _stats["prometheus"] += 1
            tally["prometheus"] += 1
            return applied
        prom.watch(rec)
        path = rec.get("path")
        learner = False
        if light and not _direct.known(path):  # type: ignore[union-attr]
            # The first record of a path goes alone through the full replay, which shows the
            # route that answers it; the others wait for that verdict instead of all going the slow way.
            if path in learning:
                await learning[path].wait()
            else:
                learning[path] = asyncio.Event()
                learner = True
        slot = _Slot(limit)
        await slot.acquire()
        try:
            if light and not learner:
                done = await _direct.replay(rec, slot)  # type: ignore[union-attr]
                if done is not None:
                    _stats["light"] += 1
                    return done
            _stats["full"] += 1
            scope = _scope(rec)
            ok = await _replay(app, rec, scope, slot)
            if learner and ok:
                _direct.learn(path, scope)  # type: ignore[union-attr]
            return ok
        except Exception:
            return False
        finally:
            slot.release()
            if learner:
                learning.pop(path).set()  # a failed full replay: the next record of the path tries again

    async def lane_log(request: Request) -> Any:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), secret.encode()):
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        if request.method == "GET":
            return JSONResponse(dict(_stats, pid=os.getpid(), full_replay_paths=_direct.reasons() if _direct else {},
                                     prometheus=dict(prom.stats, reason=prom.reason())))
        records = json.loads(await request.body())
        tally = {"prometheus": 0}
        results = await asyncio.gather(*(one(r, tally) for r in records))
        ok = sum(1 for r in results if r)
        _stats["replayed"] += ok
        _stats["failed"] += len(results) - ok
        return JSONResponse({"delivered": ok, "failed": len(results) - ok, "prometheus": tally["prometheus"]})

    return lane_log


def install_route(app: Any, secret: str) -> None:
    from starlette.routing import Route

    _patch_httpx()
    route = Route(ROUTE, _make_route(app, secret), methods=["GET", "POST"], include_in_schema=False)
    app.router.routes.insert(0, route)


def arm(env: Optional[Dict[str, str]] = None, also: Optional[Callable[[Any, str], None]] = None) -> bool:
    """In a process the fast lane launched: add the logging route to LiteLLM's proxy app
    (and whatever ``also`` adds, given the app and the launch secret)."""
    env = os.environ if env is None else env
    secret = env.get(SECRET_ENV)
    if not secret:
        return False

    def install_all(app: Any) -> None:
        install_route(app, secret)
        if also is not None:
            also(app, secret)

    mod = sys.modules.get(_PROXY_MODULE)
    if mod is not None and hasattr(mod, "app"):
        install_all(mod.app)
        return True

    def on_loaded(module: Any) -> None:
        # The route goes in once ``litellm.proxy.proxy_server`` has executed (its ``app`` exists).
        if module.__name__ != _PROXY_MODULE:
            return
        try:
            install_all(module.app)
        except Exception as exc:  # never break the proxy's start
            sys.stderr.write(f"fast_litellm: fast-lane logging route not installed: {exc!r}\n")

    from .. import _hooks

    _hooks.install(on_loaded)
    return True


# -- launcher side -----------------------------------------------------------------


class Drainer:
    """Threads moving records from the front's queue to the proxy's logging route."""

    def __init__(self, port: int, secret: str, threads: int = 2, batch: int = 256) -> None:
        self.port, self.secret, self.batch = port, secret, batch
        self.delivered = self.failed = self.undelivered = 0
        self.prometheus = 0  # of the delivered: metrics applied without a replay (prometheus.py)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._last_warn = 0.0
        self._warned = 0
        self._threads = [threading.Thread(target=self._loop, name=f"fast-lane-log-{i}", daemon=True) for i in range(max(1, threads))]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """The front stopped: deliver what is left in the queue, then end."""
        self._stopping.set()

    def join(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))

    def _post(self, conn: Optional[http.client.HTTPConnection], records: List[str]) -> http.client.HTTPConnection:
        payload = ("[" + ",".join(records) + "]").encode("utf-8")
        for attempt in range(2):
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            try:
                conn.request("POST", ROUTE, body=payload, headers={SECRET_HEADER: self.secret, "content-type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"logging route answered {resp.status}")
                out = json.loads(data)
                with self._lock:
                    self.delivered += int(out.get("delivered", 0))
                    self.failed += int(out.get("failed", 0))
                    self.prometheus += int(out.get("prometheus", 0))
                return conn
            except Exception:
                try:
                    conn.close()
                except Exception:
                    pass
                conn = None
                if attempt == 0:
                    time.sleep(0.2)
        with self._lock:
            self.undelivered += len(records)
        return conn  # type: ignore[return-value]

    def _warn_drops(self) -> None:
        """At most every 10 s: say on stderr how many records a full queue dropped since the last warning."""
        from .. import _native

        now = time.monotonic()
        if now - self._last_warn < 10:
            return
        self._last_warn = now
        dropped = _native.fastlane_log_stats()[1]
        if dropped > self._warned:
            sys.stderr.write(f"fast-litellm: fast lane logging queue full: {dropped - self._warned} record(s) dropped "
                             f"({dropped} in all); unset FAST_LITELLM_FAST_LANE_LOG_FULL (or =python) to send such requests to LiteLLM instead\n")
            sys.stderr.flush()
            self._warned = dropped

    def _loop(self) -> None:
        from .. import _native

        conn: Optional[http.client.HTTPConnection] = None
        first = threading.current_thread() is self._threads[0]
        while True:
            if first:
                self._warn_drops()
            try:
                records = _native.fastlane_drain(self.batch, 500)
            except Exception:
                return
            if records is None:  # no queue yet (the front is starting) or the front stopped and it is empty
                if self._stopping.is_set():
                    return
                time.sleep(0.1)
                continue
            if records:
                conn = self._post(conn, records)

    def summary(self) -> dict:
        from .. import _native

        queued, dropped, drained = _native.fastlane_log_stats()
        return {"queued": queued, "dropped": dropped, "drained": drained, "delivered": self.delivered,
                "failed": self.failed, "undelivered": self.undelivered, "prometheus_applied": self.prometheus}
