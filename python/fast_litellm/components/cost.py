"""Cost calculation (``litellm.cost_per_token`` / ``litellm.completion_cost``) in Rust.

How it stays exact
------------------
A call is served natively only through a *plan*: one price record in the Rust
:class:`fast_litellm._native.CostTable`, built the first time a given model name
(and provider, region) is costed:

1. the model name is resolved with LiteLLM's own helpers (``get_llm_provider``,
   ``get_model_info``), never with a re-implementation of them;
2. the rates are read off that model info with LiteLLM's own ``_get_cost_per_unit``
   (tiers above a prompt-token threshold included, on 1.83.x);
3. the record is *verified*: LiteLLM's original function and the Rust arithmetic
   are run side by side on a fixed set of probe usages (zero, small, large, both
   sides of every tier threshold, cached reads, cache writes, reasoning tokens,
   and a non-zero response time). Every probe must agree bit for bit, per usage
   class (plain / cached / reasoning), or that class stays with LiteLLM.

Plans are dropped whenever ``litellm.model_cost`` is replaced, grows or shrinks,
or ``litellm.register_model`` runs; each plan also re-checks, per call, that the
price-map entry it was built from is the same object with the same prices. Models
whose cost path may log in over the network (``github_copilot/``, ``chatgpt/``)
are never planned, so the accelerated path adds no network call.

The proxy costs responses through the logging object (``response_cost_calculator``
calls ``completion_cost`` with ``model``, ``call_type``, ``optional_params``,
``litellm_logging_obj``...). Those calls are planned per *call key* (the keyword
values the path depends on, see ``_call_key``). While such a plan is verified the
original runs with a sandbox in place of the logging object: it forwards the few
reads the covered path makes, records the ``set_cost_breakdown`` arguments and
flags anything else. The recorded arguments are fitted to a recipe (prompt cost,
completion cost, their sum, a constant, or tokens times one of the plan's rates);
the accelerated call replays that recipe on the real logging object.

``completion_cost(completion_response=ModelResponse)`` with nothing else is installed as a
fused function (``fused_completion_cost``, via ``Patch.wrap``): one native call
(``CostTable.chat_cost``) checks the type, the ``model_cost`` fingerprint the Python side
handed it (``set_chat``), the discount/margin configs, reads the response and its plan, and
the generic wrapper's bookkeeping (call counter, fallback, delegation) is done inline. Every
other call, shadow mode and first calls go through the generic wrapper.

Service tiers (``service_tier`` argument, the response's ``service_tier``) are planned like a
model: the tier's prices read with the installed LiteLLM's own tier key names, or the base
prices where the provider's cost function ignores the tier, whichever the probes verify.
Providers with their own cost functions that are LiteLLM's generic arithmetic underneath
(``_GENERIC_BASED_PROVIDERS``) get cached and reasoning tokens natively, probes permitting.

Anything else (custom/per-deployment prices, tier-specific input-token thresholds, images,
audio, speech, rerank, batch, built-in tool costs, discount/margin configs...) returns
``NOT_COVERED`` and LiteLLM computes it unchanged.
"""

from __future__ import annotations

import copy
import sys
import threading
from operator import itemgetter
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._patching import NOT_COVERED, Patch
from ..bench import Benchmark

COMPONENT = "cost"

#: Providers whose cost path may attempt an OAuth login / network call.
NETWORK_PROVIDERS = ("github_copilot", "chatgpt")

_MAX_TOKENS = 1 << 52  # int -> float conversion stays exact below this

# Price-map fields whose change must invalidate a plan (checked per call).
_PRICE_FIELDS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
    "input_cost_per_second",
    "output_cost_per_second",
)

# Keys whose presence in the model info makes the arithmetic something else than
# the generic per-token path we replay (time of day, regional uplift, ranges...).
_UNSUPPORTED_INFO_MARKERS = ("off_peak", "tiered_pricing", "_per_second")


class _Plan:
    __slots__ = ("generic", "idx", "entry", "entry_key", "getter", "fields", "snapshot", "entry_len", "plain", "cached",
                 "reasoning", "timeless", "rates", "breakdown")

    def __init__(self) -> None:
        self.idx = -1
        self.entry: Any = None
        self.entry_key: Any = None
        self.getter: Optional[Callable[[Any], Any]] = None
        self.fields: tuple = ()
        self.snapshot: Any = None
        self.entry_len = 0
        self.plain = self.cached = self.reasoning = self.timeless = self.generic = False
        self.rates: Optional[tuple] = None
        # How completion_cost fills logging_obj.set_cost_breakdown(**kw) (None: no logging object).
        self.breakdown: Optional[tuple] = None

    def fresh(self, model_cost: dict) -> bool:
        entry = self.entry
        if model_cost.get(self.entry_key) is not entry or len(entry) != self.entry_len:
            return False
        getter = self.getter
        return getter is None or getter(entry) == self.snapshot


class _State:
    """The price table and the plans, valid for one ``model_cost`` fingerprint."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.table: Any = None
        self.fingerprint: Tuple[int, int, int] = (0, -1, -1)
        self.generation = 0
        self.cpt_plans: Dict[Any, Optional[_Plan]] = {}
        self.cc_plans: Dict[Any, Optional[_Plan]] = {}
        # completion_cost called with keyword arguments (the logging object's path): one plans
        # dict per distinct call key (see ``_call_key``).
        self.cc_kw_plans: Dict[Any, Dict[Any, Any]] = {}
        self.probing = threading.local()  # .on: building a plan; .capture: completion_cost probes

    def reset(self) -> None:
        with self.lock:
            if self.table is not None:
                self.table.clear()
            self.cpt_plans = {}
            self.cc_plans = {}
            self.cc_kw_plans = {}


_STATE = _State()


def _litellm() -> Any:
    return sys.modules["litellm"]


def _version_new() -> bool:
    """LiteLLM >= 1.100 (cache-creation tokens count as a double-counting signal)."""
    from ..registry import litellm_version
    from packaging.version import Version

    v = litellm_version()
    return v is not None and Version(v) >= Version("1.100")


def _check_fingerprint(litellm: Any) -> dict:
    mc = litellm.model_cost
    fp = (id(mc), len(mc), _STATE.generation)
    if fp != _STATE.fingerprint:
        with _STATE.lock:
            _STATE.reset()
            _STATE.fingerprint = fp
            _sync_chat(litellm, mc)
    return mc


def _ensure_table() -> None:
    """Creates the native table (under ``_STATE.lock``), synced with the current fingerprint."""
    if _STATE.table is None:
        from .. import _native

        _STATE.table = _native.CostTable()
        litellm = sys.modules.get("litellm")
        mc = getattr(litellm, "model_cost", None)
        if mc is not None and _STATE.fingerprint == (id(mc), len(mc), _STATE.generation):
            _sync_chat(litellm, mc)


def _sync_chat(litellm: Any, mc: dict) -> None:
    """Hands the native table what ``chat_cost`` serves from (this fingerprint's plans)."""
    table = _STATE.table
    if table is not None and hasattr(table, "set_chat"):
        from litellm.types.utils import ModelResponse, Usage

        table.set_chat((litellm, ModelResponse, Usage, mc, _STATE.cc_plans))


# -- rates from LiteLLM's own helpers -----------------------------------------


def _cost_unit_fn() -> Callable[..., Any]:
    from litellm.litellm_core_utils.llm_cost_calc import utils as u

    fn = getattr(u, "_get_cost_per_unit", None) or getattr(u, "get_cost_per_unit")
    return fn


def _rates_from_info(info: dict, provider: Optional[str], new: bool) -> Optional[tuple]:
    """``(input, output, cache_creation, cache_read, reasoning, tiers)`` or ``None``."""
    for key in info:
        if any(m in key for m in _UNSUPPORTED_INFO_MARKERS) and info.get(key) not in (None, 0, 0.0, {}, []):
            return None
    if new:
        from litellm.litellm_core_utils.llm_cost_calc import utils as u

        apply_default = getattr(u, "apply_provider_cache_read_default", None)
        if apply_default is not None:
            info = apply_default(info, provider)
        return _rates_new(info, provider, u)
    gcu = _cost_unit_fn()
    prompt = gcu(info, "input_cost_per_token")
    completion = gcu(info, "output_cost_per_token")
    if completion == 0.0 or completion is None:
        image = gcu(info, "output_cost_per_image_token", None)
        if image is not None:
            completion = image
    creation = gcu(info, "cache_creation_input_token_cost")
    read = gcu(info, "cache_read_input_token_cost")
    reasoning = gcu(info, "output_cost_per_reasoning_token", None)
    values = (prompt, completion, creation, read)
    if any(type(v) is not float for v in values) or (reasoning is not None and type(reasoning) is not float):
        return None
    tiers: List[tuple] = []
    threshold_keys = [k for k in info if k.startswith("input_cost_per_token_above_") and info[k] is not None]
    if threshold_keys:
        if new:
            return None  # 1.110's tier selection (inclusive bounds, per provider) is left to LiteLLM
        for key in sorted(threshold_keys, reverse=True):
            if info.get(key) is None:
                continue
            if not key.endswith("_tokens") or key.count("_above_") != 1:
                return None
            threshold_str = key.split("_above_")[1].split("_tokens")[0]
            try:
                threshold = float(threshold_str.replace("k", "")) * (1000 if "k" in threshold_str else 1)
            except ValueError:
                return None
            t_in = gcu(info, key, prompt)
            t_out = gcu(info, f"output_cost_per_token_above_{threshold_str}_tokens", completion)
            t_cc, t_cr = creation, read
            if f"cache_creation_input_token_cost_above_{threshold_str}_tokens" in info:
                t_cc = gcu(info, f"cache_creation_input_token_cost_above_{threshold_str}_tokens", creation)
            if f"cache_read_input_token_cost_above_{threshold_str}_tokens" in info:
                t_cr = gcu(info, f"cache_read_input_token_cost_above_{threshold_str}_tokens", read)
            tier = (float(threshold), t_in, t_out, t_cc, t_cr)
            if any(type(v) is not float for v in tier):
                return None
            tiers.append(tier)
    return prompt, completion, creation, read, reasoning, tiers


def _rates_new(info: dict, provider: Optional[str], u: Any) -> Optional[tuple]:
    """1.110's ``_get_token_base_cost`` rates: an absent cache read/creation rate is the (tier's)
    input rate; tiers apply in ascending threshold order, each one defaulting to the rates the
    lower tiers left, the highest threshold crossed wins (inclusive for some providers)."""
    prefixes = getattr(u, "_BATCH_RATE_PREFIXES", None)
    suffixes = getattr(u, "_NON_STANDARD_THRESHOLD_SUFFIXES", None)
    parse = getattr(u, "_parse_above_token_threshold", None)
    inclusive_fn = getattr(u, "_uses_inclusive_token_thresholds", None)
    gcu = getattr(u, "get_cost_per_unit", None)
    if prefixes is None or suffixes is None or parse is None or inclusive_fn is None or gcu is None:
        return None
    prompt = gcu(info, "input_cost_per_token")
    completion = gcu(info, "output_cost_per_token")
    if completion == 0.0:
        image = gcu(info, "output_cost_per_image_token", None)
        if image is not None:
            completion = image
    creation = gcu(info, "cache_creation_input_token_cost", None)
    read = gcu(info, "cache_read_input_token_cost", None)
    reasoning = gcu(info, "output_cost_per_reasoning_token", None)
    if type(prompt) is not float or type(completion) is not float or (reasoning is not None and type(reasoning) is not float):
        return None
    starts = tuple(f"{p}_above_" for p in prefixes)
    keys = [k for k in info if k.startswith(starts) and "_tokens" in k and not k.endswith(suffixes)]
    inclusive = bool(inclusive_fn(provider))
    state = [prompt, completion, creation, read]
    by_threshold: Dict[float, tuple] = {}
    try:
        ordered = sorted(keys, key=parse)
    except Exception:
        return None
    for key in ordered:
        if info.get(key) is None:
            continue
        try:
            ts = key.rsplit("_above_", 1)[1].split("_tokens")[0]
            threshold = parse(key)
        except (IndexError, ValueError):
            continue
        state = [gcu(info, f"input_cost_per_token_above_{ts}_tokens", state[0]),
                 gcu(info, f"output_cost_per_token_above_{ts}_tokens", state[1]),
                 gcu(info, f"cache_creation_input_token_cost_above_{ts}_tokens", state[2]),
                 gcu(info, f"cache_read_input_token_cost_above_{ts}_tokens", state[3])]
        if type(threshold) is not float or not threshold.is_integer():
            return None
        by_threshold[threshold] = tuple(state)
    tiers: List[tuple] = []
    for threshold in sorted(by_threshold, reverse=True):
        t_in, t_out, t_cc, t_cr = by_threshold[threshold]
        t_cc = t_in if t_cc is None else t_cc
        t_cr = t_in if t_cr is None else t_cr
        tier = (threshold - 1.0 if inclusive else threshold, t_in, t_out, t_cc, t_cr)
        if any(type(v) is not float for v in tier):
            return None
        tiers.append(tier)
    creation = prompt if creation is None else creation
    read = prompt if read is None else read
    if type(creation) is not float or type(read) is not float:
        return None
    return prompt, completion, creation, read, reasoning, tiers


def _is_network_model(litellm: Any, model: str, provider: Optional[str]) -> bool:
    if provider in NETWORK_PROVIDERS:
        return True
    if not isinstance(model, str):
        return True
    if model.split("/", 1)[0] in NETWORK_PROVIDERS:
        return True
    entry = litellm.model_cost.get(model)
    if isinstance(entry, dict) and entry.get("litellm_provider") in NETWORK_PROVIDERS:
        return True
    return False


def _resolve(litellm: Any, model: str, provider: Optional[str], region: Optional[str], new: bool) -> Tuple[str, str]:
    """The (model, provider) ``cost_per_token`` prices: its own lookup order, per version."""
    mc = litellm.model_cost
    if provider is not None:
        if new:
            dup = f"{provider}/"
            while model.startswith(dup):
                rest = model[len(dup):]
                if rest.startswith(dup):
                    model = rest
                else:
                    break
            with_provider = model if model.startswith(dup) else f"{provider}/{model}"
            if region is not None:
                bare = model[len(dup):] if model.startswith(dup) else model
                if f"{provider}/{region}/{bare}" in mc:
                    with_provider = f"{provider}/{region}/{bare}"
        else:
            with_provider = provider + "/" + model
            if region is not None and f"{provider}/{region}/{model}" in mc:
                with_provider = f"{provider}/{region}/{model}"
    else:
        with_provider = model
        _, provider, _, _ = litellm.get_llm_provider(model=model)
    parts = model.split("/", 1)
    if new:
        relative = with_provider == f"{provider}/{model}" and with_provider in mc
        without_prefix = model if len(parts) == 1 or relative else parts[1]
    else:
        without_prefix = parts[1] if len(parts) > 1 else model
    if with_provider in mc:
        model = with_provider
    elif model in mc:
        pass
    elif without_prefix in mc:
        model = without_prefix
    return model, provider  # type: ignore[return-value]


# -- probes -------------------------------------------------------------------

# (prompt, completion, cached, cache_creation)
_PLAIN_PROBES = [(0, 0), (1, 0), (0, 1), (1, 1), (7, 3), (1000, 500), (12345, 6789), (99991, 31337),
                 (123457, 98765), (2_000_001, 1_000_003)]
_CACHE_PROBES = [(1000, 100, 300, 0), (1000, 100, 0, 200), (1000, 100, 300, 200), (5, 5, 10, 0), (0, 0, 0, 3),
                 (7919, 613, 1237, 0), (7919, 613, 0, 1237), (104729, 1299, 7001, 3001), (150_000, 10, 1_000, 2_000)]
_CC_PLAIN_PROBES = [(0, 0), (1, 0), (0, 1), (12345, 6789), (2_000_001, 1_000_003)]
_REASONING_PROBES = [(100, 50, 30), (10, 5, 5), (2000, 1000, 999), (3000, 900, 600), (7919, 6133, 4321)]

# Providers ``cost_per_token`` sends to their own cost function instead of LiteLLM's
# generic per-token path. Their plain prompt/completion prices are verified by the
# probes; cached and reasoning tokens on them stay with LiteLLM (their arithmetic
# differs: e.g. databricks bills completion_tokens * rate whatever the breakdown).
_DEDICATED_PROVIDERS = frozenset({
    "vertex_ai", "anthropic", "bedrock", "databricks", "fireworks_ai", "azure", "gemini", "deepseek", "tencent",
    "perplexity", "xai", "lemonade", "dashscope", "qwencloud", "qwen_ai_platform", "azure_ai",
})


# Of those, the providers whose cost function is LiteLLM's generic per-token arithmetic on the
# same model (read in the installed source of both pinned versions): gemini, deepseek and azure
# (without per-second prices, already left to LiteLLM) call generic_cost_per_token as it is;
# anthropic and bedrock then scale by geo/speed multipliers that are 1.0 for a usage without
# inference_geo/speed (the only usages served natively); vertex_ai unless the model has
# ``*_above_128k_tokens`` prices (its own 128k handler). Their cached and reasoning tokens are
# served natively where the probes agree bit for bit, like any generic provider's.
_GENERIC_BASED_PROVIDERS = frozenset({"gemini", "deepseek", "azure", "anthropic", "bedrock", "vertex_ai"})


def _generic_arithmetic(provider: Optional[str], info: Any) -> bool:
    """Whether ``cost_per_token`` prices ``provider``'s tokens with the generic arithmetic."""
    if provider not in _DEDICATED_PROVIDERS:
        return True
    if provider not in _GENERIC_BASED_PROVIDERS:
        return False
    return not (provider == "vertex_ai" and any("_above_128k_tokens" in k for k in info))


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a.hex() == b.hex()
    return a == b


def _tier_probes(tiers: List[tuple]) -> List[Tuple[int, int]]:
    out = []
    for t in tiers:
        n = int(t[0])
        out += [(n - 1, 10), (n, 10), (n + 1, 10), (n + 2, 77)]
    return out


def _tier_key_fn() -> Optional[Callable[[str, Optional[str]], str]]:
    from litellm.litellm_core_utils.llm_cost_calc import utils as u

    return getattr(u, "get_service_tier_cost_key", None) or getattr(u, "_get_service_tier_cost_key", None)


_TIERED_BASE_KEYS = ("input_cost_per_token", "output_cost_per_token", "cache_creation_input_token_cost",
                     "cache_read_input_token_cost")


def _tier_view(info: dict, service_tier: str) -> Optional[Tuple[dict, tuple]]:
    """``(info with the service tier's prices in place of the base ones, the tier keys read)``:
    the key names come from the installed LiteLLM's own ``*service_tier_cost_key`` (flex,
    priority, and on 1.110 balanced/fast/ultrafast), and an absent or ``None`` tier price falls
    back to the base price as ``_get_cost_per_unit`` does. ``None`` when the model also has
    input-token thresholds and a tier price (tier-specific thresholds are left to LiteLLM)."""
    keyfn = _tier_key_fn()
    if keyfn is None:
        return None
    view = dict(info)
    read = []
    for base in _TIERED_BASE_KEYS:
        key = keyfn(base, service_tier)
        if key == base:
            continue
        read.append(key)
        value = info.get(key)
        if value is not None:
            view[base] = value
    if view != info and any("_above_" in k and info[k] is not None for k in info):
        return None
    return view, tuple(read)


def _build_cpt_plan(original: Callable[..., Any], model: str, provider: Optional[str], region: Optional[str],
                    service_tier: Optional[str] = None) -> Optional[_Plan]:
    litellm = _litellm()
    new = _version_new()
    if _is_network_model(litellm, model, provider):
        return None
    if service_tier is not None and type(service_tier) is not str:
        return None
    try:
        resolved, prov = _resolve(litellm, model, provider, region, new)
        if _is_network_model(litellm, resolved, prov):
            return None
        info = litellm.get_model_info(model=resolved, custom_llm_provider=prov)
    except Exception:
        return None
    base_info = dict(info)
    # (model info, extra price fields the plan re-checks per call): with a service tier, its own
    # prices first; when LiteLLM's cost function for the provider ignores the tier, the base prices.
    candidates: List[Tuple[dict, tuple]] = [(base_info, ())]
    if service_tier is not None:
        try:
            view = _tier_view(base_info, service_tier)
        except Exception:
            return None
        if view is None:
            return None
        if view[0] != base_info:
            candidates.insert(0, view)
        else:
            candidates = [(base_info, view[1])]
    for cand, tier_fields in candidates:
        plan = _verified_cpt_plan(original, litellm, info, cand, tier_fields, model, provider, prov, region,
                                  service_tier, new)
        if plan is not None:
            return plan
    return None


def _verified_cpt_plan(original: Callable[..., Any], litellm: Any, info: Any, rated_info: dict, tier_fields: tuple,
                       model: str, provider: Optional[str], prov: Optional[str], region: Optional[str],
                       service_tier: Optional[str], new: bool) -> Optional[_Plan]:
    rates = _rates_from_info(rated_info, prov, new)
    if rates is None:
        return None
    plan = _new_plan(litellm, info, rates, new, tier_fields)
    if plan is None:
        return None
    tier_kw = {} if service_tier is None else {"service_tier": service_tier}

    def stock(pt: int, ct: int, cr: int = 0, cc: int = 0, **extra: Any) -> Any:
        return original(model=model, prompt_tokens=pt, completion_tokens=ct, custom_llm_provider=provider,
                        region_name=region, cache_read_input_tokens=cr, cache_creation_input_tokens=cc, **extra,
                        **tier_kw)

    table = _STATE.table
    try:
        plain = [(pt, ct) for pt, ct in _PLAIN_PROBES] + _tier_probes(rates[5])
        plan.plain = all(_same(stock(pt, ct), table.cost(plan.idx, pt, ct, cr, 0)) for pt, ct in plain for cr in (0,))
        generic = _generic_arithmetic(prov, info)
        plan.generic = generic
        plan.cached = plan.plain and generic and all(
            _same(stock(pt, ct, cr, cc), table.cost(plan.idx, pt, ct, cr, cc)) for pt, ct, cr, cc in _CACHE_PROBES
        )
        plan.timeless = plan.plain and all(
            _same(stock(pt, ct, response_time_ms=1234.5), table.cost(plan.idx, pt, ct)) for pt, ct in ((100, 10), (0, 0))
        )
    except Exception:
        return None
    return plan if plan.plain else None


def _new_plan(litellm: Any, info: Any, rates: tuple, new: bool, tier_fields: tuple = ()) -> Optional[_Plan]:
    key = info.get("key")
    entry = litellm.model_cost.get(key)
    if not isinstance(entry, dict):
        return None
    plan = _Plan()
    with _STATE.lock:
        _ensure_table()
        plan.idx = _STATE.table.add(rates[0], rates[1], rates[2], rates[3], rates[4], rates[5], new)
    plan.entry, plan.entry_key, plan.entry_len = entry, key, len(entry)
    plan.rates = rates
    present = ([k for k in _PRICE_FIELDS if k in entry] + [k for k in entry if "_above_" in k]
               + [k for k in tier_fields if k in entry])
    if present:
        plan.fields = tuple(present)
        plan.getter = itemgetter(*present)
        plan.snapshot = plan.getter(entry)
    return plan


# -- cost_per_token -------------------------------------------------------------

_CPT_DEFAULTS: Dict[str, Any] = {
    "prompt_characters": None,
    "completion_characters": None,
    "custom_cost_per_token": None,
    "custom_cost_per_second": None,
    "requested_model_info_override": None,
    "number_of_queries": None,
    "usage_object": None,
    "rerank_billed_units": None,
    "call_type": "completion",
    "audio_transcription_file_duration": 0.0,
    "data_residency": None,
    "vertex_location": None,
    "response": None,
    "request_model": None,
    "custom_model_info": None,
    "bedrock_model_info": None,
}
_TOKEN = int


def _cpt_plan(original: Callable[..., Any], model: str, provider: Any, region: Any,
              service_tier: Any = None) -> Optional[_Plan]:
    litellm = _litellm()
    mc = _check_fingerprint(litellm)
    key = (model, provider, region, service_tier)
    plans = _STATE.cpt_plans
    plan = plans.get(key, False)
    if plan is False:
        if getattr(_STATE.probing, "on", False):
            return None
        _STATE.probing.on = True
        try:
            plan = _build_cpt_plan(original, model, provider, region, service_tier)
        finally:
            _STATE.probing.on = False
        with _STATE.lock:
            if _STATE.cpt_plans is plans:
                plans[key] = plan
    if plan is None or not plan.fresh(mc):
        return None
    return plan


def build_cost_per_token(original: Callable[..., Any]) -> Callable[..., Any]:
    state = _STATE
    modules = sys.modules

    def cost_per_token(model: Any = "", prompt_tokens: Any = 0, completion_tokens: Any = 0,
                       response_time_ms: Any = 0.0, custom_llm_provider: Any = None, region_name: Any = None,
                       *rest: Any, cache_creation_input_tokens: Any = 0, cache_read_input_tokens: Any = 0,
                       service_tier: Any = None, **kwargs: Any) -> Any:
        if rest:
            return NOT_COVERED
        if kwargs:
            for k, v in kwargs.items():
                d = _CPT_DEFAULTS.get(k, NOT_COVERED)
                if d is NOT_COVERED or not (v is d or (type(v) is type(d) and v == d)):
                    return NOT_COVERED
        if (type(model) is not str or type(prompt_tokens) is not _TOKEN or type(completion_tokens) is not _TOKEN
                or type(cache_read_input_tokens) is not _TOKEN or type(cache_creation_input_tokens) is not _TOKEN):
            return NOT_COVERED
        if not (0 <= prompt_tokens < _MAX_TOKENS and 0 <= completion_tokens < _MAX_TOKENS
                and 0 <= cache_read_input_tokens < _MAX_TOKENS and 0 <= cache_creation_input_tokens < _MAX_TOKENS):
            return NOT_COVERED
        if not (custom_llm_provider is None or type(custom_llm_provider) is str):
            return NOT_COVERED
        if not (region_name is None or type(region_name) is str):
            return NOT_COVERED
        if not (service_tier is None or type(service_tier) is str):
            return NOT_COVERED
        mc = modules["litellm"].model_cost
        plan = False
        if (id(mc), len(mc), state.generation) == state.fingerprint:  # _cpt_plan's steady state, inline
            plan = state.cpt_plans.get((model, custom_llm_provider, region_name, service_tier), False)
            if plan is not False and plan is not None and not plan.fresh(mc):
                return NOT_COVERED
        if plan is False:
            plan = _cpt_plan(original, model, custom_llm_provider, region_name, service_tier)
        if plan is None:
            return NOT_COVERED
        if (cache_read_input_tokens or cache_creation_input_tokens) and not plan.cached:
            return NOT_COVERED
        if not (type(response_time_ms) is float and response_time_ms == 0.0):
            if not plan.timeless or type(response_time_ms) not in (int, float):
                return NOT_COVERED
        return _STATE.table.cost(plan.idx, prompt_tokens, completion_tokens, cache_read_input_tokens,
                                 cache_creation_input_tokens)

    return cost_per_token


# -- completion_cost --------------------------------------------------------------

def _probe_response(template: Any, counts: Tuple[int, ...], response_ms: Any) -> Any:
    from litellm.types.utils import ModelResponse, Usage

    pt, ct, cr, cc, ptext, reasoning, ctext = counts
    ptd: Dict[str, int] = {}
    if cr:
        ptd["cached_tokens"] = cr
    if cc:
        ptd["cache_creation_tokens"] = cc
    if ptext:
        ptd["text_tokens"] = ptext
    ctd: Dict[str, int] = {}
    if reasoning:
        ctd["reasoning_tokens"] = reasoning
    if ctext:
        ctd["text_tokens"] = ctext
    usage = Usage(prompt_tokens=pt, completion_tokens=ct, total_tokens=pt + ct,
                  prompt_tokens_details=ptd or None, completion_tokens_details=ctd or None)
    r = ModelResponse(model=template.model, usage=usage)
    if getattr(template, "service_tier", None) is not None:
        r.service_tier = template.service_tier
    hp = dict(template._hidden_params)
    if response_ms is None:
        response_ms = getattr(template, "_response_ms", None)
    if response_ms is not None:
        hp["_response_ms"] = response_ms
        r._response_ms = response_ms
    r._hidden_params = hp
    return r


# -- the logging object's path: completion_cost(completion_response=..., model=..., ...) -------

# Keyword arguments whose value (None, str or bool) goes into the call key as it is.
_CC_SCALAR_KW = frozenset({
    "model", "call_type", "custom_llm_provider", "custom_pricing", "base_model", "litellm_model_name",
    "router_model_id", "service_tier", "region_name", "pricing_provider", "data_residency", "vertex_location",
})
# Keyword arguments covered only at their "unset" value.
_CC_UNSET_KW = {
    "custom_cost_per_token": None, "custom_cost_per_second": None, "requested_model_info_override": None,
    "size": None, "quality": None, "n": None, "messages": [], "completion": "", "total_time": 0.0,
    "prompt": "",  # a per-request prompt text would make one call key per request
}
# Distinct call keys kept (deployments x tiers x ...); past this, new keys go to LiteLLM.
_MAX_CALL_KEYS = 4096
_CHAT_CALL_TYPES = (None, "completion", "acompletion")
# Attributes of the logging object completion_cost may read on the covered path (the values that
# matter are in the call key); any other access makes a plan stay with LiteLLM.
_LOG_READS = frozenset({"model", "model_call_details"})


# Stands for any deployment id in a call key where LiteLLM's cost path does not read it.
_ANY_ID = ("any deployment id",)
# The only provider whose cost path reads the invoked deployment id without custom pricing
# (1.110.x ``_bedrock_pricing_info``: an application inference profile registered under its id).
_ID_PRICED_PROVIDERS = ("bedrock",)


def _ids_matter(kwargs: Dict[str, Any]) -> bool:
    """Whether LiteLLM's chat cost path may read the deployment ids in ``kwargs``.

    It reads ``router_model_id`` only under ``custom_pricing=True`` (not covered) and the
    invoked ``model_id`` (``optional_params`` / the logging object's ``model_call_details``)
    only to price a Bedrock deployment (1.110.x; 1.83.x never reads it). Anywhere else the
    ids are not part of the price, and keeping them in the call key made every deployment of
    a Router group build and verify its own plan (a 1,000-deployment group paid a plan build,
    ~25 LiteLLM cost calls, on most requests)."""
    provider = kwargs.get("custom_llm_provider")
    if type(provider) is not str or provider in _ID_PRICED_PROVIDERS:
        return True
    return kwargs.get("base_model") is not None  # its own provider decides, as with ``model``


def _call_key(kwargs: Dict[str, Any]) -> Any:
    """A hashable key for everything in ``kwargs`` the covered path depends on, or ``None``."""
    items = []
    ids = _ids_matter(kwargs)
    for k, v in kwargs.items():
        if k in _CC_SCALAR_KW:
            if v is None or type(v) is str or type(v) is bool:
                items.append((k, v if ids or k != "router_model_id" or v is None else _ANY_ID))
                continue
            return None
        if k == "litellm_logging_obj" or k == "optional_params" or k == "standard_built_in_tools_params":
            continue
        if k in _CC_UNSET_KW:
            d = _CC_UNSET_KW[k]
            if v is d or (type(v) is type(d) and v == d):
                continue
        return None
    if kwargs.get("custom_pricing") is True or kwargs.get("call_type") not in _CHAT_CALL_TYPES:
        return None  # per-deployment custom prices (proxy model_info) stay with LiteLLM
    op = kwargs.get("optional_params")
    if op is not None:
        if type(op) is not dict:
            return None
        tier, model_id = op.get("service_tier"), op.get("model_id")
        if not ((tier is None or type(tier) is str) and (model_id is None or type(model_id) is str)):
            return None
        items.append(("optional_params", tier, model_id if ids or model_id is None else _ANY_ID))
    tools = kwargs.get("standard_built_in_tools_params")
    if tools is not None:
        if type(tools) is not dict or any(tools.values()):
            return None
        items.append(("tools", True))
    lo = kwargs.get("litellm_logging_obj")
    if lo is not None:
        model = getattr(lo, "model", None)
        details = getattr(lo, "model_call_details", None)
        model_id = details.get("model_id") if type(details) is dict else None
        if not ((model is None or type(model) is str) and (model_id is None or type(model_id) is str)):
            return None
        items.append(("logging", model, model_id if ids or model_id is None else _ANY_ID))
    return tuple(items)  # in the caller's keyword order (a fixed order per call site)


class _LoggingSandbox:
    """Stands in for the logging object while a plan is verified: forwards the reads the covered
    path makes, records ``set_cost_breakdown`` and flags any other access."""

    def __init__(self, real: Any) -> None:
        self.__dict__.update(_real=real, breakdown=None, bad=[])

    def set_cost_breakdown(self, **kwargs: Any) -> None:
        if self.breakdown is not None:
            self.bad.append("set_cost_breakdown twice")
        self.__dict__["breakdown"] = kwargs

    def __getattr__(self, name: str) -> Any:
        if name in _LOG_READS:
            value = getattr(self.__dict__["_real"], name, None)
            return dict(value) if type(value) is dict else value
        self.__dict__["bad"].append("read " + name)
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self.bad.append("set " + name)


def _deq(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a.hex() == b.hex()
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_deq(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_deq(x, y) for x, y in zip(a, b))
    return a == b


def _fit_breakdown(rows: List[Tuple[dict, tuple, tuple]]) -> Optional[tuple]:
    """How each ``set_cost_breakdown`` argument follows from ``(p, q, cached, creation, reasoning)``.

    ``rows``: (recorded kwargs, (p, q, cached, creation, reasoning), rates). Each argument must be,
    on every row, one of: the prompt cost, the completion cost, their sum, one constant, or
    ``float(tokens) * rate`` (or ``None`` when the count is 0) for one token count and one of the
    plan's rates.
    Returns ``((name, how), ...)`` or ``None``."""
    if not rows:
        return None
    names = list(rows[0][0])
    if any(list(r[0]) != names for r in rows):
        return None
    rates = rows[0][2]
    rate_candidates = [x for x in (rates[3], rates[2], rates[4], rates[1], rates[0]) if type(x) is float]
    out = []
    for name in names:
        got = [r[0][name] for r in rows]
        how: Any = None
        for cand in ("p", "q", "t"):
            if all(_deq(g, _derive(cand, r[1])) for g, r in zip(got, rows)):
                how = cand
                break
        if how is None and all(_deq(g, got[0]) for g in got):
            how = ("const", got[0])
        if how is None:
            for slot in (2, 3, 4):
                for rate in rate_candidates:
                    for none_when_zero in (True, False):
                        cand = ("mul", slot, rate, none_when_zero)
                        if all(_deq(g, _derive(cand, r[1])) for g, r in zip(got, rows)):
                            how = cand
                            break
                    if how is not None:
                        break
                if how is not None:
                    break
        if how is None:
            return None
        out.append((name, how))
    return tuple(out)


def _derive(how: Any, parts: tuple) -> Any:
    if how == "p":
        return parts[0]
    if how == "q":
        return parts[1]
    if how == "t":
        return parts[0] + parts[1]
    if how[0] == "const":
        value = how[1]
        return copy.deepcopy(value) if isinstance(value, (dict, list)) else value
    n = parts[how[1]]
    return None if (not n and how[3]) else float(n) * how[2]


def _build_cc_plan(original: Callable[..., Any], template: Any, kwargs: Optional[Dict[str, Any]] = None) -> Optional[_Plan]:
    """Plan for responses shaped like ``template`` (and called with ``kwargs``): learn which
    (model, provider, region) LiteLLM prices them as, then verify totals (and the cost breakdown
    it stores on a logging object) against the original on probes."""
    litellm = _litellm()
    cpt_patch = next((p for p in PATCHES if p.name == "cost.cost_per_token"), None)
    if cpt_patch is None or cpt_patch.state != "applied":
        return None
    hp = template._hidden_params
    names = [template.model, hp.get("model"), hp.get("litellm_model_name")]
    providers = [hp.get("custom_llm_provider")]
    if kwargs:
        names += [kwargs.get("model"), kwargs.get("base_model"), kwargs.get("litellm_model_name")]
        providers += [kwargs.get("custom_llm_provider"), kwargs.get("pricing_provider")]
        lo = kwargs.get("litellm_logging_obj")
        if lo is not None:
            names.append(getattr(lo, "model", None))
    for name in names:
        for prov in providers:
            if isinstance(name, str) and _is_network_model(litellm, name, prov):
                return None
    if any(p in NETWORK_PROVIDERS for p in providers):
        return None
    seen: list = []
    _STATE.probing.capture = seen
    try:
        return _verify_cc_plan(original, template, seen, kwargs or {})
    finally:
        _STATE.probing.capture = None


def _verify_cc_plan(original: Callable[..., Any], template: Any, seen: list, kwargs: Dict[str, Any]) -> Optional[_Plan]:
    real_log = kwargs.get("litellm_logging_obj")
    rows: Dict[str, List[tuple]] = {"plain": [], "cached": [], "reasoning": []}

    def run(counts: Tuple[int, ...], ms: Any = None, cls: str = "plain") -> Any:
        """The original on one probe; with a logging object, also records its breakdown."""
        probe = _probe_response(template, counts, ms)
        hp_before = dict(probe._hidden_params)
        kw = dict(kwargs)
        box = None
        if real_log is not None:
            box = kw["litellm_logging_obj"] = _LoggingSandbox(real_log)
        out = original(completion_response=probe, **kw)
        if probe._hidden_params != hp_before:
            raise ValueError("completion_cost changed the response's hidden params")
        if box is not None and base is not None:
            if box.bad or box.breakdown is None:
                raise ValueError(f"logging object use not replayed: {box.bad}")
            p, q = _STATE.table.cost(base.idx, *counts)
            rows[cls].append((box.breakdown, (p, q, counts[2], counts[3], counts[5]), base.rates))
        return out

    base: Any = None
    try:
        first = run((10, 5, 0, 0, 0, 0, 0))  # learns the model LiteLLM prices (base is not known yet)
    except Exception:
        return None
    if len(seen) != 1:
        return None
    kw = seen[0]
    if kw.get("custom_cost_per_token") is not None or kw.get("custom_cost_per_second") is not None:
        return None
    if kw.get("requested_model_info_override") is not None or kw.get("custom_model_info") is not None:
        return None
    cpt_patch = next(p for p in PATCHES if p.name == "cost.cost_per_token")
    base = _build_cpt_plan(cpt_patch.original, kw["model"], kw.get("custom_llm_provider"), kw.get("region_name"),
                           kw.get("service_tier"))
    if base is None:
        return None
    if real_log is not None and not base.timeless:
        return None
    table = _STATE.table

    def check(counts: Tuple[int, ...], ms: Any = None, cls: str = "plain") -> bool:
        return _same(run(counts, ms, cls), table.total(base.idx, *counts))

    plan = base
    try:
        if not _same(first, table.total(base.idx, 10, 5)):
            return None
        # The per-shape arithmetic is the cost_per_token plan's, already verified on every
        # plain probe; here a subset checks that completion_cost adds nothing around it.
        shapes = [(pt, ct, 0, 0, 0, 0, 0) for pt, ct in _CC_PLAIN_PROBES]
        plan.plain = all(check(s) for s in shapes) and check((100, 10, 0, 0, 0, 0, 0), 2500.0)
        plan.cached = plan.plain and plan.cached and all(
            check((pt, ct, cr, cc, 0, 0, 0), None, "cached") for pt, ct, cr, cc in _CACHE_PROBES)
        plan.reasoning = plan.plain and plan.generic and all(
            check((pt, ct, 0, 0, 0, r, 0), None, "reasoning") for pt, ct, r in _REASONING_PROBES)
    except Exception:
        return None
    if not plan.plain:
        return None
    if real_log is not None:
        fitted = None
        for cached, reasoning in ((plan.cached, plan.reasoning), (plan.cached, False), (False, plan.reasoning),
                                  (False, False)):
            chosen = rows["plain"] + (rows["cached"] if cached else []) + (rows["reasoning"] if reasoning else [])
            fitted = _fit_breakdown(chosen)
            if fitted is not None:
                plan.cached, plan.reasoning = cached, reasoning
                break
        if fitted is None:
            return None
        plan.breakdown = _compile_recipe(fitted)
    return plan


def _native_record(plan: Optional[_Plan]) -> Optional[tuple]:
    """A plan as the tuple ``CostTable.completion_total`` reads (``None``: no native plan);
    the 9th item (not read by Rust) is how to fill the logging object's cost breakdown."""
    if plan is None:
        return None
    fields = plan.fields
    snapshot = () if not fields else (plan.snapshot if len(fields) > 1 else (plan.snapshot,))
    return (plan.idx, bool(plan.cached), bool(plan.reasoning), plan.entry_key, plan.entry, plan.entry_len,
            fields, snapshot, plan.breakdown)


def build_completion_cost(original: Callable[..., Any]) -> Callable[..., Any]:
    """``completion_cost(completion_response=ModelResponse, ...)``: one native call reads the response
    (usage, details, hidden params, annotations), finds the plan and re-checks its price-map entry.
    With the logging object's keyword arguments, the plan also says how to fill the cost breakdown
    LiteLLM stores on the logging object, and that is done here too."""
    from litellm.types.utils import ModelResponse, Usage

    modules = sys.modules
    state = _STATE

    def completion_cost(completion_response: Any = None, *args: Any, **kwargs: Any) -> Any:
        if args or type(completion_response) is not ModelResponse:
            return NOT_COVERED
        litellm = modules["litellm"]
        if litellm.cost_discount_config or litellm.cost_margin_config:
            return NOT_COVERED
        mc = litellm.model_cost
        if (id(mc), len(mc), state.generation) != state.fingerprint:
            _check_fingerprint(litellm)
        if kwargs:
            return _completion_cost_kw(original, completion_response, kwargs, Usage, mc)
        table = state.table
        if table is None:
            return _plan_then_cost(original, completion_response, Usage, mc, state.cc_plans, None)
        out = table.completion_total(completion_response, Usage, state.cc_plans, mc)
        if type(out) is float:
            return out
        if out is None:
            return NOT_COVERED
        return _plan_then_cost(original, completion_response, Usage, mc, state.cc_plans, None)

    return completion_cost


def fused_completion_cost(patch: Patch, original: Callable[..., Any], generic: Callable[..., Any]) -> Callable[..., Any]:
    """The installed ``completion_cost``: ``completion_cost(completion_response=ModelResponse)`` goes
    straight to one native call (``CostTable.chat_cost``: type, ``model_cost`` fingerprint,
    discount/margin configs, the response, its plan) and the generic wrapper's bookkeeping is done
    inline (call counter, fallback to LiteLLM on any error, delegation when not covered). Every
    other call, every call in shadow mode and every call the native side cannot decide alone (no
    plan yet, the price map changed) goes through the generic wrapper unchanged."""
    from .._patching import _NEVER_CATCH, _SHADOW

    # The native table is made at the first call, not when the patch is installed (`import
    # fast_litellm` does not load the extension); it is cleared on resets, never replaced.
    bound: List[Any] = []

    def chat_cost_fn() -> Any:
        with _STATE.lock:
            _ensure_table()
        bound.append(_STATE.table.chat_cost)
        return bound[0]

    def completion_cost(completion_response: Any = None, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or _SHADOW[0]:
            return generic(completion_response, *args, **kwargs)
        try:
            out = (bound[0] if bound else chat_cost_fn())(completion_response)
        except _NEVER_CATCH:
            raise
        except BaseException as exc:  # PanicException is a BaseException
            patch.calls += 1
            patch.record_fallback(exc)
            return original(completion_response)
        if type(out) is float:
            patch.calls += 1
            return out
        if out is None:
            patch.calls += 1
            patch.delegated += 1
            return original(completion_response)
        return generic(completion_response)

    return completion_cost


def _completion_cost_kw(original: Callable[..., Any], r: Any, kwargs: Dict[str, Any], usage_cls: Any, mc: dict) -> Any:
    key = _call_key(kwargs)
    if key is None:
        return NOT_COVERED
    state = _STATE
    plans = state.cc_kw_plans.get(key)
    if plans is None:
        if len(state.cc_kw_plans) >= _MAX_CALL_KEYS:
            return NOT_COVERED
        with state.lock:
            plans = state.cc_kw_plans.setdefault(key, {})
    table = state.table
    log = kwargs.get("litellm_logging_obj")
    if table is None:
        return _plan_then_cost(original, r, usage_cls, mc, plans, kwargs)
    out = table.completion_total(r, usage_cls, plans, mc, log is not None)
    if type(out) is float:
        return out
    if type(out) is list:
        return _finish_with_breakdown(out, log)
    if out is None:
        return NOT_COVERED
    return _plan_then_cost(original, r, usage_cls, mc, plans, kwargs)


def _compile_recipe(fitted: tuple) -> tuple:
    """``(names, immutable constants, mutable constants, derived)`` for ``_finish_with_breakdown``."""
    consts, mutable, derived = {}, [], []
    for name, how in fitted:
        if type(how) is tuple and how[0] == "const":
            if isinstance(how[1], (dict, list)):
                mutable.append((name, how[1]))
            else:
                consts[name] = how[1]
        elif type(how) is str:
            derived.append((name, how, 0, 0.0, False))
        else:
            derived.append((name, "mul", how[1], how[2], how[3]))
    return tuple(name for name, _ in fitted), consts, tuple(mutable), tuple(derived)


def _finish_with_breakdown(out: list, log: Any) -> Any:
    p, q, cached, creation, reasoning, plan = out
    recipe = plan[8]
    if recipe is None:
        return NOT_COVERED
    _, consts, mutable, derived = recipe
    parts = (p, q, cached, creation, reasoning)
    values = dict(consts)
    for name, value in mutable:
        values[name] = copy.deepcopy(value)
    for name, kind, slot, rate, none_when_zero in derived:
        if kind == "p":
            values[name] = p
        elif kind == "q":
            values[name] = q
        elif kind == "t":
            values[name] = p + q
        else:
            n = parts[slot]
            values[name] = None if (not n and none_when_zero) else float(n) * rate
    try:  # LiteLLM's own store swallows any error here too
        log.set_cost_breakdown(**values)
    except Exception:
        pass
    return p + q


def _plan_then_cost(original: Callable[..., Any], r: Any, usage_cls: Any, mc: dict, plans: Dict[Any, Any],
                    kwargs: Optional[Dict[str, Any]]) -> Any:
    """First call for a response shape: build (and verify) its plan, then cost it natively."""
    if getattr(_STATE.probing, "on", False):
        return NOT_COVERED
    if _STATE.table is None:
        with _STATE.lock:
            _ensure_table()
    log = kwargs.get("litellm_logging_obj") if kwargs else None
    key = _STATE.table.completion_total(r, usage_cls, plans, mc, log is not None)
    if type(key) is list:
        return _finish_with_breakdown(key, log)
    if type(key) is not tuple:
        return NOT_COVERED if key is None else key
    _STATE.probing.on = True
    try:
        plan = _build_cc_plan(original, r, kwargs)
    finally:
        _STATE.probing.on = False
    with _STATE.lock:
        if kwargs:
            if _STATE.cc_kw_plans.get(_call_key(kwargs)) is plans:
                plans[key] = _native_record(plan)
        elif _STATE.cc_plans is plans:
            plans[key] = _native_record(plan)
    out = _STATE.table.completion_total(r, usage_cls, plans, mc, log is not None)
    if type(out) is list:
        return _finish_with_breakdown(out, log)
    return out if type(out) is float else NOT_COVERED


def _capture_cpt(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps the fast cost_per_token so completion_cost probes can see its arguments."""
    fast = build_cost_per_token(original)

    def cost_per_token(*args: Any, **kwargs: Any) -> Any:
        cap = getattr(_STATE.probing, "capture", None)
        if cap is not None:
            if not args:
                cap.append(kwargs)
            else:
                cap.append({"model": None})
            return NOT_COVERED
        return fast(*args, **kwargs)

    return cost_per_token


# -- register_model: drop every plan --------------------------------------------


def build_register_model(original: Callable[..., Any]) -> Callable[..., Any]:
    def register_model(*args: Any, **kwargs: Any) -> Any:
        _STATE.generation += 1
        table = _STATE.table
        if table is not None and hasattr(table, "set_chat"):
            table.set_chat(None)  # until the next cost call re-plans
        return NOT_COVERED  # LiteLLM registers; the next cost call re-plans

    return register_model


def _chat_response(model: str, provider: Any, usage_kw: Dict[str, Any], service_tier: Optional[str] = None) -> Any:
    from litellm.types.utils import ModelResponse, Usage

    r = ModelResponse(model=model, usage=Usage(**usage_kw))
    if service_tier is not None:
        r.service_tier = service_tier
    r._hidden_params = {"custom_llm_provider": provider, "litellm_model_name": model, "model_id": None,
                        "_response_ms": 321.0}
    r._response_ms = 321.0
    return r


_COVERAGE_USAGES = {
    "plain": dict(prompt_tokens=1200, completion_tokens=350, total_tokens=1550),
    "cached": dict(prompt_tokens=3000, completion_tokens=200, total_tokens=3200,
                   prompt_tokens_details={"cached_tokens": 1024}),
    "reasoning": dict(prompt_tokens=3000, completion_tokens=900, total_tokens=3900,
                      completion_tokens_details={"reasoning_tokens": 600}),
}


def coverage(logging_every: int = 10, sample_every: int = 1) -> Dict[str, Any]:
    """Share of ``litellm.model_cost`` entries served natively, per path.

    Top-level keys: plain ``cost_per_token`` over every entry (and with cached tokens).
    ``completion_cost``: every chat entry's typical response (plain, cached, reasoning usages).
    ``service_tiers``: entries with a service-tier price, ``cost_per_token`` at each tier they price.
    ``logging_path``: the proxy's cost step (``response_cost_calculator`` with a ``Logging`` object),
    on every ``logging_every``-th chat entry (each plan there costs ~40 stock calls).

    Planning an entry verifies it against LiteLLM on probe usages (tens of stock calls), so the
    whole map takes about a minute: ``sample_every`` > 1 measures every n-th entry of the map
    (in its order) instead, and the counts are then the sample's."""
    import litellm

    patch = next(p for p in PATCHES if p.name == "cost.cost_per_token")
    if patch.state != "applied" or patch.original is None:
        return {"entries": len(litellm.model_cost), "native": 0, "share": 0.0, "reason": patch.reason or patch.state}
    keys = list(litellm.model_cost)
    total = len(keys)
    if sample_every > 1:
        keys = keys[::sample_every]
    native = cached = 0
    for key in keys:
        plan = _cpt_plan(patch.original, key, None, None)
        if plan is not None:
            native += 1
            cached += bool(plan.cached)
    out: Dict[str, Any] = {"entries": total}
    if sample_every > 1:
        out["sample"] = f"every {sample_every}th entry: {len(keys)} of {total} (doctor --coverage-full: all)"
    out.update({"native": native, "native_with_cache_tokens": cached, "share": round(native / max(1, len(keys)), 4)})
    entries = litellm.model_cost
    chat = [k for k in keys if isinstance(entries.get(k), dict) and entries[k].get("mode") == "chat"
            and not _is_network_model(litellm, k, entries[k].get("litellm_provider"))]
    cc = next(p for p in PATCHES if p.name == "cost.completion_cost")
    if cc.state == "applied" and cc.fast is not None:
        counts = {name: 0 for name in _COVERAGE_USAGES}
        for key in chat:
            prov = entries[key].get("litellm_provider")
            for name, usage_kw in _COVERAGE_USAGES.items():
                try:
                    got = cc.fast(completion_response=_chat_response(key, prov, usage_kw))
                except Exception:
                    continue
                counts[name] += type(got) is float
        out["completion_cost"] = {"chat_entries": len(chat), **{f"native_{k}": v for k, v in counts.items()},
                                  "share_plain": round(counts["plain"] / max(1, len(chat)), 4)}
    tiered = [k for k in keys if isinstance(entries.get(k), dict)
              and not _is_network_model(litellm, k, entries[k].get("litellm_provider"))
              and any(f.endswith(("_flex", "_priority")) for f in entries[k])]
    tier_native = {"flex": 0, "priority": 0}
    tier_priced = {"flex": 0, "priority": 0}
    for key in tiered:
        for tier in tier_priced:
            if any(f.endswith("_" + tier) for f in entries[key]):
                tier_priced[tier] += 1
                tier_native[tier] += _cpt_plan(patch.original, key, None, None, tier) is not None
    out["service_tiers"] = {"entries_with_tier_prices": len(tiered),
                            **{f"{t}_priced": tier_priced[t] for t in tier_priced},
                            **{f"{t}_native": tier_native[t] for t in tier_native}}
    if cc.state == "applied" and logging_every > 0:
        sample = chat[::logging_every]
        served = 0
        for key in sample:
            try:
                call = _logging_step_call(key, entries[key].get("litellm_provider"))
                call()  # plans
                before = (cc.calls, cc.delegated, cc.fallbacks)
                call()
                after = (cc.calls, cc.delegated, cc.fallbacks)
            except Exception:
                continue
            served += after[0] == before[0] + 1 and after[1:] == before[1:]
        out["logging_path"] = {"sampled_chat_entries": len(sample), "every": logging_every, "native": served,
                               "share": round(served / max(1, len(sample)), 4)}
    return out


PATCHES: List[Patch] = [
    Patch(
        name="cost.cost_per_token",
        component=COMPONENT,
        target="litellm.cost_calculator:cost_per_token",
        supports=">=1.83.7,<1.111",
        build=_capture_cpt,
        summary="Per-token cost of one model in Rust, from a price record resolved by LiteLLM's own lookup "
        "and verified bit for bit against LiteLLM on probe usages. Cached tokens are native for providers "
        "on LiteLLM's generic arithmetic (anthropic, bedrock, azure, gemini, deepseek, vertex_ai included) "
        "where the probes agree; a service_tier (flex/priority, 1.110's other tiers) is planned with the "
        "tier's own prices (key names from the installed LiteLLM) or the base prices where the provider "
        "ignores the tier, whichever the probes verify. Other calls go to LiteLLM.",
        callers="litellm.cost_per_token, completion_cost (every successful call), proxy spend tracking",
        compare=_same,
    ),
    Patch(
        name="cost.completion_cost",
        component=COMPONENT,
        target="litellm.cost_calculator:completion_cost",
        supports=">=1.83.7,<1.111",
        build=build_completion_cost,
        wrap=fused_completion_cost,
        summary="completion_cost(completion_response=ModelResponse) for chat usage (cached, cache-write and "
        "reasoning tokens, input-token tiers, the response's service_tier) in Rust. The plain call is a fused "
        "fast path: one native call (CostTable.chat_cost) reads the response, checks the price-map "
        "fingerprint and the plan, with the generic wrapper's bookkeeping inline. Reasoning tokens are native "
        "for the providers whose cost function is LiteLLM's generic arithmetic (anthropic, bedrock, azure, "
        "gemini, deepseek, vertex_ai without 128k prices); xai and the other own-function providers keep "
        "them in LiteLLM. The proxy's "
        "logging-object path (response_cost_calculator's keyword arguments) is served too: the cost breakdown "
        "LiteLLM stores on the logging object is replayed from a recipe verified against LiteLLM per plan. "
        "Responses with tools, annotations, custom/per-deployment pricing, discount/margin configs or "
        "non-chat call types go to LiteLLM.",
        callers="litellm.completion_cost, response_cost_calculator (Logging's cost step: every proxy response)",
        compare=_same,
    ),
    Patch(
        name="cost.register_model",
        component=COMPONENT,
        target="litellm.utils:register_model",
        supports=">=1.83.7,<1.111",
        build=build_register_model,
        summary="Not an acceleration: drops the cost plans whenever litellm.register_model runs, then "
        "lets LiteLLM register the model.",
        callers="litellm.register_model, proxy model_info/custom price overrides",
    ),
]


def _typical_response() -> Any:
    from litellm.types.utils import ModelResponse, Usage

    r = ModelResponse(model="gpt-4o-2024-08-06", usage=Usage(prompt_tokens=1200, completion_tokens=350, total_tokens=1550))
    r._hidden_params = {"custom_llm_provider": "openai", "litellm_model_name": "gpt-4o", "model_id": None,
                        "api_base": "https://api.openai.com", "_response_ms": 812.0}
    r._response_ms = 812.0
    return r


def _bench_cc() -> Callable[[], Any]:
    import litellm

    r = _typical_response()
    return lambda: litellm.completion_cost(completion_response=r)


def _bench_cpt() -> Callable[[], Any]:
    import litellm

    return lambda: litellm.cost_per_token(model="gpt-4o", prompt_tokens=1200, completion_tokens=350)


def _bench_cpt_cached() -> Callable[[], Any]:
    import litellm

    return lambda: litellm.cost_per_token(model="gpt-4o", prompt_tokens=5000, completion_tokens=800,
                                          cache_read_input_tokens=3000)


def _logging_step_call(model: str, provider: Any, response: Any = None) -> Callable[[], Any]:
    """The proxy's cost step for one response: a real logging object costs it (``response_cost`` not
    yet stamped) through ``litellm.response_cost_calculator`` -> ``completion_cost``."""
    import datetime

    import litellm
    from litellm.litellm_core_utils.litellm_logging import Logging

    lo = Logging(model=model, messages=[{"role": "user", "content": "hi"}], stream=False,
                 call_type="acompletion", start_time=datetime.datetime.now(), litellm_call_id="bench",
                 function_id="bench", litellm_trace_id="bench")
    lo.update_environment_variables(litellm_params={"custom_llm_provider": provider}, optional_params={},
                                    model=model, custom_llm_provider=provider)
    if response is None:
        response = _chat_response(model, provider, _COVERAGE_USAGES["plain"])
    response._hidden_params.pop("litellm_model_name", None)
    kw = dict(response_object=response, model=model, custom_llm_provider=provider, call_type="acompletion",
              optional_params={}, cache_hit=None, custom_pricing=False, base_model=None, prompt="",
              standard_built_in_tools_params={"web_search_options": None, "file_search": None},
              router_model_id=None, litellm_logging_obj=lo)
    return lambda: litellm.response_cost_calculator(**kw)


def _bench_logging_step() -> Callable[[], Any]:
    """The proxy's cost step: a real logging object costs a chat response (``response_cost`` not yet
    stamped), through ``litellm.response_cost_calculator`` -> ``completion_cost``."""
    return _logging_step_call("gpt-4o", "openai", _typical_response())


def _bench_router_group() -> Callable[[], Any]:
    """64 ``Router.acompletion`` calls, 16 at a time, over one group of 1,000 ``openai/`` deployments
    on a local upstream: every response is costed with its deployment's ids (issue 20: one plan per
    deployment made this slower than stock). CPU per call vs N: bench/router/cpu_per_call.py."""
    import asyncio

    from litellm import Router

    from .transport import _start_upstream

    url = _start_upstream() + "/v1"
    router = Router(model_list=[{"model_name": "bench", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": url, "api_key": f"sk-bench-{i}"}} for i in range(1000)])
    messages = [{"role": "user", "content": "Say hello in one sentence."}]

    def call() -> None:
        async def go() -> None:
            left = [64]

            async def worker() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    await router.acompletion(model="bench", messages=messages)

            await asyncio.gather(*(worker() for _ in range(16)))

        asyncio.run(go())

    return call


BENCHMARKS: List[Benchmark] = [
    Benchmark(name="cost.completion_cost chat response (gpt-4o)", patch="cost.completion_cost", setup=_bench_cc),
    Benchmark(name="cost.cost_per_token gpt-4o", patch="cost.cost_per_token", setup=_bench_cpt),
    Benchmark(name="cost.cost_per_token gpt-4o cached", patch="cost.cost_per_token", setup=_bench_cpt_cached),
    Benchmark(name="cost.response_cost_calculator logging object (proxy cost step, gpt-4o)",
              patch="cost.completion_cost", setup=_bench_logging_step),
    Benchmark(name="router.acompletion 1,000-deployment group, 64 calls 16 concurrent",
              patch="cost.completion_cost", setup=_bench_router_group, batch_seconds=1.0,
              notes="wall time of 64 Router.acompletion calls (16 concurrent) to a local upstream in another "
              "process, over one group of 1,000 openai/ deployments; CPU per call against the number of "
              "deployments: bench/router/cpu_per_call.py"),
]
