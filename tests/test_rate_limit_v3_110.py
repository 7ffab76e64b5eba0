"""LiteLLM 1.110.x's v3 proxy limiter on our store (``rate_limit.v3_110_store``): decisions
identical to stock on a generated trace, store semantics identical to LiteLLM's
``NativeRateLimits`` memory tier, no 200-entry cap, one limit across processes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("litellm")

from fast_litellm.registry import litellm_version  # noqa: E402

V110 = (litellm_version() or "").startswith("1.110.")
pytestmark = pytest.mark.skipif(not V110, reason="the 1.110.x v3 limiter")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    import fast_litellm

    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.delenv("FAST_LITELLM_RATE_LIMIT_SHM", raising=False)
    # These tests read the patches' state: start active whatever an earlier test file left.
    fast_litellm.activate()
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def test_trace_parity_with_stock():
    """Stock (LiteLLM's hook on LiteLLM's store) vs the fused pre-call hook on our store:
    outcomes, request stashes and final stores identical over 100,000 events, a good
    share of the pre-calls answered by the fused path."""
    import rate_limit_trace_v3_110 as t

    from fast_litellm.components.rate_limit import v3_110 as m

    m.FUSED.fused = m.FUSED.delegated = 0
    n, bad, first, used = t.compare(100_000, seed=110)
    assert n > 80_000
    assert bad == 0, first
    assert used > 30  # the trace did reach our table
    assert m.FUSED.fused > 12_000 and m.FUSED.fused > 0.25 * (m.FUSED.fused + m.FUSED.delegated), vars(m.FUSED)


def test_trace_parity_fused_on_litellm_store():
    """The fused hook on LiteLLM's own store (the default: the store patch is off in one process)."""
    import rate_limit_trace_v3_110 as t

    from fast_litellm.components.rate_limit import v3_110 as m

    m.FUSED.fused = m.FUSED.delegated = 0
    n, bad, first, _ = t.compare(30_000, seed=1110, fast_store=False)
    assert n > 25_000
    assert bad == 0, first
    assert m.FUSED.fused > 3_000, vars(m.FUSED)


def test_trace_parity_with_router_loaded():
    """The same comparison with a router loaded as a proxy with a model_list has it
    (``proxy_server.llm_router``): requests name plain groups, model_group_alias aliases (plain
    and to a group with deployment key defaults), wildcard routes with and without defaults,
    unknown models and ``-latest`` aliases; halfway through each segment the router's model list
    is replaced (a plain group gains a default, another loses its). Outcomes, stashes (the
    resolved model group included) and final stores identical; keys in the covered case with a
    plain model are answered by the fused path."""
    import rate_limit_trace_v3_110 as t

    from fast_litellm.components.rate_limit import v3_110 as m

    m.FUSED.fused = m.FUSED.delegated = 0
    n, bad, first, used = t.compare(20_000, seed=210, n_keys=4, segment=5_000, router=True)
    assert n > 16_000
    assert bad == 0, first
    assert used > 30
    # ~48% of pre-calls are a covered key, ~60% of those a plain shape, ~60% of those a model
    # whose group has no deployment key default: ~17% of all pre-calls.
    assert m.FUSED.fused > 1_200 and m.FUSED.fused > 0.12 * (m.FUSED.fused + m.FUSED.delegated), vars(m.FUSED)


def test_trace_parity_with_router_on_litellm_store():
    import rate_limit_trace_v3_110 as t

    from fast_litellm.components.rate_limit import v3_110 as m

    m.FUSED.fused = m.FUSED.delegated = 0
    n, bad, first, _ = t.compare(8_000, seed=2110, n_keys=4, segment=4_000, fast_store=False, router=True)
    assert n > 6_000
    assert bad == 0, first
    assert m.FUSED.fused > 400, vars(m.FUSED)


def test_store_semantics_match_native_rate_limits():
    import rate_limit_trace_v3_110 as t

    assert t.store_fuzz(10_000, seed=7) == []


def _limiter(fast: bool):
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as cls
    from litellm.proxy.utils import InternalUsageCache

    from fast_litellm.components.rate_limit import v3_110 as m

    init = getattr(InternalUsageCache.__init__, "__wrapped__", InternalUsageCache.__init__)
    iuc = InternalUsageCache.__new__(InternalUsageCache)
    init(iuc, dual_cache=DualCache(default_in_memory_ttl=1))
    cls_init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    lim = cls.__new__(cls)
    cls_init(lim, iuc)
    if fast:
        assert m.accelerate(lim)
    return lim


async def _admitted(lim, key: str, calls: int, **limits) -> int:
    from litellm.proxy._types import UserAPIKeyAuth

    auth = UserAPIKeyAuth(api_key=key, **limits)
    ok = 0
    for _ in range(calls):
        data = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
        try:
            await lim.async_pre_call_hook(user_api_key_dict=auth, cache=None, data=data, call_type="acompletion")
            ok += 1
        except Exception as exc:  # the limiter's 429
            assert getattr(exc, "status_code", None) == 429
    return ok


def test_three_rpm_admits_three_of_six():
    lim = _limiter(True)
    assert asyncio.run(_admitted(lim, "hk-three", 6, rpm_limit=3, tpm_limit=100_000)) == 3


def test_above_stock_cap_we_keep_limiting():
    """Stock's store holds 200 entries: with 150 keys limited to 1 rpm it forgets
    and admits second calls; ours refuses every one of them."""

    async def run(lim) -> int:
        for i in range(150):
            await _admitted(lim, f"hk-cap-{i}", 1, rpm_limit=1)
        again = 0
        for i in range(150):
            again += await _admitted(lim, f"hk-cap-{i}", 1, rpm_limit=1)
        return again

    assert asyncio.run(run(_limiter(True))) == 0
    assert asyncio.run(run(_limiter(False))) > 0  # the documented difference


def test_redis_or_given_store_is_left_to_litellm():
    from fast_litellm.components.rate_limit import v3_110 as m

    lim = _limiter(False)
    assert not m.accelerate(lim, given_store=object())
    lim.internal_usage_cache.dual_cache.redis_cache = object()
    assert not m.accelerate(lim)
    lim.internal_usage_cache.dual_cache.redis_cache = None
    assert m.accelerate(lim)
    assert not m.accelerate(lim)  # once


def test_init_patch_accelerates_new_limiters():
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as cls
    from litellm.proxy.utils import InternalUsageCache

    from fast_litellm.components.rate_limit import v3_110 as m

    original = getattr(cls.__init__, "__wrapped__", cls.__init__)
    init = m._build_init(original)
    iuc = InternalUsageCache(dual_cache=DualCache(default_in_memory_ttl=1))
    lim = cls.__new__(cls)
    init(lim, iuc)
    assert "_fast_litellm_v3b" in lim.__dict__
    assert asyncio.run(_admitted(lim, "hk-init", 4, rpm_limit=2)) == 2


def test_store_patch_follows_the_shared_table(monkeypatch):
    """On where workers share a table (the launcher sets FAST_LITELLM_RATE_LIMIT_SHM) or
    when FAST_LITELLM_RATE_LIMIT=1 asks for it; otherwise skipped with the reason."""
    from fast_litellm.components import rate_limit
    from fast_litellm.components.rate_limit import v3_110 as m

    p = [p for p in rate_limit.PATCHES if p.name == "rate_limit.v3_110_store"][0]
    assert p.supports == ">=1.110,<1.111" and not p.off_by_default
    monkeypatch.delenv("FAST_LITELLM_RATE_LIMIT_SHM", raising=False)
    monkeypatch.delenv("FAST_LITELLM_RATE_LIMIT", raising=False)
    assert p.requires() == m.STORE_SKIP_REASON
    monkeypatch.setenv("FAST_LITELLM_RATE_LIMIT", "1")
    assert p.requires() is None
    monkeypatch.delenv("FAST_LITELLM_RATE_LIMIT")
    monkeypatch.setenv("FAST_LITELLM_RATE_LIMIT_SHM", "/tmp/x.shm")
    assert p.requires() is None
    assert any(b.name == "rate_limit.v3_110_pre_call_hook" for b in rate_limit.BENCHMARKS)


WORKER = textwrap.dedent(
    r"""
    import asyncio, json, logging, os, sys, time
    logging.disable(logging.CRITICAL)
    sys.path.insert(0, sys.argv[1])
    import test_rate_limit_v3_110 as t
    from fast_litellm.components.rate_limit import v3_110 as m
    from litellm.redis.stores.rate_limits import CounterIncrement, RateLimitScope
    lim = t._limiter(True)
    ready = sys.argv[2]
    open(os.path.join(ready, str(os.getpid())), "w").close()
    deadline = time.time() + 120
    while len(os.listdir(ready)) < 4 and time.time() < deadline:  # start together
        time.sleep(0.002)
    admitted = asyncio.run(t._admitted(lim, "hk-shared", int(sys.argv[3]), rpm_limit=int(sys.argv[4]), tpm_limit=10**9))
    tokens = RateLimitScope("user", "u-shared").counter("tokens")
    async def incs():
        for _ in range(int(sys.argv[5])):
            await lim.rate_limits.increment(CounterIncrement(tokens, 1, 600))
    asyncio.run(incs())
    print(json.dumps({"admitted": admitted, "tokens": lim.rate_limits.local((tokens,))[0]}))
    """
)


def test_four_processes_one_limit_no_lost_increment(tmp_path):
    """4 processes on one mapped file: a key limited to N rpm admits exactly N of
    4 x N calls made at once, and 4 x 2,000 increments of one counter are all kept."""
    n, per, incs = 60, 60, 2000
    env = dict(os.environ, FAST_LITELLM_RATE_LIMIT_SHM=str(tmp_path / "rl.shm"), FAST_LITELLM_RATE_LIMIT_SHM_SLOTS="4096")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), HERE) if p)
    ready = tmp_path / "ready"
    ready.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, HERE, str(ready), str(per), str(n), str(incs)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(o["admitted"] for o in outs) == n
    assert max(o["tokens"] for o in outs) == 4 * incs
    assert os.path.exists(str(tmp_path / "rl.shm") + ".v3b")


# -- rate_limit.v3_110_inline_estimates ---------------------------------------------


def _offloads():
    import litellm.litellm_core_utils.token_counter as tc

    from fast_litellm.components.rate_limit import v3_110 as m

    original = getattr(tc.offload_token_count, "__wrapped__", tc.offload_token_count)
    return original, m._build_offload(original)


def test_small_text_request():
    from fast_litellm.components.rate_limit.v3_110 import small_text_request as small

    assert small({"model": "m"})
    assert small({"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None}]})
    assert not small({"messages": [{"role": "user", "content": "x" * 2001}]})
    assert not small({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    assert not small({"messages": [{"role": "user", "content": "hi", "tool_calls": []}]})
    assert not small({"messages": [{"role": "user", "content": "hi"}], "tools": [{}]})
    assert not small({"input": "embed me"})
    assert not small({"prompt": "complete me"})
    assert not small({"messages": "hi"})
    assert not small(None)


def test_inline_estimates_equal_litellm():
    import random

    original, fast = _offloads()
    lim = _limiter(False)
    rng = random.Random(3)
    words = ["hello", "wörld", "token", "🙂", "rate", "limit", " ", "\n", "1234", "x" * 40]
    shapes = []
    for i in range(300):
        content = "".join(rng.choice(words) for _ in range(rng.choice([0, 1, 5, 50, 400])))
        data = {"model": rng.choice(["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20240620", "unknown-model"]), "messages": [{"role": "user", "content": content}]}
        if rng.random() < 0.5:
            data["max_tokens"] = rng.choice([1, 16, 300, 5000])
        if rng.random() < 0.2:
            data["messages"].insert(0, {"role": "system", "content": "be brief"})
        if rng.random() < 0.1:
            data["n"] = rng.choice([1, 2, 3])
        shapes.append((data, rng.choice([None, 10, 1000, 10**6]), rng.choice([None, 50])))

    async def run():
        small = 0
        for data, tpm, configured in shapes:
            kw = dict(data=data, model=data["model"], min_configured_tpm_limit=tpm, call_type="acompletion", configured_output_tokens=configured, team_id=None)
            a = await original(lim._estimate_tokens_for_request)(**kw)
            b = await fast(lim._estimate_tokens_for_request)(**kw)
            assert a == b, (data, tpm, configured)
            pk = dict(ceiling=None, data=data, min_configured_tpm_limit=tpm, call_type="acompletion", configured_output_tokens=configured, raw_estimate=a, team_id=None)
            assert await original(lim._estimate_ptu_tokens_for_request)(**pk) == await fast(lim._estimate_ptu_tokens_for_request)(**pk) == a
            from fast_litellm.components.rate_limit.v3_110 import small_text_request

            small += small_text_request(data)
        return small

    inlined = asyncio.run(run())
    assert 0 < inlined < len(shapes)  # both paths exercised


def test_inline_estimates_other_callers_untouched():
    from fast_litellm import NOT_COVERED

    _, fast = _offloads()
    assert fast(len) is NOT_COVERED
    lim = _limiter(False)
    assert fast(lim._estimate_precise_input_tokens) is NOT_COVERED


def test_inline_estimates_same_decisions_as_thread_offload():
    """A stock limiter with LiteLLM's thread offload and one with ours make the
    same decisions on a generated trace (outcomes and final store)."""
    import litellm.proxy.hooks.parallel_request_limiter_v3 as v3
    import rate_limit_trace_v3_110 as t

    original, fast = _offloads()
    trace = t.gen_trace(3_000, seed=31)
    runs = []
    for offload in (original, fast):
        saved = v3.offload_token_count
        v3.offload_token_count = offload
        clock = t.Clock()
        undo = t.t3.install_clock(clock)
        seen: set = set()
        try:
            lim = t.make_limiter(clock, False, seen)
            loop = asyncio.new_event_loop()
            try:
                outs = loop.run_until_complete(t.run_trace(lim, clock, trace))
            finally:
                loop.close()
            runs.append((outs, t.snapshot(lim, seen)))
        finally:
            undo()
            v3.offload_token_count = saved
    assert runs[0] == runs[1]


def test_real_proxy_four_workers_one_limit_with_store_patch(tmp_path):
    """``fast-litellm proxy --num_workers 4`` on 1.110.x (the launcher's shared table turns
    the store patch on): a key limited to N rpm, a burst of 3N requests over
    the workers, exactly N admitted (stock: each worker counts alone). Reuses the 1.83
    proxy test's config, custom_auth and helpers."""
    import shutil

    import test_rate_limit_v3_proxy as px
    from util_proc import fast_litellm_cmd, free_port, logged_server, wait_removed

    if shutil.which("uvicorn", path=str(px.BIN)) is None:
        pytest.skip("uvicorn not installed")
    (tmp_path / "rl_custom_auth.py").write_text((px.TESTS / "apps" / "rl_custom_auth.py").read_text())
    cfg = tmp_path / "config.yaml"
    cfg.write_text(px.CONFIG)
    port = free_port()
    env = px._env(tmp_path, f"hk-v3b-{os.getpid()}")
    argv = fast_litellm_cmd() + ["proxy", "--config", str(cfg), "--num_workers", "4", "--run_gunicorn",
                                  "--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / "proxy.log"
    with logged_server(argv, f"http://127.0.0.1:{port}/health/liveliness", log, env=env, cwd=str(tmp_path), timeout=300):
        px._wait_clear_of_window_end()
        got = px._burst(port, 3 * px.N)
        codes = sorted(c for c, _ in got)
        assert codes == [200] * px.N + [429] * (2 * px.N), codes
        assert all(h.get("retry-after") == "60" for c, h in got if c == 429)
    assert wait_removed(str(tmp_path / "fast-litellm-rl-*")) == []  # the launcher removed its tables


# -- rate_limit.v3_110_fused_pre_call -------------------------------------------------


def _fused_patch():
    from fast_litellm import registry

    return next(p for p in registry.patches() if p.name == "rate_limit.v3_110_fused_pre_call")


def test_fused_estimate_equals_litellm():
    """The fused path's token estimate (and implicit output cap) against LiteLLM's own
    ``_apply_implicit_output_cap`` + ``_estimate_tokens_for_request`` on generated requests."""
    import random

    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as cls
    from litellm.types.passthrough_endpoints.pass_through_endpoints import EndpointType

    from fast_litellm.components.rate_limit import v3_110 as m

    env = m._fused_env(cls)
    lim = _limiter(False)
    rng = random.Random(5)
    for i in range(3000):
        msgs = [{"role": rng.choice(["user", "system", "assistant"]), "content": rng.choice([None, "", "a" * rng.randint(0, 700)])}
                for _ in range(rng.randint(0, 4))]
        data = {"model": "gpt-4o"}
        if rng.random() < 0.9:
            data["messages"] = msgs
        for f in ("max_tokens", "max_completion_tokens", "n", "best_of"):
            if rng.random() < 0.25:
                data[f] = rng.choice([0, 1, -2, 7, 300, 5000, 10**17 + 1])
        if not m.small_text_request(data):
            continue
        tpm = rng.choice([1, 3, 4, 10, 100, 4095, 4096, 4100, 10**6])
        call_type = rng.choice(["completion", "acompletion"])
        endpoint = rng.choice([EndpointType.GENERIC, EndpointType.DECISIONS])
        a, b = dict(data), dict(data)
        cls._apply_implicit_output_cap(data=a, min_configured_limit=tpm, call_type=call_type, configured_output_tokens=None, endpoint_type=endpoint)
        want = max(lim._estimate_tokens_for_request(data=a, model="gpt-4o", min_configured_tpm_limit=tpm, call_type=call_type, configured_output_tokens=None, team_id=None), 1)
        floor = min(env["baseline_floor"], max(1, int(tpm * 0.25)))
        if floor < env["baseline_floor"] and b.get("max_tokens") is None and b.get("max_completion_tokens") is None and endpoint != env["decisions"]:
            b["max_tokens"] = floor
        assert a == b, (data, tpm)
        assert max(m._estimate(env, b, tpm, call_type), 1) == want, (data, tpm, call_type)


def test_fused_three_rpm_admits_three_of_six_and_is_used():
    p = _fused_patch()
    assert p.state == "applied", p.reason
    lim = _limiter(False)
    before = p.calls - p.delegated
    assert asyncio.run(_admitted(lim, "hk-fused-three", 6, rpm_limit=3, tpm_limit=100_000)) == 3
    assert p.calls - p.delegated - before == 6


def test_fused_leaves_uncovered_checks_to_litellm(monkeypatch):
    """Limits beyond the key's own rpm/tpm, a loaded router that is not LiteLLM's ``Router``,
    an overridden method or shadow mode: LiteLLM's hook answers (delegated), with its decisions."""
    import litellm.proxy.proxy_server as ps

    from fast_litellm import _patching

    p = _fused_patch()

    def delegated(lim, key, **limits):
        d = p.delegated
        asyncio.run(_admitted(lim, key, 1, **limits))
        return p.delegated - d

    lim = _limiter(False)
    assert delegated(lim, "hk-d1", rpm_limit=5) == 0
    assert delegated(lim, "hk-d2", rpm_limit=5, max_parallel_requests=2) == 1
    assert delegated(lim, "hk-d3", rpm_limit=5, user_id="u", user_rpm_limit=3) == 1
    assert delegated(lim, "hk-d4", rpm_limit=5, metadata={"model_rpm_limit": {"gpt-4o": 1}}) == 1
    assert delegated(lim, "hk-d5", rpm_limit=5, metadata={"rpm_limit_type": "dynamic"}) == 1
    import types

    registry = types.SimpleNamespace(aliases=lambda: {}, deployments=lambda model: [], names=lambda *a, **k: [])
    monkeypatch.setattr(ps, "llm_router", types.SimpleNamespace(registry=lambda: registry))
    assert delegated(lim, "hk-d6", rpm_limit=5) == 1
    monkeypatch.setattr(ps, "llm_router", None)
    lim2 = _limiter(False)
    lim2.should_rate_limit = lim2.should_rate_limit  # an instance override (e.g. a mock)
    assert delegated(lim2, "hk-d7", rpm_limit=5) == 1
    _patching._SHADOW[0] = True
    try:
        d = p.delegated
        assert asyncio.run(_admitted(lim, "hk-d8", 3, rpm_limit=2)) == 2  # LiteLLM's hook alone: no double count
        assert p.delegated == d
    finally:
        _patching._SHADOW[0] = False


def _fused_with_router(router, lim, model: str, **limits) -> tuple:
    """(fused, delegated) for one check of ``model`` with ``router`` loaded, and LiteLLM's group."""
    import contextvars

    import litellm.proxy.hooks.parallel_request_limiter_v3 as v3
    import litellm.proxy.proxy_server as ps
    from litellm.proxy._types import UserAPIKeyAuth

    from fast_litellm.components.rate_limit import v3_110 as m

    saved = ps.llm_router
    ps.llm_router = router
    try:
        f, d = m.FUSED.fused, m.FUSED.delegated
        data = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
        auth = UserAPIKeyAuth(api_key=limits.pop("api_key", "hk-router"), **limits)
        ctx = contextvars.Context()

        loop = asyncio.new_event_loop()
        try:
            hook = lim.async_pre_call_hook(user_api_key_dict=auth, cache=None, data=data, call_type="acompletion")
            loop.run_until_complete(loop.create_task(hook, context=ctx))
        finally:
            loop.close()
        stash = ctx.run(v3.get_request_stash)
        out = (m.FUSED.fused - f, m.FUSED.delegated - d)
        if out == (1, 0):  # the group the fused path recorded is LiteLLM's
            want = lim._rate_limited_model(model) if auth.tpm_limit is not None else None
            assert stash is not None and stash.reserved_model == want, (stash and stash.reserved_model, want)
        return out
    finally:
        ps.llm_router = saved


def test_fused_with_router_covers_plain_groups_and_follows_router_changes():
    """With LiteLLM's Router loaded: plain groups, aliases to them, wildcard routes, unknown
    models and a -latest alias of a plain group are fused (the stash records LiteLLM's resolved
    group); groups whose deployments carry default_api_key_rpm/tpm_limit (directly, through an
    alias, a wildcard or a -latest alias) are LiteLLM's. A replaced model list, an added
    deployment and an alias map edited in place change the answer at once."""
    import rate_limit_trace_v3_110 as t
    from litellm.types.router import Deployment

    lim = _limiter(False)  # imports LiteLLM's limiter module: the patch applies
    lim_fast = _limiter(True)
    p = _fused_patch()
    assert p.state == "applied", p.reason
    router = t.make_router()
    fused = ("gpt-4o", "gpt4", "cheap", "gpt-4o-mini", "openai/gpt-9-trace", "mystery-model", "azure_ai/claude-opus-latest")
    delegated = ("limited", "claude-3-5-sonnet-20240620", "slim", "anthropic/claude-trace", "azure_ai/gpt-astra-latest")
    for li in (lim, lim_fast):
        for model in fused:
            assert _fused_with_router(router, li, model, rpm_limit=50, tpm_limit=10**6) == (1, 0), model
            assert _fused_with_router(router, li, model, api_key="hk-team", team_id="t-1", rpm_limit=50, tpm_limit=10**6) == (1, 0), model
        for model in delegated:
            assert _fused_with_router(router, li, model, rpm_limit=50, tpm_limit=10**6) == (0, 1), model
    router.set_model_list(t.router_model_list(changed=True))
    assert _fused_with_router(router, lim, "gpt-4o", rpm_limit=50) == (0, 1)
    assert _fused_with_router(router, lim, "gpt4", rpm_limit=50) == (0, 1)
    assert _fused_with_router(router, lim, "limited", rpm_limit=50) == (1, 0)
    assert _fused_with_router(router, lim, "gpt-4o-mini", rpm_limit=50) == (1, 0)
    router.add_deployment(Deployment(model_name="gpt-4o-mini", litellm_params={"model": "openai/gpt-4o-mini", "api_key": "sk-t", "default_api_key_tpm_limit": 900}))
    assert _fused_with_router(router, lim, "gpt-4o-mini", rpm_limit=50) == (0, 1)
    assert _fused_with_router(router, lim, "mystery-model", rpm_limit=50) == (1, 0)
    router.registry().aliases()["mystery-model"] = "gpt-4o-mini"  # the live alias map, edited in place
    assert _fused_with_router(router, lim, "mystery-model", rpm_limit=50) == (0, 1)
    router.registry().aliases()["chain"] = "gpt4"  # an alias to an alias: LiteLLM's path
    assert _fused_with_router(router, lim, "chain", rpm_limit=50) == (0, 1)
    del router.registry().aliases()["mystery-model"]
    assert _fused_with_router(router, lim, "mystery-model", rpm_limit=50) == (1, 0)
    # The same checks with no router: fused, group = model.
    assert _fused_with_router(None, lim, "limited", rpm_limit=50) == (1, 0)


def test_real_proxy_with_model_list_uses_the_fused_path(tmp_path):
    """``fast-litellm proxy --config`` with a model_list (so proxy_server.llm_router is a Router):
    keyed chat requests go through the fused pre-call check (its counters, written by the
    custom_auth of each next request, show fused calls and no fallbacks), with LiteLLM's 429 at
    the key's rpm limit."""
    import shutil

    import test_rate_limit_v3_proxy as px
    from util_proc import fast_litellm_cmd, free_port, logged_server, post_chat

    if shutil.which("uvicorn", path=str(px.BIN)) is None:
        pytest.skip("uvicorn not installed")
    (tmp_path / "rl110_router_auth.py").write_text((px.TESTS / "apps" / "rl110_router_auth.py").read_text())
    cfg = tmp_path / "config.yaml"
    cfg.write_text(px.CONFIG.replace("rl_custom_auth.user_api_key_auth", "rl110_router_auth.user_api_key_auth"))
    port = free_port()
    counters = tmp_path / "counters.json"
    env = px._env(tmp_path, f"hk-rl110-{os.getpid()}")
    env["FAST_LITELLM_TEST_COUNTERS"] = str(counters)
    env["FAST_LITELLM_TEST_RPM"] = "4"
    argv = fast_litellm_cmd() + ["proxy", "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / "proxy.log"
    with logged_server(argv, f"http://127.0.0.1:{port}/health/liveliness", log, env=env, cwd=str(tmp_path), timeout=300):
        px._wait_clear_of_window_end()
        codes = [post_chat(port, "model-a", f"hi {i}")[0] for i in range(6)]
        assert codes == [200] * 4 + [429] * 2, codes
        seen = json.loads(counters.read_text())  # written by the 6th request's auth: 5 checks counted
    patch = seen["patch"]
    print("fused pre-call counters in the proxy:", {k: v for k, v in seen.items() if k != "patch"},
          {k: patch[k] for k in ("state", "calls", "delegated", "fallbacks")} if patch else None)
    assert patch is not None and patch["state"] == "applied", patch
    assert patch["fallbacks"] == 0, patch
    assert seen["fused"] >= 5 and seen["delegated"] == 0, (seen, log.read_text(errors="replace")[-2000:])
    assert patch["calls"] - patch["delegated"] >= 5, patch
