"""End to end: process CPU per ``litellm.acompletion`` call, stock vs Fast LiteLLM's transport.

64 concurrent calls against the local mock upstream. Each measurement runs in a
fresh process (``FAST_LITELLM_TRANSPORT=0`` for stock); stock and accelerated
processes alternate and the medians are reported.

  python bench/transport/acompletion_cpu.py [--calls 2000] [--rounds 3] [--stream]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def child(url: str, calls: int, stream: bool, concurrency: int) -> None:
    import asyncio
    import time

    import fast_litellm  # noqa: F401  (FAST_LITELLM_TRANSPORT decides)
    import litellm

    messages = [{"role": "user", "content": "Say hello to the benchmark in one short sentence, please."}]

    async def one() -> None:
        r = await litellm.acompletion(
            model="openai/gpt-4o-mini", api_base=url + "/v1", api_key="sk-bench", messages=messages, stream=stream
        )
        if stream:
            async for _ in r:
                pass

    async def batch(n: int) -> None:
        left = [n]

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                await one()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def main() -> dict:
        await batch(min(300, calls))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await batch(calls)
        return {"cpu_ms": (time.process_time() - cpu0) / calls * 1e3, "rps": calls / (time.perf_counter() - wall0)}

    out = asyncio.run(main())
    st = [p for p in fast_litellm.status(resolve=False)["patches"] if p["component"] == "transport"]
    out["transport_calls"] = sum(p["calls"] for p in st)
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--child", default=None)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.calls, args.stream, args.concurrency)
    sys.path.insert(0, HERE)
    from upstream import MockUpstream

    import alternated

    with MockUpstream() as up:
        flags = ["--calls", str(args.calls), "--concurrency", str(args.concurrency)] + (["--stream"] if args.stream else [])
        report = alternated.run(__file__, up.url, flags, args.rounds,
                                {"stream": args.stream, "calls": args.calls, "concurrency": args.concurrency})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
