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

The fused pre-call check (``rate_limit.v3_110_fused_pre_call``, on by default)
--------------------------------------------------------------------------------
Wraps ``async_pre_call_hook`` (``Patch.wrap``). For its covered case -- a chat call
with a small plain-text body, a key whose only limits are its own rpm/tpm, no Redis,
the stock class unmodified, and either no router or LiteLLM's ``Router`` loaded (as
every proxy with a model_list has) with no ``default_api_key_rpm/tpm_limit`` on the
deployments of the requested model's group and no team PTU ceiling (see
:func:`fused_pre_call`, :func:`router_group`) -- it runs what LiteLLM's hook does in
that case in one synchronous step (:func:`_commit`): same stash (the model group
resolved through the router's model_group_alias), same store calls in the same order
on ``self.rate_limits``, same time-provider calls, same response and LiteLLM's own
429. Everything else: LiteLLM's hook. Figures in docs/benchmarks/rate-limiter.md.

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

from ..._patching import Patch, env_flag
from ...bench import Benchmark
from . import bench_hooks
from .common import COMPONENT, SHM_ENV, SHM_SLOTS_ENV

V3B_SUFFIX = ".v3b"
_SHARED: dict = {}
_SHARED_LOCK = threading.Lock()


def store_for(limiter: Any) -> Any:
    """The table a limiter's entries go to: one shared table per process for
    ``FAST_LITELLM_RATE_LIMIT_SHM`` + ".v3b", else its own (stock: one store per limiter)."""
    from ... import _native

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
    from ... import _native

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
    from ..._patching import NOT_COVERED

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



# -- the fused pre-call check (rate_limit.v3_110_fused_pre_call) ---------------------

_HOOK_NAME = "async_pre_call_hook"
_CHAT_CALL_TYPES = frozenset(("completion", "acompletion"))
# Key/team metadata fields that add descriptors or change the estimate: any of them -> LiteLLM.
_KEY_META_FIELDS = frozenset(
    ("model_rpm_limit", "model_tpm_limit", "tag_rpm_limit", "default_estimated_output_tokens",
     "default_estimated_output_tokens_per_model")
)
_TEAM_META_FIELDS = frozenset(
    ("model_rpm_limit", "model_tpm_limit", "default_estimated_output_tokens", "default_estimated_output_tokens_per_model")
)
_ORG_META_FIELDS = frozenset(("model_rpm_limit", "model_tpm_limit"))
_PROJECT_META_FIELDS = frozenset(("model_rpm_limit", "model_tpm_limit", "model_itpm_limit", "model_otpm_limit"))
# Methods of the limiter the fused path stands in for: overridden on the instance
# (a mock, another patch) -> LiteLLM. The store patch's three locked sections are allowed.
_BYPASSED = (
    "should_rate_limit", "_build_request_rate_limit_descriptors", "create_rate_limit_descriptors",
    "_create_rate_limit_descriptors", "reserve_tpm_tokens", "atomic_check_and_increment_by_n",
    "in_memory_cache_sliding_window", "_estimate_tokens_for_request", "_estimate_ptu_tokens_for_request",
    "_estimate_input_and_output_tokens", "_apply_implicit_output_cap", "get_rate_limiter_for_call_type",
    "_get_current_time", "_reserve_project_io_tokens_or_raise", "_rate_limited_model",
    "_collect_windowed_keys_and_gauges", "is_cache_list_over_limit", "_local_counter_states",
    "_get_enforced_limit", "create_organization_rate_limit_descriptor", "_create_tag_rate_limit_descriptors",
    "_get_resolved_agent_id", "_add_model_per_key_rate_limit_descriptor", "_add_team_ptu_rate_limit_descriptor",
    "_build_descriptor_atomic_payload", "get_output_candidate_count", "no_max_tokens_output_floor",
    "_get_explicit_output_cap",
)
_STORE_SECTIONS = frozenset(
    ("_in_memory_cache_sliding_window", "_atomic_check_and_increment_in_memory", "_apply_local_window_guarded_token_increments")
)
_BYPASSED_SET = frozenset(_BYPASSED) | _STORE_SECTIONS


class _FusedCounts:
    """How many checks the fused path answered itself (``fused``) and handed to LiteLLM (``delegated``)."""

    fused = 0
    delegated = 0


FUSED = _FusedCounts()


def _fused_env(cls: Any) -> Any:
    """What the fused path needs from LiteLLM's module, looked up once per build."""
    import sys

    import litellm.proxy.hooks.parallel_request_limiter_v3 as v3
    from litellm.proxy.auth.budget_throttle import throttled_limit  # noqa: F401 - exists on the supported versions
    from litellm.redis.stores.rate_limits import RateLimitScope
    from litellm.types.passthrough_endpoints.pass_through_endpoints import EndpointType

    from litellm.proxy._types import UserAPIKeyAuth
    from litellm.proxy.auth import auth_utils
    from litellm.router import Router

    class_methods = {name: cls.__dict__.get(name) for name in _BYPASSED + tuple(_STORE_SECTIONS)}
    return {
        "v3": v3,
        "sys": sys,
        "Scope": RateLimitScope,
        "decisions": EndpointType.DECISIONS,
        "Auth": UserAPIKeyAuth,
        "group_resolver": v3._resolve_model_group_alias_via_proxy_router,
        "ptu_resolver": v3._resolve_ptu_team_ceiling_via_proxy_router,
        "class_methods": class_methods,
        "Router": Router,
        "auth_utils": auth_utils,
        "default_rpm": auth_utils._get_deployment_default_rpm_limit,
        "default_tpm": auth_utils._get_deployment_default_tpm_limit,
        "key_model_rpm": auth_utils.get_key_model_rpm_limit,
        "key_model_tpm": auth_utils.get_key_model_tpm_limit,
        "expand": v3.expand_model_latest_alias,
        "baseline_floor": int(v3.DEFAULT_MAX_TOKENS_ESTIMATE * v3.NO_MAX_TOKENS_TPM_RESERVATION_FRACTION),
    }


_MISSING = object()


def _plain_meta(m: Any, banned: frozenset) -> bool:
    """Falsy, or a dict with string keys and none of ``banned``."""
    if not m:
        return True
    if m.__class__ is not dict or not banned.isdisjoint(m):
        return False
    for k in m:
        if k.__class__ is not str:
            return False
    return True


def _int_or_none(v: Any) -> bool:
    return v is None or v.__class__ is int


def fused_pre_call(env: dict, lim: Any, auth: Any, data: Any, call_type: Any, endpoint_type: Any) -> Any:
    """Phase 1 of the fused check: decide, without touching any state, whether this
    check is in the covered case. Returns NOT_COVERED or the plan for :func:`_commit`:
    (api_key, rpm, tpm, model, group). Covered: a chat call (``completion``/``acompletion``)
    with a small plain-text body (see ``small_text_request``), no tags or agent in its
    metadata; a key whose only limits are its own ``rpm_limit``/``tpm_limit`` (no
    ``max_parallel_requests``, no user/team/team-member/end-user/organisation limits,
    no model, tag, project or PTU limits, no output-token estimates, not ``dynamic``);
    no Redis, TPM reservation on, the limiter's own resolvers and methods; no router
    loaded, or LiteLLM's Router with no deployment key defaults on the model's group(s)
    and no PTU ceiling for the key's team (:func:`router_group`)."""
    from ..._patching import NOT_COVERED

    v3 = env["v3"]
    if lim.__class__ is not v3._PROXY_MaxParallelRequestsHandler_v3 or call_type not in _CHAT_CALL_TYPES:
        return NOT_COVERED
    d = lim.__dict__
    if not _BYPASSED_SET.isdisjoint(d) and (
        not _STORE_SECTIONS.issuperset(_BYPASSED_SET.intersection(d)) or "_fast_litellm_v3b" not in d
    ):
        return NOT_COVERED
    cdict = lim.__class__.__dict__
    for name, fn in env["class_methods"].items():
        if cdict.get(name) is not fn:
            return NOT_COVERED
    if not lim.tpm_reservation_enabled or lim.window_size.__class__ is not int or lim.window_size <= 0:
        return NOT_COVERED
    if lim._model_group_resolver is not env["group_resolver"] or lim._ptu_team_ceiling_resolver is not env["ptu_resolver"]:
        return NOT_COVERED
    ps = env["sys"].modules.get("litellm.proxy.proxy_server")
    if ps is None:
        return NOT_COVERED
    router = getattr(ps, "llm_router", _MISSING)
    if router is _MISSING:
        return NOT_COVERED
    if lim._check_and_increment_lock.locked() or lim.rate_limits.has_redis:
        return NOT_COVERED
    # -- the request body
    if data.__class__ is not dict or not small_text_request(data):
        return NOT_COVERED
    for k in data:
        if k.__class__ is not str:
            return NOT_COVERED
    if data.get("tags") is not None:
        return NOT_COVERED
    md = data.get("metadata")
    lmd = data.get("litellm_metadata")
    for m in (md, lmd):
        if m is not None and (m.__class__ is not dict or m.get("tags") or m.get("agent_id") is not None):
            return NOT_COVERED
    if md is not None and "litellm_metadata" in data:  # which one LiteLLM reads tags from
        return NOT_COVERED
    for f in ("max_tokens", "max_completion_tokens", "n", "best_of"):
        v = data.get(f)
        if v is not None and v.__class__ is not int:
            return NOT_COVERED
    model = data.get("model")
    if model is not None and model.__class__ is not str:
        return NOT_COVERED
    group = model
    # -- the key
    if auth.__class__ is not env["Auth"]:
        return NOT_COVERED
    api_key = auth.api_key
    if not api_key or api_key.__class__ is not str or auth.max_parallel_requests is not None:
        return NOT_COVERED
    rpm, tpm = auth.rpm_limit, auth.tpm_limit
    if not (_int_or_none(rpm) and _int_or_none(tpm)):
        return NOT_COVERED
    meta = auth.metadata
    if not _plain_meta(meta, _KEY_META_FIELDS):
        return NOT_COVERED
    if meta and ((meta.get("rpm_limit_type") == "dynamic") or (meta.get("tpm_limit_type") == "dynamic")):
        return NOT_COVERED
    if auth.model_max_budget:
        return NOT_COVERED
    if auth.user_id and (
        auth.user_rpm_limit is not None or auth.user_tpm_limit is not None
        or auth.team_member_rpm_limit is not None or auth.team_member_tpm_limit is not None
    ):
        return NOT_COVERED
    if auth.team_id and (auth.team_rpm_limit is not None or auth.team_tpm_limit is not None):
        return NOT_COVERED
    if auth.end_user_id and (auth.end_user_rpm_limit is not None or auth.end_user_tpm_limit is not None):
        return NOT_COVERED
    if auth.org_id is not None and (auth.organization_rpm_limit is not None or auth.organization_tpm_limit is not None):
        return NOT_COVERED
    if not (
        _plain_meta(auth.team_metadata, _TEAM_META_FIELDS)
        and _plain_meta(auth.organization_metadata, _ORG_META_FIELDS)
        and _plain_meta(auth.project_metadata, _PROJECT_META_FIELDS)
    ):
        return NOT_COVERED
    if auth.agent_id or auth.invoked_agent_id is not None:
        return NOT_COVERED
    if ((md or {}).get("agent_id") or (lmd or {}).get("agent_id")) is not None:
        return NOT_COVERED
    pct = auth.budget_throttle_pct
    if pct is not None:
        rpm = v3.throttled_limit(rpm, pct)
        tpm = v3.throttled_limit(tpm, pct)
    stash = v3._request_stash.get()
    if stash is not None and (stash.ptu_ceiling is not None or stash.__class__ is not v3.RequestRateLimiterStash):
        return NOT_COVERED
    if router is not None and model:
        group = router_group(env, lim, router, model, auth.team_id)
        if group is NOT_COVERED:
            return NOT_COVERED
    return (api_key, rpm, tpm, model, group)


# -- what a loaded router changes on the covered path ---------------------------------
#
# With ``proxy_server.llm_router`` set, LiteLLM's hook (1.110.x) reads the router for a request's
# model (and, on a key with a team, for its PTU ceiling); everything else on the covered path is
# router-independent. Per latest-alias candidate ``c`` of the model (``expand_model_latest_alias``):
#   group(c) = _resolve_model_group_alias_via_proxy_router(c) or c      (router_settings.model_group_alias)
#   deployment key defaults: auth_utils._get_deployment_default_{rpm,tpm}_limit(group(c)) -- the minimum
#       ``default_api_key_{rpm,tpm}_limit`` over the group's deployments; either set -> a model_per_key
#       descriptor (LiteLLM's path: delegated)
# and, for a key with a team_id, _resolve_ptu_team_ceiling_via_proxy_router(team_id, group(model)) -- a
# ceiling -> a PTU descriptor (delegated). The request stash then records RateLimitedModel(model, group).
# The alias lookup is a dict read on the live map: done on every check. The two deployment scans
# (25-60 us each: the router builds the group's rows) and the PTU ceiling (35 us: it lists every
# deployment) are cached per router state: the router object, its core and host registry, router-core's
# handle and registry version (moves on every deployment write), the host registry's own version
# (moves on model-list replacement and routing-group changes) and its PTU cache object (reset when the
# router drops its own PTU answers). Any of them different -> the cache is dropped and LiteLLM's own
# functions are asked again, so a cached answer is what they would return now. A group's deployment
# lookup also reads the live alias map (no version) for a name that is itself an alias, and the routing
# groups: a resolved group that is an alias (a chain), or any routing group -> LiteLLM's path.

_ROUTER_CACHE_MAX = 4096


class _RouterFacts:
    __slots__ = ("token", "defaults", "ptu")

    def __init__(self, token: tuple) -> None:
        self.token = token
        self.defaults: dict = {}  # group -> True when it has no deployment key default (rpm and tpm)
        self.ptu: dict = {}  # (team_id, group) -> True when the router gives no PTU ceiling


_ROUTER_FACTS: list = [None]


def _object_dict(obj: Any, _get: Any = object.__getattribute__) -> dict:
    return _get(obj, "__dict__")


def _router_token(router: Any) -> Any:
    core = _object_dict(router).get("_core")  # not through Router.__getattribute__ (Python, ~3 us)
    hosted = getattr(core, "_hosted", None)
    if hosted is None:
        return None
    handle = hosted._live_handle()
    if handle is None:
        return None
    return (router, core, hosted, handle, handle.registry_version(), hosted._registry_version, hosted._ptu_cache)


def _same_token(a: tuple, b: tuple) -> bool:
    for x, y in zip(a, b):
        if x is not y and x != y:
            return False
    return True


def router_group(env: dict, lim: Any, router: Any, model: str, team_id: Any) -> Any:
    """The model group LiteLLM's hook resolves ``model`` to with ``router`` loaded, or NOT_COVERED when
    the router adds a descriptor (deployment key defaults, a team PTU ceiling) or its state is unknown."""
    from ..._patching import NOT_COVERED

    if type(router) is not env["Router"]:
        return NOT_COVERED
    au = env["auth_utils"]
    if (au._get_deployment_default_rpm_limit is not env["default_rpm"]
            or au._get_deployment_default_tpm_limit is not env["default_tpm"]
            or au.get_key_model_rpm_limit is not env["key_model_rpm"]
            or au.get_key_model_tpm_limit is not env["key_model_tpm"]
            or env["v3"].expand_model_latest_alias is not env["expand"]):
        return NOT_COVERED
    token = _router_token(router)
    if token is None:
        return NOT_COVERED
    facts = _ROUTER_FACTS[0]
    if facts is None or not _same_token(facts.token, token):
        facts = _ROUTER_FACTS[0] = _RouterFacts(token)
    hosted = token[2]
    if hosted._core_routing_groups:  # routing groups: their names and members join the group lookup
        return NOT_COVERED
    aliases = hosted._core_model_group_alias
    resolve = lim._model_group_resolver
    group = resolve(model) or model
    defaults = facts.defaults
    for c in env["expand"](model):
        g = group if c == model else (resolve(c) or c)
        if aliases and g in aliases:
            # A group name that is itself an alias (a chain): the router's deployment lookup follows
            # the live alias map, which has no version -> not cached, LiteLLM's path.
            return NOT_COVERED
        ok = defaults.get(g)
        if ok is None:
            ok = env["default_rpm"](g) is None and env["default_tpm"](g) is None
            if len(defaults) >= _ROUTER_CACHE_MAX:
                defaults.clear()
            defaults[g] = ok
        if not ok:
            return NOT_COVERED
    if team_id:
        k = (team_id, group)
        ok = facts.ptu.get(k)
        if ok is None:
            ok = lim._ptu_team_ceiling_resolver(team_id, group) is None
            if len(facts.ptu) >= _ROUTER_CACHE_MAX:
                facts.ptu.clear()
            facts.ptu[k] = ok
        if not ok:
            return NOT_COVERED
    # A change made meanwhile (another thread) moved the token: the next check drops these facts.
    return group


def _status(code: str, limit: int, remaining: int, kind: str, key: str) -> dict:
    return {
        "code": code,
        "current_limit": limit,
        "limit_remaining": remaining,
        "rate_limit_type": kind,
        "descriptor_key": "api_key",
        "descriptor_value": key,
    }


def _descriptors(lim: Any, key: str, rpm: Any, tpm: Any) -> list:
    if rpm is None and tpm is None:
        return []
    return [
        {
            "key": "api_key",
            "value": key,
            "rate_limit": {
                "requests_per_unit": rpm,
                "tokens_per_unit": tpm,
                "max_parallel_requests": None,
                "window_size": lim.window_size,
            },
        }
    ]


def _estimate(env: dict, data: dict, tpm: int, call_type: str) -> int:
    """``_estimate_tokens_for_request`` of a covered request (plain-string chat
    messages, int or absent output caps, no configured output estimate)."""
    v3 = env["v3"]
    messages = data.get("messages")
    chars = 0
    if messages:
        for m in messages:
            c = m.get("content")
            if c:
                chars += len(c)
    est_in = max(1, chars // v3.DEFAULT_CHARS_PER_TOKEN) if chars > 0 else 0
    caps = [int(float(v)) for v in (data.get("max_tokens"), data.get("max_completion_tokens")) if v is not None]
    explicit = max(caps) if caps else None
    if explicit is None and est_in == 0:
        out = 0
    elif explicit is not None:
        out = explicit
    else:
        out = max(est_in, min(env["baseline_floor"], max(1, int(tpm * v3.NO_MAX_TOKENS_TPM_RESERVATION_FRACTION))))
    n = 1
    for v in (data.get("n"), data.get("best_of")):
        n = max(n, int(v or 1))
    return est_in + out * n


def _counters(values: Any) -> Any:
    """Counter values read from the store, refused (``TypeError``) if one is a gauge's slot
    registry: the commit phase reads counters only and must not misread one."""
    for v in values:
        if v.__class__ is dict:
            raise TypeError("a rate-limit counter in memory holds a slot registry")
    return values


def _locked_section(lim: Any) -> Any:
    return lim.__dict__.get("_fast_litellm_v3b")


async def _commit(env: dict, lim: Any, auth: Any, data: dict, call_type: str, endpoint_type: Any, plan: tuple) -> None:
    """Phase 2: what LiteLLM's hook does in the covered case, step for step on the same
    store (``lim.rate_limits``), the same time-provider calls and the same stash."""
    v3 = env["v3"]
    key, rpm, tpm, model, group = plan
    stash = v3.claim_request_stash_for_data(data)
    stash.tpm_limited_tags = frozenset()
    stash.socket_agent_windows = ()
    if rpm is None and tpm is None:
        return None
    store = lim.rate_limits
    window_size = lim.window_size
    scope = env["Scope"]("api_key", key)
    window = scope.window
    table = _locked_section(lim)
    # -- should_rate_limit(skip_tpm_check=True): the requests counter, no gauges
    now_int = int(lim._time_provider().timestamp())
    if rpm is None:
        response: dict = {"overall_code": "OK", "statuses": []}
    else:
        requests = scope.counter("requests")
        ws, cv = _counters(store.local((window, requests)))
        rpm = int(rpm)
        if cv is not None and int(cv) > rpm:
            response = {"overall_code": "OVER_LIMIT", "statuses": [_status("OVER_LIMIT", rpm, rpm - int(cv), "requests", key)]}
        else:
            if table is not None:
                table.lock()
            try:
                (ws,) = _counters(store.local((window,)))
                if ws is None or (now_int - int(ws)) >= window_size:
                    store.set_local(requests, 0, window_size)
                    store.set_local(scope.counter("tokens"), 0, window_size)
                    store.set_local(window, str(now_int), window_size)
                    store.set_local(requests, 1, window_size)
                    count = 1
                else:
                    (cv,) = _counters(store.local((requests,)))
                    count = (int(cv) if cv is not None else 0) + 1
                    store.set_local(requests, count, window_size)
            finally:
                if table is not None:
                    table.unlock()
            code = "OVER_LIMIT" if count > rpm else "OK"
            response = {"overall_code": code, "statuses": [_status(code, rpm, rpm - count, "requests", key)]}
    if response["overall_code"] == "OVER_LIMIT":
        lim._handle_rate_limit_error(response=response, descriptors=_descriptors(lim, key, rpm, tpm), requested_model=model)
    else:
        stash.rate_limit_response = response
    if tpm is None:
        return None
    # -- the TPM reservation
    tpm = int(tpm)
    # _apply_implicit_output_cap: no explicit cap and a TPM limit small enough -> max_tokens
    floor = min(env["baseline_floor"], max(1, int(tpm * v3.NO_MAX_TOKENS_TPM_RESERVATION_FRACTION)))
    if (
        floor < env["baseline_floor"]
        and data.get("max_tokens") is None
        and data.get("max_completion_tokens") is None
        and endpoint_type != env["decisions"]
    ):
        data["max_tokens"] = floor
    estimated = max(_estimate(env, data, tpm, call_type), 1)
    tokens = scope.counter("tokens")
    now_int = int(lim._time_provider().timestamp())
    if table is not None:
        table.lock()
    try:
        (ws,) = _counters(store.local((window,)))
        expired = ws is None or (now_int - int(ws)) >= window_size
        (raw,) = (None,) if expired else _counters(store.local((tokens,)))
        current = 0 if expired else int(raw or 0)
        over = current + estimated > tpm
        if not over:
            if expired:
                store.set_local(scope.counter("requests"), 0, window_size)
                store.set_local(tokens, 0, window_size)
                store.set_local(window, str(now_int), window_size)
            new = estimated if expired else current + estimated
            store.set_local(tokens, new, window_size)
    finally:
        if table is not None:
            table.unlock()
    if over:
        tpm_response = {"overall_code": "OVER_LIMIT", "statuses": [_status("OVER_LIMIT", tpm, max(0, tpm - current), "tokens", key)]}
        await lim._release_stashed_parallel_slot(stash, auth.parent_otel_span)
        lim._handle_rate_limit_error(response=tpm_response, descriptors=_descriptors(lim, key, rpm, tpm), requested_model=model)
        return None
    stash.discard_released_tpm_reservation()
    stash.reserved_tokens = estimated
    stash.ptu_reserved_tokens = estimated
    stash.ptu_reserved_window_identities = frozenset()
    stash.reserved_model = v3.RateLimitedModel(requested=model, group=group) if model else None
    stash.reserved_scopes = frozenset((("api_key", key),))
    stored = stash.rate_limit_response
    if stored is not None:
        stored["statuses"].append(_status("OK", tpm, max(0, tpm - new), "tokens", key))
    # _reserve_project_io_tokens_or_raise: re-claims the same stash for the same call id (a no-op), no
    # project descriptors, so nothing else.
    return None


def _wrap_pre_call(patch: Patch, original: Callable[..., Any], generic: Callable[..., Any]) -> Callable[..., Any]:
    from ..._patching import NOT_COVERED, _NEVER_CATCH, _SHADOW

    import litellm.proxy.hooks.parallel_request_limiter_v3 as v3

    env = _fused_env(v3._PROXY_MaxParallelRequestsHandler_v3)
    import inspect

    default_endpoint = inspect.signature(original).parameters["endpoint_type"].default

    async def async_pre_call_hook(self: Any, user_api_key_dict: Any, cache: Any, data: Any, call_type: Any, endpoint_type: Any = default_endpoint) -> Any:
        patch.calls += 1
        if _SHADOW[0]:  # stateful: the two sides cannot both run; LiteLLM's answers
            return await original(self, user_api_key_dict, cache, data, call_type, endpoint_type)
        try:
            plan = fused_pre_call(env, self, user_api_key_dict, data, call_type, endpoint_type)
        except _NEVER_CATCH:
            raise
        except BaseException as exc:  # nothing was written yet: LiteLLM runs
            patch.record_fallback(exc)
            return await original(self, user_api_key_dict, cache, data, call_type, endpoint_type)
        if plan is NOT_COVERED:
            patch.delegated += 1
            FUSED.delegated += 1
            return await original(self, user_api_key_dict, cache, data, call_type, endpoint_type)
        FUSED.fused += 1
        # From here on the store is written: errors (LiteLLM's 429 included) are the caller's.
        return await _commit(env, self, user_api_key_dict, data, call_type, endpoint_type, plan)

    return async_pre_call_hook


def _build_pre_call(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Patch.build``: checks that LiteLLM has what the fused path reads (the work is in
    :func:`_wrap_pre_call`); the generic wrapper is never used for this patch."""
    import litellm.proxy.hooks.parallel_request_limiter_v3 as v3

    _fused_env(v3._PROXY_MaxParallelRequestsHandler_v3)
    for name in ("_request_stash", "claim_request_stash_for_data", "RateLimitedModel", "throttled_limit",
                 "RequestRateLimiterStash", "DEFAULT_CHARS_PER_TOKEN"):
        getattr(v3, name)

    async def fast(*args: Any, **kwargs: Any) -> Any:
        from ..._patching import NOT_COVERED

        return NOT_COVERED

    return fast


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
    Patch(
        name="rate_limit.v3_110_fused_pre_call",
        component=COMPONENT,
        target="litellm.proxy.hooks.parallel_request_limiter_v3:_PROXY_MaxParallelRequestsHandler_v3.async_pre_call_hook",
        supports=">=1.110,<1.111",
        build=_build_pre_call,
        wrap=_wrap_pre_call,
        summary=(
            "The 1.110.x v3 limiter's pre-call check in one synchronous step for its common case: a chat "
            "call with a small plain-text body and a key whose only limits are its own rpm_limit/tpm_limit "
            "(no parallel, user/team/end-user/org, model, tag, project or PTU limits, no Redis), with no router "
            "or LiteLLM's Router loaded (a proxy with a model_list): model_group_alias resolved as LiteLLM does; "
            "a group whose deployments set default_api_key_rpm/tpm_limit, or a team PTU ceiling, stays "
            "LiteLLM's. Router facts cached per router state (router-core registry version etc.). Same store entries written in the same order on the limiter's own store, same "
            "time-provider calls, same request stash, same RateLimitResponse and the same 429 (LiteLLM's "
            "own error builder); every other check runs LiteLLM's hook."
        ),
        callers="every proxy request: PROXY_HOOKS['parallel_request_limiter'] pre-call (ProxyLogging.pre_call_hook)",
        compare=lambda a, b: True,
    ),
]


def _bench_setup() -> Callable[[], Any]:
    return bench_hooks.v3_pre_call_hook()


BENCH_MODEL_LIST = [
    {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-bench"}},
    {"model_name": "gpt-4o", "litellm_params": {"model": "azure/gpt-4o", "api_key": "sk-bench", "api_base": "https://bench.invalid"}},
    {"model_name": "gpt-4o-mini", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "sk-bench"}},
]


def _bench_router_setup() -> Callable[[], Any]:
    """The same harness with a router loaded the way the proxy loads a config's model_list
    (``proxy_server.llm_router = Router(model_list=...)``: two gpt-4o deployments and a
    gpt-4o-mini one); set around each batch so other benchmarks do not see it."""
    import litellm.proxy.proxy_server as ps
    from litellm import Router

    router = Router(model_list=[dict(d, litellm_params=dict(d["litellm_params"])) for d in BENCH_MODEL_LIST])
    run_batch = bench_hooks.v3_pre_call_hook()

    def run() -> None:
        saved = ps.llm_router
        ps.llm_router = router
        try:
            run_batch()
        finally:
            ps.llm_router = saved

    return run


BENCHMARKS = [
    Benchmark(
        name="rate_limit.v3_110_pre_call_hook",
        patch="rate_limit.v3_110_store",
        setup=_bench_setup,
        notes="100 checks per call (divide by 100 for one check): 1.110.x v3 limiter async_pre_call_hook, 5,000 rotating keys, no Redis",
    ),
    Benchmark(
        name="rate_limit.v3_110_fused_pre_call",
        patch="rate_limit.v3_110_fused_pre_call",
        setup=_bench_router_setup,
        notes=(
            "100 v3 pre-call checks (gpt-4o, 5,000 rotating keys with rpm/tpm, no Redis) with a router loaded as "
            "the proxy loads a model_list (proxy_server.llm_router = Router(2 gpt-4o + 1 gpt-4o-mini deployments)); "
            "stock vs every default patch (fused check + inline estimates)"
        ),
    ),
    Benchmark(
        name="rate_limit.v3_110_fused_pre_call_no_router",
        patch="rate_limit.v3_110_fused_pre_call",
        setup=_bench_setup,
        notes="the same without a router loaded (SDK-style embedding of the limiter; not what a proxy with a model_list sees)",
    ),
    Benchmark(
        name="rate_limit.v3_110_inline_estimates",
        patch="rate_limit.v3_110_inline_estimates",
        setup=_bench_setup,
        notes="same harness: 100 v3 pre-call checks (rpm/tpm limits, so two token estimates each), 5,000 rotating keys, no Redis",
    ),
]
