"""The v3 limiter of LiteLLM 1.83.x (``_PROXY_MaxParallelRequestsHandler_v3``, the proxy's
default) on a Rust fixed-window table.

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

On 1.110.x the v3 limiter is a different algorithm (TPM reservations, a request stash, PTU
ceilings): ``supports`` stops at 1.84 and :mod:`.v3_110` covers that version.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, List

from ..._patching import Patch
from ...bench import Benchmark
from . import bench_hooks
from .common import _PROXY_SERVER, _SHARED_LOCK, _SHARED_TABLES, COMPONENT, SHM_ENV, SHM_SLOTS_ENV, accelerating_init


V3_SUFFIX = ".v3"
_TOKENS_SUFFIX = "}:tokens"
_PARALLEL_SUFFIX = "}:max_parallel_requests"


def v3_windows_for(limiter: Any) -> Any:
    """The v3 table a limiter counts in: ``FAST_LITELLM_RATE_LIMIT_SHM`` + ".v3"
    (one memory-mapped table per launched instance, shared by its workers), else
    one heap table per ``InternalUsageCache`` (as stock shares the cache)."""
    import os

    from ... import _native

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

    from ... import _native

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


# -- the three hooks, mirroring LiteLLM's, one named step each ---------------------------


class _V3Parts:
    """What the hooks of one limiter share, read once when they are installed."""

    def __init__(self, lim: Any) -> None:
        import litellm.caching.in_memory_cache as imc_mod

        self.imc_mod, self.lim = imc_mod, lim
        self.table = v3_windows_for(lim)
        self.iuc = iuc = lim.internal_usage_cache
        self.stock_pre = lim.async_pre_call_hook
        self.stock_success = lim.async_log_success_event
        self.stock_failure = lim.async_log_failure_event

        def delegated() -> bool:
            # Redis configured (now or at construction): LiteLLM's own Lua-script path.
            return (
                iuc.dual_cache.redis_cache is not None
                or lim.batch_rate_limiter_script is not None
                or lim.window_size.__class__ is not int
                or lim.window_size <= 0
            )

        self.delegated = delegated


def _pre_call_hook(p: _V3Parts) -> Callable[..., Any]:
    imc_mod, lim, table, iuc, stock_pre, delegated = p.imc_mod, p.lim, p.table, p.iuc, p.stock_pre, p.delegated
    fused = fused_v3_check(lim, table)
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

    return async_pre_call_hook


def _apply_pipeline(p: _V3Parts) -> Any:
    """``(to_ops, apply)``: LiteLLM's success/failure pipeline operations as our table's
    increments, and their application (False: leave the event to LiteLLM)."""
    imc_mod, table, iuc = p.imc_mod, p.table, p.iuc

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

    return to_ops, apply


def _success_event(p: _V3Parts, to_ops: Callable[..., Any], apply: Callable[..., Any]) -> Callable[..., Any]:
    lim, delegated, stock_success = p.lim, p.delegated, p.stock_success

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

    return async_log_success_event


def _failure_event(p: _V3Parts, to_ops: Callable[..., Any], apply: Callable[..., Any]) -> Callable[..., Any]:
    delegated, stock_failure = p.delegated, p.stock_failure

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

    return async_log_failure_event


def _install_v3_hooks(lim: Any) -> None:
    """Give the limiter instance our pre-call, success and failure hooks (the post-call hook
    only reads ``data`` and stays LiteLLM's)."""
    p = _V3Parts(lim)
    to_ops, apply = _apply_pipeline(p)
    lim.async_pre_call_hook = _pre_call_hook(p)
    lim.async_log_success_event = _success_event(p, to_ops, apply)
    lim.async_log_failure_event = _failure_event(p, to_ops, apply)


def accelerate_v3_limiter(lim: Any) -> bool:
    """Give a stock v3 limiter our hooks (counters in a Rust fixed-window table). True if done."""
    from litellm.proxy.hooks.parallel_request_limiter_v3 import _PROXY_MaxParallelRequestsHandler_v3 as cls

    if type(lim) is not cls or "_fast_litellm_v3" in lim.__dict__:
        return False
    _install_v3_hooks(lim)
    return True


PATCH = Patch(
    name="rate_limit.v3_limiter",
    component=COMPONENT,
    target="litellm.proxy.hooks.parallel_request_limiter_v3:_PROXY_MaxParallelRequestsHandler_v3.__init__",
    # 1.110.2's v3 (5,348 lines) is a different algorithm (reservations,
    # request stash, PTU, descriptor-level windows): not covered there yet.
    supports=">=1.83.14,<1.84",
    build=accelerating_init("RateLimitFixedWindows", accelerate_v3_limiter, "v3"),
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
)


BENCHMARK = Benchmark(
    name="rate_limit.v3_pre_call_hook",
    patch="rate_limit.v3_limiter",
    setup=bench_hooks.v3_pre_call_hook,
    notes="100 checks per call (divide by 100 for one check): v3 limiter (the proxy's default) async_pre_call_hook, 5,000 rotating keys, no Redis",
)
