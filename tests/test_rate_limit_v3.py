"""The v3 proxy limiter (LiteLLM's default ``parallel_request_limiter`` hook) on
the Rust fixed-window table: decision parity with stock on a generated trace,
the one deliberate difference (stock's 200-item cap), the patch per version."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import rate_limit_trace_v3 as rlt  # noqa: E402

TRACE_CALLS = int(os.environ.get("FAST_LITELLM_RL_TRACE", "100000"))


def _v3_supported() -> bool:
    from fast_litellm.registry import litellm_version
    from packaging.version import Version

    return Version(litellm_version()) < Version("1.84")


needs_v3 = pytest.mark.skipif(not _v3_supported(), reason="rate_limit.v3_limiter supports 1.83.x only")


@pytest.fixture(scope="module", autouse=True)
def _quiet():
    import litellm.proxy.proxy_server  # noqa: F401  (heavy import, once)

    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def test_v3_patch_per_version():
    """On 1.83.x the proxy's v3 limiter gets our hooks; elsewhere it is left alone (narrow supports)."""
    import fast_litellm
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as cls
    from litellm.proxy.utils import InternalUsageCache

    fast_litellm.activate()
    try:
        st = {p["name"]: p for p in fast_litellm.status()["patches"]}
        lim = cls(InternalUsageCache(DualCache(default_in_memory_ttl=1)))
        if _v3_supported():
            assert st["rate_limit.v3_limiter"]["state"] == "applied"
            assert "_fast_litellm_v3" in lim.__dict__ and "async_pre_call_hook" in lim.__dict__
        else:
            assert st["rate_limit.v3_limiter"]["state"] != "applied"
            assert "_fast_litellm_v3" not in lim.__dict__
        from fast_litellm.components import rate_limit

        callers = {p.name: p.callers for p in rate_limit.PATCHES}
        assert "LEGACY_MULTI_INSTANCE_RATE_LIMITING=true" in callers["rate_limit.v1_limiter"]
        assert "every proxy request by default" in callers["rate_limit.v3_limiter"]
    finally:
        fast_litellm.deactivate()


@needs_v3
def test_v3_three_rpm_admits_exactly_three_of_six():
    from litellm.proxy._types import UserAPIKeyAuth

    clock = rlt.Clock()
    undo = rlt.install_clock(clock)
    try:
        lim = rlt.make_limiter(clock, True)

        async def go():
            outs = []
            for _ in range(6):
                try:
                    await lim.async_pre_call_hook(
                        user_api_key_dict=UserAPIKeyAuth(api_key="hk-3", rpm_limit=3), cache=None, data={}, call_type="completion"
                    )
                    outs.append(200)
                except Exception as exc:
                    outs.append(exc.status_code)
                    assert "Rate limit exceeded for api_key: hk-3. Limit type: requests. Current limit: 3, Remaining: 0." in exc.detail
                    assert exc.headers["retry-after"] == "60"
            return outs

        assert asyncio.new_event_loop().run_until_complete(go()) == [200, 200, 200, 429, 429, 429]
    finally:
        undo()


@needs_v3
def test_v3_trace_parity_with_stock():
    """100,000 generated events (pre-call with key/user/team/team-member/end-user/
    model limits incl. None and 0, success with token counts, failure, post-call
    headers; time advancing across windows and past the cache TTLs): every
    outcome (admit + RateLimitResponse, 429 class/status/detail/headers, response
    headers) and every final cache entry identical. Stock's cache stays under its
    200-item cap (else stock itself forgets counters)."""
    sizes: list = []
    n, bad, first = rlt.compare(TRACE_CALLS, seed=20261125, max_stock_size=sizes)
    assert n > 0.8 * TRACE_CALLS
    assert sizes and sizes[0] < 200
    assert bad == 0, first


@needs_v3
def test_v3_above_stock_cap_we_keep_limiting():
    from litellm.proxy._types import UserAPIKeyAuth

    clock = rlt.Clock()
    undo = rlt.install_clock(clock)
    try:
        admitted = {}
        for fast in (False, True):
            lim = rlt.make_limiter(clock, fast)

            async def go():
                ok = 0
                for _ in range(2):
                    for i in range(300):
                        auth = UserAPIKeyAuth(api_key=f"sk-cap-{i}", rpm_limit=1)
                        try:
                            await lim.async_pre_call_hook(user_api_key_dict=auth, cache=None, data={}, call_type="completion")
                            ok += 1
                        except Exception as exc:
                            assert exc.status_code == 429
                        clock.t += 0.001
                return ok

            admitted[fast] = asyncio.new_event_loop().run_until_complete(go())
        assert admitted[True] == 300  # exactly one per key per window
        assert admitted[False] > 300  # stock: evicted counters admit again
    finally:
        undo()


@needs_v3
def test_v3_redis_configured_runs_litellms_code():
    """With Redis on the usage cache every hook is LiteLLM's own (its Lua scripts)."""
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy._types import UserAPIKeyAuth
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as cls
    from litellm.proxy.utils import InternalUsageCache

    from fast_litellm.components import rate_limit

    calls = []

    class FakeRedis:
        def async_register_script(self, script):
            async def run(keys, args):
                calls.append(len(keys))
                return [args[0] if i % 2 == 0 else 1 for i in range(len(keys))]

            return run

    iuc = InternalUsageCache(DualCache(default_in_memory_ttl=1))
    iuc.dual_cache.redis_cache = FakeRedis()
    lim = cls.__new__(cls)
    getattr(cls.__init__, "__wrapped__", cls.__init__)(lim, iuc)
    assert rate_limit.v3_183.accelerate_v3_limiter(lim)
    data: dict = {}

    async def go():
        await lim.async_pre_call_hook(
            user_api_key_dict=UserAPIKeyAuth(api_key="sk-r", rpm_limit=5), cache=None, data=data, call_type="completion"
        )

    asyncio.new_event_loop().run_until_complete(go())
    assert calls == [2]  # LiteLLM's batch script ran
    assert lim.__dict__["_fast_litellm_v3"].get("api_key:sk-r", 1, 1e12) is None


def test_v3_table_exact_under_threads():
    from fast_litellm import _native

    t = _native.RateLimitFixedWindows()
    admitted = []

    def work():
        ok = 0
        for i in range(3000):
            r = t.check([f"api_key:k{i % 20}"], ["api_key"], [500, None, None], 100, 100.5, 60)
            ok += r["overall_code"] == "OK"
        admitted.append(ok)

    ts = [threading.Thread(target=work) for _ in range(8)]
    for x in ts:
        x.start()
    for x in ts:
        x.join()
    assert sum(admitted) == 20 * 500


def test_patched_constructors_keep_their_signature():
    """LiteLLM's _add_proxy_hooks picks a hook's constructor arguments with
    inspect.getfullargspec (which ignores __wrapped__): our wrappers must show
    the original parameters, or the proxy cannot build its limiter."""
    import inspect

    import fast_litellm
    from litellm.proxy.hooks.parallel_request_limiter import _PROXY_MaxParallelRequestsHandler as v1
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as v3

    fast_litellm.activate()
    try:
        assert "internal_usage_cache" in inspect.getfullargspec(v3).args
        assert "internal_usage_cache" in inspect.getfullargspec(v1).args
    finally:
        fast_litellm.deactivate()


_CHILD = r"""
import sys
from fast_litellm import _native
t = _native.RateLimitFixedWindows(sys.argv[1], 4096)
ok = 0
for i in range(int(sys.argv[2])):
    r = t.check(["api_key:k%d" % (i % 7)], ["api_key"], [10**9, None, None], 100, 100.5, 60)
    ok += r["overall_code"] == "OK"
    t.increment([("api_key:k%d" % (i % 7), 2, 3)], 100.5, 600.0)
print(ok)
"""


def test_v3_shared_table_four_processes_lose_no_increment(tmp_path):
    import subprocess

    from fast_litellm import _native

    path = str(tmp_path / "rl.v3")
    n = 5000
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, path, str(n)], stdout=subprocess.PIPE) for _ in range(4)]
    oks = [int(p.communicate(timeout=300)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs) and sum(oks) == 4 * n
    t = _native.RateLimitFixedWindows(path, 4096)
    assert t.shared and t.capacity == 4096
    assert sum(t.get(f"api_key:k{i}", 1, 100.5) for i in range(7)) == 4 * n  # requests
    assert sum(t.get(f"api_key:k{i}", 2, 100.5) for i in range(7)) == 3 * 4 * n  # tokens


def _edge_trace(n: int, seed: int) -> list:
    """Requests around the fused native path's edges: empty ids, team-member and
    end-user token limits, model limits missing/None/empty/unlisted, non-dynamic
    limit types, organisation limits, team metadata, router deployment defaults."""
    import random

    rng = random.Random(seed)

    def lim(lo: int, hi: int):
        x = rng.random()
        return None if x < 0.35 else (0 if x < 0.4 else rng.randint(lo, hi))

    specs = []
    for i in range(16):
        m = rng.choice(rlt.MODELS)
        spec = {
            "api_key": rng.choice([f"hk-e{i}", f"hk-e{i}", ""]),
            "rpm_limit": lim(1, 9),
            "tpm_limit": lim(20, 300),
            "max_parallel_requests": rng.choice([None, None, 2]),
            "user_id": rng.choice([None, "", "u-1", "u-2"]),
            "user_rpm_limit": lim(2, 12),
            "team_id": rng.choice([None, "", "t-1"]),
            "team_tpm_limit": lim(50, 500),
            "team_member_rpm_limit": lim(2, 8),
            "team_member_tpm_limit": lim(30, 200),
            "end_user_id": rng.choice([None, "", "e-1"]),
            "end_user_tpm_limit": lim(20, 300),
            "metadata": rng.choice(
                [
                    {},
                    {"model_rpm_limit": {m: None}},
                    {"model_rpm_limit": {}, "model_tpm_limit": {m: 50}},
                    {"model_tpm_limit": {"not-a-model": 5}},
                    {"rpm_limit_type": "best_effort_throughput"},
                    {"tpm_limit_type": "guaranteed_throughput", "model_rpm_limit": {m: 3}},
                ]
            ),
        }
        if rng.random() < 0.15:
            spec["org_id"] = "o-1"
            spec["organization_rpm_limit"] = rng.randint(3, 9)
        if rng.random() < 0.1:
            spec["team_metadata"] = {"model_tpm_limit": {m: 90}}
        specs.append(spec)
    out: list = []
    for _ in range(n):
        x = rng.random()
        if x < 0.15:
            out.append(("tick", rng.uniform(0.001, 25.0)))
            continue
        spec = rng.choice(specs)
        model = rng.choice(rlt.MODELS)
        out.append(("pre", spec, model, None) if x < 0.8 else ("success", spec, model, rng.randint(0, 40)))
    return out


@needs_v3
def test_v3_fused_path_edges_match_stock(monkeypatch):
    """The one-call native path (common case) and its hand-offs to LiteLLM's
    builders decide exactly like stock, with and without a router whose
    deployments carry default_api_key_{rpm,tpm}_limit (LiteLLM's helpers read it)."""
    import litellm.proxy.proxy_server as ps
    from fast_litellm.components import rate_limit

    class _Router:
        def get_model_list(self, model_name=None, team_id=None):
            if model_name == "gpt-4o":
                return [{"model_name": model_name, "litellm_params": {"default_api_key_rpm_limit": 4}}]
            if model_name == "gpt-4o-mini":
                return [{"model_name": model_name, "litellm_params": {"default_api_key_tpm_limit": "70"}}]
            return []

    trace = _edge_trace(2500, seed=7)
    for router in (None, _Router()):
        monkeypatch.setattr(ps, "llm_router", router)
        outs = []
        for fast in (False, True):
            clock = rlt.Clock()
            undo = rlt.install_clock(clock)
            try:
                lim = rlt.make_limiter(clock, fast)
                if fast:
                    assert rate_limit.v3_183.fused_v3_check(lim, lim._fast_litellm_v3) is not None
                loop = asyncio.new_event_loop()
                try:
                    outs.append(loop.run_until_complete(rlt.run_trace(lim, clock, trace)))
                finally:
                    loop.close()
            finally:
                undo()
        a, b = outs
        assert len(a) == len(b) > 2000
        bad = [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y]
        assert not bad, bad[:3]
        assert sum(1 for x in a if x[0] != "ok" and x != "success") > 50  # refusals were exercised


def test_fused_clock_is_litellms_clock():
    """The native clock reading gives int(datetime.now().timestamp()) and
    time.time() of one instant: datetime.now() truncates to the microsecond
    (checked: it never runs ahead of a later time_ns()) and round-trips through
    local time; time.time() is CPython's ns -> float conversion."""
    import datetime
    import time

    from fast_litellm import _native

    for _ in range(20000):
        d = datetime.datetime.now()
        after = time.time_ns()
        assert int(d.timestamp()) * 1_000_000 + d.microsecond <= after // 1000
    for _ in range(2000):
        a = int(datetime.datetime.now().timestamp())
        ta = time.time()
        sec, now = _native.ratelimit_clocks()
        tb = time.time()
        b = int(datetime.datetime.now().timestamp())
        assert a <= sec <= b and ta <= now <= tb and (sec == int(now) or now == float(sec + 1))
    for ns in (1_767_225_000_999_999_999, 1_767_225_000_000_000_000, 1_767_225_000_123_456_789, 999, 10**9):
        sec, now = _native.ratelimit_clocks_from_ns(ns)
        assert sec == ns // 10**9
        assert now == (ns // 10**9 if ns % 10**9 == 0 else ns) / (1 if ns % 10**9 == 0 else 1e9)


def test_lock_owner_id_follows_fork(tmp_path):
    """Slot locks carry the owner's pid (a dead owner's lock is taken over); the pid
    is cached, so a forked worker must get its own, not its parent's."""
    from fast_litellm import _native

    t = _native.RateLimitFixedWindows(str(tmp_path / "t.shm"), 4096)
    t.check(["api_key:k"], ["api_key"], [10, None, None], 100, 100.5, 60)
    assert _native.ratelimit_lock_owner() == os.getpid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            ok = _native.ratelimit_lock_owner() == os.getpid()
            t.check(["api_key:k"], ["api_key"], [10, None, None], 100, 100.5, 60)
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.waitpid(pid, 0)
    assert got == b"1"
    assert _native.ratelimit_lock_owner() == os.getpid()
    assert t.get("api_key:k", 1, 100.5) == 2
