"""Reproduce stock LiteLLM's /metrics going down with `litellm --num_workers 4`.

Stock `litellm --num_workers N` (N > 1, prometheus callback) points every proxy on
the host at the same `$TMPDIR/litellm_prometheus_multiproc` and wipes it at start.
This starts proxy A, sends it requests, scrapes it, then starts proxy B (same
command, another port) and scrapes A again: A's counters drop (B wiped A's files).
`--launcher` runs both through `fast-litellm proxy` instead (a private directory
each): A's counters stay.

    LITELLM_LOCAL_MODEL_COST_MAP=True python bench/metrics/stock_flicker.py [--launcher] [--requests 200]

Needs litellm[proxy] (with prometheus_client) in this interpreter's environment.
"""

import argparse
import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

KEY = "sk-flicker-" + "ab" * 20
CONFIG = f"""
model_list:
  - model_name: model-a
    litellm_params: {{model: openai/gpt-4o-mini, api_key: sk-mock, mock_response: "hi"}}
general_settings: {{master_key: {KEY}}}
litellm_settings: {{callbacks: ["prometheus"]}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, port, cfg, log):
    argv = cmd + ["--config", cfg, "--num_workers", "4", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/liveliness", timeout=2).read()
            return proc
        except Exception:
            if proc.poll() is not None:
                raise SystemExit(f"server exited; see {log}")
            time.sleep(0.5)
    raise SystemExit(f"server did not start; see {log}")


def chat(port, i):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps({"model": "model-a", "messages": [{"role": "user", "content": f"hi {i}"}]}).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status


def total(port):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics/", headers={"Authorization": f"Bearer {KEY}"})
    text = urllib.request.urlopen(req, timeout=60).read().decode()
    return sum(float(m) for m in re.findall(r"^litellm_proxy_total_requests_metric_total\{.*\} (\S+)$", text, re.M))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--launcher", action="store_true", help="run both proxies through fast-litellm proxy")
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="metrics-flicker-"))
    cfg = work / "config.yaml"
    cfg.write_text(CONFIG)
    bindir = Path(sys.executable).parent
    cmd = ([sys.executable, "-m", "fast_litellm.cli", "proxy"] if args.launcher else [str(bindir / "litellm")])
    procs = []
    try:
        pa = free_port()
        procs.append(start(cmd, pa, str(cfg), work / "a.log"))
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            assert set(pool.map(lambda i: chat(pa, i), range(args.requests))) == {200}
        time.sleep(2)
        before = [total(pa) for _ in range(5)]
        print(f"proxy A after {args.requests} requests: /metrics totals {before}", flush=True)
        pb = free_port()
        procs.append(start(cmd, pb, str(cfg), work / "b.log"))
        after = [total(pa) for _ in range(5)]
        print(f"proxy A after proxy B started:        /metrics totals {after}", flush=True)
        print("counters went DOWN" if min(after) < max(before) else "counters held", flush=True)
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(30)
            except Exception:
                pass


if __name__ == "__main__":
    main()
