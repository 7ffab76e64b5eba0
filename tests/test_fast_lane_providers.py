"""The fast lane on providers beyond ``openai/``: ``azure/`` and ``hosted_vllm/`` deployments, stock vs fast.

One mock upstream (``tests/mock_providers.py``) serves OpenAI's and Azure OpenAI's routes and
records every call. For each case the same request goes through the stock proxy and through
``fast-litellm proxy`` (both on the same config) and:

* the upstream saw one call per client request (as many as stock's on an error), and the
  call the front made is the one LiteLLM makes: path, ``api-version`` query, auth headers
  (``api-key``; 1.83.x also a Bearer ``authorization``), body;
* status, body (ids/created masked) and headers (timings, call id, date masked) equal stock's;
* the lane is ``rust`` where the front reproduces LiteLLM (non-streaming answers in the
  verified shapes, Azure's content-filter annotations included; streams in Azure's and vLLM's
  own shapes) and ``python`` elsewhere (answers out of shape are handed to LiteLLM with the
  upstream answer the front holds; streams out of shape from their first event are replayed).

Streams are generated (``mock_providers.stream_chunks``: Azure's prompt-filter chunk and filter
results per chunk, vLLM's ``stop_reason`` and reasoning deltas; text lengths, empty pieces, stop
reasons, usage chunks) and compared event by event, with and without ``include_usage``.

The generated Azure filter annotations and streams are sampled (``AZURE_CORPUS``, ``STREAM_SEEDS``);
``FAST_LITELLM_PROVIDER_CORPUS=full`` runs all of them.
"""

from __future__ import annotations

import json
import os
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
import mock_providers  # noqa: E402
from test_fast_lane import KEY, _call, _lane, _norm_headers  # noqa: E402
from test_fast_lane_answers import _norm  # noqa: E402
from test_fast_lane_router import stock_and_fast  # noqa: E402

API_VERSION = "2024-10-21"
CONFIG = f"""
model_list:
  - model_name: az
    litellm_params: {{model: azure/gpt-4o-mini, api_base: os.environ/MOCK_ROOT, api_key: sk-azure, api_version: "{API_VERSION}"}}
  - model_name: az-default-version
    litellm_params: {{model: azure/gpt-4o-mini, api_base: os.environ/MOCK_ROOT, api_key: sk-azure-2}}
  - model_name: az-pair
    litellm_params: {{model: azure/gpt-4o-mini, api_base: os.environ/MOCK_ROOT, api_key: sk-azure-a, api_version: "{API_VERSION}"}}
  - model_name: az-pair
    litellm_params: {{model: azure/gpt-4o-mini, api_base: os.environ/MOCK_ROOT, api_key: sk-azure-b, api_version: "2025-01-01-preview"}}
  - model_name: az-err
    litellm_params: {{model: azure/gpt-4o-mini, api_base: os.environ/MOCK_ROOT, api_key: sk-azure-e, api_version: "{API_VERSION}"}}
  - model_name: az-token
    litellm_params: {{model: azure/gpt-4o-mini, api_base: os.environ/MOCK_ROOT, api_key: sk-azure, azure_ad_token: abc}}
  - model_name: vllm
    litellm_params: {{model: hosted_vllm/gpt-4o-mini, api_base: os.environ/MOCK_API_BASE, api_key: sk-vllm}}
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""

FULL = os.environ.get("FAST_LITELLM_PROVIDER_CORPUS") == "full"
AZURE_CORPUS = list(range(60)) if FULL else [0, 1, 2, 3, 7, 11]
# Shapes the front serves for an Azure deployment (the others: LiteLLM answers from the held answer).
SERVED = {"envelope", "openai", "openai_2024", "openai_length", "openai_flex", "azure", "azure_gen"}
# ... and for a hosted_vllm deployment (vLLM's own 0.6+ shape included).
SERVED_VLLM = {"envelope", "openai", "openai_2024", "openai_length", "openai_flex", "vllm"}
# The whole answer corpus on one Azure group; a sample on the others (all with the env var).
SAMPLE = mv.VARIANTS if FULL else ("envelope", "openai", "azure", "openai_tools", "vllm")
ANSWERS = [("az", v, None) for v in mv.VARIANTS]
ANSWERS += [(g, v, None) for g in ("az-default-version", "az-pair") for v in SAMPLE]
ANSWERS += [(g, "azure_gen", s) for g in ("az", "az-pair") for s in AZURE_CORPUS]
ANSWERS += [("vllm", v, None) for v in mv.VARIANTS]
ERRORS = [("az-err", e, None) for e in ("error_400", "error_401", "error_429")]
STREAMS = [("az", v) for v in ("openai", "plain", "vllm")] + [("vllm", "vllm")]
STREAM_SEEDS = list(range(80)) if FULL else list(range(8))
GENERATED_STREAMS = [(g, v, s) for g, v in (("az", "azure_stream"), ("az-pair", "azure_stream"),
                                               ("vllm", "vllm_stream")) for s in STREAM_SEEDS]


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    with stock_and_fast(tmp_path_factory.mktemp("fastlane_providers"), CONFIG,
                        mock_env=lambda root: {"MOCK_ROOT": root}, drop=("AZURE_API_VERSION", "AZURE_AD_TOKEN"),
                        mock="tests/mock_providers.py") as r:
        r["nonce"] = 0
        yield r


def _seen(rig, nonce):
    _, _, body = _call(rig["mock"], "GET", f"/seen?nonce={nonce}", None, {})
    return json.loads(body)


def _both(rig, group, directive, extra=None, history=()):
    """The same request (``history`` messages before the directive) to stock and to the front:
    {side: (status, headers, body, the upstream calls it made)}."""
    out = {}
    for side in ("stock", "fast"):
        rig["nonce"] += 1
        nonce = f"{side}-{rig['nonce']}"
        body = {"model": group, "messages": [{"role": "system", "content": "Be brief."}, *history,
                                             {"role": "user", "content": f"mock:{directive};nonce={nonce}"}]}
        body.update(extra or {})
        h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        status, hdrs, raw = _call(rig[side], "POST", "/v1/chat/completions", body, h)
        calls = _seen(rig, nonce)
        for c in calls:  # the nonce is in the request; the rest must match
            c["body"] = json.loads(json.dumps(c["body"]).replace(nonce, "<nonce>"))
        out[side] = (status, hdrs, raw, calls)
    return out


def _check(rig, group, r, errors=False):
    (s_status, s_hdrs, s_raw, s_calls), (f_status, f_hdrs, f_raw, f_calls) = r["stock"], r["fast"]
    assert len(f_calls) == len(s_calls), (len(s_calls), len(f_calls))
    if not errors:
        assert len(f_calls) == 1
        # The call the front made is the call LiteLLM makes (a group of two: either deployment).
        key = lambda c: json.dumps(c, sort_keys=True)
        if len(rig["ids"][group]) == 1:
            assert key(f_calls[0]) == key(s_calls[0]), (s_calls, f_calls)
    assert f_status == s_status, (s_raw[:400], f_raw[:400])
    assert _norm(f_raw) == _norm(s_raw), (s_raw[:1200], f_raw[:1200])
    ids = rig["ids"][group] if len(rig["ids"][group]) > 1 else None
    if not errors:
        assert _norm_headers(f_hdrs, ids) == _norm_headers(s_hdrs, ids)
    return _lane(f_hdrs)


@pytest.mark.parametrize("group,variant,seed", ANSWERS, ids=[f"{g}-{v}{'' if s is None else s}" for g, v, s in ANSWERS])
def test_answers(rig, group, variant, seed):
    directive = f"variant={variant}" + ("" if seed is None else f";seed={seed}")
    lane = _check(rig, group, _both(rig, group, directive))
    served = SERVED_VLLM if group == "vllm" else SERVED
    assert lane == ("rust" if variant in served else "python"), (variant, lane)


@pytest.mark.parametrize("group,variant,seed", ERRORS, ids=[v for _g, v, _s in ERRORS])
def test_azure_errors_held_not_repeated(rig, group, variant, seed):
    lane = _check(rig, group, _both(rig, group, f"variant={variant}"), errors=True)
    assert lane == "python"


@pytest.mark.parametrize("group,variant", STREAMS, ids=[f"{g}-{v}" for g, v in STREAMS])
def test_openai_stream_shapes_on_providers(rig, group, variant):
    """OpenAI's and vLLM's stream shapes (mock_stream_variants) from an Azure or hosted_vllm upstream."""
    r = _both(rig, group, f"variant={variant}", {"stream": True, "stream_options": {"include_usage": True}})
    assert _check(rig, group, r) == "rust"


def _norm_stream(raw: bytes) -> bytes:
    # The pattern of ids (one per stream, one per chunk, LiteLLM's own) must match, not their values.
    seen: dict = {}

    def one(m):
        return b'"id":"<id%d>"' % seen.setdefault(m.group(1), len(seen))

    raw = re.sub(rb'"id":"([^"]*)"', one, raw)
    return re.sub(rb'"created":\d+', b'"created":0', raw)


def _check_stream(rig, group, r, replayed=False):
    (s_status, s_hdrs, s_raw, s_calls), (f_status, f_hdrs, f_raw, f_calls) = r["stock"], r["fast"]
    assert len(s_calls) == 1 and len(f_calls) == 1 + replayed, (len(s_calls), len(f_calls))
    key = lambda c: json.dumps(c, sort_keys=True)  # noqa: E731
    if len(rig["ids"][group]) == 1:
        assert key(f_calls[0]) == key(s_calls[0]), (s_calls, f_calls)
    assert f_status == s_status == 200, (s_raw[:400], f_raw[:400])
    assert s_raw.endswith(b"data: [DONE]\n\n"), s_raw[-300:]
    s_events, f_events = _norm_stream(s_raw).split(b"\n\n"), _norm_stream(f_raw).split(b"\n\n")
    for i, (a, b) in enumerate(zip(s_events, f_events)):
        assert a == b, (i, a[:800], b[:800])
    assert len(s_events) == len(f_events), (s_events[-3:], f_events[-3:])
    ids = rig["ids"][group] if len(rig["ids"][group]) > 1 else None
    assert _norm_headers(f_hdrs, ids) == _norm_headers(s_hdrs, ids)
    return _lane(f_hdrs)


STREAM_REPLAYS: list = []


@pytest.mark.parametrize("group,variant,seed", GENERATED_STREAMS, ids=[f"{g}-{v}{s}" for g, v, s in GENERATED_STREAMS])
def test_generated_streams(rig, group, variant, seed):
    """Azure's and vLLM's stream shapes, served in Rust event for event as LiteLLM emits them."""
    for include_usage in (None, True, False):
        extra = {"stream": True}
        if include_usage is not None:
            extra["stream_options"] = {"include_usage": include_usage}
        r = _both(rig, group, f"variant={variant};seed={seed}", extra)
        # vLLM's reasoning with include_usage: LiteLLM counts reasoning tokens itself; the front
        # sees it before sending a byte and LiteLLM answers (a second upstream call).
        events = mock_providers.stream_chunks(variant, seed, "gpt-4o-mini", bool(include_usage))
        reasoning = any(isinstance(e, dict) and e["choices"] and {"reasoning", "reasoning_content"} & set(e["choices"][0]["delta"])
                        for e in events)
        want = "python" if reasoning and include_usage else "rust"
        STREAM_REPLAYS.extend([seed] if want == "python" else [])
        assert _check_stream(rig, group, r, replayed=want == "python") == want, (seed, include_usage)


def test_azure_ad_token_group_goes_to_litellm(rig):
    log = Path(rig["fast_log"]).read_text()
    assert "model group 'az-token' goes to LiteLLM: litellm_params.azure_ad_token" in log, log[-2000:]


def test_no_replays(rig):
    _, _, raw = _call(rig["fast"], "GET", "/_fast_litellm/stats", None, {"Authorization": f"Bearer {KEY}"})
    stats = json.loads(raw)
    # Only the streams expected to be replayed (vLLM reasoning with include_usage).
    assert stats["replayed"] == len(STREAM_REPLAYS), (stats, STREAM_REPLAYS)


def test_azure_api_version_resolved_as_litellm_does():
    """The deployment's api_version, else AZURE_API_VERSION (the config's environment_variables over the
    process's), else LiteLLM's default; a version the front would have to escape goes to LiteLLM."""
    from fast_litellm.fastlane import providers as fp

    p = {"model": "azure/gpt-4o-mini", "api_base": "http://h", "api_key": "k"}
    version = lambda params, cfg, env: fp.entry(params, cfg, env)[0]["provider"]["api_version"]
    assert version(dict(p, api_version="2024-06-01"), {}, {"AZURE_API_VERSION": "2024-02-01"}) == "2024-06-01"
    assert version(p, {}, {"AZURE_API_VERSION": "2024-02-01"}) == "2024-02-01"
    assert version(p, {"environment_variables": {"AZURE_API_VERSION": "2024-08-01-preview"}},
                   {"AZURE_API_VERSION": "2024-02-01"}) == "2024-08-01-preview"
    assert version(p, {}, {}) == fp.AZURE_DEFAULT_API_VERSION
    assert fp.entry(dict(p, api_version="2024-06-01&x=1"), {}, {})[0] is None
    assert not fp.served_model("azure/my deployment") and fp.served_model("azure/gpt-4o_mini.v2")
    assert fp.entry({"model": "groq/llama-3.1-8b-instant"}, {}, {})[0] is None


def test_litellm_default_api_version_is_the_pinned_one():
    import litellm

    from fast_litellm.fastlane import providers as fp

    assert litellm.AZURE_DEFAULT_API_VERSION == fp.AZURE_DEFAULT_API_VERSION


def test_hosted_vllm_only_when_unpriced():
    from fast_litellm.fastlane import providers as fp

    assert fp.unpriced_rates({"key": "hosted_vllm/m", "input_cost_per_token": None, "output_cost_per_token": None}) == (0.0, 0.0)
    assert fp.unpriced_rates({"input_cost_per_token": 0, "output_cost_per_token": 0}) == (0.0, 0.0)
    assert fp.unpriced_rates({"input_cost_per_token": 1e-7, "output_cost_per_token": 0}) is None
