"""A WSGI app that reports whether Fast LiteLLM is active in the worker serving it.

It never imports fast_litellm itself: only the launcher can have put it there.
"""

import json
import os
import sys
import time

import litellm  # noqa: F401


def app(environ, start_response):
    time.sleep(float(environ.get("QUERY_STRING", "").partition("sleep=")[2] or 0))
    fl = sys.modules.get("fast_litellm")
    body = {
        "pid": os.getpid(),
        "fast_litellm_loaded": fl is not None,
        "status": fl.status() if fl is not None else None,
    }
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
