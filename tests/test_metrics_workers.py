"""Prometheus /metrics with several workers: one consistent view (issue 8, item 4).

Real servers, 4 workers each, a config with the ``prometheus`` callback and
``mock_response`` deployments (no network):

* ``fast-litellm proxy --num_workers 4``: 1,000 concurrent requests with 20 scrapes
  of /metrics interleaved; LiteLLM's request counters never go down between
  scrapes, never exceed the requests sent, and end at exactly 500 per model
  (requests are split over two model groups); gauges come as one series (no
  ``pid`` label); the private directory is gone once the proxy has stopped.
* ``fast-litellm run -- gunicorn -w 4 -k uvicorn.workers.UvicornWorker
  litellm.proxy.proxy_server:app`` (config through ``CONFIG_FILE_PATH``): the same
  checks on a smaller load.
* The reproduction: the very same gunicorn command without the launcher answers
  /metrics from whichever worker took the connection: totals below the truth.

The first test's deployments use ``mock_response``, which the Rust front does not
serve, so there every request is served (and counted) by a LiteLLM worker; the test
checks the lane header says so. The fast-lane test points the deployments at a local
mock upstream instead, so the Rust front serves every request and LiteLLM's workers
count them through the logging queue's replay; the same checks hold (never down, never
above the requests sent, the true totals once the queue has drained).
"""

import concurrent.futures
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from util_proc import fast_litellm_cmd, free_port, stop_group, wait_http, wait_removed

pytest.importorskip("prometheus_client", reason="prometheus_client (LiteLLM's proxy extra) is not installed")

BIN = Path(sys.executable).parent
KEY = "sk-metrics-" + "5a" * 20
MODELS = ("model-a", "model-b")
_UPSTREAM = {"gpt-4o-mini": "model-a", "gpt-4o": "model-b"}
# LiteLLM counters that every successful proxied chat completion increments once.
COUNTERS = (
    "litellm_proxy_total_requests_metric_total",
    "litellm_requests_metric_total",
    "litellm_deployment_total_requests_total",
)
CONFIG = """
model_list:
  - model_name: model-a
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-mock
      mock_response: "hello from a"
  - model_name: model-b
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-mock
      mock_response: "hello from b"
general_settings:
  master_key: {key}
litellm_settings:
  callbacks: ["prometheus"]
"""


def _env(**extra):
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    for var in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", "FAST_LITELLM_METRICS"):
        env.pop(var, None)
    env.update(extra)
    return env


def _config(tmp_path):
    path = tmp_path / "prometheus_config.yaml"
    path.write_text(CONFIG.format(key=KEY))
    return path


class _Server:
    """A server in its own process group, its output to a file (a pipe would fill up)."""

    def __init__(self, argv, port, env, log):
        self.port = port
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def __enter__(self):
        try:
            wait_http(f"http://127.0.0.1:{self.port}/health/liveliness", self.proc, timeout=400)
        except Exception:
            self.stop()
            raise RuntimeError("server did not start:\n" + Path(self.log).read_text(errors="replace")[-4000:])
        return self

    def stop(self):
        stop_group(self.proc, timeout=30)

    def __exit__(self, *exc):
        self.stop()


def _chat(port, i):
    model = MODELS[i % len(MODELS)]
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps({"model": model, "messages": [{"role": "user", "content": f"hi {i}"}]}).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        resp.read()
        return resp.status, resp.headers.get("x-fast-litellm-lane")


_SAMPLE = re.compile(r'^(\w+)\{(.*)\} (\S+)$')


def _scrape(port):
    """-> ({counter: {requested model: value}}, exposition text)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics/", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        text = resp.read().decode()
    totals = {name: dict.fromkeys(MODELS, 0.0) for name in COUNTERS}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m is None or m.group(1) not in totals:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        model = labels.get("requested_model") or labels.get("model_group") or labels.get("model")
        model = _UPSTREAM.get(model, model)  # 1.83.14 labels litellm_requests_metric by upstream model
        if model in totals[m.group(1)]:
            totals[m.group(1)][model] += float(m.group(3))
    return totals, text


def _load_and_scrape(port, n, scrapes, threads=16):
    """n requests over `threads` connections, `scrapes` scrapes spread over the load."""
    done = [0]
    lock = threading.Lock()
    results = []

    def one(i):
        out = _chat(port, i)
        with lock:
            done[0] += 1
        return out

    seen = []
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(one, i) for i in range(n)]
        for k in range(scrapes):
            target = (k + 1) * n // (scrapes + 1)
            while done[0] < target and not all(f.done() for f in futures):
                time.sleep(0.02)
            seen.append(_scrape(port)[0])
        results = [f.result() for f in futures]
    return results, seen


def _assert_monotonic_and_bounded(seen, n):
    per_model = n // len(MODELS)
    for name in COUNTERS:
        for model in MODELS:
            series = [s[name][model] for s in seen]
            assert all(b >= a for a, b in zip(series, series[1:])), (name, model, series)
            assert series[-1] <= per_model, (name, model, series)


def _final_totals(port, n, tries=8):
    """Scrape until the (asynchronous) callbacks have counted everything; then a few more
    scrapes, which other workers answer, must all say the same."""
    deadline = time.time() + 60
    want = {name: dict.fromkeys(MODELS, float(n // len(MODELS))) for name in COUNTERS}
    totals, text = _scrape(port)
    while totals != want and time.time() < deadline:
        time.sleep(0.5)
        totals, text = _scrape(port)
    repeats = [_scrape(port)[0] for _ in range(tries)]
    return totals, repeats, text


def test_fast_litellm_proxy_four_workers_one_consistent_view(tmp_path):
    n, scrapes = 1000, 20
    port = free_port()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    argv = fast_litellm_cmd() + ["proxy", "--config", str(_config(tmp_path)), "--num_workers", "4",
                                  "--host", "127.0.0.1", "--port", str(port)]
    env = _env(TMPDIR=str(tmpdir))
    with _Server(argv, port, env, tmp_path / "proxy.log") as srv:
        dirs = glob.glob(str(tmpdir / "fast-litellm-prometheus-*"))
        assert len(dirs) == 1, dirs
        results, seen = _load_and_scrape(port, n, scrapes)
        assert [s for s, _lane in results] == [200] * n
        # With a callback configured the Rust front passes everything to LiteLLM's workers.
        assert {lane for _s, lane in results} == {"python"}
        _assert_monotonic_and_bounded(seen, n)
        totals, repeats, text = _final_totals(port, n)
        want = {name: dict.fromkeys(MODELS, float(n // 2)) for name in COUNTERS}
        assert totals == want
        assert all(r == want for r in repeats), repeats
        # Which workers counted depends on which of them accepted the front's pooled
        # keep-alive connections (sometimes one takes them all); the gunicorn test below,
        # whose clients connect afresh, checks that several workers' files are summed.
        assert glob.glob(os.path.join(dirs[0], "counter_*.db"))
        # LiteLLM's gauges: one series per label set, not one per worker pid.
        assert 'pid="' not in text
        assert re.search(r"^litellm_deployment_state\{", text, re.M), "no litellm_deployment_state gauge"
    assert wait_removed(dirs[0]) == [], "the private metrics directory was not removed"
    log = Path(tmp_path / "proxy.log").read_text(errors="replace")
    assert "pass-through only" in log


def test_scrape_skips_a_metric_file_being_created(tmp_path):
    """prometheus_client creates a worker's metric file empty and sizes it just after; a scrape
    in between made /metrics answer 500 (struct.error) under load. The collector the patch hands
    LiteLLM skips such a file (and one removed since listed) and reads the others."""
    pytest.importorskip("prometheus_client")
    code = f"""
import os
os.environ["PROMETHEUS_MULTIPROC_DIR"] = {str(tmp_path)!r}
from prometheus_client import CollectorRegistry, Counter, generate_latest, multiprocess
from fast_litellm.components.metrics import _tolerant_collector_class
Counter("lane_test_requests", "test", registry=None).inc(3)
open(os.path.join({str(tmp_path)!r}, "counter_99999.db"), "wb").close()  # being created by another worker
r0 = CollectorRegistry()
multiprocess.MultiProcessCollector(r0)
try:
    generate_latest(r0)
    print("stock: ok")
except Exception as exc:
    print("stock:", type(exc).__name__)
r = CollectorRegistry()
_tolerant_collector_class()(r)
print(generate_latest(r).decode())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "stock: error" in out.stdout, out.stdout  # struct.error: the failure the patch avoids
    assert "lane_test_requests_total 3.0" in out.stdout, out.stdout


def test_user_multiproc_dir_is_respected_and_kept(tmp_path):
    """A directory the user chose is used as is (and not removed); quick, no server."""
    mine = tmp_path / "mine"
    out = subprocess.run(
        fast_litellm_cmd() + ["run", "--", sys.executable, "-c",
                               "import os; print(os.environ['PROMETHEUS_MULTIPROC_DIR'])"],
        env=_env(PROMETHEUS_MULTIPROC_DIR=str(mine)), capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(mine)
    time.sleep(1)
    assert mine.is_dir()
    out = subprocess.run(
        fast_litellm_cmd() + ["run", "--", sys.executable, "-c",
                               "import os; print(os.environ.get('PROMETHEUS_MULTIPROC_DIR'))"],
        env=_env(FAST_LITELLM_METRICS="0"), capture_output=True, text=True, timeout=120,
    )
    assert out.stdout.strip() == "None"


def _gunicorn_argv(port, launcher):
    argv = [str(BIN / "gunicorn"), "-w", "4", "-k", "uvicorn.workers.UvicornWorker", "--preload",
            "-b", f"127.0.0.1:{port}", "--timeout", "300", "litellm.proxy.proxy_server:app"]
    return (fast_litellm_cmd() + ["run", "--"] + argv) if launcher else argv


needs_gunicorn = pytest.mark.skipif(shutil.which("gunicorn", path=str(BIN)) is None, reason="gunicorn not installed")


@needs_gunicorn
def test_run_gunicorn_four_workers_one_consistent_view(tmp_path):
    n, scrapes = 400, 10
    port = free_port()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = _env(CONFIG_FILE_PATH=str(_config(tmp_path)), TMPDIR=str(tmpdir))
    with _Server(_gunicorn_argv(port, launcher=True), port, env, tmp_path / "gunicorn.log"):
        dirs = glob.glob(str(tmpdir / "fast-litellm-prometheus-*"))
        assert len(dirs) == 1, dirs
        results, seen = _load_and_scrape(port, n, scrapes)
        assert [s for s, _lane in results] == [200] * n
        _assert_monotonic_and_bounded(seen, n)
        totals, repeats, text = _final_totals(port, n)
        want = {name: dict.fromkeys(MODELS, float(n // 2)) for name in COUNTERS}
        assert totals == want
        assert all(r == want for r in repeats), repeats
        assert 'pid="' not in text
        # Several workers wrote the directory, and /metrics summed them.
        pids = {re.search(r"_(\d+)\.db$", p).group(1) for p in glob.glob(os.path.join(dirs[0], "counter_*.db"))}
        assert len(pids) >= 2, pids
    assert wait_removed(dirs[0]) == [], "the private metrics directory was not removed"


@needs_gunicorn
def test_stock_gunicorn_four_workers_flickers(tmp_path):
    """The reproduction (LiteLLM issue #10595): without the launcher, each worker answers
    /metrics from its own registry."""
    n = 200
    port = free_port()
    env = _env(CONFIG_FILE_PATH=str(_config(tmp_path)), FAST_LITELLM_DISABLE="1")
    with _Server(_gunicorn_argv(port, launcher=False), port, env, tmp_path / "stock.log"):
        results, _seen = _load_and_scrape(port, n, scrapes=2)
        assert [s for s, _lane in results] == [200] * n
        time.sleep(2)
        views = [_scrape(port)[0]["litellm_proxy_total_requests_metric_total"] for _ in range(12)]
    totals = [sum(v.values()) for v in views]
    # Every scrape shows only the share of the worker that answered it.
    assert all(t < n for t in totals), totals


_GAUGE_MODES = r"""
import json, os, sys
import fast_litellm, litellm
from litellm.integrations.prometheus import PrometheusLogger
logger = PrometheusLogger()
st = {p["name"]: p["state"] for p in fast_litellm.status()["patches"]}
out = {"state": st["metrics.gauge_multiprocess_mode"],
       "deployment_state": getattr(logger.litellm_deployment_state, "_multiprocess_mode", None)}
labeled = getattr(logger.litellm_deployment_state, "metric", None)  # 1.110.2 may wrap it
if out["deployment_state"] is None and labeled is not None:
    out["deployment_state"] = getattr(labeled, "_multiprocess_mode", None)
print(json.dumps(out))
"""


@pytest.mark.parametrize("multiproc", [True, False], ids=["multiproc-dir", "no-dir"])
def test_gauge_mode_only_with_a_multiproc_dir(tmp_path, multiproc):
    extra = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)} if multiproc else {}
    out = subprocess.run([sys.executable, "-c", _GAUGE_MODES], env=_env(**extra),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["state"] == "applied"
    # prometheus_client's default gauge mode is "all" (one series per pid).
    assert got["deployment_state"] == ("mostrecent" if multiproc else "all")


FAST_LANE_CONFIG = """
model_list:
  - model_name: model-a
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: os.environ/MOCK_API_BASE
      api_key: sk-mock
  - model_name: model-b
    litellm_params:
      model: openai/gpt-4o
      api_base: os.environ/MOCK_API_BASE
      api_key: sk-mock
general_settings:
  master_key: {key}
litellm_settings:
  callbacks: ["prometheus"]
"""


def _lane_stats(port):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_fast_litellm/stats", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_fast_lane_four_workers_counts_rust_served_requests(tmp_path):
    """`fast-litellm proxy --num_workers 4`, every request served in Rust: /metrics (answered by
    any of the 4 workers) counts them through the logging queue, never going down, never above
    what was sent, and equal to the truth once the queue has drained."""
    pytest.importorskip("aiohttp")
    native = pytest.importorskip("fast_litellm._native")
    if not hasattr(native, "fastlane_drain"):
        pytest.skip("native module built without the fast lane")
    root = Path(__file__).resolve().parents[1]
    n, scrapes = 1000, 20
    port, mock_port = free_port(), free_port()
    cfg = tmp_path / "fast_lane_prometheus.yaml"
    cfg.write_text(FAST_LANE_CONFIG.format(key=KEY))
    env = _env(MOCK_API_BASE=f"http://127.0.0.1:{mock_port}/v1")
    for var in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL", "LITELLM_DETAILED_TIMING", "FAST_LITELLM_FAST_LANE",
                "FAST_LITELLM_FAST_LANE_LOG_QUEUE", "FAST_LITELLM_FAST_LANE_LOG_FULL", "FAST_LITELLM_FAST_LANE_LOG_REPLAY"):
        env.pop(var, None)
    with open(tmp_path / "mock.log", "wb") as mlog:
        mock = subprocess.Popen([sys.executable, str(root / "bench/proxy/mock_upstream.py"), "--port", str(mock_port)],
                                env=env, stdout=mlog, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{mock_port}/v1/models", mock, 60)
        argv = fast_litellm_cmd() + ["proxy", "--config", str(cfg), "--num_workers", "4",
                                      "--host", "127.0.0.1", "--port", str(port)]
        with _Server(argv, port, env, tmp_path / "proxy.log"):
            deadline = time.time() + 120  # the front binds its groups once LiteLLM answered /model/info
            while "fast-litellm: fast lane on" not in Path(tmp_path / "proxy.log").read_text(errors="replace"):
                assert time.time() < deadline, Path(tmp_path / "proxy.log").read_text(errors="replace")[-3000:]
                time.sleep(0.3)
            assert "logging queue" in Path(tmp_path / "proxy.log").read_text(errors="replace")
            before = _scrape(port)[0]
            assert all(v == 0.0 for c in before.values() for v in c.values()), before
            results, seen = _load_and_scrape(port, n, scrapes)
            assert [s for s, _lane in results] == [200] * n
            assert {lane for _s, lane in results} == {"rust"}
            _assert_monotonic_and_bounded(seen, n)
            # Wait for the queue to drain (every record taken by the launcher), then for the counts.
            deadline = time.time() + 120
            stats = _lane_stats(port)
            while stats["log_drained"] < n and time.time() < deadline:
                time.sleep(0.5)
                stats = _lane_stats(port)
            assert stats["log_queued"] == stats["log_drained"] == n and stats["log_dropped"] == 0, stats
            want = {name: dict.fromkeys(MODELS, float(n // 2)) for name in COUNTERS}
            totals, text = _scrape(port)
            seen.append(totals)
            while totals != want and time.time() < deadline:
                time.sleep(0.5)
                totals, text = _scrape(port)
                seen.append(totals)
            assert totals == want, totals
            _assert_monotonic_and_bounded(seen, n)
            repeats = [_scrape(port)[0] for _ in range(8)]  # other workers answer these: the same view
            assert all(r == want for r in repeats), repeats
            assert 'pid="' not in text
    finally:
        stop_group(mock)
