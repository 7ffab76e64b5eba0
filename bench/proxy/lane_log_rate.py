"""How many fast-lane logging records per second LiteLLM's proxy process absorbs.

    python bench/proxy/lane_log_rate.py --litellm 1.110.2 --records 2000

Starts the local mock upstream and LiteLLM's proxy (through ``fast-litellm run``, with the
logging route armed by a secret this script chooses) on ``bench/proxy/config_callbacks.yaml``
(Prometheus; ``--callback custom``: a CustomLogger that only counts, which LiteLLM reaches
through the replay), builds N records exactly as the front writes them (the upstream's answer is
a real one from the mock), POSTs them to the internal route in batches of 64 from two
threads (as the launcher's drainer does) and reports records/s and how they were replayed
(``light``: the direct logging path, ``full``: the ASGI replay), and the CPU time the
proxy process spent per record (all its threads; steadier than records/s on a shared box). ``--profile FILE`` runs
the proxy under cProfile (main thread only) and writes the stats there on exit.
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from run import free_port, stop, wait_up  # noqa: E402

KEY = "sk-bench-" + "5f1c0ffee0ddba11" * 3
ROUTE = "/_fast_litellm/lane-log"


def _post(port, path, body=None, headers=None, method="POST"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.getheaders(), data


def make_records(mock_port: int, proxy_port: int, n: int, latency: float = 0.0005) -> list:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
    status, hdrs, raw = _post(mock_port, "/v1/chat/completions", json.dumps(body).encode(),
                              {"Content-Type": "application/json", "Authorization": "Bearer sk-mock-upstream"})
    assert status == 200, raw[:200]
    _s, _h, info = _post(proxy_port, "/v1/model/info", headers={"Authorization": f"Bearer {KEY}"}, method="GET")
    dep = json.loads(info)["data"][0]
    api_base = dep["litellm_params"]["api_base"]
    now = time.time()
    out = []
    for i in range(n):
        req = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hello {i}"}]})
        out.append(json.dumps({
            "v": 1, "lane": "rust", "method": "POST", "path": "/v1/chat/completions",
            "headers": [["host", "127.0.0.1:4000"], ["authorization", f"Bearer {KEY}"], ["content-type", "application/json"],
                        ["content-length", str(len(req.encode()))]],
            "peer": ["127.0.0.1", 40000 + i % 20000], "request": req, "call_id": str(uuid.uuid4()),
            "model_group": "gpt-4o-mini", "model_id": dep["model_info"]["id"], "pin": False,
            "model": "openai/gpt-4o-mini", "api_base": api_base, "upstream_url": api_base + "/chat/completions",
            "status": status, "response_headers": [[k.lower(), v] for k, v in hdrs], "response": raw.decode(),
            "start": now, "upstream_done": now + latency, "end": now + latency + 0.0002, "stream": False,
        }))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_COUNTING_LOGGER = """\
from litellm.integrations.custom_logger import CustomLogger


class Counting(CustomLogger):
    def __init__(self):
        super().__init__()
        self.count = 0

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.count += 1


handler = Counting()
"""


def _config(callback: str) -> str:
    """The proxy's config file: the rig's Prometheus one, or the same with a counting CustomLogger
    (written with its module to a temporary directory: LiteLLM imports it from the config's folder)."""
    if callback == "prometheus":
        return str(HERE / "config_callbacks.yaml")
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="fast-litellm-lane-log-"))
    (folder / "counting_logger.py").write_text(_COUNTING_LOGGER)
    text = (HERE / "config_callbacks.yaml").read_text().replace('callbacks: ["prometheus"]', 'callbacks: ["counting_logger.handler"]')
    (folder / "config.yaml").write_text(text)
    return str(folder / "config.yaml")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--litellm", default="1.110.2")
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--latency", type=float, default=0.0005, help="the upstream latency the records carry (s)")
    ap.add_argument("--profile")
    ap.add_argument("--tree", default=str(ROOT / "python"), help="the fast_litellm source tree to run (to compare versions)")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for the proxy process")
    ap.add_argument("--callback", choices=("prometheus", "custom"), default="prometheus",
                    help="the config's callback: Prometheus, or a CustomLogger that only counts events")
    a = ap.parse_args()
    venv = Path(os.environ.get("FAST_LITELLM_ENV_DIR", Path.home() / ".cache/fast-litellm/envs")) / f"litellm-{a.litellm}"
    py = str(venv / "bin/python")
    mock_port, port = free_port(), free_port()
    secret = secrets.token_hex(16)
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_MASTER_KEY=KEY,
               MOCK_API_BASE=f"http://127.0.0.1:{mock_port}/v1", FAST_LITELLM_LANE_LOG_SECRET=secret,
               PYTHONPATH=a.tree + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(dict(kv.split("=", 1) for kv in a.env))
    mock = subprocess.Popen([py, str(HERE / "mock_upstream.py"), "--port", str(mock_port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    argv = [py, "-m", "fast_litellm.cli", "run", "--"]
    argv += [py, "-m", "cProfile", "-o", a.profile, str(venv / "bin/litellm")] if a.profile else [str(venv / "bin/litellm")]
    argv += ["--config", _config(a.callback), "--host", "127.0.0.1", "--port", str(port)]
    log = open(f"/tmp/lane_log_rate_{port}.log", "w")
    proxy = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_up(f"http://127.0.0.1:{mock_port}/v1/models", mock, 60)
        wait_up(f"http://127.0.0.1:{port}/health/liveliness", proxy, 300)
        records = make_records(mock_port, port, a.records + 2 * a.batch, a.latency)
        hdr = {"x-fast-litellm-secret": secret, "content-type": "application/json"}
        warm, records = records[: 2 * a.batch], records[2 * a.batch:]
        for i in range(0, len(warm), a.batch):  # warm-up (first-call imports, caches)
            _post(port, ROUTE, ("[" + ",".join(warm[i:i + a.batch]) + "]").encode(), hdr)
        batches = [records[i:i + a.batch] for i in range(0, len(records), a.batch)]
        lock = threading.Lock()
        done = {"delivered": 0, "failed": 0}

        def worker():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            while True:
                with lock:
                    if not batches:
                        break
                    b = batches.pop()
                conn.request("POST", ROUTE, body=("[" + ",".join(b) + "]").encode(), headers=hdr)
                out = json.loads(conn.getresponse().read())
                with lock:
                    done["delivered"] += out["delivered"]
                    done["failed"] += out["failed"]

        _s, _h, st = _post(port, ROUTE, headers=hdr, method="GET")
        pid = json.loads(st)["pid"]
        c0 = cpu_seconds(pid)
        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(a.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        dt = time.perf_counter() - t0
        cpu = cpu_seconds(pid) - c0
        _s, _h, stats = _post(port, ROUTE, headers=hdr, method="GET")
        load = os.getloadavg()
        print(json.dumps({"litellm": a.litellm, "latency": a.latency, "records": len(records), "seconds": round(dt, 2),
                          "records_per_s": round(len(records) / dt, 1),
                          "cpu_ms_per_record": round(cpu * 1000 / len(records), 2),
                          "records_per_cpu_s": round(len(records) / cpu, 1), **done, "route_stats": json.loads(stats),
                          "loadavg": [round(x, 2) for x in load]}))
    finally:
        if a.profile and proxy.poll() is None:  # cProfile writes its stats on a clean exit
            import signal

            os.killpg(proxy.pid, signal.SIGINT)
            try:
                proxy.wait(90)
            except subprocess.TimeoutExpired:
                pass
        stop(proxy)
        stop(mock)
        log.close()


if __name__ == "__main__":
    main()
