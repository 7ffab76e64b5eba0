"""The fast lane's streams against a corpus of real-world upstream stream shapes.

A mock upstream (``tests/mock_stream_variants.py``) streams chat completions the way
OpenAI-compatible servers do (OpenAI with its optional fields and detailed usage, vLLM,
llama.cpp, Ollama's /v1, LM Studio, TGI/LocalAI-style servers), with structural variants
(finish with content, content null, role on every delta, ids per chunk, unicode, long
content, many events) and transport variants (events split over writes, byte by byte,
coalesced, ``\\r\\n``, ``: keep-alive`` comments, malformed single-newline framing).

For every case the same request goes through the stock proxy and through
``fast-litellm proxy`` with the DEFAULT settings (streams served in Rust unless
``FAST_LITELLM_FAST_LANE_STREAMS=0``), and the outcome must be the one listed in
``EXPECTED`` for the LiteLLM version:

* ``served``: the Rust lane answered, with the stock proxy's status, headers (modulo
  timing/ids) and SSE body (modulo ids/created/obfuscation padding), ``[DONE]`` included;
* ``replayed``: the front saw the variant in the head or first event, before sending a
  byte, and LiteLLM answered (same comparison, lane ``python``);
* ``cut``: the variant shows only mid-stream and the front cannot reproduce LiteLLM's
  output: the response ends without ``data: [DONE]`` and ``aborted`` counts it.

Each variant has a model group of its own, so the per-deployment replay brake of one
variant does not change another's lane.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from util_proc import free_port, stop_group, wait_http

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-test-fast-lane-streams"
BIN = Path(sys.executable).parent

pytest.importorskip("aiohttp")
native = pytest.importorskip("fast_litellm._native")
if not hasattr(native, "fastlane_serve"):
    pytest.skip("native module built without the fast lane", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent))
import mock_stream_variants as mv  # noqa: E402


def _litellm_version():
    from importlib.metadata import version

    return version("litellm")


V110 = _litellm_version().startswith("1.110")

# variant -> outcome on (1.110.2, 1.83.14). Outcomes hold for every include_usage setting
# unless the entry is a dict {include_usage: (outcome 1.110, outcome 1.83)}.
EXPECTED = {
    "plain": ("served", "served"),
    "no_fp": ("served", "served"),
    "openai": ("served", "served"),                  # service_tier, logprobs/refusal null, detailed usage
    "openai_no_fp": ("served", "served"),
    "openai_no_tier": ("served", "served"),
    "openai_plain_usage": ("served", "served"),
    "openai_obfuscation": ("replayed", "replayed"),  # `obfuscation` on the first chunk
    "openai_fp_null": ("replayed", "replayed"),      # `system_fingerprint: null` on the first chunk
    "openai_headers": ("replayed", "replayed"),      # x-request-id, openai-*, x-ratelimit-* in the head
    "vllm": ("served", "served"),                    # stop_reason: null, usage: null per chunk, usage key order
    "vllm_token": ("served", "served"),              # stop_reason: a stop token id
    "vllm_last": ("served", "served"),               # finish_reason + stop_reason with the last text
    "llamacpp": ("replayed", "replayed"),            # role chunk with content: null
    "llamacpp_new": ("replayed", "replayed"),
    "first_content_null": ("replayed", "replayed"),
    "ollama": ("replayed", "served"),                # 1.110.2 rewrites fp_ollama streams' ids
    "lmstudio": ("served", "served"),                # role on every delta
    "tgi": ("served", "served"),                     # empty id, role on every delta, usage: null
    "created_changes": ("served", "served"),
    "id_changes": ("served", "served"),              # LiteLLM passes each chunk's id through
    "id_changes_finish_with_content": ("served", "served"),
    "finish_with_content": ("served", "served"),
    "first_text": ("served", "served"),
    "first_role_text": ("served", "served"),
    "content_null": ("served", "served"),            # `content: null` deltas mid-stream and on the finish
}

# Transport variants, on two shapes.
WIRE_EXPECTED = {
    "split": "served", "bytewise": "served", "coalesced": "served", "crlf": "served", "comments": "served",
    # Events separated by one newline: not SSE. The front never finds an event boundary, so it
    # replays (LiteLLM's own answer to this malformed stream is an empty one).
    "lf_single": "replayed",
}

# Content variants on the plain and vLLM shapes: (directive, outcome).
CONTENT_CASES = {
    "unicode": ("text=h\u00e9llo|\u4e2d\u6587|\U0001F600|\u2028\u2029 \"q\" \\ / \\u2028|\t<&>\n|\x01\x7f", "served"),
    "long": ("long=200000", "served"),
    "many": ("many=1500", "served"),
    "empty_pieces": ("text=|a||b|", "served"),
}


def _config():
    groups = list(EXPECTED) + ["wires", "wires_openai", "content", "content_vllm"]
    out = "model_list:\n"
    for g in groups:
        out += (f"  - model_name: {g}\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
                "      api_base: os.environ/MOCK_API_BASE\n      api_key: sk-mock-upstream\n")
    return out + "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n"


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fastlane_streams")
    cfg = tmp / "config.yaml"
    cfg.write_text(_config())
    env = dict(os.environ, LITELLM_MASTER_KEY=KEY, LITELLM_LOCAL_MODEL_COST_MAP="True",
               PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
    for var in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL", "LITELLM_DETAILED_TIMING", "FAST_LITELLM_FAST_LANE",
                "FAST_LITELLM_FAST_LANE_STREAMS"):
        env.pop(var, None)  # the default settings
    mock_port, stock_port, fast_port = free_port(), free_port(), free_port()
    env["MOCK_API_BASE"] = f"http://127.0.0.1:{mock_port}/v1"
    logs = {n: open(tmp / f"{n}.log", "w") for n in ("mock", "stock", "fast")}
    start = lambda argv, log: subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,  # noqa: E731
                                               start_new_session=True)
    common = ["--config", str(cfg), "--host", "127.0.0.1"]
    procs = [start([sys.executable, str(ROOT / "tests/mock_stream_variants.py"), "--port", str(mock_port)], logs["mock"]),
             start([str(BIN / "litellm")] + common + ["--port", str(stock_port)], logs["stock"]),
             start([sys.executable, "-m", "fast_litellm.cli", "proxy"] + common + ["--port", str(fast_port)],
                   logs["fast"])]
    try:
        wait_http(f"http://127.0.0.1:{mock_port}/v1/models", procs[0], 60)
        wait_http(f"http://127.0.0.1:{stock_port}/health/liveliness", procs[1], 240)
        wait_http(f"http://127.0.0.1:{fast_port}/health/liveliness", procs[2], 240)
        yield {"stock": stock_port, "fast": fast_port, "fast_log": tmp / "fast.log"}
    finally:
        for p in procs:
            stop_group(p)
        for fh in logs.values():
            fh.close()


def _call(port, body=None, path="/v1/chat/completions", method="POST"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    error = None
    try:
        raw = resp.read()
    except http.client.IncompleteRead as exc:  # a stream cut short
        raw, error = exc.partial, exc
    hdrs = [(k.lower(), v) for k, v in resp.getheaders()]
    conn.close()
    return resp.status, hdrs, raw, error


_VOLATILE = {"date", "llm_provider-date", "x-litellm-call-id", "x-litellm-response-duration-ms",
             "x-litellm-overhead-duration-ms", "x-fast-litellm-lane", "content-length", "llm_provider-content-length",
             "transfer-encoding", "connection", "keep-alive", "llm_provider-openai-processing-ms"}


def _norm_body(raw: bytes) -> bytes:
    # Ids differ between two upstream calls, but their pattern (one per stream, or one per
    # chunk) must not: each distinct id becomes <idN> in order of appearance.
    seen: dict = {}

    def one(m):
        n = seen.setdefault(m.group(2), len(seen))
        return b'"%s":"<id%d>"' % (m.group(1), n)

    raw = re.sub(rb'"(id|original_response_id)":"((?:chatcmpl-)?[0-9a-zA-Z_=-]*)"', one, raw)
    raw = re.sub(rb'"created":\d+', b'"created":0', raw)
    return re.sub(rb'"obfuscation":"[0-9a-zA-Z]*"', b'"obfuscation":"<pad>"', raw)


def _norm_headers(hdrs):
    out = {}
    for k, v in hdrs:
        if k not in _VOLATILE:
            out.setdefault(k, []).append(v)
    return out


def _stats(rig):
    return json.loads(_call(rig["fast"], path="/_fast_litellm/stats", method="GET")[2])


def _outcome(rig, group, directive, include_usage):
    body = {"model": group, "messages": [{"role": "user", "content": "mock:" + directive}], "stream": True}
    if include_usage is not None:
        body["stream_options"] = {"include_usage": include_usage}
    before = _stats(rig)["aborted"]
    s_status, s_hdrs, s_raw, s_err = _call(rig["stock"], body)
    f_status, f_hdrs, f_raw, f_err = _call(rig["fast"], body)
    assert s_err is None and s_raw.endswith(b"data: [DONE]\n\n"), (directive, s_raw[-300:])
    lane = dict(f_hdrs).get("x-fast-litellm-lane")
    if f_err is not None or not f_raw.endswith(b"data: [DONE]\n\n"):
        assert lane == "rust" and b"[DONE]" not in f_raw, (directive, f_raw[-300:])
        assert _stats(rig)["aborted"] == before + 1
        # What went out before the cut is LiteLLM's stream, event for event.
        got = [e for e in _norm_body(f_raw).split(b"\n\n") if e.startswith(b"data: ")]
        want = _norm_body(s_raw).split(b"\n\n")
        assert got == want[:len(got)], (directive, got[-1:], want[len(got) - 1:len(got)])
        return "cut"
    assert f_status == s_status
    s_events = _norm_body(s_raw).split(b"\n\n")
    f_events = _norm_body(f_raw).split(b"\n\n")
    for i, (a, b) in enumerate(zip(s_events, f_events)):
        assert a == b, (directive, include_usage, i, a[:600], b[:600])
    assert len(s_events) == len(f_events), (directive, s_events[-3:], f_events[-3:])
    assert _norm_headers(f_hdrs) == _norm_headers(s_hdrs), directive
    assert dict(f_hdrs)["content-type"].startswith("text/event-stream")
    return "served" if lane == "rust" else "replayed"


RESULTS: dict = {}


def _record(case, outcome):
    RESULTS[case] = outcome
    out = os.environ.get("FAST_LITELLM_STREAM_CORPUS_OUT")
    if out:
        with open(out, "a") as fh:
            fh.write(json.dumps({"litellm": _litellm_version(), "case": case, "outcome": outcome}) + "\n")


@pytest.mark.parametrize("variant", list(EXPECTED))
def test_variant(rig, variant):
    want = EXPECTED[variant][0 if V110 else 1]
    for include_usage in (None, True, False):
        got = _outcome(rig, variant, f"variant={variant};model=gpt-4o-mini", include_usage)
        _record(f"{variant} include_usage={include_usage}", got)
        assert got == want, (variant, include_usage)


@pytest.mark.parametrize("wire", list(WIRE_EXPECTED))
def test_wire(rig, wire):
    for group, variant in (("wires", "plain"), ("wires_openai", "openai")):
        for include_usage in (None, True):
            got = _outcome(rig, group, f"variant={variant};wire={wire};model=gpt-4o-mini", include_usage)
            _record(f"{variant} wire={wire} include_usage={include_usage}", got)
            assert got == WIRE_EXPECTED[wire], (variant, wire, include_usage)


@pytest.mark.parametrize("case", list(CONTENT_CASES))
def test_content(rig, case):
    directive, want = CONTENT_CASES[case]
    for group, variant in (("content", "plain"), ("content_vllm", "vllm")):
        got = _outcome(rig, group, f"variant={variant};model=gpt-4o-mini;{directive}", True)
        _record(f"{variant} content={case}", got)
        assert got == want, (variant, case)


def test_cut_reasons_are_counted(rig):
    """Cuts and first-event replays are counted by reason on the stats route."""
    s = _stats(rig)
    assert isinstance(s["aborted_by_reason"], dict) and isinstance(s["stream_replayed_by_reason"], dict)
    assert sum(s["aborted_by_reason"].values()) == s["aborted"]
    assert s["stream_replayed_by_reason"], s  # the replayed variants above left their reasons


def test_streams_on_by_default(rig):
    log = Path(rig["fast_log"]).read_text()
    assert "streaming or not" in log, log[-2000:]
