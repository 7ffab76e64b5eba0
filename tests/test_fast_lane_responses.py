"""`POST /v1/responses` (non-streaming and SSE) through the fast lane vs the stock proxy.

Both pinned LiteLLM versions call the upstream's `/responses` for an `openai/` deployment
and re-serialise its answer with every field of their `ResponsesAPIResponse`, replacing the
upstream's id with LiteLLM's managed, encrypted id (NaCl secretbox under sha256(master key)
of "litellm_proxy:responses_api:response_id:<resp_ + base64(provider, model id, upstream
id)>;user_id:default_user_id;team_id:"). The front does the same: bodies must match stock
byte for byte once ids/timestamps are masked, headers modulo timing, and the front's id must
decrypt (with LiteLLM's own helper) to the same structure, naming the deployment that answered.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re

import pytest

from test_fast_lane import KEY, _call, _lane, _norm_body, _norm_headers, _text  # noqa: E402
from test_fast_lane_router import stock_and_fast  # noqa: E402

nacl_secret = pytest.importorskip("nacl.secret")
pytest.importorskip("aiohttp")

CONFIG = """
model_list:
  - model_name: gpt-4o-mini
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-upstream}
  - model_name: team-alias
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-env}
  - model_name: balanced
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-a}
  - model_name: balanced
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-b}
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-upstream}
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""
GROUPS = ("gpt-4o-mini", "team-alias", "balanced", "gpt-4o")


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    with stock_and_fast(tmp_path_factory.mktemp("fastlane_responses"), CONFIG, drop=("LITELLM_SALT_KEY",)) as r:
        yield r


def _decrypt(resp_id: str) -> tuple:
    """LiteLLM's managed id -> (provider, model id, upstream id, user part)."""
    assert resp_id.startswith("resp_")
    box = nacl_secret.SecretBox(hashlib.sha256(KEY.encode()).digest())
    plain = box.decrypt(base64.urlsafe_b64decode(resp_id[5:])).decode()
    m = re.fullmatch(r"litellm_proxy:responses_api:response_id:resp_([A-Za-z0-9+/=]+);(user_id:.*;team_id:.*)", plain)
    assert m, plain
    inner = base64.b64decode(m.group(1)).decode()
    m2 = re.fullmatch(r"litellm:custom_llm_provider:(\w+);model_id:(\w+);response_id:(resp_\w+)", inner)
    assert m2, inner
    return m2.group(1), m2.group(2), m2.group(3), m.group(2)


def _litellm_version():
    from importlib.metadata import version

    return version("litellm")


# Non-streaming /v1/responses is served on both versions; streams only on 1.110.x.
STREAMS_SERVED = _litellm_version().startswith("1.110")


def _norm_stream(raw: bytes) -> bytes:
    raw = _norm_body(raw)
    raw = re.sub(rb'"(id|item_id)":"(msg|rs)_[0-9a-f]+"', rb'"\1":"<item>"', raw)
    return re.sub(rb'"obfuscation":"[0-9a-f]*"', b'"obfuscation":"<pad>"', raw)


def _both(rig, body, group, norm=_norm_body, headers=True):
    """The same request to stock and to the fast lane; status, body (``norm``-masked) and
    headers (modulo timing) must match."""
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    s_status, s_hdrs, s_raw = _call(rig["stock"], "POST", "/v1/responses", body, h)
    f_status, f_hdrs, f_raw = _call(rig["fast"], "POST", "/v1/responses", body, h)
    ids = rig["ids"].get(group) if len(rig["ids"].get(group, ())) > 1 else None
    assert f_status == s_status, (body, s_raw[:400], f_raw[:400])
    assert norm(f_raw) == norm(s_raw), (body, s_raw[:3000], f_raw[:3000])
    if headers:
        assert _norm_headers(f_hdrs, ids) == _norm_headers(s_hdrs, ids), body
    return s_status, s_raw, f_hdrs, f_raw


def test_responses_match_stock_and_are_served_in_rust(rig):
    rng = random.Random(2024)
    for i in range(80):
        group = GROUPS[i % len(GROUPS)]
        upstream = "gpt-4o" if group == "gpt-4o" else "gpt-4o-mini"
        usage = rng.choice([(0, 0), (12, 10)] + [(rng.randint(0, 10 ** rng.randint(1, 7)),
                                                   rng.randint(0, 10 ** rng.randint(1, 6))) for _ in range(3)])
        d = f"mock:model={upstream};usage={usage[0]},{usage[1]}"
        if rng.random() < 0.6:
            d += ";content=" + _text(rng, rng.randint(0, 30)).replace(";", "")
        if rng.random() < 0.5:
            inp = d
        else:
            inp = [{"role": rng.choice(["system", "user", "assistant"]), "content": _text(rng, rng.randint(0, 20))}
                   for _ in range(rng.randint(0, 2))] + [{"role": "user", "content": d}]
        body = {"model": group, "input": inp}
        if rng.random() < 0.3:
            body["stream"] = rng.choice([False, None])  # non-streaming for LiteLLM too (the load rig sends false)
        status, s_raw, hdrs, f_raw = _both(rig, body, group)
        assert status == 200 and _lane(hdrs) == "rust", (status, hdrs)
        s_id, f_id = json.loads(s_raw)["id"], json.loads(f_raw)["id"]
        s_dec, f_dec = _decrypt(s_id), _decrypt(f_id)
        assert f_dec[0] == s_dec[0] == "openai" and f_dec[3] == s_dec[3]
        assert f_dec[1] == dict(hdrs)["x-litellm-model-id"] and f_dec[1] in rig["ids"][group]
        assert f_dec[2] != s_dec[2]  # each answer's own upstream id


def _stream_ids(raw: bytes) -> set:
    return set(re.findall(r'"id":"(resp_[A-Za-z0-9_=-]+)"', raw.decode()))


def test_response_streams_match_stock_and_are_served_in_rust(rig):
    """OpenAI's text stream (created, in_progress, item/part added, deltas, text/part/item
    done, completed) and the minimal one (created, deltas, completed), with random texts,
    usages and optional fields, event for event as the stock proxy prints them."""
    rng = random.Random(77)
    for i in range(40):
        group = GROUPS[i % len(GROUPS)]
        upstream = "gpt-4o" if group == "gpt-4o" else "gpt-4o-mini"
        pieces = [_text(rng, rng.randint(0, 6)).replace(";", "").replace("|", "") for _ in range(rng.randint(1, 12))]
        d = f"mock:model={upstream};usage={rng.randint(1, 10 ** rng.randint(1, 7))},{rng.randint(0, 10 ** rng.randint(1, 6))}"
        d += ";pieces=" + "|".join(pieces)
        if rng.random() < 0.25:
            d += ";events=mini"
        for flag in ("obfuscation", "tier", "int_temp"):
            if rng.random() < 0.3:
                d += f";{flag}=1"
        inp = d if rng.random() < 0.5 else [{"role": "user", "content": d}]
        body = {"model": group, "input": inp, "stream": True}
        status, s_raw, hdrs, f_raw = _both(rig, body, group, norm=_norm_stream, headers=STREAMS_SERVED)
        # Runs before the declined cases: their upstream errors put the deployment on LiteLLM for a while.
        assert status == 200 and _lane(hdrs) == ("rust" if STREAMS_SERVED else "python"), (status, hdrs)
        s_ids, f_ids = _stream_ids(s_raw), _stream_ids(f_raw)
        assert len(s_ids) == len(f_ids) == 1  # one managed id for the whole stream
        s_dec, f_dec = _decrypt(s_ids.pop()), _decrypt(f_ids.pop())
        assert f_dec[0] == s_dec[0] == "openai" and f_dec[3] == s_dec[3]
        assert f_dec[1] == dict(hdrs)["x-litellm-model-id"] and f_dec[1] in rig["ids"][group]


@pytest.mark.parametrize("case", ["instructions", "status=500", "status=400", "annotations=1",
                                  "model=gpt-4o-mini-2024-07-18", "tool_role", "unknown_model"])
def test_declined_responses_go_to_litellm(rig, case):
    body = {"model": "gpt-4o-mini", "input": "hi"}
    if case == "instructions":
        body["instructions"] = "be brief"
    elif case == "tool_role":
        body["input"] = [{"role": "tool", "content": "x"}]
    elif case == "unknown_model":
        body["model"] = "nope"
    else:
        body["input"] = "mock:" + case
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    s_status, s_hdrs, s_raw = _call(rig["stock"], "POST", "/v1/responses", body, h)
    f_status, f_hdrs, f_raw = _call(rig["fast"], "POST", "/v1/responses", body, h)
    assert f_status == s_status and _lane(f_hdrs) == "python"
    if case in ("status=500",):
        return  # LiteLLM's retry timings are in the error text
    assert _norm_body(f_raw) == _norm_body(s_raw)


@pytest.mark.parametrize("case", ["reasoning=1", "tools=1", "status=500", "status=429"])
def test_response_streams_out_of_shape_go_to_litellm_before_a_byte(rig, case):
    """A reasoning item before the text, a tool in the response or an upstream error: the
    front sees it before sending anything, and LiteLLM answers."""
    # team-alias: the declined cases above left gpt-4o-mini's deployment on LiteLLM for a while.
    body = {"model": "team-alias", "input": f"mock:pieces=a|b;{case}", "stream": True}
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

    def replays():
        raw = _call(rig["fast"], "GET", "/_fast_litellm/stats", None, {"Authorization": f"Bearer {KEY}"})[2]
        return sum(json.loads(raw)["stream_replayed_by_reason"].values())

    before = replays()
    s_status, s_hdrs, s_raw = _call(rig["stock"], "POST", "/v1/responses", body, h)
    f_status, f_hdrs, f_raw = _call(rig["fast"], "POST", "/v1/responses", body, h)
    assert f_status == s_status and _lane(f_hdrs) == "python"
    if case.startswith("status="):
        return  # LiteLLM's retry timings are in the error text; the deployment may now be on LiteLLM
    if STREAMS_SERVED:
        assert replays() == before + 1  # tried in Rust, refused before the first byte
    assert _norm_stream(f_raw) == _norm_stream(s_raw)
