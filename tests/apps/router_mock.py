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
    ``usage=I,O``, ``content=``, ``status=``, ``annotations=1`` (out of the verified shape)."""
    body = await request.json()
    d = _responses_directives(body)
    if body.get("stream"):
        return await mock.responses(request)
    if "status" in d and d["status"] != "200":
        err = {"error": {"message": "mock upstream error", "type": "mock_error", "param": None, "code": d["status"]}}
        return web.json_response(err, status=int(d["status"]))
    out = mock._response(d.get("model", body.get("model", "gpt-4o-mini")))
    if "usage" in d:
        i, o = (int(x) for x in d["usage"].split(","))
        out["usage"].update(input_tokens=i, output_tokens=o, total_tokens=i + o)
    if "content" in d:
        out["output"][0]["content"][0]["text"] = d["content"]
    if d.get("annotations"):
        out["output"][0]["content"][0]["annotations"] = [{"type": "url_citation", "url": "http://x"}]
    return web.json_response(out)


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
