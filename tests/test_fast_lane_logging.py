"""LiteLLM's callbacks for requests the fast lane served (the logging queue).

One config with ``litellm_settings.callbacks: [lane_logger.recorder, prometheus]``
(``tests/apps/lane_logger.py``: a CustomLogger that appends what LiteLLM hands it to
a JSONL file). The same generated requests go to the stock proxy and to
``fast-litellm proxy``; through the front they are served in Rust (lane header), and
LiteLLM's callbacks must then receive the same events with the same key fields as on
stock (ids and timings aside), within a bounded time, and ``/metrics`` must count them
as stock does. Upstream errors (replayed through LiteLLM) are logged once.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_fast_lane import _norm_body, _norm_headers
from util_proc import free_port, stop_group, wait_http

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-test-fast-lane-logging"
BIN = Path(sys.executable).parent

pytest.importorskip("aiohttp")
pytest.importorskip("prometheus_client")
native = pytest.importorskip("fast_litellm._native")
if not hasattr(native, "fastlane_drain"):
    pytest.skip("native module built without the fast lane's logging queue", allow_module_level=True)

CONFIG = """
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: os.environ/MOCK_API_BASE
      api_key: sk-mock-upstream
  - model_name: balanced
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: os.environ/MOCK_API_BASE
      api_key: sk-mock-a
  - model_name: balanced
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: os.environ/MOCK_API_BASE
      api_key: sk-mock-b
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: os.environ/MOCK_API_BASE
      api_key: sk-mock-upstream

general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY

litellm_settings:
  callbacks: ["lane_logger.recorder", "prometheus"]
  require_auth_for_metrics_endpoint: false
"""
GROUPS = ("gpt-4o-mini", "balanced", "gpt-4o")
N = 40


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fastlane_logging")
    cfg = tmp / "config.yaml"
    cfg.write_text(CONFIG)
    shutil.copy(ROOT / "tests/apps/lane_logger.py", tmp / "lane_logger.py")
    env = dict(os.environ, LITELLM_MASTER_KEY=KEY, LITELLM_LOCAL_MODEL_COST_MAP="True",
               PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
    for var in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL", "LITELLM_DETAILED_TIMING", "FAST_LITELLM_FAST_LANE",
                "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        env.pop(var, None)
    mock_port, stock_port, fast_port = free_port(), free_port(), free_port()
    env["MOCK_API_BASE"] = f"http://127.0.0.1:{mock_port}/v1"
    logs = {n: open(tmp / f"{n}.log", "w") for n in ("mock", "stock", "fast")}
    out = {"stock": tmp / "stock.jsonl", "fast": tmp / "fast.jsonl"}

    def start(argv, name, extra=None):
        e = dict(env, **(extra or {}))
        return subprocess.Popen(argv, env=e, stdout=logs[name], stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp)

    mock = start([sys.executable, str(ROOT / "bench/proxy/mock_upstream.py"), "--port", str(mock_port)], "mock")
    common = ["--config", str(cfg), "--host", "127.0.0.1"]
    stock = start([str(BIN / "litellm")] + common + ["--port", str(stock_port)], "stock", {"LANE_LOGGER_OUT": str(out["stock"])})
    fast = start([sys.executable, "-m", "fast_litellm.cli", "proxy"] + common + ["--port", str(fast_port)], "fast",
                 {"LANE_LOGGER_OUT": str(out["fast"])})
    procs = [mock, stock, fast]
    try:
        wait_http(f"http://127.0.0.1:{mock_port}/v1/models", mock, 60)
        wait_http(f"http://127.0.0.1:{stock_port}/health/liveliness", stock, 240)
        wait_http(f"http://127.0.0.1:{fast_port}/health/liveliness", fast, 240)
        _wait_served(fast_port, tmp / "fast.log")
        yield {"stock": stock_port, "fast": fast_port, "out": out, "fast_log": tmp / "fast.log",
               "ids": _model_ids(stock_port)}
    finally:
        for p in procs:
            stop_group(p)
        for fh in logs.values():
            fh.close()


def _wait_served(port, log, timeout=120):
    """The front binds its groups once LiteLLM answered /model/info: wait for the lane line."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = log.read_text(errors="replace")
        if "fast-litellm: fast lane on" in text:
            assert "logging queue" in text, text[-2000:]
            return
        time.sleep(0.3)
    raise TimeoutError(log.read_text(errors="replace")[-2000:])


def _model_ids(port):
    _s, _h, raw = _call(port, "GET", "/v1/model/info")
    ids = {}
    for d in json.loads(raw)["data"]:
        ids.setdefault(d["model_name"], set()).add(d["model_info"]["id"])
    return ids


def _call(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    h.update(headers or {})
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    raw = resp.read()
    hdrs = [(k.lower(), v) for k, v in resp.getheaders()]
    conn.close()
    return resp.status, hdrs, raw


def _corpus(seed, n):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        group = GROUPS[i % len(GROUPS)]
        upstream = "gpt-4o" if group == "gpt-4o" else "gpt-4o-mini"
        usage = rng.choice([(0, 0), (1, 1)] + [(rng.randint(0, 10 ** rng.randint(1, 6)), rng.randint(0, 10 ** rng.randint(1, 5)))
                                              for _ in range(4)])
        d = f"mock:model={upstream};usage={usage[0]},{usage[1]}"
        if rng.random() < 0.3:
            d += ";finish=length"
        if rng.random() < 0.5:
            d += ";content=" + "".join(rng.choice("ab é中😀\"\\") for _ in range(rng.randint(0, 12)))
        msgs = [{"role": rng.choice(["system", "user", "assistant"]), "content": f"nonce {seed}-{i} " + "é" * rng.randint(0, 3)}]
        msgs.append({"role": "user", "content": d})
        out.append({"model": group, "messages": msgs})
    return out


def _events(path, n, timeout):
    deadline = time.time() + timeout
    rows = []
    while time.time() < deadline:
        rows = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        if len([r for r in rows if r["kind"] == "async_success"]) >= n:
            time.sleep(1.0)  # let any duplicate show up
            return [json.loads(x) for x in path.read_text().splitlines()]
        time.sleep(0.2)
    return rows


def _nonce(event):
    msgs = (event.get("slo") or {}).get("messages") or []
    for m in msgs if isinstance(msgs, list) else []:
        c = m.get("content") if isinstance(m, dict) else None
        if isinstance(c, str) and c.startswith("nonce "):
            return c.split()[1]
    return None


_VOLATILE_SLO = {"id", "trace_id", "response", "requester_ip_address"}


def _key(event):
    slo = {k: v for k, v in (event["slo"] or {}).items() if k not in _VOLATILE_SLO}
    if slo.get("model_group") == "balanced":  # LiteLLM and the front each pick one of two at random
        # (1.110.2's responses stream events carry no hidden model id, on stock too)
        assert slo["model_id"] == slo["hidden_model_id"] or slo["hidden_model_id"] is None
        slo["model_id"] = "<one of the group>"
        if slo["hidden_model_id"] is not None:
            slo["hidden_model_id"] = "<one of the group>"
    return {"kind": event["kind"], "model": event["model"], "call_type": event["call_type"], "stream": event["stream"],
            "response_cost": event["response_cost"], "usage": event["usage"], "response_model": event["response_model"],
            "slo": slo}


def _metrics(port):
    status, _h, raw = _call(port, "GET", "/metrics/")
    assert status == 200, raw[:300]
    out = {}
    for line in raw.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$", line)
        if m and m.group(1).startswith("litellm_") and m.group(1).endswith("_total"):
            # The two-deployment group: stock and the front pick at random, so sum over deployments.
            labels = re.sub(r'(model_id)="[^"]*",?', "", m.group(2) or "")
            out[(m.group(1), labels)] = out.get((m.group(1), labels), 0.0) + float(m.group(3))
    return out


# Counters about requests/tokens/spend (latency histograms and gauges aside).
_COUNTERS = re.compile(r"^litellm_.*(request|token|spend|success|deployment_success).*_total$")


def _counter_deltas(rig, before):
    """How much each Prometheus counter grew since ``before``, per proxy (non-zero growth only)."""
    deltas = {}
    for p in ("stock", "fast"):
        after = _metrics(rig[p])
        grown = {k: v - before[p].get(k, 0.0) for k, v in after.items() if _COUNTERS.match(k[0])}
        deltas[p] = {k: round(v, 9) for k, v in grown.items() if v}
    return deltas


def test_callbacks_get_the_same_events_as_stock(rig):
    corpus = _corpus(4321, N)
    before = {p: _metrics(rig[p]) for p in ("stock", "fast")}
    served = {}
    for body in corpus:
        s_status, sh, s_raw = _call(rig["stock"], "POST", "/v1/chat/completions", body)
        f_status, fh, f_raw = _call(rig["fast"], "POST", "/v1/chat/completions", body)
        assert s_status == f_status == 200, (s_raw[:300], f_raw[:300])
        # The answer itself is stock's (the callbacks change nothing on the request path).
        assert _norm_body(f_raw) == _norm_body(s_raw)
        ids = rig["ids"].get(body["model"]) if body["model"] == "balanced" else None
        assert _norm_headers(fh, ids) == _norm_headers(sh, ids)
        fh = dict(fh)
        assert fh.get("x-fast-litellm-lane") == "rust", fh
        nonce = body["messages"][0]["content"].split()[1]
        served[nonce] = (fh["x-litellm-call-id"], json.loads(f_raw)["id"], fh)
    t0 = time.time()
    stock = _events(rig["out"]["stock"], N, 60)
    fast = _events(rig["out"]["fast"], N, 60)
    delivered_in = time.time() - t0
    assert delivered_in < 60
    by = {"stock": {}, "fast": {}}
    for name, rows in (("stock", stock), ("fast", fast)):
        for r in rows:
            by[name].setdefault(_nonce(r), []).append(r)
    assert set(by["fast"]) == set(by["stock"]) == set(served), (sorted(by["fast"])[:5], sorted(by["stock"])[:5])
    for nonce, (call_id, resp_id, fh) in served.items():
        s_rows = sorted((_key(r) for r in by["stock"][nonce]), key=lambda k: k["kind"])
        f_rows = sorted((_key(r) for r in by["fast"][nonce]), key=lambda k: k["kind"])
        assert f_rows == s_rows, (nonce, s_rows, f_rows)
        for r in by["fast"][nonce]:
            assert r["litellm_call_id"] == call_id  # joins the response header the client saw
            assert r["response_id"] == resp_id
            assert r["slo"]["model_id"] == fh["x-litellm-model-id"]
        assert len([r for r in by["fast"][nonce] if r["kind"] == "async_success"]) == 1
    # Prometheus: the counters grew by the same amounts as stock's (same labels).
    deltas = _counter_deltas(rig, before)
    assert deltas["fast"] == deltas["stock"]
    req = [v for (name, _l), v in deltas["fast"].items() if name == "litellm_requests_metric_total"]
    assert sum(req) == N
    # The front's counters: every record queued and drained, none dropped.
    status, _h, raw = _call(rig["fast"], "GET", "/_fast_litellm/stats")
    stats = json.loads(raw)
    assert stats["log_dropped"] == 0 and stats["log_queued"] == stats["log_drained"] >= N, stats
    # The first record of the path went through the full ASGI replay, which checked the route it
    # reached; the others took the light replay (the endpoint called directly): both gave stock's events.
    assert "fast-lane logging of /v1/chat/completions: light replay (endpoint chat_completion)" in \
        rig["fast_log"].read_text(errors="replace")


def _stream_corpus(seed, n):
    rng = random.Random(seed)
    lo = 1 if _litellm_version().startswith("1.83") else 0  # 1.83.14 recounts a zero usage itself
    out = []
    for i in range(n):
        group = GROUPS[i % len(GROUPS)]
        upstream = "gpt-4o" if group == "gpt-4o" else "gpt-4o-mini"
        pieces = ["".join(rng.choice("ab é中😀\"\\") for _ in range(rng.randint(0, 5))) for _ in range(rng.randint(1, 5))]
        first = rng.choice(["role", "text"])
        usage = (rng.randint(lo, 10 ** rng.randint(1, 5)), rng.randint(lo, 10 ** rng.randint(1, 4)))
        d = f"mock:model={upstream};pieces={'|'.join(pieces)};first={first};usage={usage[0]},{usage[1]}"
        if rng.random() < 0.3:
            d += ";finish=length"
        if rng.random() < 0.4:
            d += ";style=openai"
        msgs = [{"role": "user", "content": f"nonce s{seed}-{i}"}, {"role": "user", "content": d}]
        body = {"model": group, "messages": msgs, "stream": True}
        if rng.random() < 0.7:
            body["stream_options"] = {"include_usage": rng.random() < 0.8}
        out.append(body)
    return out


def _litellm_version():
    from importlib.metadata import version

    return version("litellm")


def _norm_stream(raw: bytes) -> bytes:
    """Ids, item ids and timestamps masked (a responses stream's events carry all three)."""
    raw = re.sub(rb'"(id|item_id)":"(msg|rs)_[0-9a-f]+"', rb'"\1":"<item>"', _norm_body(raw))
    return re.sub(rb'"id":"resp_[A-Za-z0-9_=-]+"', b'"id":"<id>"', raw)


def _rows(path):
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _new_events_by_nonce(rig, base, n, timeout=60):
    """The callback events written since ``base`` (line counts), per proxy and request nonce,
    once both proxies logged ``n`` successes (and a moment more, for any duplicate)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = {p: _rows(rig["out"][p])[base[p]:] for p in ("stock", "fast")}
        if all(len([r for r in rows[p] if r["kind"] == "async_success"]) >= n for p in rows):
            break
        time.sleep(0.3)
    time.sleep(1.0)
    by = {"stock": {}, "fast": {}}
    for name in by:
        for r in _rows(rig["out"][name])[base[name]:]:
            by[name].setdefault(_nonce(r), []).append(r)
    return by


def test_stream_callbacks_get_the_same_events_as_stock(rig):
    """Streams served in Rust: the record holds the upstream's SSE body, queued once the stream
    ended; LiteLLM's replay assembles the response, usage and cost itself (``stream: true``)."""
    corpus = _stream_corpus(77, 24)
    before = {p: _metrics(rig[p]) for p in ("stock", "fast")}
    base = {p: len(rig["out"][p].read_text().splitlines()) if rig["out"][p].exists() else 0 for p in ("stock", "fast")}
    served = {}
    for body in corpus:
        s_status, sh, s_raw = _call(rig["stock"], "POST", "/v1/chat/completions", body)
        f_status, fh, f_raw = _call(rig["fast"], "POST", "/v1/chat/completions", body)
        assert s_status == f_status == 200, (s_raw[:300], f_raw[:300])
        assert _norm_body(f_raw) == _norm_body(s_raw), (s_raw[:600], f_raw[:600])
        ids = rig["ids"].get(body["model"]) if body["model"] == "balanced" else None
        assert _norm_headers(fh, ids) == _norm_headers(sh, ids)
        fh = dict(fh)
        assert fh.get("x-fast-litellm-lane") == "rust", fh
        first = json.loads(f_raw.split(b"\n", 1)[0][len(b"data: "):])
        served[body["messages"][0]["content"].split()[1]] = (fh["x-litellm-call-id"], first["id"], fh)
    by = _new_events_by_nonce(rig, base, len(corpus))
    assert set(by["fast"]) == set(by["stock"]) == set(served), (sorted(by["fast"])[:5], sorted(by["stock"])[:5])
    for nonce, (call_id, resp_id, fh) in served.items():
        s_rows = sorted((_key(r) for r in by["stock"][nonce]), key=lambda k: k["kind"])
        f_rows = sorted((_key(r) for r in by["fast"][nonce]), key=lambda k: k["kind"])
        assert f_rows == s_rows, (nonce, s_rows, f_rows)
        assert all(k["stream"] is True for k in f_rows)
        for r in by["fast"][nonce]:
            assert r["litellm_call_id"] == call_id
            assert r["slo"]["model_id"] == fh["x-litellm-model-id"]
        assert len([r for r in by["fast"][nonce] if r["kind"] == "async_success"]) == 1
    deltas = _counter_deltas(rig, before)
    assert deltas["fast"] == deltas["stock"]


@pytest.mark.parametrize("stream", [False, True])
def test_responses_callbacks_get_the_same_events_as_stock(rig, stream):
    """/v1/responses served in Rust with callbacks: the record's one upstream call is
    LiteLLM's ``POST <api_base>/responses`` (for a stream, the upstream's whole SSE body),
    replayed through LiteLLM's app, which builds the logging object, cost and metrics as for
    a request it served itself. Streams are served in Rust on 1.110.x only."""
    rng = random.Random(99 + stream)
    corpus = []
    for i in range(12):
        nonce = f"nonce r{int(stream)}-{i} " + "é" * rng.randint(0, 2)
        inp = [{"role": "system", "content": nonce}, {"role": "user", "content": "hi " + "中" * rng.randint(0, 3)}]
        corpus.append({"model": GROUPS[i % len(GROUPS)], "input": inp})
        if stream:
            corpus[-1]["stream"] = True
    lane = "rust" if not stream or _litellm_version().startswith("1.110") else "python"
    before = {p: _metrics(rig[p]) for p in ("stock", "fast")}
    base = {p: len(_rows(rig["out"][p])) for p in ("stock", "fast")}
    served = {}
    for body in corpus:
        s_status, sh, s_raw = _call(rig["stock"], "POST", "/v1/responses", body)
        f_status, fh, f_raw = _call(rig["fast"], "POST", "/v1/responses", body)
        assert s_status == f_status == 200, (s_raw[:300], f_raw[:300])
        assert _norm_stream(f_raw) == _norm_stream(s_raw), (s_raw[:600], f_raw[:600])
        ids = rig["ids"].get(body["model"]) if body["model"] == "balanced" else None
        assert _norm_headers(fh, ids) == _norm_headers(sh, ids)
        fh = dict(fh)
        assert fh.get("x-fast-litellm-lane") == lane, fh
        served[body["input"][0]["content"].split()[1]] = (fh["x-litellm-call-id"], fh)
    by = _new_events_by_nonce(rig, base, len(corpus))
    assert set(by["fast"]) == set(by["stock"]) == set(served), (sorted(by["fast"])[:5], sorted(by["stock"])[:5])
    for nonce, (call_id, fh) in served.items():
        s_rows = sorted((_key(r) for r in by["stock"][nonce]), key=lambda k: k["kind"])
        f_rows = sorted((_key(r) for r in by["fast"][nonce]), key=lambda k: k["kind"])
        assert f_rows == s_rows, (nonce, s_rows, f_rows)
        for r in by["fast"][nonce]:
            assert r["litellm_call_id"] == call_id or lane == "python"
            assert r["slo"]["model_id"] == fh["x-litellm-model-id"]
        assert len([r for r in by["fast"][nonce] if r["kind"] == "async_success"]) == 1
    deltas = _counter_deltas(rig, before)
    assert deltas["fast"] == deltas["stock"]


def test_internal_route_is_not_reachable_from_the_public_port(rig):
    for method in ("GET", "POST"):
        status, h, raw = _call(rig["fast"], method, "/_fast_litellm/lane-log", [] if method == "POST" else None,
                               {"x-fast-litellm-secret": "guess"})
        h = dict(h)
        # Sent to LiteLLM as a path of no route: its own 404, as stock (test_front_hostile.py).
        assert status == 404 and h.get("x-fast-litellm-lane") == "python"
    status, _h, _raw = _call(rig["fast"], "GET", "/_fast_litellm/stats", headers={"Authorization": "Bearer nope"})
    assert status == 404


def test_replayed_upstream_errors_are_logged_once(rig):
    """An upstream error is replayed through LiteLLM, which logs it itself: one failure event, no success."""
    path = rig["out"]["fast"]
    start = len(path.read_text().splitlines()) if path.exists() else 0
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "nonce err-1"},
                                                 {"role": "user", "content": "mock:status=400"}]}
    status, h, raw = _call(rig["fast"], "POST", "/v1/chat/completions", body)
    h = dict(h)
    assert status >= 400 and h.get("x-fast-litellm-lane") == "python", (status, raw[:200])
    deadline = time.time() + 30
    rows = []
    while time.time() < deadline:
        rows = [json.loads(x) for x in path.read_text().splitlines()[start:]]
        if any(r["kind"] == "async_failure" for r in rows):
            break
        time.sleep(0.2)
    time.sleep(1.5)
    rows = [json.loads(x) for x in path.read_text().splitlines()[start:]]
    assert [r["kind"] for r in rows if r["kind"] == "async_failure"] == ["async_failure"], rows
    assert not [r for r in rows if r["kind"].endswith("success")], rows


def test_full_queue_sends_requests_to_litellm_when_asked(tmp_path):
    """FAST_LITELLM_FAST_LANE_LOG_FULL=python with a one-record queue: a burst is served partly in Rust,
    partly by LiteLLM, and every request reaches the callback exactly once (nothing dropped)."""
    import threading

    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG.replace('"lane_logger.recorder", "prometheus"', '"lane_logger.recorder"'))
    shutil.copy(ROOT / "tests/apps/lane_logger.py", tmp_path / "lane_logger.py")
    out = tmp_path / "events.jsonl"
    mock_port, fast_port = free_port(), free_port()
    env = dict(os.environ, LITELLM_MASTER_KEY=KEY, LITELLM_LOCAL_MODEL_COST_MAP="True", LANE_LOGGER_OUT=str(out),
               MOCK_API_BASE=f"http://127.0.0.1:{mock_port}/v1", FAST_LITELLM_FAST_LANE_LOG_QUEUE="1",
               FAST_LITELLM_FAST_LANE_LOG_FULL="python", PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
    for var in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL", "LITELLM_DETAILED_TIMING", "FAST_LITELLM_FAST_LANE"):
        env.pop(var, None)
    log = open(tmp_path / "fast.log", "w")
    mock = subprocess.Popen([sys.executable, str(ROOT / "bench/proxy/mock_upstream.py"), "--port", str(mock_port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    fast = subprocess.Popen([sys.executable, "-m", "fast_litellm.cli", "proxy", "--config", str(cfg), "--host", "127.0.0.1",
                             "--port", str(fast_port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{mock_port}/v1/models", mock, 60)
        wait_http(f"http://127.0.0.1:{fast_port}/health/liveliness", fast, 240)
        _wait_served(fast_port, tmp_path / "fast.log")
        corpus = _corpus(99, 24)
        lanes, errors = [], []

        def worker(bodies):
            for b in bodies:
                try:
                    status, h, raw = _call(fast_port, "POST", "/v1/chat/completions", b)
                    assert status == 200, raw[:200]
                    lanes.append(dict(h)["x-fast-litellm-lane"])
                except Exception as exc:  # pragma: no cover - reported below
                    errors.append(exc)

        threads = [threading.Thread(target=worker, args=(corpus[i::6],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        rows = _events(out, len(corpus), 60)
        nonces = sorted(_nonce(r) for r in rows if r["kind"] == "async_success")
        assert nonces == sorted(b["messages"][0]["content"].split()[1] for b in corpus), (lanes, nonces)
        _s, _h, raw = _call(fast_port, "GET", "/_fast_litellm/stats")
        stats = json.loads(raw)
        assert stats["log_dropped"] == 0, stats
        assert lanes.count("rust") == stats["log_queued"] >= 1, (lanes, stats)
    finally:
        stop_group(fast)
        stop_group(mock)
        log.close()


_HOOKED = '''
from litellm.integrations.custom_logger import CustomLogger


class Hooked(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        pass

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        return response  # a proxy hook: may rewrite answers, so it must run on the request path


hooked = Hooked()
'''


@pytest.mark.parametrize("settings, served", [
    ('  callbacks: ["prometheus"]\n', True),
    ('  callbacks: ["prometheus"]\n  require_auth_for_metrics_endpoint: false\n', True),
    # (one import check per config, ~5-15 s: the served case is covered by the rig above)
    ('  callbacks: ["lane_logger.recorder", "hooked_logger.hooked"]\n', False),
    ('  callbacks: ["langfuse"]\n', False),
    ('  callbacks: ["prometheus"]\n  modify_params: true\n', False),
    ('  success_callback: ["prometheus"]\n', False),
])
def test_callback_envelope(tmp_path, settings, served):
    """Callbacks the logging queue can run (Prometheus, CustomLoggers that only log) keep the
    front serving; a callback with proxy hooks, unknown names and other settings decline."""
    from fast_litellm.fastlane.launcher import analyse_config, logging_needed

    shutil.copy(ROOT / "tests/apps/lane_logger.py", tmp_path / "lane_logger.py")
    (tmp_path / "hooked_logger.py").write_text(_HOOKED)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "model_list:\n  - model_name: g\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
        "      api_base: http://127.0.0.1:1/v1\n      api_key: k\n"
        "general_settings:\n  master_key: sk-1\nlitellm_settings:\n" + settings)
    reason, _key, groups, _ = analyse_config(str(cfg), dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True"))
    assert (reason is None and list(groups) == ["g"]) is served, reason
    if "hooked" in settings:
        assert "hooked_logger.hooked" in reason and "async_post_call_success_hook" in reason, reason
    if served:
        assert logging_needed(str(cfg)) is ("callbacks" in settings)


def test_light_replay_takes_only_the_verified_route_shape(monkeypatch):
    """The light replay calls the endpoint FastAPI dispatched the first (full) replay to, only when
    that endpoint and its route look exactly as verified; anything else keeps the full replay."""
    import types

    import fastapi
    from fastapi.security import APIKeyHeader

    from fast_litellm.fastlane import replay as fl

    async def auth(request, api_key: str = fastapi.Security(APIKeyHeader(name="Authorization", auto_error=False)),
                   other: str = fastapi.Security(APIKeyHeader(name="API-Key", auto_error=False))):
        return "user"

    async def chat_completion(request, fastapi_response, model=None, user_api_key_dict=fastapi.Depends(auth)):
        return {}

    async def other_endpoint(request, fastapi_response, model=None, user_api_key_dict=fastapi.Depends(auth), extra=None):
        return {}

    async def guard():
        return None

    monkeypatch.setitem(sys.modules, "litellm.proxy.proxy_server", types.SimpleNamespace(user_api_key_auth=auth))

    def route(endpoint, calls):
        dep = types.SimpleNamespace(call=endpoint, dependencies=[types.SimpleNamespace(call=c) for c in calls])
        return types.SimpleNamespace(dependant=dep)

    d = fl._Direct(app=None)
    ok = d._check({"endpoint": chat_completion, "route": route(chat_completion, [auth, auth])})
    assert ok[0] is chat_completion and ok[1] is auth
    assert ok[2] == [("api_key", "authorization"), ("other", "api-key")]
    for scope in ({"endpoint": other_endpoint, "route": route(other_endpoint, [auth])},   # other parameters
                  {"endpoint": chat_completion, "route": route(chat_completion, [auth, guard])},  # another dependency
                  {"endpoint": chat_completion, "route": route(other_endpoint, [auth])},  # route of another endpoint
                  {"endpoint": chat_completion, "route": route(chat_completion, [])},
                  {}):  # the full replay never reached an endpoint
        assert isinstance(d._check(scope), str), scope
    monkeypatch.setitem(sys.modules, "litellm.proxy.proxy_server", types.SimpleNamespace())
    assert isinstance(d._check({"endpoint": chat_completion, "route": route(chat_completion, [auth])}), str)
    # learn() keeps the verdict per path; a declined path stays on the full replay.
    d.learn("/v1/chat/completions", {})
    assert d.known("/v1/chat/completions") and "/v1/chat/completions" in d.reasons()


def test_a_replay_waiting_out_the_upstream_latency_gives_its_cpu_slot_up(monkeypatch):
    """With one CPU slot, two replays both reach the (recorded) upstream wait at the same time:
    the wait does not hold the slot, so long upstream latencies do not cap the logging rate.
    Their one upstream call each is answered from the record, and the slot comes back."""
    import asyncio

    import httpx

    from fast_litellm.fastlane import replay as fl

    fl._patch_httpx()
    base = "http://127.0.0.1:9/v1"
    rec = {"upstream_url": base + "/chat/completions", "api_base": base, "status": 200,
           "response_headers": [["content-type", "application/json"]], "response": '{"ok": true}',
           "start": 100.0, "upstream_done": 101.5}
    waiting, peak = [], []

    async def main():
        both = asyncio.Event()

        async def fake_wait(delay):
            assert delay == 1.5
            waiting.append(delay)
            peak.append(len(waiting))
            if len(waiting) == 2:
                both.set()
            await asyncio.wait_for(both.wait(), 30)  # a guard against hanging, not a timing check
            waiting.pop()

        monkeypatch.setattr(fl, "_wait", fake_wait)
        sem = asyncio.Semaphore(1)

        async def one():
            slot = fl._Slot(sem)
            await slot.acquire()
            armed = fl._Armed(rec, slot)
            try:
                async with httpx.AsyncClient() as client:
                    resp = await client.post(rec["upstream_url"], json={})
                    with pytest.raises(httpx.ConnectError):  # a second call never reaches the upstream
                        await client.post(rec["upstream_url"], json={})
                assert slot.held  # taken back after the wait
                return resp.status_code, resp.json(), armed.canned.used
            finally:
                armed.close()
                slot.release()

        out = await asyncio.gather(one(), one())
        assert not sem.locked()
        return out

    assert asyncio.run(main()) == [(200, {"ok": True}, True)] * 2
    assert max(peak) == 2
