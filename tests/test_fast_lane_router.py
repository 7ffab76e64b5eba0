"""The fast lane with router settings: fallbacks, retries, timeouts, cooldowns, simple-shuffle.

Stock LiteLLM answers a successful first attempt exactly as without router settings (the
same body, ``x-litellm-attempted-retries: 0`` and ``x-litellm-attempted-fallbacks: 0``,
no timeout header), so the Rust front serves it. An upstream error, a timeout (the front
gives up no later than LiteLLM's own timeout) or an out-of-shape answer is replayed through
LiteLLM, which runs its own retries and fallbacks: the client gets LiteLLM's answer by
construction. After such a failure the group and its fallback groups go to LiteLLM for its
cooldown window, so the front never picks a deployment LiteLLM has cooled down.

Each deployment's behaviour is fixed by its ``api_base`` (tests/apps/router_mock.py): always
500, always 429, slow, or the normal mock, so stock and fast lane see the same upstream.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from util_proc import free_port, stop_group, wait_http

from test_fast_lane import KEY, _call, _lane, _norm_body, _norm_headers, _text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COOLDOWN = 4
SLOW_S = 5

CONFIG = f"""
model_list:
  - model_name: ok
    litellm_params: {{model: openai/gpt-4o-mini, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-a}}
  - model_name: ok
    litellm_params: {{model: openai/gpt-4o-mini, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-b}}
  - model_name: backup
    litellm_params: {{model: openai/gpt-4o, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-c}}
  - model_name: spare
    litellm_params: {{model: openai/gpt-4o, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-c}}
  - model_name: down500
    litellm_params: {{model: openai/gpt-4o-mini, api_base: os.environ/MOCK_FAIL500, api_key: sk-mock-d}}
  - model_name: down429
    litellm_params: {{model: openai/gpt-4o-mini, api_base: os.environ/MOCK_FAIL429, api_key: sk-mock-e}}
  - model_name: slow
    litellm_params: {{model: openai/gpt-4o-mini, api_base: os.environ/MOCK_SLOW, api_key: sk-mock-f}}
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
litellm_settings:
  request_timeout: 3
router_settings:
  num_retries: 1
  timeout: 2
  allowed_fails: 1
  cooldown_time: {COOLDOWN}
  routing_strategy: simple-shuffle
  fallbacks: [{{down500: [backup]}}, {{down429: [backup]}}, {{slow: [spare]}}]
  context_window_fallbacks: [{{ok: [backup]}}]
  content_policy_fallbacks: [{{ok: [backup]}}]
"""

pytest.importorskip("aiohttp")


@contextmanager
def stock_and_fast(tmp, config: str, mock_env=lambda root: {}, drop=(), mock="tests/apps/router_mock.py"):
    """A mock upstream (default: the rig's, tests/apps/router_mock.py), stock ``litellm`` and ``fast-litellm
    proxy`` on ``config`` (its deployments read ``MOCK_*`` api_bases from ``mock_env(root)``);
    yields their ports, the mock's and the model ids per group. Shared by the fast-lane router,
    /v1/responses and upstream-answer tests."""
    cfg = tmp / "config.yaml"
    cfg.write_text(config)
    env = dict(os.environ, LITELLM_MASTER_KEY=KEY, LITELLM_LOCAL_MODEL_COST_MAP="True",
               PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
    for var in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL", "LITELLM_DETAILED_TIMING", "FAST_LITELLM_FAST_LANE") + tuple(drop):
        env.pop(var, None)
    mock_port, stock_port, fast_port = free_port(), free_port(), free_port()
    root = f"http://127.0.0.1:{mock_port}"
    env["MOCK_API_BASE"] = f"{root}/v1"
    env.update(mock_env(root))
    logs = {n: open(tmp / f"{n}.log", "w") for n in ("mock", "stock", "fast")}

    def start(argv, log):
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    mock = start([sys.executable, str(ROOT / mock), "--port", str(mock_port)], logs["mock"])
    common = ["--config", str(cfg), "--host", "127.0.0.1"]
    stock = start([str(BIN / "litellm")] + common + ["--port", str(stock_port)], logs["stock"])
    fast = start([sys.executable, "-m", "fast_litellm.cli", "proxy"] + common + ["--port", str(fast_port)], logs["fast"])
    try:
        wait_http(f"{root}/v1/models", mock, 60)
        wait_http(f"http://127.0.0.1:{stock_port}/health/liveliness", stock, 240)
        wait_http(f"http://127.0.0.1:{fast_port}/health/liveliness", fast, 240)
        _, _, body = _call(stock_port, "GET", "/v1/model/info", None, {"Authorization": f"Bearer {KEY}"})
        ids = {}
        for d in json.loads(body)["data"]:
            ids.setdefault(d["model_name"], set()).add(d["model_info"]["id"])
        yield {"stock": stock_port, "fast": fast_port, "mock": mock_port, "ids": ids, "fast_log": tmp / "fast.log"}
    finally:
        for p in (mock, stock, fast):
            stop_group(p)
        for fh in logs.values():
            fh.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    # The accelerated proxy runs with its default patches, the transport included: the
    # router's 2 s timeout against a 5 s upstream must fall back as in stock.
    def mock_env(root):
        return dict(MOCK_FAIL500=f"{root}/fail/500/v1", MOCK_FAIL429=f"{root}/fail/429/v1",
                    MOCK_SLOW=f"{root}/slow/{SLOW_S}/v1")

    with stock_and_fast(tmp_path_factory.mktemp("fastlane_router"), CONFIG, mock_env,
                        drop=("DEFAULT_COOLDOWN_TIME_SECONDS",)) as r:
        yield r


def _litellm_version():
    from importlib.metadata import version

    return version("litellm")


V110 = _litellm_version().startswith("1.110")


def _both(rig, body, group):
    """The same request to stock and to the fast lane: (fast headers) after asserting parity."""
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    s_status, s_hdrs, s_raw = _call(rig["stock"], "POST", "/v1/chat/completions", body, h)
    f_status, f_hdrs, f_raw = _call(rig["fast"], "POST", "/v1/chat/completions", body, h)
    ids = rig["ids"].get(group) if len(rig["ids"].get(group, ())) > 1 else None
    assert f_status == s_status, (body, s_raw[:400], f_raw[:400])
    assert _norm_body(f_raw) == _norm_body(s_raw), (body, s_raw[:800], f_raw[:800])
    assert _norm_headers(f_hdrs, ids) == _norm_headers(s_hdrs, ids), body
    return s_status, f_hdrs


def _wait_cooldown():
    time.sleep(COOLDOWN + 1.5)


def test_front_reports_router_settings(rig):
    log = Path(rig["fast_log"]).read_text()
    assert "serving ['backup', 'down429', 'down500', 'ok', 'slow', 'spare'] in Rust" in log
    assert "router_settings.fallbacks" in log and "litellm_settings.request_timeout" in log
    assert "upstream timeout 2s" in log


def test_successes_match_stock_and_are_served_in_rust(rig):
    rng = random.Random(4321)
    for i in range(80):
        group = ("ok", "backup")[i % 2]
        upstream = "gpt-4o" if group == "backup" else "gpt-4o-mini"
        msgs = [{"role": rng.choice(["system", "user", "assistant"]), "content": _text(rng, rng.randint(0, 30))}
                for _ in range(rng.randint(0, 2))]
        usage = (rng.randint(0, 10 ** rng.randint(1, 6)), rng.randint(0, 10 ** rng.randint(1, 5)))
        d = f"mock:model={upstream};usage={usage[0]},{usage[1]}"
        if rng.random() < 0.3:
            d += ";finish=length"
        if rng.random() < 0.5:
            d += ";content=" + _text(rng, rng.randint(0, 20)).replace(";", "")
        msgs.append({"role": "user", "content": d})
        _, hdrs = _both(rig, {"model": group, "messages": msgs}, group)
        assert _lane(hdrs) == "rust"
        h = dict(hdrs)
        assert h["x-litellm-attempted-retries"] == "0" and h["x-litellm-attempted-fallbacks"] == "0"


def test_shuffle_uses_every_deployment(rig):
    seen = set()
    for _ in range(30):
        _, hdrs = _both(rig, {"model": "ok", "messages": [{"role": "user", "content": "hi"}]}, "ok")
        seen.add(dict(hdrs)["x-litellm-model-id"])
    assert seen == rig["ids"]["ok"]


@pytest.mark.parametrize("group, fallback", [("down500", "backup"), ("down429", "backup"), ("slow", "spare")])
def test_failure_falls_back_as_stock_then_cools_down(rig, group, fallback):
    """Primary 500 / 429 (LiteLLM retries, then falls back) / slower than the timeout: the
    front's attempt fails (or it gives up at LiteLLM's timeout) and replays; LiteLLM answers
    with the fallback. Then the fallback group goes to LiteLLM for the cooldown window, and
    comes back to Rust after it."""
    _wait_cooldown()  # the previous case's window
    body = {"model": group, "messages": [{"role": "user", "content": "mock:model=gpt-4o"}]}
    status, hdrs = _both(rig, body, group)
    assert status == 200 and _lane(hdrs) == "python"
    h = dict(hdrs)
    assert h["x-litellm-attempted-fallbacks"] == "1" and h["x-litellm-model-group"] == fallback
    direct = {"model": fallback, "messages": [{"role": "user", "content": "mock:model=gpt-4o"}]}
    _, hdrs = _both(rig, direct, fallback)
    assert _lane(hdrs) == "python"  # inside the cooldown window
    _wait_cooldown()
    _, hdrs = _both(rig, direct, fallback)
    assert _lane(hdrs) == "rust"


def test_stream_successes_match_stock_and_are_served_in_rust(rig):
    """A stream whose first attempt succeeds: stock LiteLLM's head and events are the same
    as without router settings (1.110.2: ``x-litellm-attempted-retries/fallbacks: 0``), so
    the front serves it; LiteLLM's timeout only bounds the wait for the head and each read."""
    _wait_cooldown()  # a previous case's window
    rng = random.Random(8765)
    for i in range(40):
        group = ("ok", "backup")[i % 2]
        upstream = "gpt-4o" if group == "backup" else "gpt-4o-mini"
        pieces = [_text(rng, rng.randint(0, 6)).replace("|", "").replace(";", "") for _ in range(rng.randint(1, 5))]
        first = rng.choice(["role", "text"])
        usage = (rng.randint(1, 10 ** rng.randint(1, 5)), rng.randint(1, 10 ** rng.randint(1, 4)))
        d = f"mock:model={upstream};pieces={'|'.join(pieces)};first={first};usage={usage[0]},{usage[1]}"
        if rng.random() < 0.3:
            d += ";finish=length"
        if rng.random() < 0.4:
            d += ";style=openai"
        body = {"model": group, "messages": [{"role": "user", "content": d}], "stream": True}
        if rng.random() < 0.6:
            body["stream_options"] = {"include_usage": rng.random() < 0.7}
        _, hdrs = _both(rig, body, group)
        assert _lane(hdrs) == "rust" and dict(hdrs)["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize("group, fallback", [("down500", "backup"), ("slow", "spare")])
def test_stream_failure_falls_back_as_stock(rig, group, fallback):
    """A stream whose primary answers 500, or sends no head within LiteLLM's timeout: nothing
    went out yet, so the front replays and LiteLLM streams the fallback's answer; the
    fallback group then stays on LiteLLM for the cooldown window."""
    _wait_cooldown()
    body = {"model": group, "messages": [{"role": "user", "content": "mock:model=gpt-4o;pieces=a|b"}], "stream": True,
            "stream_options": {"include_usage": True}}
    status, hdrs = _both(rig, body, group)
    assert status == 200 and _lane(hdrs) == "python"
    h = dict(hdrs)
    if "x-litellm-attempted-fallbacks" in h:
        assert h["x-litellm-attempted-fallbacks"] == "1"
    direct = dict(body, model=fallback)
    _, hdrs = _both(rig, direct, fallback)
    assert _lane(hdrs) == "python"  # inside the cooldown window


def test_stream_stalling_past_the_timeout_mid_way_ends_as_in_stock(rig):
    """After the first event went out no replay is possible: an upstream that then waits longer
    than LiteLLM's timeout (2 s here) between events gets the stream ended the way the stock
    proxy ends it (its error event, and on 1.110.x ``data: [DONE]``), counted, and the group goes
    to LiteLLM for the cooldown window."""
    _wait_cooldown()
    body = {"model": "ok", "messages": [{"role": "user", "content": "mock:model=gpt-4o-mini;pieces=a|b;gap=3"}],
            "stream": True}
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    s_status, s_hdrs, s_raw = _call(rig["stock"], "POST", "/v1/chat/completions", body, h)
    f_status, f_hdrs, f_raw = _call(rig["fast"], "POST", "/v1/chat/completions", body, h)
    assert f_status == s_status == 200 and _lane(f_hdrs) == "rust"
    assert b'"error"' in s_raw, s_raw[:600]
    if V110:
        # 1.110.2 sometimes lets one more late event through before its timeout fires (here it
        # passed the event that came 3 s after the first with a 2 s timeout, and timed out on
        # the next): the front ends at the first stall, with the same error event and [DONE].
        s_events, f_events = _norm_body(s_raw).split(b"\n\n"), _norm_body(f_raw).split(b"\n\n")
        assert f_events[-3:] == s_events[-3:] and f_events[:-3] == s_events[:len(f_events) - 3], (s_raw, f_raw)
    else:
        assert _norm_body(f_raw) == _norm_body(s_raw), (s_raw[:800], f_raw[:800])
    ids = rig["ids"]["ok"] if len(rig["ids"]["ok"]) > 1 else None
    assert _norm_headers(f_hdrs, ids) == _norm_headers(s_hdrs, ids)
    _s, _h, stats = _call(rig["fast"], "GET", "/_fast_litellm/stats", None, {"Authorization": f"Bearer {KEY}"})
    assert json.loads(stats)["aborted_by_reason"].get("upstream read timeout", 0) >= 1, stats[:500]
    _, hdrs = _both(rig, {"model": "ok", "messages": [{"role": "user", "content": "hi"}]}, "ok")
    assert _lane(hdrs) == "python"  # inside the cooldown window


def test_unrelated_group_stays_in_rust_during_a_cooldown(rig):
    _wait_cooldown()
    body = {"model": "down500", "messages": [{"role": "user", "content": "hi"}]}
    _both(rig, body, "down500")
    _, hdrs = _both(rig, {"model": "ok", "messages": [{"role": "user", "content": "hi"}]}, "ok")
    assert _lane(hdrs) == "rust"


def test_passed_request_with_a_failure_cools_every_group(rig):
    """A master-key request outside the envelope (here an extra field) that LiteLLM answered
    after a failure: the front does not know which deployments it touched, so every group
    goes to LiteLLM for the window."""
    _wait_cooldown()
    body = {"model": "down429", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}
    _both(rig, body, "down429")
    _, hdrs = _both(rig, {"model": "ok", "messages": [{"role": "user", "content": "hi"}]}, "ok")
    assert _lane(hdrs) == "python"
    _wait_cooldown()
    _, hdrs = _both(rig, {"model": "ok", "messages": [{"role": "user", "content": "hi"}]}, "ok")
    assert _lane(hdrs) == "rust"


def _cfg(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text("model_list:\n  - model_name: g\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
                 "      api_base: http://127.0.0.1:1/v1\n      api_key: k\n"
                 "  - model_name: h\n    litellm_params:\n      model: openai/gpt-4o\n"
                 "      api_base: http://127.0.0.1:1/v1\n      api_key: k\n"
                 "general_settings:\n  master_key: sk-1\n" + text)
    return str(p)


@pytest.mark.parametrize("extra, served", [
    ("router_settings:\n  fallbacks: [{g: [h]}]\n", True),
    ("router_settings:\n  context_window_fallbacks: [{g: [h]}]\n", True),
    ("router_settings:\n  content_policy_fallbacks: [{g: [h]}]\n", True),
    ("router_settings:\n  num_retries: 3\n", True),
    ("router_settings:\n  timeout: 10\n", True),
    ("router_settings:\n  allowed_fails: 2\n  cooldown_time: 30\n", True),
    ("router_settings:\n  routing_strategy: simple-shuffle\n", True),
    ("litellm_settings:\n  fallbacks: [{g: [h]}]\n  num_retries: 2\n  request_timeout: 5\n", True),
    ("litellm_settings:\n  context_window_fallbacks: [{g: [h]}]\n", True),
    ("router_settings:\n  routing_strategy: latency-based-routing\n", False),
    ("router_settings:\n  redis_host: localhost\n", False),
    ("router_settings:\n  fallbacks: {g: h}\n", False),
    ("router_settings:\n  timeout: fast\n", False),
    ("router_settings:\n  retry_policy: {}\n", False),
    ("litellm_settings:\n  default_fallbacks: [h]\n", False),
])
def test_router_envelope(tmp_path, extra, served):
    from fast_litellm.fastlane.launcher import analyse_config

    reason, _key, groups, _ = analyse_config(_cfg(tmp_path, extra), {})
    assert (reason is None and sorted(groups) == ["g", "h"]) is served, reason


def test_router_plan(tmp_path):
    from fast_litellm.fastlane.launcher import router_plan

    path = _cfg(tmp_path, "router_settings:\n  timeout: 10\n  fallbacks: [{g: [h]}, {h: [x]}, {x: [g]}]\n"
                          "litellm_settings:\n  request_timeout: 7\n")
    plan = router_plan(path, {"g": [], "h": []}, {})
    assert plan["timeout_ms"] == 7000 and plan["cooldown_ms"] == 6000  # LiteLLM's default 5 s + 1 s
    assert plan["links"] == {"g": ["g", "h", "x"], "h": ["g", "h", "x"]}
    plan = router_plan(_cfg(tmp_path, "router_settings:\n  cooldown_time: 30\n  fallbacks: [{'*': [h]}]\n"),
                       {"g": [], "h": []}, {})
    assert plan["timeout_ms"] == 6000 * 1000 and plan["cooldown_ms"] == 31000
    assert plan["links"] == {"g": ["g", "h"], "h": ["h"]}
    assert router_plan(_cfg(tmp_path, ""), {"g": []}, {"DEFAULT_COOLDOWN_TIME_SECONDS": "9"})["cooldown_ms"] == 10000


def test_doctor_lists_router_settings(tmp_path):
    from fast_litellm.fastlane.launcher import explain

    out = explain(_cfg(tmp_path, "router_settings:\n  num_retries: 2\n  fallbacks: [{g: [h]}]\n"), {})
    assert out["reason"] is None, out
    assert out["router"]["served_settings"] == ["router_settings.fallbacks", "router_settings.num_retries"]
