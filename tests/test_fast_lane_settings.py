"""The fast lane's settings table (python/fast_litellm/fastlane/settings.py) and the settings it serves.

* parity: one config carrying every setting newly classified ``serve`` (drop_params, telemetry,
  set_verbose, json_logs, num_retries, request_timeout, disable_spend_logs, proxy_batch_write_at,
  store_model_in_db: false, simple-shuffle, model_info.id, the master key from LITELLM_MASTER_KEY alone,
  os.environ/ references), stock ``litellm`` vs ``fast-litellm proxy`` on the same mock upstream:
  bodies and headers equal (per-call values masked), lane header ``rust``;
* the master key in every form LiteLLM accepts, checked against LiteLLM's own load_config;
* the table's verdicts, the key lists enumerated from this pin's LiteLLM, the generated docs, doctor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

native = pytest.importorskip("fast_litellm._native")
if not hasattr(native, "fastlane_serve"):
    pytest.skip("native module built without the fast lane", allow_module_level=True)
pytest.importorskip("aiohttp")

import test_fast_lane as base  # noqa: E402  (the stock-vs-fast helpers and corpora)

from fast_litellm import quickstart_upstream  # noqa: E402
from fast_litellm.fastlane import launcher, settings as fs  # noqa: E402

# Every newly served setting around the groups of test_fast_lane's corpora (its config without
# general_settings: the master key comes from LITELLM_MASTER_KEY alone), one of them with a
# model_info id, plus a group on the quickstart's built-in upstream.
SETTINGS = """
litellm_settings:
  drop_params: true
  telemetry: false
  set_verbose: false
  json_logs: true
  suppress_debug_info: true
  num_retries: 2
  request_timeout: 600
  cache: false
general_settings:
  disable_spend_logs: true
  proxy_batch_write_at: 60
  proxy_batch_polling_interval: 60
  store_model_in_db: false
router_settings:
  routing_strategy: simple-shuffle
  timeout: 600
  num_retries: 2
"""


def _config() -> str:
    cfg = yaml.safe_load(base.CONFIG)
    del cfg["general_settings"]
    cfg["model_list"] = [d for d in cfg["model_list"] if d["model_name"] in base.SERVED_GROUPS]
    cfg["model_list"][0]["model_info"] = {"id": "settings-mini-1"}
    cfg["model_list"].append({"model_name": "quickstart", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": "os.environ/QUICKSTART_API_BASE", "api_key": "sk-local-mock"}})
    cfg.update(yaml.safe_load(SETTINGS))
    return yaml.safe_dump(cfg, sort_keys=False)


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    # The quickstart's built-in upstream (a thread here): its answers must be served in Rust byte for byte.
    quick, api_base = quickstart_upstream.start()
    try:
        with base.stock_and_fast(tmp_path_factory.mktemp("settings"), _config(), {"QUICKSTART_API_BASE": api_base}) as r:
            yield r
    finally:
        quick.shutdown()


def test_served_settings_match_stock(rig):
    """Chat completions (plain and streamed) and /v1/responses under every newly served setting:
    byte-identical to stock, all in Rust."""
    assert "serving ['balanced', 'gpt-4o', 'gpt-4o-mini', 'quickstart', 'team-alias'] in Rust" in \
        rig["fast_log"].read_text()
    assert rig["ids"]["gpt-4o-mini"] == {"settings-mini-1"} and "master_key" not in _config()
    for path, group, body in base._accepted_corpus(4321, 24):
        base._compare(rig, "POST", path, body, group=group, expect_lane="rust")
    for path, group, body in base._stream_corpus(4322, 16, base._litellm_version()):
        base._compare(rig, "POST", path, body, group=group, expect_lane="rust")
    for body in ({"model": "quickstart", "messages": [{"role": "user", "content": "Hello"}]},
                 {"model": "quickstart", "messages": [{"role": "user", "content": "Hello there"}], "stream": True},
                 {"model": "quickstart", "messages": [{"role": "user", "content": "Hi"}], "stream": True,
                  "stream_options": {"include_usage": True}}):
        base._compare(rig, "POST", "/v1/chat/completions", body, group="quickstart", expect_lane="rust")
    for text in ("hi", "mock:model=gpt-4o-mini;usage=3,4"):
        base._compare(rig, "POST", "/v1/responses", {"model": "gpt-4o-mini", "input": text}, group="gpt-4o-mini",
                      expect_lane="rust")


def test_outside_the_envelope_still_matches_stock(rig):
    """drop_params on a request that carries a parameter LiteLLM drops or keeps: LiteLLM answers, same as stock."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}
    base._compare(rig, "POST", "/v1/chat/completions", body, group="gpt-4o", expect_lane="python")


# -- the master key, in every form LiteLLM accepts -----------------------------------------------

_MK_SCRIPT = """
import asyncio, json, os, sys, tempfile
import yaml
from litellm.proxy import proxy_server as ps
from litellm.secret_managers.main import get_secret_str
import contextlib, io
from fast_litellm import cli
from fast_litellm.fastlane.settings import enumerate_keys
keys = enumerate_keys()
cases, doctor_config = json.load(sys.stdin)
doctor = io.StringIO()
with contextlib.redirect_stdout(doctor):
    os.environ["LITELLM_MASTER_KEY"] = "sk-1"
    cli.main(["doctor", "--proxy-config", doctor_config])
    del os.environ["LITELLM_MASTER_KEY"]
out, start = [], dict(os.environ)
for cfg, env in cases:
    os.environ.clear(); os.environ.update(start); os.environ.update(env)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump(cfg, fh)
    ps.master_key = get_secret_str("LITELLM_MASTER_KEY")  # what the proxy's startup reads before the config
    asyncio.run(ps.proxy_config.load_config(router=None, config_file_path=fh.name))
    out.append(ps.master_key)
print(json.dumps({"master_keys": out, "keys": keys, "doctor": doctor.getvalue()}))
"""

_MK_CASES = [
    ({"general_settings": {"master_key": "sk-literal"}}, {}),
    ({"general_settings": {"master_key": "os.environ/MK_A"}}, {"MK_A": "sk-from-a"}),
    ({"general_settings": {"master_key": "os.environ/MK_MISSING"}}, {"LITELLM_MASTER_KEY": "sk-ignored"}),
    ({"general_settings": {"master_key": None}}, {"LITELLM_MASTER_KEY": "sk-ignored"}),
    ({}, {"LITELLM_MASTER_KEY": "sk-env-alone"}),
    ({"general_settings": {}}, {"LITELLM_MASTER_KEY": "sk-env-empty-gs"}),
    ({"general_settings": {"disable_spend_logs": True}}, {"LITELLM_MASTER_KEY": "sk-env-with-gs"}),
    ({"general_settings": {"disable_spend_logs": True}}, {"LITELLM_MASTER_KEY": "os.environ/MK_B", "MK_B": "sk-b"}),
    ({}, {"LITELLM_MASTER_KEY": "os.environ/MK_B", "MK_B": "sk-b"}),
    ({"general_settings": {"disable_spend_logs": True}, "environment_variables": {"LITELLM_MASTER_KEY": "sk-ev"}}, {}),
    ({"environment_variables": {"LITELLM_MASTER_KEY": "sk-ev-no-gs"}}, {}),
    ({"general_settings": {"proxy_batch_write_at": 10}, "environment_variables": {"LITELLM_MASTER_KEY": "os.environ/MK_C"}},
     {"MK_C": "sk-c"}),
    ({"general_settings": {"master_key": "os.environ/MK_D"}}, {"MK_D": "false"}),
    ({}, {}),
]


DOCTOR_CONFIG = ("model_list:\n  - model_name: g\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
                 "      api_base: http://127.0.0.1:1/v1\n      api_key: k\n"
                 "litellm_settings:\n  drop_params: true\n  cache: true\n")


@pytest.fixture(scope="module")
def litellm_facts(tmp_path_factory):
    """From this pin's LiteLLM, in one process (its proxy import is slow): the master key its
    load_config settles on for each case of _MK_CASES, the settings keys it accepts, and
    `fast-litellm doctor --proxy-config` on DOCTOR_CONFIG."""
    doctor_config = tmp_path_factory.mktemp("doctor") / "c.yaml"
    doctor_config.write_text(DOCTOR_CONFIG)
    cases = [(dict(cfg, model_list=[]), env) for cfg, env in _MK_CASES]
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    for var in ("LITELLM_MASTER_KEY", "DATABASE_URL"):
        env.pop(var, None)
    out = subprocess.run([sys.executable, "-c", _MK_SCRIPT], input=json.dumps([cases, str(doctor_config)]), env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]), cases=cases)


def test_master_key_forms_match_litellm_load_config(litellm_facts):
    litellm_keys = litellm_facts["master_keys"]
    for (cfg, case_env), expected in zip(litellm_facts["cases"], litellm_keys):
        mine = launcher.master_key_of(cfg, dict(case_env))
        # A key that is not a string ("false" reads as a bool) means no master key on both sides.
        assert (mine if isinstance(mine, str) else None) == (expected if isinstance(expected, str) else None), \
            (cfg, case_env, expected)
    assert "sk-env-alone" in litellm_keys and "sk-b" in litellm_keys  # the forms the issue names


def test_master_key_from_env_alone_is_served(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model_list:\n  - model_name: g\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
                   "      api_base: os.environ/UP\n      api_key: k\nlitellm_settings:\n  drop_params: true\n")
    reason, key, groups, _ = launcher.analyse_config(str(cfg), {"LITELLM_MASTER_KEY": "sk-1", "UP": "http://h:1/v1"})
    assert (reason, key, list(groups)) == (None, "sk-1", ["g"])
    reason, key, _, _ = launcher.analyse_config(str(cfg), {"UP": "http://h:1/v1"})
    assert reason.startswith("no master key") and key is None


# -- the table -----------------------------------------------------------------------------------

@pytest.mark.parametrize("section, key, value, verdict", [
    ("litellm_settings", "drop_params", True, fs.SERVE),
    ("litellm_settings", "telemetry", False, fs.SERVE),
    ("litellm_settings", "set_verbose", False, fs.SERVE),
    ("litellm_settings", "set_verbose", True, fs.PASS),
    ("litellm_settings", "json_logs", True, fs.SERVE),
    ("litellm_settings", "request_timeout", 30, fs.SERVE),
    ("litellm_settings", "request_timeout", "soon", fs.PASS),
    ("litellm_settings", "num_retries", 3, fs.SERVE),
    ("litellm_settings", "cache", True, fs.PASS),
    ("litellm_settings", "success_callback", ["langfuse"], fs.PASS),
    ("litellm_settings", "no_such_setting_anywhere", 1, fs.PASS),
    ("general_settings", "disable_spend_logs", True, fs.SERVE),
    ("general_settings", "proxy_batch_write_at", 60, fs.SERVE),
    ("general_settings", "store_model_in_db", False, fs.SERVE),
    ("general_settings", "store_model_in_db", True, fs.PASS),
    ("general_settings", "database_url", "postgresql://x", fs.PASS),
    ("router_settings", "routing_strategy", "simple-shuffle", fs.SERVE),
    ("router_settings", "routing_strategy", "latency-based-routing", fs.PASS),
    ("router_settings", "timeout", 10, fs.SERVE),
    ("environment_variables", "LITELLM_MASTER_KEY", "sk-1", fs.SERVE),
    ("environment_variables", "DATABASE_URL", "postgresql://x", fs.PASS),
    ("environment_variables", "SOME_UNKNOWN_VAR", "x", fs.PASS),
    ("litellm_params", "model", "openai/gpt-4o", fs.SERVE),
    ("litellm_params", "model", "groq/llama-3.1-8b-instant", fs.PASS),
    ("litellm_params", "model", "hosted_vllm/llama", fs.SERVE),
    ("litellm_params", "model", "azure/gpt-4o-mini", fs.SERVE),
    ("litellm_params", "model", "azure/a b", fs.PASS),
    ("litellm_params", "timeout", 30, fs.PASS),
    ("litellm_params", "rpm", 10, fs.PASS),
    ("model_info", "id", "x", fs.SERVE),
    ("model_info", "input_cost_per_token", 1e-6, fs.PASS),
])
def test_table_verdicts(section, key, value, verdict):
    got, why = fs.verdict(section, key, value)
    assert got == verdict and why, (section, key, why)


@pytest.mark.parametrize("extra, served", [
    ("litellm_settings:\n  drop_params: true\n  telemetry: false\n  set_verbose: false\n  json_logs: true\n", True),
    ("general_settings:\n  master_key: sk-1\n  disable_spend_logs: true\n  proxy_batch_write_at: 60\n"
     "  store_model_in_db: false\n", True),
    ("general_settings:\n  master_key: sk-1\n  store_model_in_db: true\n", False),
    ("environment_variables:\n  LITELLM_LOG: INFO\n", True),
    ("environment_variables:\n  OPENAI_BASE_URL: http://elsewhere\n", False),
    ("litellm_settings:\n  request_timeout: os.environ/TIMEOUT_S\n", False),  # a string, as LiteLLM reads it
    ("mcp_servers: {}\n", False),
])
def test_config_envelope_reads_the_table(tmp_path, extra, served):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model_list:\n  - model_name: g\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
                   "      api_base: http://127.0.0.1:1/v1\n      api_key: k\n    model_info:\n      id: g-1\n"
                   "  - model_name: v\n    litellm_params:\n      model: groq/llama-3.1-8b-instant\n"
                   "      api_base: http://127.0.0.1:1/v1\n      api_key: k\n" + extra)
    reason, _key, groups, declined = launcher.analyse_config(str(cfg), {"LITELLM_MASTER_KEY": "sk-1", "TIMEOUT_S": "5"})
    assert (reason is None and list(groups) == ["g"]) is served, reason
    if served:
        assert "groq" in declined["v"]


def test_key_lists_match_this_litellm(litellm_facts):
    """data/litellm_settings_keys.json holds what this pin's LiteLLM accepts (regenerate:
    python scripts/gen_fast_lane_settings.py)."""
    version = base._litellm_version()
    assert litellm_facts["keys"] == fs.known_keys()[version]
    cov = fs.coverage(version)
    assert 0 < cov["all"]["serve"] < cov["all"]["keys"]


def test_docs_are_generated_from_the_table():
    assert (ROOT / "docs/fast-lane-settings.md").read_text() == fs.render_docs(), \
        "stale: python scripts/gen_fast_lane_settings.py --docs-only"


def test_doctor_prints_verdicts_and_fraction(litellm_facts):
    out = litellm_facts["doctor"]
    assert "[       serve] litellm_settings.drop_params:" in out, out
    assert "[pass-through] litellm_settings.cache: True: response caching" in out, out
    assert "pass-through only (litellm_settings.cache" in out, out
    for version in launcher.VERIFIED_FORMATS:
        cov = fs.coverage(version)["all"]
        assert f"settings keys served on LiteLLM {version}: {cov['serve']} of {cov['keys']}" in out, out
