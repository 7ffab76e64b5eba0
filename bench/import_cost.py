"""What ``import fast_litellm`` adds to ``import litellm``: wall time and RSS.

Run with the interpreter whose LiteLLM you want to measure, e.g.

    PYTHONPATH=$PWD/python ~/.cache/fast-litellm/envs/litellm-1.110.2/bin/python bench/import_cost.py --runs 21

Each run is a fresh interpreter (nothing cached in-process), stock and accelerated
alternated run by run (the machine is shared: medians, and the load average is printed):

* ``stock``        - ``import litellm``;
* ``accelerated``  - ``import litellm; import fast_litellm``.

Per run the child reports the time and RSS (``VmRSS``) of ``import litellm`` and, for the
accelerated run, the time and RSS added by ``import fast_litellm`` measured around that
import alone: the figure the target is about (<= 20 ms, <= 3 MB). The difference of the
two medians of the whole start is printed too; it carries ``import litellm``'s own noise
(hundreds of ms on a loaded machine). Bytecode is compiled by a warm-up run of each
first, as an installed wheel has it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

_CHILD = r"""
import json, sys, time

def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

t0 = time.perf_counter()
import litellm
t1 = time.perf_counter()
r1 = rss_kb()
out = {"litellm_ms": (t1 - t0) * 1e3, "litellm_rss_kb": r1, "total_ms": (t1 - t0) * 1e3, "rss_kb": r1}
if sys.argv[1] == "accelerated":
    import fast_litellm
    t2 = time.perf_counter()
    r2 = rss_kb()
    out.update(added_ms=(t2 - t1) * 1e3, added_rss_kb=r2 - r1, total_ms=(t2 - t0) * 1e3, rss_kb=r2,
               native_loaded="fast_litellm._native" in sys.modules,
               applied=sum(p["state"] == "applied" for p in fast_litellm.status(resolve=False)["patches"]))
print(json.dumps(out))
"""


def _run(mode: str, env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", _CHILD, mode], env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each (default 15)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for mode in ("stock", "accelerated"):  # warm-up: bytecode written, page cache warm
        _run(mode, env)
    runs: dict = {"stock": [], "accelerated": []}
    for i in range(args.runs):
        order = ("stock", "accelerated") if i % 2 == 0 else ("accelerated", "stock")
        for mode in order:
            runs[mode].append(_run(mode, env))

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[mode])

    fast = runs["accelerated"]
    from importlib.metadata import version

    report = {
        "litellm": version("litellm"),
        "runs": args.runs,
        "load_average": os.getloadavg(),
        "stock_import_litellm_ms": round(med("stock", "total_ms"), 1),
        "accelerated_total_ms": round(med("accelerated", "total_ms"), 1),
        "difference_of_medians_ms": round(med("accelerated", "total_ms") - med("stock", "total_ms"), 1),
        "stock_rss_mb": round(med("stock", "rss_kb") / 1024, 1),
        "accelerated_rss_mb": round(med("accelerated", "rss_kb") / 1024, 1),
        "difference_of_medians_rss_mb": round((med("accelerated", "rss_kb") - med("stock", "rss_kb")) / 1024, 1),
        "import_fast_litellm_added_ms_median": round(med("accelerated", "added_ms"), 1),
        "import_fast_litellm_added_ms_min": round(min(r["added_ms"] for r in fast), 1),
        "import_fast_litellm_added_rss_mb_median": round(med("accelerated", "added_rss_kb") / 1024, 2),
        "native_loaded_at_import": any(r["native_loaded"] for r in fast),
        "patches_applied": fast[-1]["applied"],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:<42} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
