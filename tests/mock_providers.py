"""A local upstream for the fast lane's provider corpus (tests/test_fast_lane_providers.py):
OpenAI's routes (``/v1/chat/completions``) and Azure OpenAI's deployment route
(``/openai/deployments/<d>/chat/completions?api-version=...``), answering streaming and
non-streaming chat completions in the shapes of ``mock_answer_variants`` /
``mock_stream_variants`` (the last message picks one: ``mock:variant=<name>;nonce=<n>``).

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
        return await streams.chat_from(request, body)
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
