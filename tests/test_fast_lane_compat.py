"""The fast lane on OpenAI-compatible providers (``custom_openai/``, ``deepseek/``, ``mistral/``), stock vs fast.

One mock upstream (``tests/mock_providers.py``) answers in OpenAI's shapes, other servers' shapes
(``mock_answer_variants``) and the shapes hosted providers document (``mock_providers.PROVIDER_SHAPES``:
DeepSeek's cache counts, Mistral's, Groq's ``x_groq``, OpenRouter's ``provider``), and records every call.
For each case the same request goes through the stock proxy and through ``fast-litellm proxy`` (same
config) and:

* the upstream saw one call per client request, and the call the front made is the one LiteLLM makes
  (path, auth and content headers, body: ``custom_openai`` through LiteLLM's OpenAI SDK client, ``deepseek``
  and ``mistral`` through its own HTTP handler);
* status, body (ids/created masked) and headers (timings, call id, date masked) equal stock's, the cost
  headers priced by LiteLLM's map entry for the provider's model;
* the lane is ``rust`` where the front reproduces LiteLLM, ``python`` elsewhere: answers out of shape are
  answered by LiteLLM from the upstream answer the front holds (no second call), requests a provider
  rewrites (Mistral drops messages with empty content) and these providers' streams go to LiteLLM before
  any upstream call.

Providers whose requests or answers LiteLLM rewrites in ways not reproduced (``groq/``, ...) go to LiteLLM
and the launcher says why. ``FAST_LITELLM_PROVIDER_CORPUS=full`` runs the whole answer corpus on every group.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")
native = pytest.importorskip("fast_litellm._native")
if not hasattr(native, "fastlane_serve"):
    pytest.skip("native module built without the fast lane", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent))
import mock_answer_variants as mv  # noqa: E402
from fast_litellm.fastlane import providers as fp  # noqa: E402
import mock_providers  # noqa: E402
from test_fast_lane import KEY, _call  # noqa: E402
from test_fast_lane_providers import _both, _check, _check_stream  # noqa: E402
from test_fast_lane_router import stock_and_fast  # noqa: E402

CONFIG = """
model_list:
  - model_name: custom
    litellm_params: {model: custom_openai/gpt-4o-mini, api_base: os.environ/MOCK_API_BASE, api_key: sk-custom}
  - model_name: deepseek
    litellm_params: {model: deepseek/deepseek-chat, api_base: os.environ/MOCK_API_BASE, api_key: sk-deepseek}
  - model_name: mistral
    litellm_params: {model: mistral/mistral-small-latest, api_base: os.environ/MOCK_API_BASE, api_key: sk-mistral}
  - model_name: deepseek-pair
    litellm_params: {model: deepseek/deepseek-chat, api_base: os.environ/MOCK_API_BASE, api_key: sk-deepseek-a}
  - model_name: deepseek-pair
    litellm_params: {model: deepseek/deepseek-chat, api_base: os.environ/MOCK_API_BASE, api_key: sk-deepseek-b}
  - model_name: groq
    litellm_params: {model: groq/openai/gpt-oss-20b, api_base: os.environ/MOCK_API_BASE, api_key: sk-groq}
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""

FULL = os.environ.get("FAST_LITELLM_PROVIDER_CORPUS") == "full"
GROUPS = ("custom", "deepseek", "mistral")
# OpenAI's shapes the front serves on every compatible provider; the other servers' shapes through
# the OpenAI SDK client (custom_openai) as on openai/ (tests/test_fast_lane_answers.py).
OPENAI_SHAPES = {"envelope", "openai", "openai_2024", "openai_length", "openai_flex"}
SERVER_SHAPES = {"openai_2023", "vllm", "vllm_new", "sglang", "llamacpp", "ollama", "lmstudio", "tgi", "localai"}
# Through LiteLLM's HTTP handler: OpenAI's shapes and plain ones (Mistral's, DeepSeek's, LocalAI's).
PLAIN_SHAPES = {"mistral", "deepseek", "localai"}
SERVED = {"custom": OPENAI_SHAPES | SERVER_SHAPES | {"mistral"}, "deepseek": OPENAI_SHAPES | PLAIN_SHAPES,
          "mistral": OPENAI_SHAPES | PLAIN_SHAPES, "deepseek-pair": OPENAI_SHAPES | PLAIN_SHAPES}
SAMPLE = ("envelope", "openai", "openai_2023", "openai_tools", "vllm", "ollama") + mock_providers.PROVIDER_SHAPES
VARIANTS = mv.VARIANTS + mock_providers.PROVIDER_SHAPES
# The whole corpus on deepseek (LiteLLM's HTTP handler); a sample on the others (all with the env var).
ANSWERS = [(g, v) for g in GROUPS + ("deepseek-pair",) for v in (VARIANTS if FULL or g == "deepseek" else SAMPLE)]
# Groups whose streams the front serves (the others' go to LiteLLM).
PREFIX = {"custom": "custom_openai/", "deepseek": "deepseek/", "mistral": "mistral/"}
STREAMS_SERVED = {g for g, p in PREFIX.items() if p in fp.COMPAT_STREAMS}
STREAMS = [(g, v, u) for g in GROUPS for v in ("openai", "plain", "vllm") for u in (None, True)]
ERRORS = [(g, e) for g in ("deepseek", "custom") for e in ("error_400", "error_429")]


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    with stock_and_fast(tmp_path_factory.mktemp("fastlane_compat"), CONFIG, mock="tests/mock_providers.py",
                        drop=("DEEPSEEK_API_BASE", "MISTRAL_API_BASE", "OPENAI_BASE_URL", "OPENAI_API_BASE")) as r:
        r["nonce"] = 0
        yield r


@pytest.mark.parametrize("group", GROUPS)
def test_history_of_each_role(rig, group):
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, caf\u00e9 \u4e2d\u6587"}]
    assert _check(rig, group, _both(rig, group, "variant=openai", history=history)) == "rust"


@pytest.mark.parametrize("group", GROUPS)
def test_empty_message(rig, group):
    """Mistral drops a message whose content is empty (any role): such a request goes to LiteLLM."""
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]
    lane = _check(rig, group, _both(rig, group, "variant=openai", history=history))
    assert lane == ("python" if group == "mistral" else "rust")


@pytest.mark.parametrize("group,variant,include_usage", STREAMS, ids=[f"{g}-{v}-{u}" for g, v, u in STREAMS])
def test_streams(rig, group, variant, include_usage):
    """Streams in OpenAI's and vLLM's shapes: served event for event where verified, else to LiteLLM before
    any upstream call (one upstream call either way)."""
    extra = {"stream": True}
    if include_usage is not None:
        extra["stream_options"] = {"include_usage": include_usage}
    want = "rust" if group in STREAMS_SERVED else "python"
    assert _check_stream(rig, group, _both(rig, group, f"variant={variant}", extra)) == want


@pytest.mark.parametrize("group,variant", ANSWERS, ids=[f"{g}-{v}" for g, v in ANSWERS])
def test_answers(rig, group, variant):
    lane = _check(rig, group, _both(rig, group, f"variant={variant}"))
    assert lane == ("rust" if variant in SERVED[group] else "python"), (group, variant, lane)


@pytest.mark.parametrize("group,variant", ERRORS, ids=[f"{g}-{v}" for g, v in ERRORS])
def test_errors_held_not_repeated(rig, group, variant):
    # Last: after an upstream error the front leaves the group to LiteLLM for its cooldown window.
    assert _check(rig, group, _both(rig, group, f"variant={variant}"), errors=True) == "python"


def test_unserved_providers_go_to_litellm(rig):
    log = Path(rig["fast_log"]).read_text()
    assert "model group 'groq' goes to LiteLLM: litellm_params.model: 'groq/openai/gpt-oss-20b'" in log, log[-2000:]
    assert "'custom'" in log and "'deepseek'" in log and "'mistral'" in log


def test_no_replays(rig):
    _, _, raw = _call(rig["fast"], "GET", "/_fast_litellm/stats", None, {"Authorization": f"Bearer {KEY}"})
    stats = json.loads(raw)
    assert stats["replayed"] == 0, stats


def test_entries():
    entry = lambda model, **kw: fp.entry(dict({"model": model, "api_base": "http://h/v1", "api_key": "k"}, **kw), {}, {})  # noqa: E731
    assert entry("deepseek/deepseek-chat")[0] == {
        "upstream_model": "deepseek-chat", "provider": {"kind": "compat", "name": "deepseek", "client": "http_handler"}}
    assert entry("custom_openai/my-model")[0]["provider"] == {"kind": "compat", "name": "custom_openai",
                                                              "client": "openai_sdk", "unpriced": True}
    assert fp.unpriced(entry("custom_openai/m")[0]) and not fp.unpriced(entry("deepseek/m")[0])
    assert entry("mistral/mistral-small-latest")[0]["upstream_model"] == "mistral-small-latest"
    assert entry("deepseek/deepseek-chat", api_version="2024-01-01")[0] is None
    assert entry("deepseek/deepseek-chat", api_base="http://h/chat/completions")[0] is None
    assert entry("mistral/m", api_base="http://h")[0] is None and entry("mistral/m", api_base="http://h/v1")[0]
    for model in ("groq/llama-3.3-70b-versatile", "together_ai/x", "openrouter/openai/gpt-4o-mini", "deepseek/"):
        assert entry(model)[0] is None, model
        assert not fp.served_model(model)
    assert fp.http_handler(entry("mistral/m")[0]) and not fp.http_handler(entry("custom_openai/m")[0])
    assert fp.streams_to_litellm({"g": [entry("custom_openai/m")[0]], "o": [entry("openai/m")[0]]}) == ["g"]
