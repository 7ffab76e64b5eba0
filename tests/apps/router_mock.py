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


def make_app() -> web.Application:
    app = mock.make_app()
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
