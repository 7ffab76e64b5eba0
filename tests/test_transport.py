"""fast_litellm.AsyncHTTPTransport / HTTPTransport against a local mock upstream,
and LiteLLM's provider calls through them (same responses, same exception classes)."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import warnings
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "transport"))
from upstream import MockUpstream  # noqa: E402

import fast_litellm  # noqa: E402
from fast_litellm import AsyncHTTPTransport, HTTPTransport  # noqa: E402

PAYLOAD = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def upstream():
    with MockUpstream() as up:
        yield up


def free_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(coro):
    return asyncio.run(coro)


def normalized(response: httpx.Response):
    headers = [(k.lower(), v) for k, v in response.headers.raw if k.lower() != b"date"]
    return response.status_code, sorted(headers), response.content


# ---------------------------------------------------------------- transport level


@pytest.mark.parametrize("path,payload", [
    ("/v1/chat/completions", PAYLOAD),
    ("/v1/chat/completions", {**PAYLOAD, "stream": True}),
    ("/v1/embeddings", {"input": "x"}),
    ("/status/429", PAYLOAD),
    ("/status/500", PAYLOAD),
])
def test_async_responses_identical_to_httpx(upstream, path, payload):
    async def go():
        async with httpx.AsyncClient(transport=AsyncHTTPTransport()) as ours, httpx.AsyncClient() as stock:
            a = await ours.post(upstream.url + path, json=payload)
            b = await stock.post(upstream.url + path, json=payload)
            return a, b

    a, b = run(go())
    assert normalized(a) == normalized(b)
    assert dict(a.headers).keys() - {"date"} == dict(b.headers).keys() - {"date"}
    assert a.http_version == "HTTP/1.1"


def test_request_reaches_upstream_unchanged(upstream):
    async def go():
        async with httpx.AsyncClient(transport=AsyncHTTPTransport()) as ours, httpx.AsyncClient() as stock:
            kw = dict(content=b"\x00binary\xffbody" * 1000, headers={"X-Custom": "v1", "authorization": "Bearer k"},
                      params={"a": "1 2", "b": "\u00e9"})
            a = await ours.put(upstream.url + "/echo/some%20path", **kw)
            b = await stock.put(upstream.url + "/echo/some%20path", **kw)
            return a.json(), b.json()

    a, b = run(go())
    assert a["method"] == b["method"] == "PUT"
    assert a["path"] == b["path"]
    assert a["body"] == b["body"]
    lower = lambda hs: sorted((k.lower(), v) for k, v in hs)  # noqa: E731
    assert lower(a["headers"]) == lower(b["headers"])


def test_streaming_arrives_chunk_by_chunk(upstream):
    async def go():
        async with httpx.AsyncClient(transport=AsyncHTTPTransport()) as c:
            async with c.stream("POST", upstream.url + "/v1/chat/completions", json={**PAYLOAD, "stream": True}) as r:
                return [line async for line in r.aiter_lines() if line]

    lines = run(go())
    assert lines[-1] == "data: [DONE]"
    assert len(lines) == 9


def test_first_bytes_before_body_ends(upstream):
    async def go():
        async with httpx.AsyncClient(transport=AsyncHTTPTransport()) as c:
            async with c.stream("GET", upstream.url + "/stall-body") as r:
                it = r.aiter_bytes()
                first = await asyncio.wait_for(it.__anext__(), 5)
            await asyncio.sleep(0.2)  # the aborted request leaves the reactor
            reactor = fast_litellm.httpx_transport._reactors[asyncio.get_running_loop()]
            return first, reactor.native.in_flight(), len(reactor.calls)

    first, in_flight, calls = run(go())
    assert first == b"data: first\n\n"
    assert in_flight == 0 and calls == 0


def test_cancellation_aborts_upstream_request(upstream):
    async def go():
        async with httpx.AsyncClient(transport=AsyncHTTPTransport()) as c:
            task = asyncio.ensure_future(c.get(upstream.url + "/slow/5"))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.1)
            reactor = fast_litellm.httpx_transport._reactors[asyncio.get_running_loop()]
            return reactor.native.in_flight(), len(reactor.calls)

    assert run(go()) == (0, 0)


@pytest.mark.parametrize("transport_cls", ["async", "sync"])
def test_errors_are_httpx_exceptions(upstream, transport_cls):
    refused = f"http://127.0.0.1:{free_port()}/"
    cases = [
        (refused, {}, httpx.ConnectError),
        (upstream.url + "/slow/3", {"timeout": httpx.Timeout(0.3)}, httpx.ReadTimeout),
        # The head waits at most `read` (not connect + write + read): a 1 s answer with
        # every timeout at 0.4 s is a read timeout, as with httpx's and LiteLLM's transports.
        (upstream.url + "/slow/1", {"timeout": httpx.Timeout(0.4)}, httpx.ReadTimeout),
        (upstream.url + "/truncated", {}, httpx.RemoteProtocolError),
        ("ftp://127.0.0.1/x", {}, httpx.UnsupportedProtocol),
    ]
    for url, kw, exc in cases:
        if transport_cls == "async":
            async def go():
                async with httpx.AsyncClient(transport=AsyncHTTPTransport()) as c:
                    await c.get(url, **kw)
            with pytest.raises(exc):
                run(go())
        else:
            with httpx.Client(transport=HTTPTransport()) as c, pytest.raises(exc):
                c.get(url, **kw)


def test_pool_timeout_when_limit_reached(upstream):
    async def go():
        t = AsyncHTTPTransport(limits=httpx.Limits(max_connections=1))
        async with httpx.AsyncClient(transport=t, timeout=httpx.Timeout(5.0, pool=0.2)) as c:
            slow = asyncio.ensure_future(c.get(upstream.url + "/slow/1"))
            await asyncio.sleep(0.1)
            with pytest.raises(httpx.PoolTimeout):
                await c.get(upstream.url + "/echo")
            assert (await slow).status_code == 200

    run(go())


def test_sync_transport_identical_to_httpx(upstream):
    with httpx.Client(transport=HTTPTransport()) as ours, httpx.Client() as stock:
        for payload in (PAYLOAD, {**PAYLOAD, "stream": True}):
            a = ours.post(upstream.url + "/v1/chat/completions", json=payload)
            b = stock.post(upstream.url + "/v1/chat/completions", json=payload)
            assert normalized(a) == normalized(b)
        with ours.stream("POST", upstream.url + "/v1/chat/completions", json={**PAYLOAD, "stream": True}) as r:
            assert sum(1 for line in r.iter_lines() if line) == 9


def test_soak_no_unclosed_warnings_and_bounded_sockets(upstream):
    """A CI-sized soak (the 100,000-request run is bench/transport/soak.py)."""

    port = int(upstream.url.rsplit(":", 1)[1].split("/")[0])

    def sockets() -> int:
        """This process's sockets connected to the upstream (other tests' leftovers and
        the event loop's own socketpair are not counted)."""
        mine = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                link = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                mine.add(link[8:-1])
        n = 0
        for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
            try:
                with open(table) as fh:
                    lines = fh.read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                cols = line.split()
                if int(cols[2].rsplit(":", 1)[1], 16) == port and cols[9] in mine:
                    n += 1
        return n

    limit = 16

    async def go():
        nonlocal before
        before = sockets()  # the loop's own socketpair included
        t = AsyncHTTPTransport(limits=httpx.Limits(max_connections=limit))
        peak = 0
        async with httpx.AsyncClient(transport=t) as c:
            left = [3000]

            async def worker():
                nonlocal peak
                while left[0] > 0:
                    left[0] -= 1
                    r = await c.post(upstream.url + "/v1/chat/completions", json=PAYLOAD)
                    assert r.status_code == 200 and r.json()["id"] == "chatcmpl-mock"
                    if left[0] % 200 == 0:
                        peak = max(peak, sockets())

            await asyncio.gather(*(worker() for _ in range(64)))
        return peak

    before = 0
    gc.collect()  # earlier tests' stock aiohttp sessions are collected (and warn) before, not during, the soak
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        peak = run(go())
        gc.collect()
    # Sockets are held by the native pools only (Python opens none per request).
    assert peak > before, "the socket count saw no connection to the upstream"
    assert peak - before <= limit


# ---------------------------------------------------------------- LiteLLM


def _acompletion_outcome(url: str, timeout=None, stream=False):
    import litellm

    cache = getattr(litellm, "in_memory_llm_clients_cache", None)
    if cache is not None:
        cache.flush_cache()

    async def go():
        try:
            r = await litellm.acompletion(
                model="openai/gpt-4o-mini", api_base=url, api_key="sk-test", messages=PAYLOAD["messages"],
                timeout=timeout, max_retries=0, num_retries=0, stream=stream,
            )
            if stream:
                return ("ok", [c.choices[0].delta.content async for c in r])
            return ("ok", r.choices[0].message.content, r.usage.total_tokens,
                    {k: v for k, v in r._hidden_params.get("additional_headers", {}).items() if "date" not in k})
        except Exception as exc:
            return ("error", type(exc).__name__, getattr(exc, "status_code", None))

    return run(go())


def _transport_calls() -> int:
    return sum(p["calls"] for p in fast_litellm.status()["patches"] if p["component"] == "transport")


@pytest.mark.parametrize("case", ["ok", "stream", "400", "401", "404", "429", "500", "503", "timeout", "refused"])
def test_litellm_same_results_and_exception_classes(upstream, transport_on, case):
    import litellm  # noqa: F401

    fast_litellm.activate()
    applied = [p for p in fast_litellm.status()["patches"] if p["component"] == "transport" and p["state"] == "applied"]
    if not applied:
        pytest.skip("transport patch not applied on this LiteLLM")
    url, timeout, stream = upstream.url + "/v1", None, False
    if case.isdigit():
        url = f"{upstream.url}/status/{case}/v1"
    elif case == "timeout":
        url, timeout = upstream.url + "/slow/3/v1", 0.5
    elif case == "refused":
        url = f"http://127.0.0.1:{free_port()}/v1"
    elif case == "stream":
        stream = True
    calls_before = _transport_calls()
    fast = _acompletion_outcome(url, timeout, stream)
    assert _transport_calls() > calls_before  # our transport was built for this call
    fast_litellm.deactivate()
    try:
        stock = _acompletion_outcome(url, timeout, stream)
    finally:
        fast_litellm.activate()
    assert fast == stock
    if case in ("ok", "stream"):
        assert fast[0] == "ok"
    else:
        assert fast[0] == "error"


def test_disable_env_leaves_litellm_alone():
    import subprocess

    code = (
        "import fast_litellm, litellm, json;"
        "print(json.dumps([p['state'] for p in fast_litellm.status()['patches'] if p['component']=='transport']))"
    )
    env = dict(os.environ, FAST_LITELLM_TRANSPORT="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "applied" not in out.stdout


def test_default_state_per_version():
    """On by default where the figures are met (the async factory on 1.110.x); elsewhere
    skipped with the measured reason, and ``FAST_LITELLM_TRANSPORT=1`` turns it on."""
    import litellm  # noqa: F401

    fast_litellm.activate()
    mine = {p["name"]: p for p in fast_litellm.status()["patches"] if p["component"] == "transport"}
    in_range = {n: p for n, p in mine.items() if "outside the supported range" not in p["reason"]}
    assert in_range
    for name, p in in_range.items():
        if name == "transport.async_transport":
            assert p["state"] == "applied", p
        else:
            assert p["state"] == "skipped", p
            assert "FAST_LITELLM_TRANSPORT=1" in p["reason"]


# ---------------------------------------------------------------- sync provider calls


def _completion_outcome(url: str, timeout=None, stream=False):
    import litellm

    cache = getattr(litellm, "in_memory_llm_clients_cache", None)
    if cache is not None:
        cache.flush_cache()
    try:
        r = litellm.completion(
            model="openai/gpt-4o-mini", api_base=url, api_key="sk-test", messages=PAYLOAD["messages"],
            timeout=timeout, max_retries=0, num_retries=0, stream=stream,
        )
        if stream:
            return ("ok", [c.choices[0].delta.content for c in r])
        return ("ok", r.choices[0].message.content, r.usage.total_tokens,
                {k: v for k, v in r._hidden_params.get("additional_headers", {}).items() if "date" not in k})
    except Exception as exc:
        return ("error", type(exc).__name__, getattr(exc, "status_code", None))


def _patch_calls(name_part: str) -> int:
    return sum(p["calls"] for p in fast_litellm.status()["patches"] if name_part in p["name"])


@pytest.mark.parametrize("case", ["ok", "stream", "400", "429", "500", "timeout", "refused"])
def test_litellm_sync_completion_same_as_stock(upstream, transport_on, case):
    import litellm  # noqa: F401

    fast_litellm.activate()
    if not any("openai_sync_client" in p["name"] and p["state"] == "applied" for p in fast_litellm.status()["patches"]):
        pytest.skip("sync OpenAI client patch not applied on this LiteLLM")
    url, timeout, stream = upstream.url + "/v1", None, False
    if case.isdigit():
        url = f"{upstream.url}/status/{case}/v1"
    elif case == "timeout":
        url, timeout = upstream.url + "/slow/3/v1", 0.5
    elif case == "refused":
        url = f"http://127.0.0.1:{free_port()}/v1"
    elif case == "stream":
        stream = True
    before = _patch_calls("openai_sync_client")
    fast = _completion_outcome(url, timeout, stream)
    assert _patch_calls("openai_sync_client") > before  # our client was built for this call
    fast_litellm.deactivate()
    try:
        stock = _completion_outcome(url, timeout, stream)
    finally:
        fast_litellm.activate()
    assert fast == stock
    assert fast[0] == ("ok" if case in ("ok", "stream") else "error")


def test_litellm_sync_http_handler_uses_our_transport(upstream, transport_on):
    from litellm.llms.custom_httpx.http_handler import HTTPHandler

    fast_litellm.activate()
    if not any(p["name"] in ("transport.sync_transport", "transport.sync_handler_1_83") and p["state"] == "applied"
               for p in fast_litellm.status()["patches"]):
        pytest.skip("HTTPHandler's sync transport factory is not patched on this LiteLLM")

    def outcome():
        handler = HTTPHandler()
        client = getattr(handler, "_client", None) or handler.client
        results = []
        for path in ("/v1/chat/completions", "/status/404", "/v1/embeddings"):
            try:
                r = handler.post(upstream.url + path, json=PAYLOAD)
                results.append(normalized(r))
            except httpx.HTTPStatusError as exc:
                results.append(("HTTPStatusError",) + normalized(exc.response))
        state = (client.timeout, sorted(client.headers.items()), client.follow_redirects, client._trust_env)
        return type(client._transport), results + [state]

    fast_cls, fast = outcome()
    assert fast_cls is HTTPTransport
    fast_litellm.deactivate()
    try:
        stock_cls, stock = outcome()
    finally:
        fast_litellm.activate()
    assert stock_cls is not HTTPTransport
    assert fast == stock


# ---------------------------------------------------------------- LiteLLM's transport switches
#
# Our transport only replaces LiteLLM's aiohttp one. LiteLLM's own switches (asked at each
# call, as its factory asks them) must hand back what stock builds: its httpx transport (or
# ``None``: httpx's default), or on 1.110.x its HTTP/2 transport. LiteLLM's
# tests/test_litellm/llms/custom_httpx/test_http_handler.py checks these on its factory
# (e.g. ``test_aiohttp_disabled_transport``: ``None``); the same assertions run here with
# the patch on, against the real factory, next to a stock run of the same call.


def _kind(transport) -> str:
    from litellm.llms.custom_httpx.aiohttp_transport import LiteLLMAiohttpTransport

    if transport is None:
        return "httpx default"
    if isinstance(transport, AsyncHTTPTransport):
        return "ours"
    if isinstance(transport, LiteLLMAiohttpTransport):
        return "aiohttp"
    return type(transport).__module__ + "." + type(transport).__qualname__


def _factory_kinds(make) -> tuple:
    """``(accelerated, stock)`` kinds of the transport ``make()`` builds."""
    fast = _kind(make())
    fast_litellm.deactivate()
    try:
        stock = _kind(make())
    finally:
        fast_litellm.activate()
    return fast, stock


def _async_factory():
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    return AsyncHTTPHandler._create_async_transport()


def _handler_transport(**kwargs):
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    handler = AsyncHTTPHandler(**kwargs)
    return handler.client._transport


def _openai_sdk_transport():
    from litellm.llms.openai.common_utils import BaseOpenAILLM

    return BaseOpenAILLM._get_async_http_client()._transport


def _litellm_has_http2() -> bool:
    import litellm

    return hasattr(litellm, "http2")


SWITCHES = {
    "default": {},
    "litellm.disable_aiohttp_transport": {"attr": ("disable_aiohttp_transport", True)},
    "DISABLE_AIOHTTP_TRANSPORT": {"env": ("DISABLE_AIOHTTP_TRANSPORT", "True")},
    "LITELLM_HTTP2": {"env": ("LITELLM_HTTP2", "True")},
    "litellm.http2": {"attr": ("http2", True)},
    "force_ipv4+disabled": {"attr": ("disable_aiohttp_transport", True), "ipv4": True},
}


def _set_switch(monkeypatch, switch: dict) -> None:
    import litellm

    monkeypatch.setattr(litellm, "force_ipv4", bool(switch.get("ipv4")))
    monkeypatch.setattr(litellm, "disable_aiohttp_transport", False)
    for name in ("DISABLE_AIOHTTP_TRANSPORT", "LITELLM_HTTP2"):
        monkeypatch.delenv(name, raising=False)
    if "attr" in switch:
        monkeypatch.setattr(litellm, switch["attr"][0], switch["attr"][1], raising=False)
    if "env" in switch:
        monkeypatch.setenv(*switch["env"])


@pytest.mark.parametrize("where", ["factory", "AsyncHTTPHandler", "openai_sdk_client"])
@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_litellm_transport_switches_honoured(transport_on, monkeypatch, switch, where):
    import litellm

    if not any(p["name"].startswith("transport.async_transport") and p["state"] == "applied"
               for p in fast_litellm.status()["patches"]):
        pytest.skip("the async transport factory is not patched on this LiteLLM")
    has_http2 = _litellm_has_http2()  # before the switch: setting litellm.http2 would add it on 1.83.x
    _set_switch(monkeypatch, SWITCHES[switch])
    make = {"factory": _async_factory, "AsyncHTTPHandler": _handler_transport,
            "openai_sdk_client": _openai_sdk_transport}[where]
    fast, stock = _factory_kinds(make)
    if stock == "aiohttp":
        assert fast == "ours", (switch, where)
    else:
        assert fast == stock, (switch, where)
    # LiteLLM's own expectations for these switches (test_http_handler.py).
    if switch in ("litellm.disable_aiohttp_transport", "DISABLE_AIOHTTP_TRANSPORT") and where == "factory":
        assert fast == "httpx default"  # test_aiohttp_disabled_transport
    if switch == "force_ipv4+disabled" and where == "factory":
        # test_force_ipv4_transport: an httpx.AsyncHTTPTransport
        assert fast == f"{httpx.AsyncHTTPTransport.__module__}.{httpx.AsyncHTTPTransport.__qualname__}"
    # 1.83.x has no HTTP/2 switch: stock ignores it there, and so do we (fast == stock above).
    if switch in ("LITELLM_HTTP2", "litellm.http2") and has_http2:
        assert fast.endswith("AsyncHTTP2ConnectionSpread")
    if switch == "default":
        assert fast == "ours"
    assert litellm.force_ipv4 is bool(SWITCHES[switch].get("ipv4"))


def test_http2_client_gets_litellms_http2_transport(transport_on):
    """1.110.x: a handler built for HTTP/2 (``http2=True``, a provider default) gets LiteLLM's
    HTTP/2 transport, whatever the aiohttp switches say."""
    import inspect

    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    if "http2" not in inspect.signature(AsyncHTTPHandler.__init__).parameters:
        pytest.skip("no HTTP/2 handlers in this LiteLLM")
    fast, stock = _factory_kinds(lambda: _handler_transport(http2=True))
    assert fast == stock
    assert fast.endswith("AsyncHTTP2ConnectionSpread")


def test_switch_is_read_at_call_time(transport_on, monkeypatch):
    """One activation: the switch flipped after it still decides each new transport."""
    import litellm

    monkeypatch.setattr(litellm, "disable_aiohttp_transport", False)
    monkeypatch.delenv("DISABLE_AIOHTTP_TRANSPORT", raising=False)
    if _kind(_async_factory()) != "ours":
        pytest.skip("the async transport factory is not patched on this LiteLLM")
    monkeypatch.setattr(litellm, "disable_aiohttp_transport", True)
    assert _async_factory() is None
    monkeypatch.setattr(litellm, "disable_aiohttp_transport", False)
    assert _kind(_async_factory()) == "ours"


def test_every_alias_of_the_factory_is_patched(transport_on):
    """1.110.x keeps ``_create_async_transport = create_async_transport`` on the class: both
    names hold the wrapper while active and the very original object after deactivation."""
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    names = [n for n in ("create_async_transport", "_create_async_transport") if n in AsyncHTTPHandler.__dict__]
    applied = [p for p in fast_litellm.status()["patches"]
               if p["name"].startswith("transport.async_transport") and p["state"] == "applied"]
    if not applied:
        pytest.skip("the async transport factory is not patched on this LiteLLM")
    for name in names:
        assert getattr(AsyncHTTPHandler.__dict__[name].__func__, "_fast_litellm_patch", None) == applied[0]["name"]
    for name in names:
        qualified = f"litellm.llms.custom_httpx.http_handler:AsyncHTTPHandler.{name}"
        assert qualified in applied[0]["targets"]
    fast_litellm.deactivate()
    try:
        originals = {name: AsyncHTTPHandler.__dict__[name] for name in names}
        for value in originals.values():
            assert not hasattr(value.__func__, "_fast_litellm_patch")
        if len(names) == 2:
            assert originals[names[0]] is originals[names[1]]  # the one descriptor LiteLLM defined
    finally:
        fast_litellm.activate()
