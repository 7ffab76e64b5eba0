"""Stock vs accelerated, alternated in one process.

Each component module may expose ``BENCHMARKS``: a list of :class:`Benchmark`.
A benchmark's ``setup()`` returns a zero-argument callable that goes through
LiteLLM's public name (``litellm.token_counter(...)``), so the same callable runs
the stock function while Fast LiteLLM is deactivated and the accelerated one
while it is active. Rounds alternate stock/accelerated (and which goes first), and
the report gives median microseconds per call and the ratio stock/accelerated.
"""

from __future__ import annotations

import gc
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from . import registry


@dataclass
class Benchmark:
    name: str
    patch: str  # the patch it exercises; skipped when that patch is not applied
    setup: Callable[[], Callable[[], Any]]
    # Target wall time of one timed batch; iterations are calibrated to it.
    batch_seconds: float = 0.05
    notes: str = ""
    tags: List[str] = field(default_factory=list)
    # Environment set while it runs, for a patch whose ``requires`` follows a switch that
    # LiteLLM itself reads (e.g. the v1 limiter's LEGACY_MULTI_INSTANCE_RATE_LIMITING).
    env: Dict[str, str] = field(default_factory=dict)


def all_benchmarks() -> List[Benchmark]:
    out: List[Benchmark] = []
    for module in registry.component_modules():
        out.extend(getattr(module, "BENCHMARKS", []))
    return out


def _time_batch(fn: Callable[[], Any], number: int) -> float:
    gc_was = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number
    finally:
        if gc_was:
            gc.enable()


def _calibrate(fn: Callable[[], Any], seconds: float) -> int:
    number = 1
    while True:
        elapsed = _time_batch(fn, number) * number
        if elapsed >= seconds / 4 or number >= 1_000_000:
            return max(1, int(number * seconds / max(elapsed, 1e-9)))
        number *= 4


def machine() -> str:
    import os

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def run_one(bench: Benchmark, rounds: int, quick: bool) -> Dict[str, Any]:
    if not bench.env:
        return _run_one(bench, rounds, quick)
    import os

    saved = {k: os.environ.get(k) for k in bench.env}
    registry.deactivate()  # patches re-check their preconditions at the next activation
    os.environ.update(bench.env)
    try:
        return _run_one(bench, rounds, quick)
    finally:
        registry.deactivate()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        registry.activate()


def _run_one(bench: Benchmark, rounds: int, quick: bool) -> Dict[str, Any]:
    patch = next((p for p in registry.patches() if p.name == bench.patch), None)
    registry.activate()
    registry.status()  # resolve pending targets
    if patch is None or patch.state != "applied":
        reason = "unknown patch" if patch is None else f"{patch.state}: {patch.reason}"
        return {"name": bench.name, "patch": bench.patch, "skipped": reason}
    fn = bench.setup()
    seconds = bench.batch_seconds / (5 if quick else 1)
    registry.deactivate()
    fn()  # warm both paths
    n_stock = _calibrate(fn, seconds)
    registry.activate()
    fn()
    n_fast = _calibrate(fn, seconds)
    stock: List[float] = []
    fast: List[float] = []
    for r in range(max(1, rounds)):
        order = ("stock", "fast") if r % 2 == 0 else ("fast", "stock")
        for which in order:
            if which == "stock":
                registry.deactivate()
                stock.append(_time_batch(fn, n_stock))
            else:
                registry.activate()
                fast.append(_time_batch(fn, n_fast))
    registry.activate()
    import statistics  # here, not at import: `import fast_litellm` loads this module

    stock_us = statistics.median(stock) * 1e6
    fast_us = statistics.median(fast) * 1e6
    return {
        "name": bench.name,
        "patch": bench.patch,
        "stock_us": round(stock_us, 3),
        "accelerated_us": round(fast_us, 3),
        "ratio": round(stock_us / fast_us, 2) if fast_us > 0 else None,
        "rounds": rounds,
        "iterations": {"stock": n_stock, "accelerated": n_fast},
        "notes": bench.notes,
    }


def run_all(rounds: int = 7, only: Optional[List[str]] = None, quick: bool = False) -> Dict[str, Any]:
    import litellm  # noqa: F401

    results = []
    for bench in all_benchmarks():
        if only and not any(o in bench.name for o in only):
            continue
        results.append(run_one(bench, rounds, quick))
    st = registry.status(resolve=False)
    return {"machine": machine(), "versions": st["versions"], "results": results}


def format_table(report: Dict[str, Any]) -> str:
    v = report["versions"]
    lines = [
        f"machine: {report['machine']}",
        f"litellm {v['litellm']}, fast_litellm {v['fast_litellm']} (native {v['native_build']})",
        "",
        f"{'benchmark':<44} {'stock us':>12} {'fast us':>12} {'ratio':>8}",
    ]
    for r in report["results"]:
        if "skipped" in r:
            lines.append(f"{r['name']:<44} skipped ({r['skipped']})")
        else:
            lines.append(f"{r['name']:<44} {r['stock_us']:>12.2f} {r['accelerated_us']:>12.2f} {r['ratio']:>7.2f}x")
    return "\n".join(lines)
