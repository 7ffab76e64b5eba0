"""The Copilot X-Initiator fix (LiteLLM #18155) against a local mock Copilot endpoint.

LiteLLM's github_copilot provider is pointed at a real local HTTP server that records
each request's headers (``api_base``, plus a token directory holding a fake token in
the form each pin reads, so no device flow and no network). Over generated agent
conversations, for chat completions and the Responses API:

* fix off (the default): the header sent is stock LiteLLM's, request by request;
* fix on (``FAST_LITELLM_COPILOT_INITIATOR=1``): ``user`` exactly when the last turn
  (system/developer instructions aside) is a genuine user message, else ``agent``.

``FAST_LITELLM_COPILOT_CASES=N`` runs N generated conversations per path (CI: 12; e.g. 500 for a whole run).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import fast_litellm
from fast_litellm import registry

litellm = pytest.importorskip("litellm")

SWITCH = "FAST_LITELLM_COPILOT_INITIATOR"
CASES = int(os.environ.get("FAST_LITELLM_COPILOT_CASES", "12"))
PIN = tuple(int(x) for x in registry.litellm_version().split(".")[:2])

# The test's own statement of the rule, written independently of the component.
TOOL_RESULT_TYPES = {"tool_result", "function_call_output", "custom_tool_call_output"}
INSTRUCTIONS = {"system", "developer"}


def expected_initiator(items) -> str:
    if isinstance(items, str):
        return "user"
    turns = [m for m in items if m.get("role") not in INSTRUCTIONS]
    if not turns:
        return "agent"
    last = turns[-1]
    if last.get("type", "message") != "message" or last.get("role") != "user":
        return "agent"
    content = last.get("content")
    if not content or (isinstance(content, list) and all(p.get("type") in TOOL_RESULT_TYPES for p in content)):
        return "agent"
    return "user"


def stock_chat_base_handler(messages) -> str:
    """LiteLLM's own rule on its base handler: agent once any assistant/tool message exists."""
    return "agent" if any(m.get("role") in ("assistant", "tool") for m in messages) else "user"


# ---------------------------------------------------------------- the rule, by example

from fast_litellm.components import copilot_initiator  # noqa: E402

U, A = "user", "agent"
CALL = {"role": "assistant", "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}]}
TOOL_RESULT_AS_USER = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "ok"}]}


@pytest.mark.parametrize("messages,expected", [
    ([{"role": "user", "content": "hi"}], U),
    # a new question later in a conversation: the user's (stock's base handler says agent)
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "and?"}], U),
    ([{"role": "user", "content": "hi"}, CALL, {"role": "tool", "tool_call_id": "c1", "content": "ok"}], A),
    ([{"role": "user", "content": "hi"}, CALL, TOOL_RESULT_AS_USER], A),
    ([{"role": "user", "content": "hi"}, {"role": "user", "content": [
        *TOOL_RESULT_AS_USER["content"], {"type": "text", "text": "and also"}]}], U),
    ([{"role": "user", "content": "hi"}, {"role": "system", "content": "reminder"}], U),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], A),
    ([{"role": "system", "content": "be brief"}], A),
    ([], A),
    ([{"role": "user", "content": []}], A),
])
def test_rule_for_chat_messages(messages, expected):
    assert copilot_initiator.initiator_for_messages(messages) == expected


@pytest.mark.parametrize("input_param,expected", [
    ("hi", U),
    ([{"role": "user", "content": "hi"}], U),
    ([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}], U),
    ([{"role": "user", "content": "hi"}, {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
      {"type": "function_call_output", "call_id": "c1", "output": "ok"}], A),
    ([{"role": "user", "content": "hi"}, {"type": "reasoning", "summary": []}], A),
    ([{"role": "user", "content": [{"type": "function_call_output", "call_id": "c1", "output": "ok"}]}], A),
    ([{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}], U),
    ([], A),
])
def test_rule_for_responses_input(input_param, expected):
    assert copilot_initiator.initiator_for_input(input_param) == expected


def test_rule_reads_typed_items_too():
    from types import SimpleNamespace as Item

    assert copilot_initiator.initiator_for_input([Item(type="message", role="user", content="hi")]) == U
    assert copilot_initiator.initiator_for_input([Item(type="function_call_output", call_id="c", output="")]) == A


# ---------------------------------------------------------------- mock Copilot


class _Copilot(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        now = int(time.time())
        if self.path.rstrip("/").endswith("messages"):  # Anthropic /v1/messages
            out = {
                "id": "msg_1", "type": "message", "role": "assistant", "model": body.get("model"),
                "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1},
            }
        elif self.path.rstrip("/").endswith("responses"):
            out = {
                "id": "resp_1", "object": "response", "created_at": now, "status": "completed",
                "model": body.get("model"),
                "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                            "content": [{"type": "output_text", "text": "ok", "annotations": []}]}],
                "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
            }
        else:
            out = {
                "id": "chatcmpl-1", "object": "chat.completion", "created": now, "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        if body.get("stream"):
            chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": now, "model": body.get("model"),
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
            data = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
            ctype = "text/event-stream"
        else:
            data, ctype = json.dumps(out).encode(), "application/json"
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _drain_litellm_logging() -> None:
    """Run the success callbacks LiteLLM's logging worker still holds from this module's calls.

    Each call here ends its own ``asyncio.run``, which can leave callbacks queued (LiteLLM
    #8842); on 1.110.x a later event loop delivers them, into a later test's callbacks."""
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER
    except ImportError:
        return

    async def drain() -> None:
        await asyncio.sleep(0)
        await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), 30)

    try:
        asyncio.run(drain())
    except Exception:  # a worker that cannot flush leaves nothing to deliver either
        pass


@pytest.fixture(scope="module")
def copilot(tmp_path_factory):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Copilot)
    server.daemon_threads = True
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    # 1.110.2 reads a GitHub access token ("access-token"); 1.83.14 a Copilot API key
    # ("api-key.json") and only exchanges the access token when that file is missing/expired.
    token_dir = tmp_path_factory.mktemp("copilot-token")
    (token_dir / "access-token").write_text("ghu_test_token")
    (token_dir / "api-key.json").write_text(
        json.dumps({"token": "tid_test_token", "expires_at": time.time() + 10**8, "endpoints": {"api": base}})
    )
    # 1.110.2 sends /v1/messages to the Copilot endpoint of the stored token, never to the
    # caller's api_base, and looks it up on api.github.com once per token: seed that lookup.
    try:
        from litellm.llms.github_copilot import authenticator

        authenticator._COPILOT_API_BASE_CACHE.set_cache(hashlib.sha256(b"ghu_test_token").hexdigest(), base)
    except AttributeError:
        pass  # 1.83.14 reads the endpoint from api-key.json
    saved = os.environ.get("GITHUB_COPILOT_TOKEN_DIR")
    os.environ["GITHUB_COPILOT_TOKEN_DIR"] = str(token_dir)
    server.base = base
    try:
        yield server
    finally:
        _drain_litellm_logging()
        server.shutdown()
        server.server_close()
        if saved is None:
            os.environ.pop("GITHUB_COPILOT_TOKEN_DIR", None)
        else:
            os.environ["GITHUB_COPILOT_TOKEN_DIR"] = saved


@contextmanager
def mode(name: str):
    """``stock``: fast_litellm deactivated; ``off``: activated, fix off; ``on``: fix on."""
    fast_litellm.deactivate()
    saved = os.environ.pop(SWITCH, None)
    if name == "on":
        os.environ[SWITCH] = "1"
    if name != "stock":
        fast_litellm.activate()
    try:
        yield
    finally:
        fast_litellm.deactivate()
        os.environ.pop(SWITCH, None)
        if saved is not None:
            os.environ[SWITCH] = saved
        fast_litellm.activate()


def initiator_sent(server, call) -> "str | None":
    before = len(server.seen)
    call()
    assert len(server.seen) == before + 1, "expected exactly one request to the mock Copilot"
    return server.seen[-1].get("x-initiator")


# ---------------------------------------------------------------- generated conversations


def _text(rng) -> str:
    return rng.choice(["fix the bug", "run the tests", "what changed?", "continue", "ok"])


def _tool_result_part(rng) -> dict:
    if rng.random() < 0.7:
        return {"type": "tool_result", "tool_use_id": f"toolu_{rng.randrange(1000)}", "content": "exit 0"}
    return {"type": "function_call_output", "call_id": f"call_{rng.randrange(1000)}", "output": "exit 0"}


def chat_conversation(rng) -> list:
    """System prompt, then random user / assistant / tool turns the way agents send them."""
    messages = [{"role": "system", "content": "You are a coding agent."}] if rng.random() < 0.7 else []
    for _ in range(rng.randint(1, 7)):
        # LiteLLM's chat completions reject tool_result parts in a user message
        # (validate_chat_completion_user_messages): agents send role "tool" here.
        kind = rng.choice(["user", "user", "user_parts", "assistant", "assistant_call", "tool", "tool"])
        if kind == "user":
            messages.append({"role": "user", "content": _text(rng)})
        elif kind == "user_parts":
            messages.append({"role": "user", "content": [{"type": "text", "text": _text(rng)}]})
        elif kind == "assistant":
            messages.append({"role": "assistant", "content": _text(rng)})
        elif kind == "assistant_call":
            messages.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}]})
        else:
            messages.append({"role": "tool", "tool_call_id": "call_1", "content": "exit 0"})
    if rng.random() < 0.15:
        messages.append({"role": rng.choice(["system", "developer"]), "content": "reminder"})
    return messages


def responses_input(rng):
    """A Responses API ``input``: a string, or a list of message and tool items."""
    if rng.random() < 0.15:
        return _text(rng)
    items = []
    if rng.random() < 0.4:
        items.append({"role": rng.choice(["system", "developer"]), "content": "You are a coding agent."})
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(["user", "user_msg", "user_parts", "assistant", "call", "call_output", "call_output",
                           "user_tool_result"])
        if kind == "user":
            items.append({"role": "user", "content": _text(rng)})
        elif kind == "user_msg":
            items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": _text(rng)}]})
        elif kind == "user_parts":
            items.append({"role": "user", "content": [{"type": "input_text", "text": _text(rng)}]})
        elif kind == "assistant":
            items.append({"type": "message", "role": "assistant",
                          "content": [{"type": "output_text", "text": _text(rng)}]})
        elif kind == "call":
            items.append({"type": "function_call", "call_id": "call_1", "name": "bash", "arguments": "{}"})
        elif kind == "call_output":
            items.append({"type": "function_call_output", "call_id": "call_1", "output": "exit 0"})
        else:
            items.append({"role": "user", "content": [
                {"type": "function_call_output", "call_id": "call_1", "output": "exit 0"}]})
    return items


def _cases(generator, seed):
    rng = random.Random(seed)
    return [generator(rng) for _ in range(CASES)]


# ---------------------------------------------------------------- chat completions


def _chat(server, messages, how, model="gpt-4o"):
    kwargs = dict(model=f"github_copilot/{model}", messages=messages, api_base=server.base)
    if how == "sync":
        return lambda: litellm.completion(**kwargs)
    if how == "stream":
        return lambda: list(litellm.completion(stream=True, **kwargs))
    return lambda: asyncio.run(litellm.acompletion(**kwargs))


def _sent_by_mode(copilot, cases, call):
    """The X-Initiator each case sent, with the fix absent (stock), installed but off, and on."""
    sent = {}
    for name in ("stock", "off", "on"):
        with mode(name):
            sent[name] = [initiator_sent(copilot, call(case)) for case in cases]
    return sent


# Both pins send chat completions for a Responses-only model (gpt-5.3-codex) to /responses.
@pytest.mark.parametrize("how,model", [("sync", "gpt-4o"), ("async", "gpt-4o"), ("stream", "gpt-4o"),
                                       ("sync", "gpt-5.3-codex")])
def test_chat_header_parity_off_and_rule_on(copilot, how, model):
    conversations = _cases(chat_conversation, 18155)
    sent = _sent_by_mode(copilot, conversations, lambda m: _chat(copilot, m, how, model))
    assert sent["off"] == sent["stock"]
    assert sent["on"] == [expected_initiator(m) for m in conversations]
    # Stock sends none on this path: every agent step is billed as a premium request.
    assert set(sent["stock"]) == {None}
    assert {"user", "agent"} <= set(sent["on"])


def test_chat_base_handler_parity_off_and_rule_on(copilot, monkeypatch):
    """LiteLLM's experimental base handler sets the header itself (any assistant/tool => agent)."""
    monkeypatch.setenv("EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER", "True")
    conversations = _cases(chat_conversation, 12859)
    sent = {}
    for name in ("stock", "off", "on"):
        with mode(name):
            sent[name] = [initiator_sent(copilot, _chat(copilot, m, "sync")) for m in conversations]
    assert sent["stock"] == [stock_chat_base_handler(m) for m in conversations]
    assert sent["off"] == sent["stock"]
    assert sent["on"] == [expected_initiator(m) for m in conversations]


def test_chat_caller_header_kept(copilot):
    messages = [{"role": "user", "content": "hi"}]
    with mode("on"):
        got = initiator_sent(copilot, lambda: litellm.completion(
            model="github_copilot/gpt-4o", messages=messages, api_base=copilot.base,
            extra_headers={"X-Initiator": "agent"}))
    assert got == "agent"


def test_error_in_the_fix_sends_litellms_request(copilot, monkeypatch):
    """Fail safe: an error of ours is a counted fallback; the request goes out as LiteLLM built it."""

    def broken(messages):
        raise RuntimeError("boom")

    monkeypatch.setattr(copilot_initiator, "initiator_for_messages", broken)
    with mode("on"):
        got = initiator_sent(copilot, _chat(copilot, [{"role": "user", "content": "hi"}], "sync"))
        patch = next(p for p in fast_litellm.status()["patches"] if p["name"] == "copilot_initiator.chat_header")
    assert got is None
    assert patch["fallbacks"] >= 1


# ---------------------------------------------------------------- Responses API

# 1.110.2 serves a Copilot model over /responses only when its model info says so
# (gpt-5.3-codex), and bridges the others (gpt-4o) through chat completions.
RESPONSES_MODELS = ["gpt-5.3-codex", "gpt-4o"]


def _responses(server, input_param, model, is_async):
    kwargs = dict(model=f"github_copilot/{model}", input=input_param, api_base=server.base)
    if is_async:
        return lambda: asyncio.run(litellm.aresponses(**kwargs))
    return lambda: litellm.responses(**kwargs)


@pytest.mark.parametrize("model", RESPONSES_MODELS)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_responses_header_parity_off_and_rule_on(copilot, model, is_async):
    inputs = _cases(responses_input, 25278)
    sent = _sent_by_mode(copilot, inputs, lambda i: _responses(copilot, i, model, is_async))
    assert sent["off"] == sent["stock"]
    assert set(sent["stock"]) == {None}  # LiteLLM never finds the input on either path
    assert sent["on"] == [expected_initiator(i) for i in inputs]
    assert {"user", "agent"} <= set(sent["on"])


def test_responses_caller_header_kept(copilot):
    with mode("on"):
        got = initiator_sent(copilot, lambda: litellm.responses(
            model="github_copilot/gpt-5.3-codex", input="hi", api_base=copilot.base,
            extra_headers={"x-initiator": "agent"}))
    assert got == "agent"


# ---------------------------------------------------------------- Anthropic /v1/messages


def anthropic_conversation(rng) -> list:
    """Alternating user/assistant turns as Claude Code sends them: tool results are user turns."""
    messages = []
    for i in range(rng.randint(1, 7)):
        if i % 2:
            if rng.random() < 0.6:
                content = [{"type": "tool_use", "id": f"toolu_{i}", "name": "bash", "input": {}}]
            else:
                content = [{"type": "text", "text": _text(rng)}]
            messages.append({"role": "assistant", "content": content})
            continue
        kind = rng.choice(["text", "parts", "tool_result", "tool_result", "mixed"]) if i else "text"
        if kind == "text":
            content = _text(rng)
        elif kind == "parts":
            content = [{"type": "text", "text": _text(rng)}]
        elif kind == "tool_result":
            content = [{"type": "tool_result", "tool_use_id": f"toolu_{i - 1}", "content": "exit 0"}]
        else:  # a tool result and the user's words: the user's turn
            content = [{"type": "tool_result", "tool_use_id": f"toolu_{i - 1}", "content": "exit 0"},
                       {"type": "text", "text": _text(rng)}]
        messages.append({"role": "user", "content": content})
    return messages


def test_anthropic_messages_parity_off_and_rule_on(copilot):
    """1.110.2 sends Copilot Claude models /v1/messages natively; 1.83.14 through chat completions."""
    conversations = _cases(anthropic_conversation, 13016)

    def call(messages):
        return lambda: asyncio.run(litellm.anthropic_messages(
            model="github_copilot/claude-sonnet-4", messages=messages, max_tokens=16, api_base=copilot.base))

    sent = {}
    for name in ("stock", "off", "on"):
        with mode(name):
            sent[name] = [initiator_sent(copilot, call(m)) for m in conversations]
    assert sent["off"] == sent["stock"]
    assert set(sent["stock"]) == {None}
    assert sent["on"] == [expected_initiator(m) for m in conversations]
    assert {"user", "agent"} <= set(sent["on"])


# ---------------------------------------------------------------- the switch, doctor


def test_off_by_default_and_listed_as_fix():
    with mode("off"):
        mine = [p for p in fast_litellm.status()["patches"] if p["component"] == "copilot_initiator"]
    assert mine and all(p["state"] == "skipped" and SWITCH in p["reason"] for p in mine)
    assert all("18155" in p["fix"] for p in mine)
    # Other fixes carry their own upstream issue; accelerations carry none.
    assert all("18155" not in p["fix"] for p in fast_litellm.status()["patches"] if p["component"] != "copilot_initiator")


def test_on_applies_and_deactivate_restores_inherited_methods():
    from litellm.llms.github_copilot.chat.transformation import GithubCopilotConfig
    from litellm.llms.github_copilot.responses.transformation import GithubCopilotResponsesAPIConfig

    before = {k: dict(vars(c)) for k, c in (("chat", GithubCopilotConfig), ("resp", GithubCopilotResponsesAPIConfig))}
    with mode("on"):
        states = {p["name"]: p["state"] for p in fast_litellm.status()["patches"] if p["component"] == "copilot_initiator"}
        native_messages = states.pop("copilot_initiator.messages_header")
        assert set(states.values()) == {"applied"}, states
        # Only LiteLLM versions that send Copilot /v1/messages natively have the target.
        assert native_messages == ("applied" if PIN >= (1, 110) else "skipped")
        assert "transform_request" in vars(GithubCopilotConfig)
    fast_litellm.deactivate()
    try:
        after = {k: dict(vars(c)) for k, c in (("chat", GithubCopilotConfig), ("resp", GithubCopilotResponsesAPIConfig))}
        assert after == before  # inherited methods inherited again, own ones the same objects
    finally:
        fast_litellm.activate()
