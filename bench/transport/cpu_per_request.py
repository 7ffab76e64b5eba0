"""CPU time per request through an httpx.AsyncClient, by transport.

64 concurrent POSTs of a chat payload to the local mock upstream (a separate
process, so its CPU is not counted); process CPU time (all threads, the Rust
runtime's included) divided by the request count. Rounds alternate the
transports; medians are reported. Two references without I/O: ``canned_floor``
returns the response at once (its requests never suspend), ``canned_suspended``
after one asyncio future round trip (the least any transport that waits costs).

  python bench/transport/cpu_per_request.py [--requests 4000] [--rounds 5] [--concurrency 64] [--json]

The mock runs under this interpreter unless ``FAST_LITELLM_BENCH_MOCK_PYTHON`` names another
(to hold the mock's aiohttp fixed when comparing LiteLLM versions' environments).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx  # noqa: E402

from upstream import MockUpstream  # noqa: E402
from mock_upstream import COMPLETION, HEADERS  # noqa: E402

PAYLOAD = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Say hello to the benchmark in one short sentence, please."},
    ],
    "temperature": 0.2,
    "max_tokens": 64,
}


class CannedTransport(httpx.AsyncBaseTransport):
    """Returns the mock's response without any I/O: httpx's own floor."""

    def __init__(self) -> None:
        self.body = json.dumps(COMPLETION).encode()
        self.headers = [(k.encode(), v.encode()) for k, v in HEADERS.items()] + [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(self.body)).encode()),
        ]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return httpx.Response(200, headers=self.headers, content=self.body)


class SuspendingCannedTransport(CannedTransport):
    """The canned response after one asyncio future round trip (resolved on the next
    loop iteration): what any transport that waits for I/O costs at least, because
    the 64 requests then interleave instead of running one after the other."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        loop.call_soon(future.set_result, None)
        await future
        return httpx.Response(200, headers=self.headers, content=self.body)


def litellm_default_transport():
    import fast_litellm
    import litellm  # noqa: F401
    from litellm.llms.custom_httpx import http_handler as h

    was_active = fast_litellm.is_active()
    fast_litellm.deactivate()
    try:
        ssl_config = h.get_ssl_configuration()
        import ssl

        factory = getattr(h.AsyncHTTPHandler, "create_async_transport", None) or h.AsyncHTTPHandler._create_async_transport
        return factory(
            ssl_context=ssl_config if isinstance(ssl_config, ssl.SSLContext) else None,
            ssl_verify=ssl_config if isinstance(ssl_config, bool) else None,
        )
    finally:
        if was_active:
            fast_litellm.activate()


def fast_litellm_transport():
    """``fast_litellm.AsyncHTTPTransport`` configured as the LiteLLM patch installs it
    (up to 1000 connections, every idle one kept alive, like LiteLLM's aiohttp connector)."""
    from fast_litellm.components.transport import _transport

    return _transport(True, None)


def make_transports(only):
    makers = {
        "litellm_default": litellm_default_transport,
        "httpx_default": lambda: None,
        "canned_floor": CannedTransport,
        "canned_suspended": SuspendingCannedTransport,
        "fast_litellm": fast_litellm_transport,
    }
    return {k: v for k, v in makers.items() if not only or k in only}


async def run_batch(client: httpx.AsyncClient, url: str, n: int, concurrency: int) -> None:
    sem_left = [n]

    async def worker():
        while sem_left[0] > 0:
            sem_left[0] -= 1
            r = await client.post(url, json=PAYLOAD)
            if r.status_code != 200 or not r.content:
                raise RuntimeError(f"bad response {r.status_code}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(clients, url, requests, rounds, concurrency):
    results = {name: [] for name in clients}
    for name, client in clients.items():
        await run_batch(client, url, min(500, requests), concurrency)  # warm-up
    names = list(clients)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await run_batch(clients[name], url, requests, concurrency)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            results[name].append((cpu / requests * 1e3, requests / wall))
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from fast_litellm.bench import machine
    import litellm

    with MockUpstream() as up:
        url = up.url + "/v1/chat/completions"

        async def go():
            clients = {}
            for name, make in make_transports(args.only).items():
                t = make()
                clients[name] = httpx.AsyncClient(transport=t, timeout=600) if t is not None else httpx.AsyncClient(timeout=600)
            try:
                return await measure(clients, url, args.requests, args.rounds, args.concurrency)
            finally:
                for c in clients.values():
                    await c.aclose()

        results = asyncio.run(go())
    summary = {
        name: {
            "cpu_ms_per_request": round(statistics.median(x[0] for x in v), 4),
            "requests_per_s": round(statistics.median(x[1] for x in v), 1),
        }
        for name, v in results.items()
    }
    report = {"machine": machine(), "litellm": litellm.__version__ if hasattr(litellm, "__version__") else None,
              "requests": args.requests, "rounds": args.rounds, "concurrency": args.concurrency, "results": summary}
    try:
        import importlib.metadata as md

        report["litellm"] = md.version("litellm")
    except Exception:
        pass
    if "litellm_default" in summary and "fast_litellm" in summary:
        report["ratio_litellm_default_over_fast"] = round(
            summary["litellm_default"]["cpu_ms_per_request"] / summary["fast_litellm"]["cpu_ms_per_request"], 2
        )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"machine: {report['machine']}\nlitellm {report['litellm']}, {args.requests} requests x {args.rounds} rounds, concurrency {args.concurrency}")
        for name, s in summary.items():
            print(f"  {name:<16} {s['cpu_ms_per_request']:.3f} ms CPU/request   {s['requests_per_s']:>8.0f} req/s")
        if "ratio_litellm_default_over_fast" in report:
            print(f"  litellm_default / fast_litellm CPU ratio: {report['ratio_litellm_default_over_fast']}x")


if __name__ == "__main__":
    main()
