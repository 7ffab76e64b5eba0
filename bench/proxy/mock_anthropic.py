"""A local Anthropic Messages API upstream (``POST /v1/messages``), for the rig and the tests.

Answers in Anthropic's documented shapes: a ``message`` object (content blocks ``text``,
``tool_use``, ``thinking``; ``stop_reason``; usage with ``cache_creation_input_tokens``,
``cache_read_input_tokens``, ``cache_creation`` and ``service_tier``), its SSE stream
(``message_start``, ``content_block_start``/``_delta``/``_stop`` with ``text_delta``,
``input_json_delta``, ``thinking_delta``, ``signature_delta``, ``ping``, ``message_delta`` with
``stop_reason`` and usage, ``message_stop``, ``error``), and its error bodies
``{"type":"error","error":{"type":...,"message":...}}`` with statuses 400/401/429/529.

Served by ``mock_upstream.py`` (its routes include these) or alone:

    python bench/proxy/mock_anthropic.py --port 8099

Without directives it answers a fixed text message. Test directives, in the last user
message's text (a string or the last text block): ``mock:text=...;stop=max_tokens;
usage=IN,OUT;cache=CREATE,READ;blocks=thinking,text,tool;status=529;error_at=N;model=...;
gap=S``. ``blocks`` orders the content blocks; ``error_at=N`` ends a stream with an ``error``
event after N events; ``status`` answers that error status (Anthropic's error type for it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import uuid

from aiohttp import web

TEXT = "This is a mock response from the local upstream."
RECORD = os.environ.get("MOCK_RECORD")  # append each request (headers, body) as JSON lines
CALLS = {"n": 0}

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}
ERROR_MESSAGES = {400: "messages: roles must alternate between \"user\" and \"assistant\"",
                  401: "invalid x-api-key", 429: "Number of request tokens has exceeded your per-minute rate limit",
                  529: "Overloaded"}


def directives(body: dict) -> dict:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return {}
    text = messages[-1].get("content")
    if isinstance(text, list):
        texts = [b.get("text") for b in text if isinstance(b, dict) and b.get("type") == "text"]
        text = texts[-1] if texts else None
    return parse_directives(text)


def parse_directives(text) -> dict:
    """``mock:k=v;k=v`` (shared with mock_upstream.py's chat directives); anything else: none."""
    if not isinstance(text, str) or not text.startswith("mock:"):
        return {}
    out = {}
    for part in text[5:].split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v
    return out


def error_body(status: int) -> dict:
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"),
                                       "message": ERROR_MESSAGES.get(status, "Internal server error")}}


def _blocks(d: dict) -> list:
    """The answer's content blocks, in order."""
    out = []
    for kind in (d.get("blocks") or "text").split(","):
        if kind == "text":
            out.append({"type": "text", "text": d.get("text", TEXT)})
        elif kind == "thinking":
            out.append({"type": "thinking", "thinking": "The user wants a short answer. Keep it brief.",
                        "signature": "EqQBCgIYAhIM" + uuid.uuid4().hex})
        elif kind == "tool":
            out.append({"type": "tool_use", "id": "toolu_01" + uuid.uuid4().hex[:22], "name": "get_weather",
                        "input": {"location": "San Francisco, CA", "unit": "celsius"}})
    return out


def _usage(d: dict, output_tokens: int = None) -> dict:
    i, o = (int(x) for x in d.get("usage", "12,10").split(","))
    c, r = (int(x) for x in d.get("cache", "0,0").split(","))
    return {"input_tokens": i, "cache_creation_input_tokens": c, "cache_read_input_tokens": r,
            "cache_creation": {"ephemeral_5m_input_tokens": c, "ephemeral_1h_input_tokens": 0},
            "output_tokens": o if output_tokens is None else output_tokens, "service_tier": "standard"}


def _stop_reason(d: dict, blocks: list) -> str:
    if "stop" in d:
        return d["stop"]
    return "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"


def message(body: dict, d: dict) -> dict:
    blocks = _blocks(d)
    stop = _stop_reason(d, blocks)
    return {"id": "msg_01" + uuid.uuid4().hex[:22], "type": "message", "role": "assistant",
            "model": d.get("model", body.get("model", "claude-sonnet-4-5-20250929")), "content": blocks,
            "stop_reason": stop, "stop_sequence": d.get("stop_sequence") if stop == "stop_sequence" else None,
            "usage": _usage(d)}


def _pieces(text: str, n: int = 4) -> list:
    step = max(1, -(-len(text) // n))
    return [text[i:i + step] for i in range(0, len(text), step)] or [""]


def events(body: dict, d: dict):
    """Anthropic's SSE events for the same answer ``message`` gives."""
    full = message(body, d)
    start = dict(full, content=[], stop_reason=None, stop_sequence=None,
                 usage=dict(_usage(d, output_tokens=1)))
    yield "message_start", {"type": "message_start", "message": start}
    for i, b in enumerate(full["content"]):
        if b["type"] == "text":
            yield "content_block_start", {"type": "content_block_start", "index": i,
                                          "content_block": {"type": "text", "text": ""}}
            if i == 0:
                yield "ping", {"type": "ping"}
            for p in _pieces(b["text"]):
                yield "content_block_delta", {"type": "content_block_delta", "index": i,
                                              "delta": {"type": "text_delta", "text": p}}
        elif b["type"] == "thinking":
            yield "content_block_start", {"type": "content_block_start", "index": i,
                                          "content_block": {"type": "thinking", "thinking": "", "signature": ""}}
            for p in _pieces(b["thinking"]):
                yield "content_block_delta", {"type": "content_block_delta", "index": i,
                                              "delta": {"type": "thinking_delta", "thinking": p}}
            yield "content_block_delta", {"type": "content_block_delta", "index": i,
                                          "delta": {"type": "signature_delta", "signature": b["signature"]}}
        else:
            yield "content_block_start", {"type": "content_block_start", "index": i,
                                          "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"],
                                                            "input": {}}}
            for p in _pieces(json.dumps(b["input"], separators=(",", ":")), 3):
                yield "content_block_delta", {"type": "content_block_delta", "index": i,
                                              "delta": {"type": "input_json_delta", "partial_json": p}}
        yield "content_block_stop", {"type": "content_block_stop", "index": i}
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": full["stop_reason"], "stop_sequence": full["stop_sequence"]},
                            "usage": {"output_tokens": full["usage"]["output_tokens"]}}
    yield "message_stop", {"type": "message_stop"}


def _json(obj: dict, status: int = 200) -> web.Response:
    """Compact UTF-8 JSON, as Anthropic's API sends it."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return web.Response(body=text.encode(), status=status, headers={"Content-Type": "application/json"})


async def messages(request: web.Request) -> web.StreamResponse:
    CALLS["n"] += 1
    raw = await request.text()
    body = json.loads(raw)
    if RECORD is not None:
        # `raw`: the body's exact text, for tests that compare bytes (key order, number formats).
        with open(RECORD, "a") as fh:
            fh.write(json.dumps({"path": request.path, "headers": dict(request.headers), "body": body, "raw": raw}) + "\n")
    d = directives(body)
    if "sleep" in d:
        await asyncio.sleep(float(d["sleep"]))
    status = int(d.get("status", "200"))
    if status != 200:
        return _json(error_body(status), status)
    if not body.get("stream"):
        return _json(message(body, d))
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    gap, error_at = float(d.get("gap", 0)), int(d.get("error_at", -1))
    for i, (name, payload) in enumerate(events(body, d)):
        if i == error_at:
            await resp.write(f"event: error\ndata: {json.dumps(error_body(529))}\n\n".encode())
            break
        if gap and i:
            await asyncio.sleep(gap)
        await resp.write(f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode())
    await resp.write_eof()
    return resp


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/messages", messages)


async def _calls(request: web.Request) -> web.Response:
    return web.json_response({"calls": CALLS["n"]})


async def _models(request: web.Request) -> web.Response:
    return web.json_response({"data": [{"type": "model", "id": "claude-sonnet-4-5-20250929"}]})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8099)
    args = ap.parse_args()
    app = web.Application()
    add_routes(app)
    app.router.add_get("/_mock/calls", _calls)
    app.router.add_get("/v1/models", _models)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
