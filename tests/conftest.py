import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


@pytest.fixture
def transport_on(monkeypatch):
    """The transport patch is off by default: opt in for one test, then restore."""
    import fast_litellm

    fast_litellm.deactivate()
    monkeypatch.setenv("FAST_LITELLM_TRANSPORT", "1")
    fast_litellm.activate()
    yield
    fast_litellm.deactivate()
    monkeypatch.delenv("FAST_LITELLM_TRANSPORT")
    fast_litellm.activate()



@pytest.fixture
def no_leftover_callbacks():
    # Earlier files (the rate-limit tests) leave loggers in litellm's callback lists; one that
    # filters deployments rightly sends every pick to stock. A test using this starts without them.
    import litellm

    names = ("callbacks", "success_callback", "_async_success_callback", "failure_callback",
             "_async_failure_callback", "input_callback", "service_callback")
    saved = {n: list(getattr(litellm, n)) for n in names if isinstance(getattr(litellm, n, None), list)}
    for n in saved:
        getattr(litellm, n).clear()
    yield
    for n, value in saved.items():
        getattr(litellm, n)[:] = value
