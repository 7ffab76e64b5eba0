"""One limit across worker processes, no Redis: the launcher's shared table.

`fast-litellm run -- gunicorn -w 4 -k uvicorn.workers.UvicornWorker` serves an
app running LiteLLM's v1 limiter; a key limited to N rpm gets a burst of 3N
requests spread over the 4 workers, and exactly N are admitted. Also: 4 plain
processes hammering one memory-mapped table lose no increment.
"""

import concurrent.futures
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from util_proc import free_port, server

TESTS = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def _fast_litellm_cmd():
    exe = BIN / "fast-litellm"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "fast_litellm.cli"]


def _wait_clear_of_minute_end(margin=12.0):
    # The v1 limiter's window is the wall-clock minute: keep the burst inside one.
    left = 60.0 - (time.time() % 60.0)
    if left < margin:
        time.sleep(left + 0.5)


_CHILD = r"""
import sys
from fast_litellm import _native
t = _native.RateLimitWindows(sys.argv[1], 4096)
big = 2**63 - 1
ok = 0
for i in range(int(sys.argv[2])):
    k = "k%d" % (i % 7)
    r, _, _ = t.admit(9, [k], [big, big, 10**6])
    if r < 0:
        ok += 1
        t.release(9, [(k, 1, 3, (1, 0, 0))])
print(ok)
"""


def test_four_processes_lose_no_increment(tmp_path):
    from fast_litellm import _native

    path = str(tmp_path / "rl.shm")
    n = 20000
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD, path, str(n)], stdout=subprocess.PIPE, env=dict(os.environ))
        for _ in range(4)
    ]
    oks = [int(p.communicate(timeout=300)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(oks) == 4 * n
    t = _native.RateLimitWindows(path, 4096)
    rows = [t.get(9, f"k{i}") for i in range(7)]
    assert sum(r[2] for r in rows) == 4 * n  # rpm: every admission counted once
    assert sum(r[1] for r in rows) == 3 * 4 * n  # tokens
    assert all(r[0] == 0 for r in rows)  # in-flight back to 0


@pytest.mark.skipif(
    shutil.which("gunicorn", path=str(BIN)) is None or shutil.which("uvicorn", path=str(BIN)) is None,
    reason="gunicorn/uvicorn not installed",
)
def test_launcher_four_workers_share_one_limit(tmp_path):
    port = free_port()
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env.pop("FAST_LITELLM_RATE_LIMIT_SHM", None)  # the launcher creates one per instance
    env["LEGACY_MULTI_INSTANCE_RATE_LIMITING"] = "true"  # the app runs v1: the patch applies only then
    argv = _fast_litellm_cmd() + [
        "run", "--", str(BIN / "gunicorn"), "-w", "4", "-k", "uvicorn.workers.UvicornWorker",
        "-b", f"127.0.0.1:{port}", "--chdir", str(TESTS / "apps"), "--timeout", "120", "rl_asgi_app:app",
    ]
    n = 10
    with server(argv, f"http://127.0.0.1:{port}/?key=sk-warmup&rpm=1000000", env=env) as proc:
        # `fast-litellm run` execs the command in place: the file is named after this pid.
        shm_files = glob.glob(os.path.join(tempfile.gettempdir(), f"fast-litellm-rl-{proc.pid}-*.shm"))

        def hit(key):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                c.request("GET", f"/?key={key}&rpm={n}")
                r = c.getresponse()
                return r.status, json.loads(r.read())
            finally:
                c.close()

        # Warm every worker (imports happen on first request with no --preload).
        pids = set()
        for _ in range(20):
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                for st, body in pool.map(hit, ["sk-warm"] * 16):
                    pids.add(body["pid"])
                    assert body["shared"], body
            if len(pids) >= 4:
                break
        _wait_clear_of_minute_end()
        key = f"sk-burst-{os.getpid()}-{time.time_ns()}"
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            results = list(pool.map(hit, [key] * (3 * n)))
    assert len(shm_files) == 1, shm_files  # the launcher's one table for this instance
    # The launcher's watcher removes the table once the launched command has exited.
    deadline = time.time() + 60
    while any(os.path.exists(f) for f in shm_files) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(os.path.exists(f) for f in shm_files), shm_files
    statuses = [st for st, _ in results]
    served_by = {b["pid"] for _, b in results}
    assert statuses.count(200) == n, statuses
    assert statuses.count(429) == 2 * n, statuses
    assert len(served_by) >= 2, served_by  # the burst really was spread over workers
