"""LiteLLM's answer to an upstream answer the fast lane already holds: one upstream call.

When the Rust front called the upstream for a non-streaming request but cannot reproduce
LiteLLM's answer to what came back (a shape outside its envelope, an error status, a
timeout or a failed connection), it does not call the upstream again through LiteLLM.
It forwards the client's request to the proxy behind it with the upstream's answer
attached (``crates/fastlane/src/held.rs``):

* header ``x-fast-litellm-held: <launch secret>`` (``FAST_LITELLM_LANE_LOG_SECRET``);
  the front strips that header from every client request, and a request whose header
  does not carry the secret goes on without it, unchanged;
* body: one line of JSON (status, headers, upstream URL, api_base, deployment id,
  ``request_len``, ``error``), then the client's body, then the upstream's body.

:class:`HeldAnswers`, the outermost layer of LiteLLM's ASGI app in a process the fast lane
launched, takes that apart: LiteLLM's whole app (middleware, auth, router, endpoint,
callbacks) handles the client's request as received, and its upstream call (``POST
<api_base><path>`` of that deployment, the front's pick for a group of several) gets the
held answer instead of going to the network (``replay._Canned``, one-shot, in this
request's context only). What LiteLLM does after that answer -- a retry, a fallback -- goes
to the network, as stock's would. The client gets stock's answer to that upstream answer,
and LiteLLM logs the request itself (no logging record is queued for it).
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Dict, List, Optional

from . import replay
from .replay import _Armed

HEADER = b"x-fast-litellm-held"


class HeldAnswers:
    """ASGI middleware: a request from the front with a held upstream answer."""

    def __init__(self, app: Any, secret: str) -> None:
        self.app = app
        self.secret = secret.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not any(k == HEADER for k, _ in scope.get("headers") or ()):
            await self.app(scope, receive, send)
            return
        marker = b"".join(v for k, v in scope["headers"] if k == HEADER)
        headers = [(k, v) for k, v in scope["headers"] if k != HEADER]
        if not hmac.compare_digest(marker, self.secret):
            # Not from the front: the request goes on as sent, minus the marker.
            await self.app(dict(scope, headers=headers), receive, send)
            return
        chunks: List[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the front went away before the body arrived
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        cut = raw.index(b"\n")
        head = json.loads(raw[:cut])
        rest = raw[cut + 1:]
        n = int(head["request_len"])
        client_body, upstream_body = rest[:n], rest[n:]
        headers = [(k, str(n).encode() if k == b"content-length" else v) for k, v in headers]
        sent = False

        async def client_receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": client_body, "more_body": False}
            return await receive()  # the front's disconnect, when it comes

        armed = _Armed(head, body=upstream_body)
        try:
            await self.app(dict(scope, headers=headers), client_receive, send)
        finally:
            armed.close()


def install(app: Any, secret: str) -> None:
    """Make :class:`HeldAnswers` the outermost layer of ``app`` (outside LiteLLM's own middleware)."""
    if getattr(app, "_fast_litellm_held", False):
        return
    app._fast_litellm_held = True
    if getattr(app, "middleware_stack", None) is not None:
        app.middleware_stack = HeldAnswers(app.middleware_stack, secret)
        return
    build = app.build_middleware_stack

    def build_with_held() -> Any:
        return HeldAnswers(build(), secret)

    app.build_middleware_stack = build_with_held


def arm(env: Optional[Dict[str, str]] = None) -> bool:
    """In a process the fast lane launched: LiteLLM's app gets the logging route and this layer."""
    return replay.arm(env, also=install)
