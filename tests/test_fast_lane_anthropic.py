"""`POST /v1/messages` to `anthropic/` deployments through the fast lane vs the stock proxy.

The upstream is `bench/proxy/mock_anthropic.py` (Anthropic's message, SSE event and error
shapes). Generated corpora, the same request to stock and to the fast lane: status, body
(ids and signatures masked), headers modulo timing, what the upstream received (headers
and JSON body), and the number of upstream calls must match. In the envelope the answer
comes from Rust (`x-fast-litellm-lane: rust`); outside it (thinking or cache tokens in a
non-streaming answer, error statuses, a stream's error event before its first content event)
LiteLLM answers from the upstream answer the front holds, so the upstream sees as many calls
as with stock.

CI runs a sample per route; `FAST_LITELLM_ANTHROPIC_CORPUS=500` runs the full corpora.
"""

from __future__ import annotations

import json
import os
import random
import re
import string

import pytest

from test_fast_lane import KEY, _call, _lane, _norm_body, _norm_headers, _text  # noqa: E402
from test_fast_lane_router import stock_and_fast  # noqa: E402

pytest.importorskip("aiohttp")

N = int(os.environ.get("FAST_LITELLM_ANTHROPIC_CORPUS", "60"))

CONFIG = """
model_list:
  - model_name: claude
    litellm_params: {model: anthropic/claude-sonnet-4-5-20250929, api_base: os.environ/MOCK_ROOT, api_key: sk-ant-mock}
  - model_name: claude-sonnet-4-5-20250929
    litellm_params: {model: anthropic/claude-sonnet-4-5-20250929, api_base: os.environ/MOCK_ROOT, api_key: sk-ant-mock}
  - model_name: claude-pair
    litellm_params: {model: anthropic/claude-sonnet-4-5-20250929, api_base: os.environ/MOCK_ROOT, api_key: sk-ant-a}
  - model_name: claude-pair
    litellm_params: {model: anthropic/claude-sonnet-4-5-20250929, api_base: os.environ/MOCK_ROOT, api_key: sk-ant-b}
  - model_name: claude-errors
    litellm_params: {model: anthropic/claude-sonnet-4-5-20250929, api_base: os.environ/MOCK_ROOT, api_key: sk-ant-mock}
  - model_name: gpt-4o-mini
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-upstream}
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""
GROUPS = ("claude", "claude-sonnet-4-5-20250929", "claude-pair")
UPSTREAM_MODEL = "claude-sonnet-4-5-20250929"


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fastlane_anthropic")
    record = tmp / "upstream.jsonl"
    record.write_text("")

    def mock_env(root):
        return {"MOCK_ROOT": root, "MOCK_RECORD": str(record)}

    with stock_and_fast(tmp, CONFIG, mock_env, mock="bench/proxy/mock_upstream.py") as r:
        r["record"] = record
        yield r


def _norm(raw: bytes) -> bytes:
    raw = _norm_body(raw)
    raw = re.sub(rb'"toolu_01[0-9a-f]+"', b'"<toolu>"', raw)
    return re.sub(rb'"signature":"EqQBCgIYAhIM[0-9a-f]+"', b'"signature":"<sig>"', raw)


def _upstream_calls(rig, offset):
    """The upstream requests recorded after byte ``offset``: (headers that matter, body)."""
    with open(rig["record"]) as fh:
        fh.seek(offset)
        rows = [json.loads(line) for line in fh if line.strip()]
    keep = ("x-api-key", "anthropic-version", "anthropic-beta", "content-type", "authorization")
    return [({k.lower(): v for k, v in r["headers"].items() if k.lower() in keep}, r["path"], r["body"]) for r in rows]


def _both(rig, body, headers):
    """The same request to stock and to the fast lane; everything but timing must match."""
    group = body.get("model")
    out = {}
    for side in ("stock", "fast"):
        offset = os.path.getsize(rig["record"])
        status, hdrs, raw = _call(rig[side], "POST", "/v1/messages", body, headers)
        out[side] = (status, hdrs, raw, _upstream_calls(rig, offset))
    (s_status, s_hdrs, s_raw, s_up), (f_status, f_hdrs, f_raw, f_up) = out["stock"], out["fast"]
    ids = rig["ids"].get(group) if len(rig["ids"].get(group, ())) > 1 else None
    assert f_status == s_status, (body, s_raw[:600], f_raw[:600])
    assert _norm(f_raw) == _norm(s_raw), (body, s_raw[:3000], f_raw[:3000])
    assert _norm_headers(f_hdrs, ids) == _norm_headers(s_hdrs, ids), (body, s_hdrs, f_hdrs)
    if ids is None:
        assert f_up == s_up, (body, s_up, f_up)
    else:  # the pick may differ: each side's calls went to a deployment of the group
        assert [(p, b) for _h, p, b in f_up] == [(p, b) for _h, p, b in s_up], body
    return f_status, f_hdrs, f_raw


def _content(rng, directive):
    if rng.random() < 0.5:
        return directive
    blocks = [{"type": "text", "text": _text(rng, rng.randint(1, 12))} for _ in range(rng.randint(0, 2))]
    return blocks + [{"type": "text", "text": directive}]


TOOLS = [{"name": "get_weather", "description": "The weather at a place",
          "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}},
         {"name": "noop", "input_schema": {"type": "object"}}]


def _plain(text):
    """Text the front forwards itself (LiteLLM drops whitespace-only text; symbols alone go to it too)."""
    return any(c.isalnum() or (c.isascii() and c in string.punctuation) for c in text)


def _texts(body):
    for m in body["messages"] + [{"content": body.get("system", "x")}]:
        c = m["content"]
        yield from ([c] if isinstance(c, str) else [b["text"] for b in c])


def _request(rng, stream):
    """A request, its headers, and whether the front answers it in Rust."""
    d = {}
    kinds = rng.choice([["text"], ["text"], ["tool"], ["text", "tool"], ["thinking", "text"], ["thinking", "text", "tool"]])
    d["blocks"] = ",".join(kinds)
    if rng.random() < 0.5:
        d["text"] = _text(rng, rng.randint(0, 40)).replace(";", "")
    d["usage"] = f"{rng.randint(0, 10 ** rng.randint(1, 5))},{rng.randint(0, 10 ** rng.randint(1, 4))}"
    cached = rng.random() < 0.2
    if cached:
        d["cache"] = f"{rng.randint(0, 3000)},{rng.randint(1, 3000)}"
    if rng.random() < 0.2:
        d["stop"] = rng.choice(["max_tokens", "end_turn", "stop_sequence"])
    status = 200
    if rng.random() < 0.12:
        status = rng.choice([400, 401, 429, 529])
        d["status"] = str(status)
    early_error = False
    if stream and rng.random() < 0.15:
        d["error_at"] = str(rng.randint(2, 6))
        # Events: message_start, content_block_start, (ping after a first text block), deltas. An
        # error before the first delta is retried by 1.110.2: the front holds that stream for LiteLLM.
        early_error = int(d["error_at"]) <= (3 if kinds[0] == "text" else 2)
    directive = "mock:" + ";".join(f"{k}={v}" for k, v in d.items())
    turns = []
    for _ in range(rng.choice([0, 0, 1])):
        turns += [{"role": "user", "content": _text(rng, rng.randint(1, 10))},
                  {"role": "assistant", "content": _text(rng, rng.randint(1, 10))}]
    # Error statuses (and streams LiteLLM retries) go to a group of their own: after one, the front
    # leaves the group to LiteLLM for the cooldown window (as LiteLLM may cool its deployments down).
    group = rng.choice(GROUPS) if status == 200 and not early_error else "claude-errors"
    body = {"model": group, "max_tokens": rng.choice([16, 256, 4096]),
            "messages": turns + [{"role": "user", "content": _content(rng, directive)}]}
    if stream:
        body["stream"] = True
    elif rng.random() < 0.2:
        body["stream"] = False
    if rng.random() < 0.3:
        body["system"] = rng.choice([_text(rng, 8), [{"type": "text", "text": _text(rng, 8)}]])
    if rng.random() < 0.3:
        body["temperature"] = rng.choice([0, 0.2, 0.7, 1])
    if rng.random() < 0.15:
        body["top_p"] = rng.choice([0.5, 0.9])
    if rng.random() < 0.15:
        body["top_k"] = rng.randint(1, 50)
    if rng.random() < 0.2:
        body["stop_sequences"] = [_text(rng, 3) for _ in range(rng.randint(1, 2))]
    if rng.random() < 0.2:
        body["metadata"] = {"user_id": "user-" + str(rng.randint(1, 99))}
    if rng.random() < 0.25:
        body["tools"] = TOOLS[: rng.randint(1, 2)]
        if rng.random() < 0.5:
            body["tool_choice"] = rng.choice([{"type": "auto"}, {"type": "any"}, {"type": "tool", "name": "get_weather"}])
    headers = {"Content-Type": "application/json"}
    if rng.random() < 0.3:
        headers["x-api-key"] = KEY
    else:
        headers["Authorization"] = f"Bearer {KEY}"
    if rng.random() < 0.5:
        headers["anthropic-version"] = "2023-06-01"
    if stream:
        rust = status == 200 and not early_error
    else:
        rust = status == 200 and "thinking" not in kinds and not cached
    if (status != 200 or early_error) and not all(_plain(t) for t in _texts(body)):
        # A request the front does not parse has no group: a failure LiteLLM answers after it leaves
        # every group to LiteLLM for the cooldown window. Keep those requests in the envelope.
        for m in body["messages"]:
            if isinstance(m["content"], str):
                m["content"] = m["content"] if m["content"].startswith("mock:") else "t" + m["content"]
            else:
                for b in m["content"]:
                    b["text"] = b["text"] if b["text"].startswith("mock:") else "t" + b["text"]
        if isinstance(body.get("system"), str):
            body["system"] = "t" + body["system"]
        elif "system" in body:
            body["system"][0]["text"] = "t" + body["system"][0]["text"]
    return body, headers, rust and all(_plain(t) for t in _texts(body))


def _corpus(rig, seed, stream):
    """N generated requests; returns how many the front answered in Rust."""
    rng = random.Random(seed)
    served = 0
    for _ in range(N):
        body, headers, rust = _request(rng, stream=stream)
        status, hdrs, raw = _both(rig, body, headers)
        assert _lane(hdrs) == ("rust" if rust else "python"), (body, status, raw[:1000])
        if rust and stream:
            assert raw.startswith(b"event: message_start\n"), raw[:200]
        served += rust
    return served


def test_messages_match_stock(rig):
    assert _corpus(rig, 1801, stream=False) >= N // 5


def test_message_streams_match_stock(rig):
    assert _corpus(rig, 1802, stream=True) >= N // 3


@pytest.mark.parametrize("case", [
    {"thinking": {"type": "enabled", "budget_tokens": 1024}},
    {"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x/y.png"}}]}]},
    {"max_tokens": None},
    {"temperature": 1.5},
    {"metadata": {"user_id": "u", "other": 1}},
    {"container": "c"},
])
def test_messages_outside_the_envelope_go_to_litellm(rig, case):
    body = {"model": "claude", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    body.update(case)
    body = {k: v for k, v in body.items() if v is not None}
    _status, hdrs, _raw = _both(rig, body, {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert _lane(hdrs) == "python"


def test_other_callers_and_headers_go_to_litellm(rig):
    # A group no error answer left on LiteLLM for its cooldown window.
    body = {"model": "claude-sonnet-4-5-20250929", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    for headers in ({"x-api-key": "sk-wrong"},
                    {"x-api-key": KEY, "Authorization": f"Bearer {KEY}"},
                    {"Authorization": f"Bearer {KEY}", "anthropic-version": "2024-01-01"},
                    # LiteLLM filters and maps beta flags per provider and version: not reproduced.
                    {"Authorization": f"Bearer {KEY}", "anthropic-beta": "prompt-caching-2024-07-31"},
                    {"Authorization": f"Bearer {KEY}", "anthropic-beta": "interleaved-thinking-2025-05-14"},
                    {"Authorization": f"Bearer {KEY}", "x-litellm-tags": "a"}):
        _status, hdrs, _raw = _both(rig, body, dict(headers, **{"Content-Type": "application/json"}))
        assert _lane(hdrs) == "python", headers


def test_chat_completions_to_an_anthropic_group(rig):
    # Translated in Rust (tests/test_fast_lane_claude_chat.py has the corpus and its lanes: here an
    # earlier error answer may keep the groups on LiteLLM for the cooldown window); streams go to LiteLLM.
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    for body in ({"model": "claude", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 32},
                 {"model": "claude", "messages": [{"role": "user", "content": "hi"}], "stream": True}):
        s_status, _s_hdrs, s_raw = _call(rig["stock"], "POST", "/v1/chat/completions", body, h)
        f_status, f_hdrs, f_raw = _call(rig["fast"], "POST", "/v1/chat/completions", body, h)
        assert f_status == s_status == 200
        if body.get("stream"):
            assert _lane(f_hdrs) == "python"
        else:
            assert _norm(f_raw) == _norm(s_raw)


def test_anthropic_groups_are_taken_out_of_the_chat_groups():
    from fast_litellm.fastlane import anthropic as anthropic_lane

    def dep(model, base="http://127.0.0.1:1"):
        return {"_raw": {}, "model": model, "upstream_model": model.split("/", 1)[1], "api_base": base, "api_key": "k"}

    groups = {"gpt": [dep("openai/gpt-4o-mini")], "claude": [dep("anthropic/claude-x")],
              "mixed": [dep("openai/gpt-4o-mini"), dep("anthropic/claude-x")],
              "full-url": [dep("anthropic/claude-x", "http://127.0.0.1:1/v1/messages")]}
    declined = {}
    taken = anthropic_lane.take(groups, declined)
    assert list(groups) == ["gpt"] and list(taken) == ["claude"] and set(declined) == {"mixed", "full-url"}
    assert taken["claude"][0]["upstream_model"] == "claude-x"
    info = {"key": "claude-x", "mode": "chat", "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
            "input_cost_per_token_above_200k_tokens": 6e-06, "cache_creation_input_token_cost_above_1hr": 6e-06}
    assert anthropic_lane.price(info, "claude-x") == (3e-06, 1.5e-05)
    assert anthropic_lane.price(dict(info, input_cost_per_token_above_128k_tokens=1e-06), "claude-x") is None
    assert anthropic_lane.price(info, "claude-y") is None
