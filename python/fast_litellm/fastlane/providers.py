"""Which upstream providers the fast lane calls, and how LiteLLM calls each one.

A deployment's ``litellm_params.model`` prefix picks the provider; the Rust front gets it as
the deployment's ``provider`` (``crates/fastlane/src/providers.rs``):

* ``openai/<model>``: an OpenAI-shaped API at ``api_base`` (``POST <api_base>/chat/completions``,
  Bearer key). No ``provider`` key: the front's default.
* ``azure/<deployment>``: Azure OpenAI (``POST <api_base>/openai/deployments/<deployment>/chat/
  completions?api-version=<v>``, key in ``api-key``). The API version is LiteLLM's: the deployment's
  ``api_version``, else ``AZURE_API_VERSION`` (the process environment after the config's
  ``environment_variables``), else LiteLLM's ``AZURE_DEFAULT_API_VERSION``. Priced as LiteLLM prices
  it: the ``azure/<model>`` entry of its map (the rates ``/model/info`` reports). Streams are
  re-emitted as LiteLLM emits them (its prompt-filter chunk dropped or emptied, each chunk's
  ``content_filter_results`` first in its choice: ``provider_streams.rs``); LiteLLM 1.110.x prices
  their usage chunk by the model name Azure reports, at the unprefixed map entry's rates
  (``azure_streams``): a deployment whose name the map does not price streams through LiteLLM.

* ``hosted_vllm/<model>``: vLLM's OpenAI-compatible server, for a model LiteLLM's map does not price
  (LiteLLM 1.110.x then prints no cost header, 1.83.x zero costs): ``POST <api_base>/chat/completions``
  through LiteLLM's generic HTTP handler (``Accept: */*``, ``"stream": false``). Streams: OpenAI's
  request with those headers, vLLM's stream shape as for ``openai/``.

* ``custom_openai/<model>``, ``deepseek/<model>``, ``mistral/<model>`` (``COMPAT``,
  ``crates/fastlane/src/compat_providers.rs``): OpenAI-compatible providers LiteLLM sends OpenAI's request,
  through its OpenAI SDK client (custom_openai, as ``openai/``) or its own HTTP handler (deepseek, mistral,
  as ``hosted_vllm/``: ``Accept: */*``, deepseek's body with ``"stream": false``), at
  ``<api_base>/chat/completions``; their answers in OpenAI's shapes printed as for ``openai/``, and plain
  ones (Mistral's, DeepSeek's without cache hits) as LiteLLM's HTTP handler prints them; deepseek/mistral
  priced by LiteLLM's map entry for the model, custom_openai (no map entry) as ``hosted_vllm/``.
  Mistral drops messages with empty content: such requests go to LiteLLM. Their streams go to LiteLLM.

Other prefixes go to LiteLLM; docs/deployment.md, "Providers on the fast lane", says why for each.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

# LiteLLM's litellm.AZURE_DEFAULT_API_VERSION on both verified versions (1.83.14, 1.110.2).
AZURE_DEFAULT_API_VERSION = "2025-02-01-preview"

# Names the front puts in a URL path or query as they are (LiteLLM's client does not escape them).
_URL_SAFE = re.compile(r"[A-Za-z0-9._-]+")

# OpenAI-compatible providers the front calls: prefix -> the LiteLLM client that calls it on both verified
# versions (litellm/main.py's routing): its OpenAI SDK client or its own HTTP handler (BaseLLMHTTPHandler).
COMPAT = {"custom_openai/": "openai_sdk", "deepseek/": "http_handler", "mistral/": "http_handler"}

# ... that LiteLLM's map does not price (no custom_openai/ entry on either version): served as hosted_vllm/ is,
# when /model/info shows no price.
COMPAT_UNPRICED = ("custom_openai/",)
# ... whose streams the front serves (the others' go to LiteLLM before any upstream call).
COMPAT_STREAMS: Tuple[str, ...] = ()

PREFIXES = ("openai/", "azure/", "hosted_vllm/") + tuple(COMPAT)


def _compat_prefix(model: str) -> Optional[str]:
    return next((p for p in COMPAT if model.startswith(p) and len(model) > len(p)), None)


def served_model(value: Any) -> bool:
    """``litellm_params.model`` names a provider the front calls (settings table)."""
    if not isinstance(value, str):
        return False
    if value.startswith("openai/"):
        return len(value) > len("openai/")
    if value.startswith("hosted_vllm/"):
        return len(value) > len("hosted_vllm/")
    if value.startswith("azure/"):
        return bool(_URL_SAFE.fullmatch(value[len("azure/"):]))
    if _compat_prefix(value):
        return True
    if value.startswith("anthropic/"):
        # Served on /v1/messages and, translated as LiteLLM does, on chat completions (anthropic.py).
        return len(value) > len("anthropic/")
    return False


def api_version_ok(value: Any) -> bool:
    return isinstance(value, str) and bool(_URL_SAFE.fullmatch(value))


def _env_after(cfg: dict, env: dict) -> Dict[str, str]:
    """The environment LiteLLM's proxy runs with once the config's environment_variables are applied."""
    out = dict(env)
    for k, v in (cfg.get("environment_variables") or {}).items():
        if isinstance(k, str) and v is not None:
            out[k] = v if isinstance(v, str) else str(v)
    return out


def entry(params: Dict[str, Any], cfg: dict, env: dict) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """(the provider fields of a served deployment, None) or (None, why it goes to LiteLLM).

    ``params`` are the deployment's litellm_params, resolved."""
    model = params["model"]
    if model.startswith("openai/"):
        if "api_version" in params:
            return None, "api_version on an openai/ deployment: not verified"
        return {"upstream_model": model[len("openai/"):]}, None
    if model.startswith("azure/"):
        version = params.get("api_version")
        if version is None:
            version = _env_after(cfg, env).get("AZURE_API_VERSION") or AZURE_DEFAULT_API_VERSION
        if not api_version_ok(version):
            return None, "azure api_version is not a plain version string"
        return {"upstream_model": model[len("azure/"):], "provider": {"kind": "azure", "api_version": version}}, None
    if model.startswith("hosted_vllm/"):
        if "api_version" in params:
            return None, "api_version on a hosted_vllm/ deployment: not verified"
        return {"upstream_model": model[len("hosted_vllm/"):], "provider": {"kind": "hosted_vllm"}}, None
    prefix = _compat_prefix(model)
    if prefix is not None:
        if "api_version" in params:
            return None, f"api_version on a {prefix} deployment: not verified"
        base = params.get("api_base")
        # LiteLLM's URL rules that the front's `<api_base>/chat/completions` does not follow.
        if COMPAT[prefix] == "http_handler" and isinstance(base, str) and "chat/completions" in base:
            return None, "api_base naming the chat/completions route: not verified"
        if prefix == "mistral/" and isinstance(base, str) and not base.endswith("/v1"):
            return None, "mistral api_base without /v1 (LiteLLM appends it): not verified"
        provider = {"kind": "compat", "name": prefix[:-1], "client": COMPAT[prefix]}
        if prefix in COMPAT_STREAMS:
            provider["streams"] = True
        if prefix in COMPAT_UNPRICED:
            provider["unpriced"] = True
        return {"upstream_model": model[len(prefix):], "provider": provider}, None
    if model.startswith("anthropic/"):
        # anthropic.take moves these groups to the anthropic routes (/v1/messages, claude_chat.rs).
        return {"upstream_model": model[len("anthropic/"):]}, None
    return None, f"provider of {model!r} is not served"


def unpriced(deployment: Dict[str, Any]) -> bool:
    """The front serves this provider only for models LiteLLM's map does not price."""
    provider = deployment.get("provider") or {}
    return provider.get("kind") == "hosted_vllm" or bool(provider.get("unpriced"))


def unpriced_rates(info: Dict[str, Any]) -> Optional[Tuple[float, float]]:
    """(0.0, 0.0) when ``/model/info`` shows no price (1.110.x: None, 1.83.x: 0), else None."""
    for k, v in info.items():
        if ("cost_per" in k or k.startswith("cost")) and v not in (None, 0, 0.0):
            return None
    return 0.0, 0.0


def http_handler(deployment: Dict[str, Any]) -> bool:
    """LiteLLM calls this deployment through its own HTTP handler (not the OpenAI SDK client)."""
    provider = deployment.get("provider") or {}
    return provider.get("kind") == "hosted_vllm" or provider.get("client") == "http_handler"


def price_key(deployment: Dict[str, Any]) -> str:
    """The price-map entry LiteLLM prices the deployment's answers with (``/model/info``'s ``key``)."""
    if (deployment.get("provider") or {}).get("kind") in ("azure", "compat"):
        return deployment["model"]
    return deployment["upstream_model"]


def azure_streams(upstream_model: str, price_ok: Any) -> Optional[Dict[str, Any]]:
    """How LiteLLM 1.110.x prices an Azure deployment's stream (its usage chunk's ``cost``): by the
    model name Azure reports in the chunks, at that name's unprefixed map entry. The names the
    front accepts: the deployment's own and its dated versions priced the same (``<name>-YYYY-MM-DD``,
    as Azure reports them); None (streams go to LiteLLM) when the map does not price the name.
    ``price_ok(info, key)``: plain per-token rates, as for the deployment's own price."""
    try:
        import litellm

        cost = dict(litellm.model_cost)
    except Exception:
        return None
    rates = lambda k: price_ok(dict(cost[k], key=k), k) if isinstance(cost.get(k), dict) else None  # noqa: E731
    own = rates(upstream_model)
    if own is None:
        return None
    dated = re.compile(re.escape(upstream_model) + r"-\d{4}-\d{2}-\d{2}")
    models = [upstream_model] + sorted(k for k in cost if dated.fullmatch(k) and rates(k) == own)
    return {"models": models, "input_cost_per_token": own[0], "output_cost_per_token": own[1]}


def with_azure_streams(deployment: Dict[str, Any], price_ok: Any) -> Dict[str, Any]:
    """An Azure deployment with its streams' pricing (``azure_streams``) when LiteLLM's map has it."""
    provider = deployment.get("provider") or {}
    if provider.get("kind") != "azure":
        return deployment
    streams = azure_streams(deployment["upstream_model"], price_ok)
    return deployment if streams is None else dict(deployment, provider=dict(provider, streams=streams))


def streams_to_litellm(groups: Dict[str, list]) -> List[str]:
    """The served groups whose streams go to LiteLLM (Azure deployments whose stream pricing is unknown,
    OpenAI-compatible providers: their streams are not verified)."""
    def declined(d: Dict[str, Any]) -> bool:
        provider = d.get("provider") or {}
        return provider.get("kind") in ("compat", "azure") and not provider.get("streams")

    return sorted(name for name, deps in groups.items() if any(declined(d) for d in deps))


def responses_to_litellm(groups: Dict[str, list]) -> List[str]:
    """The served groups whose /v1/responses go to LiteLLM (any provider but openai/)."""
    return sorted(name for name, deps in groups.items() if any(d.get("provider") for d in deps))
