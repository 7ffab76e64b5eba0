"""The Router's deployment selection, flat in the number of deployments (LiteLLM 1.83.x).

Why
---
With one model group of N deployments, stock ``Router.acompletion`` on 1.83.x makes several
passes over the group per call: ``_get_all_deployments`` four times (selection, the
prompt-management check, the mock-rate-limit check, ``get_model_list``), every deployment id
through the cooldown cache, the team, cooldown and ``order`` filters, and ``simple_shuffle``'s
weights. At 1,000 deployments that is most of the call's CPU.

What is replaced
----------------
* ``Router._get_all_deployments(model_name)`` (no alias, no team): the group's deployments are
  kept per router and model name and handed out as a fresh list, the same objects in the same
  order as stock.
* ``Router.async_get_available_deployment`` for ``routing_strategy="simple-shuffle"``: the pick is
  made by a Rust index of the group's ``weight``/``rpm``/``tpm`` (``RouteShuffleIndex``) from the
  same ``random.random()`` draw stock's ``random.choices`` makes (``random.choice`` when no weight
  applies), so a seeded ``random`` gives the very same deployment. Deployments in cooldown are
  left out exactly as stock leaves them out; the index re-normalises over the rest.
* Cooldowns: ``CooldownCache.add_deployment_to_cooldown`` also records the id, so a call reads
  the in-memory cooldown entries of the ids ever cooled (expired ones are dropped as stock's
  read drops them) instead of one entry per deployment of the router.
* Invalidation: ``Router._invalidate_model_group_info_cache``, which LiteLLM calls at every
  model-list write (``set_model_list``, add, upsert, delete), bumps a generation; the group
  cache is also keyed by the model list's and the group's index list's identity and length.

What is handed to stock (the whole call, before any side effect)
-----------------------------------------------------------------
Any other routing strategy, ``specific_deployment``, a deployment id or a ``model_group_alias``
or ``litellm.model_alias_map`` name as model, a name outside ``model_names`` (wildcards, default
deployments), a team id in the request metadata, a group with team-scoped or ``order``-ed
deployments, pre-routing routers (auto, complexity, adaptive, quality), a web-search tool,
health-check routing, a Redis cache under the cooldowns, a callback that filters deployments,
``enable_pre_call_checks`` with messages, tag filtering, weights LiteLLM would raise on, every
deployment in cooldown (stock raises its own error), and Router subclasses.

Deployment dicts edited in place after they were added (not through LiteLLM's methods) are
not seen, as LiteLLM's own model-name index does not see them either.
"""

from __future__ import annotations

import random
import sys
from typing import Any, Dict, List, Optional, Tuple

from .._patching import APPLIED, NOT_COVERED, Patch

COMPONENT = "router"
SUPPORTS = ">=1.83.7,<1.84"

_GEN = "_fast_litellm_generation"
_GROUPS = "_fast_litellm_groups"
_COOLED = "_fast_litellm_cooled"
_WEIGHT_KEYS = ("weight", "rpm", "tpm")
_EXACT = 2 ** 53
# Python 3.12's sum() of floats is compensated; the index reproduces the plain sum only.
_PLAIN_FLOAT_SUM = sys.version_info < (3, 12)
_PRE_ROUTERS = ("auto_routers", "complexity_routers", "adaptive_routers", "quality_routers")
_WEB_SEARCH = ("web_search", "web_search_preview")

_native: Any = None
# Bumped at each activation: cooldown ids recorded before a deactivation may be incomplete.
_EPOCH = [0]


def _new_epoch() -> None:
    """``Patch.requires`` of the cooldown tracking: always applies, and starts a new epoch."""
    _EPOCH[0] += 1
    return None


def _index_class() -> Any:
    global _native
    if _native is None:
        from ..registry import import_native

        _native = import_native()
    return _native.RouteShuffleIndex


def _weight_kind(params: Any, key: str, by_max: bool) -> Tuple[int, float]:
    """(kind, number) for ``RouteShuffleIndex``: 0 absent, 1 None, 2 a number, 3 anything else."""
    if key not in params:
        return 0, 0.0
    value = params[key]
    if value is None:
        return 1, 0.0
    kind = type(value)
    if kind is int or (by_max and kind is bool):
        return (2, float(value)) if -_EXACT < value < _EXACT else (3, 0.0)
    if kind is float and (by_max or _PLAIN_FLOAT_SUM or value.is_integer()):
        return 2, value
    return 3, 0.0


class _Group:
    """One model name's deployments on one router, as stock's ``_get_all_deployments`` lists them."""

    __slots__ = ("key", "deployments", "positions", "index", "mode", "selectable")

    def __init__(self, key: tuple, deployments: tuple, by_max: bool) -> None:
        self.key = key
        self.deployments = deployments
        self.positions: Dict[str, int] = {}
        self.index: Any = None
        self.mode = -2  # the full group's pick: >= 0 weighted, -1 uniform, -2 left to stock
        self.selectable = self._scan(by_max)

    def _scan(self, by_max: bool) -> bool:
        kinds: List[int] = []
        nums: List[float] = []
        for pos, dep in enumerate(self.deployments):
            info = dep.get("model_info")
            params = dep.get("litellm_params")
            if not isinstance(info, dict) or not isinstance(params, dict):
                return False
            model_id = info.get("id")
            if not isinstance(model_id, str) or model_id in self.positions:
                return False
            # Stock's team filter and order filter would act on these: left to stock.
            if info.get("team_id") is not None:
                return False
            if params.get("order") is not None or info.get("order") is not None:
                return False
            self.positions[model_id] = pos
            for key in _WEIGHT_KEYS:
                kind, num = _weight_kind(params, key, by_max)
                kinds.append(kind)
                nums.append(num)
        if not self.deployments:
            return False
        self.index = _index_class()(kinds, nums, by_max)
        self.mode = self.index.pick(0.0)
        return True


def _group(router: Any, model_name: str) -> _Group:
    indices = router.model_name_to_deployment_indices.get(model_name)
    model_list = router.model_list
    key = (router.__dict__.get(_GEN, 0), id(model_list), len(model_list), id(indices),
           -1 if indices is None else len(indices))
    groups = router.__dict__.get(_GROUPS)
    if groups is None:
        groups = {}
        setattr(router, _GROUPS, groups)
    group = groups.get(model_name)
    if group is None or group.key != key:
        found = []
        for idx in indices or ():
            dep = model_list[idx]
            if dep["model_name"] == model_name:  # should_include_deployment without a team
                found.append(dep)
        group = groups[model_name] = _Group(key, tuple(found), by_max=False)
    return group


# -- patches --------------------------------------------------------------------------------


def _fast_get_all_deployments(self: Any, model_name: str, model_alias: Optional[str] = None,
                              team_id: Optional[str] = None) -> Any:
    if model_alias is not None or team_id is not None or type(model_name) is not str:
        return NOT_COVERED
    if model_name not in self.model_name_to_deployment_indices:
        return []  # stock's answer without a team; not cached (any name can be asked)
    return list(_group(self, model_name).deployments)


def _cooled_ids(cooldown_cache: Any) -> List[str]:
    """Ids in cooldown now: the in-memory entries of the ids ever cooled, read as stock reads
    them (an expired entry is evicted by the read)."""
    memory = cooldown_cache.cache.in_memory_cache
    held = cooldown_cache.__dict__.get(_COOLED)
    if held is None or held[0] != _EPOCH[0]:
        # First read since this activation: ids cooled while the patch was not there are found
        # once in the cache itself.
        tracked = set()
        for key in list(memory.cache_dict):
            if isinstance(key, str) and key.startswith("deployment:") and key.endswith(":cooldown"):
                tracked.add(key[len("deployment:"):-len(":cooldown")])
        setattr(cooldown_cache, _COOLED, (_EPOCH[0], tracked))
    else:
        tracked = held[1]
    if not tracked:
        return []
    active = []
    key_of = type(cooldown_cache).get_cooldown_cache_key
    for model_id in list(tracked):
        value = memory.get_cache(key=key_of(model_id))
        if value is None:
            tracked.discard(model_id)
        elif value and isinstance(value, dict):
            active.append(model_id)
    return active


def _filters_deployments(callbacks: Any) -> bool:
    from litellm.integrations.custom_logger import CustomLogger

    default = CustomLogger.async_filter_deployments
    return any(isinstance(cb, CustomLogger) and type(cb).async_filter_deployments is not default
               for cb in callbacks)


def _build_select(router_class: type) -> Any:
    import litellm

    def async_get_available_deployment(self: Any, model: str, request_kwargs: Dict,
                                       messages: Optional[List[Dict[str, str]]] = None,
                                       input: Any = None, specific_deployment: Optional[bool] = False) -> Any:
        if (type(self) is not router_class or self.routing_strategy != "simple-shuffle" or specific_deployment
                or type(model) is not str or not isinstance(request_kwargs, dict)):
            return NOT_COVERED
        for name in _PRE_ROUTERS:
            if model in (getattr(self, name, None) or ()):
                return NOT_COVERED
        if (self.has_model_id(model) or model in self.model_group_alias or model not in self.model_names
                or (litellm.model_alias_map and model in litellm.model_alias_map)):
            return NOT_COVERED
        metadata = request_kwargs.get("metadata") or {}
        litellm_metadata = request_kwargs.get("litellm_metadata") or {}
        if not isinstance(metadata, dict) or not isinstance(litellm_metadata, dict):
            return NOT_COVERED
        if (metadata.get("user_api_key_team_id") or litellm_metadata.get("user_api_key_team_id")) is not None:
            return NOT_COVERED
        tools = request_kwargs.get("tools") or []
        if not isinstance(tools, list):
            return NOT_COVERED
        for tool in tools:
            if not isinstance(tool, dict) or tool.get("type") in _WEB_SEARCH:
                return NOT_COVERED
        if (self.enable_health_check_routing or self.enable_tag_filtering is True
                or (self.enable_pre_call_checks and messages is not None)):
            return NOT_COVERED
        cooldown_cache = self.cooldown_cache
        if (COOLDOWN_TRACKING.state != APPLIED or cooldown_cache.cache.redis_cache is not None or cooldown_cache.cache.in_memory_cache is None
                or _filters_deployments(litellm.callbacks)):
            return NOT_COVERED
        group = _group(self, model)
        if not group.selectable:
            return NOT_COVERED
        excluded = []
        for model_id in _cooled_ids(cooldown_cache):
            pos = group.positions.get(model_id)
            if pos is not None:
                excluded.append(pos)
        deployments = group.deployments
        healthy = len(deployments) - len(excluded)
        if healthy <= 0:
            return NOT_COVERED  # stock raises its no-deployments error (and logs it)
        mode = group.index.pick(0.0, excluded) if excluded else group.mode
        if mode == -2:
            return NOT_COVERED
        # From here on: stock's side effects, then its pick.
        request_kwargs.pop("_target_order", None)  # no deployment has an order: all stay
        if request_kwargs.get("_encrypted_content_affinity_pinned") and healthy == 1:
            skip = set(excluded)
            return next(d for i, d in enumerate(deployments) if i not in skip)
        if mode == -1:
            if excluded:
                skip = set(excluded)
                return random.choice([d for i, d in enumerate(deployments) if i not in skip])
            return random.choice(deployments)
        return deployments[group.index.pick(random.random(), excluded)]

    return async_get_available_deployment


def _bump_generation(patch: Patch, original: Any, _generic: Any) -> Any:
    """A ``Patch.wrap``: LiteLLM's model-list invalidation also invalidates the group cache."""

    def _invalidate_model_group_info_cache(self: Any, *args: Any, **kwargs: Any) -> Any:
        patch.calls += 1
        self.__dict__[_GEN] = self.__dict__.get(_GEN, 0) + 1
        return original(self, *args, **kwargs)

    return _invalidate_model_group_info_cache


def _record_cooldown(patch: Patch, original: Any, _generic: Any) -> Any:
    """A ``Patch.wrap``: remember which ids were ever put in cooldown (read back per call)."""

    def add_deployment_to_cooldown(self: Any, model_id: str, *args: Any, **kwargs: Any) -> Any:
        patch.calls += 1
        held = self.__dict__.get(_COOLED)
        if held is not None and isinstance(model_id, str):
            held[1].add(model_id)
        return original(self, model_id, *args, **kwargs)

    return add_deployment_to_cooldown


def _same_group(stock: Any, fast: Any) -> bool:
    """Shadow mode: both picks are random; they must come from the same model group."""
    if isinstance(stock, dict) and isinstance(fast, dict):
        return stock.get("model_name") == fast.get("model_name")
    return stock == fast


def _router_class() -> type:
    return sys.modules["litellm.router"].Router  # type: ignore[no-any-return]


def _patch(name: str, target: str, summary: str, callers: str, **kw: Any) -> Patch:
    """One patch of the component: every one supports the same LiteLLM line."""
    return Patch(name=f"{COMPONENT}.{name}", component=COMPONENT, target=target, supports=SUPPORTS,
                 summary=summary, callers=callers, **kw)


COOLDOWN_TRACKING = _patch(
    "cooldown_ids",
    "litellm.router_utils.cooldown_cache:CooldownCache.add_deployment_to_cooldown",
    "Remembers the ids put in cooldown, so a routed call reads their entries only instead of one per "
    "deployment.",
    "_set_cooldown_deployments, on a deployment's failure past allowed_fails",
    build=lambda original: original,  # the wrap does the work
    wrap=_record_cooldown,
    requires=_new_epoch,
)

PATCHES = [
    _patch(
        "group_deployments",
        "litellm.router:Router._get_all_deployments",
        "A model group's deployments from a per-router cache kept in step with LiteLLM's model-list writes, "
        "instead of a scan of the group (4 per Router.acompletion call).",
        "Router._common_checks_available_deployment, get_model_list (the prompt-management and mock-rate-limit "
        "checks, retries' model_group_size), once or more per routed call",
        build=lambda original: _fast_get_all_deployments,
    ),
    _patch(
        "simple_shuffle",
        "litellm.router:Router.async_get_available_deployment",
        "simple-shuffle selection with cooldowns from a Rust weight index: the same deployment as stock for "
        "the same random.random() draw, without a per-call pass over the group; every other configuration "
        "is handed to LiteLLM.",
        "Router._acompletion and the other async endpoints, once per routed call",
        build=lambda original: _build_select(_router_class()),
        compare=_same_group,
    ),
    _patch(
        "model_list_generation",
        "litellm.router:Router._invalidate_model_group_info_cache",
        "Invalidates the group cache wherever LiteLLM invalidates its model-group info (set_model_list, "
        "add/upsert/delete deployment).",
        "every Router model-list write",
        build=lambda original: original,  # the wrap does the work
        wrap=_bump_generation,
    ),
    COOLDOWN_TRACKING,
]

BENCHMARKS: list = []
