"""Parity of the cost patches with LiteLLM, on a corpus generated from ``litellm.model_cost``.

Every price-map entry (except those whose cost path may log in over the network,
see ``NETWORK_PROVIDERS``) is costed with at least 10 usage shapes derived from the
entry itself (zero, small, large, both sides of each ``*_above_<n>_tokens`` tier,
cached reads, cache writes, reasoning tokens). The accelerated call (through
``litellm``'s public name) must return the same floats bit for bit as the original
(``__wrapped__``), or raise the same exception type.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402

import fast_litellm  # noqa: E402
from fast_litellm.components import cost as C  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def active():
    fast_litellm.activate()
    fast_litellm.status()
    for p in C.PATCHES:
        assert p.state == "applied", (p.name, p.reason)
    yield


def _network(key: str, entry: dict) -> bool:
    return key.split("/", 1)[0] in C.NETWORK_PROVIDERS or entry.get("litellm_provider") in C.NETWORK_PROVIDERS


def _thresholds(entry: dict) -> list:
    out = set()
    for k in entry:
        if "_above_" in k and k.endswith("_tokens"):
            t = k.split("_above_")[1].split("_tokens")[0]
            try:
                out.add(int(float(t.replace("k", "")) * (1000 if "k" in t else 1)))
            except ValueError:
                pass
    return sorted(out)


def _shapes(entry: dict) -> list:
    """(prompt, completion, cache_read, cache_creation) usages for one entry."""
    shapes = [(0, 0, 0, 0), (1, 1, 0, 0), (17, 9, 0, 0), (1000, 500, 0, 0), (123_456, 7_890, 0, 0),
              (3_000_000, 1_000_000, 0, 0), (1000, 100, 300, 0), (1000, 100, 0, 200), (2000, 300, 500, 250),
              (50, 20, 80, 0)]
    for t in _thresholds(entry) or [200_000]:
        shapes += [(t, 5, 0, 0), (t + 1, 5, 0, 0), (t + 1000, 77, 100, 10)]
    return shapes


def _outcome(fn, **kw):
    try:
        return ("ok", fn(**kw))
    except Exception as exc:  # the exception type is part of parity
        return ("raise", type(exc))


def _same(a, b) -> bool:
    if a[0] != b[0]:
        return False
    return a[1] is b[1] if a[0] == "raise" else C._same(a[1], b[1])


# Every PUBLIC_EVERY-th model also goes through LiteLLM's public name (the installed wrapper);
# the others call the patch's fast function directly, so a call it hands to LiteLLM
# (NOT_COVERED) or one that falls back (it raised) is not run a second time: the
# wrapper's answer for those is the original's by construction (tested in test_registry).
PUBLIC_EVERY = 25


class _Runner:
    def __init__(self, patch, public):
        self.patch, self.public = patch, public
        self.native = self.delegated = self.fallbacks = self.public_calls = 0

    def run(self, via_public: bool, want, **kw):
        """The accelerated outcome for ``kw`` (``want`` is the original's)."""
        if via_public:
            self.public_calls += 1
            return _outcome(self.public, **kw)
        try:
            got = self.patch.fast(**kw)
        except Exception:
            self.fallbacks += 1
            return want
        if got is fast_litellm.NOT_COVERED:
            self.delegated += 1
            return want
        self.native += 1
        return ("ok", got)


def test_cost_per_token_parity_every_model():
    original = litellm.cost_calculator.cost_per_token.__wrapped__
    patch = next(p for p in C.PATCHES if p.name == "cost.cost_per_token")
    keys = [k for k, e in litellm.model_cost.items() if isinstance(e, dict) and not _network(k, e)]
    excluded = len(litellm.model_cost) - len(keys)
    runner = _Runner(patch, lambda **kw: litellm.cost_per_token(**kw))
    cases = 0
    bad = []
    for i, key in enumerate(keys):
        for pt, ct, cr, cc in _shapes(litellm.model_cost[key]):
            kw = dict(model=key, prompt_tokens=pt, completion_tokens=ct,
                      cache_read_input_tokens=cr, cache_creation_input_tokens=cc)
            want = _outcome(original, **kw)
            got = runner.run(i % PUBLIC_EVERY == 0, want, **kw)
            cases += 1
            if not _same(want, got):
                bad.append((key, (pt, ct, cr, cc), want, got))
    print(f"\ncost_per_token parity: {len(keys)} models ({excluded} network-login models excluded), "
          f"{cases} cases, native {runner.native}, delegated {runner.delegated}, fallbacks {runner.fallbacks}, "
          f"through litellm.cost_per_token {runner.public_calls}, mismatches {len(bad)}")
    assert not bad, bad[:5]
    assert len(keys) > 1000 and cases >= 10 * len(keys)
    assert runner.native > cases // 2  # most of the map is served natively


def test_coverage_report():
    # runs right after the every-model test, before anything that drops the plans
    # (register_model), so it reuses the plans instead of rebuilding all of them
    cov = C.coverage(logging_every=50)
    assert cov["entries"] == len(litellm.model_cost)
    assert 0.5 < cov["share"] <= 1.0
    cc = cov["completion_cost"]
    assert 0.5 < cc["share_plain"] <= 1.0 and 0 < cc["native_reasoning"] <= cc["native_plain"] <= cc["chat_entries"]
    tiers = cov["service_tiers"]
    assert tiers["entries_with_tier_prices"] > 0 and 0 < tiers["priority_native"] <= tiers["priority_priced"]
    assert cov["logging_path"]["sampled_chat_entries"] > 10 and cov["logging_path"]["share"] > 0.5


def test_cost_per_token_with_provider_and_region():
    original = litellm.cost_calculator.cost_per_token.__wrapped__
    cases = 0
    for key, entry in list(litellm.model_cost.items())[::13]:  # a sample: the map itself is covered above
        provider = entry.get("litellm_provider") if isinstance(entry, dict) else None
        if _network(key, entry) or not isinstance(provider, str):
            continue
        bare = key.split("/", 1)[1] if key.startswith(provider + "/") else key
        for kw in (dict(model=bare, custom_llm_provider=provider),
                   dict(model=key, custom_llm_provider=provider),
                   dict(model=bare, custom_llm_provider=provider, region_name="us-east-1")):
            for pt, ct in ((0, 0), (1234, 567)):
                want = _outcome(original, prompt_tokens=pt, completion_tokens=ct, **kw)
                got = _outcome(litellm.cost_per_token, prompt_tokens=pt, completion_tokens=ct, **kw)
                assert _same(want, got), (kw, pt, ct, want, got)
                cases += 1
    assert cases > 300


def _response(model: str, provider, usage_kw: dict):
    from litellm.types.utils import ModelResponse, Usage

    r = ModelResponse(model=model, usage=Usage(**usage_kw))
    r._hidden_params = {"custom_llm_provider": provider, "litellm_model_name": model, "model_id": None,
                        "_response_ms": 321.0}
    r._response_ms = 321.0
    return r


_CC_USAGES = [
    dict(prompt_tokens=0, completion_tokens=0, total_tokens=0),
    dict(prompt_tokens=12, completion_tokens=7, total_tokens=19),
    dict(prompt_tokens=1500, completion_tokens=400, total_tokens=1900),
    dict(prompt_tokens=250_000, completion_tokens=1200, total_tokens=251_200),  # above the usual 128k/200k tiers
    dict(prompt_tokens=3000, completion_tokens=200, total_tokens=3200, prompt_tokens_details={"cached_tokens": 1024}),
    dict(prompt_tokens=3000, completion_tokens=200, total_tokens=3200,
         prompt_tokens_details={"cache_creation_tokens": 512}),
    dict(prompt_tokens=5000, completion_tokens=300, total_tokens=5300,
         prompt_tokens_details={"cached_tokens": 2048, "cache_creation_tokens": 1024}),
    dict(prompt_tokens=3000, completion_tokens=900, total_tokens=3900,
         completion_tokens_details={"reasoning_tokens": 600}),
    dict(prompt_tokens=4000, completion_tokens=1000, total_tokens=5000, prompt_tokens_details={"cached_tokens": 1000},
         completion_tokens_details={"reasoning_tokens": 700}),
    dict(prompt_tokens=210_000, completion_tokens=5000, total_tokens=215_000,
         prompt_tokens_details={"cached_tokens": 20_000}, completion_tokens_details={"reasoning_tokens": 3000}),
]


def test_completion_cost_parity_chat_models():
    original = litellm.cost_calculator.completion_cost.__wrapped__
    patch = next(p for p in C.PATCHES if p.name == "cost.completion_cost")
    runner = _Runner(patch, lambda **kw: litellm.completion_cost(**kw))
    cases = 0
    bad = []
    keys = [k for k, e in litellm.model_cost.items()
            if isinstance(e, dict) and e.get("mode") == "chat" and not _network(k, e)]
    for i, key in enumerate(keys):
        provider = litellm.model_cost[key].get("litellm_provider")
        for usage_kw in _CC_USAGES:
            want = _outcome(original, completion_response=_response(key, provider, usage_kw))
            got = runner.run(i % PUBLIC_EVERY == 0, want, completion_response=_response(key, provider, usage_kw))
            cases += 1
            if not _same(want, got):
                bad.append((key, usage_kw, want, got))
    print(f"\ncompletion_cost parity: {len(keys)} chat models, {cases} cases, native {runner.native}, "
          f"delegated {runner.delegated}, fallbacks {runner.fallbacks}, through litellm.completion_cost "
          f"{runner.public_calls}, mismatches {len(bad)}")
    assert not bad, bad[:5]
    assert runner.native > cases // 3
    assert cases >= 10 * len(keys)


def test_network_models_never_planned():
    for key, entry in litellm.model_cost.items():
        if isinstance(entry, dict) and _network(key, entry):
            assert C._is_network_model(litellm, key, entry.get("litellm_provider"))


def test_register_model_and_edits_are_seen():
    name = "fast-litellm-test/unit-model"
    litellm.register_model({name: {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
                                   "litellm_provider": "openai", "mode": "chat"}})
    first = litellm.cost_per_token(model=name, prompt_tokens=1000, completion_tokens=10)
    assert first == litellm.cost_calculator.cost_per_token.__wrapped__(model=name, prompt_tokens=1000,
                                                                       completion_tokens=10)
    litellm.register_model({name: {"input_cost_per_token": 3e-6, "output_cost_per_token": 2e-6,
                                   "litellm_provider": "openai", "mode": "chat"}})
    after = litellm.cost_per_token(model=name, prompt_tokens=1000, completion_tokens=10)
    want = litellm.cost_calculator.cost_per_token.__wrapped__(model=name, prompt_tokens=1000, completion_tokens=10)
    assert C._same(after, want)
    # a direct in-place edit of the entry: the plan notices it and hands the call to LiteLLM
    litellm.model_cost[name]["input_cost_per_token"] = 5e-6
    got = litellm.cost_per_token(model=name, prompt_tokens=1000, completion_tokens=10)
    want = litellm.cost_calculator.cost_per_token.__wrapped__(model=name, prompt_tokens=1000, completion_tokens=10)
    assert C._same(got, want)
    # replacing the whole map drops every plan
    saved = litellm.model_cost
    litellm.model_cost = dict(saved)
    try:
        got = litellm.cost_per_token(model="gpt-4o", prompt_tokens=10, completion_tokens=10)
        want = litellm.cost_calculator.cost_per_token.__wrapped__(model="gpt-4o", prompt_tokens=10,
                                                                  completion_tokens=10)
        assert C._same(got, want)
    finally:
        litellm.model_cost = saved
        del saved[name]


def test_uncovered_arguments_delegate():
    patch = next(p for p in C.PATCHES if p.name == "cost.cost_per_token")
    fast = patch.fast
    assert fast(model="gpt-4o", prompt_tokens=10, completion_tokens=5, service_tier=1) is fast_litellm.NOT_COVERED
    # a service tier is planned like a model (its own prices, verified on probes): see test_cost_fused
    assert fast(model="gpt-4o", prompt_tokens=10.0, completion_tokens=5) is fast_litellm.NOT_COVERED
    assert fast(model="gpt-4o", prompt_tokens=True, completion_tokens=5) is fast_litellm.NOT_COVERED
    assert fast(model="gpt-4o", prompt_tokens=-1, completion_tokens=5) is fast_litellm.NOT_COVERED
    assert fast(model="github_copilot/gpt-4o", prompt_tokens=1, completion_tokens=5) is fast_litellm.NOT_COVERED
    assert fast(model="chatgpt/gpt-5", prompt_tokens=1, completion_tokens=5) is fast_litellm.NOT_COVERED
    ccfast = next(p for p in C.PATCHES if p.name == "cost.completion_cost").fast
    r = C._typical_response()
    assert ccfast(completion_response=r, model="gpt-4o", custom_cost_per_second=0.1) is fast_litellm.NOT_COVERED
    assert ccfast(completion_response=r, model="gpt-4o", total_time=2.0) is fast_litellm.NOT_COVERED
    assert ccfast(r, "gpt-4o") is fast_litellm.NOT_COVERED
    assert ccfast(completion_response={"model": "gpt-4o"}) is fast_litellm.NOT_COVERED
