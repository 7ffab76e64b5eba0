"""Soak: many requests through fast_litellm.AsyncHTTPTransport with warnings as errors.

Reports failures, RSS after warm-up and at the end, and the peak of open sockets
against the pool limit.   python bench/transport/soak.py [--requests 100000] [--limit 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import httpx  # noqa: E402

from upstream import MockUpstream  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def sockets() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--limit", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    warnings.simplefilter("error")
    from fast_litellm import AsyncHTTPTransport

    with MockUpstream() as up:
        async def go():
            base = sockets()
            t = AsyncHTTPTransport(limits=httpx.Limits(max_connections=args.limit))
            stats = {"ok": 0, "failures": 0, "peak_sockets": 0, "rss_mb": []}
            async with httpx.AsyncClient(transport=t) as c:
                left = [args.requests]
                step = max(1, args.requests // 10)

                async def worker():
                    while left[0] > 0:
                        left[0] -= 1
                        n = left[0]
                        try:
                            stream = n % 10 == 0
                            r = await c.post(up.url + "/v1/chat/completions",
                                             json={"model": "m", "messages": [], "stream": stream})
                            assert r.status_code == 200 and r.content
                            stats["ok"] += 1
                        except Exception as exc:
                            stats["failures"] += 1
                            stats.setdefault("first_failure", repr(exc))
                        if n % 500 == 0:
                            stats["peak_sockets"] = max(stats["peak_sockets"], sockets() - base)
                        if n % step == 0:
                            stats["rss_mb"].append(round(rss_mb(), 1))

                await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            return stats

        stats = asyncio.run(go())
    stats["requests"] = args.requests
    stats["pool_limit"] = args.limit
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
