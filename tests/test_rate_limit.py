"""Rate-limit component: the proxy limiter's counter store in Rust.

Parity: LiteLLM's own v1 limiter (ProxyLogging.max_parallel_request_limiter)
runs over stock InMemoryCache and over the Rust store on the same generated
trace (keys, limits, token counts, clock advancing across minute windows, more
live keys than the cache's 200-item cap), and every outcome must match.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import rate_limit_trace as rlt  # noqa: E402

TRACE_CALLS = int(os.environ.get("FAST_LITELLM_RL_TRACE", "100000"))


@pytest.fixture(scope="module", autouse=True)
def _quiet():
    import litellm.proxy.proxy_server  # noqa: F401  (heavy import, once)

    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def test_patch_is_off_with_reason_and_swap_works():
    """The patch ships off (not a measured win); its build still swaps the store."""
    import fast_litellm
    from fast_litellm.components import rate_limit
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy.utils import InternalUsageCache, ProxyLogging

    fast_litellm.activate()
    st = {p["name"]: p for p in fast_litellm.status()["patches"]}
    assert st["rate_limit.internal_usage_cache"]["state"] == "skipped"
    assert "off by default" in st["rate_limit.internal_usage_cache"]["reason"]
    pl = ProxyLogging(user_api_key_cache=DualCache())
    assert type(pl.internal_usage_cache.dual_cache.in_memory_cache).__name__ == "InMemoryCache"
    fast_init = rate_limit._build_init(InternalUsageCache.__init__)
    iuc = InternalUsageCache.__new__(InternalUsageCache)
    fast_init(iuc, dual_cache=DualCache(default_in_memory_ttl=1))
    assert type(iuc.dual_cache.in_memory_cache) is rate_limit.fast_cache_class()


def test_v1_patch_follows_the_legacy_switch(monkeypatch):
    """The proxy calls v1 only with LEGACY_MULTI_INSTANCE_RATE_LIMITING=true: without
    it the patch is skipped (with the reason) and the class is LiteLLM's; with it,
    applied and installed; deactivate() restores either way."""
    import fast_litellm
    from fast_litellm.components import rate_limit
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy.hooks import parallel_request_limiter as prl
    from litellm.proxy.utils import InternalUsageCache

    stock_init = prl._PROXY_MaxParallelRequestsHandler.__dict__["__init__"]
    stock_init = getattr(stock_init, "__wrapped__", stock_init)

    def v1_state():
        return {p["name"]: p for p in fast_litellm.status()["patches"]}["rate_limit.v1_limiter"]

    def new_limiter():
        return prl._PROXY_MaxParallelRequestsHandler(InternalUsageCache(DualCache(default_in_memory_ttl=1)))

    fast_litellm.deactivate()
    try:
        for off in (None, "false", "0", "yes"):
            if off is None:
                monkeypatch.delenv("LEGACY_MULTI_INSTANCE_RATE_LIMITING", raising=False)
            else:
                monkeypatch.setenv("LEGACY_MULTI_INSTANCE_RATE_LIMITING", off)
            fast_litellm.activate()
            st = v1_state()
            assert st["state"] == "skipped", st
            assert st["reason"] == rate_limit.V1_SKIP_REASON
            assert prl._PROXY_MaxParallelRequestsHandler.__dict__["__init__"] is stock_init
            assert "_fast_litellm_windows" not in new_limiter().__dict__
            fast_litellm.deactivate()
        for on in ("true", "TRUE", "True"):
            monkeypatch.setenv("LEGACY_MULTI_INSTANCE_RATE_LIMITING", on)
            fast_litellm.activate()
            st = v1_state()
            assert st["state"] == "applied", st
            assert "_fast_litellm_windows" in new_limiter().__dict__
            fast_litellm.deactivate()
            assert prl._PROXY_MaxParallelRequestsHandler.__dict__["__init__"] is stock_init
            assert "_fast_litellm_windows" not in new_limiter().__dict__
    finally:
        monkeypatch.delenv("LEGACY_MULTI_INSTANCE_RATE_LIMITING", raising=False)
        fast_litellm.activate()


def test_doctor_reports_v1_per_legacy_switch():
    """`fast-litellm doctor` (a fresh process) shows v1 skipped with the reason, or applied."""
    import subprocess

    from fast_litellm.components import rate_limit

    for flag, want in ((None, "skipped"), ("true", "applied")):
        env = dict(os.environ)
        env.pop("LEGACY_MULTI_INSTANCE_RATE_LIMITING", None)
        if flag:
            env["LEGACY_MULTI_INSTANCE_RATE_LIMITING"] = flag
        out = subprocess.run(
            [sys.executable, "-m", "fast_litellm.cli", "doctor"], env=env, capture_output=True, text=True, timeout=300
        ).stdout
        line = next(ln for ln in out.splitlines() if "rate_limit.v1_limiter" in ln)
        assert f"[{want:>7}]" in line, out
        if want == "skipped":
            assert rate_limit.V1_SKIP_REASON in line, line


def test_three_rpm_admits_exactly_three_of_six():
    from litellm.proxy._types import UserAPIKeyAuth

    clock = rlt.Clock()
    undo = rlt.install_clock(clock)
    try:
        lim = rlt.make_limiter(clock, fast=True)
        auth = UserAPIKeyAuth(api_key="sk-three", rpm_limit=3)

        async def go():
            ok = 0
            errs = []
            for _ in range(6):
                try:
                    await lim.async_pre_call_hook(user_api_key_dict=auth, cache=None, data={"model": "gpt-4o"}, call_type="completion")
                    ok += 1
                except Exception as exc:
                    errs.append(exc)
                await asyncio.sleep(0)
            return ok, errs

        ok, errs = asyncio.new_event_loop().run_until_complete(go())
        assert ok == 3 and len(errs) == 3
        assert all(getattr(e, "status_code", None) == 429 for e in errs)
        assert "rpm limit: 3" in str(errs[0].detail)
    finally:
        undo()


def test_cache_semantics_match_stock_directly():
    """Same ops on stock InMemoryCache and the Rust one (tiny cap, ties, TTLs, odd values)."""
    import random

    from litellm.caching.in_memory_cache import InMemoryCache

    from fast_litellm.components import rate_limit

    clock = rlt.Clock()
    undo = rlt.install_clock(clock)
    try:
        stock = InMemoryCache(max_size_in_memory=7)
        fast = rate_limit.fast_cache_class()(InMemoryCache(max_size_in_memory=7))
        if hasattr(stock, "_clock"):
            stock._clock = clock.time
            fast._clock = clock.time
        rng = random.Random(5)
        values = [1, -3, 2**70, True, 1.5, "x", '{"a": 1}', None, {"current_requests": 1, "current_tpm": 2, "current_rpm": 3},
                  {"current_tpm": 2, "current_requests": 1, "current_rpm": 3}, [1, 2], {"a": 1}]
        for i in range(20000):
            k = f"k{rng.randrange(15)}"
            op = rng.random()
            if op < 0.45:
                v = rng.choice(values)
                ttl = rng.choice([None, 1, 5, 60])
                for c in (stock, fast):
                    c.set_cache(k, v, ttl=ttl)
            elif op < 0.8:
                assert stock.get_cache(k) == fast.get_cache(k), i
            elif op < 0.9:
                assert stock.increment_cache(k + "n", 2, ttl=3) == fast.increment_cache(k + "n", 2, ttl=3)
            elif op < 0.92:
                stock.delete_cache(k)
                fast.delete_cache(k)
            else:
                clock.t += rng.choice([0.0, 0.5, 2.0, 7.0])
            assert len(stock.cache_dict) == len(fast.cache_dict), i
            assert stock.ttl_dict == fast.ttl_dict, i
            assert sorted(stock.expiration_heap) == fast.expiration_heap, i
    finally:
        undo()


def test_trace_parity_with_stock_limiter():
    """Our v1 hooks on the Rust window table vs LiteLLM's hooks on its cache."""
    sizes: list = []
    n, nbad, first = rlt.compare(TRACE_CALLS, seed=20261124, fast=True, max_stock_size=sizes)
    assert n == TRACE_CALLS
    assert nbad == 0, first
    assert sizes[0] < 200  # stock never hit its cap: no counter was forgotten


def test_trace_parity_store_swap():
    """The off-by-default store swap (stock hooks on the Rust InMemoryCache)."""
    n, nbad, first = rlt.compare(TRACE_CALLS // 10, seed=7, fast="store")
    assert nbad == 0, first


def test_above_stock_cap_we_keep_limiting():
    """The one deliberate difference: with more live counters than stock's 200-item
    cache, stock forgets counters and admits again; ours keeps every counter."""
    from litellm.proxy._types import UserAPIKeyAuth

    clock = rlt.Clock()
    undo = rlt.install_clock(clock)
    try:
        admitted = {}
        for fast in (False, True):
            lim = rlt.make_limiter(clock, fast)

            async def go():
                ok = 0
                for rnd in range(2):
                    for i in range(300):
                        auth = UserAPIKeyAuth(api_key=f"sk-cap-{i}", rpm_limit=1)
                        try:
                            await lim.async_pre_call_hook(user_api_key_dict=auth, cache=None, data={}, call_type="completion")
                            ok += 1
                        except Exception as exc:
                            assert getattr(exc, "status_code", None) == 429
                        await asyncio.sleep(0)
                return ok

            admitted[fast] = asyncio.new_event_loop().run_until_complete(go())
        assert admitted[True] == 300  # exactly one per key per minute
        assert admitted[False] > 300  # stock: evicted counters re-admit
    finally:
        undo()


def test_window_table_exact_under_threads():
    """8 threads admitting and releasing through the native table: exact counts."""
    from fast_litellm import _native

    t = _native.RateLimitWindows()
    big = 2**63 - 1

    def work():
        for i in range(4000):
            k = f"k{i % 10}"
            r, _, _ = t.admit(5, [k], [big, big, 10**6])
            if r < 0:
                t.release(5, [(k, 1, 2, (1, 0, 0))])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert [t.get(5, f"k{i}") for i in range(10)] == [(0, 2 * 3200, 3200)] * 10


def test_counters_exact_under_threads():
    """8 threads incrementing the same counters: no lost increments."""
    from litellm.caching.in_memory_cache import InMemoryCache

    from fast_litellm.components import rate_limit

    fast = rate_limit.fast_cache_class()(InMemoryCache(max_size_in_memory=1000))

    def work():
        for i in range(5000):
            fast.increment_cache(f"c{i % 10}", 1, ttl=600)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(fast.get_cache(f"c{i}") for i in range(10)) == 8 * 5000
