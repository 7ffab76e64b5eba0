"""The limiters' counter cache (``rate_limit.internal_usage_cache``, off by default).

The older patch ``rate_limit.internal_usage_cache`` (off by default) swaps only
the limiters' ``InMemoryCache`` for an exact Rust model of it; it is exact but not
a win (the hook's Python code dominates), and it keeps stock's cap behaviour.

It wraps ``InternalUsageCache.__init__``: a stock, empty ``InMemoryCache`` layer of the new
cache's ``DualCache`` becomes ``FastInMemoryCache`` (the same TTL and eviction rules, storage in
``_native.RateLimitStore``).
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, List, Optional

from ..._patching import Patch
from .common import COMPONENT, flavor as _flavor


def _key(key: Any) -> str:
    return key if key.__class__ is str else "\x00fast_litellm:" + repr(key)


def _make_fast_cache_class() -> type:
    from litellm.caching import in_memory_cache as imc_mod
    from litellm.caching.in_memory_cache import InMemoryCache

    from ... import _native

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


PATCH = Patch(
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
)
