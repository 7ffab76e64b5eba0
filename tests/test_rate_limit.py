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
    fast_init = rate_limit.usage_cache._build_init(InternalUsageCache.__init__)
    iuc = InternalUsageCache.__new__(InternalUsageCache)
    fast_init(iuc, dual_cache=DualCache(default_in_memory_ttl=1))
    assert type(iuc.dual_cache.in_memory_cache) is rate_limit.usage_cache.fast_cache_class()


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
            assert st["reason"] == rate_limit.v1.V1_SKIP_REASON
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
            assert rate_limit.v1.V1_SKIP_REASON in line, line


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
        fast = rate_limit.usage_cache.fast_cache_class()(InMemoryCache(max_size_in_memory=7))
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

    fast = rate_limit.usage_cache.fast_cache_class()(InMemoryCache(max_size_in_memory=1000))

    def work():
        for i in range(5000):
            fast.increment_cache(f"c{i % 10}", 1, ttl=600)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(fast.get_cache(f"c{i}") for i in range(10)) == 8 * 5000


# -- the fused v1 pre-call check (RateLimitV1Fast) ----------------------------------

_ZONE_CHECK = r"""
import datetime as dt, os, random, sys, time
from fast_litellm import _native

def window(d):
    return d.toordinal() * 1440 + d.hour * 60 + d.minute

zones = sys.argv[1:]
rng = random.Random(5)
bad = []
n = 0
for z in zones:
    os.environ["TZ"] = z
    time.tzset()
    secs = set()
    # Every second within 16 minutes before / 1 minute after each UTC-offset change
    # of 2024-2026 (DST starts and ends), found on a 15-minute grid.
    t0 = 1_704_067_200
    prev = time.localtime(t0).tm_gmtoff
    for t in range(t0, t0 + 3 * 366 * 86400, 900):
        off = time.localtime(t).tm_gmtoff
        if off != prev:
            secs.update(range(t - 960, t + 61))
        prev = off
    # Minute boundaries (UTC and local) and random instants, 1850-2150: offsets
    # with seconds (local mean time), historical zone changes.
    for _ in range(4000):
        s = rng.randrange(-3_786_825_600, 5_680_281_600)
        m = s - s % 60
        secs.update((s, m - 61, m - 60, m - 1, m, m + 1, m + 59))
        secs.add(s - time.localtime(s).tm_sec)
        secs.add(s - time.localtime(s).tm_sec - 1)
    for s in sorted(secs):
        n += 1
        want = window(dt.datetime.fromtimestamp(s))
        got = _native.ratelimit_local_minute(s)
        if got != want:
            bad.append((z, s, got, want))
    # datetime.now() is localtime of the floored second of the system clock.
    for _ in range(200):
        a = time.time_ns() // 10**9
        d = dt.datetime.now()
        b = time.time_ns() // 10**9
        if window(d) not in (_native.ratelimit_local_minute(a), _native.ratelimit_local_minute(b)):
            bad.append((z, "now", a, b, window(d)))
print(n, len(bad), bad[:5])
"""

ZONES = [
    "UTC", "America/New_York", "Europe/London", "Europe/Dublin", "Asia/Kolkata", "Asia/Kathmandu",
    "Australia/Lord_Howe", "Pacific/Chatham", "America/St_Johns", "Europe/Amsterdam", "Africa/Monrovia",
]


def test_v1_local_minute_matches_datetime_across_zones():
    """The fused path's minute (localtime_r of the floored system second, native) is
    LiteLLM's "%Y-%m-%d-%H-%M" key of datetime.now(): checked at every second around
    the 2024-2026 offset changes of 11 zones (DST, half/quarter-hour offsets,
    30-minute DST, negative DST) and at minute boundaries of random instants
    1850-2150 (offsets with seconds), against datetime.fromtimestamp."""
    import subprocess

    zones = [z for z in ZONES if os.path.exists(f"/usr/share/zoneinfo/{z}")]
    assert len(zones) >= 6, zones
    out = subprocess.run(
        [sys.executable, "-c", _ZONE_CHECK, *zones], capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )
    assert out.returncode == 0, out.stderr[-2000:]
    n, nbad, first = out.stdout.strip().split(" ", 2)
    assert int(n) > 200_000 and nbad == "0", out.stdout


def _fused(lim):
    from fast_litellm.components import rate_limit
    from litellm.proxy.auth import auth_utils as au

    return rate_limit.v1._v1_fused_check(
        lim, rate_limit.v1.windows_for(lim), rate_limit.common.flavor() == "1.110", au.get_key_model_tpm_limit, au.get_key_model_rpm_limit
    )


def _v1_limiter(clock=None):
    import inspect

    from fast_litellm.components import rate_limit
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy.hooks.parallel_request_limiter import _PROXY_MaxParallelRequestsHandler as cls
    from litellm.proxy.utils import InternalUsageCache

    init = getattr(InternalUsageCache.__init__, "__wrapped__", InternalUsageCache.__init__)
    iuc = InternalUsageCache.__new__(InternalUsageCache)
    init(iuc, dual_cache=DualCache(default_in_memory_ttl=1))
    cls_init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    lim = cls.__new__(cls)
    kwargs = {"clock": clock} if clock is not None and "clock" in inspect.signature(cls_init).parameters else {}
    cls_init(lim, iuc, **kwargs)
    assert rate_limit.v1.accelerate_limiter(lim)
    return lim


def test_v1_fused_check_covers_the_common_case_only(monkeypatch):
    """RateLimitV1Fast.check: None (admitted) for the common case with LiteLLM's
    default clock, counted in the current local minute; 1 (nothing counted:
    the general path runs) for everything it does not cover; 3 for a replaced
    clock; LiteLLM's refusal values for a 429."""
    import datetime as _dt

    import litellm.proxy.hooks.parallel_request_limiter as prl
    import litellm.proxy.proxy_server as ps
    from fast_litellm.components import rate_limit
    from litellm.proxy._types import UserAPIKeyAuth

    v110 = rate_limit.common.flavor() == "1.110"
    monkeypatch.setattr(ps, "llm_router", None)
    lim = _v1_limiter()
    check = _fused(lim)
    table = rate_limit.v1.windows_for(lim)
    data = {"model": "gpt-4o"}
    u = UserAPIKeyAuth(api_key="sk-fused", rpm_limit=2, user_id="u-fused", team_id="t-fused", end_user_id="")
    w0 = rate_limit.v1._window(_dt.datetime.now())
    assert check(u, data) is None
    w1 = rate_limit.v1._window(_dt.datetime.now())
    got = [table.get(w, u.api_key) for w in {w0, w1}]
    assert (1, 0, 1) in got, got
    assert any(table.get(w, "u-fused") == (1, 0, 1) for w in {w0, w1})
    assert all(table.get(w, "") is None for w in {w0, w1})  # "" end user: no scope
    assert check(u, dict(data)) is None
    r = check(u, dict(data))  # third call: the key's rpm (2) refuses
    assert r == (u.api_key, sys.maxsize, sys.maxsize, 2, "key", (2, 0, 2)), r

    def fresh(**kw):
        return UserAPIKeyAuth(api_key="sk-other", rpm_limit=5, **kw)

    other = fresh().api_key  # LiteLLM stores the key's hash

    not_covered = [
        (fresh(), {"model": "gpt-4o", "metadata": {"global_max_parallel_requests": 3}}),
        (fresh(), {"model": "gpt-4o", "metadata": None}),
        (fresh(metadata={"model_rpm_limit": {"gpt-4o": 1}}), data),
        (fresh(metadata={"model_tpm_limit": {"x": 1}}), data),
        (fresh(model_max_budget={"gpt-4o": {"rpm_limit": 1}}), data),
        (fresh(team_metadata={"model_rpm_limit": {"gpt-4o": 1}}), data),
        (fresh(), None),
        (fresh(), [("model", "gpt-4o")]),
    ]
    sub = type("Sub", (UserAPIKeyAuth,), {})
    not_covered.append((sub(api_key="sk-other", rpm_limit=5), data))
    odd = fresh()
    odd.__dict__["tpm_limit"] = 2.5
    not_covered.append((odd, data))
    big = fresh()
    big.__dict__["rpm_limit"] = 2**70
    not_covered.append((big, data))
    if v110:
        not_covered.append((fresh(budget_throttle_pct=0.5), data))
        not_covered.append((fresh(is_session_token=True, key_alias="alias"), data))
    for auth, d in not_covered:
        assert check(auth, d) == 1, (auth.__dict__.get("metadata"), d)
    assert all(table.get(w, other) is None for w in {w0, w1})
    # model None: no router lookup needed
    assert check(fresh(), {"model": None}) is None
    # a router: its deployment defaults may apply (LiteLLM's helpers)
    monkeypatch.setattr(ps, "llm_router", object())
    assert check(fresh(), data) == 1
    monkeypatch.setattr(ps, "llm_router", None)
    # replaced helpers, Redis: LiteLLM's code
    monkeypatch.setattr(prl, "get_key_model_rpm_limit", lambda *a, **k: None)
    assert check(fresh(), data) == 1
    monkeypatch.undo()
    monkeypatch.setattr(ps, "llm_router", None)
    lim.internal_usage_cache.dual_cache.redis_cache = object()
    assert check(fresh(), data) == 1
    lim.internal_usage_cache.dual_cache.redis_cache = None
    # replaced clock: 3, then the given minute is used
    clock = rlt.Clock()
    if v110:
        lim2 = _v1_limiter(clock=clock.now)
        check2 = _fused(lim2)
        assert check2(fresh(), data) == 3
        assert check2(fresh(), data, 12345) is None
        assert rate_limit.v1.windows_for(lim2).get(12345, other) == (1, 0, 1)
    else:
        undo = rlt.install_clock(clock)
        try:
            assert check(fresh(), data) == 3
            assert check(fresh(), data, 12345) is None
            assert table.get(12345, other) == (1, 0, 1)
        finally:
            undo()


def test_v1_minute_cache_matches_uncached():
    from fast_litellm import _native

    lim = _v1_limiter()
    fast = _fused(lim).__self__
    for s in [1_767_225_599, 1_767_225_600, 1_767_225_600, 1_767_225_659, 1_767_225_660, 1_767_225_600, 0, -1, -61]:
        assert fast.minute_at(s) == _native.ratelimit_local_minute(s), s
