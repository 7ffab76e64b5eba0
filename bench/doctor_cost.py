"""What ``fast-litellm doctor`` and ``doctor --coverage`` cost beyond ``import litellm``.

Run with the interpreter whose LiteLLM you want to measure, e.g.

    PYTHONPATH=$PWD/python ~/.cache/fast-litellm/envs/litellm-1.110.2/bin/python bench/doctor_cost.py --runs 5

Each run is a fresh interpreter; the three commands are alternated run by run (the machine is
shared: medians, and the load average is printed):

* ``import litellm``   - the floor every doctor run pays;
* ``doctor``           - ``python -m fast_litellm.cli doctor`` (imports LiteLLM, resolves every
  patch: the proxy modules that hold limiter targets are imported);
* ``doctor --coverage`` - the same plus the coverage table (a sample of the price map), as
  kept in the cache after the warm-up run;
* ``doctor --coverage --no-cache`` - a first run: the table computed.

Wall time and CPU time (user + sys of the child) are reported; on a loaded machine CPU time is
the steadier figure. ``beyond_import`` is each command's median minus ``import litellm``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import_litellm": ["-c", "import litellm"],
    "doctor": ["-m", "fast_litellm.cli", "doctor"],
    "doctor_coverage": ["-m", "fast_litellm.cli", "doctor", "--coverage"],
    "doctor_coverage_first": ["-m", "fast_litellm.cli", "doctor", "--coverage", "--no-cache"],
}


def _run(args: list, env: dict) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):  # doctor exits 1 without the native module: still measured
        raise SystemExit(f"{args} failed:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each (default 5)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network
    names = list(COMMANDS)
    for name in names:  # warm-up: bytecode written, page cache warm
        _run(COMMANDS[name], env)
    runs: dict = {name: [] for name in names}
    for i in range(args.runs):
        for name in names if i % 2 == 0 else reversed(names):
            runs[name].append(_run(COMMANDS[name], env))

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    from importlib.metadata import version

    report: dict = {"litellm": version("litellm"), "runs": args.runs, "load_average": os.getloadavg()}
    for name in names:
        for key in ("wall_s", "cpu_s"):
            report[f"{name}_{key}"] = round(med(name, key), 2)
            if name != "import_litellm":
                report[f"{name}_beyond_import_{key}"] = round(med(name, key) - med("import_litellm", key), 2)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:<44} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
