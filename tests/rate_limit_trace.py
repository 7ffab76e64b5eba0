"""Shared by the rate-limit tests and bench: drive LiteLLM's v1 proxy limiter
(ProxyLogging's max_parallel_request_limiter) through a generated trace of mixed
calls under a controlled clock, and record every observable outcome."""

from __future__ import annotations

import asyncio
import datetime as _dt
import inspect
import random
import types
from typing import Any, List, Tuple

START = 1_767_225_000.0  # a fixed wall-clock second


class Clock:
    def __init__(self, t: float = START) -> None:
        self.t = t

    def time(self) -> float:
        return self.t

    def now(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.t)


def install_clock(clock: Clock) -> Any:
    """Point the limiter's and the cache's clocks at ``clock``; returns an undo."""
    import litellm.caching.in_memory_cache as imc
    import litellm.proxy.hooks.parallel_request_limiter as prl

    saved = (imc.time, prl.datetime)

    class _FrozenDatetime(_dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> _dt.datetime:  # type: ignore[override]
            return clock.now()

    imc.time = types.SimpleNamespace(time=clock.time)
    prl.datetime = _FrozenDatetime

    def undo() -> None:
        imc.time, prl.datetime = saved

    return undo


def make_limiter(clock: Clock, fast: Any) -> Any:
    """fast: False (stock), "store" (stock hooks over the Rust InMemoryCache, the
    off-by-default patch) or True (our hooks over the Rust window table)."""
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy.hooks.parallel_request_limiter import _PROXY_MaxParallelRequestsHandler
    from litellm.proxy.utils import InternalUsageCache

    from fast_litellm.components import rate_limit

    init = getattr(InternalUsageCache.__init__, "__wrapped__", InternalUsageCache.__init__)
    iuc = InternalUsageCache.__new__(InternalUsageCache)
    init(iuc, dual_cache=DualCache(default_in_memory_ttl=1))
    if fast == "store":
        assert rate_limit.usage_cache.accelerate_usage_cache(iuc)
    kwargs = {}
    cls_init = getattr(_PROXY_MaxParallelRequestsHandler.__init__, "__wrapped__", _PROXY_MaxParallelRequestsHandler.__init__)
    if "clock" in inspect.signature(cls_init).parameters:
        kwargs["clock"] = clock.now
    lim = _PROXY_MaxParallelRequestsHandler.__new__(_PROXY_MaxParallelRequestsHandler)
    cls_init(lim, iuc, **kwargs)
    if fast is True:
        assert rate_limit.v1.accelerate_limiter(lim)
    return lim


def gen_trace(n: int, seed: int, n_keys: int = 25) -> List[Tuple]:
    """Scopes are few enough that stock's 200-item cache never evicts a live
    counter (checked by ``compare``): under the cap, decisions must be equal."""
    rng = random.Random(seed)
    models = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20240620"]
    keys = []
    for i in range(n_keys):
        keys.append(
            dict(
                api_key=f"sk-{i:05d}" if rng.random() > 0.02 else None,
                rpm_limit=rng.choice([None, 0, 1, 3, 10, 50]),
                tpm_limit=rng.choice([None, 0, 100, 1000, 100000]),
                max_parallel_requests=rng.choice([None, None, 0, 1, 2, 5]),
                user_id=rng.choice([None, f"user-{i % 7}"]),
                user_rpm_limit=rng.choice([None, 5, 40]),
                user_tpm_limit=rng.choice([None, 2000]),
                team_id=rng.choice([None, f"team-{i % 3}"]),
                team_rpm_limit=rng.choice([None, 20, 100]),
                team_tpm_limit=rng.choice([None, 5000]),
                end_user_id=rng.choice([None, None, f"cust-{i % 5}"]),
                end_user_rpm_limit=rng.choice([None, 4]),
                end_user_tpm_limit=rng.choice([None, 800]),
                metadata=rng.choice([{}, {}, {"model_rpm_limit": {"gpt-4o": 2}}, {"model_tpm_limit": {"gpt-4o-mini": 300}}]),
            )
        )
    # Shapes the fused pre-call check (RateLimitV1Fast) does or does not cover,
    # from a second generator so the draws above stay as they were.
    rng2 = random.Random(seed ^ 0x5EED)
    for spec in keys:
        r2 = rng2.random()
        if r2 < 0.1:
            spec["end_user_id"] = ""  # falsy: no customer scope
        elif r2 < 0.15:
            spec["team_metadata"] = {"note": "x"}  # truthy: LiteLLM's helpers run
        elif r2 < 0.2:
            spec["model_max_budget"] = {"gpt-4o": {"budget_limit": 1.0}}  # no rpm/tpm in it
    trace: List[Tuple] = []
    for _ in range(n):
        r = rng.random()
        spec = keys[min(int(rng.paretovariate(1.2)) - 1, n_keys - 1)] if rng.random() < 0.6 else rng.choice(keys)
        model = rng.choice(models)
        if r < 0.6:
            glob = rng.choice([None] * 20 + [3])
            shape = rng2.random()
            # model None sometimes; request data without "metadata" sometimes
            trace.append(("pre", spec, None if shape < 0.03 else model, glob, shape < 0.2))
        elif r < 0.85:
            trace.append(("success", spec, model, rng.choice([0, 7, 120, 900])))
        elif r < 0.93:
            trace.append(("failure", spec, model, rng.random() < 0.3))
        else:
            trace.append(("post", spec, model, None))
        trace.append(("tick", rng.choices([0.0, 0.001, 0.7, 9.0, 31.0, 61.0], [55, 30, 12, 2, 0.7, 0.3])[0]))
    return trace


def _outcome(exc: BaseException) -> Tuple:
    return (
        type(exc).__name__,
        getattr(exc, "status_code", None),
        str(getattr(exc, "detail", exc)),
        dict(getattr(exc, "headers", None) or {}),
    )


async def run_trace(limiter: Any, clock: Clock, trace: List[Tuple], sizes: Any = None) -> List[Any]:
    import litellm
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy._types import UserAPIKeyAuth

    cache = DualCache()
    out: List[Any] = []
    for ev in trace:
        kind = ev[0]
        if kind == "tick":
            clock.t += ev[1]
            continue
        spec, model = ev[1], ev[2]
        if kind == "pre":
            auth = UserAPIKeyAuth(**spec)
            data: dict = {"model": model, "metadata": {}}
            if ev[3] is not None:
                data["metadata"]["global_max_parallel_requests"] = ev[3]
            elif len(ev) > 4 and ev[4]:
                del data["metadata"]
            try:
                await limiter.async_pre_call_hook(user_api_key_dict=auth, cache=cache, data=data, call_type="completion")
                out.append(("ok", sorted(data.get("metadata", {}).items())))
            except Exception as exc:
                out.append(_outcome(exc))
        elif kind in ("success", "failure"):
            meta = {
                "user_api_key": spec["api_key"],
                "user_api_key_user_id": spec["user_id"],
                "user_api_key_team_id": spec["team_id"],
                "user_api_key_metadata": spec["metadata"],
                "model_group": model,
            }
            kwargs = {"litellm_params": {"metadata": meta}, "user": spec["end_user_id"], "call_type": "completion", "model": model}
            if kind == "success":
                resp = litellm.ModelResponse(usage={"prompt_tokens": ev[3], "completion_tokens": 0, "total_tokens": ev[3]})
                await limiter.async_log_success_event(kwargs, resp, None, None)
            else:
                msg = "Max parallel request limit reached" if ev[3] else "upstream 500"
                kwargs["exception"] = Exception(msg)
                await limiter.async_log_failure_event(kwargs, None, None, None)
            out.append(kind)
        elif kind == "post":
            auth = UserAPIKeyAuth(**spec)
            resp = litellm.ModelResponse()
            await limiter.async_post_call_success_hook(data={"model": model}, user_api_key_dict=auth, response=resp)
            out.append(("post", sorted((resp._hidden_params.get("additional_headers") or {}).items())))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        if sizes is not None:
            sizes.append(len(limiter.internal_usage_cache.dual_cache.in_memory_cache.cache_dict))
    return out


def snapshot(limiter: Any, clock: Clock, scopes: List[str]) -> List[Tuple]:
    """The current minute's counters of every scope string, as (scope, triple)."""
    now = clock.now()
    minute = now.strftime("%Y-%m-%d-%H-%M")
    table = limiter.__dict__.get("_fast_litellm_windows")
    out = []
    for sc in scopes:
        if table is not None:
            from fast_litellm.components.rate_limit.v1 import _window

            got = table.get(_window(now), sc)
            v = None if got is None else {"current_requests": got[0], "current_tpm": got[1], "current_rpm": got[2]}
        else:
            v = limiter.internal_usage_cache.dual_cache.in_memory_cache.get_cache(f"{sc}::{minute}::request_count")
        out.append((sc, v))
    return out


def scopes_of(trace: List[Tuple]) -> List[str]:
    out = set()
    models = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20240620"]
    for ev in trace:
        if ev[0] == "tick":
            continue
        spec = ev[1]
        if spec["api_key"] is not None:
            out.add(spec["api_key"])
            out.update(f"{spec['api_key']}::{m}" for m in models)
        for k in ("user_id", "team_id", "end_user_id"):
            if spec[k] is not None:
                out.add(spec[k])
    return sorted(out)


def compare(n: int, seed: int, fast: Any = True, max_stock_size: List[int] = None) -> Tuple[int, int, List[Any]]:
    """Run stock and accelerated over the same trace: (events, mismatches, first mismatches)."""
    trace = gen_trace(n, seed)
    scopes = scopes_of(trace)
    results = []
    for mode in (False, fast):
        clock = Clock()
        undo = install_clock(clock)
        try:
            limiter = make_limiter(clock, mode)
            loop = asyncio.new_event_loop()
            sizes: List[int] = [] if mode is False else None  # type: ignore[assignment]
            try:
                outs = loop.run_until_complete(run_trace(limiter, clock, trace, sizes))
            finally:
                loop.close()
            if sizes is not None and max_stock_size is not None:
                max_stock_size.append(max(sizes))
            results.append((outs, snapshot(limiter, clock, scopes)))
        finally:
            undo()
    (a, sa), (b, sb) = results
    bad = [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if sa != sb:
        bad.append(("final-cache", len(sa), len(sb)))
    return len(a), len(bad), bad[:5]
