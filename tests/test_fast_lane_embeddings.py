"""`POST /v1/embeddings` (and `/embeddings`) through the fast lane vs the stock proxy.

Both pinned LiteLLM versions call the upstream's `/embeddings` for an `openai/` embedding
deployment with the client's `input`, `user`, `dimensions` and `encoding_format` and answer
with LiteLLM's `EmbeddingResponse` written by orjson (see crates/fastlane/src/embeddings.rs).
The upstream (tests/apps/embed_mock.py) answers as a pure function of the request it receives,
so equal answers also mean equal upstream requests. For a generated corpus (string, batch and
token-array inputs, float and base64, dimensions, user; vectors of every float magnitude) the
status, the body byte for byte and the headers (modulo timing) must equal stock's, the lane
header must say ``rust`` and the upstream must have seen exactly one call per client request.
Answers out of the verified shape and upstream errors are answered by LiteLLM from the answer
the front holds: same answer as stock, and no more upstream calls than stock made.

The corpus is sampled in CI; ``FAST_LITELLM_EMBED_CORPUS=2000`` runs a large one.
"""

from __future__ import annotations

import http.client
import json
import os
import random

import pytest

from test_fast_lane import KEY, _call, _lane, _norm_headers, _text  # noqa: E402
from test_fast_lane_router import stock_and_fast  # noqa: E402

pytest.importorskip("aiohttp")

CONFIG = """
model_list:
  - model_name: text-embedding-3-small
    litellm_params: {model: openai/text-embedding-3-small, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-upstream}
  - model_name: embed-alias
    litellm_params: {model: openai/text-embedding-3-small, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-env}
  - model_name: ada
    litellm_params: {model: openai/text-embedding-ada-002, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-upstream}
  - model_name: balanced
    litellm_params: {model: openai/text-embedding-3-large, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-a}
  - model_name: balanced
    litellm_params: {model: openai/text-embedding-3-large, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-b}
  - model_name: errors
    litellm_params: {model: openai/text-embedding-3-small, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-err}
  - model_name: declined
    litellm_params: {model: openai/text-embedding-3-small, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-d}
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""
SERVED = ("text-embedding-3-small", "embed-alias", "ada", "balanced")
CORPUS = int(os.environ.get("FAST_LITELLM_EMBED_CORPUS") or 48)


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    with stock_and_fast(tmp_path_factory.mktemp("fastlane_embeddings"), CONFIG, mock="tests/apps/embed_mock.py") as r:
        yield r


def _calls(rig) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", rig["mock"], timeout=30)
    conn.request("GET", "/_mock/calls")
    n = json.loads(conn.getresponse().read())["calls"]
    conn.close()
    return n


def _both(rig, body, group, path="/v1/embeddings", headers=None):
    """The same request to stock and to the fast lane: status, body and headers (modulo timing)
    equal; -> (fast headers, upstream calls of stock, upstream calls of the fast lane)."""
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **(headers or {})}
    n0 = _calls(rig)
    s_status, s_hdrs, s_raw = _call(rig["stock"], "POST", path, body, h)
    n1 = _calls(rig)
    f_status, f_hdrs, f_raw = _call(rig["fast"], "POST", path, body, h)
    n2 = _calls(rig)
    ids = rig["ids"].get(group) if len(rig["ids"].get(group, ())) > 1 else None
    assert f_status == s_status, (body, s_raw[:400], f_raw[:400])
    assert f_raw == s_raw, (body, s_raw[:3000], f_raw[:3000])
    assert _norm_headers(f_hdrs, ids) == _norm_headers(s_hdrs, ids), body
    return f_hdrs, n1 - n0, n2 - n1


def _directives(rng) -> str:
    """Vector shapes for the mock: float magnitudes from subnormal to huge, JSON ints, sizes."""
    d = []
    if rng.random() < 0.35:
        d.append("values=f64")
        if rng.random() < 0.5:
            d.append(f"scale={rng.choice([-320, -300, -30, -7, -6, -5, -4, -1, 0, 5, 15, 16, 17, 40, 300])}")
    elif rng.random() < 0.15:
        d.append("ints=1")
    if rng.random() < 0.3:
        d.append(f"dims={rng.choice([1, 2, 64, 300, 1536])}")
    if rng.random() < 0.1:
        d.append("model=some-other-name")
    if rng.random() < 0.1:
        p = rng.choice([0, 1, 7, 10 ** 9])
        d.append(f"usage={p},{p}")
    return "mock:" + ";".join(d) if d else _text(rng, rng.randint(0, 12))


def _input(rng):
    kind = rng.random()
    if kind < 0.4:
        return _directives(rng)
    if kind < 0.7:
        return [_directives(rng)] + [_text(rng, rng.randint(0, 10)) for _ in range(rng.randint(0, 4))]
    if kind < 0.85:
        return [rng.randint(0, 100_000) for _ in range(rng.randint(1, 8))]
    return [[rng.randint(0, 100_000) for _ in range(rng.randint(1, 5))] for _ in range(rng.randint(1, 4))]


def _corpus(seed, n):
    rng = random.Random(seed)
    for i in range(n):
        group = SERVED[i % len(SERVED)]
        body = {"model": group, "input": _input(rng)}
        if rng.random() < 0.6:
            body["encoding_format"] = rng.choice(["float", "base64"])
        if rng.random() < 0.3 and group != "ada":  # ada: LiteLLM refuses `dimensions` (a declined case)
            body["dimensions"] = rng.randint(1, 64)
        if rng.random() < 0.2:
            body["user"] = _text(rng, rng.randint(0, 8))
        if rng.random() < 0.5:
            body = dict(reversed(list(body.items())))
        yield group, body, rng.choice(["/v1/embeddings", "/embeddings"])


def test_embeddings_match_stock_and_are_served_in_rust(rig):
    for group, body, path in _corpus(1717, CORPUS):
        hdrs, stock_calls, fast_calls = _both(rig, body, group, path)
        assert _lane(hdrs) == "rust", (body, hdrs)
        assert stock_calls == fast_calls == 1, body


@pytest.mark.parametrize("directive", ["extra=1", "usage=none", "usage=5,7", "header=1", "status=400", "status=429",
                                       "status=500"])
def test_answers_out_of_shape_are_held_one_upstream_call(rig, directive):
    """LiteLLM answers from the upstream answer the front holds: stock's answer, stock's calls."""
    body = {"model": "errors", "input": [f"mock:{directive}", "x"], "encoding_format": "float"}
    hdrs, stock_calls, fast_calls = _both(rig, body, "errors")
    assert _lane(hdrs) == "python"
    assert fast_calls == stock_calls >= 1, (directive, stock_calls, fast_calls)


@pytest.mark.parametrize("body,path,headers", [
    ({"model": "declined", "input": "x", "encoding_format": None}, "/v1/embeddings", None),
    ({"model": "declined", "input": "x", "dimensions": None}, "/v1/embeddings", None),
    ({"model": "declined", "input": "x", "extra_body": {"a": 1}}, "/v1/embeddings", None),
    ({"model": "declined", "input": "x", "encoding_format": "base64", "user": 7}, "/v1/embeddings", None),
    ({"model": "declined", "input": "x"}, "/v1/embeddings?x=1", None),
    ({"model": "declined", "input": "x"}, "/v1/embeddings", {"x-litellm-tags": "a"}),
    ({"input": "x"}, "/engines/declined/embeddings", None),
    ({"model": "declined", "input": "x"}, "/openai/deployments/declined/embeddings", None),
    ({"model": "not-a-group", "input": "x"}, "/v1/embeddings", None),
    ({"model": "ada", "input": "x", "dimensions": 3}, "/v1/embeddings", None),
    ({"model": "declined", "input": []}, "/v1/embeddings", None),
    ({"model": "declined", "input": [[1], []]}, "/v1/embeddings", None),
])
def test_declined_requests_go_to_litellm_and_match_stock(rig, body, path, headers):
    hdrs, stock_calls, fast_calls = _both(rig, body, "declined", path, headers)
    assert _lane(hdrs) == "python"
    assert fast_calls == stock_calls


def test_chat_request_to_an_embedding_group_goes_to_litellm(rig):
    body = {"model": "declined", "messages": [{"role": "user", "content": "hi"}]}
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    s_status, _, s_raw = _call(rig["stock"], "POST", "/v1/chat/completions", body, h)
    f_status, f_hdrs, f_raw = _call(rig["fast"], "POST", "/v1/chat/completions", body, h)
    assert (f_status, _lane(f_hdrs)) == (s_status, "python")


def test_orjson_float_matches_orjson():
    """The front prints vector floats as orjson does (LiteLLM's embeddings route is an ORJSONResponse)."""
    import struct

    orjson = pytest.importorskip("orjson")
    native = pytest.importorskip("fast_litellm._native")
    rng = random.Random(11)
    values = [0.0, -0.0, 1.0, 1e-5, 1e-6, 1e15, 1e16, 5e-324, 1.7976931348623157e308, 1e23, 0.1, -9.412187e-09]
    values += [rng.uniform(-1, 1) * 10.0 ** rng.randint(-320, 300) for _ in range(20000)]
    values += [struct.unpack("<f", struct.pack("<f", rng.uniform(-1, 1) * 10.0 ** rng.randint(-40, 30)))[0]
               for _ in range(20000)]
    values += [float(rng.getrandbits(64)) * 2.0 ** rng.randint(-80, 40) for _ in range(5000)]
    for x in values:
        assert native.fastlane_orjson_float(x).encode() == orjson.dumps(x), x
