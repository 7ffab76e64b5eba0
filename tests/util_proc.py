"""Start real servers for tests and wait for them."""

import glob
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager


def fast_litellm_cmd() -> list:
    """The `fast-litellm` command of the venv running the tests (or `python -m fast_litellm.cli`)."""
    exe = os.path.join(os.path.dirname(sys.executable), "fast-litellm")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "fast_litellm.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout}s")


def stop_group(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM the process group a server was started in; SIGKILL it if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def wait_removed(pattern: str, timeout: float = 60.0) -> list:
    """Paths still matching ``pattern`` after waiting up to ``timeout`` s for them to go.

    The launcher's per-launch files are removed by a detached watcher once the last
    worker holding its pipe has exited, which may be a moment after the server's
    master process returned."""
    deadline = time.time() + timeout
    while glob.glob(pattern) and time.time() < deadline:
        time.sleep(0.2)
    return sorted(glob.glob(pattern))


@contextmanager
def server(argv, url, env=None, cwd=None, timeout=180.0):
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        try:
            wait_http(url, proc, timeout)
        except Exception:
            os.killpg(proc.pid, 9)
            try:
                out = proc.communicate(timeout=10)[0].decode(errors="replace")[-4000:]
            except subprocess.TimeoutExpired:
                out = "(no output)"
            raise RuntimeError(f"server failed to start: {argv}\n{out}")
        yield proc
    finally:
        stop_group(proc, timeout=20)


@contextmanager
def logged_server(argv, url, log, env=None, cwd=None, timeout=180.0, stop_timeout=30.0):
    """``server``, with the output going to the file ``log``: several workers' logs would
    fill a pipe nobody reads. A failed start raises with the log's tail."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            wait_http(url, proc, timeout)
        except Exception:
            raise RuntimeError(f"server failed to start: {argv}\n" + log.read_text(errors="replace")[-3000:])
        yield proc
    finally:
        stop_group(proc, timeout=stop_timeout)


def post_chat(port: int, model: str, content: str, key: str = "anything", timeout: float = 120.0):
    """POST one chat completion to a local proxy: (status, headers), error statuses included."""
    import json

    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps({"model": model, "messages": [{"role": "user", "content": content}]}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)
