"""A tiny local OpenAI-shaped upstream for the built-in quickstart config (no network, no keys).

``fast-litellm proxy`` without ``--config`` starts it on a free 127.0.0.1 port (a thread of the
launcher) and points the quickstart's fast-lane model group at it, so that group is answered by
the Rust fast lane exactly as LiteLLM would answer it. It answers ``POST /v1/chat/completions``
(JSON, or SSE with ``"stream": true``) with a fixed text in the shape OpenAI's API sends, and
``GET /v1/models``; anything else is a 404. Standard library only.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple

TEXT = "Hello from the Fast LiteLLM quickstart: the Rust fast lane served this (local mock upstream, no network)."


def _tokens(text: str) -> int:
    # A rough count (words): the quickstart shows the lanes, not a tokenizer.
    return max(1, len(text.split()))


def _prompt_tokens(body: Dict[str, Any]) -> int:
    msgs = body.get("messages") if isinstance(body.get("messages"), list) else []
    return sum(_tokens(m["content"]) for m in msgs if isinstance(m, dict) and isinstance(m.get("content"), str)) or 1


def completion(body: Dict[str, Any]) -> Dict[str, Any]:
    prompt, done = _prompt_tokens(body), _tokens(TEXT)
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:24], "object": "chat.completion", "created": int(time.time()),
        "model": str(body.get("model") or "mock"), "system_fingerprint": "fp_quickstart",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done},
    }


def chunks(body: Dict[str, Any]) -> List[Dict[str, Any]]:
    base = {"id": "chatcmpl-" + uuid.uuid4().hex[:24], "object": "chat.completion.chunk", "created": int(time.time()),
            "model": str(body.get("model") or "mock"), "system_fingerprint": "fp_quickstart"}

    def chunk(delta: Dict[str, Any], finish: Any = None) -> Dict[str, Any]:
        return dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])

    words = TEXT.split(" ")
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
    out.append(chunk({}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        prompt, done = _prompt_tokens(body), _tokens(TEXT)
        out.append(dict(base, choices=[], usage={"prompt_tokens": prompt, "completion_tokens": done,
                                                  "total_tokens": prompt + done}))
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the fast lane pools its upstream connections

    def log_message(self, *args: Any) -> None:  # quiet: the proxy logs requests
        pass

    def _send(self, status: int, payload: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, json.dumps({"object": "list", "data": []}).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?")[0] != "/v1/chat/completions":
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        try:
            body = json.loads(raw or b"{}")
            assert isinstance(body, dict)
        except Exception:
            self._send(400, b'{"error": {"message": "invalid JSON"}}')
            return
        if not body.get("stream"):
            self._send(200, json.dumps(completion(body)).encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in [json.dumps(c) for c in chunks(body)] + ["[DONE]"]:
            data = f"data: {event}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")


def start(host: str = "127.0.0.1") -> Tuple[ThreadingHTTPServer, str]:
    """Serve in a daemon thread on a free port: (server, its OpenAI api_base)."""
    server = ThreadingHTTPServer((host, 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="quickstart-upstream", daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}/v1"
