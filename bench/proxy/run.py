"""The proxy load rig: stock `litellm` vs `fast-litellm proxy`, same config, alternated.

    python bench/proxy/run.py --litellm 1.110.2            # the full matrix (~15 min)
    python bench/proxy/run.py --litellm 1.110.2 --quick    # 16 connections, non-streaming chat only
    python bench/proxy/run.py --list-scenarios              # named real-deployment configs
    python bench/proxy/run.py --litellm 1.110.2 --scenario every --workers 1,4   # all of them

With ``--scenario`` each named config (bench/proxy/scenarios.py) gets its own mock upstream
and generated config; callback configs also report a sustained figure (requests LiteLLM's
own counters counted / (load time + time until they caught up)); see docs/benchmarks/proxy.md.

It starts the local mock upstream (and measures it alone), then for each worker count
starts the stock proxy and the accelerated one in turn (rounds alternate which goes
first), drives each with wrk at 1/16/64 connections on /v1/chat/completions and
/v1/responses, non-streaming and streaming, and reports requests/s, p50/p99, the
`x-litellm-overhead-duration-ms` header and RSS per process. Markdown goes to stdout
and JSON to bench/out/. wrk comes from Debian (`apt-get install wrk`; the rig installs
it when it can). Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))  # scenarios.py
KEY = "sk-bench-" + "5f1c0ffee0ddba11" * 3


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get install wrk)", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}) before {url} answered")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:
            time.sleep(0.5)
    raise TimeoutError(url)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def tree_rss(pid: int) -> list:
    """RSS (MB) of a process and all its descendants."""
    out = []
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                rss_pages = int(fh.read().split()[1])
            out.append(round(rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1))
        except OSError:
            pass
        todo.extend(children.get(p, []))
    return out


def body_for(endpoint: str, stream: bool) -> dict:
    if endpoint.endswith("#declined"):
        # A request the Rust fast lane does not serve (an extra field): measures the pass-through.
        return dict(body_for(endpoint.split("#")[0], stream), temperature=1)
    if endpoint == "/v1/responses":
        return {"model": "gpt-4o-mini", "input": "Say hello.", "stream": stream}
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}], "stream": stream}


# Counts each answer's lane header (x-fast-litellm-lane) per wrk thread, summed in done().
LANE_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
rust, python, nolane = 0, 0, 0
function response(status, headers, body)
  local lane = headers["x-fast-litellm-lane"] or headers["X-Fast-Litellm-Lane"]
  if lane == "rust" then rust = rust + 1 elseif lane == "python" then python = python + 1 else nolane = nolane + 1 end
end
function done(summary, latency, requests)
  local r, p, n = 0, 0, 0
  for _, t in ipairs(threads) do r = r + t:get("rust"); p = p + t:get("python"); n = n + t:get("nolane") end
  io.write(string.format("LANES rust=%d python=%d none=%d\\n", r, p, n))
end
"""


def wrk_once(wrk: str, url: str, body: dict, conns: int, seconds: int, lanes: bool = False,
             count_lanes: bool = True) -> dict:
    """One wrk run. ``lanes``: also the load's duration, the non-2xx count and (``count_lanes``,
    a Lua ``response()`` hook that costs wrk some CPU per answer) each answer's lane header."""
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {KEY}"\n'
        + (LANE_LUA if lanes and count_lanes else "")
    )
    lua.close()
    # wrk's default 2 s timeout counts a slow answer as a failure; at 64 connections the
    # Python proxy's p99 is about that long, so a 30 s timeout keeps "failed" for real errors
    # and lets p99 show the real latency.
    cmd = [wrk, f"-t{min(2, conns)}", f"-c{conns}", f"-d{seconds}s", "--timeout", "30s", "--latency", "-s", lua.name, url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    os.unlink(lua.name)

    def ms(label: str):
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return None
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result = {
        "rps": float(rps.group(1)) if rps else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "failed": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errs.groups())) if errs else 0),
    }
    if lanes:
        result["non2xx"] = int(non2xx.group(1)) if non2xx else 0
        result["load_s"] = (float(total.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
                            if total else float(seconds))
        m = re.search(r"LANES rust=(\d+) python=(\d+) none=(\d+)", out)
        result["lanes"] = {k: int(v) for k, v in zip(("rust", "python", "none"), m.groups())} if m else None
    return result


def overhead_ms(url: str, body: dict, n: int = 15):
    return sample_lanes(url, dict(body, stream=False), n)["overhead_ms"]


CONFIG = HERE / "config.yaml"


def lane_stats(port: int) -> dict:
    """The front's counters (served, passed, logging queue) and the proxy's request counter, if any."""
    out: dict = {}
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/_fast_litellm/stats", headers={"Authorization": f"Bearer {KEY}"})
        out.update(json.load(urllib.request.urlopen(req, timeout=10)))
    except Exception:
        pass
    counted = count_requests(port, "prometheus")
    if counted is not None:
        out["metrics_requests"] = counted
    return out


def start_proxy(variant: str, bindir: Path, port: int, workers: int, env: dict, config: Path = None) -> subprocess.Popen:
    args = ["--config", str(config or CONFIG), "--host", "127.0.0.1", "--port", str(port),
            "--num_workers", str(workers)]
    if variant == "stock":
        argv = [str(bindir / "litellm")] + args
    else:
        # The installed entry point, or the source tree's (PYTHONPATH) when the venv has none.
        launcher = ([str(bindir / "fast-litellm")] if (bindir / "fast-litellm").exists()
                    else [str(bindir / "python"), "-m", "fast_litellm.cli"])
        argv = launcher + ["proxy"] + (["--no-fast-lane"] if variant == "no-fast-lane" else []) + args
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_up(f"http://127.0.0.1:{port}/health/liveliness", proc)
    except BaseException:  # never leave a proxy behind (timeout, Ctrl-C)
        stop(proc)
        raise
    return proc


def count_requests(port: int, counter: str, count_dir: Path = None):
    """Requests LiteLLM's own bookkeeping has counted so far: Prometheus' request counter summed
    over its series (``litellm_requests_metric``, else ``litellm_proxy_total_requests_metric``),
    or the rig's CustomLogger's per-process counts. None when it cannot be read."""
    if counter == "custom":
        total = 0
        for f in count_dir.iterdir() if count_dir and count_dir.exists() else []:
            try:
                total += int(f.read_text() or 0)
            except (OSError, ValueError):
                pass
        return float(total)
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics/", headers={"Authorization": f"Bearer {KEY}"})
        text = urllib.request.urlopen(req, timeout=30).read().decode()
    except Exception:
        return None
    for name in ("litellm_requests_metric_total", "litellm_proxy_total_requests_metric_total"):
        vals = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{")
                or line.startswith(name + " ")]
        if vals:
            return sum(vals)
    return 0.0


def wait_count(port: int, counter: str, count_dir, target: float, cap: float):
    """Poll the counter until it reaches target or cap seconds pass: (count, seconds waited, caught up)."""
    t0 = time.time()
    n = count_requests(port, counter, count_dir)
    while (n is None or n < target) and time.time() - t0 < cap:
        time.sleep(0.25)
        n = count_requests(port, counter, count_dir)
    return n, time.time() - t0, n is not None and n >= target


def sample_lanes(url: str, body: dict, n: int = 15, mock_calls=None) -> dict:
    """Warm-up requests, one at a time, which also say which lane answered (and the overhead
    header); with ``mock_calls`` (reads the mock's call count) the upstream calls per request."""
    lanes, overhead, ok = {}, [], 0
    before = mock_calls() if mock_calls else None
    for _ in range(n):
        req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                resp.read()
                ok += 1
                lane = resp.headers.get("x-fast-litellm-lane") or "none"
                lanes[lane] = lanes.get(lane, 0) + 1
                if resp.headers.get("x-litellm-overhead-duration-ms"):
                    overhead.append(float(resp.headers["x-litellm-overhead-duration-ms"]))
        except Exception as exc:  # recorded: a scenario that fails outright should say so
            lanes["error"] = lanes.get("error", 0) + 1
            lanes["last_error"] = str(exc)[:200]
    out = {"ok": ok, "lanes": lanes, "overhead_ms": round(statistics.median(overhead), 2) if overhead else None}
    if mock_calls and ok:
        time.sleep(0.5)  # a late second call (a replay) is counted too
        out["upstream_calls_per_request"] = round((mock_calls() - before) / ok, 2)
    return out


def run_scenarios(args, bindir: Path, wrk: str, env: dict) -> int:
    import scenarios as sc

    chosen = sc.pick(args.scenario)
    sys.path.insert(0, str(ROOT / "python"))
    from fast_litellm.bench import machine

    results = {"litellm": args.litellm, "machine": machine(), "load_start": os.getloadavg(), "scenarios": []}
    conns = [int(c) for c in args.conns.split(",")]
    base_tmp = Path(tempfile.mkdtemp(prefix="rig-scenarios-"))
    for scen in chosen:
        work = base_tmp / scen.name
        tls_dir = work / "tls"
        mock_port = free_port()
        mock_cmd = [str(bindir / "python"), str(HERE / "mock_upstream.py"), "--port", str(mock_port), "--shape", scen.shape]
        if scen.tls:
            mock_cmd += ["--tls-dir", str(tls_dir)]
        mock = subprocess.Popen(mock_cmd, env=env, start_new_session=True)
        entry = {"scenario": scen.name, "about": scen.about, "runs": [], "samples": []}
        results["scenarios"].append(entry)
        try:
            scheme = "https" if scen.tls else "http"
            deadline = time.time() + 120
            while not (not scen.tls or (tls_dir / "ca.pem").exists()) and time.time() < deadline:
                time.sleep(0.2)
            import ssl

            ctx_ssl = ssl.create_default_context(cafile=str(tls_dir / "ca.pem")) if scen.tls else None
            t0 = time.time()
            while True:  # the mock is up when /v1/models answers (over TLS with the rig's CA)
                if mock.poll() is not None:
                    raise RuntimeError("mock upstream exited")
                try:
                    urllib.request.urlopen(f"{scheme}://127.0.0.1:{mock_port}/v1/models", timeout=2,
                                           context=ctx_ssl).read()
                    break
                except Exception:
                    if time.time() - t0 > 120:
                        raise
                    time.sleep(0.3)

            def mock_calls():
                with urllib.request.urlopen(f"{scheme}://127.0.0.1:{mock_port}/_mock/calls", timeout=10,
                                            context=ctx_ssl) as resp:
                    return json.load(resp)["calls"]

            ctx = sc.Ctx(base=f"{scheme}://127.0.0.1:{mock_port}", ca=str(tls_dir / "ca.pem") if scen.tls else None,
                         workdir=work)
            config = sc.write_config(scen, ctx)
            entry["config"] = config.read_text()
            for workers in [int(w) for w in args.workers.split(",")]:
                for rnd in range(args.rounds):
                    order = ["stock", "accelerated"] if rnd % 2 == 0 else ["accelerated", "stock"]
                    for variant in order:
                        run_env = dict(env, **scen.env)
                        count_dir = None
                        if scen.counter == "custom":
                            count_dir = Path(tempfile.mkdtemp(prefix="count-", dir=work))
                            run_env["RIG_COUNT_DIR"] = str(count_dir)
                        if scen.counter == "prometheus" and workers > 1:  # one /metrics view over all workers
                            run_env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prom-", dir=work)
                        port = free_port()
                        try:
                            proc = start_proxy(variant, bindir, port, workers, run_env, config)
                        except Exception as exc:
                            entry["runs"].append({"variant": variant, "workers": workers, "round": rnd,
                                                  "error": f"proxy did not start: {exc}"})
                            print(f"[{scen.name}] {variant}: proxy did not start: {exc}", file=sys.stderr)
                            continue
                        try:
                            url = f"http://127.0.0.1:{port}{scen.endpoint}"
                            sample = sample_lanes(url, scen.body, mock_calls=mock_calls)
                            sample.update(variant=variant, workers=workers, round=rnd)
                            entry["samples"].append(sample)
                            c0 = None
                            if scen.counter:  # the warm-up requests counted first, so they are not in the figure
                                c0, _, _ = wait_count(port, scen.counter, count_dir, sample["ok"], 30)
                            for c in conns:
                                r = wrk_once(wrk, url, scen.body, c, args.seconds, lanes=True,
                                             count_lanes=not args.no_lane_count)
                                r.update(variant=variant, workers=workers, conns=c, round=rnd,
                                         overhead_ms=sample["overhead_ms"], rss_mb=tree_rss(proc.pid))
                                if scen.counter and c0 is not None:
                                    target = c0 + r["requests"] - r["non2xx"]
                                    n, waited, caught = wait_count(port, scen.counter, count_dir, target, args.catch_up_cap)
                                    counted = (n or 0) - c0
                                    r["sustained"] = {"counted": counted, "expected": target - c0,
                                                      "catch_up_s": round(waited, 2), "caught_up": caught,
                                                      "rps": round(counted / (r["load_s"] + waited), 1)}
                                    c0 = n if n is not None else c0
                                entry["runs"].append(r)
                                print(f"[{scen.name}] " + json.dumps({k: v for k, v in r.items() if k != "rss_mb"}),
                                      file=sys.stderr)
                        finally:
                            stop(proc)
        except Exception as exc:
            entry["error"] = str(exc)
            print(f"[{scen.name}] failed: {exc}", file=sys.stderr)
        finally:
            stop(mock)
    results["load_end"] = os.getloadavg()
    out_dir = ROOT / "bench/out"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"proxy-scenarios-{args.litellm}.json"
    out.write_text(json.dumps(results, indent=2))
    print(render_scenarios(results))
    print(f"\nJSON: {out}", file=sys.stderr)
    shutil.rmtree(base_tmp, ignore_errors=True)
    return 0


def render_scenarios(results: dict) -> str:
    la = results.get("load_start")
    lines = [f"LiteLLM {results['litellm']} on {results['machine']}"
             + (f" (load average at start {la[0]:.1f})" if la else ""), "",
             "| scenario | workers | conns | stock req/s | fast req/s | ratio | stock sustained | fast sustained "
             "| sustained ratio | stock p50/p99 ms | fast p50/p99 ms | failed (stock/fast) | fast lane rust "
             "| upstream calls/request (stock/fast) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def med(vals):
        vals = [v for v in vals if v is not None]
        return round(statistics.median(vals), 2) if vals else None

    def ratio(a, b):
        return f"{a / b:.2f}x" if a and b else "-"

    for entry in results["scenarios"]:
        keys = sorted({(r["workers"], r["conns"]) for r in entry["runs"] if "conns" in r})

        def calls(v, w):
            return med([x.get("upstream_calls_per_request") for x in entry["samples"]
                        if x["variant"] == v and x["workers"] == w])
        if entry.get("error") or not keys:
            errs = entry.get("error") or "; ".join(r.get("error", "") for r in entry["runs"])
            lines.append(f"| {entry['scenario']} | - | - | - | - | - | - | - | - | - | - | - | error: {errs[:120]} | - |")
            continue
        for w, c in keys:
            rs = {v: [r for r in entry["runs"] if r.get("conns") == c and r["workers"] == w and r["variant"] == v]
                  for v in ("stock", "accelerated")}

            def m(v, f):
                return med([r.get(f) for r in rs[v]])

            def sus(v):
                vals = [r["sustained"]["rps"] for r in rs[v] if r.get("sustained")]
                flag = "" if all(r["sustained"]["caught_up"] for r in rs[v] if r.get("sustained")) else " (capped)"
                return (f"{med(vals)}{flag}", med(vals)) if vals else ("-", None)

            s_rps, f_rps = m("stock", "rps"), m("accelerated", "rps")
            (s_sus_t, s_sus), (f_sus_t, f_sus) = sus("stock"), sus("accelerated")
            lanes = [r["lanes"] for r in rs["accelerated"] if r.get("lanes")]
            rust = sum(x["rust"] for x in lanes)
            seen = sum(x["rust"] + x["python"] + x["none"] for x in lanes)
            lines.append(
                f"| {entry['scenario']} | {w} | {c} | {s_rps} | {f_rps} | {ratio(f_rps, s_rps)} | {s_sus_t} | {f_sus_t} | "
                f"{ratio(f_sus, s_sus)} | {m('stock', 'p50_ms')}/{m('stock', 'p99_ms')} | "
                f"{m('accelerated', 'p50_ms')}/{m('accelerated', 'p99_ms')} | "
                f"{sum(r['failed'] for r in rs['stock'])}/{sum(r['failed'] for r in rs['accelerated'])} | "
                f"{f'{rust / seen:.0%}' if seen else '-'} | {calls('stock', w)}/{calls('accelerated', w)} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--litellm", default="1.110.2", help="pinned LiteLLM version (venv in ~/.cache/fast-litellm/envs)")
    ap.add_argument("--venv", help="explicit virtualenv (overrides --litellm)")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", default="1,4")
    ap.add_argument("--conns", default="1,16,64")
    ap.add_argument("--endpoints", default="/v1/chat/completions,/v1/responses")
    ap.add_argument("--stream", default="false,true")
    ap.add_argument("--quick", action="store_true",
                    help="1 worker, 16 connections, non-streaming chat (served by the fast lane, and one it declines)")
    ap.add_argument("--config", help="proxy config (default bench/proxy/config.yaml; config_callbacks.yaml adds Prometheus)")
    ap.add_argument("--drain", type=float, default=0.0,
                    help="with a callbacks config: after each load, watch the logging queue drain this many seconds "
                         "more and report the rate at which LiteLLM's request counter grew meanwhile")
    ap.add_argument("--upstream-shape", default="mock", choices=["mock", "openai", "vllm", "azure"],
                    help="the shape of the mock's non-streaming chat answers (MOCK_SHAPE; openai: OpenAI's current one)")
    ap.add_argument("--scenario", help="run named scenarios (comma-separated; `every` = all of them) instead of "
                                       "the endpoint matrix; see --list-scenarios")
    ap.add_argument("--list-scenarios", action="store_true", help="print the named scenarios and exit")
    ap.add_argument("--no-lane-count", action="store_true",
                    help="scenarios: don't count lane headers in wrk (its Lua response hook costs wrk CPU at "
                         "high rates); the warm-up sample still records them")
    ap.add_argument("--catch-up-cap", type=float, default=120.0,
                    help="sustained figure: seconds to wait after the load for LiteLLM's counter to catch up")
    ap.add_argument("--no-fast-lane-too", action="store_true",
                    help="also run `fast-litellm proxy --no-fast-lane` (Python patches only) as a third variant")
    args = ap.parse_args()
    if args.list_scenarios:
        import scenarios as sc

        for scen in sc.SCENARIOS:
            print(f"{scen.name:18} {scen.about}")
        return 0
    global CONFIG
    if args.config:
        CONFIG = Path(args.config).resolve()
    if args.quick:
        args.workers, args.conns, args.stream, args.rounds = "1", "16", "false", 2
        args.endpoints = "/v1/chat/completions,/v1/chat/completions#declined"

    venv = Path(args.venv) if args.venv else Path.home() / ".cache/fast-litellm/envs" / f"litellm-{args.litellm}"
    bindir = venv / "bin"
    wrk = ensure_wrk()
    env = dict(os.environ, LITELLM_MASTER_KEY=KEY, LITELLM_LOCAL_MODEL_COST_MAP="True",
               PATH=str(bindir) + os.pathsep + os.environ.get("PATH", ""))
    if (ROOT / "python/fast_litellm/_native.abi3.so").exists():  # a dev build in the source tree
        env["PYTHONPATH"] = str(ROOT / "python")
    if args.scenario:
        if not any(a.startswith("--conns") for a in sys.argv[1:]):
            args.conns = "16"
        return run_scenarios(args, bindir, wrk, env)

    mock_port = free_port()
    mock = subprocess.Popen([str(bindir / "python"), str(HERE / "mock_upstream.py"), "--port", str(mock_port)],
                            env=dict(env, MOCK_SHAPE=args.upstream_shape), start_new_session=True)
    results = {"litellm": args.litellm, "machine": None, "mock": {}, "runs": []}
    try:
        wait_up(f"http://127.0.0.1:{mock_port}/v1/models", mock)
        env["MOCK_API_BASE"] = f"http://127.0.0.1:{mock_port}/v1"
        sys.path.insert(0, str(ROOT / "python"))
        from fast_litellm.bench import machine

        results["machine"] = machine()
        mock_url = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
        results["mock"] = wrk_once(wrk, mock_url, body_for("/v1/chat/completions", False), 16, args.seconds)
        print(f"mock upstream alone, c=16: {results['mock']['rps']:.0f} req/s", file=sys.stderr)

        endpoints = args.endpoints.split(",")
        streams = [s == "true" for s in args.stream.split(",")]
        conns = [int(c) for c in args.conns.split(",")]
        for workers in [int(w) for w in args.workers.split(",")]:
            for rnd in range(args.rounds):
                order = ["stock", "accelerated"] + (["no-fast-lane"] if args.no_fast_lane_too else [])
                if rnd % 2:
                    order.reverse()
                for variant in order:
                    port = free_port()
                    proc = start_proxy(variant, bindir, port, workers, env)
                    try:
                        for endpoint in endpoints:
                            url = f"http://127.0.0.1:{port}{endpoint.split('#')[0]}"
                            oh = overhead_ms(url, body_for(endpoint, False))
                            for stream in streams:
                                for c in conns:
                                    r = wrk_once(wrk, url, body_for(endpoint, stream), c, args.seconds)
                                    r.update(variant=variant, workers=workers, endpoint=endpoint, stream=stream,
                                             conns=c, round=rnd, overhead_ms=oh, rss_mb=tree_rss(proc.pid))
                                    if CONFIG.name != "config.yaml":  # callbacks: how many requests reached them
                                        time.sleep(2)
                                        r["after"] = lane_stats(port)
                                        if args.drain > 0 and variant == "accelerated":
                                            t0, m0 = time.time(), r["after"].get("metrics_requests")
                                            time.sleep(args.drain)
                                            end = lane_stats(port)
                                            dt = time.time() - t0
                                            m1 = end.get("metrics_requests")  # None: a scrape failed
                                            grown = None if m0 is None or m1 is None else m1 - m0
                                            r["drain"] = {"seconds": round(dt, 1), "counted": grown,
                                                          "records_per_s": None if grown is None else round(grown / dt, 1),
                                                          "end": end}
                                    results["runs"].append(r)
                                    print(json.dumps(r), file=sys.stderr)
                    finally:
                        stop(proc)
    finally:
        stop(mock)

    out_dir = ROOT / "bench/out"
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if CONFIG.name == "config.yaml" else "-" + CONFIG.stem
    (out_dir / f"proxy-{args.litellm}{suffix}.json").write_text(json.dumps(results, indent=2))
    print(render(results))
    return 0


def render(results: dict) -> str:
    lines = [f"LiteLLM {results['litellm']} on {results['machine']}",
             f"mock upstream alone (c=16): {results['mock']['rps']:.0f} req/s, p50 {results['mock']['p50_ms']} ms", "",
             "| endpoint | stream | workers | conns | stock req/s | accel req/s | ratio | stock p50/p99 ms | accel p50/p99 ms | overhead hdr ms (stock/accel) | RSS MB (stock/accel) | failed |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["endpoint"], r["stream"], r["workers"], r["conns"]) for r in results["runs"]})
    for k in keys:
        def med(variant, field):
            vals = [r[field] for r in results["runs"] if (r["endpoint"], r["stream"], r["workers"], r["conns"]) == k
                    and r["variant"] == variant and r[field] is not None]
            return round(statistics.median(vals), 2) if vals else None

        def rss(variant):
            vals = [sum(r["rss_mb"]) for r in results["runs"] if (r["endpoint"], r["stream"], r["workers"], r["conns"]) == k
                    and r["variant"] == variant]
            return round(statistics.median(vals)) if vals else None

        s, a = med("stock", "rps"), med("accelerated", "rps")
        failed = sum(r["failed"] for r in results["runs"] if (r["endpoint"], r["stream"], r["workers"], r["conns"]) == k)
        lines.append(
            f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {s} | {a} | {round(a / s, 2) if s and a else '-'} | "
            f"{med('stock', 'p50_ms')}/{med('stock', 'p99_ms')} | {med('accelerated', 'p50_ms')}/{med('accelerated', 'p99_ms')} | "
            f"{med('stock', 'overhead_ms')}/{med('accelerated', 'overhead_ms')} | {rss('stock')}/{rss('accelerated')} | {failed} |"
        )
    if any(r["variant"] == "no-fast-lane" for r in results["runs"]):
        lines += ["", "| endpoint | stream | workers | conns | --no-fast-lane req/s | p50/p99 ms |", "|---|---|---|---|---|---|"]
        for k in keys:
            rs = [r for r in results["runs"] if (r["endpoint"], r["stream"], r["workers"], r["conns"]) == k
                  and r["variant"] == "no-fast-lane"]
            if rs:
                med = lambda f: round(statistics.median([r[f] for r in rs if r[f] is not None]), 2)  # noqa: E731
                lines.append(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {med('rps')} | {med('p50_ms')}/{med('p99_ms')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
