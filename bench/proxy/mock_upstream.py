"""A local OpenAI-compatible upstream for the proxy load rig and tests.

Serves /v1/chat/completions and /v1/responses, JSON or SSE (``"stream": true``),
with fixed content, so what is measured is the proxy, not a model. Listens on
127.0.0.1 only.

    python bench/proxy/mock_upstream.py --port 8099
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid

from aiohttp import web

CONTENT = "This is a mock response from the local upstream."
WORDS = CONTENT.split(" ")
RECORD = os.environ.get("MOCK_RECORD")  # append each chat request (headers, body) as JSON lines
# MOCK_SHAPE=openai: non-streaming chat answers in OpenAI's current shape (annotations, usage
# token details, service_tier), as a real OpenAI upstream sends them.
SHAPE = os.environ.get("MOCK_SHAPE", "")


def _chat_completion(model: str) -> dict:
    out = _plain_completion(model)
    if SHAPE == "openai":
        out["choices"][0]["message"]["annotations"] = []
        out["usage"]["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
        out["usage"]["completion_tokens_details"] = {"reasoning_tokens": 0, "audio_tokens": 0,
                                                     "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        out["service_tier"] = "default"
    return out


def _plain_completion(model: str) -> dict:
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:24],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": CONTENT, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22},
    }


def _chat_chunks(model: str, body: dict = None, d: dict = None):
    """SSE chunks. Directives (tests only): ``pieces=a|b|c`` content pieces, ``finish=``,
    ``first=role|none|text`` (a role-only opening chunk, none, or the role with the first piece),
    ``finishwith=last`` (finish_reason on the last piece), ``usage=P,C`` (the usage chunk, sent
    only when ``stream_options.include_usage`` asks for it, as OpenAI does), ``style=openai`` (logprobs,
    refusal, usage:null and service_tier as OpenAI sends them), ``fp=none``, ``created=N``, ``gap=S`` (seconds between events), ``bad=tool`` (a tool-call
    delta after the first piece)."""
    body, d = body or {}, d or {}
    cid = "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(d["created"]) if "created" in d else int(time.time())
    openai = d.get("style") == "openai"
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": d.get("model", model)}
    if openai:
        base["service_tier"] = "default"
    if d.get("fp") != "none":
        base["system_fingerprint"] = "fp_mock"
    if openai and include_usage:
        base["usage"] = None

    def choice(delta, finish=None):
        c = {"index": 0, "delta": delta}
        if openai:
            c["logprobs"] = None
        c["finish_reason"] = finish
        return c

    pieces = d["pieces"].split("|") if "pieces" in d else [(" " if i else "") + w for i, w in enumerate(WORDS)]
    finish = d.get("finish", "stop")
    first = d.get("first", "role")
    role_delta = {"role": "assistant", "content": ""}
    if openai:
        role_delta["refusal"] = None
    if first == "role":
        yield dict(base, choices=[choice(role_delta)])
    for i, p in enumerate(pieces):
        delta = {"content": p}
        if first == "text" and i == 0:
            delta = {"role": "assistant", "content": p}
        last = i == len(pieces) - 1
        if i == 1 and d.get("bad") == "tool":  # out of the verified shape mid-way
            yield dict(base, choices=[choice({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                              "function": {"name": "f", "arguments": ""}}]})])
        if last and d.get("finishwith") == "last":
            yield dict(base, choices=[choice(delta, finish)])
        else:
            yield dict(base, choices=[choice(delta)])
    if d.get("finishwith") != "last":
        yield dict(base, choices=[choice({}, finish)])
    if include_usage:
        p, c = (int(x) for x in d.get("usage", "12,10").split(","))
        yield dict(base, choices=[], usage={"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c})


def _response(model: str) -> dict:
    rid = "resp_" + uuid.uuid4().hex
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [
            {
                "type": "message",
                "id": "msg_" + uuid.uuid4().hex,
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": CONTENT, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {"input_tokens": 12, "output_tokens": 10, "total_tokens": 22,
                  "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 0}},
    }


def _response_events(model: str):
    full = _response(model)
    created = dict(full, status="in_progress", output=[], usage=None)
    yield "response.created", {"type": "response.created", "response": created}
    item = full["output"][0]
    for i, w in enumerate(WORDS):
        yield "response.output_text.delta", {"type": "response.output_text.delta", "item_id": item["id"],
                                             "output_index": 0, "content_index": 0,
                                             "delta": (" " if i else "") + w}
    yield "response.completed", {"type": "response.completed", "response": full}


async def _sse(request: web.Request, events, gap: float = 0.0) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    for i, (name, payload) in enumerate(events):
        if gap and i:
            await asyncio.sleep(gap)
        prefix = f"event: {name}\n" if name else ""
        await resp.write(f"{prefix}data: {json.dumps(payload)}\n\n".encode())
    if request.path.endswith("/chat/completions"):
        await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


def _directives(body: dict) -> dict:
    """Test hooks, read from the last message: ``mock:model=x;status=500;usage=P,C;sleep=S;content=...``.

    Without a ``mock:`` prefix the mock answers its fixed response (the load rig never sends one).
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return {}
    text = messages[-1].get("content")
    if not isinstance(text, str) or not text.startswith("mock:"):
        return {}
    out = {}
    for part in text[5:].split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v
    return out


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if RECORD is not None:
        with open(RECORD, "a") as fh:
            fh.write(json.dumps({"headers": dict(request.headers), "body": body}) + "\n")
    model = body.get("model", "gpt-4o-mini")
    d = _directives(body)
    if "sleep" in d:
        await asyncio.sleep(float(d["sleep"]))
    if "status" in d and d["status"] != "200":
        err = {"error": {"message": "mock upstream error", "type": "mock_error", "param": None, "code": d["status"]}}
        return web.json_response(err, status=int(d["status"]))
    if body.get("stream"):
        return await _sse(request, ((None, c) for c in _chat_chunks(model, body, d)), float(d.get("gap", 0)))
    out = _chat_completion(d.get("model", model))
    if "usage" in d:
        p, c = (int(x) for x in d["usage"].split(","))
        out["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    if "content" in d:
        out["choices"][0]["message"]["content"] = d["content"]
    if "finish" in d:
        out["choices"][0]["finish_reason"] = d["finish"]
    return web.json_response(out)


async def responses(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    model = body.get("model", "gpt-4o-mini")
    if body.get("stream"):
        return await _sse(request, _response_events(model))
    return web.json_response(_response(model))


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})


def make_app() -> web.Application:
    app = web.Application()
    for prefix in ("", "/v1"):
        app.router.add_post(prefix + "/chat/completions", chat)
        app.router.add_post(prefix + "/responses", responses)
        app.router.add_get(prefix + "/models", models)
    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8099)
    args = ap.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
