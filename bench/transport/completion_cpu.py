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
import statistics
import subprocess
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

    results = {"stock": [], "fast": []}
    with MockUpstream() as up:
        for r in range(args.rounds):
            for which in (("stock", "fast") if r % 2 == 0 else ("fast", "stock")):
                env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
                env["FAST_LITELLM_TRANSPORT"] = "0" if which == "stock" else "1"
                cmd = [sys.executable, __file__, "--child", up.url, "--calls", str(args.calls),
                       "--threads", str(args.threads)] + (["--stream"] if args.stream else [])
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
                line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
                if not line:
                    raise RuntimeError(out.stderr[-2000:])
                results[which].append(json.loads(line[0][7:]))
    import importlib.metadata as md

    summary = {k: {"cpu_ms_per_call": round(statistics.median(x["cpu_ms"] for x in v), 3),
                   "calls_per_s": round(statistics.median(x["rps"] for x in v), 1),
                   "transport_patch_calls": v[-1]["transport_calls"]} for k, v in results.items()}
    report = {"litellm": md.version("litellm"), "stream": args.stream, "calls": args.calls, "rounds": args.rounds,
              "threads": args.threads, "results": summary,
              "ratio_stock_over_fast": round(summary["stock"]["cpu_ms_per_call"] / summary["fast"]["cpu_ms_per_call"], 2)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
