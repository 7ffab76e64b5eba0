"""The client's address in the LiteLLM proxy behind the fast lane.

The Rust front forwards a request's headers as the client sent them and adds one of its
own, ``x-fast-litellm-peer: <launch secret> <ip> <port>``: the real peer of the client
connection (``crates/fastlane/src/forwarded.rs``; a client's own header of that name is
removed). In the proxy process :class:`PeerMiddleware`, the outermost middleware of
LiteLLM's app, checks the secret, removes the header, puts that peer in the ASGI scope
(``client``; ``scheme`` back to plain ``http``/``ws``) and then applies the proxy-header
rules of the server LiteLLM runs on, with that server's own code and settings
(uvicorn's ``ProxyHeadersMiddleware`` with ``FORWARDED_ALLOW_IPS``, gunicorn's
``forwarded_allow_ips`` for its uvicorn workers; hypercorn and granian apply none). So
``request.client``, the scheme and the headers are what the stock proxy would see for
that client, and every LiteLLM feature that reads them (IP allow lists, the MCP
public/private split, the admin-UI login throttle, ``requester_ip_address``) behaves
as without the front, whatever ``use_x_forwarded_for``/``mcp_trusted_proxy_ranges`` say.

The launcher starts the proxy with ``FORWARDED_ALLOW_IPS`` empty (the server itself trusts
no forwarded header, so if this middleware were missing LiteLLM would see the front's
address, never a client-chosen one) and the operator's value, if any, in
``FAST_LITELLM_FORWARDED_ALLOW_IPS`` for the middleware. A request without a valid peer
header (a local process on the internal port, the logging drainer) is left as the server
handed it over.
"""

from __future__ import annotations

import hmac
import os
import sys
from typing import Any, Dict, Optional

SECRET_ENV = "FAST_LITELLM_LANE_LOG_SECRET"  # one per-launch secret for both internal uses
SERVER_ENV = "FAST_LITELLM_FRONT_SERVER"
ALLOW_ENV = "FORWARDED_ALLOW_IPS"  # uvicorn's and gunicorn's setting
OPERATOR_ALLOW_ENV = "FAST_LITELLM_FORWARDED_ALLOW_IPS"  # the operator's value, kept for the middleware
PEER_HEADER = b"x-fast-litellm-peer"
_PROXY_MODULE = "litellm.proxy.proxy_server"


def server_kind(proxy_args: list) -> str:
    """Which server LiteLLM's CLI starts for these arguments."""
    for flag, kind in (("--run_gunicorn", "gunicorn"), ("--run_hypercorn", "hypercorn"), ("--run_granian", "granian")):
        if flag in proxy_args:
            return kind
    return "uvicorn"


def launch_env(env: Dict[str, str], proxy_args: list) -> Dict[str, str]:
    """The proxy process's environment additions (see the module doc)."""
    add = {SERVER_ENV: server_kind(proxy_args), ALLOW_ENV: ""}
    if env.get(ALLOW_ENV) is not None:
        add[OPERATOR_ALLOW_ENV] = env[ALLOW_ENV]
    return add


def trusted_hosts(kind: str, env: Optional[Dict[str, str]] = None) -> Optional[Any]:
    """The addresses the stock server would take X-Forwarded-For/-Proto from (the operator's
    ``FORWARDED_ALLOW_IPS`` or the server's default, read by the server's own code);
    ``None``: the server applies none."""
    if kind in ("hypercorn", "granian"):
        return None
    env = os.environ if env is None else env
    operator = env.get(OPERATOR_ALLOW_ENV)
    # The servers read their default from the environment: show them the operator's.
    saved = os.environ.pop(ALLOW_ENV, None)
    if operator is not None:
        os.environ[ALLOW_ENV] = operator
    try:
        if kind == "gunicorn":
            from gunicorn.config import Config as GunicornConfig

            return GunicornConfig().forwarded_allow_ips
        from uvicorn.config import Config as UvicornConfig

        # log_config=None: building a Config must not reconfigure the process's logging.
        return UvicornConfig(app="fast_litellm:unused", log_config=None).forwarded_allow_ips
    finally:
        os.environ.pop(ALLOW_ENV, None)
        if saved is not None:
            os.environ[ALLOW_ENV] = saved


def _parse(value: bytes, secret: bytes) -> Optional[tuple]:
    parts = value.split(b" ")
    if len(parts) != 3 or not hmac.compare_digest(parts[0], secret):
        return None
    try:
        return parts[1].decode("ascii"), int(parts[2])
    except (UnicodeDecodeError, ValueError):
        return None


class PeerMiddleware:
    """ASGI middleware: the front's peer header into ``scope["client"]`` (see the module doc)."""

    def __init__(self, app: Any, secret: str, trusted: Optional[Any]) -> None:
        self.app = app
        self.secret = secret.encode()
        if trusted is None:
            self.proxied = app
        else:
            from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

            self.proxied = ProxyHeadersMiddleware(app, trusted_hosts=trusted)

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = scope.get("headers") or []
        if not any(name == PEER_HEADER for name, _ in headers):
            return await self.app(scope, receive, send)
        peer = None
        kept = []
        for name, value in headers:
            if name == PEER_HEADER:
                peer = peer or _parse(value, self.secret)
            else:
                kept.append((name, value))
        scope = dict(scope, headers=kept)
        if peer is None:  # forged or stale: dropped, the request stays as the server saw it
            return await self.app(scope, receive, send)
        # Start again from the connection the client made to the front, then let the
        # server's own rules read X-Forwarded-* as they would have on the public port.
        scope["client"] = peer
        scope["scheme"] = "ws" if scope["type"] == "websocket" else "http"
        return await self.proxied(scope, receive, send)


# The front reads request heads up to 1 MiB (crates/fastlane/src/conn.rs).
FRONT_MAX_HEAD = 1 << 20


def allow_front_heads() -> None:
    """Let uvicorn's h11 parser take any head the front accepted, however it is segmented.

    h11 answers 400 when more than 16 KiB of a head is buffered before its end. A client
    talking to stock usually lands a large head in one read; the front's copy can arrive in
    two segments, so a 100 KiB head would fail sometimes behind the front and not without it.
    Only uvicorn's default changes: an operator's ``h11_max_incomplete_event_size`` wins."""
    try:
        from uvicorn.protocols.http import h11_impl
    except ImportError:  # another server: nothing to widen
        return
    if getattr(h11_impl, "DEFAULT_MAX_INCOMPLETE_EVENT_SIZE", 0) < FRONT_MAX_HEAD + (64 << 10):
        h11_impl.DEFAULT_MAX_INCOMPLETE_EVENT_SIZE = FRONT_MAX_HEAD + (64 << 10)


def install(app: Any, secret: str, kind: str) -> None:
    app.add_middleware(PeerMiddleware, secret=secret, trusted=trusted_hosts(kind))
    if kind in ("uvicorn", "gunicorn"):
        allow_front_heads()


def arm(env: Optional[Dict[str, str]] = None) -> bool:
    """In the proxy process the fast lane launched: add :class:`PeerMiddleware` to LiteLLM's app."""
    env = os.environ if env is None else env
    secret = env.get(SECRET_ENV)
    if not secret:
        return False
    kind = env.get(SERVER_ENV) or "uvicorn"
    mod = sys.modules.get(_PROXY_MODULE)
    if mod is not None and hasattr(mod, "app"):
        install(mod.app, secret, kind)
        return True

    def on_loaded(module: Any) -> None:
        if module.__name__ != _PROXY_MODULE:
            return
        try:
            install(module.app, secret, kind)
        except Exception as exc:  # never break the proxy's start
            sys.stderr.write(f"fast_litellm: fast-lane peer middleware not installed: {exc!r}\n")

    from .. import _hooks

    _hooks.install(on_loaded)
    return True
