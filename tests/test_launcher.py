"""The launcher: `fast-litellm proxy` on the default config, `fast-litellm run -- gunicorn -w 2`."""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from util_proc import fast_litellm_cmd, free_port, server

TESTS = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def _env(**extra):
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def test_proxy_default_config_serves_a_chat_completion(tmp_path):
    port = free_port()
    key = "sk-test-" + "0123456789abcdef" * 3
    argv = fast_litellm_cmd() + ["proxy", "--port", str(port), "--host", "127.0.0.1"]
    env = _env(LITELLM_MASTER_KEY=key, FAST_LITELLM_REPORT_DIR=str(tmp_path))
    from fast_litellm.quickstart_upstream import TEXT

    def chat(model, **extra):
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            data=json.dumps(dict({"model": model, "messages": [{"role": "user", "content": "Hello"}]}, **extra)).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert resp.status == 200
            return resp.headers.get("x-fast-litellm-lane"), resp.read()

    with server(argv, f"http://127.0.0.1:{port}/health/liveliness", env=env) as proc:
        # Both lanes of the quickstart: gpt-4o-mini on the built-in local upstream in Rust (its
        # answers match stock LiteLLM's byte for byte: tests/test_fast_lane_settings.py), gpt-4o
        # through LiteLLM's mock_response.
        lane, raw = chat("gpt-4o-mini")
        body = json.loads(raw)
        assert lane == "rust" and body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["content"] == TEXT
        lane, raw = chat("gpt-4o-mini", stream=True)
        assert lane == "rust" and raw.rstrip().endswith(b"data: [DONE]")
        lane, raw = chat("gpt-4o")
        assert lane == "python" and "mock response" in json.loads(raw)["choices"][0]["message"]["content"]
    # The process that served it had Fast LiteLLM active, with every patch in a final state.
    reports = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    served = [r for r in reports if r["litellm_imported"]]
    assert served, reports
    for r in served:
        assert r["active"]
        assert all(p["state"] in ("applied", "skipped", "failed", "pending") for p in r["patches"])


def test_proxy_prints_url_key_and_curl_line():
    # The banner is printed before the proxy starts; stop it right after.
    port = free_port()
    argv = fast_litellm_cmd() + ["proxy", "--port", str(port), "--host", "127.0.0.1"]
    with server(argv, f"http://127.0.0.1:{port}/health/liveliness",
                env=_env(LITELLM_MASTER_KEY="sk-banner-" + "ab" * 20)) as proc:
        pass
    out = proc.stdout.read().decode(errors="replace")
    assert f"http://127.0.0.1:{port}" in out
    assert "sk-banner-" in out and "curl -s" in out
    assert "model gpt-4o-mini: served by the Rust fast lane" in out
    # The front says what it serves once it is up (a new user sees the fast lane at work).
    assert "serving ['gpt-4o-mini'] in Rust" in out and "model group 'gpt-4o' goes to LiteLLM" in out


@pytest.mark.skipif(shutil.which("gunicorn", path=str(BIN)) is None, reason="gunicorn not installed")
@pytest.mark.parametrize("preload", [False, True], ids=["fork-then-import", "preload"])
def test_run_gunicorn_two_workers_are_both_accelerated(preload):
    port = free_port()
    argv = fast_litellm_cmd() + [
        "run", "--", str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
        "--chdir", str(TESTS / "apps"), "--timeout", "120",
    ] + (["--preload"] if preload else []) + ["wsgi_app:app"]
    with server(argv, f"http://127.0.0.1:{port}/", env=_env()):
        seen = {}

        def hit(_):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/?sleep=0.3", timeout=60) as resp:
                return json.loads(resp.read())

        for _ in range(10):
            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                for body in pool.map(hit, range(6)):
                    seen[body["pid"]] = body
            if len(seen) >= 2:
                break
    assert len(seen) == 2, seen.keys()
    for pid, body in seen.items():
        assert body["fast_litellm_loaded"], pid
        st = body["status"]
        assert st["active"], pid
        # Every patch reaches the same final state in each worker.
        states = {p["name"]: p["state"] for p in st["patches"]}
        assert "pending" not in states.values(), states
    a, b = seen.values()
    assert [(p["name"], p["state"]) for p in a["status"]["patches"]] == [
        (p["name"], p["state"]) for p in b["status"]["patches"]
    ]
    for body in seen.values():
        applied = [p for p in body["status"]["patches"] if p["state"] == "applied"]
        assert len(applied) == len(a["status"]["patches"]) - sum(
            1 for p in a["status"]["patches"] if p["state"] != "applied"
        )


def test_run_without_command_is_a_usage_error():
    out = subprocess.run(fast_litellm_cmd() + ["run"], capture_output=True, text=True, env=_env())
    assert out.returncode == 2 and "usage" in out.stderr


def test_doctor_json_on_this_litellm():
    out = subprocess.run(fast_litellm_cmd() + ["doctor", "--json"], capture_output=True, text=True,
                         env=_env(), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    import importlib.metadata

    assert report["versions"]["litellm"] == importlib.metadata.version("litellm")
    assert report["versions"]["native"]
    for p in report["patches"]:
        assert p["state"] in ("applied", "skipped", "failed"), p
        if p["state"] != "applied":
            assert p["reason"], p


def test_doctor_coverage_prints_a_table(tmp_path):
    """``doctor --coverage`` measures a sample of the price map (the whole map under
    ``--coverage-full``) and prints one row per measure, not one long line per component.
    A second run with the same LiteLLM, price map and package reads the stored result
    (fast_litellm/_coverage_cache.py); ``--no-cache`` measures again, the same table."""
    env = _env(XDG_CACHE_HOME=str(tmp_path))

    def doctor(*extra):
        out = subprocess.run(fast_litellm_cmd() + ["doctor", "--coverage", *extra], capture_output=True, text=True,
                             env=env, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return out

    out = doctor()
    stored = sorted((tmp_path / "fast-litellm" / "coverage").glob("*.json"))
    assert stored, list(tmp_path.rglob("*"))
    table = out.stdout[out.stdout.index("coverage ("):]
    for f in stored:
        f.write_text(f.read_text().replace('"share":', '"share_edited":'))  # what a stored read would show
    edited = doctor()
    assert "share_edited" in edited.stdout
    fresh = doctor("--no-cache")
    assert fresh.stdout[fresh.stdout.index("coverage ("):] == table
    lines = out.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["component", "measure", "value"])
    rows = lines[header + 2:]
    assert any(r.split()[:1] == ["cost"] for r in rows), out.stdout
    assert any(r.split()[:1] == ["token_counting"] for r in rows), out.stdout
    assert any("sample" in r and "of" in r for r in rows), out.stdout  # says it is a sample, of how many
    assert any(r.rstrip().endswith("%") and "share" in r for r in rows), out.stdout
    assert max(len(line) for line in lines[header:]) <= 160, max(lines[header:], key=len)  # wrapped, not one line


def test_doctor_json_disabled_applies_nothing():
    out = subprocess.run(fast_litellm_cmd() + ["doctor", "--json"], capture_output=True, text=True,
                         env=_env(FAST_LITELLM_DISABLE="1"), timeout=300)
    report = json.loads(out.stdout)
    assert [p for p in report["patches"] if p["state"] == "applied"] == []


def test_proxy_num_workers_every_worker_is_accelerated(tmp_path):
    port = free_port()
    argv = fast_litellm_cmd() + ["proxy", "--port", str(port), "--host", "127.0.0.1", "--num_workers", "2"]
    env = _env(LITELLM_MASTER_KEY="sk-workers-" + "cd" * 20, FAST_LITELLM_REPORT_DIR=str(tmp_path))
    # Each worker imports LiteLLM on its own: allow for a slow, shared machine.
    with server(argv, f"http://127.0.0.1:{port}/health/liveliness", env=env, timeout=400):
        pass
    import time

    deadline = time.time() + 30
    while time.time() < deadline:
        reports = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
        workers = [r for r in reports if r["litellm_imported"]]
        if len(workers) >= 2:
            break
        time.sleep(0.5)
    assert len(workers) >= 2, [(r["pid"], r["argv"], r["litellm_imported"]) for r in reports]
    for r in workers:
        assert r["active"], r["pid"]
