"""Start/stop the mock upstream in a child process (used by tests and benchmarks)."""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


class MockUpstream:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [os.environ.get("FAST_LITELLM_BENCH_MOCK_PYTHON", sys.executable), os.path.join(HERE, "mock_upstream.py"), "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"mock upstream did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> "MockUpstream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
