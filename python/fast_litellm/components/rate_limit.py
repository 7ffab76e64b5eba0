"""Rate limiting: the proxy's limiters (v3, its default, and v1) on Rust tables.

Call paths (both pinned versions, no Redis)
-------------------------------------------
``ProxyLogging.__init__`` (``litellm/proxy/utils.py``) builds
``internal_usage_cache = InternalUsageCache(DualCache(default_in_memory_ttl=1))`` and
``max_parallel_request_limiter = _PROXY_MaxParallelRequestsHandler(internal_usage_cache)``
("v1", ``litellm/proxy/hooks/parallel_request_limiter.py``). ``_add_proxy_hooks``
registers ``PROXY_HOOKS["parallel_request_limiter"]`` with the same cache: that is
``_PROXY_MaxParallelRequestsHandler_v3`` on both versions unless
``LEGACY_MULTI_INSTANCE_RATE_LIMITING=true`` (then v1). So the proxy runs v3 by
default; v1 is what ``ProxyLogging.max_parallel_request_limiter`` is, what the
legacy switch selects, and what issue 5's harness drives. Both are accelerated
on 1.83.x (``rate_limit.v3_limiter``, ``rate_limit.v1_limiter``); on 1.110.x
only v1 is (see "v3 on 1.110.x" below).

v1 semantics (read from both versions' source)
----------------------------------------------
Per scope string ``S`` -- ``{api_key}``, ``{api_key}::{model}``, ``{user_id}``,
``{team_id}``, ``{end_user_id}`` (one namespace: equal strings share a counter,
as in LiteLLM) -- and local wall-clock minute, a triple
``current_requests`` (in-flight, per minute), ``current_tpm``, ``current_rpm``.
The pre-call hook reads every scope once, then checks them in order
(key, model_per_key, user, team, customer): admit when
``current_requests < max_parallel and current_tpm < tpm and current_rpm < rpm``
(missing limits are ``sys.maxsize``; model limits of 0 also mean maxsize; with no
counter yet, any limit of 0 refuses), writing ``requests+1, rpm+1`` after each
admitted scope; the first refusal raises and earlier scopes stay counted. Success
callbacks release in-flight and add the response's tokens (defaults and
``released`` differ per version: 1.110.2 adds ``_slots_released`` for websockets
and does not double-count tokens for user/team/end user); failure callbacks
release the key's in-flight unless the error is the limiter's own;
``async_post_call_success_hook`` sets ``x-ratelimit-{remaining,limit}-{requests,tokens}``.
``global_max_parallel_requests`` (request metadata) is one process-wide integer.

What the patch does (``rate_limit.v1_limiter``, on with the legacy switch)
-------------------------------------------------------------------------
The proxy calls v1 only when ``LEGACY_MULTI_INSTANCE_RATE_LIMITING=true`` (read
by ``litellm/proxy/hooks/__init__.py`` at import, same test on both versions:
``os.getenv(..., "false").lower() == "true"``); otherwise
``ProxyLogging.max_parallel_request_limiter`` is built but never called. So the
patch is applied (and reported applied) only when that variable passes the same
test at activation (``Patch.requires``); otherwise it is skipped with that reason.
It wraps ``_PROXY_MaxParallelRequestsHandler.__init__``: after LiteLLM's own
``__init__`` the instance gets our four hooks (instance attributes), which keep
the counters in ``_native.RateLimitWindows``
(``fast_litellm_core::ratelimit::window``): one 24-byte slot per scope string --
a 64-bit keyed SipHash of ``S``, then ``window|requests|rpm`` and ``window|tpm``
words updated by compare-and-swap -- so a check is one native call with no
Python object per key or counter. The string is never stored: the limiter only
looks counters up by the string it already holds (the one reader of key lists in
LiteLLM is a debug endpoint, which no longer sees these counters). 64-bit hash:
two distinct live scopes collide with probability ~n^2/2^65 (~3e-8 at a million
keys); the per-table random seed keeps collisions from being crafted. Refusals
are raised by LiteLLM's own ``check_key_in_limits`` (same class --
``HTTPException``/``ProxyRateLimitError`` --, status, detail, ``retry-after``).

The common case of the pre-call check is ONE native call
(``_native.RateLimitV1Fast.check``, built per limiter by ``_v1_fused_check``):
exact ``UserAPIKeyAuth`` (fields read from its instance dict), no Redis, no
``global_max_parallel_requests``, no per-model limit for the key (key metadata,
``model_max_budget``, team metadata; without a router there are no deployment
defaults), int-or-None limits, str-or-None ids, and on 1.110.x no budget
throttle and no session token. The scopes and decisions are
``fast_litellm_core::ratelimit::window::WindowTable::check_v1``. The minute:
with LiteLLM's default clock (``datetime.now``), ``localtime_r`` of the floored
second of the system clock, which is what ``datetime.now()`` computes (CPython
floors the ns time to the microsecond, then ``localtime_r`` of the seconds);
tested at every second around the 2024-2026 offset changes of 11 zones and at
minute boundaries 1850-2150. One ``localtime_r`` per distinct second (cached):
a ``time.tzset()`` to another zone takes effect at the next second. A replaced
clock: the minute of LiteLLM's clock is passed in. Anything else runs the
Python transcription below (one native ``admit``).
The global in-flight integer stays in LiteLLM's cache, handled by LiteLLM's
calls. Redis configured on the cache: every hook runs LiteLLM's code.
Limits that are not ``int``: LiteLLM's hook runs.

Across workers: when ``FAST_LITELLM_RATE_LIMIT_SHM`` names a file, every limiter
in every process opening it counts in one memory-mapped table (fixed capacity,
``FAST_LITELLM_RATE_LIMIT_SHM_SLOTS``, default 4,194,304 slots = 96 MiB of
sparse file; RAM only for touched pages). The first opener sizes it under an
``flock`` held only for initialisation; updates are lock-free CAS on fixed
slots, so a worker dying mid-update leaves nothing locked. ``fast-litellm
run``/``proxy`` set the variable to a fresh file per launched instance, so
``--num_workers 4`` / ``gunicorn -w 4`` enforce one limit, not four.

Deliberate differences (documented, tested)
-------------------------------------------
* Stock keeps counters in an ``InMemoryCache`` capped at 200 items: with more
  live counters it evicts some and re-admits (a limiter that does not limit). We
  keep every counter (``test_above_stock_cap_we_keep_limiting``). Parity traces
  stay under the cap (checked).
* Stock re-writes the pre-call values later from an ``asyncio.create_task``; if a
  success/failure callback ran in between, that write undoes it (lost update).
  We do not re-write. Traces yield to the loop after each call, as a server does,
  so stock's deferred write lands first there.
* Counters are capped at 1,048,575 requests (and in-flight) per scope per minute
  and 2^40-1 tokens; beyond, the native call errors and LiteLLM's hook runs.
  Negative or non-int token counts: the callback writes nothing (stock adds them).
* A scope with no traffic for exactly the repeated hour of a DST fall-back would
  see its counts from an hour earlier (stock: expired by the 60 s TTL).
* Limiters built while the patch was active keep our hooks after ``deactivate()``.
* 1.83.14 reads ``datetime.now()`` three times for one minute key (date, hour,
  minute), which can mix two instants at a boundary; we read the clock once.

The older patch ``rate_limit.internal_usage_cache`` (off by default) swaps only
the limiters' ``InMemoryCache`` for an exact Rust model of it; it is exact but not
a win (the hook's Python code dominates), and it keeps stock's cap behaviour.

The v3 limiter (``rate_limit.v3_limiter``, on by default, 1.83.x)
----------------------------------------------------------------
v3 semantics (1.83.14, no Redis, read from the source): per request, descriptors
``{key, value, rate_limit}`` for api_key (rpm/tpm/max_parallel), user, team,
team_member, end_user, model_per_key, model_per_team (twice when both team-model
builders name it), model_per_project, organization, model_per_organization,
agent, agent_session. ``should_rate_limit``: a pre-check reads every set counter
(``{key:value}:requests|tokens|max_parallel_requests``) and refuses when one is
``> limit`` (nothing counted); else, for every (window, counter) pair in order,
``in_memory_cache_sliding_window`` resets the window (``{key:value}:window`` =
the limiter clock's second, counter = 1) when it is missing or
``now_int - start >= window_size``, else adds 1 to the counter -- so only the
first counter of a descriptor restarts with a new window, the others carry on
-- and refuses when a counter is then ``> limit`` (counted anyway). Every entry
lives in ``InMemoryCache`` with its own expiry (``time.time() + ttl``, kept on
overwrite while live): window and pre-call counters ``window_size`` (60 s),
counters first created by the success/failure callbacks (tokens ``+=``
``total_tokens`` for key/user/team/team_member/end_user/model scopes,
max_parallel ``-= 1`` for the key) the cache's default 600 s. A window key can
thus expire before its window ends, and a token counter can outlive windows:
decisions depend on those expiry times. Refusals: ``_handle_rate_limit_error``
(``HTTPException`` 429, detail, ``retry-after``/``rate_limit_type``/``reset_at``);
admits store the ``RateLimitResponse`` in ``data`` for the post-call headers.

What the patch does: it wraps ``_PROXY_MaxParallelRequestsHandler_v3.__init__``
and gives the instance our pre-call, success and failure hooks (the post-call
hook only reads ``data`` and stays LiteLLM's). They keep every entry in
``_native.RateLimitFixedWindows`` (``fast_litellm_core::ratelimit::fixed``): one
80-byte slot per descriptor string ``"{key}:{value}"`` (64-bit keyed SipHash; the
string is never stored), with the four entries' exact values and ``f64``
expiries, so the pre-check, the window logic and the final check are one native
call that returns LiteLLM's ``RateLimitResponse`` dict. The hook's own checks
(Redis, batch script, ``acreate_batch``, ``window_size``, default clocks, the
router lookup) and the write of the response into ``data`` are in the same
native call (``_native.RateLimitV3Fast.check``, built per limiter by
``_v3_fast_check``); the hook's Python is that call and two comparisons. The common case (no
dynamic/typed limits, no team/project/organisation metadata, no organisation
limits, no agent, no ``model_max_budget``; exact ``UserAPIKeyAuth``) is ONE
native call (``fused_v3_check`` -> ``RateLimitFixedWindows.check_auth``): the
binding reads the needed fields from the instance dict (only those LiteLLM's
builders read for this request) and ``data["model"]``, the descriptors and the
window logic are ``fast_litellm_core::ratelimit::fixed::{v3_descriptors,
FixedWindowTable::check_request}``; with LiteLLM's default clocks one system-clock
reading gives both (``clocks_from_ns``: ``int(datetime.now().timestamp())`` is the
integer part of the ns time -- ``datetime.now()`` truncates to the microsecond and
round-trips through local time with ``fold``; ``time.time()`` is CPython's ns ->
float), else LiteLLM's clock values are passed in. Router deployment defaults are
LiteLLM's own helpers, called per request (no cache) when a router exists and the
key has no per-model limit of its own, as stock does. Descriptors for other
common-case shapes are built in Python (``simple_descriptors``, calling LiteLLM's
``get_key_model_*_limit``/deployment-default helpers where they apply); any other
case uses LiteLLM's own descriptor builders. 429s are raised by LiteLLM's
``_handle_rate_limit_error``. The clocks are LiteLLM's: the limiter's
``_get_current_time()`` for windows, ``litellm.caching.in_memory_cache.time.time()``
for expiries. LiteLLM's code runs for: Redis on the usage cache (its Lua
scripts -- across hosts the counters live in Redis, as LiteLLM does it),
``acreate_batch`` (the batch limiter), dynamic ``rpm/tpm_limit_type``, a
descriptor named twice with different limits, non-int limits or values beyond
+-2**62, a full shared table. Across workers: ``FAST_LITELLM_RATE_LIMIT_SHM`` +
``".v3"`` (the launcher removes both files), fixed capacity
(``FAST_LITELLM_RATE_LIMIT_SHM_SLOTS``, default 1,048,576 slots = 80 MiB sparse),
slots whose entries have all expired are reused; each slot is updated under its
own lock word (owner pid; a dead owner's lock is taken over), new descriptors
placed under a table-wide insert lock (same rule).

v3 deliberate differences: no 200-item cap (stock forgets counters above it);
at the exact instant ``now == expiry`` an entry reads as live and is replaced by
a write (stock: the same unless another write at that instant evicted it first);
``acreate_batch`` calls count in LiteLLM's cache, the others in ours (a key's
batch and non-batch requests are limited separately); the dynamic rate limiter
(``dynamic_rate_limiter_v3``) keeps its own v3 instance and cache, untouched.

v3 on 1.110.x: not accelerated (``supports`` stops at 1.84). Its v3 is a
different 5,348-line algorithm: TPM reservations from ``max_tokens`` estimates
at pre-call reconciled at success/failure, a per-request stash, PTU team
ceilings and normalised tokens, batch-enqueued reservations. Reproducing it
exactly is its own piece of work.

Missing: v3 on 1.110.x (above, in ``rate_limit_v3_110``); v1's per-model-limit,
global-limit and throttled requests still run the Python transcription (one
native ``admit``); Redis is delegated to LiteLLM's own code.
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


# -- the v1 limiter's hooks on a Rust window table ---------------------------------

_MAXSIZE = sys.maxsize
_SHARED_TABLES: dict = {}
_SHARED_LOCK = threading.Lock()
SHM_ENV = "FAST_LITELLM_RATE_LIMIT_SHM"
SHM_SLOTS_ENV = "FAST_LITELLM_RATE_LIMIT_SHM_SLOTS"


def windows_for(limiter: Any) -> Any:
    """The table a limiter counts in: one shared, memory-mapped table per process
    when ``FAST_LITELLM_RATE_LIMIT_SHM`` names a file (the launcher sets it), else
    one heap table per ``InternalUsageCache`` (stock: limiters given the same
    cache share its counters)."""
    import os

    from .. import _native

    table = limiter.__dict__.get("_fast_litellm_windows")
    if table is not None:
        return table
    path = os.environ.get(SHM_ENV)
    if path:
        with _SHARED_LOCK:
            table = _SHARED_TABLES.get(path)
            if table is None:
                slots = int(os.environ.get(SHM_SLOTS_ENV) or 4_194_304)
                table = _SHARED_TABLES[path] = _native.RateLimitWindows(path, slots)
    else:
        owner = getattr(limiter, "internal_usage_cache", None)
        owner_dict = getattr(owner, "__dict__", None)
        table = owner_dict.get("_fast_litellm_windows") if owner_dict is not None else None
        if table is None:
            table = _native.RateLimitWindows()
            if owner_dict is not None:
                owner_dict["_fast_litellm_windows"] = table
    limiter.__dict__["_fast_litellm_windows"] = table
    return table


def _window(now: Any) -> int:
    # The identity of LiteLLM's "%Y-%m-%d-%H-%M" key part.
    return now.toordinal() * 1440 + now.hour * 60 + now.minute


_V1_AUTH_FIELDS = (
    "api_key max_parallel_requests tpm_limit rpm_limit user_id user_tpm_limit user_rpm_limit team_id "
    "team_tpm_limit team_rpm_limit end_user_id end_user_tpm_limit end_user_rpm_limit metadata "
    "model_max_budget team_metadata"
).split()


def _v1_fused_check(lim: Any, table: Any, v110: bool, au_tpm: Any, au_rpm: Any) -> Callable[..., Any]:
    """The bound ``check(auth, data, window=None)`` of a ``_native.RateLimitV1Fast``
    for this limiter: LiteLLM's v1 pre-call check for the common case in one
    native call (see its docstring and ``fast_litellm_core::ratelimit::window::check_v1``).

    It covers exact ``UserAPIKeyAuth`` objects (fields read from the instance
    dict: only valid when they are plain pydantic fields, checked here), no
    Redis, no ``global_max_parallel_requests``, no per-model limit for the key
    (key metadata, ``model_max_budget``, team metadata, no router -- LiteLLM's
    ``get_key_model_*_limit`` unreplaced), int-or-None limits, str-or-None ids;
    on 1.110.x no ``budget_throttle_pct`` and no session token. Clock: with
    LiteLLM's default (``datetime.now``: the module's ``datetime`` on 1.83, the
    limiter's ``_clock`` on 1.110) the native side reads the system clock and
    takes ``localtime_r`` of its floored second, which is what ``datetime.now()``
    does (``fast_litellm_core::ratelimit::window::local_minute``); a replaced
    clock makes it answer 3 and the hook passes the minute of LiteLLM's clock."""
    import datetime as _dt

    import litellm.proxy.hooks.parallel_request_limiter as prl
    from litellm.proxy._types import UserAPIKeyAuth

    from .. import _native

    fields = getattr(UserAPIKeyAuth, "model_fields", {})
    names = _V1_AUTH_FIELDS + (["is_session_token", "budget_throttle_pct"] if v110 else [])
    # Instance-dict reads equal attribute reads only for plain pydantic fields,
    # and for attributes the classes do not define.
    iuc = lim.internal_usage_cache
    dual = getattr(iuc, "dual_cache", None)
    plain = (
        all(n in fields and not hasattr(UserAPIKeyAuth, n) for n in names)
        and "dual_cache" in getattr(iuc, "__dict__", ())
        and not hasattr(type(iuc), "dual_cache")
        and "redis_cache" in getattr(dual, "__dict__", ())
        and not hasattr(type(dual), "redis_cache")
    )
    if not plain:
        return lambda auth, data, window=None: 1
    if v110:
        clock_dict = lim.__dict__
        c0 = clock_dict.get("_clock")
        clock0 = c0 if c0 is not None and c0 == _dt.datetime.now and not hasattr(type(lim), "_clock") else None
    else:
        clock_dict = prl.__dict__
        clock0 = _dt.datetime
    return _native.RateLimitV1Fast(
        table,
        v110,
        UserAPIKeyAuth,
        iuc.__dict__,
        dual,
        clock_dict,
        clock0,
        prl.__dict__,
        (au_tpm, au_rpm),
        sys.modules,
    ).check


def _install_v1_hooks(lim: Any, cls: type) -> None:  # noqa: C901, PLR0915 - mirrors LiteLLM's hooks
    import litellm.proxy.hooks.parallel_request_limiter as prl
    from litellm import ModelResponse
    from litellm.proxy._types import CommonProxyErrors, UserAPIKeyAuth
    from pydantic import BaseModel

    v110 = _flavor() == "1.110"
    table = windows_for(lim)
    iuc = lim.internal_usage_cache
    stock_pre = cls.async_pre_call_hook.__get__(lim)
    stock_success = cls.async_log_success_event.__get__(lim)
    stock_failure = cls.async_log_failure_event.__get__(lim)
    stock_post = cls.async_post_call_success_hook.__get__(lim)
    limit_reached = CommonProxyErrors.max_parallel_request_limit_reached.value
    if v110:
        from litellm.proxy.litellm_pre_call_utils import LiteLLMProxyRequestSetup

        logged_key = LiteLLMProxyRequestSetup.get_logged_api_key
        clock = lim._clock
    else:
        logged_key = None

        def clock() -> Any:
            return prl.datetime.now()

    def redis() -> bool:
        return getattr(getattr(iuc, "dual_cache", None), "redis_cache", None) is not None

    from litellm.proxy.auth import auth_utils as au

    au_tpm, au_rpm = au.get_key_model_tpm_limit, au.get_key_model_rpm_limit
    modules = sys.modules

    def key_model_limits(u: Any, model: Any) -> Any:
        """``(get_key_model_tpm_limit(u, model_name=model), get_key_model_rpm_limit(...))``
        as LiteLLM's hook calls them (through ``prl``); LiteLLM's functions run
        unless the answer is the key's metadata or no-router-so-None (the same
        steps on 1.83.14 and 1.110.2: metadata, model_max_budget, team metadata,
        the router's deployment default)."""
        f_tpm, f_rpm = prl.get_key_model_tpm_limit, prl.get_key_model_rpm_limit
        if f_tpm is not au_tpm or f_rpm is not au_rpm:
            return f_tpm(u, model_name=model), f_rpm(u, model_name=model)
        md = u.metadata
        t = r = None
        if md:
            t = md.get("model_tpm_limit")
            r = md.get("model_rpm_limit")
            if t and r:
                return t, r
        if u.model_max_budget or u.team_metadata:
            return (t if t else f_tpm(u, model_name=model)), (r if r else f_rpm(u, model_name=model))
        if model is not None:
            ps = modules.get(_PROXY_SERVER)
            if ps is None or getattr(ps, "llm_router", None) is not None:
                return (t if t else f_tpm(u, model_name=model)), (r if r else f_rpm(u, model_name=model))
        return (t if t else None), (r if r else None)

    async def global_incr(value: int, span: Any) -> None:
        await iuc.async_increment_cache(
            key="global_max_parallel_requests", value=value, local_only=True, litellm_parent_otel_span=span
        )

    async def refuse(u: Any, cache: Any, data: dict, call_type: Any, scope: str, limits: Any, kind: str, current: Any) -> None:
        cur = (
            None
            if current is None
            else {"current_requests": current[0], "current_tpm": current[1], "current_rpm": current[2]}
        )
        # LiteLLM's own check raises its own 429 (class, detail, retry-after).
        await lim.check_key_in_limits(
            user_api_key_dict=u,
            cache=cache,
            data=data,
            call_type=call_type,
            max_parallel_requests=limits[0],
            tpm_limit=limits[1],
            rpm_limit=limits[2],
            current=cur,
            request_count_api_key=f"{scope}::request_count",
            rate_limit_type=kind,
            values_to_update_in_cache=[],
        )
        raise RuntimeError("fast_litellm: rate-limit decision differs from LiteLLM's")  # pragma: no cover

    fast_check = _v1_fused_check(lim, table, v110, au_tpm, au_rpm)

    async def async_pre_call_hook(user_api_key_dict: Any, cache: Any, data: dict, call_type: Any) -> None:
        # The common case in one native call (RateLimitV1Fast.check); else below.
        try:
            r = fast_check(user_api_key_dict, data)
            if r is None:
                return None
            if r.__class__ is int and r == 3:  # a replaced clock: its minute
                r = fast_check(user_api_key_dict, data, _window(clock()))
        except (TypeError, ValueError, MemoryError, OverflowError):  # overflow, full shared table
            r = 1
        if r is None:
            return None
        if r.__class__ is tuple:
            return await refuse(user_api_key_dict, cache, data, call_type, r[0], r[1:4], r[4], r[5])
        return await general_pre(user_api_key_dict, cache, data, call_type)

    async def general_pre(user_api_key_dict: Any, cache: Any, data: dict, call_type: Any) -> None:
        if redis():
            return await stock_pre(user_api_key_dict, cache, data, call_type)
        u = user_api_key_dict
        api_key = logged_key(u) if v110 else u.api_key
        max_parallel = u.max_parallel_requests
        if max_parallel is None:
            max_parallel = _MAXSIZE
        if data is None:
            data = {}
        global_max = data.get("metadata", {}).get("global_max_parallel_requests", None)
        if v110:
            pct = getattr(u, "budget_throttle_pct", None)
            tpm_limit = prl.throttled_limit(getattr(u, "tpm_limit", _MAXSIZE), pct)
            rpm_limit = prl.throttled_limit(getattr(u, "rpm_limit", _MAXSIZE), pct)
        else:
            tpm_limit = getattr(u, "tpm_limit", _MAXSIZE)
            rpm_limit = getattr(u, "rpm_limit", _MAXSIZE)
        if tpm_limit is None:
            tpm_limit = _MAXSIZE
        if rpm_limit is None:
            rpm_limit = _MAXSIZE
        scopes = []  # (scope string, max_parallel, tpm, rpm, rate_limit_type), LiteLLM's order
        model = data.get("model", None)
        if api_key is not None:
            scopes.append((api_key if api_key.__class__ is str else f"{api_key}", max_parallel, tpm_limit, rpm_limit, "key"))
        m_tpm, m_rpm = key_model_limits(u, model)
        want = -1
        if m_tpm is not None or m_rpm is not None:
            tpm_m = rpm_m = None
            if model is not None:
                if m_tpm:
                    tpm_m = m_tpm.get(model)
                if m_rpm:
                    rpm_m = m_rpm.get(model)
            want = len(scopes)
            scopes.append((f"{api_key}::{model}", _MAXSIZE, tpm_m or _MAXSIZE, rpm_m or _MAXSIZE, "model_per_key"))
        scope = u.user_id
        if scope is not None:
            t, r = u.user_tpm_limit, u.user_rpm_limit
            scopes.append((f"{scope}", _MAXSIZE, _MAXSIZE if t is None else t, _MAXSIZE if r is None else r, "user"))
        scope = u.team_id
        if scope is not None:
            t, r = u.team_tpm_limit, u.team_rpm_limit
            scopes.append((f"{scope}", _MAXSIZE, _MAXSIZE if t is None else t, _MAXSIZE if r is None else r, "team"))
        scope = u.end_user_id
        if scope:
            t = getattr(u, "end_user_tpm_limit", _MAXSIZE)
            r = getattr(u, "end_user_rpm_limit", _MAXSIZE)
            scopes.append((f"{scope}", _MAXSIZE, _MAXSIZE if t is None else t, _MAXSIZE if r is None else r, "customer"))
        keys = []
        limits = []
        for sc in scopes:
            keys.append(sc[0])
            limits += sc[1:4]
        if not all(x.__class__ is int for x in limits):
            return await stock_pre(user_api_key_dict, cache, data, call_type)
        if global_max is not None:
            span = u.parent_otel_span
            current_global = await iuc.async_get_cache(
                key="global_max_parallel_requests", local_only=True, litellm_parent_otel_span=span
            )
            if current_global is None:
                current_global = 1
            if current_global >= global_max:
                details = f"Hit Global Limit: Limit={global_max}, current: {current_global}"
                if v110:
                    lim.raise_rate_limit_error(additional_details=details, requested_model=data.get("model") if data else None)
                return lim.raise_rate_limit_error(additional_details=details)
            await global_incr(1, span)
        now = clock()
        try:
            refused, current, model_val = table.admit(_window(now), keys, limits, want)
        except (TypeError, ValueError, MemoryError):  # odd limits, counter overflow, full shared table
            if global_max is not None:
                await global_incr(-1, u.parent_otel_span)  # LiteLLM's hook counts it again
            return await stock_pre(user_api_key_dict, cache, data, call_type)
        if want >= 0 and model_val is not None:
            remaining_tokens = remaining_requests = None
            if tpm_m is not None:
                remaining_tokens = tpm_m - model_val[1]
            if rpm_m is not None:
                remaining_requests = rpm_m - model_val[2]
            if "metadata" not in data:
                data["metadata"] = {}
            data["metadata"].update(
                {
                    f"litellm-key-remaining-tokens-{model}": remaining_tokens,
                    f"litellm-key-remaining-requests-{model}": remaining_requests,
                }
            )
        if refused >= 0:
            s = scopes[refused]
            await refuse(u, cache, data, call_type, s[0], s[1:4], s[4], current)
        return None

    def tokens_of(kwargs: Any, response_obj: Any) -> Any:
        if v110:
            return prl._response_total_tokens(kwargs, response_obj)
        return response_obj.usage.total_tokens if isinstance(response_obj, ModelResponse) else 0

    async def async_log_success_event(kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        if redis():
            return await stock_success(kwargs, response_obj, start_time, end_time)
        from litellm.proxy.common_utils.callback_utils import get_model_group_from_litellm_kwargs

        try:
            span = prl.get_parent_otel_span_from_kwargs(kwargs=kwargs) if v110 else prl._get_parent_otel_span_from_kwargs(kwargs=kwargs)
            released = prl._slots_released(kwargs) if v110 else 1
            meta = kwargs["litellm_params"]["metadata"]
            global_max = meta.get("global_max_parallel_requests", None)
            user_api_key = meta["user_api_key"]
            user_id = meta.get("user_api_key_user_id", None)
            team_id = meta.get("user_api_key_team_id", None)
            model_max_budget = meta.get("user_api_key_model_max_budget", None)
            end_user_id = kwargs.get("user")
            key_metadata = meta.get("user_api_key_metadata", {}) or {}
            team_metadata = meta.get("user_api_key_team_metadata", None)
            u = UserAPIKeyAuth(
                api_key=user_api_key, metadata=key_metadata, model_max_budget=model_max_budget, team_metadata=team_metadata
            )
            if global_max is not None:
                await global_incr(-released, span)
            window = _window(clock())
            total = tokens_of(kwargs, response_obj)
            ops = []
            if user_api_key is not None:
                ops.append((f"{user_api_key}", released, total, (1, 0, 0)))
            model_group = get_model_group_from_litellm_kwargs(kwargs)
            s_tpm = prl.get_key_model_tpm_limit(u, model_name=model_group) if model_group is not None else None
            s_rpm = prl.get_key_model_rpm_limit(u, model_name=model_group) if model_group is not None else None
            if (
                user_api_key is not None
                and model_group is not None
                and (
                    "model_rpm_limit" in key_metadata
                    or "model_tpm_limit" in key_metadata
                    or model_max_budget is not None
                    or s_tpm is not None
                    or s_rpm is not None
                )
            ):
                ops.append((f"{user_api_key}::{model_group}", released, total, (1, 0, 0)))
            for scope in (user_id, team_id, end_user_id):
                if scope is not None:
                    if not v110:
                        total = tokens_of(kwargs, response_obj)
                    ops.append((f"{scope}", released, total, (1, 0 if v110 else total, 1)))
            table.release(window, ops)
        except Exception as e:
            lim.print_verbose(e)
        return None

    async def async_log_failure_event(kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        if redis():
            return await stock_failure(kwargs, response_obj, start_time, end_time)
        try:
            span = prl.get_parent_otel_span_from_kwargs(kwargs=kwargs) if v110 else prl._get_parent_otel_span_from_kwargs(kwargs=kwargs)
            meta = kwargs["litellm_params"].get("metadata", {}) or {}
            released = prl._slots_released(kwargs) if v110 else 1
            global_max = meta.get("global_max_parallel_requests", None)
            user_api_key = meta.get("user_api_key", None)
            if user_api_key is None:
                return None
            if limit_reached in str(kwargs["exception"]):
                return None
            if global_max is not None:
                await iuc.async_get_cache(key="global_max_parallel_requests", local_only=True, litellm_parent_otel_span=span)
                await global_incr(-released, span)
            table.release(_window(clock()), [(f"{user_api_key}", released, 0, (1, 0, 0))])
        except Exception as e:
            prl.verbose_proxy_logger.exception("Inside Parallel Request Limiter: An exception occurred - %s", e)
        return None

    async def async_post_call_success_hook(data: dict, user_api_key_dict: Any, response: Any) -> Any:
        if redis():
            return await stock_post(data, user_api_key_dict, response)
        u = user_api_key_dict
        api_key = logged_key(u) if v110 else u.api_key
        current = table.get(_window(clock()), f"{api_key}")
        rem_rpm = rpm = rem_tpm = tpm = None
        if current is not None:
            if u.rpm_limit is not None:
                rem_rpm = u.rpm_limit - current[2]
                rpm = u.rpm_limit
            if u.tpm_limit is not None:
                rem_tpm = u.tpm_limit - current[1]
                tpm = u.tpm_limit
        hidden = getattr(response, "_hidden_params", None) if v110 else (
            getattr(response, "_hidden_params") if hasattr(response, "_hidden_params") else None
        )
        if hidden is not None and isinstance(hidden, (BaseModel, dict)):
            if isinstance(hidden, BaseModel):
                hidden = hidden.model_dump()
            headers = hidden.get("additional_headers", {}) or {}
            if rem_rpm is not None:
                headers["x-ratelimit-remaining-requests"] = rem_rpm
            if rpm is not None:
                headers["x-ratelimit-limit-requests"] = rpm
            if rem_tpm is not None:
                headers["x-ratelimit-remaining-tokens"] = rem_tpm
            if tpm is not None:
                headers["x-ratelimit-limit-tokens"] = tpm
            setattr(response, "_hidden_params", {**hidden, "additional_headers": headers})
            result = await super(cls, lim).async_post_call_success_hook(data, u, response)
            return None if v110 else result
        return None

    lim.async_pre_call_hook = async_pre_call_hook
    lim.async_log_success_event = async_log_success_event
    lim.async_log_failure_event = async_log_failure_event
    lim.async_post_call_success_hook = async_post_call_success_hook


LEGACY_ENV = "LEGACY_MULTI_INSTANCE_RATE_LIMITING"
V1_SKIP_REASON = "the proxy runs the v3 limiter; v1 runs only with LEGACY_MULTI_INSTANCE_RATE_LIMITING=true"


def v1_in_use() -> Optional[str]:
    """``Patch.requires`` of the v1 patch: LiteLLM's own test of the legacy switch."""
    import os

    return None if os.getenv(LEGACY_ENV, "false").lower() == "true" else V1_SKIP_REASON


def accelerate_limiter(lim: Any) -> bool:
    """Give a stock v1 limiter our hooks (counters in a Rust window table). True if done."""
    from litellm.proxy.hooks.parallel_request_limiter import _PROXY_MaxParallelRequestsHandler as cls

    if type(lim) is not cls or "_fast_litellm_windows" in lim.__dict__:
        return False
    _install_v1_hooks(lim, cls)
    return True


def _accelerating_init(table_cls: str, accelerate: Callable[[Any], bool], label: str) -> Callable[..., Any]:
    """A patch ``build`` for a limiter class's ``__init__``: LiteLLM's own, then ``accelerate(self)``."""

    def build(original: Callable[..., Any]) -> Callable[..., Any]:
        from .. import _native

        getattr(_native, table_cls)  # fail at build time, not per request

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            try:
                accelerate(self)
            except Exception as exc:  # keep the stock limiter
                import logging

                logging.getLogger("fast_litellm").warning("rate_limit: %s limiter not accelerated: %r", label, exc)

        return __init__

    return build


# -- the v3 limiter (the proxy's default) on a Rust fixed-window table -----------

V3_SUFFIX = ".v3"
_TOKENS_SUFFIX = "}:tokens"
_PARALLEL_SUFFIX = "}:max_parallel_requests"


def v3_windows_for(limiter: Any) -> Any:
    """The v3 table a limiter counts in: ``FAST_LITELLM_RATE_LIMIT_SHM`` + ".v3"
    (one memory-mapped table per launched instance, shared by its workers), else
    one heap table per ``InternalUsageCache`` (as stock shares the cache)."""
    import os

    from .. import _native

    table = limiter.__dict__.get("_fast_litellm_v3")
    if table is not None:
        return table
    path = os.environ.get(SHM_ENV)
    if path:
        path += V3_SUFFIX
        with _SHARED_LOCK:
            table = _SHARED_TABLES.get(path)
            if table is None:
                slots = int(os.environ.get(SHM_SLOTS_ENV) or 1_048_576)
                table = _SHARED_TABLES[path] = _native.RateLimitFixedWindows(path, slots)
    else:
        owner = getattr(limiter, "internal_usage_cache", None)
        owner_dict = getattr(owner, "__dict__", None)
        table = owner_dict.get("_fast_litellm_v3") if owner_dict is not None else None
        if table is None:
            table = _native.RateLimitFixedWindows()
            if owner_dict is not None:
                owner_dict["_fast_litellm_v3"] = table
    limiter.__dict__["_fast_litellm_v3"] = table
    return table


_AUTH_UTILS: List[Any] = [None]


def _key_model_limit(u: Any, model: str, meta_key: str, which: int) -> Any:
    """LiteLLM 1.83's ``get_key_model_{tpm,rpm}_limit(u, model_name=model)`` when
    ``u.team_metadata`` is falsy: key metadata, else (model_max_budget: LiteLLM's
    function), else the router's deployment default."""
    au = _AUTH_UTILS[0]
    if au is None:
        from litellm.proxy.auth import auth_utils as au

        _AUTH_UTILS[0] = au
    md = u.metadata
    if md:
        got = md.get(meta_key)
        if got:
            return got
    if u.model_max_budget:
        return (au.get_key_model_tpm_limit, au.get_key_model_rpm_limit)[which](u, model_name=model)
    ps = sys.modules.get("litellm.proxy.proxy_server")
    if ps is not None and getattr(ps, "llm_router", None) is None:
        return None
    default = (au._get_deployment_default_tpm_limit, au._get_deployment_default_rpm_limit)[which](model)
    return None if default is None else {model: default}


def simple_descriptors(u: Any, data: dict, model: Any) -> Any:
    """LiteLLM 1.83's v3 descriptors (``_create_rate_limit_descriptors`` and the
    team/project/org/agent additions) for the common case -- no team, project or
    organisation metadata, no organisation limits, no agent -- as flat lists
    ``(ids, names, limits, values)``; None when not that case (LiteLLM builds them)."""
    if (
        u.team_metadata
        or getattr(u, "project_metadata", None)
        or getattr(u, "organization_metadata", None)
        or getattr(u, "agent_id", None)
        or (u.org_id is not None and (u.organization_rpm_limit is not None or u.organization_tpm_limit is not None))
        or (data.get("metadata") or {}).get("agent_id")
    ):
        return None
    ids: list = []
    names: list = []
    limits: list = []
    values: list = []
    ak = u.api_key
    if ak and (u.rpm_limit is not None or u.tpm_limit is not None or u.max_parallel_requests is not None):
        ids.append(f"api_key:{ak}")
        names.append("api_key")
        values.append(ak)
        limits += (u.rpm_limit, u.tpm_limit, u.max_parallel_requests)
    uid = u.user_id
    if uid and (u.user_rpm_limit is not None or u.user_tpm_limit is not None):
        ids.append(f"user:{uid}")
        names.append("user")
        values.append(uid)
        limits += (u.user_rpm_limit, u.user_tpm_limit, None)
    tid = u.team_id
    if tid and (u.team_rpm_limit is not None or u.team_tpm_limit is not None):
        ids.append(f"team:{tid}")
        names.append("team")
        values.append(tid)
        limits += (u.team_rpm_limit, u.team_tpm_limit, None)
    if uid and (u.team_member_rpm_limit is not None or u.team_member_tpm_limit is not None):
        v = f"{tid}:{uid}"
        ids.append(f"team_member:{v}")
        names.append("team_member")
        values.append(v)
        limits += (u.team_member_rpm_limit, u.team_member_tpm_limit, None)
    eid = u.end_user_id
    if eid and (u.end_user_rpm_limit is not None or u.end_user_tpm_limit is not None):
        ids.append(f"end_user:{eid}")
        names.append("end_user")
        values.append(eid)
        limits += (u.end_user_rpm_limit, u.end_user_tpm_limit, None)
    if model:
        tpm_m = _key_model_limit(u, model, "model_tpm_limit", 0)
        rpm_m = _key_model_limit(u, model, "model_rpm_limit", 1)
        if tpm_m is not None or rpm_m is not None:
            tpm_m = tpm_m or {}
            rpm_m = rpm_m or {}
            if tpm_m.__class__ is not dict or rpm_m.__class__ is not dict:
                return None
            if model in tpm_m or model in rpm_m:
                r = rpm_m.get(model)
                t = tpm_m.get(model)
                if r is not None or t is not None:
                    v = f"{ak}:{model}"
                    ids.append(f"model_per_key:{v}")
                    names.append("model_per_key")
                    values.append(v)
                    limits += (r, t, None)
    return ids, names, limits, values


_PROXY_SERVER = "litellm.proxy.proxy_server"


def fused_v3_check(lim: Any, table: Any) -> Any:
    """The common-case v3 pre-call check as one native call
    (``RateLimitFixedWindows.check_auth``: it reads the ``UserAPIKeyAuth``'s fields
    from its instance dict, builds LiteLLM 1.83's descriptors and runs
    ``should_rate_limit``), or None when this limiter cannot use it.

    Clocks: with LiteLLM's defaults (``_time_provider`` is ``datetime.now``, the
    cache module's ``time`` is the ``time`` module) the native call reads the
    system clock once for both (``fast_litellm_core::ratelimit::fixed::clocks_from_ns``
    gives exactly ``int(datetime.now().timestamp())`` and ``time.time()`` of that
    instant); else it is given ``int(lim._get_current_time().timestamp())`` and the
    cache module's ``time.time()``. Router deployment defaults
    (``get_key_model_*_limit``'s last source) are LiteLLM's own helpers, called
    per request when the router exists and the key has no model limits (as stock)."""
    import datetime as _dt
    import time as _time

    import litellm.caching.in_memory_cache as imc_mod
    from litellm.proxy._types import UserAPIKeyAuth
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as cls

    fields = getattr(UserAPIKeyAuth, "model_fields", {})
    names = (
        "metadata team_metadata project_metadata organization_metadata agent_id org_id organization_rpm_limit "
        "organization_tpm_limit api_key rpm_limit tpm_limit max_parallel_requests user_id user_rpm_limit "
        "user_tpm_limit team_id team_rpm_limit team_tpm_limit team_member_rpm_limit team_member_tpm_limit "
        "end_user_id end_user_rpm_limit end_user_tpm_limit model_max_budget"
    ).split()
    # Instance-dict reads equal attribute reads only for plain pydantic fields.
    if not all(n in fields and not hasattr(UserAPIKeyAuth, n) for n in names):
        return None
    if type(lim)._get_current_time is not cls._get_current_time or "_get_current_time" in lim.__dict__:
        return None
    tp0 = lim.__dict__.get("_time_provider")
    default_clock = tp0 is not None and tp0 == _dt.datetime.now
    check_auth = table.check_auth
    window_size = lim.window_size
    modules = sys.modules
    au_box: List[Any] = []

    def defaults(model: Any) -> Any:
        if not au_box:
            from litellm.proxy.auth import auth_utils

            au_box.append(auth_utils)
        au = au_box[0]
        return (au._get_deployment_default_tpm_limit(model), au._get_deployment_default_rpm_limit(model))

    def check(u: Any, data: dict) -> Any:
        # The general form; async_pre_call_hook inlines it.
        clock = None if default_clock and lim._time_provider is tp0 and imc_mod.time is _time else (
            int(lim._get_current_time().timestamp()),
            imc_mod.time.time(),
        )
        ps = modules.get(_PROXY_SERVER)
        dflt = False if ps is not None and getattr(ps, "llm_router", None) is None else None
        if lim.window_size is not window_size:
            return 1
        r = check_auth(u, data, clock, window_size, dflt)
        if r.__class__ is int and r == 2:
            r = check_auth(u, data, clock, window_size, defaults(data.get("model")))
        return r

    check.auth_cls = UserAPIKeyAuth  # type: ignore[attr-defined]
    check.parts = (tp0 if default_clock else None, check_auth, window_size, defaults)  # type: ignore[attr-defined]
    return check


def _v3_fast_check(lim: Any, table: Any, auth_cls: Any, window: Any, tp0: Any, iuc: Any, dual: Any) -> Callable[..., Any]:
    """The bound ``check(auth, data, call_type, defaults=None, clock=None)`` of a
    ``_native.RateLimitV3Fast`` for this limiter (see its docstring), or a
    function answering 1 (not covered) when the fused path is off: no exact
    ``UserAPIKeyAuth`` fields (``auth_cls`` None), a ``window_size`` that is not
    an int > 0, or attributes it reads from instance dicts that a class defines."""
    import time as _time

    import litellm.caching.in_memory_cache as imc_mod

    from .. import _native

    cls = type(lim)
    ok = (
        auth_cls is not None
        and window.__class__ is int
        and window > 0
        and all(n in lim.__dict__ and not hasattr(cls, n) for n in ("window_size", "batch_rate_limiter_script", "_time_provider"))
        and "dual_cache" in getattr(iuc, "__dict__", ())
        and not hasattr(type(iuc), "dual_cache")
        and "redis_cache" in getattr(dual, "__dict__", ())
        and not hasattr(type(dual), "redis_cache")
    )
    if not ok:
        return lambda auth, data, call_type, defaults=None, clock=None: 1
    return _native.RateLimitV3Fast(
        table, auth_cls, lim.__dict__, window, tp0, iuc.__dict__, dual, imc_mod.__dict__, _time, sys.modules
    ).check


def _install_v3_hooks(lim: Any) -> None:  # noqa: C901 - mirrors LiteLLM's hooks
    import litellm.caching.in_memory_cache as imc_mod

    table = v3_windows_for(lim)
    iuc = lim.internal_usage_cache
    stock_pre = lim.async_pre_call_hook
    stock_success = lim.async_log_success_event
    stock_failure = lim.async_log_failure_event

    def delegated() -> bool:
        # Redis configured (now or at construction): LiteLLM's own Lua-script path.
        return (
            iuc.dual_cache.redis_cache is not None
            or lim.batch_rate_limiter_script is not None
            or lim.window_size.__class__ is not int
            or lim.window_size <= 0
        )

    import time as _time

    fused = fused_v3_check(lim, table)
    modules = sys.modules
    auth_cls: Any = getattr(fused, "auth_cls", None)  # None: the fused path is off for this limiter
    f_tp0, f_check, f_window, f_defaults = fused.parts if fused is not None else (None, None, None, None)
    if f_window.__class__ is not int or f_window <= 0:
        auth_cls = None
    dual = iuc.dual_cache
    # (f_tp0 None: a custom clock; the fused call is then given LiteLLM's clock values)
    v3_check = _v3_fast_check(lim, table, auth_cls, f_window, f_tp0, iuc, dual)

    async def async_pre_call_hook(user_api_key_dict: Any, cache: Any, data: dict, call_type: str) -> Any:
        # The common case in one native call (RateLimitV3Fast.check: the checks of
        # delegated(), the clocks, the router lookup, check_auth and the write of the
        # response into data); else the general path below.
        try:
            r = v3_check(user_api_key_dict, data, call_type)
            if r is None:
                return None
            if r.__class__ is int and r != 1:
                clock = None
                if r == 3:  # a replaced clock: LiteLLM's clock values
                    clock = (int(lim._get_current_time().timestamp()), imc_mod.time.time())
                    r = v3_check(user_api_key_dict, data, call_type, None, clock)
                if r.__class__ is int and r == 2:  # the router's deployment defaults
                    r = v3_check(user_api_key_dict, data, call_type, f_defaults(data.get("model")), clock)
        except (TypeError, ValueError, MemoryError):  # odd values, overflow, full shared table
            return await stock_pre(user_api_key_dict, cache, data, call_type)
        if r is None:
            return None
        if r.__class__ is tuple:
            lim._handle_rate_limit_error(response=r[0], descriptors=r[1])
            return None
        # not the common case (r == 1): the general path below
        if call_type == "acreate_batch" or delegated():
            return await stock_pre(user_api_key_dict, cache, data, call_type)
        u = user_api_key_dict
        metadata = u.metadata or {}
        rpm_limit_type = metadata.get("rpm_limit_type")
        tpm_limit_type = metadata.get("tpm_limit_type")
        if rpm_limit_type == "dynamic" or tpm_limit_type == "dynamic":
            return await stock_pre(user_api_key_dict, cache, data, call_type)
        requested_model = data.get("model", None)
        got = simple_descriptors(u, data, requested_model)
        if got is not None:
            ids, names, limits, values = got
            if not ids:
                return None
            descriptors = None
        else:
            # Anything else: LiteLLM's own descriptor builders, in its order.
            descriptors = lim._create_rate_limit_descriptors(
                user_api_key_dict=u,
                data=data,
                rpm_limit_type=rpm_limit_type,
                tpm_limit_type=tpm_limit_type,
                model_has_failures=False,
            )
            lim._add_team_model_rate_limit_descriptor_from_metadata(
                user_api_key_dict=u, requested_model=requested_model, descriptors=descriptors
            )
            lim._add_project_model_rate_limit_descriptor_from_metadata(
                user_api_key_dict=u, requested_model=requested_model, descriptors=descriptors
            )
            descriptors.extend(lim.create_organization_rate_limit_descriptor(u, requested_model))
            if not descriptors:
                return None
            ids = []
            names = []
            limits = []
            for d in descriptors:
                rl = d.get("rate_limit") or {}
                r = rl.get("requests_per_unit")
                t = rl.get("tokens_per_unit")
                p = rl.get("max_parallel_requests")
                if r is None and t is None and p is None:
                    continue
                wid = f"{d['key']}:{d['value']}"
                if wid in ids:
                    # Named twice (model_per_team from both team-model builders):
                    # LiteLLM counts it twice, as we do, when the limits agree.
                    j = ids.index(wid)
                    if tuple(limits[3 * j : 3 * j + 3]) != (r, t, p):
                        return await stock_pre(user_api_key_dict, cache, data, call_type)
                ids.append(wid)
                names.append(d["key"])
                limits += (r, t, p)
            if not ids:
                return None
        now_int = int(lim._get_current_time().timestamp())
        try:
            response = table.check(ids, names, limits, now_int, imc_mod.time.time(), lim.window_size)
        except (TypeError, ValueError, MemoryError):  # odd limits, overflow, full shared table
            return await stock_pre(user_api_key_dict, cache, data, call_type)
        if response["overall_code"] == "OVER_LIMIT":
            if descriptors is None:
                descriptors = [{"key": n, "value": v} for n, v in zip(names, values)]
            lim._handle_rate_limit_error(response=response, descriptors=descriptors)
        else:
            data["litellm_proxy_rate_limit_response"] = response
        return None

    def to_ops(pipeline: Any) -> Any:
        ops = []
        for op in pipeline:
            key = op["key"]
            delta = op["increment_value"]
            if delta.__class__ is not int or key.__class__ is not str or not key.startswith("{"):
                return None
            if key.endswith(_TOKENS_SUFFIX):
                ops.append((key[1 : -len(_TOKENS_SUFFIX)], 2, delta))
            elif key.endswith(_PARALLEL_SUFFIX):
                ops.append((key[1 : -len(_PARALLEL_SUFFIX)], 3, delta))
            else:
                return None
        return ops

    def apply(ops: Any) -> bool:
        imc = iuc.dual_cache.in_memory_cache
        ttl = getattr(imc, "default_ttl", None)
        if not isinstance(ttl, (int, float)) or isinstance(ttl, bool):
            return False
        try:
            table.increment(ops, imc_mod.time.time(), float(ttl))
        except (TypeError, ValueError, MemoryError, OverflowError):
            return False
        return True

    async def async_log_success_event(kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        if delegated():
            return await stock_success(kwargs, response_obj, start_time, end_time)
        try:
            pipeline = lim._build_success_event_pipeline_operations(
                kwargs=kwargs, response_obj=response_obj, rate_limit_type=lim.get_rate_limit_type()
            )
        except Exception:
            return await stock_success(kwargs, response_obj, start_time, end_time)
        ops = to_ops(pipeline)
        if ops is None or not apply(ops):
            return await stock_success(kwargs, response_obj, start_time, end_time)
        return None

    async def async_log_failure_event(kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        if delegated():
            return await stock_failure(kwargs, response_obj, start_time, end_time)
        try:
            slo = kwargs.get("standard_logging_object") or {}
            meta = slo.get("metadata") or {}
            user_api_key = meta.get("user_api_key_hash")
        except Exception:
            return await stock_failure(kwargs, response_obj, start_time, end_time)
        if not user_api_key:
            return None
        ops = to_ops([{"key": f"{{api_key:{user_api_key}}}:max_parallel_requests", "increment_value": -1}])
        if ops is None or not apply(ops):
            return await stock_failure(kwargs, response_obj, start_time, end_time)
        return None

    lim.async_pre_call_hook = async_pre_call_hook
    lim.async_log_success_event = async_log_success_event
    lim.async_log_failure_event = async_log_failure_event


def accelerate_v3_limiter(lim: Any) -> bool:
    """Give a stock v3 limiter our hooks (counters in a Rust fixed-window table). True if done."""
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as cls

    if type(lim) is not cls or "_fast_litellm_v3" in lim.__dict__:
        return False
    _install_v3_hooks(lim)
    return True


PATCHES = [
    Patch(
        name="rate_limit.v1_limiter",
        component=COMPONENT,
        target="litellm.proxy.hooks.parallel_request_limiter:_PROXY_MaxParallelRequestsHandler.__init__",
        supports=">=1.83.14,<1.111",
        build=_accelerating_init("RateLimitWindows", accelerate_limiter, "v1"),
        requires=v1_in_use,
        summary=(
            "Applied only with LEGACY_MULTI_INSTANCE_RATE_LIMITING=true (the only case in which the "
            "proxy calls it). The v1 proxy limiter (ProxyLogging.max_parallel_request_limiter; the proxy's "
            "parallel_request_limiter hook with LEGACY_MULTI_INSTANCE_RATE_LIMITING=true): its "
            "pre-call/success/failure/post-call hooks count in a Rust per-minute table (24-byte "
            "slots, lock-free CAS); the common pre-call check (no per-model/global limit) is one "
            "native call reading the UserAPIKeyAuth directly; 429s are raised by LiteLLM's "
            "own check_key_in_limits. Shared across workers through a memory-mapped file when "
            "FAST_LITELLM_RATE_LIMIT_SHM is set (the launcher sets it). Redis configured: LiteLLM's hooks run."
        ),
        callers=(
            "ProxyLogging.pre_call_hook / logging callbacks / post_call_success_hook, on every proxy "
            "request only when LEGACY_MULTI_INSTANCE_RATE_LIMITING=true; by default the proxy registers "
            "the v3 limiter (PROXY_HOOKS['parallel_request_limiter']), which this patch does not change"
        ),
        compare=lambda a, b: a is None and b is None,
    ),
    Patch(
        name="rate_limit.v3_limiter",
        component=COMPONENT,
        target="litellm.proxy.hooks.parallel_request_limiter_v3:_PROXY_MaxParallelRequestsHandler_v3.__init__",
        # 1.110.2's v3 (5,348 lines) is a different algorithm (reservations,
        # request stash, PTU, descriptor-level windows): not covered there yet.
        supports=">=1.83.14,<1.84",
        build=_accelerating_init("RateLimitFixedWindows", accelerate_v3_limiter, "v3"),
        summary=(
            "The v3 proxy limiter (the proxy's default parallel_request_limiter hook): its pre-call, "
            "success and failure hooks count in a Rust fixed-window table (one 80-byte entry per "
            "descriptor with LiteLLM's exact InMemoryCache expiries) with one native call per check "
            "(the common case's descriptors built natively by LiteLLM's rules, other shapes by LiteLLM's "
            "builders); 429s come from LiteLLM's own code. Shared across workers through a "
            "memory-mapped file when FAST_LITELLM_RATE_LIMIT_SHM is set (the launcher sets it). "
            "Redis configured, batch calls, dynamic limits: LiteLLM's code. Off on 1.110.x: its v3 "
            "is a different algorithm (reservations, request stash) not covered yet."
        ),
        callers=(
            "every proxy request by default: ProxyLogging.pre_call_hook / success and failure "
            "callbacks through PROXY_HOOKS['parallel_request_limiter'] (v3 unless "
            "LEGACY_MULTI_INSTANCE_RATE_LIMITING=true)"
        ),
        compare=lambda a, b: a is None and b is None,
    ),
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


BENCH_BATCH = 100


def _bench_pre_call_hook() -> Callable[[], Any]:
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


def _bench_v3_pre_call_hook() -> Callable[[], Any]:
    """Like ``_bench_pre_call_hook`` for the v3 limiter (the proxy's default):
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


BENCHMARKS = [
    Benchmark(
        name="rate_limit.pre_call_hook",
        patch="rate_limit.v1_limiter",
        setup=_bench_pre_call_hook,
        notes=(
            "100 checks per call (divide by 100 for one check): v1 limiter async_pre_call_hook, 5,000 "
            "rotating keys, no Redis; run with LEGACY_MULTI_INSTANCE_RATE_LIMITING=true, the switch under "
            "which the proxy calls v1 and the patch applies"
        ),
        env={LEGACY_ENV: "true"},
    ),
    Benchmark(
        name="rate_limit.v3_pre_call_hook",
        patch="rate_limit.v3_limiter",
        setup=_bench_v3_pre_call_hook,
        notes="100 checks per call (divide by 100 for one check): v3 limiter (the proxy's default) async_pre_call_hook, 5,000 rotating keys, no Redis",
    ),
]
from . import rate_limit_v3_110 as _v3_110  # noqa: E402 - the 1.110.x v3 limiter's store (its own module)
PATCHES += _v3_110.PATCHES
BENCHMARKS += _v3_110.BENCHMARKS
