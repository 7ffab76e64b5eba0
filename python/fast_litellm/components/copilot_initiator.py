"""GitHub Copilot billing: an ``X-Initiator`` header that says who started each request.

The problem (LiteLLM issue #18155, no upstream fix merged)
---------------------------------------------------------
Copilot bills a premium request for every request sent with ``X-Initiator: user``
(or without the header) and none for ``X-Initiator: agent``: the follow-up calls an
agent makes after a tool ran are meant to be free. What LiteLLM sends (read and
measured against a local endpoint on 1.83.14 and 1.110.2):

* Chat completions go through the OpenAI SDK handler, which never calls
  ``GithubCopilotConfig.validate_environment``: no ``X-Initiator`` at all, so every
  agent step is billed. Only the experimental base handler
  (``EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER``) sets it, from
  ``_determine_initiator``: ``agent`` as soon as *any* message is an assistant or
  tool message, so a user's second question in a conversation is free as well.
* Responses API: ``validate_environment`` looks for the input on
  ``litellm_params``, which never carries it: no ``X-Initiator`` either. (1.110.2
  sends Copilot models without a native /responses through chat completions.)
* Anthropic /v1/messages to Copilot Claude models: 1.110.2 sends them natively to
  Copilot's /v1/messages without ``X-Initiator``; 1.83.14 sends them through chat
  completions (above). There agents send tool results as ``role: "user"`` messages
  made of ``tool_result`` blocks, which a role-based rule counts as user turns.

The fix (off by default: it changes what is billed)
---------------------------------------------------
``X-Initiator: user`` only when the last turn is a genuine user message, else
``agent``. System and developer messages are instructions, not turns, and are
skipped from the end. A user message whose content is only tool-result parts
(``tool_result``, ``*_call_output``) is the agent's turn; so is every Responses
API input item that is not a user message (``function_call_output``, reasoning,
calls, ...). A string input is the user's. The header is added where LiteLLM
builds the request (chat: the body's ``extra_headers`` the SDK sends; Responses
and /v1/messages: the outgoing headers), unless the caller or LiteLLM already
set one, which is kept; the base handler's own ``_determine_initiator`` follows
the same rule.
``FAST_LITELLM_COPILOT_INITIATOR=1`` turns it on. A failure inside the fix leaves
LiteLLM's request as LiteLLM built it.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, MutableMapping

from .._patching import Patch

COMPONENT = "copilot_initiator"

USER, AGENT = "user", "agent"
HEADER = "X-Initiator"
_CHAT = "litellm.llms.github_copilot.chat.transformation:GithubCopilotConfig"
_RESPONSES = "litellm.llms.github_copilot.responses.transformation:GithubCopilotResponsesAPIConfig"

# Instructions, not turns: skipped when looking for the last turn.
_INSTRUCTION_ROLES = frozenset({"system", "developer"})


def _field(item: Any, key: str) -> Any:
    """``item[key]`` for dicts, the attribute for typed objects (LiteLLM accepts both)."""
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def is_tool_result_part(part: Any) -> bool:
    """A content part that carries a tool's result back to the model (written by the agent)."""
    kind = _field(part, "type")
    return isinstance(kind, str) and (kind.endswith("tool_result") or kind.endswith("_call_output"))


def _is_genuine_user_message(item: Any) -> bool:
    """A user message with something the user wrote: text, or any part that is not a tool result.

    Empty content counts as no user turn: LiteLLM's Responses-to-chat bridge sends a
    user message whose tool-result parts it dropped as ``content: []``.
    """
    if _field(item, "role") != USER:
        return False
    content = _field(item, "content")
    if isinstance(content, str):
        return bool(content)
    if isinstance(content, list):
        return not all(map(is_tool_result_part, content))  # all() of nothing: empty is not the user's
    return content is not None


def _last_turn(items: Any) -> Any:
    """The last item that is not a system/developer instruction, or ``None``."""
    for item in reversed(list(items or ())):
        if _field(item, "role") not in _INSTRUCTION_ROLES:
            return item
    return None


def initiator_for_messages(messages: Any) -> str:
    """Chat completions: ``user`` only if the last turn is a genuine user message."""
    last = _last_turn(messages)
    return USER if last is not None and _is_genuine_user_message(last) else AGENT


def initiator_for_input(input_param: Any) -> str:
    """Responses API ``input``: a string is the user's; in a list, the last turn decides."""
    if isinstance(input_param, str):
        return USER
    last = _last_turn(input_param)
    if last is None:
        return AGENT
    kind = _field(last, "type")
    if kind not in (None, "message"):  # function_call_output, reasoning, a call, ...
        return AGENT
    return USER if _is_genuine_user_message(last) else AGENT


def _has_header(headers: Any, name: str = HEADER) -> bool:
    return isinstance(headers, Mapping) and any(
        isinstance(k, str) and k.lower() == name.lower() for k in headers
    )


# -- where the header is set --------------------------------------------------


def _mark_chat_request(data: Any, arguments: Mapping[str, Any]) -> None:
    """The OpenAI SDK sends the body's ``extra_headers``: add the header there.

    When the headers LiteLLM sends itself already carry one (the base handler's
    ``validate_environment``, or the caller's ``headers=``), it is left alone.
    """
    extra = data.get("extra_headers") if isinstance(data, dict) else None
    if not isinstance(extra, Mapping) or _has_header(extra) or _has_header(arguments.get("headers")):
        return
    # A copy: the dict may be the caller's own.
    data["extra_headers"] = {**extra, HEADER: initiator_for_messages(arguments.get("messages"))}


def _mark_responses_request(data: Any, arguments: Mapping[str, Any]) -> None:
    """The handler posts the very ``headers`` dict it passed in: add the header to it."""
    headers = arguments.get("headers")
    if isinstance(headers, MutableMapping) and not _has_header(headers):
        headers[HEADER] = initiator_for_input(arguments.get("input"))


def _mark_messages_request(result: Any, arguments: Mapping[str, Any]) -> None:
    """Anthropic /v1/messages: LiteLLM returns ``(headers, api_base)`` and sends those headers."""
    headers = result[0] if isinstance(result, tuple) and result else None
    if isinstance(headers, MutableMapping) and not _has_header(headers):
        headers[HEADER] = initiator_for_messages(arguments.get("messages"))


def _after(mark: Callable[[Any, Mapping[str, Any]], None]) -> Callable[..., Callable[..., Any]]:
    """A ``Patch.wrap``: run LiteLLM's method, then ``mark`` its result and arguments.

    LiteLLM's own exceptions propagate once, unchanged; an error of ours is recorded
    as a fallback and the request goes out as LiteLLM built it. Not an acceleration,
    so shadow mode has nothing to compare.
    """

    def wrap(patch: Patch, original: Callable[..., Any], _generic: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(original)

        def finish(result: Any, args: tuple, kwargs: dict) -> Any:
            try:
                mark(result, signature.bind(*args, **kwargs).arguments)
            except Exception as exc:
                patch.record_fallback(exc)
            return result

        if inspect.iscoroutinefunction(original):

            async def marked_async(*args: Any, **kwargs: Any) -> Any:
                patch.calls += 1
                return finish(await original(*args, **kwargs), args, kwargs)

            return marked_async

        def marked(*args: Any, **kwargs: Any) -> Any:
            patch.calls += 1
            return finish(original(*args, **kwargs), args, kwargs)

        return marked

    return wrap


def _rule(patch: Patch, original: Callable[..., Any], _generic: Callable[..., Any]) -> Callable[..., Any]:
    """A ``Patch.wrap`` for ``_determine_initiator``: the rule above, LiteLLM's on an error of ours."""

    def determine_initiator(self: Any, messages: Any) -> str:
        patch.calls += 1
        try:
            return initiator_for_messages(messages)
        except Exception as exc:
            patch.record_fallback(exc)
            return original(self, messages)

    return determine_initiator


def _fix_patch(name: str, target: str, wrap: Callable[..., Callable[..., Any]], summary: str, callers: str,
               inherited: bool = False) -> Patch:
    """One place of the fix: every one is the same fix, off by default, on the verified pins."""
    return Patch(
        name=f"{COMPONENT}.{name}",
        component=COMPONENT,
        target=target,
        supports=">=1.83.14,<1.111",
        build=lambda original: original,  # each patch's wrap does the work
        wrap=wrap,
        inherited=inherited,
        fix="LiteLLM #18155 (Copilot X-Initiator: premium requests billed for agent steps)",
        off_by_default="a behaviour change: it decides what Copilot bills as a premium request",
        summary=summary,
        callers=callers,
    )


PATCHES = [
    _fix_patch(
        "chat_header",
        f"{_CHAT}.transform_request",
        _after(_mark_chat_request),
        "Chat completions to github_copilot carry X-Initiator (LiteLLM's OpenAI SDK path sends none): "
        "'user' only when the last turn is a genuine user message, else 'agent'. A header the caller "
        "set is kept.",
        "OpenAIChatCompletion.completion/streaming (sync), once per github_copilot chat request",
        inherited=True,
    ),
    _fix_patch(
        "chat_header_async",
        f"{_CHAT}.async_transform_request",
        _after(_mark_chat_request),
        "The same for acompletion (async chat completions).",
        "OpenAIChatCompletion.acompletion/async_streaming, once per github_copilot chat request",
        inherited=True,
    ),
    _fix_patch(
        "chat_rule",
        f"{_CHAT}._determine_initiator",
        _rule,
        "The base handler's X-Initiator (EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER) follows the same "
        "rule instead of 'agent as soon as any message is an assistant or tool message'.",
        "GithubCopilotConfig.validate_environment, on the experimental base HTTP handler only",
    ),
    _fix_patch(
        "responses_header",
        f"{_RESPONSES}.transform_responses_api_request",
        _after(_mark_responses_request),
        "Responses API requests to github_copilot carry X-Initiator (LiteLLM never finds the input "
        "and sends none): 'user' only when the last input item is a genuine user message; "
        "function_call_output and other non-message items are the agent's.",
        "response_api_handler (sync and async), once per github_copilot /responses request",
        inherited=True,
    ),
    _fix_patch(
        "messages_header",
        "litellm.llms.github_copilot.messages.transformation:"
        "GithubCopilotAnthropicMessagesConfig.validate_anthropic_messages_environment",
        _after(_mark_messages_request),
        "Anthropic /v1/messages sent natively to Copilot (Claude models, LiteLLM 1.110) carry X-Initiator "
        "(LiteLLM sends none): a user message made only of tool_result blocks is the agent's turn. "
        "LiteLLM versions without this path send /v1/messages through chat completions (patched above).",
        "the anthropic_messages handler, once per github_copilot claude /v1/messages request",
    ),
]

BENCHMARKS: list = []
