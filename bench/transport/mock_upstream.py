"""A local OpenAI-compatible upstream for the transport tests and benchmarks.

Run: python mock_upstream.py [port]  (prints "PORT <n>" once listening; port 0 picks one).

Routes:
  POST /v1/chat/completions   chat completion JSON, or SSE chunks when the body has "stream": true
  POST /v1/embeddings         embedding JSON
  any  /status/{code}         an OpenAI-style error body with that status
  any  /slow/{seconds}        waits, then a chat completion
  any  /stall-body            sends the head and part of a body, then waits 30 s
  any  /truncated             promises a longer body than it sends, then closes
  any  /echo                  the request's method, path, headers and body as JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from aiohttp import web

COMPLETION = {
    "id": "chatcmpl-mock",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "system_fingerprint": "fp_mock",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello from the mock upstream! " * 4, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 21, "completion_tokens": 32, "total_tokens": 53},
}
HEADERS = {
    "x-request-id": "req-mock",
    "openai-processing-ms": "12",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-limit-tokens": "1000000",
}


def _sse_chunk(i: int, content, finish=None) -> bytes:
    chunk = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "delta": ({"content": content} if content is not None else {}), "logprobs": None, "finish_reason": finish}],
    }
    if i == 0:
        chunk["choices"][0]["delta"] = {"role": "assistant", "content": ""}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


async def chat(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        payload = {}
    if payload.get("stream"):
        resp = web.StreamResponse(status=200, headers={**HEADERS, "Content-Type": "text/event-stream"})
        await resp.prepare(request)
        words = ["Hello", " from", " the", " mock", " upstream", "!"]
        await resp.write(_sse_chunk(0, ""))
        for i, w in enumerate(words, 1):
            await resp.write(_sse_chunk(i, w))
        await resp.write(_sse_chunk(len(words) + 1, None, "stop"))
        usage = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini",
                 "choices": [], "usage": COMPLETION["usage"]}
        if (payload.get("stream_options") or {}).get("include_usage"):
            await resp.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
    return web.json_response(COMPLETION, headers=HEADERS)


async def embeddings(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response(
        {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2, 0.3]}],
         "model": "text-embedding-3-small", "usage": {"prompt_tokens": 3, "total_tokens": 3}},
        headers=HEADERS,
    )


async def status(request: web.Request) -> web.Response:
    await request.read()
    code = int(request.match_info["code"])
    body = {"error": {"message": f"mock error {code}", "type": "invalid_request_error", "param": None, "code": str(code)}}
    return web.json_response(body, status=code, headers=HEADERS)


async def slow(request: web.Request) -> web.Response:
    await request.read()
    await asyncio.sleep(float(request.match_info["seconds"]))
    return web.json_response(COMPLETION, headers=HEADERS)


async def stall_body(request: web.Request) -> web.StreamResponse:
    await request.read()
    resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(b"data: first\n\n")
    await asyncio.sleep(30)
    return resp


async def truncated(request: web.Request) -> web.StreamResponse:
    await request.read()
    resp = web.StreamResponse(status=200, headers={"Content-Length": "1000", "Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(b'{"partial": ')
    request.transport.close()
    return resp


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {"method": request.method, "path": request.path_qs, "headers": [[k, v] for k, v in request.headers.items()],
         "body": body.decode("latin-1")}
    )


def app() -> web.Application:
    a = web.Application(client_max_size=64 * 1024 * 1024)
    a.router.add_post("/v1/chat/completions", chat)
    a.router.add_post("/chat/completions", chat)
    a.router.add_post("/v1/embeddings", embeddings)
    a.router.add_route("*", "/status/{code}", status)
    a.router.add_route("*", "/status/{code}/{rest:.*}", status)
    a.router.add_route("*", "/slow/{seconds}", slow)
    a.router.add_route("*", "/slow/{seconds}/{rest:.*}", slow)
    a.router.add_route("*", "/stall-body", stall_body)
    a.router.add_route("*", "/truncated", truncated)
    a.router.add_route("*", "/echo", echo)
    a.router.add_route("*", "/echo/{rest:.*}", echo)
    return a


async def main(port: int) -> None:
    runner = web.AppRunner(app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    sock = site._server.sockets[0]  # type: ignore[union-attr]
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    while True:
        await asyncio.sleep(3600)


if __name__ == "__main__":
    try:
        import uvloop  # type: ignore

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
