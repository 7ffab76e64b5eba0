"""RSS per key and time per check of the proxy limiter, stock vs Fast LiteLLM.

The issue's harness: ProxyLogging(...).max_parallel_request_limiter driven through
async_pre_call_hook with N distinct keys (rpm_limit/tpm_limit set), in memory,
no Redis. Two styles: "noyield" (the issue's: the checks run back to back, so
stock's per-check asyncio.create_task batch writes pile up until the loop is
free) and "yield" (an await asyncio.sleep(0) after each check, as a server
does). Modes: stock, fast (our hooks, heap table), fast-shm (our hooks, the
memory-mapped table the launcher shares between workers). Each measurement runs in a fresh subprocess; memory is the RSS delta
(/proc/self/statm) across the N checks divided by N (the N key strings are
built before the first reading and are not counted). Also reported: the
items the limiter's cache actually holds and, for the Rust store, its own byte
count. Never tracemalloc (it cannot see Rust allocations).

    PYTHONPATH=python python bench/rate_limit/memory.py --keys 100000 [--keys 1000000] [--limiter v3]

``--limiter v3``: the limiter the proxy runs by default (``_PROXY_MaxParallelRequestsHandler_v3``
built on ProxyLogging's internal_usage_cache, as ``_add_proxy_hooks`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import asyncio, gc, json, logging, os, sys, time
mode, n, style, which = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if mode.startswith("fast"):
    import fast_litellm
    fast_litellm.activate()
import litellm.proxy.proxy_server  # the proxy's full import, as in production
from litellm.caching.dual_cache import DualCache
from litellm.proxy._types import UserAPIKeyAuth
from litellm.proxy.utils import ProxyLogging
logging.disable(logging.CRITICAL)
pl = ProxyLogging(user_api_key_cache=DualCache())
if which == "v3":
    # What the proxy registers as its parallel_request_limiter hook by default.
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3
    lim = _PROXY_MaxParallelRequestsHandler_v3(pl.internal_usage_cache)
else:
    lim = pl.max_parallel_request_limiter
if mode.startswith("fast") and which == "v3" and not {"_fast_litellm_v3", "_fast_litellm_v3b"} & set(lim.__dict__):
    from fast_litellm.components.rate_limit.v3_110 import accelerate  # 1.110.x: that patch is on only with a shared table
    accelerate(lim)
# One auth object, its api_key set per check: no per-key Python object of the
# harness's own (LiteLLM keeps only the strings it derives from it).
auth = UserAPIKeyAuth(api_key="sk-warm", rpm_limit=100, tpm_limit=100000)
names = [f"sk-{i:08d}" for i in range(n)]
data = {"model": "gpt-4o"}
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
async def main():
    a = auth
    for name in names:
        a.api_key = name
        await lim.async_pre_call_hook(user_api_key_dict=a, cache=None, data=data, call_type="completion")
        if style == "yield":
            await asyncio.sleep(0)
loop = asyncio.new_event_loop()
gc.collect(); r0 = rss(); t0 = time.perf_counter()
loop.run_until_complete(main())
dt = time.perf_counter() - t0
loop.run_until_complete(asyncio.sleep(0.05))
gc.collect(); r1 = rss()
imc = lim.internal_usage_cache.dual_cache.in_memory_cache
table = lim.__dict__.get("_fast_litellm_windows") or lim.__dict__.get("_fast_litellm_v3") or lim.__dict__.get("_fast_litellm_v3b")
print(json.dumps({"limiter": which, "mode": mode, "style": style, "keys": n, "rss_delta_bytes": r1 - r0, "bytes_per_key": (r1 - r0) / n,
                  "us_per_check": dt / n * 1e6, "cache_items": len(imc.cache_dict),
                  "cap": imc.max_size_in_memory,
                  "table_bytes": table.nbytes if table is not None else None,
                  "table_bytes_per_key": table.nbytes / n if table is not None else None,
                  "table_slots": table.capacity if table is not None else None,
                  "table_shared": table.shared if table is not None else None}))
"""


def _litellm_110() -> bool:
    from importlib.metadata import version

    return version("litellm").startswith("1.110.")


def run(mode: str, n: int, style: str, which: str = "v1") -> dict:
    import tempfile

    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    env.pop("FAST_LITELLM_RATE_LIMIT_SHM", None)
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "fast-shm":
            env["FAST_LITELLM_RATE_LIMIT_SHM"] = os.path.join(tmp, "rl.shm")
            # v1's table fills to 0.8; v3's probes through expired slots, so give it room.
            env["FAST_LITELLM_RATE_LIMIT_SHM_SLOTS"] = str(int(n / (0.8 if which == "v1" else 0.5)))
            if which == "v3" and _litellm_110():  # 3 entries (window, requests, tokens) per key
                env["FAST_LITELLM_RATE_LIMIT_SHM_SLOTS"] = str(4 * n)
        out = subprocess.run(
            [sys.executable, "-c", CHILD, mode, str(n), style, which], env=env, capture_output=True, text=True, check=True
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, action="append")
    ap.add_argument("--style", action="append", choices=["noyield", "yield"])
    ap.add_argument("--mode", action="append", choices=["stock", "fast", "fast-shm"])
    ap.add_argument("--limiter", action="append", choices=["v1", "v3"])
    args = ap.parse_args()
    for which in args.limiter or ["v1"]:
        for n in args.keys or [100_000]:
            for style in args.style or ["noyield", "yield"]:
                for mode in args.mode or ["stock", "fast", "fast-shm"]:
                    print(json.dumps(run(mode, n, style, which)), flush=True)


if __name__ == "__main__":
    main()
