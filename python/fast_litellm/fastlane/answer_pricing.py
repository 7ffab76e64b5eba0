"""What LiteLLM prices an ``openai/`` answer's optional usage and tier fields with, per deployment
(``crates/fastlane/src/answer_shapes.rs``: ``Pricing``).

An OpenAI answer reporting cached prompt tokens is priced with the model's cache-read rate,
reasoning tokens with its reasoning rate (the output rate when it has none), and an answer whose
``service_tier`` is ``flex`` or ``priority`` with that tier's rates when the model has them (the
standard ones otherwise). The front serves such answers only with these rates in hand: they come
from the running proxy's ``/model/info``, the entry LiteLLM prices the deployment by.

OpenAI answers an alias with the dated snapshot's name (``gpt-4o-mini`` -> ``gpt-4o-mini-2024-07-18``)
and LiteLLM prices the answer by that name: the front serves a dated answer only for the snapshot
names whose price-map entry has exactly the alias's rates (``dated``, from the proxy's own map).
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any, Dict, List, Optional

# Tiers LiteLLM prices through a suffixed cost key (``input_cost_per_token_flex``) on both versions.
PRICED_TIERS = ("flex", "priority")


def _rate(info: Dict[str, Any], key: str) -> Optional[float]:
    v = info.get(key)
    return v if type(v) is float else None


def pricing(info: Dict[str, Any]) -> Dict[str, Any]:
    """The ``Pricing`` of one deployment's model info."""
    standard = [t for t in PRICED_TIERS
                if not any(k.endswith("_" + t) and v is not None for k, v in info.items())]
    return {"cache_read": _rate(info, "cache_read_input_token_cost"),
            "reasoning": _rate(info, "output_cost_per_reasoning_token"),
            "standard_tiers": standard}


def _costs(entry: Any) -> Optional[Dict[str, Any]]:
    # A deployment's entry is re-registered at start with every cost key, unset ones as None.
    return {k: v for k, v in entry.items() if "cost" in k and v is not None} if isinstance(entry, dict) else None


def dated(cost_map: Dict[str, Any], model: str) -> List[str]:
    """The dated snapshot names of ``model`` the map prices exactly as ``model`` itself."""
    own = _costs(cost_map.get(model))
    if not own:
        return []
    pattern = re.compile(re.escape(model) + r"-\d{4}-\d{2}-\d{2}")
    return sorted(k for k, e in cost_map.items() if pattern.fullmatch(k) and _costs(e) == own
                  and e.get("litellm_provider") == cost_map[model].get("litellm_provider"))


def _cost_map(port: int) -> Dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/public/litellm_model_cost_map", timeout=30) as resp:
            out = json.load(resp)
        return out if isinstance(out, dict) else {}
    except Exception:
        return {}


def plan(groups: Dict[str, List[dict]], infos: List[dict], port: Optional[int] = None,
         cost_map: Optional[Dict[str, Any]] = None) -> Dict[str, Dict[str, Any]]:
    """Deployment id -> its ``Pricing``, for the ``openai/`` deployments of the served groups
    (the price map: ``cost_map``, else the proxy's on ``port``, fetched only when needed)."""
    by_id = {}
    for m in infos:
        info = m.get("model_info") or {}
        if info.get("id"):
            by_id[info["id"]] = info
    out = {}
    for deps in groups.values():
        for d in deps:
            info = by_id.get(d.get("id"))
            if info is not None and not d.get("provider"):
                if cost_map is None:
                    cost_map = _cost_map(port) if port is not None else {}
                out[d["id"]] = dict(pricing(info), dated=dated(cost_map, d.get("upstream_model") or ""))
    return out
