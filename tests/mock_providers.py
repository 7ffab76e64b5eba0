"""A local upstream for the fast lane's provider corpus (tests/test_fast_lane_providers.py):
OpenAI's routes (``/v1/chat/completions``) and Azure OpenAI's deployment route
(``/openai/deployments/<d>/chat/completions?api-version=...``), answering streaming and
non-streaming chat completions in the shapes of ``mock_answer_variants`` /
``mock_stream_variants`` (the last message picks one: ``mock:variant=<name>;nonce=<n>``).
Generated streams in Azure OpenAI's and vLLM's own shapes: ``variant=azure_stream;seed=<n>``
and ``variant=vllm_stream;seed=<n>`` (``stream_chunks``). Non-streaming answers in the shapes hosted
OpenAI-compatible providers document (DeepSeek, Mistral, Groq, OpenRouter): ``PROVIDER_SHAPES``.

It records every chat call: ``GET /seen?nonce=<n>`` lists the calls carrying that nonce
(path, query, headers, body), so a test counts the upstream calls of one client request and
compares what stock LiteLLM and the front sent.

    python tests/mock_providers.py --port 8099
"""

from __future__ import annotations

import collections
import json
import os
import random
import sys

from aiohttp import web

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mock_answer_variants as answers  # noqa: E402
import mock_stream_variants as streams  # noqa: E402

_SEEN: dict = collections.defaultdict(list)
_CATEGORIES = ("hate", "self_harm", "sexual", "violence")
_SEVERITIES = ("safe", "low", "medium")


def azure_filters(seed: int) -> dict:
    """A generated Azure answer's filter annotations (``variant=azure_gen;seed=<n>``): categories in
    varying order, severities, the prompt's jailbreak/indirect-attack detections, a choice's
    protected-material detections, custom blocklists -- the fields Azure OpenAI documents."""
    rnd = random.Random(seed)

    def categories():
        cats = list(_CATEGORIES)
        if rnd.random() < 0.3:
            rnd.shuffle(cats)
        out = {c: {"filtered": False, "severity": rnd.choice(_SEVERITIES)} for c in cats}
        if rnd.random() < 0.3:
            out["profanity"] = {"filtered": False, "detected": rnd.random() < 0.5}
        if rnd.random() < 0.2:
            out["custom_blocklists"] = {"filtered": False, "details": []}
        return out

    prompt = categories()
    if rnd.random() < 0.5:
        prompt["jailbreak"] = {"filtered": False, "detected": rnd.random() < 0.3}
    if rnd.random() < 0.3:
        prompt["indirect_attack"] = {"filtered": False, "detected": False}
    choice = categories()
    if rnd.random() < 0.5:
        choice["protected_material_code"] = {"filtered": False, "detected": False}
        choice["protected_material_text"] = {"filtered": False, "detected": rnd.random() < 0.2}
    prompts = [{"prompt_index": 0, "content_filter_results": prompt}]
    if rnd.random() < 0.2:
        prompts.append({"prompt_index": 1, "content_filter_results": categories()})
    return {"choice": choice, "prompt": prompts}

def _pieces(rnd: random.Random) -> list:
    """Text pieces of a generated stream: none, a few, many; empty ones and non-ASCII among them."""
    n = rnd.choice((0, 1, 2, 3, 5, 8, 20))
    words = ("Hello", " there", ",", " how", " can I", " help?", "", " caf\u00e9", " \u4e2d\u6587", " \"q\"", "\n", " 42")
    return [rnd.choice(words) for _ in range(n)]


def stream_chunks(kind: str, seed: int, model: str, include_usage: bool, chunk_model: str = "") -> list:
    """The JSON chunks (dicts), then "[DONE]", of a generated ``azure_stream`` / ``vllm_stream``.

    Azure OpenAI (documented and observed shape, keys sorted as Azure prints them): a first chunk
    with ``choices: []``, empty id/model/object, ``created: 0`` and the prompt's
    ``prompt_filter_results``; a role chunk with ``content_filter_results: {}``; text chunks each
    with the filter results of its text; a finish chunk; with ``include_usage`` a usage chunk
    (``choices: []``), some deployments also ``usage: null`` on every chunk before it.

    vLLM (0.6+): ``logprobs: null`` per choice, ``stop_reason`` on the finish chunk (null, a stop
    string or a token id), no fingerprint, ``usage: null`` on each chunk when usage was asked for,
    its usage key order; reasoning models stream ``delta.reasoning_content`` (0.10+: ``reasoning``)
    first (vLLM's ``--reasoning-parser``)."""
    rnd = random.Random(seed)
    pieces = _pieces(rnd)
    cid = "chatcmpl-" + "%024x" % rnd.getrandbits(96)
    created = 1733000000 + rnd.randrange(10**6)
    finish = rnd.choice(("stop", "stop", "length"))
    p, c = rnd.randrange(1, 3000), rnd.randrange(1, 500)
    out: list = []
    if kind == "azure_stream":
        f = azure_filters(seed)
        fp = rnd.choice(("fp_ee1d74bde0", "fp_04751d0b65", None))
        model = rnd.choice((model, model + "-2024-07-18")) if rnd.random() < 0.5 else model
        model = chunk_model or model
        usage_null = include_usage and rnd.random() < 0.5

        def chunk(choices, **extra):
            o = {"choices": choices, "created": created, "id": cid, "model": model, "object": "chat.completion.chunk"}
            if fp is not None:
                o["system_fingerprint"] = fp
            if usage_null:
                o["usage"] = None
            o.update(extra)
            return dict(sorted(o.items()))

        def choice(delta, filters, finish_reason=None):
            return {"content_filter_results": filters, "delta": delta, "finish_reason": finish_reason, "index": 0,
                    "logprobs": None}

        out.append({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                    "prompt_filter_results": f["prompt"]})
        out.append(chunk([choice({"content": "", "refusal": None, "role": "assistant"}, {})]))
        for i, piece in enumerate(pieces):
            out.append(chunk([choice({"content": piece}, azure_filters(seed * 131 + i)["choice"])]))
        out.append(chunk([choice({}, {}, finish)]))
        if include_usage:
            u = {"completion_tokens": c, "completion_tokens_details": {
                "accepted_prediction_tokens": 0, "audio_tokens": 0, "reasoning_tokens": 0,
                "rejected_prediction_tokens": 0}, "prompt_tokens": p,
                "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0}, "total_tokens": p + c}
            out.append(chunk([], usage=u))
    elif kind == "vllm_stream":
        reasoning = _pieces(rnd) if rnd.random() < 0.4 else []
        # vLLM 0.10+ names the field `reasoning` (earlier: `reasoning_content`).
        reasoning_key = rnd.choice(("reasoning_content", "reasoning"))
        stop_reason = rnd.choice((None, None, 128009, "</s>"))if finish == "stop" else None
        last_with_text = rnd.random() < 0.3 and bool(pieces)

        def chunk(choices, **extra):
            o = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices}
            if include_usage:
                o["usage"] = None
            o.update(extra)
            return o

        def choice(delta, finish_reason=None, last=False):
            ch = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            if last:
                ch["stop_reason"] = stop_reason
            return ch

        out.append(chunk([choice({"role": "assistant", "content": ""})]))
        for r in reasoning:
            out.append(chunk([choice({reasoning_key: r})]))
        for i, piece in enumerate(pieces):
            if last_with_text and i == len(pieces) - 1:
                out.append(chunk([choice({"content": piece}, finish, True)]))
            else:
                out.append(chunk([choice({"content": piece})]))
        if not last_with_text:
            out.append(chunk([choice({"content": ""}, finish, True)]))
        if include_usage:
            out.append(chunk([], usage={"prompt_tokens": p, "total_tokens": p + c, "completion_tokens": c,
                                        "prompt_tokens_details": None}))
    out.append("[DONE]")
    return out


async def generated_stream(request: web.Request, body: dict, d: dict) -> web.StreamResponse:
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    events = stream_chunks(d["variant"], int(d.get("seed", "0")), body.get("model", "gpt-4o-mini"), include_usage,
                           d.get("chunk_model", ""))
    ct = "text/event-stream; charset=utf-8" if d["variant"] == "vllm_stream" else "text/event-stream"
    resp = web.StreamResponse(headers={"Content-Type": ct, "Cache-Control": "no-cache"})
    await resp.prepare(request)
    for w in streams.encode(events, d.get("wire", "normal")):
        await resp.write(w)
    await resp.write_eof()
    return resp


def provider_answer(name: str, model: str, text: str) -> dict:
    """A non-streaming answer in the shape a hosted OpenAI-compatible provider documents (``PROVIDER_SHAPES``)."""
    cid = answers._cid()
    if name == "deepseek":  # DeepSeek: cache hit/miss counts beside OpenAI's usage, a fingerprint, no refusal
        return {"id": cid, "object": "chat.completion", "created": answers.CREATED, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 16, "completion_tokens": 10, "total_tokens": 26,
                          "prompt_tokens_details": {"cached_tokens": 0}, "prompt_cache_hit_tokens": 0,
                          "prompt_cache_miss_tokens": 16},
                "system_fingerprint": "fp_8802369eaa_prod0623_fp8_kvcache"}
    if name == "mistral":  # Mistral: usage before created, tool_calls null, no fingerprint, no logprobs
        return {"id": "cmpl-" + cid[9:], "object": "chat.completion", "model": model,
                "usage": {"prompt_tokens": 16, "completion_tokens": 34, "total_tokens": 50}, "created": answers.CREATED,
                "choices": [{"index": 0, "message": {"content": text, "tool_calls": None, "role": "assistant"},
                             "finish_reason": "stop"}]}
    if name == "mistral_empty":  # Mistral's empty content (LiteLLM prints it as null)
        out = provider_answer("mistral", model, text)
        out["choices"][0]["message"]["content"] = ""
        return out
    if name == "groq":  # Groq: x_groq with the request id, usage with queue/timing floats, a fingerprint
        return {"id": cid, "object": "chat.completion", "created": answers.CREATED, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                             "finish_reason": "stop"}],
                "usage": {"queue_time": 0.017, "prompt_tokens": 16, "prompt_time": 0.002, "completion_tokens": 10,
                          "completion_time": 0.008, "total_tokens": 26, "total_time": 0.01},
                "system_fingerprint": "fp_3f3b593e33", "x_groq": {"id": "req_01jbd6g2qdfw2adyrt2az8hz4w"}}
    if name == "openrouter":  # OpenRouter: the upstream provider's name, native finish reason
        # (one extra key per object: LiteLLM 1.83.x orders several through a set, differently per process)
        return {"id": "gen-1733000000-abc", "provider": "OpenAI", "model": model, "object": "chat.completion",
                "created": answers.CREATED,
                "choices": [{"logprobs": None, "finish_reason": "stop", "native_finish_reason": "stop", "index": 0,
                             "message": {"role": "assistant", "content": text, "refusal": None}}],
                "usage": {"prompt_tokens": 16, "completion_tokens": 10, "total_tokens": 26}}
    raise KeyError(name)


PROVIDER_SHAPES = ("deepseek", "mistral", "mistral_empty", "groq", "openrouter")


# Headers an HTTP client adds on its own (their values differ between clients and runs).
_CLIENT_HEADERS = {"host", "content-length", "accept-encoding", "connection", "user-agent"}


async def chat(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    body = json.loads(raw)
    d = streams._directives(body)
    _SEEN[d.get("nonce", "")].append({
        "path": request.path, "query": dict(request.query),
        "headers": {k.lower(): v for k, v in request.headers.items() if k.lower() not in _CLIENT_HEADERS
                    and not k.lower().startswith("x-stainless")},
        "body": body})
    if "/openai/deployments/" in request.path and "api-version" not in request.query:
        return web.json_response({"error": {"code": "404", "message": "Resource not found"}}, status=404)
    if body.get("stream"):
        if d.get("variant") in ("azure_stream", "vllm_stream"):
            return await generated_stream(request, body, d)
        return await streams.chat_from(request, body)
    if d.get("variant") in PROVIDER_SHAPES:
        out = provider_answer(d["variant"], body.get("model", "gpt-4o-mini"), d.get("text", answers.TEXT))
        return web.Response(body=answers._dump(out), content_type="application/json")
    if d.get("variant") == "azure_gen":
        f = azure_filters(int(d.get("seed", "0")))
        out = answers._openai(body.get("model", "gpt-4o-mini"), answers.TEXT, tier=None, fp="fp_ee1d74bde0",
                              extra_choice={"content_filter_results": f["choice"]},
                              extra={"prompt_filter_results": f["prompt"]})
        return web.Response(body=answers._dump(out), content_type="application/json")
    return await answers.answer(body)


async def seen(request: web.Request) -> web.Response:
    return web.json_response(_SEEN.get(request.query.get("nonce", ""), []))


def make_app() -> web.Application:
    app = web.Application()
    for prefix in ("", "/v1"):
        app.router.add_post(prefix + "/chat/completions", chat)
        app.router.add_get(prefix + "/models", streams.models)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", chat)
    app.router.add_get("/seen", seen)
    return app


if __name__ == "__main__":
    streams.serve(make_app, 8099)
