"""Limiter exactness against the number of live keys: how many second calls a key
limited to 1 request per minute gets admitted, stock v3 limiter vs Fast LiteLLM's.

Stock's in-memory store is capped at 200 entries, so past a few dozen live keys it
forgets counters and admits again; ours keeps every counter. This counts decisions,
not time: the figure is exact and the same on a busy or an idle machine.

Each side runs in its own process (stock with FAST_LITELLM_DISABLE=1, so nothing of
ours is loaded): N keys with rpm_limit=1 each make one call, then each makes a second
one; a correct limiter refuses every second call.

    PYTHONPATH=$PWD/python ~/.cache/fast-litellm/envs/litellm-1.110.2/bin/python \\
        bench/rate_limit/exactness.py --keys 50,100,200,500,1000,2000 [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys


def build_limiter(fast: bool):
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as cls
    from litellm.proxy.utils import InternalUsageCache

    # LiteLLM's own constructors, unwrapped: the limiter as the proxy builds it.
    init = getattr(InternalUsageCache.__init__, "__wrapped__", InternalUsageCache.__init__)
    iuc = InternalUsageCache.__new__(InternalUsageCache)
    init(iuc, dual_cache=DualCache(default_in_memory_ttl=1))
    cls_init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    lim = cls.__new__(cls)
    cls_init(lim, iuc)
    if fast:
        import fast_litellm  # noqa: F401
        from fast_litellm.components.rate_limit import v3_110, v3_183

        if hasattr(lim, "rate_limits"):  # 1.110.x: counters in LiteLLM's native store -> ours
            ok = v3_110.accelerate(lim)
        else:  # 1.83.x: the fixed-window table
            ok = v3_183.accelerate_v3_limiter(lim)
        if not ok:
            raise SystemExit("could not accelerate the limiter")
    return lim


async def second_calls_admitted(lim, keys: int) -> int:
    from litellm.proxy._types import UserAPIKeyAuth

    auths = [UserAPIKeyAuth(api_key=f"sk-exact-{i}", rpm_limit=1) for i in range(keys)]
    admitted = [0, 0]
    for rnd in range(2):
        for auth in auths:
            data = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
            try:
                await lim.async_pre_call_hook(user_api_key_dict=auth, cache=None, data=data, call_type="acompletion")
                admitted[rnd] += 1
            except Exception as exc:
                if getattr(exc, "status_code", None) != 429:
                    raise
            await asyncio.sleep(0)  # let the limiter's batched writes run, as a server does
    if admitted[0] != keys:
        raise SystemExit(f"first calls: {admitted[0]} of {keys} admitted")
    return admitted[1]


def child(side: str, sizes: str) -> None:
    out = {}
    for n in [int(k) for k in sizes.split(",") if k]:  # a fresh limiter per size
        out[n] = asyncio.run(second_calls_admitted(build_limiter(side == "fast"), n))
    print(json.dumps(out))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", default="50,100,200,500,1000,2000")
    ap.add_argument("--json", help="write the result here")
    ap.add_argument("--child", nargs=2, metavar=("SIDE", "SIZES"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1])
        return 0
    import importlib.metadata as md

    sides = {}
    for side in ("stock", "fast"):
        env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
        if side == "stock":
            env["FAST_LITELLM_DISABLE"] = "1"
        out = subprocess.run([sys.executable, __file__, "--child", side, args.keys], env=env,
                             capture_output=True, text=True, check=True).stdout
        sides[side] = json.loads(out.strip().splitlines()[-1])
    rows = [{"keys": int(n), "stock_second_admitted": sides["stock"][n], "fast_second_admitted": sides["fast"][n]}
            for n in sides["stock"]]
    report = {"pin": md.version("litellm"), "limiter": "v3", "rpm_limit": 1, "rows": rows}
    text = json.dumps(report, indent=2)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
