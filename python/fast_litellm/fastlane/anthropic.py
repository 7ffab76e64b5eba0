"""The fast lane's ``anthropic/`` model groups: served in Rust on ``/v1/messages`` and, translated
as LiteLLM does, on ``/v1/chat/completions``.

``analyse_config`` admits ``anthropic/<model>`` deployments (settings table); :func:`take`
moves their groups out of the chat/responses groups (the front calls them on Anthropic's
Messages API, never on ``/chat/completions``), and :func:`bind` attaches LiteLLM's model ids
and per-token rates as for the other groups. :func:`chat_defaults` asks LiteLLM itself what its
chat translation needs per deployment. See ``crates/fastlane/src/anthropic.rs`` and
``crates/fastlane/src/claude_chat.rs``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

PREFIX = "anthropic/"
# LiteLLM's ANTHROPIC_OAUTH_TOKEN_PREFIX (both verified versions).
OAUTH_PREFIX = "sk-ant-oat"


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


# LiteLLM's own answers, per upstream model: the `max_tokens` its chat translation sends when the
# client gives none (AnthropicConfig.get_max_tokens_for_model) and whether it forwards
# temperature/top_p (1.110.x refuses them for models that removed sampling parameters).
_CHAT_SCRIPT = """
import json, sys
from litellm import AnthropicConfig
out = {}
for m in json.load(sys.stdin):
    try:
        mt = AnthropicConfig.get_max_tokens_for_model(m)
    except Exception:
        mt = None
    f = getattr(AnthropicConfig, "_supports_sampling_params", None)
    try:
        sampling = True if f is None else f(m) is True
    except Exception:
        sampling = False
    out[m] = [mt if type(mt) is int and mt > 0 else None, sampling]
print(json.dumps(out))
"""


def chat_defaults(groups: Dict[str, list], infos: List[Any], env: dict) -> Dict[str, dict]:
    """Deployment id -> what the front's chat translation needs (``claude_chat.rs``): LiteLLM's
    default ``max_tokens`` (``None`` where a model_info entry sets its own ``max_output_tokens``,
    which 1.110.x prefers) and whether sampling parameters are forwarded. Empty if LiteLLM
    cannot be asked: chat completions to these groups then stay on LiteLLM."""
    models = sorted({d["upstream_model"] for deps in groups.values() for d in deps})
    if not models:
        return {}
    try:
        out = subprocess.run([sys.executable, "-c", _CHAT_SCRIPT], input=json.dumps(models), env=env,
                             capture_output=True, text=True, timeout=120)
        answers = json.loads(out.stdout.strip().splitlines()[-1])
    except Exception:
        return {}
    shown = {(m.get("model_info") or {}).get("id"): (m.get("model_info") or {}) for m in infos}
    result: Dict[str, dict] = {}
    for deps in groups.values():
        for d in deps:
            if str(d.get("api_key", "")).startswith(OAUTH_PREFIX):
                continue  # LiteLLM sends an OAuth token as a Bearer with beta headers: not reproduced
            max_tokens, sampling = answers.get(d["upstream_model"], [None, False])
            info = shown.get(d["id"]) or {}
            if info.get("max_output_tokens") != max_tokens:
                max_tokens = None  # configured in model_info, or not the map's entry
            result[d["id"]] = {"max_tokens": max_tokens, "sampling": bool(sampling)}
    return result
