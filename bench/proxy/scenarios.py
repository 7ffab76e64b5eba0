"""Named scenarios for the proxy load rig: each one a config a real deployment has.

``python bench/proxy/run.py --list-scenarios`` prints them; ``--scenario NAME[,NAME]`` runs
them. A scenario says what the local mock upstream answers (shape, http or https), the
proxy config (generated into a temp dir, never written into the repo), what wrk sends, and
which counter of LiteLLM's own measures the sustained figure when the config has a
logging callback.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}]}
EMBED_BODY = {"model": "text-embedding-3-small", "input": "Say hello."}
CLAUDE = "claude-sonnet-4-5-20250929"
MESSAGES_BODY = {"model": CLAUDE, "max_tokens": 256, "messages": [{"role": "user", "content": "Say hello."}]}
AZURE_API_VERSION = "2024-10-21"

# Ordinary production settings (issue 17 item 2): each one alone is a config people run.
SETTINGS = {
    "litellm_settings": {"drop_params": True, "request_timeout": 600, "num_retries": 2, "json_logs": True,
                         "set_verbose": False, "telemetry": False},
    "router_settings": {"routing_strategy": "simple-shuffle"},
    "general_settings": {"disable_spend_logs": True, "proxy_batch_write_at": 60},
}
PROMETHEUS = {"litellm_settings": {"callbacks": ["prometheus"], "require_auth_for_metrics_endpoint": False}}

# A CustomLogger that only logs successes, and counts them where the rig can read them
# (one file per process, rewritten by a thread so the event handler stays as cheap as a real one).
CUSTOM_LOGGER = '''\
import os
import threading
import time

from litellm.integrations.custom_logger import CustomLogger


class RigCounter(CustomLogger):
    def __init__(self):
        super().__init__()
        self.count = 0
        self._started = False

    def _flush_forever(self, path):
        written = -1
        while True:
            n = self.count
            if n != written:
                with open(path + ".tmp", "w") as fh:
                    fh.write(str(n))
                os.replace(path + ".tmp", path)
                written = n
            time.sleep(0.2)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.count += 1
        if not self._started:
            self._started = True
            path = os.path.join(os.environ["RIG_COUNT_DIR"], str(os.getpid()))
            threading.Thread(target=self._flush_forever, args=(path,), daemon=True).start()


handler = RigCounter()
'''


@dataclass
class Ctx:
    """Where this run's mock upstream listens and what the config may refer to."""

    base: str  # http(s)://127.0.0.1:PORT, no path
    ca: Optional[str]  # the rig's CA file when the mock speaks TLS
    workdir: Path


@dataclass
class Scenario:
    name: str
    about: str
    build: Callable[[Ctx], dict]
    shape: str = "mock"  # the mock's non-streaming chat shape (mock_upstream.py --shape)
    tls: bool = False
    endpoint: str = "/v1/chat/completions"
    body: dict = field(default_factory=lambda: dict(CHAT_BODY))
    counter: Optional[str] = None  # "prometheus" | "custom": the sustained figure's counter
    files: dict = field(default_factory=dict)  # extra files written next to the config
    env: dict = field(default_factory=dict)  # extra environment for both proxies (e.g. LITELLM_RUST)


def merge(*parts: dict) -> dict:
    """Deep merge of config fragments (later wins; lists are replaced)."""
    out: dict = {}
    for part in parts:
        for k, v in part.items():
            if isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = merge(out[k], v)
            else:
                out[k] = copy.deepcopy(v)
    return out


def _key(env_only: bool = False) -> dict:
    return {} if env_only else {"general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"}}


def _openai(ctx: Ctx, provider: str = "openai", model: str = "gpt-4o-mini") -> dict:
    return {"model_list": [{"model_name": model, "litellm_params": {
        "model": f"{provider}/{model}", "api_base": ctx.base + "/v1", "api_key": "sk-mock-upstream"}}]}


def _azure(ctx: Ctx) -> dict:
    return {"model_list": [{"model_name": "gpt-4o-mini", "litellm_params": {
        "model": "azure/gpt-4o-mini", "api_base": ctx.base, "api_key": "mock-azure-key",
        "api_version": AZURE_API_VERSION}}]}


def _anthropic(ctx: Ctx) -> dict:
    # LiteLLM calls <api_base>/v1/messages (mock_anthropic.py answers there).
    return {"model_list": [{"model_name": CLAUDE, "litellm_params": {
        "model": f"anthropic/{CLAUDE}", "api_base": ctx.base, "api_key": "sk-ant-mock-upstream"}}]}


def _tls(ctx: Ctx) -> dict:
    # LiteLLM's own setting for a private CA (litellm.ssl_verify = a CA file path).
    return {"litellm_settings": {"ssl_verify": ctx.ca}}


SCENARIOS = [
    Scenario("baseline", "bench/proxy/config.yaml: one openai/ deployment on http, master key in the config",
             lambda c: merge(_openai(c), _key())),
    Scenario("settings", "baseline + ordinary production settings (drop_params, request_timeout, num_retries, "
             "json_logs, set_verbose, telemetry, simple-shuffle, disable_spend_logs, proxy_batch_write_at)",
             lambda c: merge(_openai(c), _key(), SETTINGS)),
    Scenario("env-master-key", "baseline with no master_key in the config: LiteLLM takes LITELLM_MASTER_KEY",
             lambda c: _openai(c)),
    Scenario("openai-real-shape", "baseline; the upstream answers in OpenAI's current documented shape "
             "(refusal, annotations, usage token details, service_tier, system_fingerprint)",
             lambda c: merge(_openai(c), _key()), shape="openai"),
    Scenario("vllm-shape", "baseline; the upstream answers in vLLM's shape (reasoning_content, tool_calls: [], "
             "stop_reason, prompt_logprobs)", lambda c: merge(_openai(c), _key()), shape="vllm"),
    Scenario("hosted-vllm", "a hosted_vllm/ deployment, the upstream answering in vLLM's shape",
             lambda c: merge(_openai(c, "hosted_vllm"), _key()), shape="vllm"),
    Scenario("tls", "baseline on an https api_base: the mock over TLS with a CA the rig makes, "
             "litellm_settings.ssl_verify = the CA file", lambda c: merge(_openai(c), _key(), _tls(c)), tls=True),
    Scenario("azure", f"an azure/ deployment (api_version {AZURE_API_VERSION}): the mock answers on "
             "/openai/deployments/<d>/chat/completions?api-version=... in Azure's shape (content filter results)",
             lambda c: merge(_azure(c), _key())),
    Scenario("azure-stream", "azure with \"stream\": true: the mock streams Azure's shape (a prompt-filter chunk, "
             "content filter results per chunk)", lambda c: merge(_azure(c), _key()), body=dict(CHAT_BODY, stream=True)),
    Scenario("embeddings", "/v1/embeddings on an openai/ embedding deployment (1536 floats; LiteLLM does not let the openai SDK ask for base64)",
             lambda c: merge(_openai(c, model="text-embedding-3-small"), _key()),
             endpoint="/v1/embeddings", body=dict(EMBED_BODY)),
    Scenario("anthropic-messages", f"/v1/messages (Anthropic's format) on an anthropic/{CLAUDE} deployment, "
             "the mock answering in Anthropic's message shape", lambda c: merge(_anthropic(c), _key()),
             endpoint="/v1/messages", body=dict(MESSAGES_BODY)),
    Scenario("anthropic-messages-stream", "anthropic-messages with \"stream\": true (Anthropic's SSE events)",
             lambda c: merge(_anthropic(c), _key()), endpoint="/v1/messages", body=dict(MESSAGES_BODY, stream=True)),
    Scenario("anthropic-messages-litellm-rust", "anthropic-messages with LITELLM_RUST=1 for both proxies: "
             "stock is LiteLLM 1.110.2's own native /v1/messages path", lambda c: merge(_anthropic(c), _key()),
             endpoint="/v1/messages", body=dict(MESSAGES_BODY), env={"LITELLM_RUST": "1"}),
    Scenario("anthropic-messages-stream-litellm-rust", "anthropic-messages-stream with LITELLM_RUST=1 for both proxies",
             lambda c: merge(_anthropic(c), _key()), endpoint="/v1/messages", body=dict(MESSAGES_BODY, stream=True),
             env={"LITELLM_RUST": "1"}),
    Scenario("anthropic-chat", f"/v1/chat/completions on the anthropic/{CLAUDE} deployment (LiteLLM translates "
             "to Anthropic's Messages API)", lambda c: merge(_anthropic(c), _key()),
             body=dict(CHAT_BODY, model=CLAUDE, max_tokens=256)),
    Scenario("prometheus", "baseline + callbacks: [prometheus] (sustained: litellm_requests_metric)",
             lambda c: merge(_openai(c), _key(), PROMETHEUS), counter="prometheus"),
    Scenario("prometheus-stream", "prometheus with \"stream\": true and stream_options.include_usage (1.83.x asks the "
             "upstream for usage only then; sustained: litellm_requests_metric)",
             lambda c: merge(_openai(c), _key(), PROMETHEUS),
             body=dict(CHAT_BODY, stream=True, stream_options={"include_usage": True}), counter="prometheus"),
    Scenario("custom-logger", "baseline + a CustomLogger that only overrides async_log_success_event "
             "(sustained: the events it counted)",
             lambda c: merge(_openai(c), _key(), {"litellm_settings": {"callbacks": ["rig_logger.handler"]}}),
             counter="custom", files={"rig_logger.py": CUSTOM_LOGGER}),
    Scenario("all", "TLS + Azure + settings + Prometheus together",
             lambda c: merge(_azure(c), _key(), SETTINGS, PROMETHEUS, _tls(c)), tls=True, counter="prometheus"),
]
BY_NAME = {s.name: s for s in SCENARIOS}


def pick(spec: str) -> list:
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if names == ["every"]:
        return list(SCENARIOS)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; --list-scenarios lists them")
    return [BY_NAME[n] for n in names]


def write_config(scenario: Scenario, ctx: Ctx) -> Path:
    """The scenario's config (and its extra files) in ctx.workdir; returns the config path."""
    import yaml

    ctx.workdir.mkdir(parents=True, exist_ok=True)
    for name, text in scenario.files.items():
        (ctx.workdir / name).write_text(text)
    path = ctx.workdir / "config.yaml"
    path.write_text(f"# generated by bench/proxy/run.py: scenario {scenario.name}\n"
                    + yaml.safe_dump(scenario.build(ctx), sort_keys=False))
    return path
