"""A local upstream that streams chat completions in the shapes real OpenAI-compatible
servers send, for the fast lane's streaming corpus (tests/test_fast_lane_streams.py).

The last message of a request picks the shape: ``mock:variant=<name>`` (see ``VARIANTS``),
optionally ``;model=<name>`` (the model the chunks report) and ``;text=<pieces, | separated>``.
Every answer is an SSE stream (``"stream": true`` is what the corpus sends); the shapes are
written from the public behaviour of each server (OpenAI's API reference and observed
chunks, vLLM, llama.cpp's server, Ollama's /v1, LM Studio, TGI/LocalAI-style servers),
not copied from their code.

    python tests/mock_stream_variants.py --port 8098
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

from aiohttp import web

DEFAULT_PIECES = ["Hello", " there", ",", " how", " can I", " help?"]


def _dump(obj) -> str:
    # OpenAI/vLLM print compact JSON with ASCII escapes off; the exact spacing must not matter.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Shape:
    """How one server family frames a chat stream."""

    def __init__(self, name, *, fp="fp_mock", tier=None, logprobs=False, refusal=False, obfuscation=False,
                 usage_null=False, usage_style="plain", role_every=False, first="role_empty",
                 finish="separate", stop_reason=False, timings=False, usage_in_finish=False,
                 usage_chunk=True, id_style="const", created_style="const", headers=None, key_order="openai",
                 empty_id=False, stop_value=None, null_mid=False):
        self.__dict__.update(locals())
        del self.__dict__["self"]


# name -> Shape. The `usage_chunk` ones send the usage chunk only when include_usage is asked
# for (as OpenAI does); `usage_in_finish` puts it in the finish chunk unconditionally.
VARIANTS = {
    # OpenAI itself (2025): service_tier, system_fingerprint, logprobs: null, refusal: null on the
    # role chunk, `usage: null` on every chunk when usage is asked for, detailed usage.
    "openai": Shape("openai", fp="fp_560af6e559", tier="default", logprobs=True, refusal=True, usage_null=True,
                    usage_style="details"),
    "openai_obfuscation": Shape("openai_obfuscation", fp="fp_560af6e559", tier="default", logprobs=True,
                                refusal=True, usage_null=True, usage_style="details", obfuscation=True),
    "openai_no_fp": Shape("openai_no_fp", fp=None, tier="default", logprobs=True, refusal=True, usage_null=True,
                          usage_style="details"),
    "openai_no_tier": Shape("openai_no_tier", fp="fp_560af6e559", logprobs=True, refusal=True, usage_null=True,
                            usage_style="details"),
    "openai_fp_null": Shape("openai_fp_null", fp="null", tier="default", logprobs=True, refusal=True,
                            usage_null=True, usage_style="details"),
    "openai_headers": Shape("openai_headers", fp="fp_560af6e559", tier="default", logprobs=True, refusal=True,
                            usage_null=True, usage_style="details", headers={
                                "x-request-id": "req_0123456789abcdef", "openai-processing-ms": "187",
                                "openai-version": "2020-10-01", "openai-organization": "user-abc",
                                "x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999",
                                "x-ratelimit-reset-requests": "6ms", "x-ratelimit-limit-tokens": "200000",
                                "x-ratelimit-remaining-tokens": "199980", "x-ratelimit-reset-tokens": "6ms"}),
    "openai_plain_usage": Shape("openai_plain_usage", fp="fp_mock", usage_style="plain"),
    # vLLM: logprobs: null per choice, `stop_reason` on the finish chunk, usage keys in its order.
    "vllm": Shape("vllm", fp=None, logprobs=True, usage_null=True, usage_style="vllm", stop_reason=True,
                  finish="content_empty"),
    # llama.cpp's server: `content: null` on the role chunk, its key order, a build fingerprint,
    # `timings` (older builds: usage + timings in the finish chunk, always).
    "llamacpp": Shape("llamacpp", fp="b5601-0d398844", first="role_null", key_order="llamacpp",
                      usage_chunk=False, usage_in_finish=True, timings=True),
    "llamacpp_new": Shape("llamacpp_new", fp="b6000-1a2b3c4d", first="role_null", key_order="llamacpp",
                          timings=True),
    # Ollama's /v1: the role on every delta, fp_ollama, the finish in a delta with role + "".
    "ollama": Shape("ollama", fp="fp_ollama", role_every=True, first="role_text", finish="role_empty"),
    # LM Studio: role on every delta, logprobs: null, the finish in an empty delta.
    "lmstudio": Shape("lmstudio", fp="gpt-4o-mini", logprobs=True, role_every=True, first="role_text"),
    # TGI-style: empty id, usage: null on every chunk, role on every delta.
    "tgi": Shape("tgi", fp="3.0.1-sha-abc", logprobs=True, usage_null=True, role_every=True, first="role_text",
                 finish="role_empty", empty_id=True),
    # LocalAI-style servers that stamp each chunk anew.
    "created_changes": Shape("created_changes", created_style="tick"),
    "id_changes": Shape("id_changes", id_style="per_chunk"),
    "id_changes_finish_with_content": Shape("id_changes_finish_with_content", id_style="per_chunk",
                                            finish="with_last", tier="default"),
    # Structural variants on the plain shape.
    "plain": Shape("plain"),
    "finish_with_content": Shape("finish_with_content", finish="with_last"),
    "first_text": Shape("first_text", first="text"),
    "first_role_text": Shape("first_role_text", first="role_text"),
    "vllm_token": Shape("vllm_token", fp=None, logprobs=True, usage_null=True, usage_style="vllm", stop_reason=True,
                        finish="content_empty", stop_value=128009),
    "vllm_last": Shape("vllm_last", fp=None, logprobs=True, usage_null=True, usage_style="vllm", stop_reason=True,
                       finish="with_last"),
    "content_null": Shape("content_null", finish="content_null", null_mid=True),
    "first_content_null": Shape("first_content_null", first="role_null"),
    "no_fp": Shape("no_fp", fp=None),
}

# Transport-level variants, applicable to any shape: `;wire=<name>`.
WIRES = ("normal", "split", "bytewise", "coalesced", "crlf", "comments", "lf_single")


def _usage(style: str, p: int, c: int):
    if style == "details":
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
    if style == "vllm":
        return {"prompt_tokens": p, "total_tokens": p + c, "completion_tokens": c, "prompt_tokens_details": None}
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def chunks(shape: Shape, model: str, pieces, include_usage: bool, usage=(12, 10)):
    """The stream's JSON chunks (dicts), in order, then "[DONE]"."""
    cid = "" if shape.empty_id else "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(time.time())
    n = [0]

    def chunk(choices, **extra):
        n[0] += 1
        the_id = cid if shape.id_style == "const" else "chatcmpl-" + uuid.uuid4().hex[:24]
        the_created = created + (n[0] if shape.created_style == "tick" else 0)
        if shape.key_order == "llamacpp":
            out = {"choices": choices, "created": the_created, "id": the_id, "model": model}
            if shape.fp is not None:
                out["system_fingerprint"] = None if shape.fp == "null" else shape.fp
            out["object"] = "chat.completion.chunk"
        else:
            out = {"id": the_id, "object": "chat.completion.chunk", "created": the_created, "model": model}
            if shape.tier is not None:
                out["service_tier"] = shape.tier
            if shape.fp is not None:
                out["system_fingerprint"] = None if shape.fp == "null" else shape.fp
            out["choices"] = choices
        if shape.usage_null and include_usage and "usage" not in extra:
            out["usage"] = None
        out.update(extra)
        if shape.obfuscation:
            out["obfuscation"] = uuid.uuid4().hex[: 4 + n[0] % 9]
        return out

    def choice(delta, finish=None, last=False):
        if shape.key_order == "llamacpp":
            c = {"finish_reason": finish, "index": 0, "delta": delta}
        else:
            c = {"index": 0, "delta": delta}
            if shape.logprobs:
                c["logprobs"] = None
            c["finish_reason"] = finish
        if shape.stop_reason and last:
            c["stop_reason"] = shape.stop_value
        return c

    def delta(text, first=False):
        d = {}
        if first or shape.role_every:
            d["role"] = "assistant"
        d["content"] = text
        if first and shape.refusal:
            d["refusal"] = None
        return d

    pieces = list(pieces)
    if shape.first == "role_empty":
        yield chunk([choice(delta("", True))])
    elif shape.first == "role_null":
        yield chunk([choice(delta(None, True))])
    for i, p in enumerate(pieces):
        first = i == 0 and shape.first in ("role_text",)
        d = delta(p, first)
        if i == 0 and shape.first == "text":
            d = {"content": p}
        if i == 1 and shape.null_mid:
            yield chunk([choice({"content": None})])
        if i == len(pieces) - 1 and shape.finish == "with_last":
            yield chunk([choice(d, "stop", True)])
        else:
            yield chunk([choice(d)])
    p, c = usage
    finish_extra = {}
    if shape.usage_in_finish:
        finish_extra["usage"] = _usage(shape.usage_style, p, c)
    if shape.timings and shape.usage_in_finish:
        finish_extra["timings"] = {"prompt_n": p, "prompt_ms": 12.5, "predicted_n": c, "predicted_ms": 40.25}
    if shape.finish == "separate":
        yield chunk([choice({}, "stop", True)], **finish_extra)
    elif shape.finish == "content_empty":
        yield chunk([choice({"content": ""}, "stop", True)], **finish_extra)
    elif shape.finish == "content_null":
        yield chunk([choice({"content": None}, "stop", True)], **finish_extra)
    elif shape.finish == "role_empty":
        yield chunk([choice({"role": "assistant", "content": ""}, "stop", True)], **finish_extra)
    if shape.usage_chunk and include_usage:
        extra = {"usage": _usage(shape.usage_style, p, c)}
        if shape.timings:
            extra["timings"] = {"prompt_n": p, "prompt_ms": 12.5, "predicted_n": c, "predicted_ms": 40.25}
        yield chunk([], **extra)
    yield "[DONE]"


def _directives(body: dict) -> dict:
    messages = body.get("messages") or [{}]
    text = messages[-1].get("content") if isinstance(messages[-1], dict) else None
    if not isinstance(text, str) or not text.startswith("mock:"):
        return {}
    out = {}
    for part in text[5:].split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v
    return out


def encode(events, wire: str) -> list:
    """SSE bytes for the events, as a list of writes."""
    nl = "\r\n" if wire == "crlf" else "\n"
    out = []
    for i, ev in enumerate(events):
        payload = ev if isinstance(ev, str) else _dump(ev)
        text = f"data: {payload}{nl}{nl}"
        if wire == "comments" and i % 2 == 0:
            text = f": keep-alive{nl}{nl}" + text
        if wire == "lf_single":
            text = f"data: {payload}\n"  # events separated by one newline only: malformed SSE
        out.append(text.encode())
    if wire == "comments":
        out.insert(0, b": OPENROUTER PROCESSING\n\n")
    if wire == "coalesced":
        return [b"".join(out)]
    if wire == "split":
        return [w[i:i + 7] for w in out for i in range(0, len(w), 7)]
    if wire == "bytewise":
        joined = b"".join(out)
        return [joined[i:i + 1] for i in range(len(joined))]
    return out


async def chat(request: web.Request) -> web.StreamResponse:
    return await chat_from(request, await request.json())


async def chat_from(request: web.Request, body: dict) -> web.StreamResponse:
    """The stream ``body`` asks for (shared with tests/mock_providers.py)."""
    d = _directives(body)
    shape = VARIANTS[d.get("variant", "plain")]
    model = d.get("model", body.get("model", "gpt-4o-mini"))
    if "text" in d:
        pieces = d["text"].split("|")
    elif "long" in d:
        pieces = ["x" * int(d["long"])]
    elif "many" in d:
        pieces = [f" w{i}" for i in range(int(d["many"]))]
    else:
        pieces = DEFAULT_PIECES
    usage = tuple(int(x) for x in d.get("usage", "12,10").split(","))
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    if not body.get("stream"):
        return web.json_response({"error": {"message": "this mock only streams"}}, status=400)
    headers = {"Content-Type": "text/event-stream; charset=utf-8" if shape.name in ("vllm", "tgi") else
               "text/event-stream", "Cache-Control": "no-cache"}
    headers.update(shape.headers or {})
    resp = web.StreamResponse(headers=headers)
    await resp.prepare(request)
    writes = encode(list(chunks(shape, model, pieces, include_usage, usage)), d.get("wire", "normal"))
    pause = d.get("wire") in ("split", "bytewise")
    for w in writes:
        await resp.write(w)
        if pause:
            await asyncio.sleep(0.001)
    await resp.write_eof()
    return resp


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})


def make_app() -> web.Application:
    app = web.Application()
    for prefix in ("", "/v1"):
        app.router.add_post(prefix + "/chat/completions", chat)
        app.router.add_get(prefix + "/models", models)
    return app


def serve(make_app, default_port: int) -> None:
    """Run a mock upstream's app on 127.0.0.1, port ``--port`` (shared by the tests' mocks)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=default_port)
    args = ap.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


def main() -> None:
    serve(make_app, 8098)


if __name__ == "__main__":
    main()
