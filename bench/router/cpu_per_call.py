"""CPU per ``Router.acompletion`` call against the number of deployments, stock vs Fast LiteLLM.

One model group of N ``openai/`` deployments (distinct keys, one local mock upstream in
another process), ``--concurrency`` calls in flight (16 by default). Every measurement is a
fresh process: stock runs with ``FAST_LITELLM_DISABLE=1``, accelerated with Fast LiteLLM's
defaults; the two alternate (the order swapped every round) and medians are reported, per N,
as JSON on stdout.

  python bench/router/cpu_per_call.py [--deployments 1,10,100,1000] [--with-10k]
      [--calls 1000] [--rounds 3] [--concurrency 16] [--routing-strategy simple-shuffle]
  python bench/router/cpu_per_call.py --profile 1000 [--fast]   # cProfile of one side, top entries

``--json-out PATH`` also writes the plot-ready summary
``{"pin", "machine", "rows": [{"deployments", "stock_ms", "fast_ms"}]}`` (CPU ms per call,
medians); bench/router/results/ holds the committed runs, one file per pin.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MESSAGES = [{"role": "user", "content": "Say hello to the benchmark in one short sentence, please."}]


def model_list(url: str, n: int) -> list:
    return [
        {"model_name": "bench",
         "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": url + "/v1", "api_key": f"sk-bench-{i}"}}
        for i in range(n)
    ]


def child(url: str, n: int, calls: int, concurrency: int, strategy: str, profile: str, warm_all: bool = False) -> None:
    import asyncio

    import fast_litellm  # FAST_LITELLM_DISABLE=1 makes this a no-op (the stock side)
    import litellm  # noqa: F401
    from litellm import Router

    router = Router(model_list=model_list(url, n), routing_strategy=strategy)

    async def batch(count: int) -> None:
        left = [count]

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                await router.acompletion(model="bench", messages=MESSAGES)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def main() -> dict:
        await batch(min(200, calls))  # warm-up: clients, caches, first-call imports
        if warm_all:  # every deployment's client and connection made before the timed calls
            ids = [d["model_info"]["id"] for d in router.model_list]
            gate = asyncio.Semaphore(concurrency)

            async def one(model_id: str) -> None:
                async with gate:
                    await router.acompletion(model=model_id, messages=MESSAGES)

            await asyncio.gather(*(one(i) for i in ids))
        prof = None
        if profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await batch(calls)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if prof is not None:
            prof.disable()
            prof.dump_stats(profile)
        return {"cpu_ms": cpu / calls * 1e3, "rps": calls / wall}

    out = asyncio.run(main())
    st = fast_litellm.status(resolve=False)
    out["applied"] = sorted(p["name"] for p in st["patches"] if p["state"] == "applied")
    print("RESULT " + json.dumps(out), flush=True)


def run_child(url: str, n: int, fast: bool, args: argparse.Namespace, profile: str = "",
              pythonpath: str = "") -> dict:
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    env.pop("FAST_LITELLM_DISABLE", None)
    if not fast:
        env["FAST_LITELLM_DISABLE"] = "1"
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [sys.executable, os.path.abspath(__file__), "--child", url, "--n", str(n), "--calls", str(args.calls),
           "--concurrency", str(args.concurrency), "--routing-strategy", args.routing_strategy]
    if args.warm_all:
        cmd.append("--warm-all")
    if profile:
        cmd += ["--profile-out", profile]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(line[0][7:])


def load() -> float:
    return round(os.getloadavg()[0], 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deployments", default="1,10,100,1000")
    ap.add_argument("--with-10k", action="store_true", help="add a 10,000-deployment group")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--warm-all", action="store_true", help="one untimed call to every deployment first (its "
                    "client and connection exist), so the timed calls measure routing, not cold clients")
    ap.add_argument("--routing-strategy", default="simple-shuffle")
    ap.add_argument("--profile", type=int, default=0, help="cProfile one child with this many deployments")
    ap.add_argument("--fast", action="store_true", help="with --profile: the accelerated side")
    ap.add_argument("--baseline", default="", help="PYTHONPATH of another fast_litellm tree: a third, "
                    "'baseline' side alternated with the other two (before/after a change, same run)")
    ap.add_argument("--child", default=None)
    ap.add_argument("--n", type=int, default=1)
    ap.add_argument("--profile-out", default="")
    ap.add_argument("--json-out", default="", help="write the plot-ready summary here")
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.n, args.calls, args.concurrency, args.routing_strategy, args.profile_out,
                     args.warm_all)
    sys.path.insert(0, os.path.join(HERE, "..", "transport"))
    from upstream import MockUpstream

    with MockUpstream() as up:
        if args.profile:
            import pstats

            path = f"/tmp/router-cpu-{os.getpid()}.prof"
            res = run_child(up.url, args.profile, args.fast, args, profile=path)
            print(json.dumps(res))
            pstats.Stats(path).sort_stats("cumulative").print_stats(45)
            pstats.Stats(path).sort_stats("tottime").print_stats(30)
            return
        sizes = [int(x) for x in args.deployments.split(",") if x]
        if args.with_10k and 10000 not in sizes:
            sizes.append(10000)
        report = {"litellm": md.version("litellm"), "concurrency": args.concurrency, "calls": args.calls,
                  "warm_all": args.warm_all,
                  "rounds": args.rounds, "routing_strategy": args.routing_strategy, "load_before": load(),
                  "results": {}}
        for n in sizes:
            sides = ("stock", "fast") + (("baseline",) if args.baseline else ())
            runs: dict = {k: [] for k in sides}
            for r in range(args.rounds):
                for which in (sides if r % 2 == 0 else sides[::-1]):
                    runs[which].append(run_child(up.url, n, which != "stock", args,
                                                 pythonpath=args.baseline if which == "baseline" else ""))
            med = {k: round(statistics.median(x["cpu_ms"] for x in v), 3) for k, v in runs.items()}
            row = report["results"][str(n)] = {
                "stock_cpu_ms_per_call": med["stock"], "fast_cpu_ms_per_call": med["fast"],
                "ratio_stock_over_fast": round(med["stock"] / med["fast"], 2),
                "stock_calls_per_s": round(statistics.median(x["rps"] for x in runs["stock"]), 1),
                "fast_calls_per_s": round(statistics.median(x["rps"] for x in runs["fast"]), 1),
                "fast_applied": runs["fast"][-1]["applied"],
            }
            if args.baseline:
                row["baseline_cpu_ms_per_call"] = med["baseline"]
                row["ratio_stock_over_baseline"] = round(med["stock"] / med["baseline"], 2)
            print(f"N={n}: {report['results'][str(n)]}", file=sys.stderr, flush=True)
        report["load_after"] = load()
    print(json.dumps(report, indent=2))
    if args.json_out:
        write_summary(args.json_out, report)


def machine() -> str:
    import platform

    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{cpu or platform.processor()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def write_summary(path: str, report: dict) -> None:
    rows = [{"deployments": int(n), "stock_ms": r["stock_cpu_ms_per_call"], "fast_ms": r["fast_cpu_ms_per_call"]}
            for n, r in report["results"].items()]
    summary = {"pin": report["litellm"], "machine": machine(), "warm_all": report["warm_all"],
               "concurrency": report["concurrency"],
               "calls": report["calls"], "rounds": report["rounds"],
               "load": [report["load_before"], report["load_after"]], "rows": rows}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
