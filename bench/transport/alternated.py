"""Stock and accelerated LiteLLM in alternated fresh processes, for the end-to-end CPU benches.

Each round runs the calling script's ``--child`` mode twice, once with
``FAST_LITELLM_TRANSPORT=0`` (stock) and once with ``=1``, the order swapped every
round; a child prints one ``RESULT {json}`` line with ``cpu_ms``, ``rps`` and
``transport_calls``. Returns the report the scripts print: medians per side and the
stock/accelerated CPU ratio.
"""

import importlib.metadata as md
import json
import os
import statistics
import subprocess
import sys


def run(script: str, upstream_url: str, child_flags: list, rounds: int, report_fields: dict) -> dict:
    results = {"stock": [], "fast": []}
    for r in range(rounds):
        for which in (("stock", "fast") if r % 2 == 0 else ("fast", "stock")):
            env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
            env["FAST_LITELLM_TRANSPORT"] = "0" if which == "stock" else "1"
            cmd = [sys.executable, script, "--child", upstream_url] + child_flags
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if not line:
                raise RuntimeError(out.stderr[-2000:])
            results[which].append(json.loads(line[0][7:]))
    summary = {k: {"cpu_ms_per_call": round(statistics.median(x["cpu_ms"] for x in v), 3),
                   "calls_per_s": round(statistics.median(x["rps"] for x in v), 1),
                   "transport_patch_calls": v[-1]["transport_calls"]} for k, v in results.items()}
    return {"litellm": md.version("litellm"), **report_fields, "rounds": rounds, "results": summary,
            "ratio_stock_over_fast": round(summary["stock"]["cpu_ms_per_call"] / summary["fast"]["cpu_ms_per_call"], 2)}
