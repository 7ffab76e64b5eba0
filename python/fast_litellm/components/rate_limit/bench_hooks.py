"""Bench harnesses: batches of pre-call checks through a limiter's ``async_pre_call_hook``, built
through LiteLLM's class (so through the patched ``__init__`` when active)."""

from __future__ import annotations

from typing import Any, Callable

BENCH_BATCH = 100


def v1_pre_call_hook() -> Callable[[], Any]:
    """BENCH_BATCH pre-call checks (5,000 rotating keys with rpm/tpm limits) through
    the v1 limiter's async_pre_call_hook inside one run_until_complete, so the
    event loop's per-run cost does not swamp a check. One limiter per activation
    state, built through LiteLLM's class (so the patched __init__ when active)."""
    import asyncio
    import itertools

    from litellm.caching.dual_cache import DualCache
    from litellm.proxy._types import UserAPIKeyAuth

    loop = asyncio.new_event_loop()
    counter = itertools.count()
    limiters: dict = {}
    auths = [UserAPIKeyAuth(api_key=f"sk-bench-{i}", rpm_limit=10**9, tpm_limit=10**9) for i in range(5000)]
    data = {"model": "gpt-4o"}
    cache = DualCache()

    def limiter() -> Any:
        import litellm.proxy.hooks.parallel_request_limiter as prl
        import litellm.proxy.utils as pu

        init = prl._PROXY_MaxParallelRequestsHandler.__init__
        lim = limiters.get(init)
        if lim is None:
            iuc = pu.InternalUsageCache(dual_cache=DualCache(default_in_memory_ttl=1))
            lim = limiters[init] = prl._PROXY_MaxParallelRequestsHandler(iuc)
        return lim

    async def batch(start: int) -> None:
        hook = limiter().async_pre_call_hook
        for i in range(start, start + BENCH_BATCH):
            await hook(user_api_key_dict=auths[i % 5000], cache=cache, data=data, call_type="completion")

    def run() -> None:
        loop.run_until_complete(batch(next(counter) * BENCH_BATCH))

    return run


def v3_pre_call_hook() -> Callable[[], Any]:
    """Like ``v1_pre_call_hook`` for the v3 limiter (the proxy's default):
    BENCH_BATCH checks, 5,000 rotating keys with rpm/tpm limits, no Redis."""
    import asyncio
    import itertools

    from litellm.caching.dual_cache import DualCache
    from litellm.proxy._types import UserAPIKeyAuth

    loop = asyncio.new_event_loop()
    counter = itertools.count()
    limiters: dict = {}
    auths = [UserAPIKeyAuth(api_key=f"sk-bench-{i}", rpm_limit=10**9, tpm_limit=10**9) for i in range(5000)]
    cache = DualCache()

    def limiter() -> Any:
        import litellm.proxy.hooks.parallel_request_limiter_v3 as v3
        import litellm.proxy.utils as pu

        init = v3._PROXY_MaxParallelRequestsHandler_v3.__init__
        lim = limiters.get(init)
        if lim is None:
            iuc = pu.InternalUsageCache(dual_cache=DualCache(default_in_memory_ttl=1))
            lim = limiters[init] = v3._PROXY_MaxParallelRequestsHandler_v3(iuc)
        return lim

    async def batch(start: int) -> None:
        hook = limiter().async_pre_call_hook
        for i in range(start, start + BENCH_BATCH):
            await hook(user_api_key_dict=auths[i % 5000], cache=cache, data={"model": "gpt-4o"}, call_type="completion")

    def run() -> None:
        loop.run_until_complete(batch(next(counter) * BENCH_BATCH))

    return run
