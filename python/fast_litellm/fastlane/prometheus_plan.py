"""The series updates of one kind of fast-lane record, learnt once and then applied directly.

``fastlane.prometheus`` calls LiteLLM's ``PrometheusLogger.async_log_success_event`` for every
record (~0.6 ms of CPU each on 1.110.2, most of it rebuilding the same label sets). For a record
kind whose template is verified, this module learns what that call does to the metrics: it runs
the logger three times on probe records of the kind (different token counts, costs and times)
with every ``prometheus_client`` operation made in the probe's context *recorded instead of
applied* (a context variable, so concurrent requests and scrapes are untouched). Each recorded
operation is a metric, a label set, an operation (``inc``/``dec``/``set``/``observe``) and a value;
each value must be, on all three probes, either the same constant or one of the record's own
quantities (tokens, cost, latencies). The plan is built from two probes and must predict the
third exactly (timings to within a microsecond: LiteLLM may compute a latency from timestamps
instead of datetimes); otherwise the kind keeps calling the logger. A planned record then costs a
dozen child-metric updates on the very objects LiteLLM's logger updates (multiprocess files
included; each child is looked up as LiteLLM looks it up). Probes have prompt and completion
tokens: a record with none of either keeps the logger (LiteLLM skips some updates then).

Kinds whose updates may depend on state outside the record keep the logger: a proxy with a
database (budgets and spend read per request) and any operation the recorder does not know
(``remove``, ``clear``, exemplars, ...). ``FAST_LITELLM_FAST_LANE_PROMETHEUS=logger`` keeps the
logger call for every kind.
"""

from __future__ import annotations

import contextvars
from typing import Any, Dict, List, Optional, Tuple

_RECORDING: "contextvars.ContextVar[Optional[list]]" = contextvars.ContextVar("fast_litellm_prom_probe", default=None)
_installed: list = []
_TIMING_TOLERANCE = 1e-6  # seconds
# Probe records: (prompt tokens, completion tokens, upstream answered after, ended after) in seconds.
_PROBES = ((7, 3, 0.011, 0.013), (13, 17, 0.023, 0.029), (29, 5, 0.041, 0.047))
_TIMINGS = ("total_latency", "api_latency", "ttft", "overhead_s", "overhead_ms", "response_time", "latency_per_output_token",
            "ttft_per_output_token")


class Unplannable(Exception):
    """The logger did something the recorder does not reproduce."""


class _Pending:
    """A child series a probe asked for: what would be done to it is recorded, nothing is created."""

    __slots__ = ("metric", "labels", "ops")

    def __init__(self, metric: Any, labels: Optional[tuple], ops: list) -> None:
        self.metric, self.labels, self.ops = metric, labels, ops

    def _op(self, op: str, value: Any) -> None:
        self.ops.append((self.metric, self.labels, op, value))

    def inc(self, amount: float = 1, exemplar: Any = None) -> None:
        if exemplar is not None:
            raise Unplannable("exemplar")
        self._op("inc", amount)

    def dec(self, amount: float = 1) -> None:
        self._op("dec", amount)

    def set(self, value: float) -> None:
        self._op("set", value)

    def observe(self, amount: float, exemplar: Any = None) -> None:
        if exemplar is not None:
            raise Unplannable("exemplar")
        self._op("observe", amount)

    def __getattr__(self, name: str) -> Any:
        raise Unplannable(f"child.{name}")


def install() -> None:
    """Route prometheus_client's operations made inside a probe to the recorder (once per process)."""
    if _installed:
        return
    from prometheus_client import metrics as m

    labels = m.MetricWrapperBase.labels

    def recorded_labels(self: Any, *values: Any, **named: Any) -> Any:
        ops = _RECORDING.get()
        if ops is None:
            return labels(self, *values, **named)
        # prometheus_client's own normalisation, without creating the child.
        if not self._labelnames or self._labelvalues or (values and named):
            raise Unplannable("labels")
        if named:
            if sorted(named) != sorted(self._labelnames):
                raise Unplannable("label names")
            values = tuple(str(named[n]) for n in self._labelnames)
        else:
            if len(values) != len(self._labelnames):
                raise Unplannable("label count")
            values = tuple(str(v) for v in values)
        return _Pending(self, values, ops)

    patched = [(m.MetricWrapperBase, "labels", labels, recorded_labels)]
    known = {"inc", "dec", "set", "observe"}
    for cls, names in ((m.Counter, ("inc",)), (m.Gauge, ("inc", "dec", "set", "set_to_current_time", "set_function")),
                       (m.Histogram, ("observe",)), (m.Summary, ("observe",)), (m.Info, ("info",)), (m.Enum, ("state",)),
                       (m.MetricWrapperBase, ("remove", "clear"))):
        for name in names:
            original = getattr(cls, name)

            def op(self: Any, *args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
                ops = _RECORDING.get()
                if ops is None:
                    return _original(self, *args, **kwargs)
                if _name not in known or kwargs.get("exemplar") is not None or len(args) > 1:
                    raise Unplannable(_name)
                # An unlabelled metric, or a child LiteLLM kept from before: this very object.
                ops.append((self, None, _name, args[0] if args else kwargs.get("amount", kwargs.get("value", 1))))

            patched.append((cls, name, original, op))
    for cls, name, _original, new in patched:
        setattr(cls, name, new)
    _installed.extend(patched)


def features(kw: dict) -> Dict[str, Any]:
    """The record's own quantities a recorded value may be (``kw``: the logger's kwargs)."""
    slo = kw["standard_logging_object"]
    hp = slo.get("hidden_params") or {}
    f: Dict[str, Any] = {
        "prompt": slo.get("prompt_tokens"), "completion": slo.get("completion_tokens"),
        "total": slo.get("total_tokens"), "cost": kw.get("response_cost"),
        "total_latency": (kw["end_time"] - kw["start_time"]).total_seconds(),
        "api_latency": (kw["end_time"] - kw["api_call_start_time"]).total_seconds(),
        "ttft": (kw["completion_start_time"] - kw["api_call_start_time"]).total_seconds(),
        "response_time": slo.get("response_time"),
    }
    if f["completion"]:
        f["latency_per_output_token"] = f["total_latency"] / f["completion"]
        # LiteLLM's per-token deployment latency of a stream: its time to first token over the tokens.
        f["ttft_per_output_token"] = (kw["completion_start_time"] - kw["start_time"]).total_seconds() / f["completion"]
    if isinstance(hp.get("litellm_overhead_time_ms"), (int, float)):
        f["overhead_ms"] = hp["litellm_overhead_time_ms"]
        f["overhead_s"] = hp["litellm_overhead_time_ms"] / 1000.0
    return f


def _number(v: Any) -> bool:
    return type(v) in (int, float)


def _same(a: Any, b: Any, timing: bool) -> bool:
    if timing:
        return _number(a) and _number(b) and abs(a - b) <= _TIMING_TOLERANCE
    # 7 and 7.0 add the same to a series; anything else must be the very value.
    return a == b and (_number(a) and _number(b) or type(a) is type(b))


def _source(values: List[Any], feats: List[Dict[str, Any]]) -> Optional[Tuple[str, Any]]:
    """``("const", v)`` or ``("feature", name)`` explaining every probe's value, else None."""
    if all(type(v) is type(values[0]) and v == values[0] for v in values):
        return ("const", values[0])
    for name in feats[0]:
        timing = name in _TIMINGS
        if all(name in f and _same(v, f[name], timing) for v, f in zip(values, feats)):
            return ("feature", name)
    return None


class Plan:
    """A kind's operations: (metric, label values or None, operation, source) in LiteLLM's order."""

    __slots__ = ("steps",)

    def __init__(self, steps: list) -> None:
        self.steps = steps

    def apply(self, kw: dict) -> None:
        f = features(kw)
        for metric, labels, op, (how, what) in self.steps:
            # The child is looked up each time, as LiteLLM's own call does: a series LiteLLM removed
            # since (e.g. its end-user series cleanup) is created again, never updated detached.
            child = metric if labels is None else metric.labels(*labels)
            getattr(child, op)(what if how == "const" else f[what])


def _shape(ops: list) -> list:
    return [(id(metric), labels, op) for metric, labels, op, _v in ops]


def build(recorded: List[Tuple[list, dict]]) -> Plan:
    """A plan from probes (ops, features): the first two explain, the last must be predicted."""
    (ops_a, fa), (ops_b, fb), (ops_c, fc) = recorded
    if not ops_a or _shape(ops_a) != _shape(ops_b) or _shape(ops_a) != _shape(ops_c):
        raise Unplannable("operations differ between probes")
    steps = []
    for (metric, labels, op, va), (_m, _l, _o, vb), (_m2, _l2, _o2, vc) in zip(ops_a, ops_b, ops_c):
        src = _source([va, vb], [fa, fb])
        if src is None:
            raise Unplannable(f"value of {getattr(metric, '_name', metric)} {op} not explained")
        predicted = src[1] if src[0] == "const" else fc.get(src[1])
        if not _same(vc, predicted, src[0] == "feature" and src[1] in _TIMINGS):
            raise Unplannable(f"{getattr(metric, '_name', metric)} {op}: {vc!r} predicted as {predicted!r}")
        steps.append((metric, labels, op, src))
    return Plan(steps)


def probe_records(rec: dict) -> List[dict]:
    """Copies of ``rec`` with the probe usages and times (same kind: same everything else; the
    usage is set as parsed, so a stream's SSE body need not be rewritten)."""
    start = float(rec["start"])
    return [dict(rec, _fl_usage=(p, c, p + c), upstream_done=start + done, end=start + end) for p, c, done, end in _PROBES]


async def record(event: Any, shim: Any, kw: dict, response_obj: Any) -> list:
    """The operations LiteLLM's success event makes for ``kw``, recorded, none applied."""
    ops: list = []
    token = _RECORDING.set(ops)
    try:
        await event(shim, kw, response_obj, kw["start_time"], kw["end_time"])
    finally:
        _RECORDING.reset(token)
    return ops
