"""Fast LiteLLM: drop-in Rust acceleration for LiteLLM.

``import fast_litellm`` activates every patch supported by the installed LiteLLM,
whether ``litellm`` was imported before or after. Set ``FAST_LITELLM_DISABLE=1``
to make the import do nothing, or ``FAST_LITELLM_<COMPONENT>=0`` to leave one
component alone. ``fast_litellm.status()`` (or ``fast-litellm doctor``) tells what
is active and why anything was skipped.
"""

from __future__ import annotations

__version__ = "0.2.0"

from ._patching import NOT_COVERED
from .registry import activate, activate_quietly, deactivate, is_active, status
from .components.token_counting import count_tokens_batch

__all__ = [
    "__version__",
    "AsyncHTTPTransport",
    "HTTPTransport",
    "NOT_COVERED",
    "activate",
    "count_tokens_batch",
    "deactivate",
    "is_active",
    "status",
]


def __getattr__(name: str):
    # The transports import httpx; load them on first use to keep `import fast_litellm` cheap.
    if name in ("AsyncHTTPTransport", "HTTPTransport"):
        from . import httpx_transport

        return getattr(httpx_transport, name)
    # `from . import _native` asks here first while the extension is not loaded yet: the
    # components load it at first use, not at `import fast_litellm`.
    if name == "_native":
        from .registry import import_native

        return import_native()
    raise AttributeError(f"module 'fast_litellm' has no attribute {name!r}")


activate_quietly()
