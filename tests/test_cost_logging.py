"""The proxy's cost path: the logging object's cost step, stock vs accelerated.

The proxy costs every response through ``Logging._response_cost_calculator`` (1.83.x) /
``Logging.response_cost_calculator`` (1.110.x), which calls ``response_cost_calculator`` and
``completion_cost`` with the logging object's keyword arguments. Here a real ``Logging`` object
costs a generated set of responses (models sampled from ``litellm.model_cost``, usage shapes with
cached, cache-creation and reasoning tokens) once with LiteLLM's own code (deactivated) and once
accelerated; the returned cost, the breakdown stored on the logging object
(``cost_breakdown``), the response's ``_hidden_params`` and the logging object's
``model_call_details`` must be the same (floats bit for bit). The counters then show that the
accelerated run was served natively.
"""

from __future__ import annotations

import asyncio
import datetime
import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402

import fast_litellm  # noqa: E402
from fast_litellm.components import cost as C  # noqa: E402

START = datetime.datetime(2026, 1, 1, 12, 0, 0)

# (prompt, completion, cached, cache_creation, reasoning)
USAGES = [
    (0, 0, 0, 0, 0),
    (12, 7, 0, 0, 0),
    (1500, 400, 0, 0, 0),
    (250_000, 1200, 0, 0, 0),
    (3000, 200, 1024, 0, 0),
    (3000, 200, 0, 512, 0),
    (5000, 300, 2048, 1024, 0),
    (3000, 900, 0, 0, 600),
    (4000, 1000, 1000, 0, 700),
    (123_457, 98_765, 0, 0, 0),
]


def _network(key: str, entry: dict) -> bool:
    return key.split("/", 1)[0] in C.NETWORK_PROVIDERS or entry.get("litellm_provider") in C.NETWORK_PROVIDERS


def _chat_models(step: int) -> list:
    keys = [k for k, e in litellm.model_cost.items()
            if isinstance(e, dict) and e.get("mode") == "chat" and not _network(k, e)
            and isinstance(e.get("litellm_provider"), str)]
    return keys[::step]


def _response(model: str, provider: str, shape: tuple):
    from litellm.types.utils import ModelResponse, Usage

    pt, ct, cr, cc, rs = shape
    ptd = {k: v for k, v in (("cached_tokens", cr), ("cache_creation_tokens", cc)) if v}
    ctd = {"reasoning_tokens": rs} if rs else None
    r = ModelResponse(model=model, usage=Usage(prompt_tokens=pt, completion_tokens=ct, total_tokens=pt + ct,
                                                prompt_tokens_details=ptd or None, completion_tokens_details=ctd))
    r._hidden_params = {"custom_llm_provider": provider, "model_id": None, "api_base": None,
                        "_response_ms": 412.5}
    r._response_ms = 412.5
    return r


def _logging(model: str, provider: str):
    from litellm.litellm_core_utils.litellm_logging import Logging

    lo = Logging(model=model, messages=[{"role": "user", "content": "hi"}], stream=False, call_type="acompletion",
                 start_time=START, litellm_call_id="cost-test", function_id="cost-test",
                 litellm_trace_id="cost-trace")
    lo.update_environment_variables(litellm_params={"custom_llm_provider": provider}, optional_params={},
                                    model=model, custom_llm_provider=provider)
    return lo


def _deq(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a.hex() == b.hex()
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_deq(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_deq(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:
        return a is b


def _plain(value):
    """Comparable copy of model_call_details / hidden params (objects by type name)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in ("litellm_logging_obj",)}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str, datetime.datetime)):
        return value
    return type(value).__name__


def _cost_step(model: str, provider: str, shape: tuple):
    lo = _logging(model, provider)
    r = _response(model, provider, shape)
    try:
        out = ("ok", lo._response_cost_calculator(result=r))
    except Exception as exc:
        out = ("raise", type(exc).__name__)
    return out, _plain(dict(getattr(lo, "cost_breakdown", None) or {})), _plain(dict(r._hidden_params)), \
        _plain({k: v for k, v in lo.model_call_details.items() if k != "response_cost_failure_debug_information"})


def _corpus(step: int) -> list:
    out = []
    for key in _chat_models(step):
        provider = litellm.model_cost[key]["litellm_provider"]
        for shape in USAGES:
            out.append((key, provider, shape))
    return out


def _patch(name: str):
    return next(p for p in C.PATCHES if p.name == name)


def test_logging_cost_step_parity_and_native():
    corpus = _corpus(step=7)
    fast_litellm.deactivate()
    try:
        stock = [_cost_step(*case) for case in corpus]
    finally:
        fast_litellm.activate()
    fast_litellm.status()
    patch = _patch("cost.completion_cost")
    assert patch.state == "applied", patch.reason
    # first pass builds the plans (verified against LiteLLM); the second is the steady state
    fast = [_cost_step(*case) for case in corpus]
    calls0, delegated0, fallbacks0 = patch.calls, patch.delegated, patch.fallbacks
    again = [_cost_step(*case) for case in corpus]
    calls, delegated = patch.calls - calls0, patch.delegated - delegated0
    bad = [(case, s, f) for case, s, f in zip(corpus, stock, fast) if not _deq(s, f)]
    bad += [(case, s, f) for case, s, f in zip(corpus, stock, again) if not _deq(s, f)]
    native = calls - delegated
    print(f"\nlogging cost step parity: {len(corpus) // len(USAGES)} chat models x {len(USAGES)} usages = "
          f"{len(corpus)} cases (x2 accelerated passes); completion_cost calls {calls}, native {native}, "
          f"delegated {delegated}, fallbacks {patch.fallbacks - fallbacks0}, mismatches {len(bad)}")
    assert not bad, bad[:3]
    assert patch.fallbacks == fallbacks0
    assert native > calls // 2, (native, calls)


def test_acompletion_mock_served_natively_with_same_outputs():
    """The full ``litellm.acompletion(..., mock_response=...)`` path on priced models: same
    response cost, hidden params, cost header and standard logging payload cost fields, and the
    counters show the cost step ran natively."""
    from litellm.integrations.custom_logger import CustomLogger

    class Capture(CustomLogger):
        def __init__(self):
            super().__init__()
            self.seen = []

        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            slo = kwargs.get("standard_logging_object") or {}
            self.seen.append((kwargs.get("response_cost"),
                              {k: slo.get(k) for k in ("response_cost", "model", "custom_llm_provider",
                                                       "prompt_tokens", "completion_tokens", "total_tokens",
                                                       "cost_breakdown", "model_map_information")}))

    models = ["gpt-4o", "gpt-4o-mini", "anthropic/claude-3-5-sonnet-20240620", "gpt-4.1", "o3-mini",
              "groq/llama-3.1-8b-instant", "mistral/mistral-large-latest", "deepseek/deepseek-chat"]
    models = [m for m in models if m in litellm.model_cost or m.split("/", 1)[-1] in litellm.model_cost]

    async def run_all(cap):
        out = []
        for m in models:
            r = await litellm.acompletion(model=m, messages=[{"role": "user", "content": "hi"}],
                                          mock_response="hello there, this is a mock")
            hp = r._hidden_params
            out.append((m, hp.get("response_cost"), hp.get("custom_llm_provider"),
                        (hp.get("additional_headers") or {}).get("x-litellm-response-cost"),
                        _plain(hp.get("optional_params"))))
        for _ in range(50):
            if len(cap.seen) >= len(models):
                break
            await asyncio.sleep(0.05)
        return out

    cap = Capture()  # one instance: LiteLLM registers a callback object once

    def run(label):
        cap.seen = []
        out = asyncio.run(run_all(cap))
        return out, sorted(cap.seen, key=repr)

    saved_callbacks = litellm.callbacks
    litellm.callbacks = [cap]

    try:
        fast_litellm.deactivate()
        try:
            stock = run("stock")
        finally:
            fast_litellm.activate()
        patch = _patch("cost.completion_cost")
        run("warm")  # builds the plans
        calls0, delegated0 = patch.calls, patch.delegated
        fast = run("fast")
    finally:
        litellm.callbacks = saved_callbacks
    calls, delegated = patch.calls - calls0, patch.delegated - delegated0
    print(f"\nacompletion mock: {len(models)} models, completion_cost calls {calls}, delegated {delegated}")
    assert _deq(_plain(stock[0]), _plain(fast[0])), (stock[0], fast[0])
    assert _deq(_plain(stock[1]), _plain(fast[1])), (stock[1], fast[1])
    assert len(fast[1]) == len(models)  # the success callback saw every call
    assert calls >= len(models)
    assert delegated <= calls - len(models) // 2, (calls, delegated)


@pytest.mark.parametrize("kw", [
    dict(custom_pricing=True),
    dict(custom_cost_per_token={"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6}),
    dict(call_type="embedding"),
    dict(standard_built_in_tools_params={"web_search_options": {"search_context_size": "high"}}),
    dict(optional_params={"service_tier": 5}),
    dict(prompt="a per-request prompt text"),
    dict(total_time=3.5),
])
def test_uncovered_logging_arguments_delegate(kw):
    fast = _patch("cost.completion_cost").fast
    r = _response("gpt-4o", "openai", (10, 5, 0, 0, 0))
    assert fast(completion_response=r, model="gpt-4o", **kw) is fast_litellm.NOT_COVERED


def test_network_login_models_stay_with_litellm_on_logging_path():
    fast = _patch("cost.completion_cost").fast
    for model, provider in (("github_copilot/gpt-4o", "github_copilot"), ("chatgpt/gpt-5", "chatgpt")):
        lo = _logging(model, provider)
        r = _response(model, provider, (10, 5, 0, 0, 0))
        assert fast(completion_response=r, model=model, custom_llm_provider=provider, call_type="acompletion",
                    litellm_logging_obj=lo) is fast_litellm.NOT_COVERED


def test_logging_path_follows_register_model_and_edits():
    name = "fast-litellm-test/logging-model"
    entry = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "litellm_provider": "openai",
             "mode": "chat"}
    patch = _patch("cost.completion_cost")

    def both(shape):
        fast_litellm.deactivate()
        try:
            stock = _cost_step(name, "openai", shape)
        finally:
            fast_litellm.activate()
        d0 = patch.delegated
        _cost_step(name, "openai", shape)  # builds the plan when needed
        c0, d0 = patch.calls, patch.delegated
        got = _cost_step(name, "openai", shape)
        return stock, got, patch.delegated - d0

    try:
        litellm.register_model({name: dict(entry)})
        stock, got, delegated = both((1000, 10, 0, 0, 0))
        assert _deq(stock, got) and delegated == 0
        litellm.register_model({name: dict(entry, input_cost_per_token=3e-6)})
        stock, got, delegated = both((1000, 10, 0, 0, 0))
        assert _deq(stock, got) and delegated == 0
        assert stock[0][1] == 1000 * 3e-6 + 10 * 2e-6
        litellm.model_cost[name]["output_cost_per_token"] = 7e-6  # in-place edit
        stock, got, _ = both((1000, 10, 0, 0, 0))
        assert _deq(stock, got)
    finally:
        litellm.model_cost.pop(name, None)
