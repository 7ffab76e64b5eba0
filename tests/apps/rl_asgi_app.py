"""An ASGI app that runs LiteLLM's v1 proxy limiter on every request.

It never imports fast_litellm itself: under ``fast-litellm run`` the launcher
has, and the limiter built here counts in the table the launcher shares
between workers (FAST_LITELLM_RATE_LIMIT_SHM). ``GET /?key=K&rpm=N`` answers
200 (admitted) or 429 (refused), with the worker's pid.
"""

import json
import os
import urllib.parse

from litellm.caching.dual_cache import DualCache
from litellm.proxy._types import UserAPIKeyAuth
from litellm.proxy.hooks.parallel_request_limiter import _PROXY_MaxParallelRequestsHandler
from litellm.proxy.utils import InternalUsageCache

LIMITER = _PROXY_MaxParallelRequestsHandler(InternalUsageCache(DualCache(default_in_memory_ttl=1)))


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    q = dict(urllib.parse.parse_qsl(scope.get("query_string", b"").decode()))
    auth = UserAPIKeyAuth(api_key=q.get("key", "sk-x"), rpm_limit=int(q.get("rpm", "3")))
    status = 200
    try:
        await LIMITER.async_pre_call_hook(user_api_key_dict=auth, cache=DualCache(), data={"model": "m"}, call_type="completion")
    except Exception as exc:
        status = getattr(exc, "status_code", 500)
    body = json.dumps(
        {"pid": os.getpid(), "shared": "_fast_litellm_windows" in LIMITER.__dict__ and LIMITER._fast_litellm_windows.shared}
    ).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
