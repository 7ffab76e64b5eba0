"""The proxy load rig: stock `litellm` vs `fast-litellm proxy`, same config, alternated.

    python bench/proxy/run.py --litellm 1.110.2            # the full matrix (~15 min)
    python bench/proxy/run.py --litellm 1.110.2 --quick    # 16 connections, non-streaming chat only

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


def wrk_once(wrk: str, url: str, body: dict, conns: int, seconds: int) -> dict:
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {KEY}"\n'
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
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "failed": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errs.groups())) if errs else 0),
    }


def overhead_ms(url: str, body: dict, n: int = 15):
    vals = []
    for _ in range(n):
        req = urllib.request.Request(url, data=json.dumps(dict(body, stream=False)).encode(),
                                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                resp.read()
                h = resp.headers.get("x-litellm-overhead-duration-ms")
                if h:
                    vals.append(float(h))
        except Exception:
            pass
    return round(statistics.median(vals), 2) if vals else None


CONFIG = HERE / "config.yaml"


def lane_stats(port: int) -> dict:
    """The front's counters (served, passed, logging queue) and the proxy's request counter, if any."""
    out: dict = {}
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/_fast_litellm/stats", headers={"Authorization": f"Bearer {KEY}"})
        out.update(json.load(urllib.request.urlopen(req, timeout=10)))
    except Exception:
        pass
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics/", headers={"Authorization": f"Bearer {KEY}"})
        text = urllib.request.urlopen(req, timeout=30).read().decode()
        total = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                    if line.startswith("litellm_requests_metric_total"))
        out["metrics_requests"] = total
    except Exception:
        pass
    return out


def start_proxy(variant: str, bindir: Path, port: int, workers: int, env: dict) -> subprocess.Popen:
    args = ["--config", str(CONFIG), "--host", "127.0.0.1", "--port", str(port),
            "--num_workers", str(workers)]
    if variant == "stock":
        argv = [str(bindir / "litellm")] + args
    elif variant == "no-fast-lane":
        argv = [str(bindir / "fast-litellm"), "proxy", "--no-fast-lane"] + args
    else:
        argv = [str(bindir / "fast-litellm"), "proxy"] + args
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_up(f"http://127.0.0.1:{port}/health/liveliness", proc)
    return proc


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
    ap.add_argument("--upstream-shape", default="", choices=["", "openai"],
                    help="openai: the mock answers non-streaming chat in OpenAI's current shape (MOCK_SHAPE)")
    ap.add_argument("--no-fast-lane-too", action="store_true",
                    help="also run `fast-litellm proxy --no-fast-lane` (Python patches only) as a third variant")
    args = ap.parse_args()
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
