"""https:// upstreams in the fast lane: trust decided as LiteLLM decides it, parity with stock.

Two local TLS upstreams (``bench/proxy/mock_upstream.py --tls-dir``), each with its own CA made
in the test: A and B. Stock ``litellm`` and ``fast-litellm proxy`` on the same config, for
each way LiteLLM takes its trust:

* ``litellm_settings.ssl_verify`` = CA A (with ``REQUESTS_CA_BUNDLE`` = CA B in the environment,
  which LiteLLM does not read): upstream A is served in Rust; upstream B (a CA LiteLLM does not
  trust) gives stock's own error answer and is not served by Rust; a deployment whose own
  ``litellm_params.ssl_verify`` is CA B changes nothing (LiteLLM's OpenAI client ignores it);
* ``SSL_CERT_FILE`` = CA A from the config's ``environment_variables``: served;
* ``ssl_verify: false``: upstream B served;

streaming and not, bodies and headers equal once per-call values are masked, lane header
``rust`` exactly where the front served. And :func:`fast_litellm.fastlane.tls.trust` against LiteLLM's own
resolution (certifi by default, ``SSL_VERIFY``, tuning it does not reproduce).
"""

from __future__ import annotations

import json
import os
import random
import ssl
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from util_proc import free_port, stop_group

native = pytest.importorskip("fast_litellm._native")
if not hasattr(native, "fastlane_serve"):
    pytest.skip("native module built without the fast lane", allow_module_level=True)
pytest.importorskip("aiohttp")
pytest.importorskip("cryptography")

import test_fast_lane as base  # noqa: E402  (the stock-vs-fast helpers)

from fast_litellm.fastlane import tls as upstream_tls  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def _tls_mock(directory: Path):
    """The rig's mock upstream over TLS with a CA of its own (``directory/ca.pem``)."""
    port = free_port()
    log = open(directory / "mock.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench/proxy/mock_upstream.py"), "--port", str(port),
                             "--tls-dir", str(directory)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                ctx = ssl.create_default_context(cafile=str(directory / "ca.pem"))
                urllib.request.urlopen(f"https://127.0.0.1:{port}/v1/models", timeout=2, context=ctx).read()
                break
            except Exception:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        yield {"base": f"https://127.0.0.1:{port}/v1", "ca": str(directory / "ca.pem")}
    finally:
        stop_group(proc)
        log.close()


@pytest.fixture(scope="module")
def mocks(tmp_path_factory):
    a, b = tmp_path_factory.mktemp("tls-a"), tmp_path_factory.mktemp("tls-b")
    with _tls_mock(a) as ma, _tls_mock(b) as mb:
        yield {"a": ma, "b": mb}


def _deployment(name, base_url, **extra):
    return {"model_name": name, "litellm_params": dict(model="openai/gpt-4o-mini", api_base=base_url,
                                                      api_key="sk-mock-upstream", **extra)}


@contextmanager
def _rig(tmp_path_factory, config: dict, env=None):
    with base.stock_and_fast(tmp_path_factory.mktemp("tls-rig"), yaml.safe_dump(config), env) as r:
        yield r


@pytest.fixture(scope="module")
def ca_setting(tmp_path_factory, mocks):
    cfg = {"model_list": [_deployment("tls-good", mocks["a"]["base"]),
                          _deployment("tls-wrong-ca", mocks["b"]["base"]),
                          _deployment("tls-own-ca", mocks["b"]["base"], ssl_verify=mocks["b"]["ca"])],
           "litellm_settings": {"ssl_verify": mocks["a"]["ca"]}}
    with _rig(tmp_path_factory, cfg, {"REQUESTS_CA_BUNDLE": mocks["b"]["ca"]}) as r:
        yield r


@pytest.fixture(scope="module")
def cert_file_env(tmp_path_factory, mocks):
    cfg = {"model_list": [_deployment("tls-good", mocks["a"]["base"])],
           "environment_variables": {"SSL_CERT_FILE": mocks["a"]["ca"]}}
    with _rig(tmp_path_factory, cfg) as r:
        yield r


@pytest.fixture(scope="module")
def verify_off(tmp_path_factory, mocks):
    cfg = {"model_list": [_deployment("tls-any", mocks["b"]["base"])], "litellm_settings": {"ssl_verify": False}}
    with _rig(tmp_path_factory, cfg) as r:
        yield r


def _corpus(seed, group, n):
    """Chat completions to `group`, half of them streams, with generated contents and usage."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        usage = (rng.randint(1, 10 ** rng.randint(1, 6)), rng.randint(1, 10 ** rng.randint(1, 5)))
        if i % 2:
            pieces = [base._text(rng, rng.randint(1, 6)).replace("|", "").replace(";", "") for _ in range(3)]
            d = f"mock:model=gpt-4o-mini;pieces={'|'.join(pieces)};usage={usage[0]},{usage[1]}"
            body = {"model": group, "messages": [{"role": "user", "content": d}], "stream": True}
            if rng.random() < 0.5:
                body["stream_options"] = {"include_usage": True}
        else:
            d = f"mock:model=gpt-4o-mini;usage={usage[0]},{usage[1]};content=" + base._text(rng, 20).replace(";", "")
            body = {"model": group, "messages": [{"role": "user", "content": d}]}
        out.append(body)
    return out


def _stats(rig):
    _, _, raw = base._call(rig["fast"], "GET", "/_fast_litellm/stats", None, {"Authorization": f"Bearer {base.KEY}"})
    return json.loads(raw)


def _served(rig, group, n, seed):
    before = _stats(rig)["served"]
    for body in _corpus(seed, group, n):
        base._compare(rig, "POST", "/v1/chat/completions", body, group=group, expect_lane="rust")
    assert _stats(rig)["served"] - before == n


def _refused(rig, group, seed):
    """A certificate LiteLLM rejects: stock's own error answer, never served (or held) by Rust."""
    before = _stats(rig)
    statuses = set()
    for body in _corpus(seed, group, 2):  # one plain, one stream (each failure costs LiteLLM's retries)
        status, _ = base._compare(rig, "POST", "/v1/chat/completions", body, group=group, expect_lane="python")
        statuses.add(status)
    after = _stats(rig)
    assert after["served"] == before["served"] and after["held"] == before["held"], (before, after)
    assert all(s >= 400 for s in statuses), statuses


def test_ssl_verify_ca_path_is_served(ca_setting):
    _served(ca_setting, "tls-good", 12, 1)


def test_certificate_litellm_rejects_gives_its_error(ca_setting):
    _refused(ca_setting, "tls-wrong-ca", 2)


def test_deployment_ssl_verify_changes_nothing_on_chat(ca_setting):
    # Stock's OpenAI client takes the process's trust (CA A): upstream B fails there too.
    _refused(ca_setting, "tls-own-ca", 3)


def test_ssl_cert_file_from_config_env_is_served(cert_file_env):
    _served(cert_file_env, "tls-good", 8, 4)


def test_ssl_verify_false_is_served(verify_off):
    _served(verify_off, "tls-any", 8, 5)


def test_trust_is_litellms_own(mocks, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_VERIFY", "LITELLM_SSL_CIPHERS")}
    import certifi

    tls, why = upstream_tls.trust({}, env)
    assert why is None and tls == {"verify": True, "ca_file": os.path.abspath(certifi.where()), "partial_chain": False}
    # SSL_VERIFY (env) wins over litellm.ssl_verify.
    tls, why = upstream_tls.trust({"ssl_verify": mocks["b"]["ca"]}, dict(env, SSL_VERIFY=mocks["a"]["ca"]))
    assert why is None and tls["ca_file"] == mocks["a"]["ca"]
    tls, why = upstream_tls.trust({}, dict(env, LITELLM_SSL_CIPHERS="ECDHE-RSA-AES128-GCM-SHA256"))
    assert tls is None and "LITELLM_SSL_CIPHERS" in why
    tls, why = upstream_tls.trust({}, dict(env, HTTPS_PROXY="http://127.0.0.1:9"))
    assert tls is None and "HTTPS_PROXY" in why


def test_answer_outside_the_envelope_is_held_over_https(ca_setting):
    """An error status from an https upstream: LiteLLM answers from the answer the front holds
    (one upstream call), as over http."""
    before = _stats(ca_setting)
    body = {"model": "tls-good", "messages": [{"role": "user", "content": "mock:status=400"}]}
    base._compare(ca_setting, "POST", "/v1/chat/completions", body, group="tls-good", expect_lane="python")
    after = _stats(ca_setting)
    assert after["held"] == before["held"] + 1 and after["replayed"] == before["replayed"], (before, after)
