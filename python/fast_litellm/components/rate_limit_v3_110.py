"""The proxy's default limiter on LiteLLM 1.110.x (``_PROXY_MaxParallelRequestsHandler_v3``) on a Rust counter store.

Where a check's time goes (stock 1.110.2, no Redis, cProfile of the bench harness)
---------------------------------------------------------------------------------
1.110.2's v3 (5,348 lines) already keeps its local state in LiteLLM's own native
store: ``self.rate_limits`` is a ``RateLimitStore`` over ``NativeRateLimits``
(``litellm.rust_bridge._native``; ``get_local``/``set_local`` ~1.4/2.9 us). The
store is ~2-3% of a pre-call check. The rest: two token estimates per check
(``_estimate_tokens_for_request``, ``_estimate_ptu_tokens_for_request``) each run
in a worker thread through ``offload_token_count`` (anyio ``to_thread``: a thread
hand-off and an event-loop wake-up, ~40-50% of the wall time), then the hook's own
Python (with the estimates inline: descriptor building 28%, ``should_rate_limit``
22%, the TPM reservation 20%, the estimates 9%; pydantic ``validate_python`` of the
request and metadata, the request stash, ``uuid4`` slot ids). A faster store
cannot make the check faster.

What the stock store does (observed, both documented in ``crates/core/src/ratelimit/store110.rs``):
per scope ``{key:value}`` a ``window`` entry (decimal string), ``requests`` and
``tokens`` counters (int/float) and a ``max_parallel_requests`` gauge (a dict
``slot_id -> acquire time``), each with its own expiry; a live entry keeps its
expiry on overwrite; increments wrap at 64 bits; and it holds **at most 200
entries** per limiter (the soonest-expiring is evicted), private to a process.
So above ~60 rate-limited keys stock forgets counters and re-admits, and with
``--num_workers 4`` a key limited to N rpm gets up to 4N.

What the patch does (``rate_limit.v3_110_store``)
-------------------------------------------------
It wraps the class's ``__init__``: after LiteLLM's own, when the limiter has no
Redis and was given no store of the caller's, ``self.rate_limits`` becomes a
``RateLimitStore`` over our handle: ``window``/``requests``/``tokens`` entries
live in ``_native.RateLimitStore110`` (32-byte slots keyed by a 64-bit keyed
SipHash of the scope, no string stored, no cap, expired slots reused), the same
set/get/increment semantics as stock's memory tier. Values it does not
represent (a non-decimal string, a dict on a counter) and the gauges (dict
registries) stay in LiteLLM's own store. The limiter's read-modify-write sections
(``_in_memory_cache_sliding_window``, ``_atomic_check_and_increment_in_memory``,
``_apply_local_window_guarded_token_increments``) run under the table's lock, so
they are atomic across threads and -- with ``FAST_LITELLM_RATE_LIMIT_SHM`` set
(the launcher sets it) -- across the workers sharing ``<that path>.v3b``: one
limit per host. All decisions are LiteLLM's code; only the store differs.
Redis configured: nothing changes (LiteLLM's scripts).

The token estimates (``rate_limit.v3_110_inline_estimates``, on by default)
--------------------------------------------------------------------------
Patches ``offload_token_count`` (in every module holding it): for the v3 hook's
two estimates only, the PTU estimate without a PTU team ceiling (LiteLLM's
function returns ``raw_estimate`` unchanged) returns that value at once, and the
request estimate of a small plain-text chat request (string message contents,
at most 2,000 characters, no media/tools/other inputs) runs inline: the same
function on the same arguments, so the same value, without the worker-thread
hand-off. Anything else, and every other caller, goes through LiteLLM's
offload. 2.91x per pre-call check in the bench harness (576 -> 198 us, load ~8).

Deliberate differences of the store patch: no 200-entry cap (stock forgets counters above it);
gauges (``max_parallel_requests``) remain per worker in LiteLLM's store; expiry
uses the wall clock (stock: its own clock, the same unless the wall clock jumps);
a worker dying inside a locked section leaves its partial writes (the lock is
taken over).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Optional

from .._patching import Patch, env_flag
from ..bench import Benchmark

COMPONENT = "rate_limit"
V3B_SUFFIX = ".v3b"
SHM_ENV = "FAST_LITELLM_RATE_LIMIT_SHM"
SHM_SLOTS_ENV = "FAST_LITELLM_RATE_LIMIT_SHM_SLOTS"
_SHARED: dict = {}
_SHARED_LOCK = threading.Lock()


def store_for(limiter: Any) -> Any:
    """The table a limiter's entries go to: one shared table per process for
    ``FAST_LITELLM_RATE_LIMIT_SHM`` + ".v3b", else its own (stock: one store per limiter)."""
    from .. import _native

    path = os.environ.get(SHM_ENV)
    if not path:
        return _native.RateLimitStore110()
    path += V3B_SUFFIX
    with _SHARED_LOCK:
        table = _SHARED.get(path)
        if table is None:
            slots = int(os.environ.get(SHM_SLOTS_ENV) or 1_048_576)
            table = _SHARED[path] = _native.RateLimitStore110(path, slots)
        return table


class FastRateLimitsHandle:
    """LiteLLM's ``RateLimitsHandle`` protocol without Redis: window/counter entries
    in a ``RateLimitStore110``, everything else (gauges, values the table does not
    represent, the Redis-only scripts) on LiteLLM's own handle."""

    __slots__ = ("table", "stock", "_counter_cls", "_window_cls")

    def __init__(self, table: Any, stock: Any) -> None:
        from litellm.redis.stores.rate_limits import RateLimitCounter, RateLimitWindow

        self.table = table
        self.stock = stock
        self._counter_cls = RateLimitCounter
        self._window_cls = RateLimitWindow

    def __getattr__(self, name: str) -> Any:  # has_redis, slot_groups, the Redis scripts
        return getattr(object.__getattribute__(self, "stock"), name)

    def _suffix(self, entry: Any) -> Any:
        cls = entry.__class__
        if cls is self._counter_cls:
            return entry.kind
        if cls is self._window_cls:
            return "window"
        return None

    def get_local(self, entry: Any) -> Any:
        suffix = self._suffix(entry)
        if suffix is None:
            return self.stock.get_local(entry)
        scope = entry.scope
        v = self.table.get(scope.descriptor_key, scope.descriptor_value, suffix)
        if v is Ellipsis:
            return self.stock.get_local(entry)
        return v

    def set_local(self, entry: Any, value: Any, ttl_seconds: Any) -> None:
        suffix = self._suffix(entry)
        if suffix is None:
            return self.stock.set_local(entry, value, ttl_seconds)
        scope = entry.scope
        dk, dv = scope.descriptor_key, scope.descriptor_value
        if not self.table.set(dk, dv, suffix, value, ttl_seconds):
            # A value we do not represent: LiteLLM's store holds it, with the
            # expiry the entry has here when live (a live entry keeps its expiry).
            ttl = ttl_seconds
            expiry = self.table.expiry(dk, dv, suffix)
            if expiry is not None:
                ttl = None if expiry == float("inf") else max(expiry - time.time(), 1e-9)
            self.stock.set_local(entry, value, ttl)  # raises as stock does on a bad value
            self.table.set_foreign(dk, dv, suffix, ttl_seconds)
        return None

    def _incr(self, increment: Any) -> Any:
        counter = increment.counter
        if counter.__class__ is not self._counter_cls:
            return Ellipsis
        ttl = increment.ttl
        if ttl is not None and ttl.__class__ is not int:
            raise TypeError("failed to extract field PyIncrement.ttl")
        scope = counter.scope
        return self.table.incr(scope.descriptor_key, scope.descriptor_value, counter.kind, increment.amount, ttl)

    async def increment(self, increment: Any) -> Any:
        r = self._incr(increment)
        if r is Ellipsis:
            return await self.stock.increment(increment)
        return r

    async def increment_many(self, increments: Any) -> Any:
        for inc in increments:
            if self._incr(inc) is Ellipsis:
                await self.stock.increment(inc)
        return ()


def _locked(table: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        table.lock()
        try:
            return fn(*args, **kwargs)
        finally:
            table.unlock()

    return run


def _locked_async(table: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    # The wrapped coroutine's only await is the limiter's asyncio lock, which no
    # holder keeps across a suspension (every section under it is synchronous).
    async def run(*args: Any, **kwargs: Any) -> Any:
        table.lock()
        try:
            return await fn(*args, **kwargs)
        finally:
            table.unlock()

    return run


def accelerate(lim: Any, given_store: Any = None) -> bool:
    """Put a stock 1.110.x v3 limiter's local entries on our table. True if done."""
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as cls
    from litellm.redis.stores.rate_limits import RateLimitStore

    if type(lim) is not cls or "_fast_litellm_v3b" in lim.__dict__ or given_store is not None:
        return False
    store = lim.rate_limits
    handle = getattr(store, "_handle", None)
    if type(store) is not RateLimitStore or type(handle).__name__ != "NativeRateLimits" or handle.has_redis:
        return False
    if lim.internal_usage_cache.dual_cache.redis_cache is not None:
        return False
    table = store_for(lim)
    lim.__dict__["_fast_litellm_v3b"] = table
    lim.rate_limits = RateLimitStore(FastRateLimitsHandle(table, handle))
    for name in ("_in_memory_cache_sliding_window", "_atomic_check_and_increment_in_memory"):
        setattr(lim, name, _locked(table, getattr(lim, name)))
    name = "_apply_local_window_guarded_token_increments"
    setattr(lim, name, _locked_async(table, getattr(lim, name)))
    return True


def _build_init(original: Callable[..., Any]) -> Callable[..., Any]:
    from .. import _native

    _native.RateLimitStore110  # noqa: B018 - fail at build time, not per limiter

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        try:
            accelerate(self, kwargs.get("rate_limit_store") if len(args) < 10 else args[9])
        except Exception as exc:  # keep the stock limiter
            import logging

            logging.getLogger("fast_litellm").warning("rate_limit: v3 (1.110) limiter not accelerated: %r", exc)

    return __init__


# -- the token estimates of the pre-call hook, without the thread hop ------------

_V3_MODULE = "litellm.proxy.hooks.parallel_request_limiter_v3"
_EST = "_PROXY_MaxParallelRequestsHandler_v3._estimate_tokens_for_request"
_PTU = "_PROXY_MaxParallelRequestsHandler_v3._estimate_ptu_tokens_for_request"
_INLINE_CHARS = 2000
_CONTENT_KEYS = ("prompt", "input", "tools", "functions", "contents", "instructions", "documents", "query", "system")
_MESSAGE_KEYS = frozenset(("role", "content", "name"))


def small_text_request(data: Any) -> bool:
    """A chat request whose estimate is cheap: plain-string message contents
    (no parts, media, tools or other inputs), at most ``_INLINE_CHARS`` in all."""
    if data.__class__ is not dict:
        return False
    for k in _CONTENT_KEYS:
        if data.get(k) is not None:
            return False
    messages = data.get("messages")
    if messages is None:
        return True
    if messages.__class__ is not list:
        return False
    total = 0
    for msg in messages:
        if msg.__class__ is not dict or not _MESSAGE_KEYS.issuperset(msg):
            return False
        content = msg.get("content")
        if content is None:
            continue
        if content.__class__ is not str:
            return False
        total += len(content)
        if total > _INLINE_CHARS:
            return False
    return True


def _build_offload(original: Callable[..., Any]) -> Callable[..., Any]:
    from .._patching import NOT_COVERED

    def offload_token_count(function: Any) -> Any:
        f = getattr(function, "__func__", None)
        if getattr(f, "__module__", None) != _V3_MODULE:
            return NOT_COVERED
        name = getattr(f, "__qualname__", None)
        if name == _PTU:

            async def ptu(*args: Any, **kwargs: Any) -> Any:
                # No PTU ceiling: LiteLLM's function returns raw_estimate as is.
                if not args and "raw_estimate" in kwargs and "ceiling" in kwargs and kwargs["ceiling"] is None:
                    return kwargs["raw_estimate"]
                return await original(function)(*args, **kwargs)

            return ptu
        if name == _EST:

            async def est(*args: Any, **kwargs: Any) -> Any:
                if not args and small_text_request(kwargs.get("data")):
                    return function(**kwargs)
                return await original(function)(*args, **kwargs)

            return est
        return NOT_COVERED

    return offload_token_count



STORE_SKIP_REASON = (
    "on only where workers share a table (fast-litellm proxy/run set FAST_LITELLM_RATE_LIMIT_SHM; "
    "FAST_LITELLM_RATE_LIMIT=1 forces it): in one process it is exact (100k-event trace parity) but "
    "not a latency win (0.95x per check: the stock store is already native, ~3% of a check)"
)


def workers_share_a_table() -> Optional[str]:
    """``Patch.requires`` of the store patch. Its win is one limit across the workers of a host
    (stock: each worker counts alone, so N rpm admits up to workers x N) and no 200-entry cap,
    not speed; so it is on where a shared table is configured (the launcher always sets one)
    or when the component switch asks for it."""
    if os.environ.get("FAST_LITELLM_RATE_LIMIT_SHM") or env_flag("FAST_LITELLM_RATE_LIMIT") is True:
        return None
    return STORE_SKIP_REASON


PATCHES = [
    Patch(
        name="rate_limit.v3_110_store",
        component=COMPONENT,
        target="litellm.proxy.hooks.parallel_request_limiter_v3:_PROXY_MaxParallelRequestsHandler_v3.__init__",
        supports=">=1.110,<1.111",
        build=_build_init,
        requires=workers_share_a_table,
        summary=(
            "On where workers share a table (under fast-litellm proxy/run): the v3 proxy limiter of 1.110.x keeps its window/requests/tokens entries "
            "in a Rust table (32-byte slots, no 200-entry cap, shared by the workers of one host through "
            "FAST_LITELLM_RATE_LIMIT_SHM + '.v3b') instead of LiteLLM's own native store; every decision "
            "is LiteLLM's code, read-modify-write sections run under the table's cross-process lock. "
            "Not a latency win (the store is ~3% of a check: the time is two thread-offloaded token "
            "estimates and the hook's Python). Gauges and Redis stay LiteLLM's."
        ),
        callers=(
            "every proxy request by default: PROXY_HOOKS['parallel_request_limiter'] pre-call, success "
            "and failure callbacks read and write this store"
        ),
        compare=lambda a, b: a is None and b is None,
    ),
    Patch(
        name="rate_limit.v3_110_inline_estimates",
        component=COMPONENT,
        target="litellm.litellm_core_utils.token_counter:offload_token_count",
        supports=">=1.110,<1.111",
        build=_build_offload,
        summary=(
            "The 1.110.x v3 limiter's pre-call hook sends two token estimates per request to a worker "
            "thread (offload_token_count -> anyio to_thread): the PTU estimate, which without a PTU team "
            "ceiling just returns the raw estimate, and the request estimate. This runs the first "
            "shortcut inline and the second inline for small plain-text chat requests (<= 2,000 chars of "
            "string message content, no media/tools/other inputs); same function, same value, no thread "
            "hand-off. Everything else (other callers, bigger or media requests) goes to LiteLLM's offload."
        ),
        callers="every proxy request with a TPM limit: _PROXY_MaxParallelRequestsHandler_v3.async_pre_call_hook",
        compare=lambda a, b: True,
    ),
]


def _bench_setup() -> Callable[[], Any]:
    from . import rate_limit

    return rate_limit._bench_v3_pre_call_hook()


BENCHMARKS = [
    Benchmark(
        name="rate_limit.v3_110_pre_call_hook",
        patch="rate_limit.v3_110_store",
        setup=_bench_setup,
        notes="100 checks per call (divide by 100 for one check): 1.110.x v3 limiter async_pre_call_hook, 5,000 rotating keys, no Redis",
    ),
    Benchmark(
        name="rate_limit.v3_110_inline_estimates",
        patch="rate_limit.v3_110_inline_estimates",
        setup=_bench_setup,
        notes="same harness: 100 v3 pre-call checks (rpm/tpm limits, so two token estimates each), 5,000 rotating keys, no Redis",
    ),
]
