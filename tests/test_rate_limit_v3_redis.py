"""Across hosts: with Redis in LiteLLM's config, the v3 limiter's counters live in
Redis (LiteLLM's own atomic Lua scripts) and our hooks hand every call to
LiteLLM's code. Proof on a real redis-server and two ``fast-litellm proxy``
processes (one worker each, each with its own launcher table, so without Redis
they would not share): a burst of 3N requests spread over both admits exactly N.
Then Redis goes away: LiteLLM's behaviour (its in-memory fallback, seeded with
the counts it last read from Redis) -- the proxies keep answering, the key stays
refused, no 5xx.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from util_proc import fast_litellm_cmd, free_port, post_chat, stop_group, wait_http

TESTS = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
N = 4

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
litellm_settings:
  cache: true
  cache_params:
    type: redis
    host: 127.0.0.1
    port: {port}
"""


def _chat(port, i):
    return post_chat(port, "model-a", f"redis {i} {time.time()}")[0]


@pytest.mark.skipif(not os.path.exists(REDIS), reason="redis-server not installed")
def test_two_proxies_share_one_limit_through_redis(tmp_path):
    rport = free_port()
    rdir = tmp_path / "redis"
    rdir.mkdir()
    redis = subprocess.Popen(
        [REDIS, "--port", str(rport), "--bind", "127.0.0.1", "--dir", str(rdir), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    procs = []
    try:
        (tmp_path / "rl_custom_auth.py").write_text((TESTS / "apps" / "rl_custom_auth.py").read_text())
        cfg = tmp_path / "config.yaml"
        cfg.write_text(CONFIG.format(port=rport))
        env = dict(os.environ)
        env.update(
            PATH=str(BIN) + os.pathsep + env.get("PATH", ""),
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            FAST_LITELLM_TEST_KEY=f"hk-redis-{os.getpid()}",
            FAST_LITELLM_TEST_RPM=str(N),
            TMPDIR=str(tmp_path),
        )
        env.pop("FAST_LITELLM_RATE_LIMIT_SHM", None)
        ports = [free_port(), free_port()]
        for i, port in enumerate(ports):
            log = open(tmp_path / f"proxy{i}.log", "wb")
            argv = fast_litellm_cmd() + ["proxy", "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)]
            procs.append(subprocess.Popen(argv, env=env, cwd=str(tmp_path), stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        for i, (port, proc) in enumerate(zip(ports, procs)):
            try:
                wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, timeout=300)
            except Exception:
                raise RuntimeError((tmp_path / f"proxy{i}.log").read_text(errors="replace")[-3000:])
        codes = [_chat(ports[i % 2], i) for i in range(3 * N)]
        assert sorted(codes) == [200] * N + [429] * (2 * N), codes
        # Redis goes away: LiteLLM logs the script failure and limits in memory,
        # from the counts it last had -- still refused, still answering.
        stop_group(redis, timeout=10)
        after = [_chat(ports[i % 2], i) for i in range(4)]
        assert after == [429] * 4, after
        assert all(p.poll() is None for p in procs)
    finally:
        for p in procs:
            stop_group(p, timeout=30)
        stop_group(redis, timeout=10)
