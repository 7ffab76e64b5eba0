"""The fast lane's ``anthropic/`` model groups: served in Rust on ``/v1/messages`` only.

``analyse_config`` admits ``anthropic/<model>`` deployments (settings table); :func:`take`
moves their groups out of the chat/responses groups (the front calls them on Anthropic's
Messages API, never on ``/chat/completions``), and :func:`bind` attaches LiteLLM's model ids
and per-token rates as for the other groups. See ``crates/fastlane/src/anthropic.rs``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

PREFIX = "anthropic/"


def take(groups: Dict[str, list], declined: Dict[str, str]) -> Dict[str, list]:
    """Pop the groups whose deployments are all ``anthropic/`` out of ``groups``; a group mixing
    providers is declined (LiteLLM's router may pick either)."""
    out: Dict[str, list] = {}
    for name in list(groups):
        deps = groups[name]
        kinds = {d["model"].startswith(PREFIX) for d in deps}
        if kinds == {False}:
            continue
        groups.pop(name)
        if kinds != {True}:
            declined[name] = "a model group mixing anthropic/ and other deployments"
            continue
        if any(d["api_base"].rstrip("/").endswith("/v1/messages") for d in deps):
            # LiteLLM then calls api_base as given, not api_base + /v1/messages.
            declined[name] = "anthropic api_base ending in /v1/messages"
            continue
        out[name] = [dict(d, upstream_model=d["model"][len(PREFIX):]) for d in deps]
    return out


def price(info: dict, upstream_model: str) -> Optional[Tuple[float, float]]:
    """Base per-token rates; the long-context tier (``*_above_200k_tokens``) is allowed: the front
    holds answers with more input tokens for LiteLLM to price (and every answer with cache tokens)."""
    if info.get("key") != upstream_model or info.get("mode") not in (None, "chat"):
        return None
    if info.get("tiered_pricing") is not None:
        return None
    for k, v in info.items():
        # Cache rates (above_1hr) only price cache tokens: answers with any are held.
        if "above_" in k and v is not None and not k.endswith(("above_200k_tokens", "above_1hr")):
            return None
    i, o = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if not isinstance(i, float) or not isinstance(o, float):
        return None
    return i, o


def bind(groups: Dict[str, list], declined: Dict[str, str], infos: List[Any], env: Optional[dict],
         bind_groups: Callable[..., Dict[str, list]]) -> Dict[str, list]:
    return bind_groups(groups, declined, infos, env, price=price) if groups else {}
