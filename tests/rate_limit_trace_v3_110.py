"""Drive LiteLLM 1.110.x's v3 proxy limiter through a generated trace, stock store vs ours.

Reuses the 1.83 v3 trace's key specs, event mix and clock (``rate_limit_trace_v3``)
and adds what 1.110.x's algorithm depends on: each request runs in its own
``contextvars`` context (the limiter's per-request stash lives in a ContextVar),
so its success/failure/post-call callbacks reconcile that request's TPM
reservation and release its parallel slot; requests carry messages and
``max_tokens`` set or unset (the reservation estimate). Time sources: the
limiter's ``time_provider`` (driven by the trace's clock) and the stores' own
expiry clock (real time; a run stays well under the 60 s TTLs, so both stores
see no expiry mid-trace -- expiry itself is compared in ``store_fuzz``).
"""

from __future__ import annotations

import asyncio
import contextvars
import random
from typing import Any, List, Tuple

import rate_limit_trace_v3 as t3

Clock = t3.Clock


def make_limiter(clock: Any, fast: bool, recorder: Any = None) -> Any:
    from fast_litellm.components.rate_limit import v3_110 as m

    lim = t3.stock_limiter(clock)
    if fast:
        assert m.accelerate(lim)
    if recorder is not None:
        lim.rate_limits = _Recording(lim.rate_limits, recorder)
    return lim


class _Recording:
    """Stock's RateLimitStore, noting every entry it reads or writes."""

    def __init__(self, store: Any, seen: Any) -> None:
        self._store = store
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def local(self, entries: Any) -> Any:
        self._seen.update(entries)
        return self._store.local(entries)

    def set_local(self, entry: Any, value: Any, ttl: Any) -> None:
        self._seen.add(entry)
        return self._store.set_local(entry, value, ttl)


def _plain_specs(rng: random.Random, n: int) -> List[dict]:
    """Keys in the fused pre-call path's covered case (only their own rpm/tpm, incl. None and
    0), and for each a twin with the same api_key and one extra limit (a user limit,
    max_parallel_requests, a team-member limit or a model limit), so a key switches
    between the covered case and LiteLLM's path mid-window."""

    def lim(lo: int, hi: int) -> Any:
        x = rng.random()
        return None if x < 0.15 else (0 if x < 0.2 else rng.randint(lo, hi))

    out = []
    for i in range(n):
        base = {"api_key": f"hk-plain-{i}", "rpm_limit": lim(1, 12), "tpm_limit": lim(4, 9000), "metadata": {},
                "user_id": None, "team_id": None, "end_user_id": None}
        if rng.random() < 0.2:
            base["user_id"] = "u-1"
        if rng.random() < 0.2:
            base["team_id"] = "t-9"
        out.append(base)
        twin = dict(base)
        k = rng.randrange(4)
        if k == 0:
            twin.update(user_id="u-3", user_rpm_limit=rng.randint(3, 20))
        elif k == 1:
            twin["max_parallel_requests"] = rng.randint(1, 4)
        elif k == 2:
            twin.update(user_id="u-4", team_member_tpm_limit=rng.randint(50, 600))
        else:
            twin["metadata"] = {"model_rpm_limit": {"gpt-4o": rng.randint(1, 8)}}
        out.append(twin)
    return out


# Request shapes of a pre-call: 0 plain chat (fused when the key is covered), then shapes the
# fused path leaves to LiteLLM: tags, a long prompt, a string max_tokens, a text-completion call.
VARIANTS = (0, 0, 0, 0, 0, 0, 1, 2, 3, 4)


# -- a loaded router (proxy_server.llm_router), as a proxy with a model_list has ------------------

def router_model_list(changed: bool = False) -> List[dict]:
    """Plain groups (one or two deployments), groups whose deployments carry the per-key defaults
    ``default_api_key_rpm_limit``/``default_api_key_tpm_limit`` (on one deployment of two, as a
    string, ...), wildcard groups with and without them, and the target of a ``-latest`` alias with
    one. ``changed``: the list a mid-trace ``set_model_list`` installs (gpt-4o gains defaults,
    claude loses its)."""

    def dep(name: str, model: str, **extra: Any) -> dict:
        return {"model_name": name, "litellm_params": {"model": model, "api_key": "sk-trace", **extra}}

    out = [
        dep("gpt-4o", "openai/gpt-4o"),
        dep("gpt-4o", "azure/gpt-4o", api_base="https://trace.invalid", **({"default_api_key_rpm_limit": 3, "default_api_key_tpm_limit": 5000} if changed else {})),
        dep("gpt-4o-mini", "openai/gpt-4o-mini"),
        dep("claude-3-5-sonnet-20240620", "anthropic/claude-3-5-sonnet-20240620",
            **({} if changed else {"default_api_key_rpm_limit": 4})),
        dep("slim", "openai/gpt-4o-mini"),
        dep("slim", "openai/gpt-4o", default_api_key_tpm_limit="500"),
        dep("azure_ai/gpt-6-astra", "azure_ai/gpt-6-astra", default_api_key_rpm_limit=2),
        dep("azure_ai/claude-opus-5-5", "azure_ai/claude-opus-5-5"),
        dep("openai/*", "openai/*"),
        dep("anthropic/*", "anthropic/*", default_api_key_tpm_limit=800),
    ]
    return out


ROUTER_ALIASES = {"gpt4": "gpt-4o", "cheap": {"model": "gpt-4o-mini", "hidden": True}, "limited": "claude-3-5-sonnet-20240620"}
# Requested models: groups, aliases (plain and to a group with defaults), wildcard routes, unknown
# models, -latest aliases whose target group has / has not a default.
ROUTER_MODELS = (
    "gpt-4o", "gpt-4o", "gpt-4o", "gpt4", "cheap", "gpt-4o-mini", "limited", "claude-3-5-sonnet-20240620", "slim",
    "openai/gpt-9-trace", "anthropic/claude-trace", "mystery-model", "azure_ai/gpt-astra-latest",
    "azure_ai/claude-opus-latest",
)


def make_router(changed: bool = False) -> Any:
    from litellm import Router

    return Router(model_list=router_model_list(changed), model_group_alias=dict(ROUTER_ALIASES))


def gen_trace(n: int, seed: int, n_keys: int = 8, n_plain: int = 6, models: Any = None) -> List[Tuple]:
    """The 1.83 v3 trace's events and key specs (limits incl. None and 0, ticks
    across windows), each pre-call given a prompt size and max_tokens set/unset,
    each success a random usage split; plus (``n_plain``) covered keys and their
    switching twins, and request shapes the fused pre-call path does not cover. ``models``: requests
    name these (a router trace), and the clock advances more often."""
    base = t3.gen_trace(n, seed, n_keys=n_keys)
    rng = random.Random(seed * 7919 + 1)
    plain = _plain_specs(rng, n_plain) if n_plain else []
    out: List[Tuple] = []
    for ev in base:
        if models and ev[0] != "tick":
            ev = (ev[0], ev[1], rng.choice(models), ev[3])
            if rng.random() < 0.08:
                # The base trace's clock resets a window every ~60 events, so ~85% of its pre-calls
                # are 429s on the key's own rpm; with a router, reset every ~15 so admits (and the
                # stash the router feeds: the model group, model_per_key scopes) dominate.
                out.append(("tick", rng.uniform(15.0, 70.0)))
        if ev[0] != "tick" and plain and rng.random() < 0.6:
            spec = rng.choice(plain[0::2]) if rng.random() < 0.8 else rng.choice(plain[1::2])
            ev = (ev[0], spec, ev[2], ev[3]) if ev[0] != "pre" else ("pre", spec, ev[2], None)
            if ev[0] == "success" and ev[3] is None:
                ev = ("success", spec, ev[2], rng.randint(0, 60))
        if ev[0] == "pre":
            mt = None if rng.random() < 0.4 else rng.choice([1, 5, 16, rng.randint(1, 400)])
            words = rng.randint(0, 60) if rng.random() < 0.97 else rng.randint(500, 700)
            out.append(("pre", ev[1], ev[2], (words, mt, rng.choice(VARIANTS))))
        elif ev[0] == "success":
            total = ev[3]
            p = rng.randint(0, total)
            out.append(("success", ev[1], ev[2], (p, total - p)))
        else:
            out.append(ev)
    return out


def _hook(fused: bool) -> Any:
    """Put LiteLLM's own pre-call hook (``fused=False``) or the fused one on the class; returns an undo."""
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as cls

    from fast_litellm import registry  # noqa: F401 - first import activates: patches land before we look

    current = cls.__dict__["async_pre_call_hook"]
    original = current
    while getattr(original, "_fast_litellm_patch", None):
        original = original.__wrapped__
    if fused:
        from fast_litellm import registry

        patch = next(p for p in registry.patches() if p.name == "rate_limit.v3_110_fused_pre_call")
        hook = patch.wrapper if patch.wrapper is not None and patch.original is original else None
        if hook is None:
            from fast_litellm.components.rate_limit import v3_110 as m

            patch.build(original)
            hook = m._wrap_pre_call(patch, original, None)
    else:
        hook = original
    cls.async_pre_call_hook = hook

    def undo() -> None:
        cls.async_pre_call_hook = current

    return undo


def _inline_offload() -> Any:
    """Run the limiter's token estimates inline (same function, same result; no
    worker-thread hop) so a trace runs in seconds. Applied to both sides."""
    import litellm.proxy.hooks.parallel_request_limiter_v3 as v3

    saved = v3.offload_token_count

    def offload(fn: Any) -> Any:
        async def run(*a: Any, **k: Any) -> Any:
            return fn(*a, **k)

        return run

    v3.offload_token_count = offload

    def undo() -> None:
        v3.offload_token_count = saved

    return undo


async def run_trace(limiter: Any, clock: Any, trace: List[Tuple], midway: Any = None) -> List[Any]:
    import litellm
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy._types import UserAPIKeyAuth

    cache = DualCache()
    out: List[Any] = []
    pending: dict = {}  # api_key -> [(ctx, data, auth)] admitted, not yet finished
    seq = 0

    async def in_ctx(ctx: Any, coro: Any) -> Any:
        return await asyncio.get_running_loop().create_task(coro, context=ctx)

    for i, ev in enumerate(trace):
        if midway is not None and i == len(trace) // 2:
            midway()
        kind = ev[0]
        if kind == "tick":
            clock.t += ev[1]
            continue
        spec, model = ev[1], ev[2]
        key = spec["api_key"]
        if kind == "pre":
            words, max_tokens, variant = (ev[3] + (0,))[:3]
            seq += 1
            auth = UserAPIKeyAuth(**spec)
            data: dict = {
                "model": model,
                "metadata": {"tags": ["team-a"]} if variant == 1 else {},
                "litellm_call_id": f"call-{seq}",
                "messages": [{"role": "user", "content": " ".join(["word"] * words)}],
            }
            if max_tokens is not None:
                data["max_tokens"] = str(max_tokens) if variant == 3 else max_tokens
            if variant == 2:
                data["messages"].insert(0, {"role": "system", "content": "x" * 2100})
            ctx = contextvars.Context()
            try:
                call_type = "atext_completion" if variant == 4 else ("completion" if seq % 3 == 0 else "acompletion")
                await in_ctx(ctx, limiter.async_pre_call_hook(user_api_key_dict=auth, cache=cache, data=data, call_type=call_type))
                out.append(("ok", data.get("max_tokens"), _stash_view(ctx)))
                pending.setdefault(key, []).append((ctx, data, auth))
            except Exception as exc:
                out.append(t3._outcome(exc))
        elif kind in ("success", "failure"):
            reqs = pending.get(key)
            if not reqs:
                out.append((kind, "none pending"))
                continue
            ctx, data, auth = reqs.pop(0)
            kwargs = {
                "litellm_call_id": data["litellm_call_id"],
                "litellm_params": {"metadata": {"model_group": model}},
                "standard_logging_object": t3._slo(spec, data["model"]),
                "call_type": "acompletion",
                "model": data["model"],
            }
            if kind == "success":
                p, c = ev[3]
                resp = litellm.ModelResponse(usage={"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c})
                await in_ctx(ctx, limiter.async_log_success_event(kwargs, resp, None, None))
            else:
                kwargs["exception"] = Exception("upstream 500")
                await in_ctx(ctx, limiter.async_log_failure_event(kwargs, None, None, None))
            out.append(kind)
        elif kind == "post":
            reqs = pending.get(key)
            if not reqs:
                out.append(("post", "none pending"))
                continue
            ctx, data, auth = reqs[-1]
            resp = litellm.ModelResponse()
            await in_ctx(ctx, limiter.async_post_call_success_hook(data=data, user_api_key_dict=auth, response=resp))
            out.append(("post", sorted((resp._hidden_params.get("additional_headers") or {}).items())))
        await asyncio.sleep(0)
    return out


def _stash_view(ctx: Any) -> Tuple:
    """What the pre-call hook left for the later callbacks in the request's stash."""
    import litellm.proxy.hooks.parallel_request_limiter_v3 as v3

    st = ctx.run(v3.get_request_stash)
    if st is None:
        return ()
    return (
        st.owner_litellm_call_id, st.rate_limit_response, st.parallel_slot is not None, st.reserved_tokens,
        st.reserved_model, sorted(st.reserved_scopes), st.ptu_ceiling, st.ptu_reserved_tokens,
        sorted(map(repr, st.ptu_reserved_window_identities)), st.tpm_limited_tags, st.socket_agent_windows,
        st.reservation_released, st.itpm_reserved_tokens, st.otpm_reserved_tokens,
    )


def snapshot(limiter: Any, entries: Any) -> List[Tuple]:
    """Every entry either run touched, as the limiter's store answers at the end."""
    rl = limiter.rate_limits
    out = []
    for e in sorted(entries, key=repr):
        v = rl.local((e,))[0]
        if isinstance(v, dict):  # a gauge's slot registry: ids are random uuids, compare the acquire times
            v = ("slots", sorted(v.values()))
        out.append((repr(e), v))
    return out


def compare(
    n: int, seed: int, n_keys: int = 8, segment: int = 20_000, fused: bool = True, fast_store: bool = True,
    router: bool = False,
) -> Tuple[int, int, List[Any], int]:
    """(outcomes, mismatches, first mismatches, entries in our table) over ``n``
    events in segments of ``segment`` (fresh limiters each), so no run lasts near
    the stores' 60 s real-time TTLs. Asserts that stock's 200-entry store never
    had to evict. Stock side: LiteLLM's hook on LiteLLM's store; other side: the
    fused pre-call hook (``fused``) and our store (``fast_store``). ``router``: each side runs with
    its own ``make_router()`` as ``proxy_server.llm_router`` (requests name ``ROUTER_MODELS``), and
    halfway through each segment the router's model list is replaced (``router_model_list(True)``)."""
    total, nbad, first, used = 0, 0, [], 0
    for k in range(0, n, segment):
        a, b, c, d = _compare_segment(min(segment, n - k), seed + k, n_keys, fused, fast_store, router)
        total, nbad, first, used = total + a, nbad + b, (first + c)[:5], max(used, d)
    return total, nbad, first, used


def _compare_segment(
    n: int, seed: int, n_keys: int, fused: bool = True, fast_store: bool = True, router: bool = False
) -> Tuple[int, int, List[Any], int]:
    import litellm.proxy.proxy_server as ps

    trace = gen_trace(n, seed, n_keys, n_plain=4 if router else 6, models=ROUTER_MODELS if router else None)
    saved_router = ps.llm_router
    seen: set = set()
    results = []
    undo_clock = None
    undo = _inline_offload()
    try:
        used = 0
        limiters = []
        for fast in (False, True):
            clock = Clock()
            undo_clock = t3.install_clock(clock)
            undo_hook = _hook(fused and fast)
            try:
                limiter = make_limiter(clock, fast and fast_store, seen)
                midway = None
                if router:
                    r = ps.llm_router = make_router()

                    def midway() -> None:
                        r.set_model_list(router_model_list(changed=True))

                from fast_litellm.components.rate_limit import v3_110 as m

                before = m.FUSED.fused + m.FUSED.delegated
                loop = asyncio.new_event_loop()
                try:
                    outs = loop.run_until_complete(run_trace(limiter, clock, trace, midway))
                finally:
                    loop.close()
                if not fast:  # the stock side ran LiteLLM's hook alone
                    assert m.FUSED.fused + m.FUSED.delegated == before, "the fused hook ran on the stock side"
                limiters.append(limiter)
                results.append(outs)
                if fast and fast_store:
                    used = limiter.__dict__["_fast_litellm_v3b"].used
            finally:
                undo_hook()
                undo_clock()
        # Every distinct entry either run touched fits stock's cap: stock never evicted.
        assert len(seen) < 200, len(seen)
        snaps = [snapshot(lim, seen) for lim in limiters]
    finally:
        undo()
        ps.llm_router = saved_router
    a, b = results
    bad: List[Any] = [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if snaps[0] != snaps[1]:
        bad.append(("final-store", [(x, y) for x, y in zip(*snaps) if x != y][:5]))
    return len(a), len(bad), bad[:5], used


def store_fuzz(n: int, seed: int) -> List[Any]:
    """The same random set/get/increment sequence (ttls None, <= 0, short, long;
    ints, floats, decimal strings, odd values) on stock's NativeRateLimits and on
    our handle, with real sleeps so short ttls expire; returns the differences."""
    import time

    from litellm.redis.stores.connection import connect
    from litellm.redis.stores.rate_limits import CounterIncrement, RateLimitScope

    from fast_litellm import _native
    from fast_litellm.components.rate_limit.v3_110 import FastRateLimitsHandle

    stock = connect(None).rate_limits(1.0)
    ours = FastRateLimitsHandle(_native.RateLimitStore110(), connect(None).rate_limits(1.0))
    rng = random.Random(seed)
    scopes = [RateLimitScope(rng.choice(["api_key", "user", "team"]), f"v{i}") for i in range(20)]
    loop = asyncio.new_event_loop()
    diffs: List[Any] = []

    def entry() -> Any:
        s = rng.choice(scopes)
        x = rng.random()
        return s.window if x < 0.25 else (s.gauge if x < 0.35 else s.counter(rng.choice(["requests", "tokens"])))

    def run(h: Any, op: Tuple) -> Any:
        try:
            if op[0] == "get":
                return ("v", h.get_local(op[1]))
            if op[0] == "set":
                return ("v", h.set_local(op[1], op[2], op[3]))
            if op[0] == "incr":
                inc = CounterIncrement(op[1], op[2], op[3])

                async def one() -> Any:
                    return await h.increment(inc)

                return ("v", loop.run_until_complete(one()))
            incs = [CounterIncrement(op[1], op[2], op[3])] * 2

            async def many() -> Any:
                return await h.increment_many(incs)

            return ("v", loop.run_until_complete(many()))
        except Exception as exc:
            return ("err", type(exc).__name__)

    for i in range(n):
        x = rng.random()
        e = entry()
        ttl = rng.choice([None, 0, -1, 0.03, 0.05, 60, 60.0])
        if x < 0.4:
            op: Tuple = ("get", e)
        elif x < 0.75:
            if scopes.index(e.scope) >= 16:  # values we leave to LiteLLM's store (never mixed with numbers)
                v = rng.choice(["07", "x", {"s": 1.5}, True, 2**64])
            else:
                v = rng.choice([rng.randint(-5, 50), rng.random() * 10, str(rng.randint(0, 10**10)), 2**63 - 1])
            op = ("set", e, v, ttl)
        elif x < 0.93:
            if e.__class__.__name__ != "RateLimitCounter":
                e = rng.choice(scopes).counter("tokens")
            amt = rng.choice([rng.randint(-3, 9), rng.random() * 4, 0.0])
            op = ("incr", e, amt, rng.choice([None, 0, 60, 60]))
        else:
            if e.__class__.__name__ != "RateLimitCounter":
                e = rng.choice(scopes).counter("requests")
            op = ("many", e, rng.randint(1, 3), rng.choice([None, 60]))
        a, b = run(stock, op), run(ours, op)
        if a != b:
            diffs.append((i, op, a, b))
        if rng.random() < 0.01:
            time.sleep(0.06)  # short ttls expire
    loop.close()
    return diffs
