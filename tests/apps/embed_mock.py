"""An OpenAI-shaped embeddings upstream for the fast-lane embeddings parity tests.

The answer is a pure function of the request body it receives (its canonical JSON), so the
stock proxy and the fast lane get the same vectors exactly when they send the same request:
a difference in what either sends upstream shows up as a difference in what the client gets.

* ``input``: a string, a list of strings, a list of ints (one token array) or a list of
  token arrays; one embedding per input;
* vector length: ``dimensions`` when given, else 8 (``dims=N`` directive);
* ``encoding_format: "base64"``: little-endian float32 in base64 (as OpenAI sends it), else a
  JSON list of floats: float32 values printed with their shortest float32 digits (OpenAI's
  style), or with ``values=f64`` any double;
* directives in the first string input, ``mock:k=v;k=v`` (the tests only): ``status=N`` an
  error answer, ``extra=1`` an unknown top-level field, ``model=NAME`` another model name,
  ``usage=none`` no usage, ``usage=P,T`` (prompt, total), ``ints=1`` some values as JSON ints,
  ``scale=E`` values around 10**E, ``header=1`` an extra response header, ``dims=N``.

``GET /_mock/calls``: POSTs answered so far; ``GET /_mock/last``: the last request's headers and body.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import struct

from aiohttp import web

STATE = {"calls": 0, "last": None}


def _directives(body: dict) -> dict:
    inp = body.get("input")
    first = inp if isinstance(inp, str) else (inp[0] if isinstance(inp, list) and inp and isinstance(inp[0], str) else "")
    if not first.startswith("mock:"):
        return {}
    return dict(kv.split("=", 1) for kv in first[5:].split(";") if "=" in kv)


def _count(inp) -> int:
    if isinstance(inp, list) and inp and not isinstance(inp[0], int):
        return len(inp)
    return 1


def _f32_text(x: float) -> str:
    """The shortest decimal that reads back as the same float32 (how OpenAI prints its floats)."""
    for digits in range(1, 10):
        s = f"{x:.{digits}g}"
        if struct.unpack("<f", struct.pack("<f", float(s)))[0] == x:
            return repr(float(s)) if "e" in s or "." in s else s + ".0"
    return repr(x)


def answer(body: dict):
    d = _directives(body)
    seed = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).digest()
    rng = random.Random(seed)
    if "status" in d:
        status = int(d["status"])
        return status, {"error": {"message": "mock error", "type": "invalid_request_error", "param": None,
                                  "code": None}}, {}
    dims = int(d.get("dims") or body.get("dimensions") or 8)
    b64 = body.get("encoding_format") == "base64"
    f64 = d.get("values") == "f64" and not b64  # base64 carries float32
    scale = int(d["scale"]) if "scale" in d and f64 else None
    data = []
    for i in range(_count(body.get("input"))):
        vals = []
        for _ in range(dims):
            e = scale if scale is not None else rng.choice([-1, -1, -1, -2, -3, -5, -6, -8, 0])
            x = rng.uniform(-1, 1) * 10.0 ** e
            if rng.random() < 0.02:
                x = rng.choice([0.0, -0.0, 1.0, -1.0, 0.5])
            if not f64:
                x = struct.unpack("<f", struct.pack("<f", x))[0]
            vals.append(x)
        if b64:
            emb = base64.b64encode(struct.pack(f"<{dims}f", *vals)).decode()
        elif f64:
            emb = vals
        else:
            emb = [json.loads(_f32_text(x)) for x in vals]
            if d.get("ints") == "1":
                emb = [int(x) if x == int(x) else x for x in emb] + [0, 1]
        data.append({"object": "embedding", "index": i, "embedding": emb})
    n = rng.randint(1, 10 ** rng.randint(1, 6))
    out = {"object": "list", "data": data, "model": d.get("model", body.get("model")),
           "usage": {"prompt_tokens": n, "total_tokens": n}}
    if "usage" in d:
        if d["usage"] == "none":
            del out["usage"]
        else:
            p, t = (int(x) for x in d["usage"].split(","))
            out["usage"] = {"prompt_tokens": p, "total_tokens": t}
    if d.get("extra") == "1":
        out["service_tier"] = "default"
    headers = {"x-request-id": "req_mock"} if d.get("header") == "1" else {}
    return 200, out, headers


async def embeddings(request: web.Request) -> web.Response:
    STATE["calls"] += 1
    raw = await request.read()
    STATE["last"] = {"path": request.path, "headers": dict(request.headers), "body": raw.decode("utf-8", "replace")}
    status, out, headers = answer(json.loads(raw))
    return web.Response(status=status, body=json.dumps(out).encode(), content_type="application/json", headers=headers)


async def calls(request: web.Request) -> web.Response:
    return web.json_response({"calls": STATE["calls"]})


async def last(request: web.Request) -> web.Response:
    return web.json_response(STATE["last"])


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": []})


def make_app() -> web.Application:
    app = web.Application()
    for prefix in ("", "/v1"):
        app.router.add_post(prefix + "/embeddings", embeddings)
        app.router.add_get(prefix + "/models", models)
    app.router.add_get("/_mock/calls", calls)
    app.router.add_get("/_mock/last", last)
    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    web.run_app(make_app(), host="127.0.0.1", port=ap.parse_args().port, print=None, access_log=None)


if __name__ == "__main__":
    main()
