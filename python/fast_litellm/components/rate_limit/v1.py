"""The v1 limiter (``_PROXY_MaxParallelRequestsHandler``) on a Rust per-minute window table.

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

"""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional

from ..._patching import Patch
from ...bench import Benchmark
from . import bench_hooks
from .common import _MAXSIZE, _PROXY_SERVER, _SHARED_LOCK, _SHARED_TABLES, COMPONENT, SHM_ENV, SHM_SLOTS_ENV
from .common import accelerating_init, flavor


def windows_for(limiter: Any) -> Any:
    """The table a limiter counts in: one shared, memory-mapped table per process
    when ``FAST_LITELLM_RATE_LIMIT_SHM`` names a file (the launcher sets it), else
    one heap table per ``InternalUsageCache`` (stock: limiters given the same
    cache share its counters)."""
    import os

    from ... import _native

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

    from ... import _native

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


# -- the four hooks, mirroring LiteLLM's, one named step each ---------------------------


class _V1Parts:
    """What the hooks of one limiter share, read once when they are installed."""

    def __init__(self, lim: Any, cls: type) -> None:
        import litellm.proxy.hooks.parallel_request_limiter as prl
        from litellm.proxy._types import CommonProxyErrors
        from litellm.proxy.auth import auth_utils as au

        self.prl, self.lim, self.cls = prl, lim, cls
        self.v110 = flavor() == "1.110"
        self.table = windows_for(lim)
        self.iuc = iuc = lim.internal_usage_cache
        self.stock_pre = cls.async_pre_call_hook.__get__(lim)
        self.stock_success = cls.async_log_success_event.__get__(lim)
        self.stock_failure = cls.async_log_failure_event.__get__(lim)
        self.stock_post = cls.async_post_call_success_hook.__get__(lim)
        self.limit_reached = CommonProxyErrors.max_parallel_request_limit_reached.value
        if self.v110:
            from litellm.proxy.litellm_pre_call_utils import LiteLLMProxyRequestSetup

            self.logged_key = LiteLLMProxyRequestSetup.get_logged_api_key
            self.clock = lim._clock
        else:
            self.logged_key = None

            def clock() -> Any:
                return prl.datetime.now()

            self.clock = clock

        def redis() -> bool:
            return getattr(getattr(iuc, "dual_cache", None), "redis_cache", None) is not None

        self.redis = redis
        self.au_tpm, self.au_rpm = au.get_key_model_tpm_limit, au.get_key_model_rpm_limit


def _key_model_limits(p: _V1Parts) -> Callable[..., Any]:
    prl, au_tpm, au_rpm = p.prl, p.au_tpm, p.au_rpm
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

    return key_model_limits


def _global_incr(p: _V1Parts) -> Callable[..., Any]:
    iuc = p.iuc

    async def global_incr(value: int, span: Any) -> None:
        await iuc.async_increment_cache(
            key="global_max_parallel_requests", value=value, local_only=True, litellm_parent_otel_span=span
        )

    return global_incr


def _refuse(p: _V1Parts) -> Callable[..., Any]:
    """LiteLLM's own ``check_key_in_limits`` raising its 429 for a scope we refused."""
    lim = p.lim

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

    return refuse


def _pre_call_hook(p: _V1Parts, refuse: Callable[..., Any], general_pre: Callable[..., Any]) -> Callable[..., Any]:
    clock = p.clock
    fast_check = _v1_fused_check(p.lim, p.table, p.v110, p.au_tpm, p.au_rpm)

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

    return async_pre_call_hook


def _general_pre_call(p: _V1Parts, key_model_limits: Callable[..., Any], global_incr: Callable[..., Any],
                      refuse: Callable[..., Any]) -> Callable[..., Any]:
    """Every pre-call shape the fused check leaves: the Python transcription of LiteLLM's hook
    (one native ``admit``), or LiteLLM's hook itself."""
    prl, lim, iuc, table, clock, v110 = p.prl, p.lim, p.iuc, p.table, p.clock, p.v110
    redis, stock_pre, logged_key = p.redis, p.stock_pre, p.logged_key

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

    return general_pre


def _success_event(p: _V1Parts, global_incr: Callable[..., Any]) -> Callable[..., Any]:
    from litellm import ModelResponse
    from litellm.proxy._types import UserAPIKeyAuth

    prl, lim, table, clock, v110, redis, stock_success = p.prl, p.lim, p.table, p.clock, p.v110, p.redis, p.stock_success

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

    return async_log_success_event


def _failure_event(p: _V1Parts, global_incr: Callable[..., Any]) -> Callable[..., Any]:
    prl, iuc, table, clock, v110, redis, stock_failure = p.prl, p.iuc, p.table, p.clock, p.v110, p.redis, p.stock_failure
    limit_reached = p.limit_reached

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

    return async_log_failure_event


def _post_call_success_hook(p: _V1Parts) -> Callable[..., Any]:
    from pydantic import BaseModel

    lim, cls, table, clock, v110, redis, stock_post, logged_key = (
        p.lim, p.cls, p.table, p.clock, p.v110, p.redis, p.stock_post, p.logged_key
    )

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

    return async_post_call_success_hook


def _install_v1_hooks(lim: Any, cls: type) -> None:
    """Give the limiter instance our four hooks (instance attributes), in LiteLLM's shape."""
    p = _V1Parts(lim, cls)
    global_incr = _global_incr(p)
    refuse = _refuse(p)
    general_pre = _general_pre_call(p, _key_model_limits(p), global_incr, refuse)
    lim.async_pre_call_hook = _pre_call_hook(p, refuse, general_pre)
    lim.async_log_success_event = _success_event(p, global_incr)
    lim.async_log_failure_event = _failure_event(p, global_incr)
    lim.async_post_call_success_hook = _post_call_success_hook(p)


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


PATCH = Patch(
    name="rate_limit.v1_limiter",
    component=COMPONENT,
    target="litellm.proxy.hooks.parallel_request_limiter:_PROXY_MaxParallelRequestsHandler.__init__",
    supports=">=1.83.14,<1.111",
    build=accelerating_init("RateLimitWindows", accelerate_limiter, "v1"),
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
)


BENCHMARK = Benchmark(
    name="rate_limit.pre_call_hook",
    patch="rate_limit.v1_limiter",
    setup=bench_hooks.v1_pre_call_hook,
    notes=(
        "100 checks per call (divide by 100 for one check): v1 limiter async_pre_call_hook, 5,000 "
        "rotating keys, no Redis; run with LEGACY_MULTI_INSTANCE_RATE_LIMITING=true, the switch under "
        "which the proxy calls v1 and the patch applies"
    ),
    env={LEGACY_ENV: "true"},
)
