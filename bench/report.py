"""One command for the benchmark reference: run the suite (or read a run's JSON), write one
JSON, and rewrite the tables in docs/benchmarks/*.md and the plots in docs/benchmarks/img/.

    python bench/report.py --run                   # every part, both pins (~1 h on 2 idle cores)
    python bench/report.py --run --quick           # short settings (~25 min): smoke figures
    python bench/report.py --run --parts components,exactness --pins 1.110.2
    python bench/report.py --from-json bench/results/<machine>-<date>.json   # tables + plots only

Parts (each per pin, stock and accelerated alternated in one run, medians; see
docs/benchmarks/methodology.md):
  components  `fast-litellm bench --json` (token counting, cost, rate limiter, transport)
  exactness   bench/rate_limit/exactness.py (second calls a 1-rpm key gets admitted vs live keys)
  router      bench/router/cpu_per_call.py (CPU per Router.acompletion vs deployments)
  proxy       bench/proxy/run.py --scenario every (stock vs fast lane, req/s, sustained)
  memory      bench/rate_limit/memory.py (limiter bytes per key)

Parts a run does not have fall back to bench/results/reference.json (figures from earlier
runs, each with its source), and every table says which it shows. Pieces written by other
scripts can be merged into a run with --add PART:PIN:FILE (e.g. a router JSON
{"pin", "machine", "rows": [{"deployments", "stock_ms", "fast_ms"}]}).

Plots need matplotlib, which is not a dependency of the package: use a venv of your own,
    python -m venv /tmp/plotenv && /tmp/plotenv/bin/pip install matplotlib
and run this script with that interpreter (the benchmarks themselves run in the pinned
LiteLLM venvs, ~/.cache/fast-litellm/envs/litellm-<pin>). No LiteLLM import happens here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks"
IMG = DOCS / "img"
RESULTS = ROOT / "bench" / "results"
REFERENCE = RESULTS / "reference.json"
PINS = ["1.83.14", "1.110.2"]
PARTS = ["components", "exactness", "router", "proxy", "memory"]
ENVS = Path(os.environ.get("FAST_LITELLM_ENV_DIR", Path.home() / ".cache/fast-litellm/envs"))


# -- running -------------------------------------------------------------------------


def _py(pin: str) -> str:
    return str(ENVS / f"litellm-{pin}" / "bin" / "python")


def _env() -> Dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "python"), LITELLM_LOCAL_MODEL_COST_MAP="True")


def _json_out(cmd: List[str], log: Path) -> Any:
    """Run a bench script and parse the JSON document it prints last on stdout."""
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    with open(log, "w") as err:
        out = subprocess.run(cmd, env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True).stdout
    start = out.find("{")
    if start < 0:
        raise RuntimeError(f"no JSON from {cmd[1]} (see {log})")
    return json.loads(out[start:out.rfind("}") + 1])


def run_part(part: str, pin: str, quick: bool, logdir: Path) -> Any:
    log = logdir / f"{part}-{pin}.log"
    if part == "components":
        cmd = [_py(pin), "-m", "fast_litellm.cli", "bench", "--json", "--rounds", "3" if quick else "7"]
        return _json_out(cmd + (["--quick"] if quick else []), log)
    if part == "exactness":
        keys = "25,50,60,70,80,100,120,150,200,500,1000,2000" + ("" if quick else ",5000")
        return _json_out([_py(pin), "bench/rate_limit/exactness.py", "--keys", keys], log)
    if part == "router":
        cmd = [_py(pin), "bench/router/cpu_per_call.py", "--deployments", "1,10,100,1000"]
        cmd += ["--calls", "200", "--rounds", "1"] if quick else ["--with-10k", "--rounds", "3"]
        return normalize_router(_json_out(cmd, log), pin)
    if part == "proxy":
        cmd = [sys.executable, "bench/proxy/run.py", "--litellm", pin, "--scenario", "every", "--conns", "16"]
        cmd += ["--workers", "1", "--rounds", "1", "--seconds", "5", "--catch-up-cap", "30"] if quick else \
            ["--workers", "1,4", "--rounds", "2", "--seconds", "8"]
        with open(log, "w") as err:
            subprocess.run(cmd, cwd=ROOT, stdout=err, stderr=err, check=False)
        return json.loads((ROOT / "bench/out" / f"proxy-scenarios-{pin}.json").read_text())
    if part == "memory":
        keys = ["--keys", "100000"] + ([] if quick else ["--keys", "1000000"])
        cmd = [_py(pin), "bench/rate_limit/memory.py", *keys, "--style", "yield", "--limiter", "v1", "--limiter", "v3"]
        print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
        with open(log, "w") as err:
            out = subprocess.run(cmd, env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True).stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    raise ValueError(part)


def normalize_router(doc: Dict[str, Any], pin: str) -> Dict[str, Any]:
    """The router helper's shape {"pin","machine","rows":[{deployments, stock_ms, fast_ms}]}, from
    either that or bench/router/cpu_per_call.py's own report."""
    if "rows" in doc:
        return doc
    rows = [{"deployments": int(n), "stock_ms": r["stock_cpu_ms_per_call"], "fast_ms": r["fast_cpu_ms_per_call"]}
            for n, r in doc.get("results", {}).items()]
    return {"pin": doc.get("litellm", pin), "machine": doc.get("machine"), "rows": sorted(rows, key=lambda r: r["deployments"]),
            "settings": {k: doc.get(k) for k in ("concurrency", "calls", "rounds", "routing_strategy")},
            "load": [doc.get("load_before"), doc.get("load_after")]}


def machine() -> str:
    sys.path.insert(0, str(ROOT / "python"))
    from fast_litellm.bench import machine as m  # pure stdlib; no LiteLLM import

    return m()


def slug(text: str) -> str:
    cpu = re.sub(r"\((r|tm)\)", "", text.split(",")[0].lower())
    cores = re.search(r"(\d+) cores", text)
    return re.sub(r"[^a-z0-9]+", "-", cpu).strip("-") + (f"-{cores.group(1)}c" if cores else "")


# -- reading a run -------------------------------------------------------------------


class View:
    """A run merged over the reference: ``get(part, pin)`` -> (data, source label)."""

    def __init__(self, run: Dict[str, Any], ref: Dict[str, Any]) -> None:
        self.run, self.ref = run, ref

    def get(self, part: str, pin: str):
        data = self.run.get("pins", {}).get(pin, {}).get(part)
        if data:
            return data, "run"
        data = self.ref.get("pins", {}).get(pin, {}).get(part)
        return (data, "reference") if data else (None, None)

    def source_note(self, part: str) -> str:
        kinds = {pin: self.get(part, pin)[1] for pin in PINS}
        said = []
        if "run" in kinds.values():
            said.append(f"the run named in [index.md](index.md#the-run) "
                        f"({', '.join(p for p, k in kinds.items() if k == 'run')})")
        for pin, kind in kinds.items():
            if kind == "reference":
                src = self.ref["pins"][pin].get("sources", {}).get(part, "an earlier run")
                said.append(f"{pin}: {src}")
            elif kind is None:
                said.append(f"{pin}: not measured")
        return "Source: " + "; ".join(said) + "."


    def plot_note(self, part: str) -> str:
        kinds = {pin: self.get(part, pin)[1] for pin in PINS}
        said = []
        run_pins = [p for p, k in kinds.items() if k == "run"]
        if run_pins:
            r, load = self.run, self.run.get("load", {})
            start, end = load.get("start", "?"), load.get("end", "?")
            # A part merged with --add may carry its own load averages (bench/proxy/run.py does): those are its own.
            own = [self.get(part, p)[0] for p in run_pins]
            if all(isinstance(d, dict) and d.get("load_start") and d.get("load_end") for d in own):
                start = round(min(d["load_start"][0] for d in own), 1)
                end = round(max(d["load_end"][0] for d in own), 1)
            said.append(f"{', '.join(run_pins)}: run of {r.get('date')} on {r.get('machine')}, load average "
                        f"{start} -> {end}, {r.get('settings', {}).get('mode', 'full')} settings")
        for pin, kind in kinds.items():
            if kind == "reference":
                said.append(f"{pin}: " + self.ref["pins"][pin].get("sources", {}).get(part, "an earlier run"))
        return "Source: " + "; ".join(said) + "."


def _fmt(x: Optional[float], unit: str = "", nd: int = 2) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}{unit}"
    return f"{x:.{nd}f}{unit}"


def bench_index(view: View, pin: str) -> Dict[str, Dict[str, Any]]:
    data, _ = view.get("components", pin)
    return {r["name"]: r for r in (data or {}).get("results", []) if "ratio" in r and r.get("ratio")}


# -- tables ----------------------------------------------------------------------------


def table_bench(view: View, names: List[str], label: Callable[[str], str] = lambda n: n) -> str:
    idx = {pin: bench_index(view, pin) for pin in PINS}
    lines = ["| benchmark | " + " | ".join(f"{p} stock us | {p} fast us | {p} ratio" for p in PINS) + " |",
             "|---|" + "---:|" * (3 * len(PINS))]
    for name in names:
        cells = []
        for pin in PINS:
            r = idx[pin].get(name)
            cells += [_fmt(r["stock_us"]), _fmt(r["accelerated_us"]), f"**{r['ratio']:.2f}x**"] if r else ["-"] * 3
        if any(c != "-" for c in cells):
            lines.append(f"| {label(name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + view.source_note("components")


def _names(view: View, pred: Callable[[str], bool]) -> List[str]:
    seen: List[str] = []
    for pin in PINS:
        for n in bench_index(view, pin):
            if pred(n) and n not in seen:
                seen.append(n)
    return seen


SUMMARY_ROWS = [
    ("token counting, one short message (gpt-4o)", "token_counter short message gpt-4o"),
    ("token counting, 20,000 characters (gpt-4o)", "token_counter 20000 chars gpt-4o"),
    ("token counting, one short message (HF tokenizer: claude)", "token_counter short message claude"),
    ("`count_tokens_batch`, 1,000 requests vs a stock loop", "count_tokens_batch 1000 mixed vs stock loop"),
    ("`completion_cost`, chat response (gpt-4o)", "cost.completion_cost chat response (gpt-4o)"),
    ("`cost_per_token` (gpt-4o)", "cost.cost_per_token gpt-4o"),
    ("the proxy's cost step (`response_cost_calculator`)", "cost.response_cost_calculator logging object (proxy cost step, gpt-4o)"),
    ("rate limiter v3 (the proxy's default), 100 pre-call checks", "rate_limit.v3"),
    ("rate limiter v1 (legacy switch), 100 pre-call checks", "rate_limit.pre_call_hook"),
    ("HTTP transport, 256 POSTs 64 at a time (wall)", "transport."),
]


def _find(idx: Dict[str, Any], key: str) -> Optional[Dict[str, Any]]:
    if key in idx:
        return idx[key]
    if key == "token_counter short message claude":
        key = "token_counter short message claude-sonnet-4"
    hits = [r for n, r in idx.items() if n.startswith(key) and "no_router" not in n]
    return hits[0] if hits else None


def table_components_summary(view: View) -> str:
    idx = {pin: bench_index(view, pin) for pin in PINS}
    lines = ["| component, benchmark | " + " | ".join(PINS) + " |", "|---|" + "---:|" * len(PINS)]
    for label, key in SUMMARY_ROWS:
        cells = []
        for pin in PINS:
            r = _find(idx[pin], key)
            cells.append(f"**{r['ratio']:.1f}x** ({_fmt(r['stock_us'])} / {_fmt(r['accelerated_us'])} us)" if r
                         else "off / not measured")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    ex_cells = []
    for pin in PINS:
        ex, _ = view.get("exactness", pin)
        big = max(ex["rows"], key=lambda r: r["keys"]) if ex else None
        ex_cells.append(f"stock {big['stock_second_admitted']:,} / ours {big['fast_second_admitted']:,} "
                        f"of {big['keys']:,}" if big else "-")
    lines.append("| rate limiter exactness: second calls admitted for keys limited to 1 rpm (0 is right) | "
                 + " | ".join(ex_cells) + " |")
    return ("Ratio = stock time / accelerated time (higher is better); in brackets stock / accelerated "
            "microseconds per timed call (one call, or the batch the row names).\n\n" + "\n".join(lines) + "\n\n" + view.source_note("components")
            + " Exactness: " + view.source_note("exactness")[len("Source: "):])


def _scenario_rows(doc: Dict[str, Any], workers: int = 1, conns: int = 16) -> List[Dict[str, Any]]:
    out = []
    for entry in doc.get("scenarios", []):
        runs = [r for r in entry.get("runs", []) if r.get("workers") == workers and r.get("conns") == conns]

        def med(variant: str, f: Callable[[Dict[str, Any]], Any]) -> Optional[float]:
            vals = [f(r) for r in runs if r.get("variant") == variant]
            vals = [v for v in vals if v is not None]
            return round(statistics.median(vals), 2) if vals else None

        sus = lambda r: (r.get("sustained") or {}).get("rps")  # noqa: E731
        lanes = [r["lanes"] for r in runs if r.get("variant") == "accelerated" and r.get("lanes")]
        seen = sum(x.get("rust", 0) + x.get("python", 0) + x.get("none", 0) for x in lanes)
        out.append({
            "scenario": entry["scenario"], "error": entry.get("error") or (None if runs else "no run"),
            "stock": med("stock", lambda r: r.get("rps")), "fast": med("accelerated", lambda r: r.get("rps")),
            "stock_sus": med("stock", sus), "fast_sus": med("accelerated", sus),
            "stock_p99": med("stock", lambda r: r.get("p99_ms")), "fast_p99": med("accelerated", lambda r: r.get("p99_ms")),
            "failed": (sum(r.get("failed", 0) for r in runs if r.get("variant") == "stock"),
                       sum(r.get("failed", 0) for r in runs if r.get("variant") == "accelerated")),
            "rust": (sum(x.get("rust", 0) for x in lanes) / seen) if seen else None,
            # a side whose count never caught up: its sustained figure is a lower bound
            "capped": {v: any(r.get("sustained") and not r["sustained"].get("caught_up", True)
                              for r in runs if r.get("variant") == v) for v in ("stock", "accelerated")},
        })
    return out


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    return f"**{a / b:.1f}x**" if a and b else "-"


def table_proxy(view: View) -> str:
    lines = ["| LiteLLM | scenario | stock req/s | fast lane req/s | ratio | sustained stock / fast req/s "
             "| sustained ratio | p99 ms stock / fast | failed stock / fast | served in Rust |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for pin in reversed(PINS):
        doc, _ = view.get("proxy", pin)
        for r in _scenario_rows(doc or {}):
            if r["error"]:
                lines.append(f"| {pin} | {r['scenario']} | - | - | - | - | - | - | - | error: {r['error'][:80]} |")
                continue
            cap = {v: " (capped)" if r["capped"][v] else "" for v in r["capped"]}
            sus = (f"{_fmt(r['stock_sus'], nd=1)}{cap['stock']} / {_fmt(r['fast_sus'], nd=1)}{cap['accelerated']}"
                   if r["stock_sus"] or r["fast_sus"] else "-")
            rust = "-" if r["rust"] is None else f"{r['rust']:.0%}"
            lines.append(
                f"| {pin} | {r['scenario']} | {_fmt(r['stock'], nd=1)} | {_fmt(r['fast'], nd=1)} | {_ratio(r['fast'], r['stock'])} "
                f"| {sus} | {_ratio(r['fast_sus'], r['stock_sus']) if r['stock_sus'] else '-'} "
                f"| {_fmt(r['stock_p99'], nd=1)} / {_fmt(r['fast_p99'], nd=1)} | {r['failed'][0]} / {r['failed'][1]} "
                f"| {rust} |")
    return ("1 worker, 16 connections (wrk), non-streaming unless the scenario says otherwise. "
            "Sustained = requests LiteLLM's own counters counted / (load time + time until they caught up): "
            "only for configs with logging callbacks; (capped): the count had not caught up when the rig stopped "
            "waiting, so the figure is a lower bound.\n\n" + "\n".join(lines) + "\n\n" + view.source_note("proxy"))


def table_router(view: View) -> str:
    sizes = sorted({r["deployments"] for pin in PINS for r in (view.get("router", pin)[0] or {}).get("rows", [])})
    lines = ["| deployments | " + " | ".join(f"{p} stock ms | {p} fast ms | {p} ratio" for p in PINS) + " |",
             "|---:|" + "---:|" * (3 * len(PINS))]
    for n in sizes:
        cells = []
        for pin in PINS:
            rows = {r["deployments"]: r for r in (view.get("router", pin)[0] or {}).get("rows", [])}
            r = rows.get(n)
            cells += [_fmt(r["stock_ms"]), _fmt(r["fast_ms"]), f"{r['stock_ms'] / r['fast_ms']:.2f}x"] if r else ["-"] * 3
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return ("Process CPU per `Router.acompletion` call, one model group of N deployments, 16 concurrent, "
            "local mock upstream; ratio = stock / accelerated.\n\n" + "\n".join(lines) + "\n\n" + view.source_note("router"))


def table_exactness(view: View) -> str:
    sizes = sorted({r["keys"] for pin in PINS for r in (view.get("exactness", pin)[0] or {}).get("rows", [])})
    lines = ["| live keys (1 rpm each) | " + " | ".join(f"{p} stock | {p} ours" for p in PINS) + " |",
             "|---:|" + "---:|" * (2 * len(PINS))]
    for n in sizes:
        cells = []
        for pin in PINS:
            rows = {r["keys"]: r for r in (view.get("exactness", pin)[0] or {}).get("rows", [])}
            r = rows.get(n)
            cells += [f"{r['stock_second_admitted']:,}", f"{r['fast_second_admitted']:,}"] if r else ["-", "-"]
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return ("Second calls admitted within the minute (each should be refused: 0 is exact).\n\n"
            + "\n".join(lines) + "\n\n" + view.source_note("exactness"))


def table_memory(view: View) -> str:
    lines = ["| LiteLLM | limiter | keys | stock B/key (counters kept) | ours B/key (heap table) | ours, shared table B/key |",
             "|---|---|---:|---:|---:|---:|"]
    for pin in PINS:
        rows, _ = view.get("memory", pin)
        by: Dict[Any, Dict[str, Any]] = {}
        for r in rows or []:
            by.setdefault((r.get("limiter", "v1"), r["keys"]), {})[r["mode"]] = r
        for (lim, keys), modes in sorted(by.items()):
            def b(m: str) -> str:
                r = modes.get(m)
                if not r:
                    return "-"
                kept = f" ({r['cache_items']:,})" if m == "stock" and r.get("cache_items") is not None else ""
                return _fmt(r["bytes_per_key"]) + kept
            lines.append(f"| {pin} | {lim} | {keys:,} | {b('stock')} | {b('fast')} | {b('fast-shm')} |")
    return ("RSS growth per live key (`bench/rate_limit/memory.py`, a fresh process per row). Stock keeps at most "
            "200 entries and forgets the rest, so its small figure is the cost of being wrong past 60-120 live keys "
            "(see the exactness table).\n\n" + "\n".join(lines) + "\n\n" + view.source_note("memory"))


def table_token_curve(view: View) -> str:
    sizes = [10, 100, 1000, 10000, 20000, 100000]
    lines = ["| characters | " + " | ".join(f"{p} gpt-4o | {p} claude" for p in PINS) + " |",
             "|---:|" + "---:|" * (2 * len(PINS))]
    for n in sizes:
        cells = []
        for pin in PINS:
            pts = dict(curve_points(view, pin, "gpt-4o")), dict(curve_points(view, pin, "claude"))
            cells += [f"{pts[0][n]:.2f}x" if n in pts[0] else "-", f"{pts[1][n]:.2f}x" if n in pts[1] else "-"]
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return ("Speed-up (stock / accelerated) of `litellm.token_counter` on one user message of N characters of "
            "generated mixed text.\n\n" + "\n".join(lines) + "\n\n" + view.source_note("components"))


def curve_points(view: View, pin: str, model: str) -> List[tuple]:
    pts = []
    for name, r in bench_index(view, pin).items():
        p = name.split()
        if len(p) >= 4 and p[0] == "token_counter" and p[2] == "chars" and p[3].startswith(model):
            pts.append((int(p[1]), r["ratio"]))
    return sorted(pts)


def table_run(view: View) -> str:
    r = view.run
    if not r.get("pins"):
        return "No run yet: every table shows the reference figures named under it."
    load = r.get("load", {})
    mode = r.get("settings", {}).get("mode", "full")
    parts = {pin: sorted(v) for pin, v in r["pins"].items()}
    lines = [f"- Machine: {r.get('machine')}.",
             f"- Date: {r.get('date')}; load average {load.get('start', '?')} at the start, {load.get('end', '?')} at the end"
             + (f" ({r['note']})" if r.get("note") else "") + ".",
             f"- Settings: {mode}" + (" (short rounds: smoke figures, noisier than a full run)" if mode == "quick" else "") + ".",
             "- Parts measured: " + "; ".join(f"{pin}: {', '.join(v)}" for pin, v in sorted(parts.items())) + ".",
             f"- Regenerate: `{r.get('command', 'python bench/report.py --run')}`"
             + (" (this run was assembled from the same scripts run one by one)" if r.get("assembled_from") else "")
             + f"; re-render from its JSON: `python bench/report.py --from-json {r.get('json', 'bench/results/<file>.json')}`."]
    return "\n".join(lines)


TABLES: Dict[str, Callable[[View], str]] = {
    "run": table_run,
    "components-summary": table_components_summary,
    "proxy": table_proxy,
    "router": table_router,
    "exactness": table_exactness,
    "memory": table_memory,
    "token-curve": table_token_curve,
    "token-counting": lambda v: table_bench(v, _names(v, lambda n: n.startswith("token_counter") or n.startswith("count_tokens"))),
    "cost": lambda v: table_bench(v, _names(v, lambda n: n.startswith("cost."))),
    "rate-limit": lambda v: table_bench(v, _names(v, lambda n: n.startswith("rate_limit."))),
    "transport": lambda v: table_bench(v, _names(v, lambda n: n.startswith("transport."))),
    "router-bench": lambda v: table_bench(v, _names(v, lambda n: n.startswith("router."))),
}

MARK = re.compile(r"(<!-- report:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /report:(?P=name) -->)", re.S)


def rewrite_docs(view: View) -> List[str]:
    """Replace the text between <!-- report:NAME --> and <!-- /report:NAME --> in every page."""
    changed = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()

        def sub(m: "re.Match[str]") -> str:
            fn = TABLES.get(m.group("name"))
            if fn is None:
                raise SystemExit(f"{page.name}: unknown report table {m.group('name')!r}")
            return m.group(1) + fn(view).rstrip() + "\n" + m.group(4)

        new = MARK.sub(sub, text)
        if new != text:
            page.write_text(new)
            changed.append(str(page.relative_to(ROOT)))
    return changed


# -- plots -----------------------------------------------------------------------------

COLORS = {"stock": "#8c8c8c", "fast": "#d62728", "1.83.14": "#1f77b4", "1.110.2": "#ff7f0e"}


def _footer(fig: Any, view: View, part: str) -> None:
    note = view.plot_note(part).replace("`", "")
    width = int(fig.get_figwidth() * 19)  # characters per line at this font size
    fig.text(0.01, 0.005, "\n".join(_wrap(note, width)), fontsize=6.5, color="#555555", va="bottom")


def _wrap(text: str, width: int) -> List[str]:
    out, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return out + [line]


def plot_proxy(view: View, plt: Any, path: Path) -> bool:
    pins = [p for p in reversed(PINS) if view.get("proxy", p)[0]]
    if not pins:
        return False
    fig, axes = plt.subplots(1, len(pins), figsize=(6.2 * len(pins), 6.0), squeeze=False)
    for ax, pin in zip(axes[0], pins):
        rows = [r for r in _scenario_rows(view.get("proxy", pin)[0]) if not r["error"] and r["stock"] and r["fast"]]
        labels, s, f = [], [], []
        for r in rows:
            sustained = r["stock_sus"] is not None and r["fast_sus"] is not None
            labels.append(r["scenario"] + (" (sustained)" if sustained else ""))
            s.append(r["stock_sus"] if sustained else r["stock"])
            f.append(r["fast_sus"] if sustained else r["fast"])
        y = list(range(len(rows)))
        h = 0.38
        ax.barh([i + h / 2 for i in y], s, h, label="stock `litellm` proxy", color=COLORS["stock"])
        ax.barh([i - h / 2 for i in y], f, h, label="`fast-litellm proxy` (fast lane)", color=COLORS["fast"])
        for i, (a, b) in enumerate(zip(s, f)):
            ax.text(b * 1.15, i - h / 2, f"{b / a:.0f}x" if b / a >= 10 else f"{b / a:.1f}x", va="center", fontsize=8)
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlim(1, max(f + s) * 8)
        ax.set_xlabel("requests per second (log scale; higher is better)")
        kind = view.get("proxy", pin)[1]
        what = (f"named scenarios, run of {view.run.get('date', '?')[:10]}" if kind == "run"
                else "endpoint matrix, an earlier run")
        ax.set_title(f"LiteLLM {pin}: 1 worker, 16 connections\n({what})", fontsize=10)
        ax.grid(axis="x", which="major", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=9, bbox_to_anchor=(0.5, 0.945), frameon=False)
    fig.suptitle("Proxy throughput: stock LiteLLM vs Fast LiteLLM's fast lane (requests/s)", fontsize=12, y=0.99)
    fig.tight_layout(rect=(0, 0.1, 1, 0.9))
    _footer(fig, view, "proxy")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_token_curve(view: View, plt: Any, path: Path) -> bool:
    series = [(pin, model, curve_points(view, pin, model)) for pin in PINS for model in ("gpt-4o", "claude")]
    series = [s for s in series if s[2]]
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for pin, model, pts in series:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=COLORS[pin],
                linestyle="-" if model == "gpt-4o" else "--", label=f"LiteLLM {pin}, {model}")
    ax.axhline(1.0, color="#555555", linewidth=1, linestyle=":", label="1x (no gain)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ys = [r for _, _, pts in series for _, r in pts]
    ax.set_ylim(min(0.8, min(ys) * 0.8), max(ys) * 1.5)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.set_xlabel("characters in the message (log scale)")
    ax.set_ylabel("speed-up: stock time / accelerated time (log scale)")
    ax.set_title("litellm.token_counter: speed-up against input size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    _footer(fig, view, "components")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _stock_vs_fast_lines(view: View, plt: Any, path: Path, part: str, x: str,
                         y: Callable[[Dict[str, Any], str], float], labels: Dict[str, str],
                         ylim: tuple) -> bool:
    """One dashed (stock) and one solid (Fast LiteLLM) line per pin, x on a log scale."""
    pins = [p for p in PINS if view.get(part, p)[0]]
    if not pins:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for pin in pins:
        rows = view.get(part, pin)[0]["rows"]
        for side, marker, style, name in (("stock", "o", "--", "stock"), ("fast", "s", "-", "Fast LiteLLM")):
            ax.plot([r[x] for r in rows], [y(r, side) for r in rows], marker=marker, color=COLORS[pin],
                    linestyle=style, label=f"LiteLLM {pin}, {name}")
    ax.set_xscale("log")
    ax.set_ylim(*ylim)
    ax.set_xlabel(labels["x"])
    ax.set_ylabel(labels["y"])
    ax.set_title(labels["title"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    _footer(fig, view, part)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_router(view: View, plt: Any, path: Path) -> bool:
    return _stock_vs_fast_lines(
        view, plt, path, "router", "deployments", lambda r, side: r[f"{side}_ms"],
        {"x": "deployments in the model group (log scale)", "y": "process CPU per call (ms; lower is better)",
         "title": "Router.acompletion: CPU per call against deployments (16 concurrent)"}, (0, None))


def plot_exactness(view: View, plt: Any, path: Path) -> bool:
    return _stock_vs_fast_lines(
        view, plt, path, "exactness", "keys", lambda r, side: 100 * r[f"{side}_second_admitted"] / r["keys"],
        {"x": "live keys, each limited to 1 request per minute (log scale)",
         "y": "second calls wrongly admitted (% of keys; 0 is exact)",
         "title": "Proxy rate limiter (v3): exactness against the number of keys"}, (-3, 103))


PLOTS = {"proxy-scenarios.png": plot_proxy, "token-counting-curve.png": plot_token_curve,
         "router-cpu-per-call.png": plot_router, "limiter-exactness.png": plot_exactness}


def draw(view: View) -> List[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed for this interpreter: plots not redrawn "
              "(python -m venv /tmp/plotenv && /tmp/plotenv/bin/pip install matplotlib)", file=sys.stderr)
        return []
    IMG.mkdir(parents=True, exist_ok=True)
    plt.rcParams.update({"svg.hashsalt": "fast-litellm", "font.size": 9})
    done = []
    for name, fn in PLOTS.items():
        if fn(view, plt, IMG / name):
            done.append(str((IMG / name).relative_to(ROOT)))
    return done


# -- main ------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--run", action="store_true", help="run the benchmarks (else read --from-json)")
    ap.add_argument("--from-json", help="a run's JSON (bench/results/...json) to render")
    ap.add_argument("--quick", action="store_true", help="short settings: smoke figures, labelled as such")
    ap.add_argument("--pins", default=",".join(PINS))
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--add", action="append", default=[], metavar="PART:PIN:FILE",
                    help="merge a JSON written by a bench script into the run (e.g. router:1.110.2:out.json)")
    ap.add_argument("--note", default="", help="a free-text note stored in the run (e.g. what else ran on the machine)")
    ap.add_argument("--load", help="START,END load averages of a run assembled with --add (default: now)")
    ap.add_argument("--out", help="where to write the run's JSON (default bench/results/<machine>-<date>.json)")
    ap.add_argument("--no-docs", action="store_true", help="write the JSON only")
    args = ap.parse_args()

    if args.from_json:
        run = json.loads(Path(args.from_json).read_text())
    else:
        run = {"schema": 1, "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
               "load": {"start": round(os.getloadavg()[0], 1)}, "settings": {"mode": "quick" if args.quick else "full"},
               "command": "python bench/report.py --run" + (" --quick" if args.quick else ""), "pins": {}}
    if args.note:
        run["note"] = args.note
    if args.run:
        logdir = RESULTS / "logs"
        logdir.mkdir(parents=True, exist_ok=True)
        for pin in args.pins.split(","):
            for part in args.parts.split(","):
                try:
                    run["pins"].setdefault(pin, {})[part] = run_part(part, pin, args.quick, logdir)
                except Exception as exc:  # one part failing does not lose the others
                    print(f"{part} {pin}: {exc}", file=sys.stderr)
        run["load"]["end"] = round(os.getloadavg()[0], 1)
    if args.load:
        start, end = args.load.split(",")
        run["load"] = {"start": float(start), "end": float(end)}
    if args.add and not args.run:
        run["assembled_from"] = args.add  # the bench scripts' own JSON files, run one by one
    for spec in args.add:
        part, pin, file = spec.split(":", 2)
        doc = json.loads(Path(file).read_text())
        if part == "components" and doc.get("machine"):
            run["machine"] = doc["machine"]  # the machine the figures were measured on
        run.setdefault("pins", {}).setdefault(pin, {})[part] = normalize_router(doc, pin) if part == "router" else doc
    if args.run or args.add or args.note or not args.from_json:
        out = Path(args.out) if args.out else RESULTS / f"{slug(run['machine'])}-{run['date'][:10]}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        run["json"] = str(out.relative_to(ROOT)) if out.is_relative_to(ROOT) else str(out)
        out.write_text(json.dumps(run, indent=1) + "\n")
        print(f"run JSON: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}", file=sys.stderr)
    if args.no_docs:
        return 0
    ref = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
    view = View(run, ref)
    for f in rewrite_docs(view) + draw(view):
        print(f"wrote {f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
