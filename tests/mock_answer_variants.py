"""A local upstream that answers non-streaming chat completions in the shapes real
OpenAI-compatible servers send, and counts the calls it gets, for the fast lane's answer
corpus (tests/test_fast_lane_answers.py).

The last message of a request picks the answer: ``mock:variant=<name>;nonce=<n>`` (see
``VARIANTS``), optionally ``;text=<content>``. ``GET /count?nonce=<n>`` says how many chat
calls carried that nonce, so a test can count the upstream calls of one client request;
``GET /request?nonce=<n>`` returns the last request body that carried it, byte for byte.
The shapes are written from the public behaviour of each server (OpenAI's API reference,
Azure OpenAI's content-filter annotations, vLLM, SGLang, llama.cpp's server, Ollama's /v1,
LM Studio, TGI, LocalAI), not copied from their code.

    python tests/mock_answer_variants.py --port 8097
"""

from __future__ import annotations

import collections
import json
import os
import sys
import uuid

from aiohttp import web

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mock_stream_variants import _directives, models, serve  # noqa: E402

CREATED = 1733000000
TEXT = "Hello! How can I help you today?"
_COUNTS: collections.Counter = collections.Counter()
_BODIES: dict = {}  # nonce -> the last request body that carried it, as received


def _dump(obj) -> bytes:
    # Servers print compact JSON with UTF-8 left as is; the spacing must not matter to LiteLLM.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _cid() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def _plain_usage(p=12, c=9):
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _openai_usage(p=19, c=10, cached=0, reasoning=0):
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def _openai(model, text, *, message=None, finish="stop", logprobs=None, usage=None, tier="default",
            fp="fp_560af6e559", extra_choice=None, extra=None):
    msg = message if message is not None else {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    choice = {"index": 0, "message": msg, "logprobs": logprobs, "finish_reason": finish}
    choice.update(extra_choice or {})
    out = {"id": _cid(), "object": "chat.completion", "created": CREATED, "model": model, "choices": [choice],
           "usage": usage or _openai_usage()}
    if tier is not None:
        out["service_tier"] = tier
    out["system_fingerprint"] = fp
    out.update(extra or {})
    return out


_FILTERS = {"hate": {"filtered": False, "severity": "safe"}, "self_harm": {"filtered": False, "severity": "safe"},
            "sexual": {"filtered": False, "severity": "safe"}, "violence": {"filtered": False, "severity": "safe"}}
_TOOL_CALL = {"id": "call_abc123", "type": "function",
              "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}


def _variant(name, model, text):
    """The JSON body (a dict) of variant ``name`` for the requested ``model``."""
    if name == "envelope":  # the shape of bench/proxy/mock_upstream.py: the front's verified envelope
        return {"id": _cid(), "object": "chat.completion", "created": CREATED, "model": model,
                "system_fingerprint": "fp_mock",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                             "logprobs": None, "finish_reason": "stop"}], "usage": _plain_usage()}
    if name == "openai":  # OpenAI, 2025: annotations, detailed usage, service_tier, system_fingerprint
        return _openai(model, text)
    if name == "openai_dated":  # the dated snapshot name OpenAI reports for an alias
        return _openai(model + "-2024-07-18", text)
    if name == "openai_flex":  # the flex processing tier
        return _openai(model, text, tier="flex")
    if name == "openai_length":
        return _openai(model, text, finish="length")
    if name == "openai_cached":  # cached prompt tokens and reasoning tokens in the usage details
        return _openai(model, text, usage=_openai_usage(2006, 300, cached=1920, reasoning=192))
    if name == "openai_2024":  # mid-2024: refusal, no annotations, no service_tier
        msg = {"role": "assistant", "content": text, "refusal": None}
        return _openai(model, text, message=msg, tier=None, usage=_openai_usage())
    if name == "openai_2023":  # late 2023: plain usage, system_fingerprint null, no refusal
        msg = {"role": "assistant", "content": text}
        return _openai(model, text, message=msg, tier=None, fp=None, usage=_plain_usage())
    if name == "openai_tools":
        msg = {"role": "assistant", "content": None, "tool_calls": [_TOOL_CALL], "refusal": None, "annotations": []}
        return _openai(model, text, message=msg, finish="tool_calls")
    if name == "openai_tools_parallel":  # parallel tool calls, non-ASCII arguments
        calls = [_TOOL_CALL, {"id": "call_def456", "type": "function",
                              "function": {"name": "get_time", "arguments": "{\"city\":\"Zürich\",\"tz\":\"CET\"}"}},
                 {"id": "call_ghi789", "type": "function", "function": {"name": "noop", "arguments": "{}"}}]
        msg = {"role": "assistant", "content": None, "tool_calls": calls, "refusal": None, "annotations": []}
        return _openai(model, text, message=msg, finish="tool_calls", usage=_openai_usage(84, 61))
    if name == "openai_tools_text":  # text and a tool call, finish_reason "stop" (LiteLLM says tool_calls)
        msg = {"role": "assistant", "content": "Let me check.", "tool_calls": [_TOOL_CALL], "refusal": None,
               "annotations": []}
        return _openai(model, text, message=msg, finish="stop")
    if name == "openai_tools_2024":  # mid-2024: no annotations, no service_tier
        msg = {"role": "assistant", "content": None, "tool_calls": [_TOOL_CALL], "refusal": None}
        return _openai(model, text, message=msg, finish="tool_calls", tier=None)
    if name == "openai_refusal":
        msg = {"role": "assistant", "content": None, "refusal": "I'm sorry, I can't help with that.", "annotations": []}
        return _openai(model, text, message=msg)
    if name == "openai_logprobs":
        lp = {"content": [{"token": "Hello", "logprob": -0.31725305, "bytes": [72, 101, 108, 108, 111],
                           "top_logprobs": []}], "refusal": None}
        return _openai(model, text, logprobs=lp)
    if name == "openai_logprobs_top":  # several tokens, top_logprobs, multi-byte tokens, small floats
        def tok(t, lp, b, top=None):
            e = {"token": t, "logprob": lp, "bytes": b}
            if top is not None:
                e["top_logprobs"] = top
            return e
        content = [tok("Héllo", -0.0019461683, list("Héllo".encode()),
                       [tok("Héllo", -0.0019461683, list("Héllo".encode())), tok("Hi", -6.251946, [72, 105])]),
                   tok(" 👋", -1.2e-05, list(" 👋".encode()), [tok(" 👋", -1.2e-05, list(" 👋".encode())),
                                                            tok("!", -11.5, [33]), tok("\\x", -23.0, None)]),
                   tok("!", -0.0, [33], [])]
        return _openai(model, "Héllo 👋!", logprobs={"content": content, "refusal": None})
    if name == "azure":  # Azure OpenAI: content-filter results per prompt and per choice
        out = _openai(model, text, tier=None, fp="fp_ee1d74bde0",
                      extra_choice={"content_filter_results": _FILTERS},
                      extra={"prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTERS}]})
        return out
    if name == "vllm":  # vLLM 0.6+: stop_reason, reasoning_content, prompt_logprobs, null details
        return {"id": _cid(), "object": "chat.completion", "created": CREATED, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "reasoning_content": None, "content": text,
                                                      "tool_calls": []},
                             "logprobs": None, "finish_reason": "stop", "stop_reason": None}],
                "usage": {"prompt_tokens": 12, "total_tokens": 21, "completion_tokens": 9,
                          "prompt_tokens_details": None}, "prompt_logprobs": None}
    if name == "vllm_new":  # vLLM 0.9+: every optional field present as null
        return {"id": _cid(), "object": "chat.completion", "created": CREATED, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None,
                                                      "annotations": None, "audio": None, "function_call": None,
                                                      "tool_calls": [], "reasoning_content": None},
                             "logprobs": None, "finish_reason": "stop", "stop_reason": None}],
                "service_tier": None, "system_fingerprint": None,
                "usage": {"prompt_tokens": 12, "total_tokens": 21, "completion_tokens": 9,
                          "prompt_tokens_details": None}, "prompt_logprobs": None, "kv_transfer_params": None}
    if name == "sglang":
        return {"id": uuid.uuid4().hex, "object": "chat.completion", "created": CREATED, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "reasoning_content": None,
                                                      "tool_calls": None},
                             "logprobs": None, "finish_reason": "stop", "matched_stop": 128009}],
                "usage": {"prompt_tokens": 12, "total_tokens": 21, "completion_tokens": 9,
                          "prompt_tokens_details": None}}
    if name == "llamacpp":  # llama.cpp's server: key order, timings, build fingerprint
        return {"choices": [{"finish_reason": "stop", "index": 0, "message": {"role": "assistant", "content": text}}],
                "created": CREATED, "model": model, "system_fingerprint": "b4585-a4417ddd",
                "object": "chat.completion", "usage": {"completion_tokens": 9, "prompt_tokens": 12, "total_tokens": 21},
                "id": "chatcmpl-" + uuid.uuid4().hex[:32],
                "timings": {"prompt_n": 12, "prompt_ms": 20.1, "prompt_per_token_ms": 1.675,
                            "prompt_per_second": 597.0, "predicted_n": 9, "predicted_ms": 90.2,
                            "predicted_per_token_ms": 10.02, "predicted_per_second": 99.8}}
    if name == "ollama":
        return {"id": "chatcmpl-" + str(uuid.uuid4().int % 1000), "object": "chat.completion", "created": CREATED,
                "model": model, "system_fingerprint": "fp_ollama",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": _plain_usage()}
    if name == "lmstudio":
        return {"id": "chatcmpl-" + uuid.uuid4().hex[:20], "object": "chat.completion", "created": CREATED,
                "model": model,
                "choices": [{"index": 0, "logprobs": None, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": _plain_usage(), "stats": {}, "system_fingerprint": model}
    if name == "tgi":  # text-generation-inference's Messages API
        return {"object": "chat.completion", "id": "", "created": CREATED, "model": model,
                "system_fingerprint": "2.4.1-sha-d2ed52f",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                             "finish_reason": "stop"}],
                "usage": _plain_usage()}
    if name == "localai":
        return {"created": CREATED, "object": "chat.completion", "id": str(uuid.uuid4()), "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                "usage": _plain_usage()}
    raise KeyError(name)


VARIANTS = ("envelope", "openai", "openai_flex", "openai_dated", "openai_length", "openai_cached", "openai_2024", "openai_2023",
            "openai_tools", "openai_tools_parallel", "openai_tools_text", "openai_tools_2024", "openai_refusal",
            "openai_logprobs", "openai_logprobs_top", "azure", "vllm", "vllm_new", "sglang", "llamacpp",
            "ollama", "lmstudio", "tgi", "localai")
# Error answers: status -> (headers, body).
ERRORS = {
    "error_400": (400, {}, {"error": {"message": "Invalid value for 'temperature'.", "type": "invalid_request_error",
                                      "param": "temperature", "code": None}}),
    "error_401": (401, {}, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                      "param": None, "code": "invalid_api_key"}}),
    "error_404": (404, {}, {"error": {"message": "The model does not exist.", "type": "invalid_request_error",
                                      "param": None, "code": "model_not_found"}}),
    "error_429": (429, {"retry-after": "0"}, {"error": {"message": "Rate limit reached.", "type": "requests",
                                                         "param": None, "code": "rate_limit_exceeded"}}),
    "error_500": (500, {}, {"error": {"message": "The server had an error.", "type": "server_error", "param": None,
                                      "code": None}}),
}
# Extra headers OpenAI sends with every answer (request id, processing time, rate limits).
OPENAI_HEADERS = {"x-request-id": "req_0123456789abcdef", "openai-processing-ms": "312",
                  "openai-version": "2020-10-01", "x-ratelimit-limit-requests": "10000",
                  "x-ratelimit-remaining-requests": "9999"}
# What api.openai.com sends today (2025), behind Cloudflare: organization/project, all six rate-limit
# headers, two set-cookie headers, cf-ray and friends.
OPENAI_FULL_HEADERS = [
    ("access-control-expose-headers", "X-Request-ID"), ("openai-organization", "user-abc123"),
    ("openai-processing-ms", "412"), ("openai-project", "proj_abc123"), ("openai-version", "2020-10-01"),
    ("x-envoy-upstream-service-time", "415"), ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-limit-tokens", "200000"), ("x-ratelimit-remaining-requests", "9999"),
    ("x-ratelimit-remaining-tokens", "199982"), ("x-ratelimit-reset-requests", "8.64s"),
    ("x-ratelimit-reset-tokens", "5ms"), ("x-request-id", "req_5f1c0e7d3b2a4c6e8f9a0b1c2d3e4f5a"),
    ("strict-transport-security", "max-age=31536000; includeSubDomains; preload"), ("cf-cache-status", "DYNAMIC"),
    ("set-cookie", "__cf_bm=abc; path=/; expires=Mon, 07-Dec-26 15:00:00 GMT; domain=.api.openai.com; HttpOnly; Secure; SameSite=None"),
    ("x-content-type-options", "nosniff"),
    ("set-cookie", "_cfuvid=xyz; path=/; domain=.api.openai.com; HttpOnly; Secure; SameSite=None"),
    ("cf-ray", "8f0e1d2c3b4a5968-AMS"), ("alt-svc", 'h3=":443"; ma=86400'),
]


async def chat(request: web.Request) -> web.Response:
    raw = await request.read()
    body = json.loads(raw)
    _BODIES[_directives(body).get("nonce", "")] = raw
    return await answer(body)


async def answer(body: dict) -> web.Response:
    """The non-streaming answer ``body`` asks for (shared with tests/mock_providers.py)."""
    d = _directives(body)
    _COUNTS[d.get("nonce", "")] += 1
    name = d.get("variant", "envelope")
    if name in ERRORS:
        status, headers, err = ERRORS[name]
        return web.Response(body=_dump(err), status=status, headers=headers, content_type="application/json")
    headers = {"openai": OPENAI_HEADERS, "openai_full": OPENAI_FULL_HEADERS}.get(d.get("headers"), {})
    if isinstance(headers, list):
        from multidict import CIMultiDict

        headers = CIMultiDict(headers)
    out = _variant(name, body.get("model", "gpt-4o-mini"), d.get("text", TEXT))
    return web.Response(body=_dump(out), headers=headers, content_type="application/json")


async def count(request: web.Request) -> web.Response:
    return web.json_response({"count": _COUNTS[request.query.get("nonce", "")]})


async def last_request(request: web.Request) -> web.Response:
    return web.Response(body=_BODIES.get(request.query.get("nonce", ""), b""), content_type="application/json")


def make_app() -> web.Application:
    app = web.Application()
    for prefix in ("", "/v1"):
        app.router.add_post(prefix + "/chat/completions", chat)
        app.router.add_get(prefix + "/models", models)
    app.router.add_get("/count", count)
    app.router.add_get("/request", last_request)
    return app


def main() -> None:
    serve(make_app, 8097)


if __name__ == "__main__":
    main()
