"""Fast LiteLLM: drop-in Rust acceleration for LiteLLM.

``import fast_litellm`` activates every patch supported by the installed LiteLLM,
whether ``litellm`` was imported before or after. Set ``FAST_LITELLM_DISABLE=1``
to make the import do nothing, or ``FAST_LITELLM_<COMPONENT>=0`` to leave one
component alone. ``fast_litellm.status()`` (or ``fast-litellm doctor``) tells what
is active and why anything was skipped.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._patching import NOT_COVERED
from .registry import activate, deactivate, is_active, status
from .transport import AsyncHTTPTransport, HTTPTransport

__all__ = ["__version__", "AsyncHTTPTransport", "HTTPTransport", "NOT_COVERED", "activate", "deactivate", "is_active", "status"]

activate()
