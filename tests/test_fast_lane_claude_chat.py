"""`POST /v1/chat/completions` to `anthropic/` deployments through the fast lane vs the stock proxy.

LiteLLM translates the chat request to Anthropic's Messages API and the message back to a chat
completion; the front does the same in Rust (`crates/fastlane/src/claude_chat.rs`) for its
envelope. The upstream is `bench/proxy/mock_anthropic.py` (Anthropic's message and error
shapes, steered by `mock:` directives in the last message). Generated corpora, the same request to
stock and to the fast lane: status, body (ids masked), headers modulo timing, and what the
upstream received (path, auth/version headers, the body byte for byte), one upstream call each.
Requests outside the envelope go to LiteLLM before any upstream call; answers outside it (tool
use, thinking, cache tokens, empty text, error statuses) are answered by LiteLLM from the
upstream answer the front holds.

CI runs a sample; `FAST_LITELLM_CLAUDE_CHAT_CORPUS=500` runs the full corpus.
"""

from __future__ import annotations

import json
import os
import random

import pytest

from test_fast_lane import KEY, _call, _lane, _norm_headers, _text  # noqa: E402
# The /v1/messages tests' rig (mock, stock and fast proxies on its anthropic/ groups) and masks.
from test_fast_lane_anthropic import _norm, rig  # noqa: E402,F401

pytest.importorskip("aiohttp")

N = int(os.environ.get("FAST_LITELLM_CLAUDE_CHAT_CORPUS", "100"))

GROUPS = ("claude", "claude-pair")
# A group no error answer leaves on LiteLLM for its cooldown window.
OTHER = "claude-sonnet-4-5-20250929"
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


def _upstream_calls(rig, offset):
    """The upstream requests recorded after byte ``offset``: (headers that matter, path, exact body)."""
    with open(rig["record"]) as fh:
        fh.seek(offset)
        rows = [json.loads(line) for line in fh if line.strip()]
    keep = ("x-api-key", "anthropic-version", "anthropic-beta", "content-type", "authorization", "accept")
    return [({k.lower(): v for k, v in r["headers"].items() if k.lower() in keep}, r["path"], r["raw"]) for r in rows]


def _both(rig, body, headers=HEADERS):
    """The same chat request to stock and to the fast lane; everything but timing must match."""
    group = body.get("model")
    out = {}
    for side in ("stock", "fast"):
        offset = os.path.getsize(rig["record"])
        status, hdrs, raw = _call(rig[side], "POST", "/v1/chat/completions", body, headers)
        out[side] = (status, hdrs, raw, _upstream_calls(rig, offset))
    (s_status, s_hdrs, s_raw, s_up), (f_status, f_hdrs, f_raw, f_up) = out["stock"], out["fast"]
    ids = rig["ids"].get(group) if len(rig["ids"].get(group, ())) > 1 else None
    assert f_status == s_status, (body, s_raw[:600], f_raw[:600])
    s_norm, f_norm = _norm(s_raw), _norm(f_raw)
    at = next((i for i, (a, b) in enumerate(zip(s_norm, f_norm)) if a != b), min(len(s_norm), len(f_norm)))
    if f_norm != s_norm:
        print("BODY DIFF", json.dumps(body)[:2000], s_norm[max(0, at - 300):at + 300], f_norm[max(0, at - 300):at + 300], sep="\n")
    assert f_norm == s_norm, body
    assert _norm_headers(f_hdrs, ids) == _norm_headers(s_hdrs, ids), (body, s_hdrs, f_hdrs)
    if ids is None:
        assert f_up == s_up, (body, s_up, f_up)
    else:  # the pick may differ: each side's calls went to a deployment of the group
        assert [(p, b) for _h, p, b in f_up] == [(p, b) for _h, p, b in s_up], (body, s_up, f_up)
    return f_status, f_hdrs, f_raw


def _words(rng, n):
    """Generated text kept plain (a leading letter), with the awkward characters inside."""
    return "t" + _text(rng, n)


def _content(rng, text):
    if rng.random() < 0.6:
        return text
    parts = [{"type": "text", "text": _words(rng, rng.randint(1, 12))} for _ in range(rng.randint(0, 2))]
    return parts + [{"type": "text", "text": text}]


def _request(rng):
    """A chat request inside the envelope and whether the front answers it in Rust (the answer too)."""
    d = {}
    kinds = rng.choice([["text"]] * 6 + [["text", "text"], ["tool"], ["text", "tool"], ["thinking", "text"]])
    d["blocks"] = ",".join(kinds)
    if rng.random() < 0.5:
        d["text"] = _text(rng, rng.randint(0, 40)).replace(";", "")
    d["usage"] = f"{rng.randint(0, 10 ** rng.randint(1, 5))},{rng.randint(0, 10 ** rng.randint(1, 4))}"
    cached = rng.random() < 0.1
    if cached:
        d["cache"] = f"{rng.randint(0, 3000)},{rng.randint(1, 3000)}"
    if rng.random() < 0.25:
        d["stop"] = rng.choice(["max_tokens", "end_turn", "stop_sequence"])
        if d["stop"] == "stop_sequence" and rng.random() < 0.5:
            d["stop_sequence"] = "END"
    status = 200
    if rng.random() < 0.08:
        status = rng.choice([400, 401, 429, 529])
        d["status"] = str(status)
    directive = "mock:" + ";".join(f"{k}={v}" for k, v in d.items())
    messages = []
    for _ in range(rng.choice([0, 0, 1, 2])):
        messages.append({"role": "system", "content": _content(rng, _words(rng, rng.randint(1, 20)))})
    for _ in range(rng.choice([0, 0, 1, 2])):
        messages.append({"role": rng.choice(["user", "assistant"]), "content": _content(rng, _words(rng, rng.randint(1, 20)))})
    if messages and messages[-1]["role"] == "assistant" and rng.random() < 0.3:
        messages.append({"role": "assistant", "content": _words(rng, 5) + "."})  # merged with the one before
    messages.append({"role": "user", "content": _content(rng, directive)})
    # Error statuses go to a group of their own: after one, the front leaves the group to LiteLLM for
    # the cooldown window (LiteLLM may cool its deployments down).
    body = {"model": rng.choice(GROUPS) if status == 200 else "claude-errors", "messages": messages}
    limit = rng.random()
    if limit < 0.4:
        body["max_tokens"] = rng.choice([16, 256, 4096])
    elif limit < 0.7:
        body["max_completion_tokens"] = rng.choice([1, 100, 64000])
    if rng.random() < 0.3:
        body["temperature"] = rng.choice([0, 0.2, 0.7, 1, 1.0, 0.123456789])
    if rng.random() < 0.15:
        body["top_p"] = rng.choice([0.5, 0.9, 1])
    if rng.random() < 0.2:
        body["stop"] = rng.choice(["END", ["END"], ["a\u00e9", "Stop!"], "\u4e2d"])
    if rng.random() < 0.15:
        body["user"] = rng.choice(["user-12", "alice", "u_1.x"])
    if rng.random() < 0.15:
        body["stream"] = rng.choice([False, None])
    text = d.get("text", "This is a mock response from the local upstream.")
    rust = status == 200 and kinds in (["text"], ["text", "text"]) and not cached and text != ""
    return body, rust


def test_chat_completions_match_stock(rig):
    rng = random.Random(1901)
    served = 0
    for _ in range(N):
        body, rust = _request(rng)
        status, hdrs, raw = _both(rig, body)
        assert _lane(hdrs) == ("rust" if rust else "python"), (body, status, raw[:1000])
        served += rust
    assert served >= N // 3


def test_defaults_come_from_litellm(rig):
    # Before the requests outside the envelope: a failure LiteLLM answers for no group in particular
    # leaves every group on LiteLLM for the cooldown window.
    # No max_tokens: LiteLLM sends its model map's max output tokens; the front sends the same.
    body = {"model": "claude", "messages": [{"role": "user", "content": "hello"}]}
    _status, hdrs, _raw = _both(rig, body)
    assert _lane(hdrs) == "rust"


@pytest.mark.parametrize("case", [
    {"stream": True},
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
    {"n": 2},
    {"response_format": {"type": "json_object"}},
    {"reasoning_effort": "low"},
    {"thinking": {"type": "enabled", "budget_tokens": 1024}},
    {"temperature": 1.5},
    {"user": "someone@example.com"},
    {"stop": " "},
    {"max_tokens": 10, "max_completion_tokens": 20},
    {"messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "later"},
                  {"role": "user", "content": "again"}]},
    {"messages": [{"role": "system", "content": "x-anthropic-billing-header: cc_version=1"},
                  {"role": "user", "content": "hi"}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]},
    {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]},
    {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure, "}]},
    {"messages": [{"role": "user", "content": "hi", "name": "bob"}]},
])
def test_requests_outside_the_envelope_go_to_litellm(rig, case):
    body = {"model": OTHER, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    body.update(case)
    _status, hdrs, _raw = _both(rig, body)
    assert _lane(hdrs) == "python"


def test_chat_defaults_ask_litellm():
    from fast_litellm.fastlane import anthropic as anthropic_lane

    groups = {"c": [{"id": "d1", "upstream_model": "claude-sonnet-4-5-20250929"}]}
    infos = [{"model_info": {"id": "d1", "max_output_tokens": 64000}}]
    assert anthropic_lane.chat_defaults(groups, infos, dict(os.environ)) == {"d1": {"max_tokens": 64000, "sampling": True}}
    # A model_info of the deployment's own (another max_output_tokens): requests without max_tokens stay on LiteLLM.
    infos = [{"model_info": {"id": "d1", "max_output_tokens": 10}}]
    assert anthropic_lane.chat_defaults(groups, infos, dict(os.environ))["d1"]["max_tokens"] is None
