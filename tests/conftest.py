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

