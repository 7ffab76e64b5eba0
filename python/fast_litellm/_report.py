"""``FAST_LITELLM_REPORT_DIR``: each launched process writes its status on exit.

Lets an operator (and the tests) see what every gunicorn/uvicorn worker did:
``<dir>/<pid>.json`` holds :func:`fast_litellm.status` as the process ends.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys


def _write(directory: str) -> None:
    try:
        import fast_litellm

        report = fast_litellm.status(resolve=False)
        report["pid"] = os.getpid()
        report["litellm_imported"] = "litellm" in sys.modules
        report["argv"] = sys.argv
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{os.getpid()}.json")
        with open(path + ".tmp", "w") as fh:
            json.dump(report, fh)
        os.replace(path + ".tmp", path)
    except Exception:
        pass


def write_at_exit(directory: str) -> None:
    atexit.register(_write, directory)
    # Also on SIGTERM, when nothing else handles it (servers usually install their own).
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        def on_term(signum, frame):  # pragma: no cover - exercised via subprocesses
            _write(directory)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        try:
            signal.signal(signal.SIGTERM, on_term)
        except ValueError:  # not the main thread
            pass
