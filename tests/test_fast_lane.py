"""Parity of the proxy fast lane with the stock LiteLLM proxy.

The same mock upstream, the same config: the stock proxy (``litellm --config``)
and ``fast-litellm proxy --config`` (Rust front + LiteLLM behind it). For a
generated corpus of requests the front accepts, the status, the body (byte for
byte once the upstream's ``id``/``created`` are masked) and the headers (modulo
timing values, call id, date) must be equal, and the lane header must say
``rust``. Requests outside the envelope (other routes, wrong key, unknown model,
extra fields, streaming, upstream errors, a different upstream model...) must go
to Python and match stock too.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from util_proc import free_port, stop_group, wait_http

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-test-fast-lane-master"
BIN = Path(sys.executable).parent

pytest.importorskip("aiohttp")
native = pytest.importorskip("fast_litellm._native")
if not hasattr(native, "fastlane_serve"):
    pytest.skip("native module built without the fast lane", allow_module_level=True)

CONFIG = """
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: os.environ/MOCK_API_BASE
      api_key: sk-mock-upstream
  - model_name: team-alias
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: os.environ/MOCK_API_BASE
      api_key: os.environ/MOCK_KEY
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
  - model_name: with-timeout
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: os.environ/MOCK_API_BASE
      api_key: sk-mock-upstream
      timeout: 30
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: os.environ/MOCK_API_BASE
      api_key: sk-mock-upstream
  - model_name: replayed
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: os.environ/MOCK_API_BASE
      api_key: sk-mock-c

general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""
SERVED_GROUPS = ("gpt-4o-mini", "team-alias", "balanced", "gpt-4o")


def _start(argv, env, url, log):
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc


@contextmanager
def stock_and_fast(tmp, config, extra_env=None):
    """The mock upstream, the stock proxy and `fast-litellm proxy` on the same config (a rig dict)."""
    cfg = tmp / "config.yaml"
    cfg.write_text(config)
    # PYTHONPATH is inherited: the source tree in the dev loop, the installed wheel in CI.
    env = dict(os.environ, LITELLM_MASTER_KEY=KEY, LITELLM_LOCAL_MODEL_COST_MAP="True", MOCK_KEY="sk-mock-env",
               PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""), **(extra_env or {}))
    for var in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL", "LITELLM_DETAILED_TIMING", "FAST_LITELLM_FAST_LANE",
                "FAST_LITELLM_FAST_LANE_STREAMS"):
        env.pop(var, None)
    mock_port, stock_port, fast_port = free_port(), free_port(), free_port()
    env["MOCK_API_BASE"] = f"http://127.0.0.1:{mock_port}/v1"
    logs = {n: open(tmp / f"{n}.log", "w") for n in ("mock", "stock", "fast")}
    mock = _start([sys.executable, str(ROOT / "bench/proxy/mock_upstream.py"), "--port", str(mock_port)], env,
                  None, logs["mock"])
    common = ["--config", str(cfg), "--host", "127.0.0.1"]
    stock = _start([str(BIN / "litellm")] + common + ["--port", str(stock_port)], env, None, logs["stock"])
    fast = _start([sys.executable, "-m", "fast_litellm.cli", "proxy"] + common + ["--port", str(fast_port)], env,
                  None, logs["fast"])
    procs = [mock, stock, fast]
    try:
        wait_http(f"http://127.0.0.1:{mock_port}/v1/models", mock, 60)
        wait_http(f"http://127.0.0.1:{stock_port}/health/liveliness", stock, 240)
        wait_http(f"http://127.0.0.1:{fast_port}/health/liveliness", fast, 240)
        yield {"stock": stock_port, "fast": fast_port, "fast_proc": fast, "fast_log": tmp / "fast.log",
               "ids": _model_ids(stock_port)}
    finally:
        for p in procs:
            stop_group(p)
        for fh in logs.values():
            fh.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    with stock_and_fast(tmp_path_factory.mktemp("fastlane"), CONFIG) as r:
        yield r


def _model_ids(port):
    status, _, body = _call(port, "GET", "/v1/model/info", None, {"Authorization": f"Bearer {KEY}"})
    ids = {}
    for d in json.loads(body)["data"]:
        ids.setdefault(d["model_name"], set()).add(d["model_info"]["id"])
    return ids


def _call(port, method, path, body, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body, ensure_ascii=False).encode()
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    hdrs = [(k.lower(), v) for k, v in resp.getheaders()]
    conn.close()
    return resp.status, hdrs, raw


# Values that differ between any two calls of the same proxy.
_VOLATILE = {"date", "llm_provider-date", "x-litellm-call-id", "x-litellm-response-duration-ms",
             "x-litellm-overhead-duration-ms", "x-fast-litellm-lane", "content-length", "llm_provider-content-length",
             "transfer-encoding", "connection", "keep-alive"}


def _norm_body(raw: bytes) -> bytes:
    raw = re.sub(rb'"id":"(chatcmpl|resp|msg)[-_][0-9a-zA-Z_=-]+"', b'"id":"<id>"', raw)
    raw = re.sub(rb'"(created|created_at)":\d+', rb'"\1":0', raw)
    raw = re.sub(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", b"<uuid>", raw)
    return raw


def _norm_headers(hdrs, ids_of_group=None):
    out = {}
    for k, v in hdrs:
        if k in _VOLATILE:
            continue
        if k == "x-litellm-model-id" and ids_of_group is not None:
            assert v in ids_of_group, (v, ids_of_group)
            v = "<one of the group>"
        out.setdefault(k, []).append(v)
    return out


def _lane(hdrs):
    return dict(hdrs).get("x-fast-litellm-lane")


def _compare(rig, method, path, body, headers=None, group=None, expect_lane=None):
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    h.update(headers or {})
    s_status, s_hdrs, s_raw = _call(rig["stock"], method, path, body, h)
    f_status, f_hdrs, f_raw = _call(rig["fast"], method, path, body, h)
    ids = rig["ids"].get(group) if group is not None and len(rig["ids"].get(group, ())) > 1 else None
    assert f_status == s_status, (body, s_raw[:300], f_raw[:300])
    assert _norm_body(f_raw) == _norm_body(s_raw), (body, s_raw[:600], f_raw[:600])
    assert _norm_headers(f_hdrs, ids) == _norm_headers(s_hdrs, ids), body
    if expect_lane is not None:
        assert _lane(f_hdrs) == expect_lane, (body, f_hdrs)
    return f_status, f_hdrs


_ALPHABET = ["a", "Z", " ", "é", "ß", "中", "😀", "\n", "\t", "\"", "\\", "/", "<", "&", "\u2028", "\x01", "\x7f", "0",
             "{", "}", "'"]


def _text(rng, n):
    return "".join(rng.choice(_ALPHABET) for _ in range(n))


def _accepted_corpus(seed, n):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        group = SERVED_GROUPS[i % len(SERVED_GROUPS)]
        upstream_model = "gpt-4o" if group == "gpt-4o" else "gpt-4o-mini"
        msgs = []
        for _ in range(rng.randint(0, 3)):
            msgs.append({"role": rng.choice(["system", "user", "assistant"]), "content": _text(rng, rng.randint(0, 40))})
        usage = rng.choice([(0, 0), (1, 1), (12, 10)] + [(rng.randint(0, 10**rng.randint(1, 7)),
                                                           rng.randint(0, 10**rng.randint(1, 6))) for _ in range(3)])
        directive = f"mock:model={upstream_model};usage={usage[0]},{usage[1]}"
        if rng.random() < 0.3:
            directive += ";finish=length"
        if rng.random() < 0.5:
            directive += ";content=" + _text(rng, rng.randint(0, 30)).replace(";", "")
        msgs.append({"role": "user", "content": directive})
        path = "/v1/chat/completions" if rng.random() < 0.8 else "/chat/completions"
        body = {"model": group, "messages": msgs}
        if rng.random() < 0.3:
            body["stream"] = rng.choice([False, None])  # LiteLLM treats both as non-streaming
        out.append((path, group, body))
    return out


def test_float_repr_matches_python():
    rng = random.Random(7)
    values = [0.0, 1.0, 1e16, 1e-5, 1e-4, 0.0001, 123456789012345.6, 1.5e-7, 6e-07, 7.8e-06]
    values += [rng.random() * 10 ** rng.randint(-12, 18) for _ in range(20000)]
    values += [rng.randint(0, 10**7) * 1.5e-7 + rng.randint(0, 10**6) * 6e-7 for _ in range(5000)]
    for x in values:
        assert native.fastlane_float_repr(x) == repr(x)


def test_accepted_requests_match_stock_byte_for_byte(rig):
    corpus = _accepted_corpus(1234, 160)
    for path, group, body in corpus:
        _compare(rig, "POST", path, body, group=group, expect_lane="rust")


def _stream_corpus(seed, n, version):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        group = SERVED_GROUPS[i % len(SERVED_GROUPS)]
        upstream_model = "gpt-4o" if group == "gpt-4o" else "gpt-4o-mini"
        pieces = [_text(rng, rng.randint(0, 6)).replace("|", "").replace(";", "") for _ in range(rng.randint(1, 6))]
        first = rng.choice(["role", "role", "text", "none"])
        if first == "none" and not pieces[0]:
            pieces[0] = "x"
        include_usage = rng.random() < 0.6
        lo = 1 if version.startswith("1.83") else 0  # 1.83.14 recounts zero usage itself (see test below)
        usage = (rng.randint(lo, 10 ** rng.randint(1, 6)), rng.randint(lo, 10 ** rng.randint(1, 5)))
        d = f"mock:model={upstream_model};pieces={'|'.join(pieces)};first={first};usage={usage[0]},{usage[1]}"
        for k, p, v in (("finish", 0.3, "length"), ("finishwith", 0.4, "last"), ("style", 0.4, "openai"), ("fp", 0.2, "none")):
            if rng.random() < p:
                d += f";{k}={v}"
        msgs = [{"role": "user", "content": _text(rng, rng.randint(0, 20))} for _ in range(rng.randint(0, 2))]
        msgs.append({"role": "user", "content": d})
        body = {"model": group, "messages": msgs, "stream": True}
        if include_usage or rng.random() < 0.3:
            body["stream_options"] = {"include_usage": include_usage}
        out.append(("/v1/chat/completions" if rng.random() < 0.8 else "/chat/completions", group, body))
    return out


def _litellm_version():
    from importlib.metadata import version

    return version("litellm")


def test_streams_match_stock_byte_for_byte(rig):
    for path, group, body in _stream_corpus(99, 120, _litellm_version()):
        _, hdrs = _compare(rig, "POST", path, body, group=group, expect_lane="rust")
        assert dict(hdrs)["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize("directive", ["model=gpt-4o-mini-2024-07-18", "status=400", "pieces=|a;first=none"])
def test_streams_out_of_shape_at_once_are_replayed(rig, directive):
    """A stream whose head or first event is outside the envelope: nothing was sent yet,
    so LiteLLM answers it (a second upstream call)."""
    body = {"model": "replayed", "messages": [{"role": "user", "content": "mock:" + directive}], "stream": True}
    _compare(rig, "POST", "/v1/chat/completions", body, group="replayed", expect_lane="python")


def _read_stream(port, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    events, arrivals, error = [], [], None
    try:
        while True:
            line = resp.readline()
            if not line:
                break
            if line.startswith(b"data: "):
                events.append(line)
                arrivals.append(time.monotonic())
    except Exception as exc:  # a stream cut short
        error = exc
    conn.close()
    return resp, events, arrivals, error


def test_stream_cut_when_out_of_shape_mid_way(rig):
    """After the first event went out a replay is impossible: an event outside the envelope
    ends the response without `data: [DONE]`, never with a silently different stream."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "mock:model=gpt-4o;pieces=a|b|c;bad=tool"}],
            "stream": True}
    resp, events, _, _ = _read_stream(rig["fast"], body)
    assert resp.getheader("x-fast-litellm-lane") == "rust"
    assert events and b"[DONE]" not in b"".join(events)
    _, stock_events, _, _ = _read_stream(rig["stock"], body)
    assert stock_events[-1] == b"data: [DONE]\n"
    assert _norm_body(events[0]) == _norm_body(stock_events[0])


@pytest.mark.skipif(not _litellm_version().startswith("1.83"), reason="1.83.14 only")
def test_stream_zero_usage_on_1_83_is_cut(rig):
    """1.83.14 recounts usage itself when the upstream reports zeros; the front does not
    replicate that, so such a stream (usage asked for) ends without `data: [DONE]`."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "mock:model=gpt-4o;usage=0,0"}],
            "stream": True, "stream_options": {"include_usage": True}}
    _, events, _, _ = _read_stream(rig["fast"], body)
    assert events and b"[DONE]" not in b"".join(events)


def test_stream_events_are_forwarded_as_they_come(rig):
    """Not buffered: with 0.3 s between upstream events, the client sees them spread out."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "mock:model=gpt-4o;pieces=a|b|c|d|e;gap=0.3"}],
            "stream": True}
    resp, events, arrivals, error = _read_stream(rig["fast"], body)
    assert error is None and resp.getheader("x-fast-litellm-lane") == "rust"
    assert len(events) == 8 and arrivals[-1] - arrivals[0] > 1.0


@pytest.mark.parametrize("case", [
    "wrong_key", "no_key", "unknown_model", "extra_field", "stream_options_extra", "declined_group", "content_parts",
    "tool_role", "empty_messages", "upstream_500", "upstream_400", "upstream_429", "other_model", "bad_json",
    "litellm_header", "query", "models", "health", "model_info", "responses",
])
def test_declined_requests_go_to_python_and_match_stock(rig, case):
    base = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    method, path, body, headers, group = "POST", "/v1/chat/completions", dict(base), {}, "gpt-4o-mini"
    if case == "wrong_key":
        headers = {"Authorization": "Bearer sk-not-the-key"}
    elif case == "no_key":
        headers = {"Authorization": ""}
    elif case == "unknown_model":
        body["model"] = "no-such-model"
    elif case == "extra_field":
        body["temperature"] = 0.5
    elif case == "stream_options_extra":
        body.update(stream=True, stream_options={"include_usage": True, "x": 1})
    elif case == "declined_group":
        body["model"] = group = "with-timeout"
    elif case == "content_parts":
        body["messages"] = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    elif case == "tool_role":
        body["messages"] = [{"role": "tool", "content": "x", "tool_call_id": "c1"}]
    elif case == "empty_messages":
        body["messages"] = []
    elif case.startswith("upstream_"):
        body["messages"] = [{"role": "user", "content": f"mock:status={case.split('_')[1]}"}]
    elif case == "other_model":
        body["messages"] = [{"role": "user", "content": "mock:model=gpt-4o-mini-2024-07-18"}]
    elif case == "bad_json":
        body = b'{"model": "gpt-4o-mini", "messages": ['
    elif case == "litellm_header":
        headers = {"x-litellm-tags": "a,b"}
    elif case == "query":
        path += "?foo=bar"
    elif case in ("models", "health", "model_info"):
        method, body = "GET", None
        path = {"models": "/v1/models", "health": "/health/liveliness", "model_info": "/v1/model/info"}[case]
    elif case == "responses":
        # Served in Rust without extra fields (tests/test_fast_lane_responses.py); `instructions` is not.
        path, body = "/v1/responses", {"model": "gpt-4o-mini", "input": "hi", "instructions": "x"}
    if case in ("upstream_500", "upstream_429"):
        # LiteLLM retries and reports timings inside the error text: compare status and lane only.
        h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        s_status, _, _ = _call(rig["stock"], method, path, body, h)
        f_status, f_hdrs, _ = _call(rig["fast"], method, path, body, h)
        assert f_status == s_status
        assert _lane(f_hdrs) == "python"
        return
    _compare(rig, method, path, body, headers, group=group, expect_lane="python")


def test_held_answers_do_not_brake(rig):
    """Upstream answers outside the envelope go to LiteLLM with the answer the front holds (no
    second upstream call, tests/test_fast_lane_answers.py), so they put no brake on the deployment:
    after three in a row the next answer in shape is served in Rust."""
    # 200s out of shape (an error status would also let the front's router follow LiteLLM's cooldown).
    bad = {"model": "gpt-4o", "messages": [{"role": "user", "content": "mock:model=gpt-4o;finish=content_filter"}]}
    for _ in range(3):
        _compare(rig, "POST", "/v1/chat/completions", bad, group="gpt-4o", expect_lane="python")
    good = {"model": "gpt-4o", "messages": [{"role": "user", "content": "mock:model=gpt-4o"}]}
    _compare(rig, "POST", "/v1/chat/completions", good, group="gpt-4o", expect_lane="rust")
    other = {"model": "team-alias", "messages": [{"role": "user", "content": "hi"}]}
    _compare(rig, "POST", "/v1/chat/completions", other, group="team-alias", expect_lane="rust")


def test_sigterm_stops_front_and_proxy(rig):
    proc = rig["fast_proc"]
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "the launcher runs LiteLLM's proxy as its child"
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(60) == 0
    for pid in children:
        deadline = time.time() + 30
        while time.time() < deadline and os.path.exists(f"/proc/{pid}") and \
                "Z" not in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]:
            time.sleep(0.2)
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    log = Path(rig["fast_log"]).read_text()
    assert "serving ['balanced', 'gpt-4o', 'gpt-4o-mini', 'replayed', 'team-alias'] in Rust" in log
    assert "'with-timeout' goes to LiteLLM" in log


def test_split_args():
    from fast_litellm.fastlane.launcher import split_args

    host, port, rest, config, reason = split_args(["--config", "c.yaml", "--host", "127.0.0.1", "--port=9000",
                                                   "--num_workers", "4"])
    assert (host, port, config, reason) == ("127.0.0.1", 9000, "c.yaml", None)
    assert rest == ["--config", "c.yaml", "--num_workers", "4"]
    host, port, rest, config, reason = split_args(["-c", "x.yaml", "--detailed_debug"])
    assert (host, port, config) == ("0.0.0.0", 4000, "x.yaml")
    assert rest == ["-c", "x.yaml", "--detailed_debug"] and "--detailed_debug" in reason


@pytest.mark.parametrize("extra, env_extra, served", [
    ("", {}, True),
    ("litellm_settings:\n  success_callback: [langfuse]\n", {}, False),
    ("litellm_settings:\n  cache: true\n", {}, False),
    ("router_settings:\n  routing_strategy: usage-based-routing\n", {}, False),
    ("guardrails: []\n", {}, False),
    ("callbacks: [x]\n", {}, False),
    ("", {"DATABASE_URL": "postgresql://x"}, False),
    ("", {"REDIS_HOST": "localhost"}, False),
])
def test_config_envelope(tmp_path, extra, env_extra, served):
    from fast_litellm.fastlane.launcher import analyse_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "model_list:\n  - model_name: g\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
        "      api_base: http://127.0.0.1:1/v1\n      api_key: k\n"
        "general_settings:\n  master_key: sk-1\n" + extra)
    reason, key, groups, _ = analyse_config(str(cfg), dict(env_extra))
    assert (reason is None and list(groups) == ["g"]) is served, reason


@pytest.mark.parametrize("params, ok", [
    ({"model": "openai/gpt-4o-mini", "api_base": "http://h:1/v1", "api_key": "k"}, True),
    ({"model": "openai/gpt-4o-mini", "api_base": "https://h/v1", "api_key": "k"}, True),  # trust: fastlane.tls
    ({"model": "openai/gpt-4o-mini", "api_base": "https://h/v1/", "api_key": "k"}, False),
    ({"model": "openai/gpt-4o-mini", "api_base": "http://h:1/v1/", "api_key": "k"}, False),
    ({"model": "openai/gpt-4o-mini", "api_base": "http://h:1/v1?x=1", "api_key": "k"}, False),
    ({"model": "gpt-4o-mini", "api_base": "http://h:1/v1", "api_key": "k"}, False),
    ({"model": "azure/gpt-4o-mini", "api_base": "http://h:1", "api_key": "k"}, True),
    ({"model": "azure/gpt-4o-mini", "api_base": "http://h:1", "api_key": "k", "azure_ad_token": "t"}, False),
    ({"model": "groq/llama-3.1-8b-instant", "api_base": "http://h:1/v1", "api_key": "k"}, False),
    ({"model": "openai/gpt-4o-mini", "api_base": "http://h:1/v1", "api_key": "k", "rpm": 10}, False),
    ({"model": "openai/gpt-4o-mini", "api_base": "http://h:1/v1"}, False),
    ({"model": "openai/gpt-4o-mini", "api_base": "os.environ/NOPE_NOT_SET", "api_key": "k"}, False),
])
def test_deployment_envelope(params, ok):
    from fast_litellm.fastlane.launcher import _deployment_reason

    assert (_deployment_reason({"model_name": "g", "litellm_params": params}, {}) is None) is ok


def test_streams_are_on_by_default():
    """Streams are served in Rust by default (the corpus of upstream stream shapes in
    tests/test_fast_lane_streams.py backs this); FAST_LITELLM_FAST_LANE_STREAMS=0 sends them to LiteLLM."""
    from fast_litellm.fastlane.launcher import streams_enabled

    assert streams_enabled({}) is True
    assert streams_enabled({"FAST_LITELLM_FAST_LANE_STREAMS": ""}) is True
    assert streams_enabled({"FAST_LITELLM_FAST_LANE_STREAMS": "0"}) is False
    assert streams_enabled({"FAST_LITELLM_FAST_LANE_STREAMS": "off"}) is False
    assert streams_enabled({"FAST_LITELLM_FAST_LANE_STREAMS": "1"}) is True
