"""429s from rate limits, stock proxy vs ``fast-litellm proxy``.

The front serves master-key requests only, and LiteLLM puts no rate limit on the master
key unless the config sets limits, which are outside the front's envelope: a config with
rate-limited keys (here a ``custom_auth`` that gives every request one key limited to N
rpm) goes to LiteLLM whole, where the proxy's limiter runs (on 1.83.x over the Rust
table, on 1.110.x through the fused check). The same sequence of requests must then give
the same statuses, the same 429 bodies and the same headers through both proxies.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from test_fast_lane import KEY, _call, _lane, _norm_body, _norm_headers  # noqa: E402
from test_fast_lane_router import stock_and_fast  # noqa: E402

pytest.importorskip("aiohttp")

TESTS = Path(__file__).resolve().parent
N = 3

CONFIG = """
model_list:
  - model_name: gpt-4o-mini
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/MOCK_API_BASE, api_key: sk-mock-upstream}
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  custom_auth: rl_custom_auth.user_api_key_auth
"""


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fastlane_rate_limits")
    (tmp / "rl_custom_auth.py").write_text((TESTS / "apps" / "rl_custom_auth.py").read_text())
    saved = {k: os.environ.get(k) for k in ("FAST_LITELLM_TEST_KEY", "FAST_LITELLM_TEST_RPM")}
    os.environ.update(FAST_LITELLM_TEST_KEY=f"hk-lane-{os.getpid()}", FAST_LITELLM_TEST_RPM=str(N))
    try:
        with stock_and_fast(tmp, CONFIG, drop=("FAST_LITELLM_RATE_LIMIT_SHM", "LEGACY_MULTI_INSTANCE_RATE_LIMITING")) as r:
            yield r
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# Rate-limit headers that depend on when each proxy opened its window (seconds left, or the
# reset time itself: the two proxies can open theirs a second apart).
_RESET = re.compile(r"x-ratelimit-.*-reset-.*|retry-after|reset_at")


def _norm_text(raw: bytes) -> bytes:
    # When the window resets depends on when each proxy saw its first request.
    return re.sub(rb"resets at: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? UTC", b"resets at: <t>", _norm_body(raw))


def _norm(hdrs):
    out = _norm_headers(hdrs)
    return {k: (["<t>"] if _RESET.fullmatch(k) else v) for k, v in out.items()}


def test_rate_limited_key_gets_stock_statuses_bodies_and_headers(rig):
    # Keep the N+2 requests of each proxy inside one minute window.
    left = 60.0 - (time.time() % 60.0)
    if left < 15:
        time.sleep(left + 0.5)
    h = {"Authorization": "Bearer sk-anything", "Content-Type": "application/json"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    stock = [_call(rig["stock"], "POST", "/v1/chat/completions", body, h) for _ in range(N + 2)]
    fast = [_call(rig["fast"], "POST", "/v1/chat/completions", body, h) for _ in range(N + 2)]
    assert [s for s, _, _ in stock] == [200] * N + [429] * 2, [(s, b[:200]) for s, _, b in stock]
    assert [s for s, _, _ in fast] == [s for s, _, _ in stock], [(s, b[:200]) for s, _, b in fast]
    for (s_status, s_hdrs, s_raw), (f_status, f_hdrs, f_raw) in zip(stock, fast):
        assert _lane(f_hdrs) == "python"
        assert _norm_text(f_raw) == _norm_text(s_raw), (s_raw[:600], f_raw[:600])
        assert _norm(f_hdrs) == _norm(s_hdrs), (s_hdrs, f_hdrs)
    refused = stock[-1][2].decode()
    assert "limit" in refused.lower(), refused
