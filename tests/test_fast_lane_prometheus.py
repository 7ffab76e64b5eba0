"""Prometheus metrics of requests the fast lane served, applied without the replay.

A config whose only callback is ``prometheus``: the same generated requests (several
groups, one of two deployments, token counts from zero to large, so costs from zero up,
streams with and without the usage chunk, and some upstream failures that LiteLLM answers
and logs itself) go to the stock proxy and to ``fast-litellm proxy``. Every counter and
every histogram's ``_count`` on ``/metrics`` must grow by the same amounts with the same
labels on both (timing values aside: histogram sums and buckets of latencies), every gauge
must end with the same value, and the fast proxy must have applied the records of
single-deployment groups itself (``fastlane/prometheus.py``) rather than replayed them.
``FAST_LITELLM_PROM_PARITY_N`` sets the corpus size per round (default 40; CI time);
``FAST_LITELLM_PROM_WORKERS=1`` adds the 4-worker run with ``PROMETHEUS_MULTIPROC_DIR`` (~6 min).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_fast_lane_logging import CONFIG as LOGGING_CONFIG
from test_fast_lane_logging import KEY, _call, _model_ids, _wait_served
from util_proc import free_port, stop_group, wait_http

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytest.importorskip("prometheus_client")

# test_fast_lane_logging's groups (one of two deployments), with prometheus as the only callback.
# Router settings a production config carries (they act on failures, which the corpus has).
CONFIG = LOGGING_CONFIG.replace('callbacks: ["lane_logger.recorder", "prometheus"]', 'callbacks: ["prometheus"]') + """
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 1
  timeout: 30
  cooldown_time: 5
"""
assert 'callbacks: ["prometheus"]' in CONFIG
GROUPS = ("gpt-4o-mini", "gpt-4o", "balanced")
N = int(os.environ.get("FAST_LITELLM_PROM_PARITY_N", "40"))


def _start_rig(tmp, workers=1, multiproc=False):
    cfg = tmp / "config.yaml"
    cfg.write_text(CONFIG)
    env = dict(os.environ, LITELLM_MASTER_KEY=KEY, LITELLM_LOCAL_MODEL_COST_MAP="True",
               PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
    if not multiproc:
        env["FAST_LITELLM_METRICS"] = "0"  # one registry per proxy, as stock's: histograms included
    for var in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL", "LITELLM_DETAILED_TIMING", "FAST_LITELLM_FAST_LANE",
                "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", "FAST_LITELLM_FAST_LANE_PROMETHEUS"):
        env.pop(var, None)
    ports = {"mock": free_port(), "stock": free_port(), "fast": free_port()}
    env["MOCK_API_BASE"] = f"http://127.0.0.1:{ports['mock']}/v1"
    logs = {n: open(tmp / f"{n}.log", "w") for n in ports}
    procs = {}

    def start(argv, name):
        e = dict(env)
        if multiproc and name != "mock":
            d = tmp / f"prom-{name}"
            d.mkdir()
            e["PROMETHEUS_MULTIPROC_DIR"] = str(d)
        procs[name] = subprocess.Popen(argv, env=e, stdout=logs[name], stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp)

    start([sys.executable, str(ROOT / "bench/proxy/mock_upstream.py"), "--port", str(ports["mock"])], "mock")
    common = ["--config", str(cfg), "--host", "127.0.0.1"] + (["--num_workers", str(workers)] if workers > 1 else [])
    start([str(BIN / "litellm")] + common + ["--port", str(ports["stock"])], "stock")
    start([sys.executable, "-m", "fast_litellm.cli", "proxy"] + common + ["--port", str(ports["fast"])], "fast")
    try:
        wait_http(f"http://127.0.0.1:{ports['mock']}/v1/models", procs["mock"], 60)
        wait_http(f"http://127.0.0.1:{ports['stock']}/health/liveliness", procs["stock"], 300)
        wait_http(f"http://127.0.0.1:{ports['fast']}/health/liveliness", procs["fast"], 300)
        _wait_served(ports["fast"], tmp / "fast.log", 180)
    except BaseException:
        _stop_rig(procs, logs)
        raise
    return ports, procs, logs


def _stop_rig(procs, logs):
    for p in procs.values():
        stop_group(p)
    for fh in logs.values():
        fh.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fastlane_prometheus")
    ports, procs, logs = _start_rig(tmp)
    try:
        yield {"ports": ports, "procs": procs, "fast_log": tmp / "fast.log"}
    finally:
        _stop_rig(procs, logs)


def _corpus(seed, n):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        group = GROUPS[i % len(GROUPS)] if rng.random() < 0.8 else rng.choice(GROUPS)
        upstream = "gpt-4o" if group == "gpt-4o" else "gpt-4o-mini"
        usage = rng.choice([(0, 0), (1, 0), (0, 1), (1, 1)] + [(rng.randint(0, 10 ** rng.randint(1, 6)),
                                                                 rng.randint(0, 10 ** rng.randint(1, 5))) for _ in range(4)])
        d = f"mock:model={upstream};usage={usage[0]},{usage[1]}"
        # (failures in the two-deployment group would cool one of them down or not depending on
        # which one each proxy picked at random: failures go to single-deployment groups only)
        stream = rng.random() < 0.3
        if stream and 0 in usage:
            # LiteLLM 1.83 recounts a stream's zero usage itself (token_counter), which the front cannot
            # reproduce once the content went out: it cuts such a stream (a known limit, docs/fast-lane-settings.md).
            usage = (usage[0] or 7, usage[1] or 3)
            d = f"mock:model={upstream};usage={usage[0]},{usage[1]}"
        if group != "balanced" and not stream and rng.random() < 0.12:
            d += ";status=" + rng.choice(["400", "429", "500"])
        msgs = [{"role": "user", "content": f"nonce {seed}-{i}"}, {"role": "user", "content": d}]
        body = {"model": group, "messages": msgs}
        if stream:  # with and without the usage chunk (1.83.x asks the upstream for it only when the client does)
            body["stream"] = True
            if rng.random() < 0.7:
                body["stream_options"] = {"include_usage": rng.random() < 0.8}
        out.append(body)
    return out


_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
# Histogram sums of durations (the front's timings are not the stock proxy's), and series that
# are not about requests (process/in-flight gauges, creation timestamps).
_TIMING = re.compile(r"latency|time|seconds|duration|ttft")


_BALANCED: dict = {}


def _balanced_ids(port):
    """The ids of the two-deployment group's deployments (series labelled by them alone, on 1.83.14)."""
    if port not in _BALANCED:
        _BALANCED[port] = _model_ids(port)["balanced"]
    return _BALANCED[port]


def _metrics(port):
    """{(series name, labels): value} of LiteLLM's counters, histogram counts and sums (not timings)."""
    return _series(port)[0]


def _gauges(port):
    """{(series name, labels): value} of LiteLLM's gauges (not timings or timestamps)."""
    return _series(port)[1]


def _series(port):
    status, _h, raw = _call(port, "GET", "/metrics/")
    assert status == 200, raw[:300]
    kinds, out, gauges = {}, {}, {}
    for line in raw.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            kinds[name] = kind
            continue
        m = _LINE.match(line)
        if not m or not m.group(1).startswith("litellm_"):
            continue
        name = m.group(1)
        base = re.sub(r"_(total|count|sum|bucket|created)$", "", name)
        kind = kinds.get(base) or kinds.get(name)
        if kinds.get(name) == "gauge" and not name.endswith("_created") and not _TIMING.search(name):
            into = gauges
        elif name.endswith("_created") or name.endswith("_bucket") or kind not in ("counter", "histogram"):
            continue
        elif kind == "histogram" and name.endswith("_sum") and _TIMING.search(base):
            continue
        else:
            into = out
        labels = dict(_LABEL.findall(m.group(2) or ""))
        if labels.get("model_group") == "balanced" or labels.get("requested_model") == "balanced" \
                or labels.get("model") == "balanced" or labels.get("model_id") in _balanced_ids(port):
            labels.pop("model_id", None)  # stock and the front each pick one of the two at random
        key = (name, tuple(sorted(labels.items())))
        into[key] = into.get(key, 0.0) + float(m.group(3))
    return out, gauges


def _deltas(before, after):
    return {k: round(v - before.get(k, 0.0), 6) for k, v in after.items() if round(v - before.get(k, 0.0), 6)}


def _requests(m):
    return sum(v for (name, _l), v in m.items() if name == "litellm_requests_metric_total")


def _run_parity(ports, corpus, fast_log):
    before = {p: _metrics(ports[p]) for p in ("stock", "fast")}
    ok = rust = 0
    for body in corpus:
        s_status, _sh, s_raw = _call(ports["stock"], "POST", "/v1/chat/completions", body)
        f_status, fh, f_raw = _call(ports["fast"], "POST", "/v1/chat/completions", body)
        assert s_status == f_status, (s_status, f_status, s_raw[:200], f_raw[:200])
        if s_status == 200:
            ok += 1
            # (after an upstream failure the front leaves the group to LiteLLM for its cooldown window)
            rust += dict(fh).get("x-fast-litellm-lane") == "rust"
    # The fast proxy's counters catch up once its logging queue was drained.
    deadline = time.time() + 120
    while True:
        after = {p: _metrics(ports[p]) for p in ("stock", "fast")}
        if _requests(after["fast"]) - _requests(before["fast"]) >= ok or time.time() > deadline:
            break
        time.sleep(0.5)
    time.sleep(1.0)  # any late (duplicate) update shows up
    after = {p: _metrics(ports[p]) for p in ("stock", "fast")}
    d = {p: _deltas(before[p], after[p]) for p in ("stock", "fast")}
    missing = {k: v for k, v in d["stock"].items() if d["fast"].get(k) != v}
    extra = {k: v for k, v in d["fast"].items() if k not in d["stock"]}
    diff = [f"{name}{dict(labels)}: stock +{d['stock'].get((name, labels))} fast +{d['fast'].get((name, labels))}"
            for name, labels in sorted(set(missing) | set(extra))]
    assert not diff, "\n".join(diff)
    # Gauges (deployment state, remaining budgets and limits, ...): the same values at rest.
    gauges = {p: _gauges(ports[p]) for p in ("stock", "fast")}
    gdiff = [f"{name}{dict(labels)}: stock {gauges['stock'].get((name, labels))} fast {gauges['fast'].get((name, labels))}"
             for name, labels in sorted(set(gauges["stock"]) | set(gauges["fast"]))
             if gauges["stock"].get((name, labels)) != gauges["fast"].get((name, labels))]
    assert not gdiff, "\n".join(gdiff)
    assert _requests(d["fast"]) == ok
    assert rust >= ok // 3, (rust, ok)
    return d


def test_prometheus_counters_equal_stock_without_replay(rig):
    corpus = _corpus(1907, N)
    d = _run_parity(rig["ports"], corpus, rig["fast_log"])
    names = {name for name, _l in d["fast"]}
    # The families a served request touches are all there (counts of tokens, spend, requests, deployment success).
    for fam in ("litellm_requests_metric_total", "litellm_spend_metric_total", "litellm_input_tokens_metric_total",
                "litellm_output_tokens_metric_total", "litellm_deployment_success_responses_total",
                "litellm_request_total_latency_metric_count", "litellm_llm_api_latency_metric_count"):
        assert fam in names, sorted(names)
    log = rig["fast_log"].read_text(errors="replace")
    assert "fast-lane Prometheus metrics: applied from the front's records" in log, log[-3000:]
    # The kinds' series updates were learnt and applied directly (fastlane/prometheus_plan.py), not via the logger.
    said = "\n".join(line for line in log.splitlines() if "Prometheus" in line)
    assert "updates applied directly per record" in log, said
    assert "through LiteLLM's logger" not in log, said
    # A second round, with every kind (group, deployment, client, zero cost or not) learnt.
    d2 = _run_parity(rig["ports"], _corpus(1908, N), rig["fast_log"])
    assert _requests(d2["fast"]) > 0
    # Streams with the upstream's usage chunk too (a stream kind is learnt like the others).
    log = rig["fast_log"].read_text(errors="replace")
    said = "\n".join(line for line in log.splitlines() if "Prometheus" in line)
    assert re.search(r"Prometheus series for '[^']+' streams: \d+ updates applied directly", log), said


def test_applied_records_are_counted_when_the_proxy_stops(rig):
    """The launcher's logging summary says how many records were applied without a replay."""
    fast = rig["procs"]["fast"]
    stop_group(fast)
    text = rig["fast_log"].read_text(errors="replace")
    m = re.search(r"'prometheus_applied': (\d+)", text)
    assert m, text[-2000:]
    # Of 2N requests two thirds go to single-deployment groups; minus each kind's first record
    # (replayed) and the requests LiteLLM served during a group's cooldown window after a failure.
    assert int(m.group(1)) >= N // 4, text[-2000:]


def test_config_reason():
    from fast_litellm.fastlane import prometheus as fp

    prom = {"litellm_settings": {"callbacks": ["prometheus"]}}
    assert fp.config_reason(prom, {}) is None
    assert fp.config_reason({"litellm_settings": {"callbacks": "prometheus"}}, {}) is None
    assert fp.config_reason(prom, {"FAST_LITELLM_FAST_LANE_PROMETHEUS": "replay"})
    assert fp.config_reason({"litellm_settings": {"callbacks": ["prometheus", "x.y"]}}, {})
    # Router settings act on failures (LiteLLM's); a strategy with its own success logger keeps the replay.
    assert fp.config_reason({"litellm_settings": {"callbacks": ["prometheus"], "num_retries": 2}}, {}) is None
    assert fp.config_reason(dict(prom, router_settings={"routing_strategy": "simple-shuffle"}), {}) is None
    assert fp.config_reason(dict(prom, router_settings={"routing_strategy": "latency-based-routing"}), {})
    assert fp.config_reason(dict(prom, router_settings=["x"]), {})


@pytest.mark.skipif(not os.environ.get("FAST_LITELLM_PROM_WORKERS"), reason="4 workers: FAST_LITELLM_PROM_WORKERS=1")
def test_four_workers_multiprocess(tmp_path):
    """4 workers with PROMETHEUS_MULTIPROC_DIR: /metrics (LiteLLM's multiprocess collector) merges the
    series the applier updated in whichever worker took a batch with LiteLLM's own."""
    ports, procs, logs = _start_rig(tmp_path, workers=4, multiproc=True)
    try:
        _run_parity(ports, _corpus(1909, N), tmp_path / "fast.log")
        stop_group(procs["fast"])  # its logging summary: records applied without a replay in some worker
        m = re.search(r"'prometheus_applied': (\d+)", (tmp_path / "fast.log").read_text(errors="replace"))
        assert m and int(m.group(1)) > 0
    finally:
        _stop_rig(procs, logs)


def test_record_kinds_and_what_keeps_the_replay():
    import json

    from fast_litellm.fastlane import prometheus as fp

    a = fp.Applier()
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    rec = {"method": "POST", "path": "/v1/chat/completions", "model": "openai/gpt-4o-mini", "model_group": "g",
           "model_id": "d1", "status": 200, "pin": False, "stream": False, "peer": ["10.0.0.1", 5],
           "headers": [["User-Agent", "sdk/1"]], "response": json.dumps({"usage": usage})}
    k = a.kind(dict(rec))
    assert k == ("/v1/chat/completions", "g", "d1", "10.0.0.1", "sdk/1", False)
    zero = dict(rec, response=json.dumps({"usage": dict(usage, prompt_tokens=0, completion_tokens=0, total_tokens=0)}))
    assert a.kind(zero)[-1] is True  # zero cost: a kind of its own (LiteLLM's zero-cost diagnostic)
    details = dict(usage, prompt_tokens_details={"cached_tokens": 0, "audio_tokens": None}, completion_tokens_details=None)
    assert a.kind(dict(rec, response=json.dumps({"usage": details}))) is not None
    # Streams: the one usage chunk of the SSE body; the client's include_usage is part of the kind.
    sse = "".join(f"data: {json.dumps(c)}\n\n" for c in ({"choices": [{"delta": {"content": "a"}}], "usage": None},
                                                         {"choices": [], "usage": usage})) + "data: [DONE]\n\n"
    def stream_rec(**kw):  # a fresh record each time (kind() keeps the parsed usage on the record)
        return {**rec, "stream": True, "response": sse,
                "request": json.dumps({"stream": True, "stream_options": {"include_usage": True}}), **kw}

    assert a.kind(stream_rec()) == k + (("stream", True),)
    assert a.kind(stream_rec(request="{}")) == k + (("stream", None),)
    twice = sse.replace("data: [DONE]", f"data: {json.dumps({'choices': [], 'usage': usage})}\n\ndata: [DONE]")
    no_completion = sse.replace('"completion_tokens": 5', '"completion_tokens": 0')
    for other in (stream_rec(response=twice), stream_rec(response=no_completion), stream_rec(response="data: [DONE]\n\n"),
                  stream_rec(response="data: {\"usage\": \n\n")):
        assert a.kind(other) is None, other["response"]
    for other in (dict(rec, stream=True), dict(rec, pin=True), dict(rec, path="/v1/responses"), dict(rec, status=400),
                  dict(rec, response=json.dumps({"usage": dict(usage, prompt_tokens_details={"cached_tokens": 3})})),
                  dict(rec, response=json.dumps({"usage": dict(usage, extra=1)})), dict(rec, response="not json")):
        assert a.kind(other) is None, other
    assert fp._V3_LIMIT_HEADER.match("x-ratelimit-api_key-remaining-requests")
    assert fp._V3_LIMIT_HEADER.match("x-ratelimit-model_per_project_itpm-limit-tokens")
    assert not fp._V3_LIMIT_HEADER.match("x_ratelimit_remaining_requests")
    assert not fp._V3_LIMIT_HEADER.match("llm_provider-x-ratelimit-remaining-requests")
