"""The fast lane against non-streaming upstream answers as real servers send them.

A mock upstream (``tests/mock_answer_variants.py``) answers chat completions the way
OpenAI (current and earlier shapes, tool calls, refusals, logprobs, detailed usage, its
response headers), Azure OpenAI (content-filter results), vLLM, SGLang, llama.cpp, Ollama,
LM Studio, TGI and LocalAI do, plus error statuses, and counts the calls each request
causes. For every shape the same request goes through the stock proxy and through
``fast-litellm proxy``:

* the upstream saw as many calls for the fast lane's request as for stock's -- one for every
  2xx answer; on an error stock itself may retry (another deployment of the group, 429, 5xx)
  and so does LiteLLM behind the front: an answer the front does not reproduce is handed to
  LiteLLM with the request, never fetched a second time;
* status, body (ids/created masked) and headers (timings, call id, date masked) equal stock's;
* the lane is the one ``EXPECTED`` lists: ``rust`` (served in Rust) or ``python`` (LiteLLM
  built the answer from the upstream answer the front held).

The served/LiteLLM-built split per shape is printed at the end (``-s`` shows it).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")
native = pytest.importorskip("fast_litellm._native")
if not hasattr(native, "fastlane_serve"):
    pytest.skip("native module built without the fast lane", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent))
import mock_answer_variants as mv  # noqa: E402
from test_fast_lane import KEY, _call, _lane, _norm_headers  # noqa: E402
from test_fast_lane_router import V110, stock_and_fast  # noqa: E402



def _deployment(group: str, key: str) -> str:
    return f"""  - model_name: {group}
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: os.environ/MOCK_API_BASE
      api_key: {key}
"""


# A group of one deployment and a group of two for the answers; for each error its own two such
# groups, so LiteLLM's cooldown after one error (and the front's, which follows it) leaves the
# other cases alone.
GROUPS = {"one": ["sk-mock-upstream"], "pair": ["sk-mock-a", "sk-mock-b"]}
for _e in mv.ERRORS:
    GROUPS[f"{_e}-one"] = [f"sk-{_e}"]
    GROUPS[f"{_e}-pair"] = [f"sk-{_e}-a", f"sk-{_e}-b"]
CONFIG = ("model_list:\n" + "".join(_deployment(g, k) for g, keys in GROUPS.items() for k in keys)
          + "\ngeneral_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n")

# Which lane answers each shape (both verified LiteLLM versions); every other shape: python.
SERVED_IN_RUST = {"envelope", "openai", "openai_2024", "openai_length", "openai_flex", "openai+headers",
                  "openai+headers_full", "openai_2023", "vllm", "vllm_new", "vllm+headers_full", "sglang", "llamacpp",
                  "ollama", "lmstudio", "tgi", "localai", "openai_tools", "openai_tools_parallel", "openai_tools_text",
                  "openai_tools_2024", "openai_refusal", "openai_logprobs", "openai_logprobs_top", "azure",
                  "openai_cached"}
# A dated snapshot priced as the model itself: served where the launcher finds the two map entries
# alike (1.110.x); 1.83.x's proxy map differs for it in a way not yet looked into: LiteLLM answers.
if V110:
    SERVED_IN_RUST.add("openai_dated")
CASES = ([(v, None) for v in mv.VARIANTS] + [(e, None) for e in mv.ERRORS] + [("openai", "openai")]
         + [("openai", "openai_full"), ("vllm", "openai_full")])


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    with stock_and_fast(tmp_path_factory.mktemp("fastlane_answers"), CONFIG, mock="tests/mock_answer_variants.py") as r:
        r["nonce"] = 0
        r["lanes"] = {}
        yield r
        split = {}
        for case, lane in r["lanes"].items():
            split.setdefault(lane, []).append(case)
        print("\nfast lane, non-streaming upstream shapes: " + json.dumps(split, sort_keys=True))


def _norm(raw: bytes) -> bytes:
    # Answer and call ids are made per call; tool-call ids come from the upstream and must match.
    raw = re.sub(rb'"(id|original_response_id)":"(?!call_)[^"]*"', rb'"\1":"<id>"', raw)
    raw = re.sub(rb'"created":\d+', b'"created":0', raw)
    # An error's text may carry LiteLLM's per-call timings and ids (an answer's floats must match).
    if raw.startswith(b'{"error"'):
        raw = re.sub(rb"\d+\.\d+", b"<n>", raw)
    return re.sub(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", b"<uuid>", raw)


def _upstream_calls(rig, nonce: str) -> int:
    _, _, body = _call(rig["mock"], "GET", f"/count?nonce={nonce}", None, {})
    return json.loads(body)["count"]


def _one(rig, group: str, variant: str, headers_style):
    results = {}
    for side in ("stock", "fast"):
        rig["nonce"] += 1
        nonce = f"{side}-{rig['nonce']}"
        directive = f"mock:variant={variant};nonce={nonce}" + (f";headers={headers_style}" if headers_style else "")
        body = {"model": group, "messages": [{"role": "user", "content": directive}]}
        h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        status, hdrs, raw = _call(rig[side], "POST", "/v1/chat/completions", body, h)
        results[side] = (status, hdrs, raw, _upstream_calls(rig, nonce))
    return results


@pytest.mark.parametrize("size", ["one", "pair"])
@pytest.mark.parametrize("variant,headers_style", CASES, ids=[c + ("+" + h if h else "") for c, h in CASES])
def test_one_upstream_call_and_stock_answer(rig, size, variant, headers_style):
    group = f"{variant}-{size}" if variant in mv.ERRORS else size
    r = _one(rig, group, variant, headers_style)
    (s_status, s_hdrs, s_raw, s_calls), (f_status, f_hdrs, f_raw, f_calls) = r["stock"], r["fast"]
    assert f_calls == s_calls, (variant, s_calls, f_calls)
    if not variant.startswith("error_"):
        assert f_calls == 1, (variant, f_calls)  # on errors LiteLLM may retry (other deployment, 429, 5xx)
    assert f_status == s_status, (variant, s_raw[:400], f_raw[:400])
    assert _norm(f_raw) == _norm(s_raw), (variant, s_raw[:800], f_raw[:800])
    ids = rig["ids"][group] if len(rig["ids"][group]) > 1 else None
    if not variant.startswith("error_"):
        # Error answers carry LiteLLM's per-call timeout/retry figures in headers too.
        assert _norm_headers(f_hdrs, ids) == _norm_headers(s_hdrs, ids), variant
    case = variant + {None: "", "openai": "+headers", "openai_full": "+headers_full"}[headers_style]
    lane = _lane(f_hdrs)
    rig["lanes"][f"{case}@{group}"] = lane
    assert lane == ("rust" if case in SERVED_IN_RUST else "python"), (case, lane)


def test_stats_count_held_answers_not_replays(rig):
    """After the corpus: the front counted the answers it handed to LiteLLM as held, none as replayed
    (an error's group may then go to LiteLLM for its cooldown window: passed, not held)."""
    _, _, raw = _call(rig["fast"], "GET", "/_fast_litellm/stats", None, {"Authorization": f"Bearer {KEY}"})
    stats = json.loads(raw)
    python = sum(1 for case, lane in rig["lanes"].items() if lane == "python" and not case.startswith("error_"))
    assert stats["replayed"] == 0, stats
    assert python <= stats["held"] <= python + 2 * len(mv.ERRORS), (stats, python)


def test_client_cannot_set_the_held_marker(rig):
    """A client's ``x-fast-litellm-held`` header (any value) is stripped: LiteLLM sees its request as sent."""
    body = {"model": "one", "messages": [{"role": "user", "content": "mock:variant=openai;nonce=marker"}]}
    wrapped = json.dumps({"request_len": 0, "status": 200, "response_headers": [], "upstream_url": "x",
                          "api_base": "x", "model_id": "x", "pin": False}).encode() + b"\n" + json.dumps(body).encode()
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", "x-fast-litellm-held": "guess"}
    status, hdrs, raw = _call(rig["fast"], "POST", "/v1/chat/completions", wrapped, h)
    assert _lane(hdrs) == "python"
    assert status == 400, raw[:300]  # the wrapped body is not JSON to LiteLLM
    status, hdrs, raw = _call(rig["fast"], "POST", "/v1/chat/completions", json.dumps(body).encode(), h)
    assert status == 200 and _lane(hdrs) == "python", raw[:300]
    assert _upstream_calls(rig, "marker") == 1


# Request parameters that make an upstream answer with tool calls or logprobs, and which lane
# serves such a request today: the front's request envelope declines them (LiteLLM answers, one
# upstream call), so the answers above reach the front only from upstreams that send them unasked.
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city.",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]
REQUEST_PARAMS = {
    "tools": ({"tools": TOOLS}, "openai_tools"),
    "tool_choice": ({"tools": TOOLS, "tool_choice": "required", "parallel_tool_calls": False}, "openai_tools"),
    "logprobs": ({"logprobs": True, "top_logprobs": 2}, "openai_logprobs_top"),
}
ADMITTED_PARAMS: set = set()


@pytest.mark.parametrize("params", sorted(REQUEST_PARAMS))
def test_tool_and_logprobs_requests(rig, params):
    """The upstream gets the same request from both proxies (as JSON, key order aside: the OpenAI client
    lays it out itself), once; the client the same answer."""
    extra, variant = REQUEST_PARAMS[params]
    out = {}
    for side in ("stock", "fast"):
        rig["nonce"] += 1
        nonce = f"{side}-{rig['nonce']}"
        body = dict({"model": "one", "messages": [{"role": "user", "content": f"mock:variant={variant};nonce={nonce}"}]},
                    **extra)
        h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        status, hdrs, raw = _call(rig[side], "POST", "/v1/chat/completions", body, h)
        _, _, sent = _call(rig["mock"], "GET", f"/request?nonce={nonce}", None, {})
        out[side] = (status, hdrs, raw, json.loads(sent.replace(nonce.encode(), b"<nonce>")), _upstream_calls(rig, nonce))
    (s_status, s_hdrs, s_raw, s_sent, s_calls), (f_status, f_hdrs, f_raw, f_sent, f_calls) = out["stock"], out["fast"]
    assert s_calls == f_calls == 1
    assert f_sent == s_sent, (s_sent, f_sent)
    assert (f_status, _norm(f_raw)) == (s_status, _norm(s_raw)), (s_raw[:800], f_raw[:800])
    assert _norm_headers(f_hdrs, None) == _norm_headers(s_hdrs, None)
    assert _lane(f_hdrs) == ("rust" if params in ADMITTED_PARAMS else "python")


def test_answer_pricing_from_model_info():
    """The launcher's per-deployment rates for cached/reasoning tokens and service tiers (no rig)."""
    from fast_litellm.fastlane import answer_pricing

    info = {"id": "d1", "input_cost_per_token": 1.5e-07, "cache_read_input_token_cost": 7.5e-08,
            "input_cost_per_token_priority": 2.5e-07, "input_cost_per_token_flex": None}
    assert answer_pricing.pricing(info) == {"cache_read": 7.5e-08, "reasoning": None, "standard_tiers": ["flex"]}
    infos = [{"model_info": info}, {"model_info": {"id": "d2", "output_cost_per_reasoning_token": 1e-06}}]
    groups = {"g": [{"id": "d1"}, {"id": "d2", "provider": {"azure": {}}}, {"id": "d3"}]}
    cost_map = {"m": {"litellm_provider": "openai", "input_cost_per_token": 1.0, "output_cost_per_token": 2.0},
                "m-2024-07-18": {"litellm_provider": "openai", "input_cost_per_token": 1.0, "output_cost_per_token": 2.0},
                "m-2024-05-13": {"litellm_provider": "openai", "input_cost_per_token": 3.0, "output_cost_per_token": 2.0},
                "m-mini-2024-07-18": {"litellm_provider": "openai", "input_cost_per_token": 1.0, "output_cost_per_token": 2.0},
                "azure/m-2024-07-18": {"litellm_provider": "azure", "input_cost_per_token": 1.0, "output_cost_per_token": 2.0}}
    assert answer_pricing.dated(cost_map, "m") == ["m-2024-07-18"]
    assert answer_pricing.dated(cost_map, "other") == []
    groups["g"][0]["upstream_model"] = "m"
    assert answer_pricing.plan(groups, infos, cost_map=cost_map) == {
        "d1": dict(answer_pricing.pricing(info), dated=["m-2024-07-18"])}
