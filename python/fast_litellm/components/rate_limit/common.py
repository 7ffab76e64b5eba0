"""What the rate-limit modules share: the component name, the shared-table switches, LiteLLM's
version family, and the patch ``build`` that accelerates a limiter after LiteLLM's ``__init__``."""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable

COMPONENT = "rate_limit"
_PROXY_SERVER = "litellm.proxy.proxy_server"
_MAXSIZE = sys.maxsize
# One table per shared file per process (each limiter module names its own file suffix).
_SHARED_TABLES: dict = {}
_SHARED_LOCK = threading.Lock()
SHM_ENV = "FAST_LITELLM_RATE_LIMIT_SHM"
SHM_SLOTS_ENV = "FAST_LITELLM_RATE_LIMIT_SHM_SLOTS"


def flavor() -> str:
    """``"1.110"`` or ``"1.83"``: which family of LiteLLM's limiter code is installed."""
    from ...registry import litellm_version
    from packaging.version import Version

    v = litellm_version() or "0"
    return "1.110" if Version(v) >= Version("1.100") else "1.83"


def accelerating_init(table_cls: str, accelerate: Callable[[Any], bool], label: str) -> Callable[..., Any]:
    """A patch ``build`` for a limiter class's ``__init__``: LiteLLM's own, then ``accelerate(self)``."""

    def build(original: Callable[..., Any]) -> Callable[..., Any]:
        from ... import _native

        getattr(_native, table_cls)  # fail at build time, not per request

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            try:
                accelerate(self)
            except Exception as exc:  # keep the stock limiter
                import logging

                logging.getLogger("fast_litellm").warning("rate_limit: %s limiter not accelerated: %r", label, exc)

        return __init__

    return build
