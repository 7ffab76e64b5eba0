"""Rate limiting: the proxy limiter's counter store in Rust.

Call path (both pinned versions, no Redis)
------------------------------------------
``ProxyLogging.__init__`` (``litellm/proxy/utils.py``) builds
``internal_usage_cache = InternalUsageCache(DualCache(default_in_memory_ttl=1))``
and ``max_parallel_request_limiter = _PROXY_MaxParallelRequestsHandler(internal_usage_cache)``
(``litellm/proxy/hooks/parallel_request_limiter.py``, "v1"). ``_add_proxy_hooks``
also registers ``PROXY_HOOKS["parallel_request_limiter"]`` with the same
``internal_usage_cache``: that is ``_PROXY_MaxParallelRequestsHandler_v3`` on both
versions unless ``LEGACY_MULTI_INSTANCE_RATE_LIMITING=true`` (then v1).

The v1 limiter's ``async_pre_call_hook`` reads, with one
``async_batch_get_cache``, the keys ``global_max_parallel_requests``,
``{api_key}::{YYYY-MM-DD-HH-MM}::request_count``,
``{api_key}::{model}::{minute}::request_count`` and
``{user_id|team_id|end_user_id}::{minute}::request_count``. Each value is
``{"current_requests", "current_tpm", "current_rpm"}`` (in-flight gauge and the
minute's token/request counts; the window is the local wall-clock minute in the
key). Per scope (key, model_per_key, user, team, customer) it admits when
``current_requests < max_parallel_requests and current_tpm < tpm_limit and
current_rpm < rpm_limit`` (missing limits are ``sys.maxsize``; a limit of 0 with
no counter yet is a 429), writes the new values (``local_only``, ``ttl=60``)
after each scope, and schedules the same batch write with ``asyncio.create_task``.
A refusal is an ``HTTPException(429)`` (``ProxyRateLimitError`` on 1.110.2) whose
detail names the scope, current counts and limits, with a ``retry-after`` header
(seconds to the next minute). Success/failure callbacks decrement
``current_requests`` and add the response's tokens; ``async_post_call_success_hook``
sets ``x-ratelimit-{remaining,limit}-{requests,tokens}``.

Every counter sits in ``DualCache.in_memory_cache``: an ``InMemoryCache``
(``litellm/caching/in_memory_cache.py``) of at most 200 items (default), whose
``set_cache`` first evicts expired entries and then, while full, the entries
with the earliest expiry (ties: smallest key). So with more than ~200 live
counters stock LiteLLM *forgets* counters and admits again; we keep that
behaviour, because the decisions must not change.

What this patch does
--------------------
It wraps ``InternalUsageCache.__init__``: after LiteLLM's own ``__init__``, a
stock, empty ``InMemoryCache`` in its ``DualCache`` is replaced by
:class:`FastInMemoryCache`, which has the same methods and the same algorithm
(``fast_litellm_core::ratelimit::TtlStore``: same expiry comparisons, same heap,
same cap eviction, per-version details) but keeps counter dicts and integers as
fixed-size Rust values: no Python object per key or counter. Other values are
kept as the Python objects they are. The limiter's code runs unchanged, so its
admits, 429s, error text and headers are LiteLLM's own.

Known differences (documented, not decision-relevant):
* ``get_cache`` returns a fresh dict for a counter triple, where stock returns the
  stored object; LiteLLM's limiters never mutate what they read.
* One clock reading per cache operation (stock reads the clock up to three
  times within one ``set_cache``); the same value under a frozen clock.
* ``cache_dict``, ``ttl_dict`` and ``expiration_heap`` are read-only snapshots
  (LiteLLM reads them only in the debug endpoint, for ``len``).
* Keys that are not ``str`` are stored under ``repr`` (LiteLLM's limiters use str keys).
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Callable, List, Optional

from .._patching import Patch
from ..bench import Benchmark

COMPONENT = "rate_limit"


def _flavor() -> str:
    from ..registry import litellm_version
    from packaging.version import Version

    v = litellm_version() or "0"
    return "1.110" if Version(v) >= Version("1.100") else "1.83"


def _key(key: Any) -> str:
    return key if key.__class__ is str else "\x00fast_litellm:" + repr(key)


def _make_fast_cache_class() -> type:
    from litellm.caching import in_memory_cache as imc_mod
    from litellm.caching.in_memory_cache import InMemoryCache

    from .. import _native

    class FastInMemoryCache(InMemoryCache):  # type: ignore[misc, valid-type]
        """LiteLLM's ``InMemoryCache`` with its storage in Rust (see module doc)."""

        def __init__(self, template: Any) -> None:  # noqa: D107 - takes the stock instance it replaces
            self._store = _native.RateLimitStore(
                int(template.max_size_in_memory), float(template.default_ttl), _flavor()
            )
            self.max_size_per_item = template.max_size_per_item
            clock = getattr(template, "_clock", None)
            self._clock = clock if clock is not None else (lambda: imc_mod.time.time())
            self._increment_lock = threading.Lock()
            self._write_lock = threading.Lock()

        # -- configuration, as attributes -------------------------------------
        @property
        def max_size_in_memory(self) -> int:  # type: ignore[override]
            return self._store.max_size

        @max_size_in_memory.setter
        def max_size_in_memory(self, value: int) -> None:
            self._store.max_size = int(value)

        @property
        def default_ttl(self) -> float:  # type: ignore[override]
            return self._store.default_ttl

        @default_ttl.setter
        def default_ttl(self, value: float) -> None:
            self._store.default_ttl = float(value)

        # -- read-only views of the stock attributes --------------------------
        @property
        def cache_dict(self) -> dict:  # type: ignore[override]
            return {k: v for k, v, _ in self._store.items()}

        @property
        def ttl_dict(self) -> dict:  # type: ignore[override]
            return {k: e for k, _, e in self._store.items() if e is not None}

        @property
        def expiration_heap(self) -> list:  # type: ignore[override]
            return self._store.heap_items()

        def _cache_keys(self) -> tuple:
            return tuple(k for k, _, _ in self._store.items())

        # -- the algorithm ------------------------------------------------------
        def _is_key_expired(self, key: Any) -> bool:
            ttl = self._store.ttl(_key(key))
            return ttl is not None and self._clock() > ttl

        def _remove_key(self, key: Any) -> None:
            self._store.delete(_key(key))

        def evict_cache(self) -> None:
            self._store.evict(self._clock())

        def allow_ttl_override(self, key: Any) -> bool:
            ttl = self._store.ttl(_key(key))
            return ttl is None or ttl < self._clock()

        def set_cache(self, key: Any, value: Any, **kwargs: Any) -> None:
            if self._store.max_size == 0:
                return
            with self._write_lock:
                now = self._clock()
                if value.__class__ is not int and not self.check_value_size(value):
                    self._store.evict(now)
                    return
                ttl = kwargs.get("ttl")
                self._store.set(_key(key), value, float(ttl) if ttl is not None else None, now)

        async def async_set_cache(self, key: Any, value: Any, **kwargs: Any) -> None:
            self.set_cache(key=key, value=value, **kwargs)

        async def async_set_cache_pipeline(self, cache_list: Any, ttl: Any = None, **kwargs: Any) -> None:
            for cache_key, cache_value in cache_list:
                if ttl is not None:
                    self.set_cache(key=cache_key, value=cache_value, ttl=ttl)
                else:
                    self.set_cache(key=cache_key, value=cache_value)

        def evict_element_if_expired(self, key: Any) -> bool:
            if self._is_key_expired(key):
                self._remove_key(key)
                return True
            return False

        def get_cache(self, key: Any, **kwargs: Any) -> Any:
            value = self._store.get(_key(key), self._clock())
            if isinstance(value, (str, bytes, bytearray)):
                try:
                    return json.loads(value)
                except Exception:
                    return value
            return value

        def batch_get_cache(self, keys: list, **kwargs: Any) -> list:
            return [self.get_cache(key=k) for k in keys]

        async def async_get_cache(self, key: Any, **kwargs: Any) -> Any:
            return self.get_cache(key=key, **kwargs)

        async def async_batch_get_cache(self, keys: list, **kwargs: Any) -> list:
            return [self.get_cache(key=k) for k in keys]

        def increment_cache(self, key: Any, value: Any, **kwargs: Any) -> Any:
            # One Rust step for int deltas on int counters: no lost increments
            # across threads (stock 1.83 reads and writes in two steps).
            if value.__class__ is int and self._store.max_size != 0 and -(2**62) < value < 2**62:
                ttl = kwargs.get("ttl")
                got = self._store.incr(_key(key), value, float(ttl) if ttl is not None else None, self._clock())
                if got is not None:
                    return got
            with self._increment_lock:
                init_value = self.get_cache(key=key) or 0
                value = init_value + value
                self.set_cache(key, value, **kwargs)
                return value

        async def async_increment(self, key: Any, value: Any, **kwargs: Any) -> Any:
            return self.increment_cache(key, value, **kwargs)

        def flush_cache(self) -> None:
            self._store.flush()

        def delete_cache(self, key: Any) -> None:
            self._remove_key(key)

        async def async_get_ttl(self, key: str) -> Optional[float]:
            return self._store.ttl(_key(key))

    return FastInMemoryCache


_fast_cls: List[Optional[type]] = [None]


def fast_cache_class() -> type:
    if _fast_cls[0] is None:
        _fast_cls[0] = _make_fast_cache_class()
    return _fast_cls[0]


def accelerate_usage_cache(internal_usage_cache: Any) -> bool:
    """Swap a stock, empty in-memory layer for the Rust one. True if swapped."""
    from litellm.caching.in_memory_cache import InMemoryCache

    dual = getattr(internal_usage_cache, "dual_cache", None)
    imc = getattr(dual, "in_memory_cache", None)
    if type(imc) is not InMemoryCache or imc.cache_dict or imc.expiration_heap:
        return False
    dual.in_memory_cache = fast_cache_class()(imc)
    return True


def _build_init(original: Callable[..., Any]) -> Callable[..., Any]:
    fast_cache_class()  # fail at build time, not in the proxy's startup

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        accelerate_usage_cache(self)

    return __init__


PATCHES = [
    Patch(
        name="rate_limit.internal_usage_cache",
        component=COMPONENT,
        target="litellm.proxy.utils:InternalUsageCache.__init__",
        # Off by default (rule 2): exact (100k-call trace parity on 1.83.14 and
        # 1.110.2) but not a measured win: 1.03x / 0.93x per check, and the stock cache
        # is already capped at 200 items, so memory does not grow with keys either.
        supports=">=1.83.14,<1.111",
        off_by_default="exact, but 1.03x/0.93x per check: not a measured win",
        build=_build_init,
        summary=(
            "Off: the proxy limiters' counter cache (InternalUsageCache.dual_cache.in_memory_cache) "
            "as a Rust store with InMemoryCache's exact TTL/eviction algorithm. Decision-identical "
            "(100k-call traces, both versions) but not a measured win (1.03x on 1.83.14, 0.93x on "
            "1.110.2): the hook's Python code dominates and stock memory is capped at 200 items."
        ),
        callers=(
            "ProxyLogging: max_parallel_request_limiter (v1) and the parallel_request_limiter "
            "proxy hook (v3) read/write it on every request"
        ),
        compare=lambda a, b: a is None and b is None,
    ),
]


def _bench_pre_call_hook() -> Callable[[], Any]:
    """One pre-call check of a fresh key through ProxyLogging's limiter; a new
    ProxyLogging per activation state, looked up through litellm.proxy.utils."""
    import asyncio
    import itertools

    from litellm.caching.dual_cache import DualCache
    from litellm.proxy._types import UserAPIKeyAuth

    loop = asyncio.new_event_loop()
    counter = itertools.count()
    limiters: dict = {}

    def limiter() -> Any:
        import litellm.proxy.utils as pu
        from litellm.proxy.hooks.parallel_request_limiter import _PROXY_MaxParallelRequestsHandler

        init = pu.InternalUsageCache.__init__
        lim = limiters.get(init)
        if lim is None:
            iuc = pu.InternalUsageCache(dual_cache=DualCache(default_in_memory_ttl=1))
            lim = limiters[init] = _PROXY_MaxParallelRequestsHandler(iuc)
        return lim

    cache = DualCache()

    async def check(n: int) -> None:
        lim = limiter()
        auth = UserAPIKeyAuth(api_key=f"sk-bench-{n % 5000}", rpm_limit=10**9, tpm_limit=10**9)
        await lim.async_pre_call_hook(user_api_key_dict=auth, cache=cache, data={"model": "gpt-4o"}, call_type="completion")

    def run() -> None:
        loop.run_until_complete(check(next(counter)))

    return run


BENCHMARKS = [
    Benchmark(
        name="rate_limit.pre_call_hook",
        patch="rate_limit.internal_usage_cache",
        setup=_bench_pre_call_hook,
        notes="v1 limiter async_pre_call_hook, 5,000 rotating keys, no Redis",
    ),
]
