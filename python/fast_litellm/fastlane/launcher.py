"""The proxy fast lane: a Rust HTTP front before LiteLLM's Python proxy.

``fast-litellm proxy`` starts LiteLLM's proxy (same arguments, same launcher
environment) on an internal 127.0.0.1 port, waits until it answers, then binds the
Rust front on the public host/port. The front answers a request itself only inside
an envelope verified byte for byte against the stock proxy (see
``tests/test_fast_lane.py``):

* POST ``/v1/chat/completions`` or ``/chat/completions`` (or ``/v1/responses``/``/responses``
  with a body of exactly ``model`` and ``input``, a string or system/user/assistant messages
  with string content; streaming (``"stream": true``) only on 1.110.x:
  see ``crates/fastlane/src/responses.rs`` and ``responses_stream.rs``),
  no query string,
  ``Authorization: Bearer <master key>``, ``Content-Type: application/json``, no
  other headers than host/accept/accept-encoding/user-agent/connection/
  content-length/``x-stainless-*``;
* a JSON body with exactly ``model`` and ``messages`` (system/user/assistant
  messages with string content), optionally ``"stream": false|null``, or
  ``"stream": true`` with optionally ``"stream_options": {"include_usage": <bool>}``
  (``FAST_LITELLM_FAST_LANE_STREAMS=0`` sends streams to LiteLLM: see ``streams_enabled``);
* POST ``/v1/embeddings`` or ``/embeddings`` with a body of ``model``, ``input`` (a string, strings,
  token ids or token-id lists) and optionally ``encoding_format`` (float/base64), ``dimensions``
  (``text-embedding-3`` models only, as LiteLLM checks) and ``user``, for a group of ``openai/`` models
  LiteLLM prices as embedding models, when no logging callback is configured
  (``crates/fastlane/src/embeddings.rs``, ``fastlane/embeddings.py``);
* a model group whose deployments are all ``openai/<model>`` with an ``http://`` or ``https://``
  ``api_base`` (https: verified as LiteLLM verifies it, ``fastlane/tls.py``) and an ``api_key`` and no
  other parameter than the settings table serves, priced by LiteLLM's map
  with plain per-token rates;
* a config whose every settings key (``general_settings``, ``litellm_settings``,
  ``router_settings``, ``environment_variables``; a deployment's ``litellm_params`` and
  ``model_info`` for its group) is classified ``serve`` by the table in ``fastlane/settings.py``
  (``docs/fast-lane-settings.md``): keys that leave a served request unchanged (``drop_params``,
  ``telemetry``, ``set_verbose``, ``json_logs``, ``disable_spend_logs``, ``store_model_in_db:
  false``...), ``callbacks`` (``"prometheus"`` and/or ``module.instance`` CustomLoggers that override
  nothing but the ``log_*``/``async_log_*`` event methods, checked at start), the router settings of
  ``router_plan`` (fallbacks, retries, timeouts, allowed_fails/cooldown_time, simple-shuffle: a
  successful first attempt is served in Rust, streaming or not, any failure is replayed through
  LiteLLM, after which the group and its fallback groups go to LiteLLM for its cooldown window; for
  a stream LiteLLM's timeout bounds the wait for the head and first event -- past it: a replay --
  and each later read -- past it: the stream is cut), and a master key in any form LiteLLM takes
  (``master_key_of``) -- on a LiteLLM version whose output was verified (1.110.2, 1.83.14);
* an upstream answer of the exact shape verified (one choice, text content, plain
  usage, the model it was asked for, known headers); for streams, SSE ``data:``
  events (``\n``/``\r\n`` framing, comment lines skipped) of one text choice (role on
  the first and optionally repeated, ``content`` null or text, ``finish_reason``
  stop/length with vLLM's optional ``stop_reason``, an optional usage chunk, plain or
  with OpenAI's all-zero token details, ``logprobs``/``refusal``/per-chunk ``usage``
  null, ``service_tier`` and ``system_fingerprint`` constant, ids per chunk) ending in
  ``data: [DONE]``, re-emitted one by one as LiteLLM's proxy emits them on each version
  (role on the first chunk only, empty content dropped, ``finish_reason`` in a chunk
  of its own, LiteLLM's usage chunk with its cost on 1.110.2); the corpus of server
  shapes in ``tests/test_fast_lane_streams.py`` says which are served, replayed or cut.

Everything else is forwarded unchanged to the Python proxy. When a non-streaming
upstream answer falls outside the envelope (an error status, a tool call, a different
model, a timeout...), the front hands the client's request and that upstream answer to
the Python proxy, whose upstream call gets the held answer instead of the network
(``fastlane/held.py``): the client gets LiteLLM's exact answer and the upstream saw one
call. A stream is only committed once its head and first event are verified (until
then a surprise means a replay: the request is sent again through the Python proxy, one
more upstream call; after three such streams in a row a deployment goes straight to
LiteLLM for a minute); an
event out of shape after that ends the response without ``data: [DONE]`` (a truncated
chunked body the client can detect) and counts as a strike, since bytes were sent. Every response carries
``x-fast-litellm-lane: rust`` or ``python`` (except hyper's own 400/431 for a request it cannot parse).
The client's address reaches LiteLLM as stock would see it (``fastlane/peer.py``); connection
limits and timeouts: ``front_limits``; both in docs/deployment.md, "Security".

Callbacks: with ``litellm_settings.callbacks``, every request the front served leaves a
record in a bounded queue (``FAST_LITELLM_FAST_LANE_LOG_QUEUE``, default 10,000; never
blocking the request; while it is full the front sends requests to LiteLLM, so no record
is lost, or with ``FAST_LITELLM_FAST_LANE_LOG_FULL=drop`` it keeps serving and drops and
counts records; ``GET /_fast_litellm/stats`` with the master key shows the counters); launcher threads deliver batches to
an internal route of the LiteLLM proxy process, which replays each one through its own
app (once verified, straight through the route's auth and chat-completions endpoint) with
the recorded upstream answer, so LiteLLM's own success logging (CustomLogger
events, Prometheus counters, spend, ``standard_logging_object``) runs for it: see
``fastlane/replay.py`` for the mechanism and what differs (timestamps, CPU cost). With
``callbacks: ["prometheus"]`` alone and no router settings, records of non-streaming chat
completions of single-deployment groups skip the replay: LiteLLM's own Prometheus logger is called
with the kwargs LiteLLM built for the first record of their kind, carrying this record's usage,
cost, upstream headers and times (``fastlane/prometheus.py``, docs/deployment.md).
Streams served in Rust are recorded too (the upstream's SSE body, queued once the stream
ended; a stream cut mid-way leaves no record and is counted in ``aborted``). Upstream
errors and answers out of shape go to LiteLLM (which logs them itself) and are never
queued, so no request is logged twice.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

from .._patching import env_flag
from . import anthropic as anthropic_lane
from . import answer_pricing
from . import embeddings as embedding_lane
from . import providers
from . import settings as settings_table
from . import tls as upstream_tls

# LiteLLM versions whose proxy output the front reproduces (see wire.rs `Format`).
VERIFIED_FORMATS = {"1.110.2": "litellm-1.110", "1.83.14": "litellm-1.83"}

# Proxy CLI flags the envelope was verified with; any other flag: pass-through only.
_SERVE_FLAGS = {"--config", "-c", "--host", "--port", "--num_workers"}

def streams_enabled(env: Dict[str, str]) -> bool:
    """Streaming requests are served in Rust unless ``FAST_LITELLM_FAST_LANE_STREAMS=0``.

    A non-streaming answer outside the verified shape is handed to LiteLLM, which builds
    the client's answer from it (no second upstream call). A stream can be replayed only until its
    first event went out: the front checks the upstream's head and first event (a
    surprise there means a replay), then re-emits event by event. The shapes real
    OpenAI-compatible servers stream (OpenAI's optional fields and detailed usage, vLLM,
    LM Studio, TGI-style servers, Ollama on 1.83.x, ids per chunk, ``\r\n`` framing,
    comments...) are served byte for byte as LiteLLM emits them, and the ones the front
    does not reproduce (llama.cpp's ``content: null`` role chunk, OpenAI's
    ``obfuscation``, extra upstream headers, Ollama on 1.110.x) show in the head or first
    event and are replayed (``tests/test_fast_lane_streams.py``). What is left can only
    be seen mid-stream and ends the response without ``data: [DONE]`` (counted in
    ``aborted``/``aborted_by_reason`` on ``/_fast_litellm/stats``): an upstream that
    breaks its own shape half-way (a tool call or a second choice after text, a model
    name change), non-zero token details (cached/reasoning tokens) in the usage chunk,
    a missing usage chunk that was asked for, and on 1.83.x a zero usage.
    ``FAST_LITELLM_FAST_LANE_STREAMS=0`` sends every stream to LiteLLM.
    """
    return env_flag("FAST_LITELLM_FAST_LANE_STREAMS", env) is not False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def split_args(argv: List[str]) -> Tuple[str, int, List[str], Optional[str], Optional[str]]:
    """-> (public host, public port, backend args without host/port, config path, reason not to serve)."""
    host, port, config = "0.0.0.0", 4000, None
    rest: List[str] = []
    reason = None
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, val = a.partition("=")
        takes_value = name in ("--host", "--port", "--config", "-c", "--num_workers")
        if takes_value and not eq:
            val = argv[i + 1] if i + 1 < len(argv) else ""
            i += 1
        i += 1
        if name == "--host":
            host = val
        elif name == "--port":
            port = int(val)
        else:
            if name in ("--config", "-c"):
                config = val
            if name not in _SERVE_FLAGS and reason is None:
                reason = f"proxy flag {name} is outside the verified envelope"
            rest += [name, val] if takes_value else [a]
    return host, port, rest, config, reason


def _secret(name: str, env: dict) -> Any:
    """LiteLLM's get_secret without a secret manager: the variable's value, "true"/"false" as bools."""
    value = env.get(name[len("os.environ/"):] if name.startswith("os.environ/") else name)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _resolve(value: Any, env: dict) -> Any:
    if isinstance(value, str) and value.startswith("os.environ/"):
        return _secret(value, env)
    return value


def resolve_config(cfg: Any, env: dict) -> Any:
    """The config as LiteLLM's get_config leaves it: every `os.environ/VAR` string value in a mapping,
    at any depth and in mappings inside lists, replaced by the variable (None when unset)."""
    if isinstance(cfg, dict):
        return {k: resolve_config(v, env) if isinstance(v, (dict, list)) else _resolve(v, env) for k, v in cfg.items()}
    if isinstance(cfg, list):
        return [resolve_config(x, env) if isinstance(x, dict) else x for x in cfg]
    return cfg


def master_key_of(cfg: dict, env: dict) -> Any:
    """The master key LiteLLM's proxy settles on. At startup it reads LITELLM_MASTER_KEY from the
    environment; load_config replaces it only when general_settings is not empty: with
    general_settings.master_key (its os.environ/ reference resolved against the process environment,
    as get_config does), else LITELLM_MASTER_KEY from the environment the config's
    environment_variables were applied to; a value that is itself an os.environ/ reference is
    resolved once more."""
    gs = resolve_config(cfg.get("general_settings") or {}, env)
    if not gs:
        key = _secret("LITELLM_MASTER_KEY", env)
        return key if isinstance(key, str) else None
    env_after = config_env(cfg, env)
    key = gs["master_key"] if "master_key" in gs else _secret("LITELLM_MASTER_KEY", env_after)
    if isinstance(key, str) and key.startswith("os.environ/"):
        key = _secret(key, env_after)
    return key


def config_env(cfg: dict, env: dict) -> Dict[str, str]:
    """The proxy's environment once load_config applied the config's environment_variables."""
    env_after = dict(env)
    for k, v in (cfg.get("environment_variables") or {}).items():
        if isinstance(k, str):
            v = _resolve(v, env) if isinstance(v, str) else str(v)
            if isinstance(v, str):
                env_after[k] = v
    return env_after


_SETTINGS_SECTIONS = ("environment_variables", "general_settings", "litellm_settings", "router_settings")


def _load(path: Optional[str]) -> Any:
    import yaml

    with open(path or "") as fh:
        return yaml.safe_load(fh) or {}


def analyse_config(path: Optional[str], env: dict) -> Tuple[Optional[str], Optional[str], Dict[str, list], Dict[str, str]]:
    """-> (reason not to serve at all, master key, eligible groups, reason per declined group).

    Every settings key is judged by the table in ``settings``."""
    if path is None:
        return "no --config", None, {}, {}
    try:
        raw = _load(path)
    except Exception as exc:
        return f"config not readable: {exc!r}", None, {}, {}
    if not isinstance(raw, dict):
        return "config is not a mapping", None, {}, {}
    extra = sorted(set(raw) - settings_table.SERVED_SECTIONS, key=str)
    if extra:
        return f"config sections the front does not replicate: {extra}", None, {}, {}
    for section in _SETTINGS_SECTIONS:
        if raw.get(section) is not None and not isinstance(raw[section], dict):
            return f"{section} is not a mapping", None, {}, {}
    cfg = resolve_config(raw, env)
    for section in _SETTINGS_SECTIONS:
        why = settings_table.first_pass(section, cfg.get(section) or {})
        if why is not None:
            return why, None, {}, {}
    callbacks = (cfg.get("litellm_settings") or {}).get("callbacks")
    if callbacks is not None:
        if isinstance(callbacks, str):
            callbacks = [callbacks]
        if not isinstance(callbacks, list) or not all(isinstance(c, str) and c for c in callbacks):
            return "litellm_settings.callbacks is not a list of names", None, {}, {}
        why = callbacks_reason(callbacks, os.path.dirname(os.path.abspath(path)), env)
        if why is not None:
            return why, None, {}, {}
    key = master_key_of(raw, env)
    if not isinstance(key, str) or not key:
        return "no master key (general_settings.master_key or LITELLM_MASTER_KEY)", None, {}, {}
    for var in settings_table.PROCESS_ENV_DECLINE:
        if env.get(var):
            return f"environment variable {var} is set", None, {}, {}
    groups: Dict[str, list] = {}
    declined: Dict[str, str] = {}
    for dep in raw.get("model_list") or []:
        name = dep.get("model_name") if isinstance(dep, dict) else None
        if not isinstance(name, str):
            return "a model_list entry without model_name", None, {}, {}
        why = _deployment_reason(dep, env)
        if why is not None:
            declined.setdefault(name, why)
            continue
        p = dep["litellm_params"]
        fields, why = providers.entry({k: _resolve(v, env) for k, v in p.items()}, raw, env)
        if fields is None:
            declined.setdefault(name, why or "provider not served")
            continue
        groups.setdefault(name, []).append(dict({
            "_raw": dict(p),
            "model": p["model"],
            "api_base": _resolve(p["api_base"], env),
            "api_key": _resolve(p["api_key"], env),
        }, **fields))
    for name in declined:
        groups.pop(name, None)
    _https_trust(groups, declined, cfg, config_env(raw, env))
    for name in list(groups):
        if "*" in name or "model_router" in name or "model-router" in name:
            declined[name] = "wildcard/router model group"
            groups.pop(name)
    return None, key, groups, declined


def _https_outside_openai_client(groups: Dict[str, list], anthropic: Dict[str, list], declined: Dict[str, str]) -> None:
    """https groups whose LiteLLM client is its own httpx handler (anthropic/, hosted_vllm/, deepseek/...), not the
    OpenAI client (openai/, azure/) whose trust upstream_tls reproduces, go to LiteLLM."""
    for table in (groups, anthropic):
        for name in list(table):
            deps = table[name]
            if table is groups and not any(providers.http_handler(d) for d in deps):
                continue
            if any(d["api_base"].startswith("https://") for d in deps):
                table.pop(name)
                declined[name] = "https api_base through LiteLLM's own HTTP handler: its TLS trust is not verified"


def _https_trust(groups: Dict[str, list], declined: Dict[str, str], cfg: dict, env_after: Dict[str, str]) -> None:
    """Give each https deployment LiteLLM's trust for it (``upstream_tls``); without one, its group
    goes to LiteLLM."""
    https = [name for name, deps in groups.items() if any(d["api_base"].startswith("https://") for d in deps)]
    if not https:
        return
    tls, why = upstream_tls.trust(cfg.get("litellm_settings") or {}, env_after)
    for name in https:
        if tls is None:
            declined[name] = f"https api_base: {why}"
            groups.pop(name)
            continue
        for d in groups[name]:
            if d["api_base"].startswith("https://"):
                d["tls"] = dict(tls)


# litellm_settings keys that are router settings (router_plan lists them among the served ones).
_LITELLM_ROUTER_KEYS = {"fallbacks", "context_window_fallbacks", "content_policy_fallbacks", "num_retries",
                        "request_timeout"}
_FALLBACK_KEYS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
# LiteLLM's `litellm.request_timeout` default (seconds), on both pinned versions.
_DEFAULT_REQUEST_TIMEOUT = 6000.0


def router_reason(cfg: dict) -> Optional[str]:
    """None when the config's router settings are all ones the front serves, else why not."""
    rs = cfg.get("router_settings")
    if rs is not None and not isinstance(rs, dict):
        return "router_settings is not a mapping"
    ls = cfg.get("litellm_settings") or {}
    return (settings_table.first_pass("router_settings", rs or {})
            or settings_table.first_pass("litellm_settings", {k: v for k, v in ls.items() if k in _LITELLM_ROUTER_KEYS}))


def router_plan(path: Optional[str], groups: Dict[str, Any], env: dict) -> Dict[str, Any]:
    """What the Rust front needs to stay on LiteLLM's routing: its upstream timeout (it gives up
    no later than LiteLLM and replays), the cooldown window after a failure, and for each group
    the groups LiteLLM may call while handling it (itself and its fallbacks, transitively), which
    all go to LiteLLM for that window after a failure."""
    try:
        cfg = resolve_config(_load(path), env)
    except Exception:
        cfg = {}
    rs = cfg.get("router_settings") or {}
    ls = cfg.get("litellm_settings") or {}
    timeouts = [float(v) for v in (rs.get("timeout"), ls.get("request_timeout")) if v is not None and v > 0]
    timeout = min(timeouts) if timeouts else _DEFAULT_REQUEST_TIMEOUT
    try:
        default_cooldown = float(env.get("DEFAULT_COOLDOWN_TIME_SECONDS") or 5)
    except ValueError:
        default_cooldown = 5.0
    cooldown = float(rs["cooldown_time"]) if rs.get("cooldown_time") is not None else default_cooldown
    edges: Dict[str, set] = {}
    for src in (rs, ls):
        for key in _FALLBACK_KEYS:
            for entry in src.get(key) or []:
                for k, targets in entry.items():
                    edges.setdefault(k, set()).update(targets)
    names = set(groups) | set(edges) | {t for ts in edges.values() for t in ts}
    links: Dict[str, List[str]] = {}
    for g in sorted(groups):
        seen, todo = {g}, [g]
        while todo:
            cur = todo.pop()
            for nxt in sorted(edges.get(cur, set()) | edges.get("*", set())):
                if nxt not in seen and nxt in names:
                    seen.add(nxt)
                    todo.append(nxt)
        links[g] = sorted(seen)
    settings = sorted({f"router_settings.{k}" for k in rs} | {f"litellm_settings.{k}" for k in ls if k in _LITELLM_ROUTER_KEYS})
    return {"timeout_ms": int(timeout * 1000), "cooldown_ms": int(max(cooldown, 0.0) * 1000) + 1000,
            "links": links, "settings": settings}


# Callback names run by the logging queue's replay, verified by tests/test_fast_lane_logging.py.
_KNOWN_CALLBACKS = {"prometheus"}

# CustomLogger methods that only observe (the replay runs them); a callback class that
# overrides any other public method (proxy hooks that can reject or rewrite a request
# or response, routing hooks...) must run on the request path: pass-through only.
_LOGGING_METHODS = {
    "log_pre_api_call", "log_post_api_call", "log_success_event", "log_failure_event", "log_stream_event",
    "async_log_pre_api_call", "async_log_success_event", "async_log_failure_event", "async_log_stream_event",
}

_CALLBACK_SCRIPT = """
import importlib.util, inspect, json, os, sys
cfg_dir, names, methods = json.load(sys.stdin)
from litellm.integrations.custom_logger import CustomLogger
out = {}
for name in names:
    module_name, _, attr = name.rpartition(".")
    try:
        # LiteLLM loads `module.instance` from the config's directory (get_instance_fn).
        file = os.path.join(cfg_dir, *module_name.split(".")) + ".py"
        spec = importlib.util.spec_from_file_location(module_name, file)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        obj = getattr(mod, attr)
    except Exception as exc:
        out[name] = "callback not importable: %r" % (exc,)
        continue
    if not isinstance(obj, CustomLogger):
        out[name] = "callback is not a CustomLogger instance"
        continue
    cls = type(obj)
    bad = sorted(m for m, v in inspect.getmembers(cls) if not m.startswith("_") and callable(v)
                 and m not in methods and getattr(CustomLogger, m, None) is not v)
    out[name] = ("callback overrides %s (not a pure logger)" % bad) if bad else None
print(json.dumps(out))
"""


def callbacks_reason(callbacks: List[str], cfg_dir: str, env: dict) -> Optional[str]:
    """None when every callback only logs (so the logging queue can run it), else why not."""
    custom = [c for c in callbacks if c not in _KNOWN_CALLBACKS]
    for c in custom:
        if "." not in c:
            return f"callback {c!r} is not one the front's logging queue was verified with"
    if not custom:
        return None
    try:
        out = subprocess.run([sys.executable, "-c", _CALLBACK_SCRIPT], input=json.dumps([cfg_dir, custom, sorted(_LOGGING_METHODS)]),
                             env=env, capture_output=True, text=True, timeout=120)
        verdicts = json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as exc:
        return f"callbacks could not be checked: {exc!r}"
    for c in custom:
        if verdicts.get(c) is not None:
            return f"callback {c!r}: {verdicts[c]}"
    return None


def logging_needed(path: Optional[str]) -> bool:
    """The config has callbacks: requests served in Rust go through the logging queue."""
    try:
        import yaml

        with open(path or "") as fh:
            cfg = yaml.safe_load(fh) or {}
        return bool((cfg.get("litellm_settings") or {}).get("callbacks"))
    except Exception:
        return False


def _deployment_reason(dep: dict, env: dict) -> Optional[str]:
    """None when the front serves this deployment (every key by the settings table), else why not."""
    if set(dep) - {"model_name", "litellm_params", "model_info"}:
        return f"deployment keys beyond litellm_params/model_info: {sorted(set(dep) - {'model_name', 'litellm_params', 'model_info'})}"
    p = dep.get("litellm_params")
    if isinstance(p, dict) and "model" in p and settings_table.verdict("litellm_params", "model", p["model"])[0] != "serve":
        return settings_table.first_pass("litellm_params", {"model": p["model"]})
    if not isinstance(p, dict) or not {"model", "api_base", "api_key"} <= set(p):
        return "litellm_params needs model, api_base and api_key"
    info = dep.get("model_info")
    if info is not None and not isinstance(info, dict):
        return "model_info is not a mapping"
    return (settings_table.first_pass("litellm_params", {k: _resolve(v, env) for k, v in p.items()})
            or settings_table.first_pass("model_info", info or {}))


def _model_info(port: int, key: str) -> list:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/model/info", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp).get("data") or []


def _price_ok(info: dict, upstream_model: str) -> Optional[Tuple[float, float]]:
    """Plain per-token rates LiteLLM prices `upstream_model` with, or None."""
    if info.get("key") != upstream_model or info.get("mode") not in (None, "chat"):
        return None
    if info.get("tiered_pricing") is not None:
        return None
    for k, v in info.items():
        if "above_" in k and v is not None:
            return None
    i, o = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if not isinstance(i, float) or not isinstance(o, float):
        return None
    return i, o


_ID_SCRIPT = """
import json, sys
data = json.load(sys.stdin)
try:
    from litellm.router_api import deployment_id
except ImportError:
    import litellm
    def deployment_id(group, params):
        return litellm.Router._generate_model_id(None, group, params)
print(json.dumps([[deployment_id(g, p) for g, p in variant] for variant in data]))
"""


def _computed_ids(groups: Dict[str, list], env: dict) -> Dict[Tuple[str, int], str]:
    """LiteLLM's own deployment-id hash, for groups whose deployments /model/info cannot tell apart."""
    todo = [(name, i, d) for name, deps in groups.items() for i, d in enumerate(deps)]
    resolved = [[name, {k: _resolve(v, env) for k, v in d["_raw"].items()}] for name, _i, d in todo]
    raw = [[name, d["_raw"]] for name, _i, d in todo]
    try:
        out = subprocess.run([sys.executable, "-c", _ID_SCRIPT], input=json.dumps([raw, resolved]), env=env,
                             capture_output=True, text=True, timeout=120)
        variants = json.loads(out.stdout.strip().splitlines()[-1])
    except Exception:
        return {}
    return {"raw": {(n, i): v for (n, i, _d), v in zip(todo, variants[0])},
            "resolved": {(n, i): v for (n, i, _d), v in zip(todo, variants[1])}}  # type: ignore[return-value]


def bind_groups(groups: Dict[str, list], declined: Dict[str, str], infos: list, env: Optional[dict] = None,
                price: Any = None) -> Dict[str, list]:
    """Attach LiteLLM's own model ids and rates (from the running proxy) to each deployment."""
    out: Dict[str, list] = {}
    computed: Optional[dict] = None
    for name, deps in groups.items():
        bound = []
        reported = sorted((m.get("model_info") or {}).get("id") or "" for m in infos if m.get("model_name") == name)
        for i, d in enumerate(deps):
            match = [x for x in infos if x.get("model_name") == name
                     and (x.get("litellm_params") or {}).get("model") == d["model"]
                     and (x.get("litellm_params") or {}).get("api_base") == d["api_base"]]
            ids = {((m.get("model_info") or {}).get("id")) for m in match}
            if len(ids) > 1 and None not in ids:
                # Deployments differing only in hidden params (api_key): hash them as LiteLLM does,
                # and use the result only if it reproduces exactly the ids the proxy reports.
                if computed is None:
                    computed = _computed_ids(groups, env if env is not None else dict(os.environ))
                for variant in computed.values():
                    mine = sorted(variant.get((name, j), "") for j in range(len(deps)))
                    if mine == reported:
                        ids = {variant[(name, i)]}
                        break
            if len(ids) != 1 or None in ids:
                declined[name] = "model id not found in /model/info"
                break
            info = match[0].get("model_info") or {}
            rates = providers.unpriced_rates(info) if providers.unpriced(d) else (price or _price_ok)(info, providers.price_key(d))
            # Only openai/ embedding models: the front builds OpenAI's embeddings URL and auth.
            embed = rates is None and not d.get("provider") and embedding_lane.price(info, d["upstream_model"], _price_ok)
            if embed:
                rates, d = embed, dict(d, mode=embedding_lane.MODE)
            if rates is None:
                declined[name] = "model is not priced with plain per-token rates"
                break
            d = {k: v for k, v in d.items() if k != "_raw"}
            d = providers.with_azure_streams(d, _price_ok)
            bound.append(dict(d, id=ids.pop(), input_cost_per_token=rates[0], output_cost_per_token=rates[1]))
        else:
            out[name] = bound
    return out


def _litellm_version() -> Optional[str]:
    try:
        from importlib.metadata import version

        return version("litellm")
    except Exception:
        return None


def _wait_backend(port: int, proc: subprocess.Popen, stopping: threading.Event) -> bool:
    url = f"http://127.0.0.1:{port}/health/liveliness"
    while not stopping.is_set():
        if proc.poll() is not None:
            return False
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return True
        except Exception:
            time.sleep(0.3)
    return False



def _responses_kinds(cfg) -> str:
    """What the front serves of /v1/responses (streams only on 1.110.x)."""
    if cfg["format"] == "litellm-1.110" and cfg["streams"]:
        return " and /v1/responses (streaming or not)"
    return " and non-streaming /v1/responses"


def run(proxy_args: List[str], env: dict, litellm_exe: str) -> int:
    from .. import _native  # the front lives in the extension module

    from . import peer, prometheus, replay

    host, port, rest, config, arg_reason = split_args(proxy_args)
    internal = _free_port()
    # The proxy process adds its logging route only with this per-launch secret (replay.arm),
    # and takes the client's address only from a peer header carrying it (peer.arm).
    secret = secrets.token_hex(24)
    env = dict(env, **{replay.SECRET_ENV: secret}, **peer.launch_env(env, rest),
               **prometheus.launch_env(config, env))
    proc = subprocess.Popen([litellm_exe] + rest + ["--host", "127.0.0.1", "--port", str(internal)], env=env)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.set()
        if proc.poll() is None:
            try:
                proc.send_signal(signum)
            except OSError:
                pass
        _native.fastlane_stop()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    if not _wait_backend(internal, proc, stopping):
        return _finish(proc)

    version = _litellm_version()
    reason, key, groups, declined = analyse_config(config, env)
    anthropic = anthropic_lane.take(groups, declined)
    _https_outside_openai_client(groups, anthropic, declined)
    reason = arg_reason or reason
    if reason is None and version not in VERIFIED_FORMATS:
        reason = f"LiteLLM {version} is not a version the front was verified on ({', '.join(VERIFIED_FORMATS)})"
    infos: list = []
    claude_chat: Dict[str, dict] = {}
    if reason is None:
        try:
            infos = _model_info(internal, key or "")
            groups = bind_groups(groups, declined, infos, env)
            anthropic = anthropic_lane.bind(anthropic, declined, infos, env, bind_groups)
            claude_chat = anthropic_lane.chat_defaults(anthropic, infos, env)
        except Exception as exc:
            reason = f"/model/info failed: {exc!r}"
    if reason is not None:
        groups, anthropic, claude_chat = {}, {}, {}
    groups, embedding_groups = embedding_lane.split(groups, declined)
    served = {**groups, **embedding_groups, **anthropic}
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    router = router_plan(config, served, env) if served else None
    cfg = {
        "listen": listen,
        "backend": f"127.0.0.1:{internal}",
        "format": VERIFIED_FORMATS.get(version or "") if served else None,
        "version": version or "",
        "master_key": key if served else None,
        "groups": groups,
        "answer_pricing": answer_pricing.plan(groups, infos, internal),
        "embedding_groups": embedding_groups,
        "anthropic": anthropic,
        "claude_chat": claude_chat,
        "threads": int(env.get("FAST_LITELLM_FAST_LANE_THREADS", "0") or 0) or min(4, os.cpu_count() or 1),
        # With router settings a stream's successful first attempt is served in Rust (LiteLLM's
        # timeout bounds the wait for its head and first event, then each read); failures replay.
        "streams": streams_enabled(env),
        "router": {k: v for k, v in router.items() if k != "settings"} if router else None,
        "log_queue": _log_queue_size(env) if served and logging_needed(config) else None,
        # A full queue sends requests to LiteLLM (lossless: spend, budgets and metrics stay exact);
        # FAST_LITELLM_FAST_LANE_LOG_FULL=drop keeps serving in Rust and drops (counts) records instead.
        "log_full_to_python": (env.get("FAST_LITELLM_FAST_LANE_LOG_FULL") or "python").strip().lower() != "drop",
        # An upstream answer the front does not reproduce goes to LiteLLM with this secret, so LiteLLM
        # builds the client's answer from it instead of calling the upstream again (held.py);
        # the peer header carries it too (peer.py).
        "secret": secret,
        "conn": front_limits(env),
    }
    if anthropic:
        chat = " and /v1/chat/completions" if claude_chat else ""
        print(f"fast-litellm: fast lane: serving {sorted(anthropic)} in Rust on /v1/messages{chat}", file=sys.stderr, flush=True)
    if groups or embedding_groups:
        kinds = "streaming or not" if cfg["streams"] else "non-streaming; streams go to LiteLLM"
        if cfg["log_queue"]:
            kinds = (f"{'streaming or not' if cfg['streams'] else 'non-streaming'}; callbacks through a logging queue of {cfg['log_queue']}, when full: "
                     + ("requests go to LiteLLM" if cfg["log_full_to_python"] else "records dropped and counted"))
        msg = (f"serving {sorted(groups)} in Rust for master-key chat completions ({kinds})"
               + _responses_kinds(cfg) + "; everything else via LiteLLM")
        if providers.streams_to_litellm(groups):
            msg += f"; streams of {providers.streams_to_litellm(groups)} go to LiteLLM (azure stream pricing, provider streams not verified)"
        if providers.responses_to_litellm(groups):
            msg += f"; /v1/responses of {providers.responses_to_litellm(groups)} go to LiteLLM (provider)"
        if router and router["settings"]:
            msg += (f"; router settings {router['settings']}: first attempts in Rust (upstream timeout "
                    f"{router['timeout_ms'] / 1000:g}s), failures replayed through LiteLLM")
        msg += embedding_lane.summary(embedding_groups, bool(cfg["log_queue"]))
    else:
        msg = f"pass-through only ({reason or 'no eligible model group'})" if not anthropic else (
            "everything else via LiteLLM" if claude_chat else "chat completions via LiteLLM")
    print(f"fast-litellm: fast lane on http://{listen}: {msg}", file=sys.stderr, flush=True)
    for name, why in sorted(declined.items()):
        print(f"fast-litellm:   model group {name!r} goes to LiteLLM: {why}", file=sys.stderr, flush=True)

    errors: List[BaseException] = []

    def serve() -> None:
        try:
            _native.fastlane_serve(json.dumps(cfg))
        except BaseException as exc:  # bind errors and the like: stop everything
            errors.append(exc)
            stopping.set()

    front = threading.Thread(target=serve, name="fast-lane", daemon=True)
    front.start()
    drainer = None
    if cfg["log_queue"]:
        workers = int(_arg(rest, "--num_workers") or 1)
        drainer = replay.Drainer(internal, secret, threads=min(4, max(2, workers)))
        drainer.start()
    while not stopping.is_set() and proc.poll() is None and front.is_alive():
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
    _native.fastlane_stop()
    front.join(10)
    if drainer is not None:
        drainer.stop()
        drainer.join(10)
        print(f"fast-litellm: fast lane logging queue: {drainer.summary()}", file=sys.stderr, flush=True)
    code = _finish(proc)
    if errors:
        print(f"fast-litellm: fast lane failed: {errors[0]}", file=sys.stderr)
        return code or 1
    return code


# The front's connection settings (crates/fastlane/src/conn.rs): env var -> (config key, default).
FRONT_LIMITS = {
    "FAST_LITELLM_FRONT_IDLE_TIMEOUT": ("idle_timeout_ms", 5.0),  # seconds; uvicorn's keep-alive
    "FAST_LITELLM_FRONT_HEADER_TIMEOUT": ("header_timeout_ms", 60.0),  # seconds; nginx's client_header_timeout
    "FAST_LITELLM_FRONT_MAX_CONNECTIONS": ("max_connections", 10000),
    "FAST_LITELLM_FRONT_BACKLOG": ("backlog", 2048),  # uvicorn's
}


def front_limits(env: dict) -> Dict[str, int]:
    """``FAST_LITELLM_FRONT_*`` settings (timeouts in seconds, 0 = none); a bad value keeps the default
    (docs/deployment.md, Security)."""
    out: Dict[str, int] = {}
    for var, (key, default) in FRONT_LIMITS.items():
        try:
            value = float(env.get(var, "") or default)
        except ValueError:
            value = float(default)
        if key.endswith("_ms"):
            out[key] = int(max(0.0, value) * 1000)  # 0: no timeout
        else:
            out[key] = int(value) if value >= 1 else int(default)
    return out


def _log_queue_size(env: dict) -> int:
    try:
        return max(1, int(env.get("FAST_LITELLM_FAST_LANE_LOG_QUEUE", "") or 10000))
    except ValueError:
        return 10000


def _arg(args: List[str], name: str) -> Optional[str]:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def _finish(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    rc = proc.returncode or 0
    return 0 if rc in (-signal.SIGTERM, -signal.SIGINT) else rc


def explain(config: Optional[str], env: Optional[dict] = None) -> dict:
    """What the front would serve for this config (static part; ids/rates come at start)."""
    env = dict(os.environ if env is None else env)
    reason, _key, groups, declined = analyse_config(config, env)
    version = _litellm_version()
    if reason is None and version not in VERIFIED_FORMATS:
        reason = f"LiteLLM {version} not verified"
    logging = None
    if reason is None and groups and logging_needed(config):
        logging = (f"callbacks of requests served in Rust run through a logging queue of {_log_queue_size(env)} "
                   "records (streams included, once they ended); queued/dropped counts: GET /_fast_litellm/stats with the master key")
    router = None
    if reason is None and groups:
        plan = router_plan(config, groups, env)
        router = {"served_settings": plan["settings"], "upstream_timeout_s": plan["timeout_ms"] / 1000,
                  "cooldown_s": plan["cooldown_ms"] / 1000, "cooldown_links": plan["links"],
                  "note": "a successful first attempt is served in Rust with LiteLLM's headers; an upstream error, "
                          "timeout or out-of-shape answer goes to LiteLLM, which answers from what the upstream sent (then its retries/fallbacks), then "
                          "the group and its fallback groups go to LiteLLM for the cooldown window"}
    streams = None
    if reason is None and groups:
        if not streams_enabled(env):
            streams = "streams go to LiteLLM (FAST_LITELLM_FAST_LANE_STREAMS=0)"
        else:
            streams = ("streams served in Rust (FAST_LITELLM_FAST_LANE_STREAMS=0 sends them to LiteLLM): an upstream "
                       "stream out of the verified shape in its head or first event is replayed through LiteLLM; "
                       "one that leaves it later is cut without data: [DONE] and counted (aborted_by_reason on "
                       "GET /_fast_litellm/stats)")
            if router and router["served_settings"]:
                streams += ("; with router settings a stream's first attempt is served in Rust, LiteLLM's timeout "
                            "bounds the wait for its head and first event (past it, or on an upstream error: a replay "
                            "through LiteLLM, which retries/falls back) and each later read (past it: the stream is cut)")
    return {"litellm": version, "reason": reason, "rust_groups": sorted(groups) if reason is None else [],
            "python_groups": declined, "logging": logging, "router": router, "streams": streams,
            "settings": settings_verdicts(config, env),
            "settings_coverage": {v: settings_table.coverage(v) for v in VERIFIED_FORMATS}}


def settings_verdicts(config: Optional[str], env: dict) -> List[Dict[str, str]]:
    """The settings table's verdict for every key of the config (values resolved as LiteLLM does)."""
    try:
        cfg = resolve_config(_load(config), env)
    except Exception:
        return []
    if not isinstance(cfg, dict):
        return []
    return [{"key": k, "verdict": v, "why": why} for k, v, why in settings_table.config_verdicts(cfg)]
