"""One v3 limit across the real proxy's workers, no Redis.

``fast-litellm proxy --config X --num_workers 4`` runs LiteLLM's proxy, whose
default ``parallel_request_limiter`` hook is the v3 limiter; a custom_auth gives
every request one key limited to N rpm. A burst of 3N requests spread over the 4
workers admits exactly N: the workers count in the launcher's shared table.

``--run_gunicorn`` (LiteLLM's own option for its workers): with uvicorn 0.54's
multiprocess supervisor, workers that miss its 5 s healthcheck while importing
LiteLLM are killed and respawned forever on a loaded 2-core machine (stock
``litellm --num_workers 2`` shows it too); LiteLLM's gunicorn setup waits 600 s.
"""

import concurrent.futures
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from util_proc import fast_litellm_cmd, free_port, logged_server, post_chat, wait_removed

TESTS = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
N = 5

CONFIG = """
model_list:
  - model_name: model-a
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-mock
      mock_response: "hello"
general_settings:
  master_key: sk-rl-master-0123456789abcdef  # 1.110.x refuses to start without one; custom_auth decides
  custom_auth: rl_custom_auth.user_api_key_auth
"""


def _v3_supported() -> bool:
    from fast_litellm.registry import litellm_version
    from packaging.version import Version

    return Version(litellm_version()) < Version("1.84")


def _chat(port, i):
    return post_chat(port, "model-a", f"hi {i}")


def _burst(port, n):
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        return list(ex.map(lambda i: _chat(port, i), range(n)))


def _env(tmp_path, key):
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["FAST_LITELLM_TEST_KEY"] = key
    env["FAST_LITELLM_TEST_RPM"] = str(N)
    env["TMPDIR"] = str(tmp_path)
    env.pop("FAST_LITELLM_RATE_LIMIT_SHM", None)
    env.pop("LEGACY_MULTI_INSTANCE_RATE_LIMITING", None)
    return env


def _wait_clear_of_window_end():
    # v3 windows start at the first request's second and last 60 s: nothing to wait for
    # beyond keeping the burst short; keep clear of a minute boundary anyway for the logs.
    left = 60.0 - (time.time() % 60.0)
    if left < 8:
        time.sleep(left + 0.5)


@pytest.mark.skipif(shutil.which("uvicorn", path=str(BIN)) is None, reason="uvicorn not installed")
def test_proxy_four_workers_one_v3_limit(tmp_path):
    (tmp_path / "rl_custom_auth.py").write_text((TESTS / "apps" / "rl_custom_auth.py").read_text())
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG)
    port = free_port()
    key = f"hk-v3-{os.getpid()}"
    argv = fast_litellm_cmd() + ["proxy", "--config", str(cfg), "--num_workers", "4", "--run_gunicorn",
                                  "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}/health/liveliness"
    with logged_server(argv, url, tmp_path / "proxy.log", env=_env(tmp_path, key), cwd=str(tmp_path), timeout=240):
        _wait_clear_of_window_end()
        got = _burst(port, 3 * N)
        codes = sorted(c for c, _ in got)
        if _v3_supported():
            assert codes == [200] * N + [429] * (2 * N), codes
        else:
            # 1.110.x: LiteLLM's own v3 per worker (our patch is off there): up to 4N.
            assert codes.count(200) >= N, codes
        ok_headers = [h for c, h in got if c == 200] if _v3_supported() else []
        assert all(h.get("x-ratelimit-api_key-limit-requests") == str(N) for h in ok_headers), ok_headers[:1]
        refused = [h for c, h in got if c == 429]
        assert all(h.get("retry-after") == "60" for h in refused)
    assert wait_removed(str(tmp_path / "fast-litellm-rl-*")) == []  # the launcher removed its tables
