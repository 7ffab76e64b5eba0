"""Loaded at start-up only in processes started by ``fast-litellm run``/``proxy``.

The launcher puts this directory first on ``PYTHONPATH`` for that command, so every
Python process it starts, and their children (gunicorn/uvicorn workers), activate
Fast LiteLLM before any user code runs. Nothing here is installed into
site-packages: a plain ``python`` never sees it.
"""

import importlib.util
import os
import sys


def _chain_next_sitecustomize() -> None:
    # Python imports only the first sitecustomize on the path; run the one we shadow.
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == here:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_fast_litellm_chained_sitecustomize", candidate)
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            return


try:
    import fast_litellm  # noqa: F401  (activates)

    if os.environ.get("FAST_LITELLM_LANE_LOG_SECRET"):  # the proxy behind the fast lane: logging route, held answers
        from fast_litellm.fastlane import held

        held.arm()

        from fast_litellm.fastlane import peer  # the client's address from the front's peer header

        peer.arm()

    if os.environ.get("FAST_LITELLM_REPORT_DIR"):
        from fast_litellm import _report

        _report.write_at_exit(os.environ["FAST_LITELLM_REPORT_DIR"])
except Exception as exc:  # never stop the user's program from starting
    sys.stderr.write(f"fast_litellm: activation at start-up failed: {exc!r}\n")

try:
    _chain_next_sitecustomize()
except Exception as exc:
    sys.stderr.write(f"fast_litellm: chained sitecustomize failed: {exc!r}\n")
