"""Type stubs for the Rust extension module ``fast_litellm._native``."""

__version__: str
build_profile: str

def _panic_for_tests(message: str) -> None:
    """Panic inside Rust (surfaces as ``pyo3_runtime.PanicException``); for tests."""


# -- tokens (token_counting component) ------------------------------------------

from typing import Any, List, Optional

class TokenPlan:
    """Native ``litellm.token_counter`` for one model: its encoding, LiteLLM's
    accounting flavor (1: 1.83.x, 2: 1.110.x) and per-message constants.
    Every method answers ``None`` for inputs it does not cover."""

    def __init__(
        self,
        encoding: str,
        flavor: int,
        tokens_per_message: int,
        tokens_per_name: int,
        chunk_chars: int,
        max_exact_chars: int,
        default_image_tokens: int,
    ) -> None: ...
    @property
    def encoding(self) -> str: ...
    def count_messages(
        self, messages: Any, extra: bool = True, use_default_image: bool = False, tools_text: Optional[str] = None
    ) -> Optional[int]: ...
    def count_text(self, text: Any) -> Optional[int]: ...
    def count_batch(self, requests: Any) -> List[Optional[int]]: ...
