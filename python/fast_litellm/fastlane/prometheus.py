"""Prometheus metrics for requests the fast lane served, without replaying them.

With ``callbacks: ["prometheus"]`` as the config's only callback, the one thing LiteLLM's
success logging changes for a request the front served is the Prometheus logger's
series. Replaying each record through LiteLLM's auth, router and response building to
get there costs ~12 ms of CPU per record on 1.110.2; this module updates the same
series by calling LiteLLM's own ``PrometheusLogger.async_log_success_event`` with the
logging kwargs LiteLLM would have built, so names, label sets and values, buckets, the
metric/label settings and multiprocess mode are LiteLLM's own code's.

How the kwargs are built, per *kind* of record (path, model group, deployment, client
address, user-agent, zero cost or not): the first record of a kind goes through the
usual replay (``replay``), and the kwargs LiteLLM then hands the logger are
kept as that kind's template. Every later record of the kind gets a copy of it with
what differs per request replaced: token counts and ``usage_object`` (from the
upstream's usage), ``response_cost`` (LiteLLM's ``cost_per_token``), the upstream's
headers as LiteLLM turns them into ``additional_headers``, and the timestamps (the
front's own: start, upstream answered, end). Before a template is used, those
replacements are computed for its own record and must equal what LiteLLM computed;
otherwise that kind keeps the replay.

Then the kind's series updates themselves are learnt (``prometheus_plan``: the
logger run on probe records with every metric operation recorded, not applied) and applied
directly to LiteLLM's own series objects; a kind whose updates cannot be explained by the
record's quantities keeps calling the logger.

Handled: chat completions of single-deployment groups, with the router settings the front
serves and simple-shuffle routing (see ``config_reason``); streams when the upstream's SSE
carries one usage chunk with prompt and completion tokens (a stream's kind also has the client's
``include_usage``; its time to first token is the front's first event). Everything else (the
Responses API, groups of several deployments, other callbacks, usage with cached/reasoning token
details, streams without upstream usage) keeps the replay. ``FAST_LITELLM_FAST_LANE_PROMETHEUS=replay`` keeps the replay for everything.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import datetime
from typing import Any, Dict, Optional, Tuple

from . import prometheus_plan as plans

# Set by the launcher in the proxy's environment when the config qualifies (see `config_reason`).
ENV = "FAST_LITELLM_LANE_PROMETHEUS"
OPT_OUT = "FAST_LITELLM_FAST_LANE_PROMETHEUS"
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
MAX_KINDS = 4096  # templates kept; past that, new kinds are replayed
LEARN_WAIT = 30.0  # seconds a kind waits for its learner's event before another record tries
_PLAIN_USAGE = {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details"}


def config_reason(cfg: Any, env: Dict[str, str]) -> Optional[str]:
    """Launcher side: None when Prometheus can be applied without the replay, else why not.

    Router settings the front serves (``fastlane.router_reason``: retries, timeouts, fallbacks,
    cooldowns, simple-shuffle) act on failures, which LiteLLM itself handles: the front hands
    every failed call to it. On a success LiteLLM's router only counts the deployment's
    success for its failure-rate cooldown, and the records applied here are all of
    single-deployment groups (``kind``), which that rate leaves alone (1.110.x: unless every one
    of >= 1,000 calls in a minute failed); ``allowed_fails`` and fallbacks count failures only.
    So these settings change nothing the replay would do on a success. A routing strategy other
    than simple-shuffle learns from each success in a logger of its own: replay."""
    if (env.get(OPT_OUT) or "").strip().lower() == "replay":
        return f"{OPT_OUT}=replay"
    if not isinstance(cfg, dict):
        return "no config"
    ls = cfg.get("litellm_settings") or {}
    callbacks = ls.get("callbacks") if isinstance(ls, dict) else None
    if isinstance(callbacks, str):
        callbacks = [callbacks]
    if callbacks != ["prometheus"]:
        return "callbacks other than prometheus alone"
    rs = cfg.get("router_settings") or {}
    if not isinstance(rs, dict):
        return "router_settings is not a mapping"
    strategy = rs.get("routing_strategy")
    if strategy not in (None, "simple-shuffle"):
        return f"routing_strategy {strategy} (its logger learns from every success in the replay)"
    return None


def launch_env(config: Optional[str], env: Dict[str, str]) -> Dict[str, str]:
    """What the launcher adds to the proxy's environment: ``ENV=1`` for a config that qualifies."""
    try:
        import yaml

        with open(config or "") as fh:
            cfg = yaml.safe_load(fh)
    except Exception:
        return {ENV: "0"}
    return {ENV: "1" if config_reason(cfg, env) is None else "0"}


def _zero_details(v: Any) -> bool:
    """A usage details object that counts nothing (absent, null, or all zero/null)."""
    if v is None:
        return True
    if not isinstance(v, dict):
        return False
    return all(x in (None, 0) or isinstance(x, dict) and _zero_details(x) for x in v.values())


def _usage(rec: dict) -> Optional[Tuple[int, int, int]]:
    """(prompt, completion, total) of a plain upstream usage, else None (kept on the record)."""
    if "_fl_usage" not in rec:
        rec["_fl_usage"] = _parse_usage(rec)
    return rec["_fl_usage"]


def _parse_usage(rec: dict) -> Optional[Tuple[int, int, int]]:
    if rec.get("stream"):
        usage = _stream_usage(rec.get("response") or "")
    else:
        try:
            usage = json.loads(rec["response"]).get("usage")
        except Exception:
            return None
    if not isinstance(usage, dict) or set(usage) - _PLAIN_USAGE:
        return None
    if not (_zero_details(usage.get("prompt_tokens_details")) and _zero_details(usage.get("completion_tokens_details"))):
        return None
    try:
        p, c = usage["prompt_tokens"], usage["completion_tokens"]
        t = usage.get("total_tokens", p + c)
    except KeyError:
        return None
    if not all(type(x) is int and x >= 0 for x in (p, c, t)):
        return None
    if rec.get("stream") and not (p and c):
        return None  # LiteLLM's stream usage may count tokens itself where the upstream said 0 (1.83.x)
    return p, c, t


def _stream_usage(sse: str) -> Optional[dict]:
    """The usage of an OpenAI-shaped SSE body: the one chunk carrying a usage object, else None
    (none, several -- LiteLLM would combine them --, or a chunk that is not JSON)."""
    found = None
    for line in sse.split("\n"):
        if not line.startswith("data:") or '"usage"' not in line:
            continue
        try:
            usage = json.loads(line[5:]).get("usage")
        except Exception:
            return None
        if usage is None:
            continue
        if found is not None:
            return None
        found = usage
    return found


def _header(rec: dict, name: str) -> str:
    for k, v in rec.get("headers") or ():
        if k.lower() == name:
            return v
    return ""


def _include_usage(rec: dict) -> Any:
    """A stream request's ``stream_options.include_usage`` (its own kind: LiteLLM's payload may differ)."""
    try:
        opts = json.loads(rec.get("request") or "{}").get("stream_options")
    except Exception:
        return "?"
    return opts.get("include_usage") if isinstance(opts, dict) else None


_FRAMING = ("llm_provider-content-length", "llm_provider-transfer-encoding")


class _Template:
    __slots__ = ("kwargs", "response_obj", "model", "provider")

    def __init__(self, kwargs: dict, response_obj: Any) -> None:
        self.kwargs, self.response_obj = kwargs, response_obj
        self.model = kwargs.get("model")
        self.provider = (kwargs.get("litellm_params") or {}).get("custom_llm_provider") or kwargs.get("custom_llm_provider")


# The v3 rate limiter's mirrored headers (LiteLLM-internal ints in additional_headers, never an upstream's).
_V3_LIMIT_HEADER = re.compile(r"^x-ratelimit-(api_key|team|model_per_project[a-z_]*)-(limit|remaining)-")


class _Shim:
    """The Prometheus logger as ``self`` for LiteLLM's own success-event function, minus one step
    that does nothing for the front's records: with no v3 rate-limit headers in the payload (there
    are none for the master key, the only key the front serves), ``_set_v3_rate_limit_allowed_and_used_metrics``
    only removes the per-key/team/project limit gauges of this request's labels, which only that
    limiter's headers ever create -- about half of the logger's CPU on 1.110.2."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)

    def _set_v3_rate_limit_allowed_and_used_metrics(self, standard_logging_payload: Any, enum_values: Any) -> None:
        headers = (standard_logging_payload.get("hidden_params") or {}).get("additional_headers") or {}
        if any(_V3_LIMIT_HEADER.match(k) for k in headers):
            self._logger._set_v3_rate_limit_allowed_and_used_metrics(standard_logging_payload=standard_logging_payload,
                                                                     enum_values=enum_values)


class Applier:
    """In the proxy process: updates LiteLLM's Prometheus series for the front's records."""

    def __init__(self) -> None:
        self.logger: Any = None
        self._reason: Optional[str] = None
        self._checked = False
        self._templates: Dict[tuple, _Template] = {}
        self._declined: Dict[tuple, str] = {}
        self._learning: Dict[str, Tuple[tuple, dict]] = {}  # call id -> (kind, record)
        self._learning_kinds: Dict[tuple, float] = {}  # kind -> when its learner was replayed
        self._cost: Dict[tuple, float] = {}
        self._plans: Dict[tuple, Optional["plans.Plan"]] = {}  # kind -> direct updates (None: the logger)
        self.stats = {"applied": 0, "direct": 0, "learnt": 0, "kinds_declined": 0, "kinds_not_planned": 0}

    # -- eligibility -----------------------------------------------------------

    def reason(self) -> Optional[str]:
        """None when this process applies Prometheus records itself (checked once, at the first record)."""
        if not self._checked:
            self._checked = True
            try:
                self._reason = self._check()
            except Exception as exc:
                self._reason = f"check failed: {exc!r}"
            how = "applied from the front's records" if self._reason is None else f"replayed ({self._reason})"
            sys.stderr.write(f"fast_litellm: fast-lane Prometheus metrics: {how}\n")
            sys.stderr.flush()
        return self._reason

    def _check(self) -> Optional[str]:
        if os.environ.get(ENV) != "1":
            return "config not prometheus-only"
        import litellm
        from litellm.integrations.custom_logger import CustomLogger
        from litellm.integrations.prometheus import PrometheusLogger

        found = []
        for cb in list(litellm.callbacks) + list(litellm._async_success_callback) + list(litellm.success_callback):
            if isinstance(cb, PrometheusLogger):
                if all(cb is not f for f in found):
                    found.append(cb)
        if len(found) != 1:
            return f"{len(found)} Prometheus logger instances"
        logger = found[0]
        # Settings that make labels depend on request fields the template does not replace.
        for attr in ("custom_prometheus_metadata_labels", "custom_prometheus_tags"):
            if getattr(litellm, attr, None):
                return f"litellm.{attr} is set"
        if getattr(logger, "_emit_input_sequence_length_label", False):
            return "input sequence length label on"
        if type(logger).async_log_success_event is not PrometheusLogger.async_log_success_event:
            return "Prometheus logger's success event is not LiteLLM's"
        # Any other logger that would see the event the replay gives it must keep the replay.
        for cb in list(litellm.callbacks):
            if cb is logger or not isinstance(cb, CustomLogger):
                continue
            name = type(cb).__name__
            if name == "_LanePin":  # replay's routing filter: no logging
                continue
            if type(cb).async_log_success_event is not CustomLogger.async_log_success_event and \
                    not type(cb).__module__.startswith("litellm."):
                return f"another callback {name}"
        self.logger = logger
        self._shim = _Shim(logger)
        self._event = PrometheusLogger.async_log_success_event  # LiteLLM's own, called with the shim as self
        self._wrap(logger)
        return None

    def _wrap(self, logger: Any) -> None:
        """Keep the kwargs LiteLLM hands the logger for a record being learnt (by its call id)."""
        original = logger.async_log_success_event

        async def async_log_success_event(kwargs, response_obj, start_time, end_time):
            try:
                got = self._learning.pop(kwargs.get("litellm_call_id"), None) if isinstance(kwargs, dict) else None
                if got is not None:
                    self._learn(got[0], got[1], kwargs, response_obj)
            except Exception as exc:  # the metrics themselves must still be logged
                sys.stderr.write(f"fast_litellm: Prometheus template not kept: {exc!r}\n")
            return await original(kwargs, response_obj, start_time, end_time)

        logger.async_log_success_event = async_log_success_event

    def kind(self, rec: dict) -> Optional[tuple]:
        """The record's kind, or None when it is not one this module handles."""
        if rec.get("method", "POST") != "POST" or rec.get("path") not in CHAT_PATHS \
                or rec.get("pin") or int(rec.get("status", 0)) != 200 or rec.get("error"):
            return None
        usage = _usage(rec)
        if usage is None:
            return None
        peer = (rec.get("peer") or [""])[0]
        zero = self._cost_of(rec, usage) == 0.0
        k = (rec["path"], rec.get("model_group"), rec.get("model_id"), peer, _header(rec, "user-agent"), zero)
        return k + (("stream", _include_usage(rec)),) if rec.get("stream") else k

    # -- learning ----------------------------------------------------------------

    def watch(self, rec: dict) -> None:
        """Before a record is replayed: learn its kind's template from it if none exists yet."""
        if self.reason() is not None or len(self._templates) >= MAX_KINDS:
            return
        k = self.kind(rec)
        if k is None or k in self._templates or k in self._declined or not rec.get("call_id"):
            return
        now = time.monotonic()
        if now - self._learning_kinds.get(k, -LEARN_WAIT) < LEARN_WAIT:
            return  # its learner's event may still come (LiteLLM logs after the answer)
        self._learning_kinds[k] = now
        self._learning[rec["call_id"]] = (k, rec)
        if len(self._learning) > 1024:  # learners whose event never came
            self._learning.pop(next(iter(self._learning)))

    def _learn(self, k: tuple, rec: dict, kwargs: dict, response_obj: Any) -> None:
        self._learning_kinds.pop(k, None)
        tpl = _Template(kwargs, response_obj)
        why = self._verify(rec, tpl)
        if why is not None:
            self._declined[k] = why
            self.stats["kinds_declined"] += 1
            sys.stderr.write(f"fast_litellm: fast-lane Prometheus metrics for {k[1]!r}: replayed ({why})\n")
            return
        self._templates[k] = tpl
        self.stats["learnt"] += 1

    def _verify(self, rec: dict, tpl: _Template) -> Optional[str]:
        """The replacements computed for the template's own record must be LiteLLM's values."""
        slo = tpl.kwargs.get("standard_logging_object")
        if not isinstance(slo, dict):
            return "no standard logging payload"
        if slo.get("cache_hit"):
            return "cache hit"
        if bool(tpl.kwargs.get("stream")) != bool(rec.get("stream")):
            return "stream flag differs from the record's"
        mine = self._kwargs(rec, tpl)["standard_logging_object"]
        for field in ("prompt_tokens", "completion_tokens", "total_tokens", "response_cost"):
            if mine[field] != slo.get(field):
                return f"{field} {mine[field]!r} != LiteLLM's {slo.get(field)!r}"
        if mine["metadata"].get("usage_object") != (slo.get("metadata") or {}).get("usage_object"):
            return "usage_object differs"
        theirs = (slo.get("hidden_params") or {}).get("additional_headers")
        ours = mine["hidden_params"].get("additional_headers")
        if rec.get("stream") and isinstance(ours, dict) and isinstance(theirs, dict):
            # The replay hands LiteLLM the recorded SSE body in one piece (its framing: a length);
            # ours are the upstream's own (chunked), as the stock proxy sees them.
            ours = {k: v for k, v in ours.items() if k not in _FRAMING}
            theirs = {k: v for k, v in theirs.items() if k not in _FRAMING}
        if ours != theirs:
            a, b = ours or {}, theirs or {}
            return f"additional_headers differ: {sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))}"
        return None

    # -- applying ------------------------------------------------------------------

    def _cost_of(self, rec: dict, usage: Tuple[int, int, int]) -> float:
        key = (rec.get("model"), usage[0], usage[1])
        cost = self._cost.get(key)
        if cost is None:
            import litellm

            model = rec.get("model") or ""
            provider, _, name = model.partition("/")
            p, c = litellm.cost_per_token(model=name or model, custom_llm_provider=provider if name else None,
                                          prompt_tokens=usage[0], completion_tokens=usage[1])
            cost = p + c
            if len(self._cost) < 65536:
                self._cost[key] = cost
        return cost

    def _kwargs(self, rec: dict, tpl: _Template) -> dict:
        """The template's kwargs with this record's usage, cost, upstream headers and times."""
        import httpx
        from litellm.litellm_core_utils.core_helpers import process_response_headers
        from litellm.litellm_core_utils.litellm_logging import StandardLoggingPayloadSetup

        p, c, t = _usage(rec)  # type: ignore[misc]
        cost = self._cost_of(rec, (p, c, t))
        start, done, end = float(rec["start"]), float(rec.get("upstream_done") or rec["end"]), float(rec["end"])
        # A stream's first token came with its first event (the record's upstream_done); an answer's with its end.
        first = done if rec.get("stream") else end
        kw = dict(tpl.kwargs)
        slo = dict(kw["standard_logging_object"])
        md = dict(slo.get("metadata") or {})
        uo = md.get("usage_object")
        if isinstance(uo, dict):
            uo = dict(uo, prompt_tokens=p, completion_tokens=c, total_tokens=t)
            md["usage_object"] = uo
        hp = dict(slo.get("hidden_params") or {})
        # The upstream's headers as LiteLLM logs them, plus the ones LiteLLM adds itself (x-litellm-*:
        # group, retries, fallbacks; the same for every record of a kind).
        ours = StandardLoggingPayloadSetup.get_additional_headers(process_response_headers(httpx.Headers(rec.get("response_headers") or [])))
        theirs = hp.get("additional_headers")
        if isinstance(ours, dict) and isinstance(theirs, dict):
            ours.update((k, v) for k, v in theirs.items() if k.startswith("x-litellm-"))
        hp["additional_headers"] = ours
        if hp.get("litellm_overhead_time_ms"):
            # The front's own overhead (never 0: LiteLLM observes it only when truthy, as it always is).
            hp["litellm_overhead_time_ms"] = max((end - done) * 1000.0, 1e-3)
        hp["response_cost"] = cost
        slo.update(prompt_tokens=p, completion_tokens=c, total_tokens=t, response_cost=cost, metadata=md, hidden_params=hp,
                   startTime=start, endTime=end, completionStartTime=first, response_time=end - start)
        if rec.get("call_id"):
            slo["id"] = rec["call_id"]
        kw["standard_logging_object"] = slo
        kw["response_cost"] = cost
        lp = kw.get("litellm_params")
        if isinstance(lp, dict) and isinstance(lp.get("metadata"), dict) and lp["metadata"].get("queue_time_seconds") is not None:
            kw["litellm_params"] = dict(lp, metadata=dict(lp["metadata"], queue_time_seconds=0.0))
        t0, t2 = datetime.fromtimestamp(start), datetime.fromtimestamp(end)
        kw.update(start_time=t0, api_call_start_time=t0, completion_start_time=datetime.fromtimestamp(first), end_time=t2,
                  litellm_call_id=rec.get("call_id"))
        return kw

    async def apply(self, rec: dict) -> Optional[bool]:
        """True: the record's metrics were updated; None: not handled here (replay it)."""
        if self.reason() is not None:
            return None
        k = self.kind(rec)
        tpl = self._templates.get(k) if k is not None else None
        if tpl is None:
            return None
        kw = self._kwargs(rec, tpl)
        plan = self._plans[k] if k in self._plans else await self._plan(k, rec, tpl)
        if plan is not None and 0 in _usage(rec)[:2]:  # type: ignore[index]
            plan = None  # LiteLLM skips per-token updates for 0 tokens; plans are learnt on probes with both
        try:
            if plan is not None:
                plan.apply(kw)
                self.stats["direct"] += 1
            else:
                await self._event(self._shim, kw, tpl.response_obj, kw["start_time"], kw["end_time"])
        except Exception:
            return False  # some series may be updated already: a replay would count them twice
        self.stats["applied"] += 1
        return True

    async def _plan(self, k: tuple, rec: dict, tpl: _Template) -> Optional["plans.Plan"]:
        """The kind's direct series updates (prometheus_plan.py), or None: keep calling the logger."""
        self._plans[k] = None  # one attempt per kind; records meanwhile call the logger
        why = None
        if (os.environ.get(OPT_OUT) or "").strip().lower() == "logger":
            why = f"{OPT_OUT}=logger"
        elif getattr(sys.modules.get("litellm.proxy.proxy_server"), "prisma_client", None) is not None:
            why = "a database is configured (budget gauges may change per request)"
        if why is None:
            try:
                plans.install()
                recorded = []
                for probe in plans.probe_records(rec):
                    kw = self._kwargs(probe, tpl)
                    recorded.append((await plans.record(self._event, self._shim, kw, tpl.response_obj), plans.features(kw)))
                plan = self._plans[k] = plans.build(recorded)
                what = f"{k[1]!r} streams" if len(k) > 6 else repr(k[1])
                sys.stderr.write(f"fast_litellm: fast-lane Prometheus series for {what}: "
                                 f"{len(plan.steps)} updates applied directly per record\n")
                return plan
            except Exception as exc:  # plans.Unplannable, or anything else: the logger call stays
                why = repr(exc)
        self.stats["kinds_not_planned"] += 1
        sys.stderr.write(f"fast_litellm: fast-lane Prometheus series for {k[1]!r} through LiteLLM's logger ({why})\n")
        return None


_applier: Optional[Applier] = None


def applier() -> Applier:
    global _applier
    if _applier is None:
        _applier = Applier()
    return _applier
