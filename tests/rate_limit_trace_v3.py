"""Shared by the v3 rate-limit tests and bench: drive LiteLLM's v3 proxy limiter
(``_PROXY_MaxParallelRequestsHandler_v3``, the proxy's default) through a
generated trace of mixed calls under a controlled clock (the limiter's
``time_provider`` and the cache's ``time.time``), recording every outcome."""

from __future__ import annotations

import asyncio
import random
import types
from typing import Any, List, Tuple

import rate_limit_trace

START = 1_767_225_000.25


class Clock(rate_limit_trace.Clock):
    """The v1 trace's clock, starting a quarter second into a second (v3 windows start at any time)."""

    def __init__(self, t: float = START) -> None:
        super().__init__(t)


def install_clock(clock: Clock) -> Any:
    import litellm.caching.in_memory_cache as imc

    saved = imc.time
    imc.time = types.SimpleNamespace(time=clock.time)

    def undo() -> None:
        imc.time = saved

    return undo


def stock_limiter(clock: Clock) -> Any:
    """LiteLLM's own v3 limiter on a fresh InternalUsageCache, its clock driven by ``clock``,
    built from the unpatched constructors (whatever patches are active)."""
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as cls
    from litellm.proxy.utils import InternalUsageCache

    init = getattr(InternalUsageCache.__init__, "__wrapped__", InternalUsageCache.__init__)
    iuc = InternalUsageCache.__new__(InternalUsageCache)
    init(iuc, dual_cache=DualCache(default_in_memory_ttl=1))
    cls_init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    lim = cls.__new__(cls)
    cls_init(lim, iuc, time_provider=clock.now)
    return lim


def make_limiter(clock: Clock, fast: bool) -> Any:
    from fast_litellm.components import rate_limit

    lim = stock_limiter(clock)
    if fast:
        assert rate_limit.v3_183.accelerate_v3_limiter(lim)
    return lim


MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20240620"]


def gen_trace(n: int, seed: int, n_keys: int = 12) -> List[Tuple]:
    """Few enough descriptors that stock's 200-item cache never evicts a live
    entry (checked by the caller). Limits include None and 0; time advances in
    random fractional steps, across window boundaries and past the cache's TTLs."""
    rng = random.Random(seed)

    def lim(lo: int, hi: int) -> Any:
        x = rng.random()
        return None if x < 0.3 else (0 if x < 0.35 else rng.randint(lo, hi))

    keys = []
    for i in range(n_keys):
        spec = {
            "api_key": f"hk-{i}",
            "rpm_limit": lim(1, 12),
            "tpm_limit": lim(20, 400),
            "max_parallel_requests": lim(1, 6) if rng.random() < 0.5 else None,
            "user_id": rng.choice([None, "u-1", "u-2"]),
            "user_rpm_limit": lim(3, 20),
            "user_tpm_limit": lim(50, 600),
            "team_id": rng.choice([None, "t-1", "t-2"]),
            "team_rpm_limit": lim(5, 30),
            "team_tpm_limit": lim(50, 900),
            "end_user_id": rng.choice([None, "e-1"]),
            "end_user_rpm_limit": lim(2, 15),
            "metadata": {},
        }
        if rng.random() < 0.25:
            m = rng.choice(MODELS)
            spec["metadata"] = {"model_rpm_limit": {m: rng.randint(1, 8)}, "model_tpm_limit": {m: rng.randint(10, 300)}}
        y = rng.random()
        if y < 0.1:  # LiteLLM's own descriptor builders (team model limits)
            m = rng.choice(MODELS)
            spec["team_metadata"] = {"model_rpm_limit": {m: rng.randint(2, 9)}}
        elif y < 0.2:  # per-model limits through model_max_budget
            m = rng.choice(MODELS)
            spec["model_max_budget"] = {m: {"rpm_limit": rng.randint(1, 6), "tpm_limit": rng.randint(30, 300)}}
        keys.append(spec)
    out: List[Tuple] = []
    for _ in range(n):
        x = rng.random()
        if x < 0.12:
            out.append(("tick", rng.choice([rng.uniform(0.001, 3.0), rng.uniform(3, 70), rng.uniform(100, 700)]) if rng.random() < 0.2 else rng.uniform(0.0005, 1.7)))
            continue
        spec = rng.choice(keys)
        model = rng.choice(MODELS)
        if x < 0.62:
            out.append(("pre", spec, model, None))
        elif x < 0.85:
            out.append(("success", spec, model, rng.randint(0, 60)))
        elif x < 0.95:
            out.append(("failure", spec, model, None))
        else:
            out.append(("post", spec, model, None))
    return out


def _outcome(exc: BaseException) -> Tuple:
    return (
        type(exc).__name__,
        getattr(exc, "status_code", None),
        str(getattr(exc, "detail", exc)),
        dict(getattr(exc, "headers", None) or {}),
    )


def _slo(spec: dict, model: str) -> dict:
    return {
        "metadata": {
            "user_api_key_hash": spec["api_key"],
            "user_api_key_user_id": spec["user_id"],
            "user_api_key_team_id": spec["team_id"],
            "user_api_key_end_user_id": spec["end_user_id"],
        },
    }


async def run_trace(limiter: Any, clock: Clock, trace: List[Tuple], sizes: Any = None) -> List[Any]:
    import litellm
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy._types import UserAPIKeyAuth

    cache = DualCache()
    out: List[Any] = []
    last: dict = {}
    for ev in trace:
        kind = ev[0]
        if kind == "tick":
            clock.t += ev[1]
            continue
        spec, model = ev[1], ev[2]
        if kind == "pre":
            auth = UserAPIKeyAuth(**spec)
            data: dict = {"model": model, "metadata": {}}
            try:
                await limiter.async_pre_call_hook(user_api_key_dict=auth, cache=cache, data=data, call_type="completion")
                out.append(("ok", data.get("litellm_proxy_rate_limit_response")))
                last[spec["api_key"]] = data
            except Exception as exc:
                out.append(_outcome(exc))
        elif kind in ("success", "failure"):
            kwargs = {
                "litellm_params": {"metadata": {"model_group": model}},
                "standard_logging_object": _slo(spec, model),
                "call_type": "completion",
                "model": model,
            }
            if kind == "success":
                resp = litellm.ModelResponse(usage={"prompt_tokens": ev[3], "completion_tokens": 0, "total_tokens": ev[3]})
                await limiter.async_log_success_event(kwargs, resp, None, None)
            else:
                kwargs["exception"] = Exception("upstream 500")
                await limiter.async_log_failure_event(kwargs, None, None, None)
            out.append(kind)
        elif kind == "post":
            auth = UserAPIKeyAuth(**spec)
            resp = litellm.ModelResponse()
            data = last.get(spec["api_key"]) or {"model": model}
            await limiter.async_post_call_success_hook(data=data, user_api_key_dict=auth, response=resp)
            out.append(("post", sorted((resp._hidden_params.get("additional_headers") or {}).items())))
        await asyncio.sleep(0)
        if sizes is not None:
            sizes.append(len(limiter.internal_usage_cache.dual_cache.in_memory_cache.cache_dict))
    return out


def descriptor_ids(trace: List[Tuple]) -> List[str]:
    out = set()
    for ev in trace:
        if ev[0] == "tick":
            continue
        s = ev[1]
        out.add(f"api_key:{s['api_key']}")
        for m in MODELS:
            out.add(f"model_per_key:{s['api_key']}:{m}")
        for k, name in (("user_id", "user"), ("team_id", "team"), ("end_user_id", "end_user")):
            if s[k] is not None:
                out.add(f"{name}:{s[k]}")
        if s["team_id"] is not None and s["user_id"] is not None:
            out.add(f"team_member:{s['team_id']}:{s['user_id']}")
    return sorted(out)


_ENTRIES = ("window", "requests", "tokens", "max_parallel_requests")


def snapshot(limiter: Any, clock: Clock, ids: List[str]) -> List[Tuple]:
    """Every entry of every descriptor at the end, as LiteLLM's cache would answer."""
    table = limiter.__dict__.get("_fast_litellm_v3")
    out = []
    for d in ids:
        for e, name in enumerate(_ENTRIES):
            if table is not None:
                v = table.get(d, e, clock.t)
            else:
                v = limiter.internal_usage_cache.dual_cache.in_memory_cache.get_cache(f"{{{d}}}:{name}")
                v = None if v is None else int(v)
            out.append((d, name, v))
    return out


def compare(n: int, seed: int, max_stock_size: List[int] = None) -> Tuple[int, int, List[Any]]:
    trace = gen_trace(n, seed)
    ids = descriptor_ids(trace)
    results = []
    for fast in (False, True):
        clock = Clock()
        undo = install_clock(clock)
        try:
            limiter = make_limiter(clock, fast)
            loop = asyncio.new_event_loop()
            sizes: List[int] = [] if not fast else None  # type: ignore[assignment]
            try:
                outs = loop.run_until_complete(run_trace(limiter, clock, trace, sizes))
            finally:
                loop.close()
            if sizes is not None and max_stock_size is not None:
                max_stock_size.append(max(sizes))
            results.append((outs, snapshot(limiter, clock, ids)))
        finally:
            undo()
    (a, sa), (b, sb) = results
    bad = [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if sa != sb:
        bad.append(("final-cache", [(x, y) for x, y in zip(sa, sb) if x != y][:5]))
    return len(a), len(bad), bad[:5]
