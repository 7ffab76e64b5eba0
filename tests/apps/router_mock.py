"""The load rig's mock upstream plus per-deployment failure modes, for the router tests.

A deployment's ``api_base`` picks its behaviour, whatever the request says:
``/fail/<status>/v1``: always that error status; ``/slow/<seconds>/v1``: answers after a
delay; ``/v1``: the normal mock (its ``mock:`` directives work as usual).

    python tests/apps/router_mock.py --port 8099
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
from pathlib import Path

from aiohttp import web

_spec = importlib.util.spec_from_file_location(
    "mock_upstream", Path(__file__).resolve().parents[2] / "bench" / "proxy" / "mock_upstream.py")
mock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mock)


async def fail(request: web.Request) -> web.Response:
    status = int(request.match_info["status"])
    err = {"error": {"message": "mock upstream error", "type": "mock_error", "param": None, "code": str(status)}}
    return web.json_response(err, status=status)


async def slow(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(float(request.match_info["seconds"]))
    return await mock.chat(request)


def _responses_directives(body: dict) -> dict:
    text = body.get("input")
    if isinstance(text, list) and text and isinstance(text[-1], dict):
        text = text[-1].get("content")
    return mock._directives({"messages": [{"content": text}]}) if isinstance(text, str) else {}


async def responses(request: web.Request) -> web.StreamResponse:
    """The mock's /responses, with ``mock:`` directives in the (last) input: ``model=``,
    ``usage=I,O``, ``content=``, ``status=``, ``annotations=1`` (out of the verified shape);
    streaming: see ``_openai_events``."""
    body = await request.json()
    d = _responses_directives(body)
    if "status" in d and d["status"] != "200":
        err = {"error": {"message": "mock upstream error", "type": "mock_error", "param": None, "code": d["status"]}}
        return web.json_response(err, status=int(d["status"]))
    if body.get("stream"):
        if not d:
            return await mock.responses(request)
        events = _openai_events(d.get("model", body.get("model", "gpt-4o-mini")), d)
        return await mock._sse(request, events)
    out = mock._response(d.get("model", body.get("model", "gpt-4o-mini")))
    if "usage" in d:
        i, o = (int(x) for x in d["usage"].split(","))
        out["usage"].update(input_tokens=i, output_tokens=o, total_tokens=i + o)
    if "content" in d:
        out["output"][0]["content"][0]["text"] = d["content"]
    if d.get("annotations"):
        out["output"][0]["content"][0]["annotations"] = [{"type": "url_citation", "url": "http://x"}]
    return web.json_response(out)


def _openai_response(model, rid, created, status, output, usage, d):
    r = {"id": rid, "object": "response", "created_at": created, "status": status, "background": False,
         "error": None, "incomplete_details": None, "instructions": None, "max_output_tokens": None,
         "max_tool_calls": None, "model": model, "output": output, "parallel_tool_calls": True,
         "previous_response_id": None, "prompt_cache_key": None, "reasoning": {"effort": None, "summary": None},
         "safety_identifier": None, "service_tier": "default" if d.get("tier") else "auto", "store": True,
         "temperature": 1 if d.get("int_temp") else 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"},
         "tool_choice": "auto", "tools": [{"type": "web_search"}] if d.get("tools") else [], "top_logprobs": 0,
         "top_p": 1.0, "truncation": "disabled", "usage": usage, "user": None, "metadata": {}}
    return r


def _openai_events(model, d):
    """A Responses API stream as OpenAI sends it for a text answer (``events=mini``: only
    created, deltas and completed, as the load rig's mock). Directives: ``pieces=a|b|c``
    (the text deltas), ``usage=I,O``, ``obfuscation=1`` (on deltas), ``tier=1``,
    ``int_temp=1`` (``temperature: 1``), and, out of the verified shape, ``reasoning=1`` (a
    reasoning item before the message) and ``tools=1`` (a tool in the response)."""
    import time
    import uuid

    pieces = d.get("pieces", "Hello| there").split("|")
    i, o = (int(x) for x in d.get("usage", "12,10").split(","))
    usage = {"input_tokens": i, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": o,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": i + o}
    rid, mid, created = "resp_" + uuid.uuid4().hex, "msg_" + uuid.uuid4().hex, int(time.time())
    text = "".join(pieces)
    if d.get("events") == "mini":
        full = mock._response(model)
        full["output"][0].update(id=mid)
        full["output"][0]["content"][0]["text"] = text
        full["usage"].update(input_tokens=i, output_tokens=o, total_tokens=i + o)
        yield "response.created", {"type": "response.created", "response": dict(full, status="in_progress", output=[], usage=None)}
        for p in pieces:
            yield "response.output_text.delta", {"type": "response.output_text.delta", "item_id": mid,
                                                 "output_index": 0, "content_index": 0, "delta": p}
        yield "response.completed", {"type": "response.completed", "response": full}
        return
    seq = iter(range(1 << 20))
    r0 = _openai_response(model, rid, created, "in_progress", [], None, d)
    yield "response.created", {"type": "response.created", "sequence_number": next(seq), "response": r0}
    yield "response.in_progress", {"type": "response.in_progress", "sequence_number": next(seq), "response": r0}
    index = 0
    if d.get("reasoning"):
        item = {"id": "rs_" + uuid.uuid4().hex, "type": "reasoning", "summary": []}
        yield "response.output_item.added", {"type": "response.output_item.added", "sequence_number": next(seq),
                                             "output_index": 0, "item": item}
        yield "response.output_item.done", {"type": "response.output_item.done", "sequence_number": next(seq),
                                            "output_index": 0, "item": item}
        index = 1
    item0 = {"id": mid, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    yield "response.output_item.added", {"type": "response.output_item.added", "sequence_number": next(seq),
                                         "output_index": index, "item": item0}
    part0 = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    yield "response.content_part.added", {"type": "response.content_part.added", "sequence_number": next(seq),
                                          "item_id": mid, "output_index": index, "content_index": 0, "part": part0}
    for p in pieces:
        ev = {"type": "response.output_text.delta", "sequence_number": next(seq), "item_id": mid,
              "output_index": index, "content_index": 0, "delta": p, "logprobs": []}
        if d.get("obfuscation"):
            ev["obfuscation"] = uuid.uuid4().hex[: len(p) % 7 + 3]
        yield "response.output_text.delta", ev
    yield "response.output_text.done", {"type": "response.output_text.done", "sequence_number": next(seq),
                                        "item_id": mid, "output_index": index, "content_index": 0, "text": text,
                                        "logprobs": []}
    part = dict(part0, text=text)
    yield "response.content_part.done", {"type": "response.content_part.done", "sequence_number": next(seq),
                                         "item_id": mid, "output_index": index, "content_index": 0, "part": part}
    item = dict(item0, status="completed", content=[part])
    yield "response.output_item.done", {"type": "response.output_item.done", "sequence_number": next(seq),
                                        "output_index": index, "item": item}
    r1 = _openai_response(model, rid, created, "completed", [item], usage, d)
    yield "response.completed", {"type": "response.completed", "sequence_number": next(seq), "response": r1}


def make_app() -> web.Application:
    app = web.Application()
    for prefix in ("", "/v1"):
        app.router.add_post(prefix + "/chat/completions", mock.chat)
        app.router.add_post(prefix + "/responses", responses)
        app.router.add_get(prefix + "/models", mock.models)
    app.router.add_post("/fail/{status}/v1/chat/completions", fail)
    app.router.add_post("/slow/{seconds}/v1/chat/completions", slow)
    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8099)
    args = ap.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
