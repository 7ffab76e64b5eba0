"""Time `fast-litellm audit` on the installed LiteLLM: Rust core vs pure Python.

Run with the interpreter whose LiteLLM you want to audit, e.g.

    PYTHONPATH=$PWD/python ~/.cache/fast-litellm/envs/litellm-1.110.2/bin/python bench/audit_bench.py

Three in-process measurements, alternated round by round (page cache warm after
the first round; the machine is shared, so medians):

* ``rust``     - ``audit.run_audit(dists=["litellm"])``: the whole check (RECORD
                 verification, unlisted-file walk, .pth scan, policy) on the Rust engine;
* ``python``   - the same report from the pure-Python engine (same checks);
* ``loop``     - the minimal pure-Python hashing loop: csv-read RECORD, hashlib.sha256
                 each hashed file, compare the urlsafe-base64 digest (verification only).

Plus the wall time of the CLI as a user runs it (``python -m fast_litellm.cli audit``,
interpreter start included).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import statistics
import subprocess
import sys
import time

from fast_litellm import audit
from fast_litellm.bench import machine


def hash_loop(record_path: str, base: str) -> int:
    bad = 0
    with open(record_path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if len(row) < 2 or not row[1]:
                continue
            algo, _, expected = row[1].partition("=")
            try:
                with open(os.path.join(base, row[0]), "rb") as f:
                    digest = hashlib.new(algo, f.read()).digest()
            except FileNotFoundError:
                bad += 1
                continue
            bad += base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != expected
    return bad


def main() -> None:
    rounds = int(os.environ.get("ROUNDS", "7"))
    report = audit.run_audit(dists=["litellm"])
    [dist] = report["distributions"]
    assert report["engine"] == "rust", "native module not loaded"
    print(f"machine: {machine()}")
    print(f"litellm {dist['version']}: {dist['entries']} RECORD entries, {dist['verified']} files hashed, "
          f"{dist['bytes'] / 2**20:.1f} MiB; audit status {report['status']}")

    cases = {
        "rust": lambda: audit.run_audit(dists=["litellm"]),
        "python": lambda: audit.run_audit(dists=["litellm"], engine="python"),
        "loop": lambda: hash_loop(dist["record"], dist["base"]),
    }
    times = {k: [] for k in cases}
    for r in range(rounds):
        order = list(cases) if r % 2 == 0 else list(reversed(cases))
        for name in order:
            t = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k in cases:
        print(f"  {k:<7} median {med[k] * 1000:8.1f} ms   (min {min(times[k]) * 1000:.1f}, "
              f"max {max(times[k]) * 1000:.1f})   python/loop ÷ rust: {med[k] / med['rust']:.2f}x")

    cli = []
    env = dict(os.environ)
    for _ in range(max(3, rounds // 2)):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fast_litellm.cli", "audit"], env=env, stdout=subprocess.DEVNULL,
                       check=False)
        cli.append(time.perf_counter() - t)
    print(f"  CLI wall (interpreter start + import + audit of litellm and fast-litellm): "
          f"median {statistics.median(cli) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
