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
from test_fast_lane_router import stock_and_fast  # noqa: E402



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
                  "ollama", "lmstudio", "tgi", "localai"}
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
    raw = re.sub(rb'"(id|original_response_id)":"[^"]*"', rb'"\1":"<id>"', raw)
    raw = re.sub(rb'"created":\d+', b'"created":0', raw)
    # An error's text may carry LiteLLM's per-call timings and ids.
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
