"""End to end, sync: process CPU per ``litellm.completion`` call, stock vs Fast LiteLLM's transport.

Sequential calls (``--threads 1``) or a few threads, against the local mock
upstream. Each measurement runs in a fresh process (``FAST_LITELLM_TRANSPORT=0``
for stock, ``=1`` for ours: on both pinned versions the sync OpenAI/Azure client
patch then builds the SDK's ``httpx.Client`` with ``fast_litellm.HTTPTransport``);
stock and accelerated processes alternate and the medians are reported.

  python bench/transport/completion_cpu.py [--calls 1000] [--rounds 3] [--threads 1] [--stream]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def child(url: str, calls: int, stream: bool, threads: int) -> None:
    import threading
    import time

    import fast_litellm  # noqa: F401  (FAST_LITELLM_TRANSPORT decides)
    import litellm

    messages = [{"role": "user", "content": "Say hello to the benchmark in one short sentence, please."}]

    def one() -> None:
        r = litellm.completion(model="openai/gpt-4o-mini", api_base=url + "/v1", api_key="sk-bench",
                               messages=messages, stream=stream)
        if stream:
            for _ in r:
                pass

    def batch(n: int) -> None:
        left = [n]
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                one()

        if threads == 1:
            worker()
            return
        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    batch(min(200, calls))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    batch(calls)
    out = {"cpu_ms": (time.process_time() - cpu0) / calls * 1e3, "rps": calls / (time.perf_counter() - wall0)}
    st = [p for p in fast_litellm.status(resolve=False)["patches"] if p["component"] == "transport"]
    out["transport_calls"] = sum(p["calls"] for p in st)
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--child", default=None)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.calls, args.stream, args.threads)
    sys.path.insert(0, HERE)
    from upstream import MockUpstream

    import alternated

    with MockUpstream() as up:
        flags = ["--calls", str(args.calls), "--threads", str(args.threads)] + (["--stream"] if args.stream else [])
        report = alternated.run(__file__, up.url, flags, args.rounds,
                                {"stream": args.stream, "calls": args.calls, "threads": args.threads})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
