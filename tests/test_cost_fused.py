"""The fused ``completion_cost`` fast path, service tiers and the providers with their own cost
functions, against LiteLLM's original, on cases generated from ``litellm.model_cost``.

``completion_cost(completion_response=ModelResponse)`` is installed as a fused function
(``cost.fused_completion_cost``): one native call (``CostTable.chat_cost``) with the generic
wrapper's bookkeeping inline. These tests go through LiteLLM's public name, so they exercise
that function; floats are compared bit for bit (``float.hex``).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402

import fast_litellm  # noqa: E402
from fast_litellm import _patching  # noqa: E402
from fast_litellm.components import cost as C  # noqa: E402

TIER_SUFFIXES = ("_flex", "_priority", "_balanced", "_fast", "_ultrafast")


@pytest.fixture(scope="module", autouse=True)
def active():
    fast_litellm.activate()
    for p in C.PATCHES:
        assert p.state == "applied", (p.name, p.reason)
    yield


def _patch(name):
    return next(p for p in C.PATCHES if p.name == name)


def _network(key: str, entry: dict) -> bool:
    return key.split("/", 1)[0] in C.NETWORK_PROVIDERS or entry.get("litellm_provider") in C.NETWORK_PROVIDERS


def _outcome(fn, **kw):
    try:
        return ("ok", fn(**kw))
    except Exception as exc:
        return ("raise", type(exc))


def _same(a, b) -> bool:
    if a[0] != b[0]:
        return False
    return a[1] is b[1] if a[0] == "raise" else C._same(a[1], b[1])


def _response(model, provider, usage_kw, service_tier=None):
    from litellm.types.utils import ModelResponse, Usage

    r = ModelResponse(model=model, usage=Usage(**usage_kw))
    if service_tier is not None:
        r.service_tier = service_tier
    r._hidden_params = {"custom_llm_provider": provider, "litellm_model_name": model, "model_id": None,
                        "_response_ms": 321.0}
    r._response_ms = 321.0
    return r


USAGES = [
    dict(prompt_tokens=0, completion_tokens=0, total_tokens=0),
    dict(prompt_tokens=1500, completion_tokens=400, total_tokens=1900),
    dict(prompt_tokens=5000, completion_tokens=300, total_tokens=5300,
         prompt_tokens_details={"cached_tokens": 2048, "cache_creation_tokens": 1024}),
    dict(prompt_tokens=3000, completion_tokens=900, total_tokens=3900, completion_tokens_details={"reasoning_tokens": 600}),
    dict(prompt_tokens=4000, completion_tokens=1000, total_tokens=5000, prompt_tokens_details={"cached_tokens": 1000},
         completion_tokens_details={"reasoning_tokens": 700}),
]


def test_fused_wrapper_is_installed_and_restored():
    patch = _patch("cost.completion_cost")
    original = litellm.cost_calculator.completion_cost.__wrapped__
    assert litellm.completion_cost is patch.wrapper
    assert litellm.completion_cost.__code__ is not original.__code__
    assert getattr(litellm.completion_cost, "_fast_litellm_patch", None) == "cost.completion_cost"
    fast_litellm.deactivate()
    try:
        assert litellm.completion_cost is original
        assert litellm.cost_calculator.completion_cost is original
    finally:
        fast_litellm.activate()
    assert litellm.completion_cost is patch.wrapper


def test_fused_path_parity_chat_models():
    """Every 3rd chat model x 5 usage shapes, twice (the first call plans, the second is the fused
    native path), through ``litellm.completion_cost``."""
    patch = _patch("cost.completion_cost")
    original = litellm.cost_calculator.completion_cost.__wrapped__
    keys = [k for k, e in litellm.model_cost.items()
            if isinstance(e, dict) and e.get("mode") == "chat" and not _network(k, e)][::3]
    bad, cases = [], 0
    calls0, delegated0, fallbacks0 = patch.calls, patch.delegated, patch.fallbacks
    for key in keys:
        provider = litellm.model_cost[key].get("litellm_provider")
        for usage_kw in USAGES:
            want = _outcome(original, completion_response=_response(key, provider, usage_kw))
            for _ in range(2):
                got = _outcome(litellm.completion_cost, completion_response=_response(key, provider, usage_kw))
                cases += 1
                if not _same(want, got):
                    bad.append((key, usage_kw, want, got))
    native = (patch.calls - calls0) - (patch.delegated - delegated0) - (patch.fallbacks - fallbacks0)
    print(f"\nfused completion_cost parity: {len(keys)} chat models, {cases} calls, native {native}, "
          f"delegated {patch.delegated - delegated0}, fallbacks {patch.fallbacks - fallbacks0}, mismatches {len(bad)}")
    assert not bad, bad[:5]
    assert patch.fallbacks == fallbacks0
    assert native > cases // 3


def test_fused_path_counts_and_falls_back():
    patch = _patch("cost.completion_cost")
    r = C._typical_response()
    want = litellm.cost_calculator.completion_cost.__wrapped__(completion_response=r)
    assert C._same(litellm.completion_cost(completion_response=r), want)  # plans if needed
    calls, delegated, fallbacks = patch.calls, patch.delegated, patch.fallbacks
    assert C._same(litellm.completion_cost(completion_response=r), want)
    assert C._same(litellm.completion_cost(r), want)
    assert (patch.calls, patch.delegated, patch.fallbacks) == (calls + 2, delegated, fallbacks)
    # annotations: not covered, handed to LiteLLM and counted as delegated
    r2 = C._typical_response()
    r2.choices[0].message.annotations = [{"type": "url_citation"}]
    want2 = _outcome(litellm.cost_calculator.completion_cost.__wrapped__, completion_response=r2)
    assert _same(_outcome(litellm.completion_cost, completion_response=r2), want2)
    assert patch.delegated == delegated + 1
    # the native call raises (choices is not iterable): the original answers, counted as a fallback
    r3 = C._typical_response()
    r3.__dict__["choices"] = 5
    want3 = _outcome(litellm.cost_calculator.completion_cost.__wrapped__, completion_response=r3)
    assert _same(_outcome(litellm.completion_cost, completion_response=r3), want3)
    assert patch.fallbacks == fallbacks + 1


def test_fused_path_shadow_mode_and_edits():
    patch = _patch("cost.completion_cost")
    r = C._typical_response()
    original = litellm.cost_calculator.completion_cost.__wrapped__
    _patching._SHADOW[0] = True
    try:
        mismatches = patch.mismatches
        assert C._same(litellm.completion_cost(completion_response=r), original(completion_response=r))
        assert patch.mismatches == mismatches
    finally:
        _patching._SHADOW[0] = False
    # an in-place price edit, register_model and a replaced map are all seen by the fused path
    entry = litellm.model_cost["gpt-4o-2024-08-06"]
    saved = entry["input_cost_per_token"]
    try:
        entry["input_cost_per_token"] = saved * 3
        assert C._same(litellm.completion_cost(completion_response=r), original(completion_response=r))
    finally:
        entry["input_cost_per_token"] = saved
    assert C._same(litellm.completion_cost(completion_response=r), original(completion_response=r))
    name = "fast-litellm-test/fused-model"
    litellm.register_model({name: {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
                                   "litellm_provider": "openai", "mode": "chat"}})
    try:
        r4 = _response(name, "openai", USAGES[1])
        for _ in range(2):
            assert C._same(litellm.completion_cost(completion_response=r4), original(completion_response=r4))
        litellm.register_model({name: {"input_cost_per_token": 7e-6, "output_cost_per_token": 2e-6,
                                       "litellm_provider": "openai", "mode": "chat"}})
        assert C._same(litellm.completion_cost(completion_response=r4), original(completion_response=r4))
        saved_map = litellm.model_cost
        litellm.model_cost = dict(saved_map)
        try:
            litellm.model_cost[name] = dict(litellm.model_cost[name], input_cost_per_token=9e-6)
            assert C._same(litellm.completion_cost(completion_response=r4), original(completion_response=r4))
        finally:
            litellm.model_cost = saved_map
    finally:
        litellm.model_cost.pop(name, None)


def _tier_models():
    return [k for k, e in litellm.model_cost.items()
            if isinstance(e, dict) and not _network(k, e) and any(x.endswith(TIER_SUFFIXES) for x in e)]


def test_service_tier_cost_per_token_parity():
    """Every model with a service-tier price x tiers x usage shapes (cost_per_token)."""
    original = litellm.cost_calculator.cost_per_token.__wrapped__
    fast = _patch("cost.cost_per_token").fast
    keys = _tier_models()
    tiers = ("flex", "priority", "Priority", "fast", "standard", None)
    shapes = ((0, 0, 0), (1000, 200, 0), (5000, 100, 3000), (250_000, 10, 0))
    bad, native, cases = [], 0, 0
    for key in keys:
        for tier in tiers:
            for pt, ct, cr in shapes:
                kw = dict(model=key, prompt_tokens=pt, completion_tokens=ct, cache_read_input_tokens=cr,
                          service_tier=tier)
                want = _outcome(original, **kw)
                got = fast(**kw)
                cases += 1
                if got is fast_litellm.NOT_COVERED:
                    continue
                native += 1
                if not _same(want, ("ok", got)):
                    bad.append((key, tier, (pt, ct, cr), want, got))
    print(f"\nservice tiers, cost_per_token: {len(keys)} models, {cases} cases, native {native}, mismatches {len(bad)}")
    assert not bad, bad[:5]
    assert len(keys) > 20 and native > 0


def test_service_tier_completion_cost_parity():
    """Every chat model with a service-tier price, the response's ``service_tier`` x shapes."""
    original = litellm.cost_calculator.completion_cost.__wrapped__
    keys = [k for k in _tier_models() if litellm.model_cost[k].get("mode") == "chat"]
    bad, cases = [], 0
    patch = _patch("cost.completion_cost")
    calls0, delegated0 = patch.calls, patch.delegated
    for key in keys:
        provider = litellm.model_cost[key].get("litellm_provider")
        for tier in ("flex", "priority"):
            for usage_kw in USAGES[:3]:
                want = _outcome(original, completion_response=_response(key, provider, usage_kw, tier))
                for _ in range(2):
                    got = _outcome(litellm.completion_cost, completion_response=_response(key, provider, usage_kw, tier))
                    cases += 1
                    if not _same(want, got):
                        bad.append((key, tier, usage_kw, want, got))
    native = (patch.calls - calls0) - (patch.delegated - delegated0)
    print(f"\nservice tiers, completion_cost: {len(keys)} chat models, {cases} calls, native {native}, "
          f"mismatches {len(bad)}")
    assert not bad, bad[:5]
    assert native > 0


def test_generic_based_providers_reasoning_native():
    """Reasoning and cached tokens of gemini/anthropic/bedrock/... chat models are costed natively
    (where the probes agreed) and equal LiteLLM's."""
    original = litellm.cost_calculator.completion_cost.__wrapped__
    fast = _patch("cost.completion_cost").fast
    by_provider: dict = {}
    for key, e in litellm.model_cost.items():
        if not isinstance(e, dict) or e.get("mode") != "chat" or _network(key, e):
            continue
        prov = e.get("litellm_provider")
        if prov in C._GENERIC_BASED_PROVIDERS:
            by_provider.setdefault(prov, []).append(key)
    native_reasoning: dict = {}
    for prov, keys in by_provider.items():
        for key in keys[::4]:
            usage_kw = USAGES[4]
            want = _outcome(original, completion_response=_response(key, prov, usage_kw))
            got = fast(completion_response=_response(key, prov, usage_kw))
            if got is fast_litellm.NOT_COVERED:
                continue
            assert _same(want, ("ok", got)), (key, want, got)
            native_reasoning[prov] = native_reasoning.get(prov, 0) + 1
    print(f"\nnative reasoning+cached responses per provider (every 4th chat model): {native_reasoning}")
    assert sum(native_reasoning.values()) > 0
    for prov in ("gemini", "anthropic", "deepseek"):
        if by_provider.get(prov):
            assert native_reasoning.get(prov, 0) > 0, prov
