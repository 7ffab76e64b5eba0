"""A local OpenAI-compatible upstream for the proxy load rig and tests.

Serves /v1/chat/completions and /v1/responses, JSON or SSE (``"stream": true``),
/v1/embeddings, and Azure's deployment URLs (/openai/deployments/<d>/chat/completions
and .../embeddings, ``api-version`` required, answered in Azure's shape), with fixed
content, so what is measured is the proxy, not a model. Anthropic's /v1/messages too
(``mock_anthropic.py``). Listens on 127.0.0.1 only.

    python bench/proxy/mock_upstream.py --port 8099
    python bench/proxy/mock_upstream.py --port 8099 --shape openai   # non-streaming chat as OpenAI sends it
    python bench/proxy/mock_upstream.py --port 8099 --tls-dir DIR    # https, with a CA made in DIR (ca.pem)

``--shape`` (or ``MOCK_SHAPE``): ``mock`` (default; the shape the tests verify), ``openai``
(OpenAI's current documented non-streaming answer: ``refusal``, ``annotations``, usage token
details, ``service_tier``, ``system_fingerprint``) or ``vllm`` (vLLM's: ``reasoning_content``,
``tool_calls: []``, ``stop_reason``, ``prompt_logprobs``, no fingerprint).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import ssl
import struct
import time
import uuid
from pathlib import Path

from aiohttp import web

import importlib.util as _ilu

_spec = _ilu.spec_from_file_location("mock_anthropic", Path(__file__).resolve().parent / "mock_anthropic.py")
mock_anthropic = _ilu.module_from_spec(_spec)
_spec.loader.exec_module(mock_anthropic)

CONTENT = "This is a mock response from the local upstream."
WORDS = CONTENT.split(" ")
RECORD = os.environ.get("MOCK_RECORD")  # append each chat request (headers, body) as JSON lines
SHAPE = os.environ.get("MOCK_SHAPE") or "mock"  # the non-streaming chat answer's shape (see the docstring)
EMBED_DIMS = 1536  # text-embedding-3-small's size: the answer weighs what a real one does
CALLS = {"n": 0}  # POSTs answered, read by the rig at GET /_mock/calls (upstream calls per client request)
mock_anthropic.CALLS = CALLS  # Anthropic's /v1/messages (mock_anthropic.py) counts in the same total


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


_FILTER_OK = {k: {"filtered": False, "severity": "safe"} for k in ("hate", "self_harm", "sexual", "violence")}


def _shaped_completion(model: str, shape: str) -> dict:
    """The fixed answer in a real server's non-streaming shape (key order as that server sends it)."""
    cid, created = "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time())
    if shape == "openai":
        return {
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0,
                         "message": {"role": "assistant", "content": CONTENT, "refusal": None, "annotations": []},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                    "accepted_prediction_tokens": 0,
                                                    "rejected_prediction_tokens": 0}},
            "service_tier": "default", "system_fingerprint": "fp_mock",
        }
    if shape == "vllm":
        return {
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0,
                         "message": {"role": "assistant", "reasoning_content": None, "content": CONTENT,
                                     "tool_calls": []},
                         "logprobs": None, "finish_reason": "stop", "stop_reason": None}],
            "usage": {"prompt_tokens": 12, "total_tokens": 22, "completion_tokens": 10,
                      "prompt_tokens_details": None},
            "prompt_logprobs": None,
        }
    if shape == "azure":  # Azure OpenAI: content-filter results, keys sorted as Azure sends them
        return {
            "choices": [{"content_filter_results": _FILTER_OK, "finish_reason": "stop", "index": 0,
                         "logprobs": None,
                         "message": {"annotations": [], "content": CONTENT, "refusal": None, "role": "assistant"}}],
            "created": created, "id": cid, "model": model, "object": "chat.completion",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTER_OK}],
            "system_fingerprint": "fp_mock",
            "usage": {"completion_tokens": 10,
                      "completion_tokens_details": {"accepted_prediction_tokens": 0, "audio_tokens": 0,
                                                    "reasoning_tokens": 0, "rejected_prediction_tokens": 0},
                      "prompt_tokens": 12, "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0},
                      "total_tokens": 22},
        }
    return _plain_completion(model)


# The fixed vector, made once: the mock's time per request goes to answering, not to arithmetic.
_EMBED_VECTOR = [round(((i * 7919) % 1000) / 1000.0 - 0.5, 6) for i in range(EMBED_DIMS)]
_EMBED_PACKED = base64.b64encode(struct.pack(f"<{EMBED_DIMS}f", *_EMBED_VECTOR)).decode()


def _embed_inputs(body: dict) -> int:
    """How many inputs an embeddings request has (a list of token ids is one input)."""
    inputs = body.get("input")
    return len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1


def _embeddings(body: dict) -> dict:
    """OpenAI's embeddings answer; ``encoding_format: base64`` (what the openai SDK asks for by
    default) gets little-endian float32 in base64, as OpenAI sends it."""
    count = _embed_inputs(body)
    b64 = body.get("encoding_format") == "base64"
    data = [{"object": "embedding", "index": i, "embedding": _EMBED_PACKED if b64 else _EMBED_VECTOR}
            for i in range(count)]
    n = 5 * count
    return {"object": "list", "data": data, "model": body.get("model", "text-embedding-3-small"),
            "usage": {"prompt_tokens": n, "total_tokens": n}}


_AZURE_FILTERS = {"hate": {"filtered": False, "severity": "safe"}, "self_harm": {"filtered": False, "severity": "safe"},
                  "sexual": {"filtered": False, "severity": "safe"}, "violence": {"filtered": False, "severity": "safe"}}


def _azure_chunks(chunks):
    """Azure OpenAI's stream: a first chunk of the prompt's filter results, each choice's filter results."""
    yield {"choices": [], "created": 0, "id": "", "model": "", "object": "",
           "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _AZURE_FILTERS}]}
    for c in chunks:
        for choice in c["choices"]:
            text = choice["delta"].get("content")
            choice["content_filter_results"] = _AZURE_FILTERS if text and choice["finish_reason"] is None else {}
        yield c


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
    return mock_anthropic.parse_directives(messages[-1].get("content"))


async def chat(request: web.Request) -> web.StreamResponse:
    CALLS["n"] += 1
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
        chunks = _chat_chunks(model, body, d)
        if request.get("shape") == "azure":
            chunks = _azure_chunks(chunks)
        return await _sse(request, ((None, c) for c in chunks), float(d.get("gap", 0)))
    out = _shaped_completion(d.get("model", model), request.get("shape", SHAPE))
    if "usage" in d:
        p, c = (int(x) for x in d["usage"].split(","))
        out["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    if "content" in d:
        out["choices"][0]["message"]["content"] = d["content"]
    if "finish" in d:
        out["choices"][0]["finish_reason"] = d["finish"]
    return web.json_response(out)


async def responses(request: web.Request) -> web.StreamResponse:
    CALLS["n"] += 1
    body = await request.json()
    model = body.get("model", "gpt-4o-mini")
    if body.get("stream"):
        return await _sse(request, _response_events(model))
    return web.json_response(_response(model))


# Serialised answers by (model, format, inputs): printing 1,536 floats per request made the mock,
# not the proxy, the slowest part of the embeddings scenario.
_EMBED_BODIES: dict = {}


async def embeddings(request: web.Request) -> web.Response:
    CALLS["n"] += 1
    body = await request.json()
    shape = (repr(body.get("model")), body.get("encoding_format") == "base64", _embed_inputs(body))
    raw = _EMBED_BODIES.get(shape)
    if raw is None:
        raw = _EMBED_BODIES[shape] = json.dumps(_embeddings(body))
    return web.json_response(text=raw)  # the headers json_response gives


def _azure(handler, shape=None):
    """Azure's deployment route: ``api-version`` is required (Azure answers 404 without it)."""
    async def route(request: web.Request) -> web.StreamResponse:
        if "api-version" not in request.query:
            return web.json_response({"error": {"code": "404", "message": "Resource not found"}}, status=404)
        if shape:
            request["shape"] = shape
        return await handler(request)
    return route


async def calls(request: web.Request) -> web.Response:
    return web.json_response({"calls": CALLS["n"]})


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})


def make_app() -> web.Application:
    app = web.Application()
    for prefix in ("", "/v1"):
        app.router.add_post(prefix + "/chat/completions", chat)
        app.router.add_post(prefix + "/responses", responses)
        app.router.add_get(prefix + "/models", models)
        app.router.add_post(prefix + "/embeddings", embeddings)
    app.router.add_get("/_mock/calls", calls)
    mock_anthropic.add_routes(app)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", _azure(chat, "azure"))
    app.router.add_post("/openai/deployments/{deployment}/embeddings", _azure(embeddings))
    return app


def tls_context(directory: str) -> ssl.SSLContext:
    """A CA (``ca.pem``, for the client to trust) and a server certificate for 127.0.0.1/localhost
    signed by it, made in ``directory`` unless already there."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cert, key = d / "server.pem", d / "server.key"
    if not cert.exists():
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key, srv_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fast-litellm rig CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False, data_encipherment=False,
                                           key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
        srv = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
               .issuer_name(ca_name).public_key(srv_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                           x509.DNSName("localhost")]), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        (d / "ca.pem").write_bytes(ca.public_bytes(pem))
        key.write_bytes(srv_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        cert.write_bytes(srv.public_bytes(pem))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--shape", choices=("mock", "openai", "vllm", "azure"), help="non-streaming chat answer shape")
    ap.add_argument("--tls-dir", help="serve https; the CA (ca.pem) and server certificate are made here")
    args = ap.parse_args()
    global SHAPE
    if args.shape:
        SHAPE = args.shape
    ctx = tls_context(args.tls_dir) if args.tls_dir else None
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None, ssl_context=ctx)


if __name__ == "__main__":
    main()
